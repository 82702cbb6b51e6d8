"""The scale generator (bench/generate.py) and the stage accounting of bench/run.py, small."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from bench import generate
from bench.run import STAGES, WHOLE_STAGES, run_once, stage_times
from visitrank.adapters.file_source import FileSource


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("bench") / "tiny"
    size = generate.Size("tiny", 1_300, 20, 14, 30_000, outlets_per_area=300)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "BLOCK_OUTLETS", 600)  # several blocks, offsets exercised
        counts = generate.generate(size, out, log=False)
    return out, counts


def test_generator_writes_contract_tables_with_unique_ids(
    tiny: tuple[Path, dict[str, int]],
) -> None:
    out, counts = tiny
    tables = FileSource(out).read_all()  # coerced to the contract: raises if a type is off
    assert {name: frame.height for name, frame in tables.items()} == counts
    customers = tables["MV_SetupCustomer"]
    assert customers.height == 1_300
    for table, column in [
        ("MV_SetupCustomer", "CustomerId"),
        ("MV_SetupArea", "AreaId"),
        ("MV_SetupRep", "RepId"),
        ("MV_Sales", "SaleId"),
        ("MV_Visit", "VisitId"),
    ]:
        assert tables[table][column].is_unique().all(), (table, column)
    # every reference resolves: blocks were offset consistently
    sales, detail = tables["MV_Sales"], tables["MV_SalesDetail"]
    assert sales.join(customers, on="CustomerId", how="anti").height == 0
    assert detail.join(sales, on="SaleId", how="anti").height == 0
    assert customers.join(tables["MV_SetupRep"], on="RepId", how="anti").height == 0
    assert customers["AreaId"].n_unique() == tables["MV_SetupArea"].height
    # the thinning lands near the target number of lines
    assert 15_000 <= detail.height <= 60_000
    truth = pl.read_csv(out / "truth" / "opportunities.csv")
    assert truth.join(customers, on="CustomerId", how="anti").height == 0


def test_generator_is_deterministic(tmp_path: Path, tiny: tuple[Path, dict[str, int]]) -> None:
    out, _ = tiny
    size = generate.Size("tiny", 1_300, 20, 14, 30_000, outlets_per_area=300)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(generate, "BLOCK_OUTLETS", 600)
        generate.generate(size, tmp_path, log=False)
    again = pl.read_parquet(tmp_path / "MV_SalesDetail.parquet")
    assert again.equals(pl.read_parquet(out / "MV_SalesDetail.parquet"))


def test_stage_times_split_the_wall_time() -> None:
    step = {"load": 1.0, "aggregate": 0.5, "segment": 2.0, "expectation": 4.0, "index": 1.0}
    summary = {
        "timingsSeconds": {
            "load_and_validate": 3.0,
            "quarantine_and_stage": 2.0,
            "score_regions": 10.0,
            "fan_in": 0.5,
            "rank_and_route": 1.5,
            "documents": 1.0,
            "write_lists": 0.5,
        },
        "regions": [
            {"status": "ok", "seconds": 9.0, "steps": step | {"rank": 0.25, "write": 0.25}},
            {"status": "ok", "seconds": 9.0, "steps": step | {"rank": 0.25, "write": 0.25}},
        ],
    }
    stages = stage_times(summary, workers=2)
    assert list(stages) == list(STAGES)
    assert stages["load"] == 6.0
    assert stages["expectation"] == 4.0
    assert stages["rank"] == 0.75
    assert stages["route"] == 1.5
    assert stages["write"] == 1.75
    assert stages["other"] == pytest.approx(10.0 - 9.0)
    end_to_end = 3.0 + 2.0 + 10.0 + 0.5 + 1.5 + 1.0 + 0.5
    assert sum(stages.values()) == pytest.approx(end_to_end)


@pytest.mark.parametrize("whole", [False, True])
def test_one_bench_run_accounts_for_its_stages(
    tiny: tuple[Path, dict[str, int]], whole: bool
) -> None:
    """`make bench` read the regions' steps from the summary, which no longer carries them
    (KeyError 'steps'): it reads the run's own region outcomes."""
    out, counts = tiny
    answer = run_once(out, {}, workers=1, whole=whole)
    assert answer["status"] == "complete"
    assert answer["outlets"] == counts["MV_SetupCustomer"]
    assert set(answer["stages"]) == set(STAGES)
    assert answer["regionSteps"]["expectation"] > 0
    assert answer["workerPeakRssMb"] > 0
    assert sum(answer["stages"].values()) <= answer["endToEnd"]
    if whole:  # the orders and the segments ran, beside each other
        assert all(answer["timings"][key] > 0 for key in WHOLE_STAGES.values())
