"""A corpus of messy exports, each built here from the session demo tables the way real ERP and
Excel exports come, run through `visitrank run` (and `visitrank check`): every case is read
correctly or stops with a clear message, the right exit code and an honest status.

The reference is the run on the clean tables with the same `--today`: an export that is only
written differently must give the very same documents.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import comparable, read_documents
from tests.conftest import run_cli as cli
from visitrank.adapters.file_source import FileSource
from visitrank.contract.tables import ALL_TABLES
from visitrank.lab.demo_data import DemoSummary
from visitrank.local.cli import EXIT_INPUT_ERROR, EXIT_OK, main
from visitrank.local.problems import PROBLEMS_FILE
from visitrank.local.run import RUN_SUMMARY, VISIT_LISTS

TODAY = date(2026, 11, 16)  # the Monday after the demo's last day (2026-11-15)
Tables = dict[str, pl.DataFrame]


def run(
    source: Path, out: Path, capsys: pytest.CaptureFixture[str], *extra: object
) -> tuple[int, str, str]:
    """`visitrank run` as the tests run it: one worker, no segments, the demo's today."""
    argv = ["run", "--source", source, "--out", out, "--workers", 1, "--no-segments"]
    return cli([*argv, "--today", TODAY.isoformat(), *extra], capsys)


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / RUN_SUMMARY).read_text("utf-8"))


def findings(out: Path) -> dict[str, dict[str, Any]]:
    return {finding["check"]: finding for finding in summary(out)["health"]}


@pytest.fixture(scope="module")
def tables(demo: DemoSummary) -> Tables:
    """The demo's contract tables, coerced."""
    return FileSource(demo.out_dir).read_all()


@pytest.fixture(scope="module")
def baseline(
    demo: DemoSummary, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[dict[str, Any]]]:
    """The run on the clean parquet tables: its out folder and documents."""
    out = tmp_path_factory.mktemp("baseline")
    argv = ["run", "--source", demo.out_dir, "--out", out, "--workers", 1, "--no-segments"]
    code = main([str(a) for a in [*argv, "--today", TODAY.isoformat()]])
    assert code == EXIT_OK
    return out, read_documents(out / VISIT_LISTS)


def write_parquet(tables: Tables, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_parquet(folder / f"{name}.parquet")
    return folder


def changed(tables: Tables, name: str, change: Callable[[pl.DataFrame], pl.DataFrame]) -> Tables:
    return {**tables, name: change(tables[name])}


def export_csv(
    tables: Tables,
    folder: Path,
    *,
    delimiter: str = ",",
    decimal: str = ".",
    thousands: str = "",
    encoding: str = "utf-8",
    date_format: str = "%Y-%m-%d",
    null: str = "",
) -> Path:
    """Every table as a CSV written the way an ERP or spreadsheet export writes it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        text = frame.with_columns(
            [_as_text(frame.schema[c], c, decimal, thousands, date_format) for c in frame.columns]
        ).fill_null(null)
        rows = [text.columns, *text.rows()]
        with (folder / f"{name}.csv").open("w", encoding=encoding, newline="") as handle:
            csv.writer(handle, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return folder


def _as_text(
    dtype: pl.DataType, column: str, decimal: str, thousands: str, date_format: str
) -> pl.Expr:
    value = pl.col(column)
    if isinstance(dtype, pl.Date):
        return value.dt.strftime(date_format)
    if isinstance(dtype, pl.Float64):
        text = value.cast(pl.String)
        if thousands:
            text = value.map_elements(
                lambda x: _grouped(repr(x), thousands), return_dtype=pl.String
            )
        return text.str.replace(".", decimal, literal=True) if not thousands else text
    return value.cast(pl.String)


def _grouped(number: str, thousands: str) -> str:
    """``1234567.5`` as ``1.234.567,5`` (thousands "."; the decimal mark becomes ",") or
    ``1,234,567.5`` (thousands ",")."""
    whole, _, fraction = number.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = whole.lstrip("-")
    groups = []
    while len(digits) > 3:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    groups.insert(0, digits)
    decimal = "," if thousands == "." else "."
    return sign + thousands.join(groups) + (decimal + fraction if fraction else "")


# --- files as they come -------------------------------------------------------------------


def test_a_european_export_reads_as_the_clean_tables(
    tables: Tables,
    baseline: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Semicolons, decimal commas, thousands dots, cp1252 text, DD/MM/YYYY dates and SSMS's
    NULL, all at once: the same documents as the clean tables, and the summary says how
    each file was read."""
    source = export_csv(
        tables,
        tmp_path / "src",
        delimiter=";",
        thousands=".",
        encoding="cp1252",
        date_format="%d/%m/%Y",
        null="NULL",
    )
    code, _, stderr = run(source, tmp_path / "out", capsys)
    assert code == EXIT_OK, stderr
    assert comparable(read_documents(tmp_path / "out" / VISIT_LISTS)) == comparable(baseline[1])
    reading = summary(tmp_path / "out")["reading"]
    sales, customers = reading["MV_Sales"], reading["MV_SetupCustomer"]
    assert (sales["delimiter"], sales["dateFormat"], sales["nullValues"]) == (
        ";",
        "DD/MM/YYYY",
        ["NULL"],
    )
    # a table with accented names is cp1252; one of digits only reads as UTF-8 either way
    assert customers["encoding"] == "cp1252"
    detail = summary(tmp_path / "out")["reading"]["MV_SalesDetail"]
    assert (detail["decimal"], detail["thousands"]) == (",", ".")


def test_a_tab_export_with_a_bom_and_an_excel_table_reads_as_the_clean_tables(
    tables: Tables,
    baseline: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = export_csv(
        {n: t for n, t in tables.items() if n != "MV_SetupItem"},
        tmp_path / "src",
        delimiter="\t",
        encoding="utf-8-sig",
        date_format="%m/%d/%Y",
    )
    tables["MV_SetupItem"].write_excel(source / "MV_SetupItem.xlsx")
    code, _, stderr = run(source, tmp_path / "out", capsys)
    assert code == EXIT_OK, stderr
    assert comparable(read_documents(tmp_path / "out" / VISIT_LISTS)) == comparable(baseline[1])
    reading = summary(tmp_path / "out")["reading"]
    assert reading["MV_SetupItem"]["format"] == "xlsx"
    assert (reading["MV_Visit"]["delimiter"], reading["MV_Visit"]["dateFormat"]) == (
        "\t",
        "MM/DD/YYYY",
    )


def test_every_bad_cell_of_every_file_is_reported_in_one_run(
    tables: Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two files with bad cells: one run lists them all (report file), shows the first few
    and exits 2; the summary says failed."""
    bad_sales = changed(
        tables,
        "MV_Sales",
        lambda f: f.with_columns(pl.col("SaleDate").cast(pl.String)).with_columns(
            pl.when(pl.int_range(pl.len()) < 3)
            .then(pl.lit("31/02/2026"))
            .otherwise(pl.col("SaleDate"))
            .alias("SaleDate")
        ),
    )
    bad = changed(
        bad_sales,
        "MV_SetupItem",
        lambda f: f.with_columns(pl.col("UnitPrice").cast(pl.String)).with_columns(
            pl.when(pl.int_range(pl.len()) == 4)
            .then(pl.lit("abc"))
            .otherwise(pl.col("UnitPrice"))
            .alias("UnitPrice")
        ),
    )
    source = tmp_path / "src"
    source.mkdir()
    for name, frame in bad.items():
        frame.write_csv(source / f"{name}.csv")
    out = tmp_path / "out"
    code, _, stderr = run(source, out, capsys)
    assert code == EXIT_INPUT_ERROR
    assert "4 problems in the input" in stderr
    assert "MV_SetupItem.UnitPrice row 5: cannot parse 'abc' as a number" in stderr
    assert "MV_Sales.SaleDate row 1: cannot parse '31/02/2026'" in stderr
    with (out / PROBLEMS_FILE).open(encoding="utf-8") as handle:
        problems = list(csv.DictReader(handle))
    assert [(p["table"], p["column"], p["row"], p["value"]) for p in problems] == [
        ("MV_SetupItem", "UnitPrice", "5", "abc"),
        ("MV_Sales", "SaleDate", "1", "31/02/2026"),
        ("MV_Sales", "SaleDate", "2", "31/02/2026"),
        ("MV_Sales", "SaleDate", "3", "31/02/2026"),
    ]
    assert summary(out)["status"] == "failed"
    assert summary(out)["problems"] == 4


# --- mis-coded values ---------------------------------------------------------------------


def test_mis_coded_channels_fail_loudly_then_map_through_the_settings(
    tables: Tables,
    baseline: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    recoded = changed(
        tables,
        "MV_SetupCustomer",
        lambda f: f.with_columns(
            pl.col("Channel").replace({"ON_TRADE": "HORECA", "OFF_TRADE": "RETAIL"})
        ),
    )
    source = write_parquet(recoded, tmp_path / "src")
    out = tmp_path / "out"
    code, stdout, stderr = run(source, out, capsys)
    assert code == EXIT_INPUT_ERROR, stderr
    assert stdout.startswith("failed: 0 rep documents")
    assert "every MV_SetupCustomer row was set aside (unknown_channel 400)" in stderr
    assert "HORECA" in stderr
    assert not (out / VISIT_LISTS).exists()
    found = findings(out)
    assert found["table_emptied"]["severity"] == "error"
    assert {e["value"] for e in found["unknown_channel"]["examples"]} == {"HORECA", "RETAIL"}

    (source / "visitrank-source.toml").write_text(
        '[values.Channel]\nHORECA = "ON_TRADE"\nRETAIL = "OFF_TRADE"\n', encoding="utf-8"
    )
    code, _, stderr = run(source, out, capsys)
    assert code == EXIT_OK, stderr
    assert comparable(read_documents(out / VISIT_LISTS)) == comparable(baseline[1])
    mapped = summary(out)["valuesMapped"]["Channel"]
    assert sum(mapped.values()) >= 400 and set(mapped) == {"HORECA", "RETAIL"}


# --- health --------------------------------------------------------------------------------


def test_a_mistyped_future_sale_never_moves_the_week(
    tables: Tables,
    baseline: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    future = changed(
        tables,
        "MV_Sales",
        lambda f: f.with_columns(
            pl.when(pl.int_range(pl.len()) == 0)
            .then(pl.lit(date(2029, 3, 1)))
            .otherwise(pl.col("SaleDate"))
            .alias("SaleDate")
        ),
    )
    out = tmp_path / "out"
    code, stdout, stderr = run(write_parquet(future, tmp_path / "src"), out, capsys)
    assert code == EXIT_OK, stderr
    assert summary(out)["weekStart"] == summary(baseline[0])["weekStart"] == "2026-11-16"
    assert summary(out)["quarantined"]["MV_Sales"]["future_date"] == 1
    assert findings(out)["future_date"]["examples"][0]["SaleDate"] == "2029-03-01"
    assert "sales dated after today were set aside" in stdout


def test_no_coordinates_anywhere_fails_with_the_reason(
    tables: Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blind = changed(
        tables,
        "MV_SetupCustomer",
        lambda f: f.with_columns(Latitude=pl.lit(None, pl.Float64)),
    )
    out = tmp_path / "out"
    code, _, stderr = run(write_parquet(blind, tmp_path / "src"), out, capsys)
    assert code == EXIT_INPUT_ERROR
    assert "none of the 400 outlets can be put on a list (no_gps 400)" in stderr
    assert summary(out)["status"] == "failed"
    assert not (out / VISIT_LISTS).exists()


def test_a_stale_export_plans_its_week_with_a_warning(
    demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = run(demo.out_dir, out, capsys, "--today", "2026-12-20")
    assert code == EXIT_OK, stderr
    assert summary(out)["status"] == "complete"
    age = (date(2026, 12, 20) - date.fromisoformat(summary(out)["asOf"])).days
    stale = findings(out)["stale_data"]
    assert (stale["severity"], stale["count"]) == ("warning", age)
    assert f"{age} days before today (2026-12-20)" in stdout


def test_swapped_coordinates_are_not_routed(
    tables: Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    customers = tables["MV_SetupCustomer"]
    routable = customers.filter(pl.col("Latitude").is_not_null()).head(3)["CustomerId"]
    swapped = changed(
        tables,
        "MV_SetupCustomer",
        lambda f: f.with_columns(
            pl.when(pl.col("CustomerId").is_in(routable.implode()))
            .then(pl.col("Longitude"))
            .otherwise(pl.col("Latitude"))
            .alias("Latitude"),
            pl.when(pl.col("CustomerId").is_in(routable.implode()))
            .then(pl.col("Latitude"))
            .otherwise(pl.col("Longitude"))
            .alias("Longitude"),
        ),
    )
    out = tmp_path / "out"
    code, _, stderr = run(write_parquet(swapped, tmp_path / "src"), out, capsys)
    assert code == EXIT_OK, stderr
    outlier = findings(out)["gps_outlier"]
    assert outlier["count"] == 3
    assert {e["CustomerId"] for e in outlier["examples"]} == set(routable.to_list())
    listed = {v["customerId"] for d in read_documents(out / VISIT_LISTS) for v in d["visits"]}
    assert listed.isdisjoint(routable.to_list())


def test_outlets_without_a_known_rep_are_set_aside_not_a_stop(
    tables: Tables,
    baseline: tuple[Path, list[dict[str, Any]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first, second = tables["MV_SetupCustomer"].head(2)["CustomerId"].to_list()
    orphaned = changed(
        tables,
        "MV_SetupCustomer",
        lambda f: f.with_columns(
            pl.when(pl.col("CustomerId") == first)
            .then(None)
            .when(pl.col("CustomerId") == second)
            .then(999)
            .otherwise(pl.col("RepId"))
            .alias("RepId")
        ),
    )
    out = tmp_path / "out"
    code, _, stderr = run(write_parquet(orphaned, tmp_path / "src"), out, capsys)
    assert code == EXIT_OK, stderr
    assert findings(out)["unknown_rep"]["count"] == 2
    listed = {v["customerId"] for d in read_documents(out / VISIT_LISTS) for v in d["visits"]}
    assert not listed & {first, second}
    # their sales still feed the benchmarks: no sale was set aside for them
    assert summary(out)["tables"]["MV_Sales"] == summary(baseline[0])["tables"]["MV_Sales"]


def test_a_short_history_scores_per_real_week_with_a_warning(
    tables: Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    start = date(2026, 10, 19)  # four whole weeks before the demo's last day
    short = changed(tables, "MV_Sales", lambda f: f.filter(pl.col("SaleDate") >= start))
    out = tmp_path / "out"
    code, stdout, stderr = run(write_parquet(short, tmp_path / "src"), out, capsys)
    assert code == EXIT_OK, stderr
    assert summary(out)["windowStart"] >= start.isoformat()
    assert findings(out)["short_history"]["severity"] == "warning"
    weeks = {
        s["windowWeeks"]
        for d in read_documents(out / VISIT_LISTS)
        for v in d["visits"]
        for s in v["skus"]
    }
    assert weeks and max(weeks) <= 4
    assert "look-back weeks exist" in stdout


def test_exact_duplicate_lines_are_reported(
    tables: Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    detail = tables["MV_SalesDetail"]
    doubled = changed(tables, "MV_SalesDetail", lambda f: pl.concat([f, f.head(3)]).sort("SaleId"))
    assert doubled["MV_SalesDetail"].height == detail.height + 3
    out = tmp_path / "out"
    code, _, stderr = run(write_parquet(doubled, tmp_path / "src"), out, capsys)
    assert code == EXIT_OK, stderr
    assert findings(out)["duplicate_lines"]["count"] == 3 + _repeats(detail)


def _repeats(frame: pl.DataFrame) -> int:
    return frame.height - frame.n_unique()


# --- accounting, outputs and check ----------------------------------------------------------


def test_rows_in_equal_clean_plus_set_aside_for_every_table(
    baseline: tuple[Path, list[dict[str, Any]]],
) -> None:
    table_rows = summary(baseline[0])["tables"]
    assert set(table_rows) == set(ALL_TABLES)
    for name, row in table_rows.items():
        assert row["rowsIn"] == row["clean"] + row["setAside"], name
        assert row["rowsIn"] == summary(baseline[0])["inputRows"][name]
    # the demo plants bad rows: some are set aside, the no-GPS outlets stay clean (kept)
    customers = table_rows["MV_SetupCustomer"]
    assert customers["reasons"].get("no_gps", 0) > 0
    assert customers["setAside"] == sum(
        n for reason, n in customers["reasons"].items() if reason != "no_gps"
    )


def test_a_run_without_segments_removes_older_exports_but_keeps_the_tags(
    demo: DemoSummary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    segments = out / "segments"
    segments.mkdir(parents=True)
    (segments / "segments.csv").write_text("old export", encoding="utf-8")
    (segments / "segment_tags.json").write_text("{}", encoding="utf-8")
    code, _, stderr = run(demo.out_dir, out, capsys)
    assert code == EXIT_OK, stderr
    assert not (segments / "segments.csv").exists()
    assert (segments / "segment_tags.json").read_text(encoding="utf-8") == "{}"
    assert not (out / "_work").exists()


def test_check_reports_health_without_running_the_week(
    tables: Tables, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recoded = changed(
        tables,
        "MV_SetupCustomer",
        lambda f: f.with_columns(pl.col("Channel").replace({"ON_TRADE": "HORECA"})),
    )
    source = write_parquet(recoded, tmp_path / "src")
    report = tmp_path / "health.json"
    argv = ["check", "--source", source, "--today", TODAY.isoformat(), "--json", report]
    code, stdout, _ = cli(argv, capsys)
    assert code == EXIT_OK  # half the outlets remain: a week can be made, with a warning
    assert "warning:" in stdout and "HORECA" in stdout
    assert "MV_SetupCustomer" in stdout and "rows in" in stdout
    checked = json.loads(report.read_text("utf-8"))
    assert checked["tables"]["MV_SetupCustomer"]["reasons"]["unknown_channel"] > 0
    assert not list(tmp_path.glob("**/visit_lists.jsonl"))
