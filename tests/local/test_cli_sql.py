"""The local commands on an ODBC database: `OdbcSource`, `open_source` and `--source`.

A real ODBC database: the session demo tables (tests/conftest.py) written to a SQLite file and
read through the SQLite3 ODBC driver, with arrow-odbc and with pyodbc, as the Azure suite reads
its regions (tests/azure). A run from the database must give exactly the documents of the run
from the same tables as files.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from scoring.orders import OrderConfig
from tests.conftest import RUN_WORKERS, LocalRun, comparable, read_documents
from tests.conftest import run_cli as cli
from tests.sqlite_erp import write_sqlite
from visitrank.adapters.connection_string import attributes, mask_secrets, secret_values
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.odbc_source import OdbcSource
from visitrank.adapters.open_source import SOURCE_HELP, open_source
from visitrank.adapters.sql_source import SqlSource
from visitrank.contract.errors import ContractError
from visitrank.contract.tables import (
    ALL_TABLES,
    AREA,
    CUSTOMER,
    OPTIONAL_TABLES,
    REP,
    SALES,
    SALES_DETAIL,
    VISIT,
    TableSpec,
)
from visitrank.local.cli import EXIT_INPUT_ERROR, EXIT_OK
from visitrank.local.orders import run_orders
from visitrank.local.run import RUN_SUMMARY, VISIT_LISTS, run_local

READERS = ("arrow", "pyodbc")
"""Every reader-dependent test runs once per reader of the Azure app's settings."""
BATCH_READER = {"arrow": "arrow-odbc", "pyodbc": "pyodbc"}
UNREACHABLE = "Driver=NoSuchOdbcDriver;Server=erp.example;UID=visitrank;PWD=hunter2"
AS_OF = date(2026, 9, 30)


def execute(connection_string: str, *statements: str) -> None:
    """Run SQL on the SQLite file of ``connection_string`` (outside ODBC)."""
    path = connection_string.split("Database=", 1)[1]
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()


MEASURES = frozenset({"seconds", "steps", "workerPeakRssMb", "polarsThreads"})
"""What a region outcome measures (time, memory, threads) rather than computes."""


def without_measures(summary: dict[str, Any]) -> dict[str, Any]:
    """A run summary without what differs between two runs of the same data: its identity,
    clock, source (and how it was read) and the regions' measures."""
    ignored = ("runId", "generatedAt", "source", "reading", "timingsSeconds")
    kept = {k: v for k, v in summary.items() if k not in ignored}
    kept["regions"] = [
        {k: v for k, v in region.items() if k not in MEASURES} for region in summary["regions"]
    ]
    return kept


@pytest.fixture(scope="module")
def file_tables(demo_dir: Path) -> dict[str, pl.DataFrame]:
    """The session demo tables as the file source reads them (coerced)."""
    return FileSource(demo_dir).read_all()


@pytest.fixture(scope="module")
def connection_string(
    file_tables: dict[str, pl.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The session demo tables in a SQLite database, read through the SQLite3 ODBC driver."""
    return write_sqlite(tmp_path_factory.mktemp("erp") / "erp.db", file_tables)


def test_a_run_from_odbc_writes_the_documents_of_the_run_from_files(
    local_run: LocalRun, connection_string: str, tmp_path: Path
) -> None:
    """The weekly run on the database (the lines streamed in chunks, as from files) writes
    the session run's documents and summary; the summary names the source with its password
    masked."""
    source = OdbcSource(f"{connection_string};PWD=letmein")  # the SQLite driver ignores PWD
    out = tmp_path / "out"
    result = run_local(source, out, local_run.config, workers=RUN_WORKERS, batch_rows=20_011)
    assert result.status == "complete"
    documents = read_documents(result.lists_path)
    assert len(documents) == len(local_run.documents) > 0
    assert comparable(documents) == comparable(local_run.documents)
    assert without_measures(result.summary) == without_measures(local_run.result.summary)
    assert result.summary["source"] == f"{connection_string};PWD=***"
    assert "letmein" not in (out / RUN_SUMMARY).read_text(encoding="utf-8")
    reading = source.reading()
    assert set(reading) == set(ALL_TABLES)
    assert reading["MV_SalesDetail"] == {"view": "MV_SalesDetail", "reader": "arrow-odbc"}
    assert reading["MV_SetupArea"] == {"view": "MV_SetupArea", "reader": "pyodbc"}


@pytest.mark.parametrize("reader", READERS)
def test_read_batches_equals_read_and_the_files(
    reader: str, connection_string: str, file_tables: dict[str, pl.DataFrame]
) -> None:
    source = OdbcSource(connection_string, reader=reader, batch_size=4_099)
    rows = 10_007  # not a multiple of the fetch batch: chunks join and split batches
    whole = source.read(SALES_DETAIL)
    assert whole.equals(file_tables["MV_SalesDetail"])
    chunks = list(source.read_batches(SALES_DETAIL, rows))
    assert [chunk.height for chunk in chunks[:-1]] == [rows] * (len(chunks) - 1)
    assert 0 < chunks[-1].height <= rows
    assert pl.concat(chunks).equals(whole)
    assert source.reading()["MV_SalesDetail"]["reader"] == BATCH_READER[reader]
    areas = list(source.read_batches(AREA, 1))
    assert [chunk.height for chunk in areas] == [1] * file_tables["MV_SetupArea"].height
    assert pl.concat(areas).equals(file_tables["MV_SetupArea"])
    assert list(source.read_all()) == list(ALL_TABLES)


@pytest.mark.parametrize("reader", READERS)
def test_an_empty_view_is_one_empty_chunk_and_no_sales_no_last_day(
    reader: str, file_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    empty = {**file_tables, "MV_Visit": file_tables["MV_Visit"].clear()}
    empty["MV_Sales"] = file_tables["MV_Sales"].clear()
    source = OdbcSource(write_sqlite(tmp_path / "empty.db", empty), reader=reader)
    chunks = list(source.read_batches(VISIT, 5))
    assert len(chunks) == 1
    assert chunks[0].height == 0
    assert dict(chunks[0].schema) == VISIT.columns
    assert source.last_sale_date() is None


def test_last_sale_date_is_the_files(connection_string: str, demo_dir: Path) -> None:
    latest = FileSource(demo_dir).last_sale_date()
    assert latest is not None
    assert OdbcSource(connection_string).last_sale_date() == latest


def test_views_with_other_name_case_and_extra_columns_are_read(
    file_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    """A real view whose columns differ in case from the contract (PostgreSQL folds unquoted
    names) and has a column more: matched as for files, selected quoted as named."""
    connection_string = write_sqlite(tmp_path / "views.db", file_tables)
    execute(
        connection_string,
        "ALTER TABLE MV_SetupArea RENAME TO area_rows",
        'CREATE VIEW MV_SetupArea AS SELECT AreaName AS "AREANAME", 7 AS Extra, '
        'AreaId AS "areaid" FROM area_rows',
    )
    source = OdbcSource(connection_string)
    assert source.columns(AREA) == {"AreaId": "areaid", "AreaName": "AREANAME"}
    assert source.read(AREA).equals(file_tables["MV_SetupArea"])


def test_a_missing_view_or_column_names_it(
    file_tables: dict[str, pl.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    connection_string = write_sqlite(tmp_path / "missing.db", file_tables)
    execute(connection_string, "DROP TABLE MV_Visit", "ALTER TABLE MV_SetupRep DROP COLUMN RepName")
    source = OdbcSource(connection_string)
    with pytest.raises(ContractError, match="MV_Visit") as missing_view:
        source.columns(VISIT)
    assert missing_view.value.table == "MV_Visit"
    with pytest.raises(ContractError, match="MV_Visit"):
        source.read_batches(VISIT, 100)  # before the first chunk is asked for
    with pytest.raises(ContractError, match="MV_SetupRep: missing column 'RepName'") as column:
        source.read(REP)
    assert column.value.table == "MV_SetupRep"
    assert source.read(AREA).equals(file_tables["MV_SetupArea"])  # the others still read
    out = tmp_path / "out"
    code, _, stderr = cli(["run", "--source", f"odbc:{connection_string}", "--out", out], capsys)
    assert code == EXIT_INPUT_ERROR
    # both problems in one run: the first few on the terminal, all in the report
    lines = stderr.splitlines()
    assert lines[0] == "error: 2 problems in the input; the first:"
    assert lines[1].startswith("  MV_SetupRep: missing column 'RepName'")
    assert "MV_Visit" in lines[2]
    summary = json.loads((out / RUN_SUMMARY).read_text(encoding="utf-8"))
    assert summary["status"] == "failed"
    assert summary["source"] == connection_string
    assert not (out / VISIT_LISTS).exists()


BAD_CUSTOMER_ROW = 123
BAD_LINE_ROW = 25_003  # in the third chunk of 10,000 lines


def with_bad_cell(frame: pl.DataFrame, column: str, row: int, value: str) -> pl.DataFrame:
    """``frame`` with ``column`` as text and ``value`` in 1-based data row ``row``."""
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row - 1)
        .then(pl.lit(value))
        .otherwise(pl.col(column).cast(pl.String))
        .alias(column)
    )


@pytest.mark.parametrize("reader", READERS)
def test_a_bad_value_names_view_column_row_and_value(
    reader: str, file_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    bad = dict(file_tables)
    bad["MV_SetupCustomer"] = with_bad_cell(
        bad["MV_SetupCustomer"], "Latitude", BAD_CUSTOMER_ROW, "north-ish"
    )
    bad["MV_SalesDetail"] = with_bad_cell(bad["MV_SalesDetail"], "Quantity", BAD_LINE_ROW, "lots")
    assert bad["MV_SalesDetail"].height > BAD_LINE_ROW
    text = frozenset({"MV_SetupCustomer.Latitude", "MV_SalesDetail.Quantity"})
    source = OdbcSource(write_sqlite(tmp_path / "bad.db", bad, text), reader=reader)
    with pytest.raises(ContractError) as customer:
        source.read(CUSTOMER)
    assert (customer.value.table, customer.value.column) == ("MV_SetupCustomer", "Latitude")
    assert (customer.value.row, customer.value.value) == (BAD_CUSTOMER_ROW, "north-ish")
    assert f"MV_SetupCustomer.Latitude row {BAD_CUSTOMER_ROW}" in str(customer.value)
    chunks = source.read_batches(SALES_DETAIL, 10_000)
    assert next(chunks).height == next(chunks).height == 10_000
    with pytest.raises(ContractError) as line:
        next(chunks)
    assert (line.value.table, line.value.column) == ("MV_SalesDetail", "Quantity")
    assert (line.value.row, line.value.value) == (BAD_LINE_ROW, "lots")
    assert f"row {BAD_LINE_ROW}" in str(line.value) and "lots" in str(line.value)


@pytest.mark.parametrize(
    ("connection_string", "masked"),
    [
        (
            "Driver={ODBC Driver 18 for SQL Server};Server=tcp:erp,1433;Uid=vr;PWD=secret;"
            "Encrypt=yes",
            "Driver={ODBC Driver 18 for SQL Server};Server=tcp:erp,1433;Uid=vr;PWD=***;Encrypt=yes",
        ),
        ("DSN=erp;Password=secret", "DSN=erp;Password=***"),
        ("DSN=erp;pwd={se;cr}}et};Database=d", "DSN=erp;pwd=***;Database=d"),
        ("Driver=X;AccountKey=secret;SAS_Token=secret", "Driver=X;AccountKey=***;SAS_Token=***"),
        ("Driver=X;ClientSecret = secret ;Trusted=no", "Driver=X;ClientSecret =***;Trusted=no"),
        ("DSN=erp;UID=me;;Database=d;", "DSN=erp;UID=me;;Database=d;"),
    ],
)
def test_the_label_masks_every_secret(connection_string: str, masked: str) -> None:
    has_secret = connection_string != masked
    assert bool(secret_values(connection_string)) == has_secret
    assert OdbcSource(connection_string).label() == masked
    assert mask_secrets(connection_string) == masked
    for secret in secret_values(connection_string):
        assert secret not in masked
    rebuilt = ";".join(
        name if value is None else f"{name}={value}" for name, value in attributes(masked)
    )
    assert rebuilt == masked


def test_a_connection_failure_is_one_clear_line_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = OdbcSource(UNREACHABLE)
    attempts: list[str] = []
    connect = source.sql.open_connection

    def counted() -> object:
        attempts.append(source.connection_string)
        return connect()

    monkeypatch.setattr(source.sql, "open_connection", counted)
    for read in (
        lambda: source.read(AREA),
        lambda: source.read_batches(SALES_DETAIL, 10),
        source.last_sale_date,
        source.read_all,
    ):
        with pytest.raises(ContractError) as info:
            read()
        message = str(info.value)
        assert message.startswith(
            "cannot connect to the ODBC source "
            "Driver=NoSuchOdbcDriver;Server=erp.example;UID=visitrank;PWD=***: "
        )
        assert "NoSuchOdbcDriver" in message.split(": ", 1)[1]  # the driver manager's message
        assert "hunter2" not in message
        assert "\n" not in message
    assert len(attempts) == 1  # an unreachable server is not waited for once per table


def test_open_source_tells_folders_from_connection_strings(
    demo_dir: Path, connection_string: str, tmp_path: Path
) -> None:
    folder = open_source(f" {demo_dir} ")
    assert isinstance(folder, FileSource) and folder.folder == demo_dir
    for text in (f"odbc:{connection_string}", connection_string, f"ODBC:{connection_string}"):
        source = open_source(text)
        assert isinstance(source, OdbcSource), text
        assert source.connection_string == connection_string
    for text in ("dsn=erp", "DSN = erp;UID=me", "Server=x;DRIVER={SQL Server}"):
        assert isinstance(open_source(text), OdbcSource), text  # no connection yet
    with pytest.raises(ContractError, match="not a folder and not an ODBC") as info:
        open_source("Server=erp;PWD=hunter2")
    assert "PWD=***" in str(info.value) and "hunter2" not in str(info.value)
    with pytest.raises(ContractError, match="not a folder and not an ODBC") as absent:
        open_source(str(tmp_path / "absent"))
    assert str(tmp_path / "absent") in str(absent.value)
    with pytest.raises(ContractError, match="empty"):
        open_source("odbc:")


def test_open_source_reads_env_variables(
    demo_dir: Path, connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"VISITRANK_SQL": f" {connection_string} ", "DATA": str(demo_dir)}
    source = open_source("env:VISITRANK_SQL", env)
    assert isinstance(source, OdbcSource)
    assert source.connection_string == connection_string
    assert source.read(AREA).height > 0
    assert isinstance(open_source("env:DATA", env), FileSource)
    with pytest.raises(ContractError, match="environment variable VISITRANK_SQL is not set"):
        open_source("env:VISITRANK_SQL", {})
    with pytest.raises(ContractError, match="needs a variable name"):
        open_source("env:", env)
    tuned = open_source(
        connection_string, {"VISITRANK_SQL_READER": "pyodbc", "VISITRANK_SQL_BATCH_SIZE": "321"}
    )
    assert isinstance(tuned, OdbcSource)
    assert (tuned.sql.reader, tuned.sql.batch_size) == ("pyodbc", 321)
    with pytest.raises(ContractError, match="VISITRANK_SQL_READER"):
        open_source(connection_string, {"VISITRANK_SQL_READER": "turbo"})
    monkeypatch.setenv("VISITRANK_TEST_SQL", connection_string)
    from_process = open_source("env:VISITRANK_TEST_SQL")
    assert isinstance(from_process, OdbcSource)
    assert from_process.connection_string == connection_string


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (UNREACHABLE, "error: cannot connect to the ODBC source Driver=NoSuchOdbcDriver;"),
        ("env:VISITRANK_UNSET_TEST_VARIABLE", "error: environment variable VISITRANK_UNSET_TEST"),
        ("no-such-folder", "error: not a folder and not an ODBC connection string"),
    ],
)
def test_the_commands_exit_2_with_one_line_for_a_bad_source(
    source: str,
    expected: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VISITRANK_UNSET_TEST_VARIABLE", raising=False)
    monkeypatch.chdir(tmp_path)  # "no-such-folder" is relative
    for command in (
        ["run", "--source", source, "--out", tmp_path / "run", "--workers", 1],
        ["order", "--source", source, "--out", tmp_path / "order", "--no-scoring"],
    ):
        code, stdout, stderr = cli(command, capsys)
        assert code == EXIT_INPUT_ERROR, (command, stderr)
        assert stderr.startswith(expected), stderr
        assert stderr.count("\n") == 1, stderr
        assert "hunter2" not in stderr + stdout
    code, stdout, _ = cli(["segments", "--source", source, "--out", tmp_path / "segments"], capsys)
    assert code == EXIT_INPUT_ERROR
    assert stdout.startswith(expected) and stdout.count("\n") == 1, stdout
    if source == UNREACHABLE:  # the run had started: its summary says why, masked
        summary = (tmp_path / "run" / RUN_SUMMARY).read_text(encoding="utf-8")
        assert json.loads(summary)["status"] == "failed"
        assert "PWD=***" in summary and "hunter2" not in summary


def test_order_and_segments_commands_read_the_database(
    demo_dir: Path,
    connection_string: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`order --source env:...` writes the orders of the files; `segments --source odbc:...`
    the segments of the files."""
    monkeypatch.setenv("VISITRANK_TEST_SQL", connection_string)
    config = OrderConfig(lookback_weeks=16)
    from_files, _, _ = run_orders(demo_dir, tmp_path / "files", config, None, as_of=AS_OF)
    argv = ["order", "--source", "env:VISITRANK_TEST_SQL", "--out", tmp_path / "sql"]
    options = ["--as-of", AS_OF, "--no-scoring", "--set", "orders.lookback_weeks=16"]
    code, stdout, stderr = cli([*argv, *options], capsys)
    assert code == EXIT_OK, stderr
    orders = (tmp_path / "sql" / "orders.jsonl").read_text(encoding="utf-8")
    assert orders.count("\n") > 0
    assert orders == from_files.read_text(encoding="utf-8")
    segmented = {}
    for name, source in (("files", demo_dir), ("sql", f"odbc:{connection_string}")):
        out = tmp_path / f"segments-{name}"
        code, stdout, _ = cli(["segments", "--source", source, "--out", out, "--k", 3], capsys)
        assert code == EXIT_OK, stdout
        segmented[name] = [
            (out / file).read_text(encoding="utf-8")
            for file in ("segments.csv", "segment_outlets.csv", "segments_summary.json")
        ]
    assert segmented["sql"] == segmented["files"]


def test_the_source_help_names_every_form(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("run", "order", "segments"):
        code, stdout, _ = cli([command, "--help"], capsys)
        assert code == 0
        assert " ".join(SOURCE_HELP.split()) in " ".join(stdout.split()), command


def test_a_contract_spec_subset_reads_only_its_columns(connection_string: str) -> None:
    """A spec with only some contract columns (as FileSource.last_sale_date uses) selects
    only those."""
    only_dates = TableSpec(SALES.name, {"SaleDate": SALES.columns["SaleDate"]}, ())
    frame = OdbcSource(connection_string).read(only_dates)
    assert frame.columns == ["SaleDate"]
    assert frame.height > 0


def test_streaming_falls_back_to_pyodbc_when_arrow_odbc_cannot_start(
    connection_string: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = SqlSource(connection_string, reader="arrow")
    with (
        caplog.at_level(logging.WARNING, logger="visitrank.sql"),
        source.connect() as connection,
        pytest.raises(ContractError, match="MV_SalesDetail: query failed") as info,
    ):
        source.fetch_batches(connection, SALES_DETAIL, "SELECT SaleId FROM MV_NoSuchView")
    assert info.value.table == "MV_SalesDetail"
    assert "arrow-odbc failed" in caplog.text
    with source.connect() as connection:
        frames, reader = source.fetch_batches(
            connection, SALES_DETAIL, "SELECT SaleId, ItemId, Quantity, Amount FROM MV_SalesDetail"
        )
        assert reader == "arrow-odbc"
        assert sum(frame.height for frame in frames) > 0


def test_a_database_without_the_optional_views_reads_them_as_empty(
    file_tables: dict[str, pl.DataFrame], tmp_path: Path
) -> None:
    """A database of before the optional inputs (no planning view, no optional column): the
    optional tables read empty, the optional columns null, without a failing query."""
    bare = {
        name: file_tables[name].select(spec.column_names)
        for name, spec in ALL_TABLES.items()
        if name not in OPTIONAL_TABLES
    }
    source = OdbcSource(write_sqlite(tmp_path / "bare.db", bare))
    tables = source.read_all()
    assert list(tables) == list(bare)  # what the database has
    for spec in OPTIONAL_TABLES.values():
        assert source.read(spec).is_empty()
        assert dict(source.read(spec).schema) == spec.all_columns
        assert source.columns(spec) == {}
        assert [chunk.height for chunk in source.read_batches(spec, 5)] == [0]
    assert tables[REP.name]["HomeLatitude"].null_count() == tables[REP.name].height
    assert tables[CUSTOMER.name]["VisitMinutes"].null_count() == tables[CUSTOMER.name].height
    assert set(source.reading()) == set(ALL_TABLES) - set(OPTIONAL_TABLES)


WITHOUT_ODBC = """
import sys
sys.modules["pyodbc"] = None  # as on a machine without unixODBC: importing pyodbc fails
from visitrank.local.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_commands_run_on_files_and_name_the_fix_when_odbc_cannot_load(
    demo_dir: Path, tmp_path: Path
) -> None:
    """A machine without the ODBC driver manager (a fresh one before `make azure-deps`) runs
    the local commands on files; a connection string there is one clear line, masked."""

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_ODBC, *args], capture_output=True, text=True, check=False
        )

    demo = command("demo-data", str(tmp_path / "demo"), "--outlets", "60", "--reps", "4")
    assert demo.returncode == EXIT_OK, demo.stderr
    assert (tmp_path / "demo" / "MV_Sales.parquet").is_file()
    odbc = command("segments", "--source", "Driver={X};PWD=hunter2", "--out", str(tmp_path / "s"))
    assert odbc.returncode == EXIT_INPUT_ERROR
    assert "needs ODBC, which cannot load here" in odbc.stdout + odbc.stderr
    assert "make azure-deps" in odbc.stdout + odbc.stderr
    assert "hunter2" not in odbc.stdout + odbc.stderr
