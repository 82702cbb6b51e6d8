"""Streamed staging: the sales lines staged chunk by chunk give exactly the one-chunk result.

`visitrank.adapters.local_stage.stage_from_source` reads every table but MV_SalesDetail whole and
streams the
lines in chunks of `batch_rows`; `stage_inputs` runs the same loop with the lines as one chunk.
On the session demo data (which plants bad lines across the file) a tiny batch must give the
same region lines, quarantine counts and CSVs, input row counts and, end to end, the same visit
lists; a bad value in a late chunk must name its row in the whole file.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scoring.config import ScoringConfig
from tests.conftest import RUN_WORKERS, LocalRun, comparable, read_documents
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.local_stage import (
    LINES,
    StagedInputs,
    scan_region_lines,
    stage_from_source,
    stage_inputs,
)
from visitrank.contract.errors import ContractError
from visitrank.contract.quarantine import REASON, quarantine
from visitrank.contract.tables import ALL_TABLES, SALES_DETAIL
from visitrank.local.run import run_local

DETAIL = SALES_DETAIL.name
BATCH = 7_000  # the session demo has ~151k lines: ~22 chunks, planted bad lines in several
BAD_ROW = 60_001  # in the 9th chunk of BATCH rows, after chunks that set planted lines aside


def _staged_lines(staged: StagedInputs) -> dict[int, pl.DataFrame]:
    return {area: scan_region_lines(staged.work_dir, area).collect() for area in staged.regions}


def _quarantine_rows(folder: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Quarantine CSVs as {file: rows}; rows sorted so they compare as multisets."""
    return {
        path.name: sorted(pl.read_csv(path, infer_schema=False).rows(), key=repr)
        for path in sorted(folder.glob("*.csv"))
    }


@pytest.fixture(scope="module")
def one_chunk(
    demo_dir: Path, run_config: ScoringConfig, tmp_path_factory: pytest.TempPathFactory
) -> StagedInputs:
    """Today's path: every table in memory, the lines as one chunk."""
    folder = tmp_path_factory.mktemp("one_chunk")
    tables = FileSource(demo_dir).read_all()
    return stage_inputs(tables, folder / "clean", folder / "q", None, run_config)


@pytest.fixture(scope="module")
def csv_demo_dir(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo_csv")
    for name in ALL_TABLES:  # the optional tables too: their times as text
        pl.read_parquet(demo_dir / f"{name}.parquet").write_csv(folder / f"{name}.csv")
    return folder


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_tiny_batches_stage_exactly_the_one_chunk_result(
    fmt: str,
    one_chunk: StagedInputs,
    demo_dir: Path,
    csv_demo_dir: Path,
    run_config: ScoringConfig,
    tmp_path: Path,
) -> None:
    source = FileSource(demo_dir if fmt == "parquet" else csv_demo_dir)
    streamed = stage_from_source(
        source, tmp_path / "clean", tmp_path / "q", None, run_config, BATCH
    )

    assert streamed.input_rows[DETAIL] > 3 * BATCH  # several chunks
    assert streamed.regions == one_chunk.regions
    assert streamed.window == one_chunk.window
    assert streamed.reps.equals(one_chunk.reps)
    assert streamed.input_rows == one_chunk.input_rows
    assert list(streamed.input_rows) == list(one_chunk.input_rows)
    assert streamed.quarantine_counts == one_chunk.quarantine_counts
    assert list(streamed.quarantine_counts) == list(one_chunk.quarantine_counts)
    assert one_chunk.quarantine_counts[DETAIL], "the demo plants bad sales lines"

    expected, got = _staged_lines(one_chunk), _staged_lines(streamed)
    for area in one_chunk.regions:
        assert got[area].schema == expected[area].schema
        assert got[area].sort(pl.all()).equals(expected[area].sort(pl.all())), area
        # stronger: the lines keep the file's order, whatever the chunking
        assert got[area].equals(expected[area]), area
        parts = sorted(p.name for p in (streamed.work_dir / LINES / f"AreaId={area}").iterdir())
        assert len(parts) > 3 and parts[0] == "part-00000.parquet"

    assert _quarantine_rows(tmp_path / "q") == _quarantine_rows(one_chunk.work_dir.parent / "q")
    assert not list(streamed.work_dir.glob("*.quarantine.csv")), "the pending file was moved"


def test_staged_lines_conserve_the_detail(
    one_chunk: StagedInputs, demo_dir: Path, run_config: ScoringConfig, tmp_path: Path
) -> None:
    """Lines in = clean + quarantined; the staged lines are the clean lines of window sales."""
    staged = stage_from_source(
        FileSource(demo_dir), tmp_path / "clean", tmp_path / "q", None, run_config, BATCH
    )
    checked = quarantine(FileSource(demo_dir).read_all())
    clean = checked.tables[DETAIL]
    quarantined = pl.read_csv(tmp_path / "q" / f"{DETAIL}.csv", infer_schema=False)
    assert staged.input_rows[DETAIL] == clean.height + quarantined.height
    assert sum(staged.quarantine_counts[DETAIL].values()) == quarantined.height
    assert quarantined.columns == [*SALES_DETAIL.column_names, REASON]

    window = staged.window
    in_window = (
        checked.tables["MV_Sales"]
        .filter(pl.col("SaleDate").is_between(window.history_start, window.as_of))
        .join(checked.tables["MV_SetupCustomer"], on="CustomerId", how="semi")
    )
    expected = clean.join(in_window, on="SaleId", how="semi").height
    assert sum(frame.height for frame in _staged_lines(staged).values()) == expected


def test_run_with_tiny_batches_gives_identical_documents(
    local_run: LocalRun, demo_dir: Path, tmp_path: Path
) -> None:
    again = run_local(demo_dir, tmp_path, local_run.config, workers=RUN_WORKERS, batch_rows=BATCH)
    assert again.status == "complete"
    assert comparable(read_documents(again.lists_path)) == comparable(local_run.documents)
    for key in ("inputRows", "quarantined", "quarantinedRows"):
        assert again.summary[key] == local_run.result.summary[key], key
    assert _quarantine_rows(tmp_path / "quarantine") == _quarantine_rows(
        local_run.out_dir / "quarantine"
    )
    timings = again.summary["timingsSeconds"]
    assert {"load_and_validate", "quarantine_and_stage"} <= set(timings)


# --- a bad value in a late chunk -----------------------------------------------------------


def _source_with_bad_line(demo_dir: Path, folder: Path, fmt: str) -> Path:
    """The demo tables, with MV_SalesDetail rewritten holding one bad cell at BAD_ROW."""
    folder.mkdir()
    for name in ALL_TABLES:
        if name != DETAIL:
            shutil.copy(demo_dir / f"{name}.parquet", folder)
    detail = pl.read_parquet(demo_dir / f"{DETAIL}.parquet")
    index = pl.int_range(pl.len()) == BAD_ROW - 1
    if fmt == "csv":
        text = detail.with_columns(pl.col("Quantity").cast(pl.String))
        text.with_columns(
            pl.when(index).then(pl.lit("1,5")).otherwise(pl.col("Quantity")).alias("Quantity")
        ).write_csv(folder / f"{DETAIL}.csv")
    else:  # float ids are accepted when whole: 12.5 is not
        detail.with_columns(
            pl.when(index).then(12.5).otherwise(pl.col("ItemId").cast(pl.Float64)).alias("ItemId")
        ).write_parquet(folder / f"{DETAIL}.parquet")
    return folder


@pytest.mark.parametrize(
    ("fmt", "column", "value", "message"),
    [
        ("csv", "Quantity", "1,5", f"row {BAD_ROW}: cannot parse '1,5' as a number"),
        ("parquet", "ItemId", 12.5, f"row {BAD_ROW}: cannot convert 12.5 to an integer"),
    ],
)
def test_bad_value_in_a_late_chunk_names_its_true_row(
    fmt: str,
    column: str,
    value: object,
    message: str,
    demo_dir: Path,
    run_config: ScoringConfig,
    tmp_path: Path,
) -> None:
    source = FileSource(_source_with_bad_line(demo_dir, tmp_path / "src", fmt))
    with pytest.raises(ContractError) as caught:
        for _ in source.read_batches(SALES_DETAIL, BATCH):
            pass
    error = caught.value
    assert (error.table, error.column, error.row, error.value) == (DETAIL, column, BAD_ROW, value)
    assert str(error).startswith(f"{DETAIL}.{column} {message}")

    # through the staging: same error, and nothing half-written is left behind
    work, out_quarantine = tmp_path / "clean", tmp_path / "q"
    with pytest.raises(ContractError) as staged_error:
        stage_from_source(source, work, out_quarantine, None, run_config, BATCH)
    assert str(staged_error.value) == str(error)
    assert not (work / LINES).exists()
    assert not list(work.glob("*.csv"))
    assert not out_quarantine.exists()
