"""The local driver hands the planner the optional planning inputs: the staging computes the
routing attributes once for every region, each region's scored outlets carry them, the reps
their homes; a source without the optional inputs gives the same frames with nulls."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from scoring.config import ScoringConfig
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import StagedInputs, load_routing, stage_inputs
from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import OPTIONAL_TABLES, TABLES
from visitrank.local.region_job import OUTLETS_FILE, RegionTask, region_stage_dir, run_region
from visitrank.pipeline.routing_inputs import ROUTING_COLUMNS, ROUTING_SCHEMA, routing_attributes


def stage(tables: dict[str, pl.DataFrame], folder: Path, config: ScoringConfig) -> StagedInputs:
    return stage_inputs(tables, folder / "clean", folder / "quarantine", None, config)


def scored_outlets(staged: StagedInputs, folder: Path, config: ScoringConfig) -> pl.DataFrame:
    """Every region scored by the local region job; their staged outlets."""
    window = staged.window
    frames = []
    for area in staged.regions:
        task = RegionTask(
            area_id=area,
            work_dir=str(staged.work_dir),
            stage_dir=str(folder / "stage"),
            week_start=window.week_start,
            as_of=window.as_of,
            window_start=window.window_start,
            history_start=window.history_start,
            config=config.model_dump(),
        )
        assert run_region(task)["status"] == "ok"
        frames.append(pl.read_parquet(region_stage_dir(folder / "stage", area) / OUTLETS_FILE))
    return pl.concat(frames)


@pytest.fixture(scope="module")
def demo_tables(demo_dir: Path) -> dict[str, pl.DataFrame]:
    return FileSource(demo_dir).read_all()


def test_staged_outlets_carry_the_routing_attributes(
    demo_tables: dict[str, pl.DataFrame], run_config: ScoringConfig, tmp_path: Path
) -> None:
    staged = stage(demo_tables, tmp_path, run_config)
    outlets = scored_outlets(staged, tmp_path, run_config)
    expected = routing_attributes(quarantine(demo_tables).tables, staged.window)
    assert [outlets.schema[name] for name in ROUTING_COLUMNS] == [
        ROUTING_SCHEMA[name] for name in ROUTING_COLUMNS
    ]
    got = outlets.select("CustomerId", *ROUTING_COLUMNS).sort("CustomerId")
    assert got.equals(expected.join(got.select("CustomerId"), on="CustomerId", how="semi"))
    # the demo's inputs reach the planner: hours, the week's pins, current exclusions
    assert got["Hours"].drop_nulls().len() > 0.4 * got.height
    assert got["PinnedDate"].drop_nulls().len() >= 3
    assert got["ExcludedUntil"].drop_nulls().min() >= staged.window.week_start  # type: ignore[operator]
    assert got["VisitMinutes"].null_count() == 0
    homes = staged.reps.select("HomeLatitude", "HomeLongitude")
    assert homes.null_count().row(0) == (1, 1)  # the demo's one invalid home, ignored
    for area in staged.regions:
        staged_rows = load_routing(staged.work_dir, area)
        assert staged_rows.columns == list(ROUTING_SCHEMA)
        area_customers = (
            quarantine(demo_tables).tables["MV_SetupCustomer"].filter(pl.col("AreaId") == area)
        )
        assert sorted(staged_rows["CustomerId"]) == sorted(area_customers["CustomerId"])


def test_a_source_without_the_optional_inputs_stages_null_attributes(
    demo_tables: dict[str, pl.DataFrame], run_config: ScoringConfig, tmp_path: Path
) -> None:
    """The same run on the required columns only: the same scored outlets (priorities and
    all), the routing columns all null, no home; the optional tables counted as empty."""
    bare = {name: demo_tables[name].select(spec.column_names) for name, spec in TABLES.items()}
    with_inputs = stage(demo_tables, tmp_path / "with", run_config)
    without = stage(bare, tmp_path / "without", run_config)
    assert without.regions == with_inputs.regions and without.window == with_inputs.window
    for name in OPTIONAL_TABLES:
        assert without.input_rows[name] == 0 and without.quarantine_counts[name] == {}
    assert without.reps["HomeLatitude"].null_count() == without.reps.height
    plain = scored_outlets(without, tmp_path / "without", run_config).sort("CustomerId")
    rich = scored_outlets(with_inputs, tmp_path / "with", run_config).sort("CustomerId")
    assert plain.columns == rich.columns
    assert plain.drop(ROUTING_COLUMNS).equals(rich.drop(ROUTING_COLUMNS))
    assert plain.select(ROUTING_COLUMNS).null_count().row(0) == (plain.height,) * len(
        ROUTING_COLUMNS
    )
