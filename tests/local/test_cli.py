"""The `visitrank` command line through `visitrank.local.cli.main`: demo-data, run, evaluate, and
the exit codes and messages of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import RUN_WORKERS, LocalRun, comparable, read_documents
from tests.conftest import run_cli as cli
from visitrank.adapters.file_source import FileSource
from visitrank.contract.tables import ALL_TABLES
from visitrank.lab.demo_data import DemoSummary
from visitrank.local.cli import EXIT_INPUT_ERROR, EXIT_OK, EXIT_PARTIAL
from visitrank.local.run import RUN_SUMMARY, VISIT_LISTS

Result = tuple[int, str, str]


def source_copy(demo: DemoSummary, folder: Path, *, skip: str | None = None) -> Path:
    """`folder` holding links to the demo's parquet tables (all but `skip`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in demo.table_paths.items():
        if name != skip:
            (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="module")
def csv_demo_dir(demo: DemoSummary, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session demo tables written again as CSV (no parquet next to them)."""
    folder = tmp_path_factory.mktemp("demo_csv")
    for name, path in demo.table_paths.items():
        pl.read_parquet(path).write_csv(folder / f"{name}.csv")
    return folder


def test_demo_data_writes_every_table_and_the_truth(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    args = ["--outlets", 60, "--reps", 3, "--skus", 12, "--weeks", 12, "--areas", 1]
    code, stdout, _ = cli(["demo-data", out, *args, "--seed", 5, "--format", "csv"], capsys)
    assert code == EXIT_OK
    assert str(out) in stdout
    for name, spec in ALL_TABLES.items():  # the optional inputs too
        path = out / f"{name}.csv"
        assert path.is_file(), name
        assert not (out / f"{name}.parquet").exists()
        assert pl.read_csv(path, n_rows=1, infer_schema=False).columns == spec.all_column_names
    customers = pl.read_csv(out / "MV_SetupCustomer.csv")
    assert customers.height == 60
    assert customers["RepId"].n_unique() == 3
    for name in ("opportunities.csv", "outlets.csv", "bad_rows.json"):
        assert (out / "truth" / name).is_file(), name
    manifest = json.loads((out / "truth" / "bad_rows.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 5 and manifest["rows"]


def test_csv_source_reads_the_same_tables_as_parquet(csv_demo_dir: Path, demo: DemoSummary) -> None:
    from_csv = FileSource(csv_demo_dir).read_all()
    from_parquet = FileSource(demo.out_dir).read_all()
    for name in ALL_TABLES:
        assert from_csv[name].equals(from_parquet[name]), name


def test_run_on_csv_gives_the_same_visits_as_parquet(
    csv_demo_dir: Path, local_run: LocalRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["run", "--source", csv_demo_dir, "--out", out, "--workers", RUN_WORKERS]
    code, stdout, stderr = cli([*argv, "--no-segments"], capsys)  # as the session run
    assert code == EXIT_OK, stderr
    assert stdout.startswith("complete:")
    assert (out / VISIT_LISTS).is_file() and (out / RUN_SUMMARY).is_file()
    assert json.loads((out / RUN_SUMMARY).read_text(encoding="utf-8"))["status"] == "complete"
    documents = read_documents(out / VISIT_LISTS)
    assert len(documents) == len(local_run.documents)
    assert comparable(documents) == comparable(local_run.documents)


def test_evaluate_prints_the_table(
    local_run: LocalRun, demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = tmp_path / "figures.json"
    argv = [
        "evaluate",
        "--truth",
        demo.truth_paths["opportunities"],
        "--lists",
        local_run.result.lists_path,
        "--json",
        figures,
    ]
    code, stdout, _ = cli(argv, capsys)
    assert code == EXIT_OK
    assert "captured" in stdout
    for row in ("visitrank", "best possible", "baseline random", "baseline topRevenue"):
        assert row in stdout, row
    report = json.loads(figures.read_text(encoding="utf-8"))
    assert report["reps"] == len(local_run.documents)
    assert f"{report['visitrank']['capturedShare']:.3f}" in stdout


BAD_ROW = 7  # 1-based data row (header excluded)
BAD_DATE = "2026-02-30"


def test_bad_sale_date_names_table_column_and_row(
    demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = source_copy(demo, tmp_path / "src", skip="MV_Sales")
    sales = pl.read_parquet(demo.table_paths["MV_Sales"]).with_columns(pl.col("SaleDate").cast(str))
    sales = sales.with_columns(
        pl.when(pl.int_range(pl.len()) == BAD_ROW - 1)
        .then(pl.lit(BAD_DATE))
        .otherwise(pl.col("SaleDate"))
        .alias("SaleDate")
    )
    sales.write_csv(source / "MV_Sales.csv")
    out = tmp_path / "out"
    code, _, stderr = cli(["run", "--source", source, "--out", out, "--workers", 1], capsys)
    assert code == EXIT_INPUT_ERROR
    assert f"MV_Sales.SaleDate row {BAD_ROW}" in stderr
    assert BAD_DATE in stderr
    assert not (out / VISIT_LISTS).exists()


def test_missing_table_exits_2(
    demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = source_copy(demo, tmp_path / "src", skip="MV_Visit")
    out = tmp_path / "out"
    code, _, stderr = cli(["run", "--source", source, "--out", out, "--workers", 1], capsys)
    assert code == EXIT_INPUT_ERROR
    assert "MV_Visit" in stderr and "missing" in stderr
    assert not (out / VISIT_LISTS).exists()


def test_unknown_config_field_exits_2(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--source", demo_dir, "--out", tmp_path / "out", "--set", "no_such_knob=3"]
    code, _, stderr = cli(argv, capsys)
    assert code == EXIT_INPUT_ERROR
    assert "no_such_knob" in stderr
    assert not (tmp_path / "out" / VISIT_LISTS).exists()


def test_week_start_not_a_monday_exits_2(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--source", demo_dir, "--out", tmp_path / "out", "--week-start", "2026-11-17"]
    code, _, stderr = cli(argv, capsys)
    assert code == EXIT_INPUT_ERROR
    assert "2026-11-17" in stderr and "Monday" in stderr


def test_candidate_pool_smaller_than_the_week_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Routing needs candidate_pool >= visits_per_week, so the config must refuse a smaller
    pool when it is loaded (before any data is read), like any other invalid setting. The
    source folder does not exist: a config error has to be reported first."""
    argv = ["run", "--source", tmp_path / "absent", "--out", tmp_path / "out"]
    code, _, stderr = cli([*argv, "--set", "candidate_pool=10"], capsys)
    assert code == EXIT_INPUT_ERROR
    message = stderr.replace(str(tmp_path), "<tmp>")  # the tmp path repeats the test name
    assert "candidate_pool" in message, message


def test_run_with_orders_attaches_each_customers_proposed_order(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["run", "--source", demo_dir, "--out", out, "--workers", RUN_WORKERS, "--orders"]
    code, _, stderr = cli(argv, capsys)
    assert code == EXIT_OK, stderr
    orders = {
        o["customerId"]: o
        for o in map(json.loads, (out / "orders.jsonl").read_text("utf-8").splitlines())
    }
    documents = [
        json.loads(line) for line in (out / "visit_lists.jsonl").read_text("utf-8").splitlines()
    ]
    visits = [v for d in documents for v in d["visits"]]
    assert visits
    for visit in visits:
        expected = [line["itemId"] for line in orders[visit["customerId"]]["lines"]]
        assert [line["itemId"] for line in visit["proposedOrder"]] == expected
    assert any(visit["proposedOrder"] for visit in visits)
    summary = json.loads((out / "run_summary.json").read_text("utf-8"))
    assert summary["orders"]["documents"] == len(orders)
    assert summary["orders"]["status"] == "ok" and summary["orders"]["error"] is None


def test_run_honours_the_orders_and_segmentation_sections(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One run configuration for every command: `run --orders` uses the orders section and
    the segmentation its section (both were ignored by `run` before)."""
    out = tmp_path / "out"
    argv = ["run", "--source", demo_dir, "--out", out, "--workers", RUN_WORKERS, "--orders"]
    overrides = ["--set", "orders.max_lines=2", "--set", "segmentation.k_max=2"]
    code, _, stderr = cli([*argv, *overrides], capsys)
    assert code == EXIT_OK, stderr
    orders = [json.loads(line) for line in (out / "orders.jsonl").read_text("utf-8").splitlines()]
    usual = [sum(line["kind"] == "usual" for line in order["lines"]) for order in orders]
    assert max(usual) == 2, usual  # max_lines caps the usual references (novelties on top)
    segments = json.loads((out / "segments" / "segments_summary.json").read_text("utf-8"))
    assert segments["k"] <= 2
    assert segments["config"]["k_max"] == 2


def test_sales_with_a_header_only_exit_2_instead_of_planning_an_empty_week(
    demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No sale at all: the run cannot know which week the data stand at (the clock is never a
    substitute for the data's last sales day) and says so, naming the table."""
    source = source_copy(demo, tmp_path / "src", skip="MV_Sales")
    pl.read_parquet(demo.table_paths["MV_Sales"]).clear().write_parquet(source / "MV_Sales.parquet")
    for command in (
        ["run", "--source", source, "--out", tmp_path / "out", "--no-segments"],
        ["order", "--source", source, "--out", tmp_path / "orders", "--no-scoring"],
    ):
        code, _, stderr = cli(command, capsys)
        assert code == EXIT_INPUT_ERROR, (command, stderr)
        assert "MV_Sales" in stderr and "no sale at all" in stderr, stderr
    assert not (tmp_path / "out" / VISIT_LISTS).exists()


def test_failing_orders_exit_3_and_say_so(
    demo_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run whose proposed orders failed is "partial": exit 3 and a line naming the error,
    although every region scored and the lists are written."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("orders exploded")

    monkeypatch.setattr("visitrank.local.run.run_orders", broken)
    out = tmp_path / "out"
    argv = ["run", "--source", demo_dir, "--out", out, "--workers", RUN_WORKERS, "--orders"]
    code, stdout, stderr = cli([*argv, "--no-segments"], capsys)
    assert code == EXIT_PARTIAL, stderr
    assert stdout.startswith("partial:")
    assert "orders FAILED: RuntimeError: orders exploded" in stderr
    assert (out / VISIT_LISTS).stat().st_size > 0


def test_a_failed_run_leaves_no_older_week_looking_current(
    local_run: LocalRun, demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run over an out folder that holds an earlier week's results, stopped by bad input:
    the old lists and orders are gone and the summary says "failed" and why; the order
    feedback history (kept on purpose) stays."""
    out = tmp_path / "out"
    shutil.copytree(local_run.out_dir, out)
    (out / "orders.jsonl").write_text('{"customerId": 1}\n', encoding="utf-8")
    (out / "order_history.parquet").write_bytes(b"history")
    assert json.loads((out / RUN_SUMMARY).read_text("utf-8"))["status"] == "complete"
    source = source_copy(demo, tmp_path / "src", skip="MV_Visit")
    code, _, stderr = cli(["run", "--source", source, "--out", out, "--workers", 1], capsys)
    assert code == EXIT_INPUT_ERROR, stderr
    assert not (out / VISIT_LISTS).exists()
    assert not (out / "orders.jsonl").exists()
    assert (out / "order_history.parquet").read_bytes() == b"history"
    summary = json.loads((out / RUN_SUMMARY).read_text("utf-8"))
    assert summary["status"] == "failed"
    assert "MV_Visit" in summary["error"]
    assert summary["source"] == str(source)
    assert not any((out / "_work").glob("local-*"))  # the failed run's work folder is gone
