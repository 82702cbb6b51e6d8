"""The file source reads the optional planning inputs as it reads every table (names, formats,
dialects) when their files are there, and reads them as empty tables and null columns when they
are not. Every expected value was worked out from the text of the file."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from visitrank.adapters.file_source import FileSource
from visitrank.contract.errors import ContractError
from visitrank.contract.tables import (
    CUSTOMER,
    OPTIONAL_TABLES,
    OUTLET_HOURS,
    REP,
    VISIT_EXCLUSION,
    VISIT_PIN,
)


def _csv(folder: Path, table: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / f"{table}.csv"
    path.write_bytes(text.encode(encoding))
    return path


HOURS_EU = (
    "CustomerId;Weekday;Opens;Closes\n"
    "1;1;08:00;12:30\n"
    "1;1;14:00;19:00\n"  # a split shift: two rows of one weekday
    "2;6;7:30;23:59:59\n"
)
HOURS_READ = [
    (1, 1, time(8), time(12, 30)),
    (1, 1, time(14), time(19)),
    (2, 6, time(7, 30), time(23, 59, 59)),
]


def test_hours_pins_and_exclusions_in_a_semicolon_decimal_comma_export(tmp_path: Path) -> None:
    """The files of one ERP export: semicolons, decimal commas, DD/MM/YYYY dates, NULL, cp1252;
    the times HH:MM (or H:MM, HH:MM:SS); the customers' visit length with a decimal comma."""
    _csv(tmp_path, "MV_OutletHours", HOURS_EU)
    _csv(
        tmp_path,
        "MV_VisitPin",
        "CustomerId;VisitDate;StartTime;Note\n"
        "1;17/11/2026;09:30;rendez-vous à l'ouverture\n"
        "2;18/11/2026;NULL;NULL\n",
        "cp1252",
    )
    _csv(
        tmp_path,
        "MV_VisitExclusion",
        "CustomerId;Until;Reason\n1;31/12/2026;travaux\n2;05/01/2027;\n",
    )
    _csv(
        tmp_path,
        "MV_SetupCustomer",
        "CustomerId;CustomerName;CityId;AreaId;Latitude;Longitude;Channel;RepId;VisitMinutes;"
        "VisitEveryWeeks\n"
        "1;Café;NULL;1;48,8566;2,3522;ON_TRADE;1;12,5;2\n"
        "2;Épicerie;3;1;45,75;4,85;OFF_TRADE;1;NULL;\n",
        "cp1252",
    )
    source = FileSource(tmp_path)
    assert source.read(OUTLET_HOURS).rows() == HOURS_READ
    assert source.read(VISIT_PIN).rows() == [
        (1, date(2026, 11, 17), time(9, 30), "rendez-vous à l'ouverture"),
        (2, date(2026, 11, 18), None, None),
    ]
    assert source.read(VISIT_EXCLUSION).rows() == [
        (1, date(2026, 12, 31), "travaux"),
        (2, date(2027, 1, 5), ""),  # an empty text is a value, as in every text column
    ]
    customers = source.read(CUSTOMER)
    assert customers.select("VisitMinutes", "VisitEveryWeeks").rows() == [(12.5, 2), (None, None)]
    reading = source.reading()
    assert reading["MV_OutletHours"]["delimiter"] == ";"
    assert reading["MV_VisitPin"]["encoding"] == "cp1252"
    assert reading["MV_VisitPin"]["dateFormat"] == "DD/MM/YYYY"
    assert reading["MV_VisitExclusion"]["dateFormat"] == "DD/MM/YYYY"
    assert reading["MV_SetupCustomer"]["decimal"] == ","


def test_a_bad_time_stops_with_file_row_and_value(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_OutletHours", HOURS_EU + "3;2;16h00;23:00\n")
    with pytest.raises(ContractError) as info:
        FileSource(tmp_path).read(OUTLET_HOURS)
    error = info.value
    assert (error.table, error.column, error.row, error.value) == (
        "MV_OutletHours",
        "Opens",
        4,
        "16h00",
    )


def test_absent_optional_tables_read_as_empty(tmp_path: Path) -> None:
    """No file: an empty table of the contract's columns, no columns to check, one empty
    chunk; nothing in reading(). A file without a required column is still an error."""
    source = FileSource(tmp_path)
    for name, spec in OPTIONAL_TABLES.items():
        table = source.read(spec)
        assert table.is_empty() and dict(table.schema) == spec.all_columns, name
        assert source.columns(spec) == {}, name
        chunks = list(source.read_batches(spec, 10))
        assert len(chunks) == 1 and chunks[0].equals(table), name
    assert source.reading() == {}
    _csv(tmp_path, "MV_VisitPin", "CustomerId;StartTime\n1;09:00\n")
    with pytest.raises(ContractError, match="missing column 'VisitDate'") as info:
        source.read(VISIT_PIN)
    assert info.value.table == "MV_VisitPin"
    _csv(tmp_path, "MV_VisitPin", "CustomerId;VisitDate\n1;2026-11-17\n")  # no time, no note
    assert source.read(VISIT_PIN).rows() == [(1, date(2026, 11, 17), None, None)]


def test_absent_optional_columns_read_as_null(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_SetupRep", "RepId,RepName,AreaId\n1,Zoë,1\n")
    _csv(tmp_path, "MV_SetupCustomer", "CustomerId,CustomerName,CityId,AreaId,Latitude,"
         "Longitude,Channel,RepId,visitminutes\n1,Bar,1,1,48.8,2.3,ON_TRADE,1,20\n")  # fmt: skip
    source = FileSource(tmp_path)
    assert source.read(REP).rows() == [(1, "Zoë", 1, None, None)]
    assert source.columns(REP) == {"RepId": "RepId", "RepName": "RepName", "AreaId": "AreaId"}
    customers = source.read(CUSTOMER)
    assert customers.select("VisitMinutes", "VisitEveryWeeks").row(0) == (20.0, None)
    assert source.columns(CUSTOMER)["VisitMinutes"] == "visitminutes"
    assert pl.concat(source.read_batches(CUSTOMER, 1)).equals(customers)


def test_times_from_excel_cells_text_and_parquet(tmp_path: Path) -> None:
    """A workbook's time cells (a date-time of Excel's day zero) and text cells in one column;
    a Parquet file's Time column as it is."""
    book = xlsxwriter.Workbook(tmp_path / "MV_OutletHours.xlsx")
    sheet = book.add_worksheet("Horaires")
    clock = book.add_format({"num_format": "hh:mm"})
    sheet.write_row(0, 0, ["CustomerId", "Weekday", "Opens", "Closes"])
    sheet.write_row(1, 0, [1, 1])
    sheet.write_datetime(1, 2, time(8, 0), clock)
    sheet.write_datetime(1, 3, time(12, 30), clock)
    sheet.write_row(2, 0, [1, 1, "14:00", "19:00"])
    sheet.write_row(3, 0, [2, 6, "7:30", "23:59:59"])
    book.close()
    assert FileSource(tmp_path).read(OUTLET_HOURS).rows() == HOURS_READ
    (tmp_path / "MV_OutletHours.xlsx").unlink()
    typed = pl.DataFrame(HOURS_READ, schema=OUTLET_HOURS.all_columns, orient="row")
    typed.write_parquet(tmp_path / "MV_OutletHours.parquet")
    source = FileSource(tmp_path)
    assert source.read(OUTLET_HOURS).equals(typed)
    assert source.reading()["MV_OutletHours"]["format"] == "parquet"


def test_which_optional_tables_a_folder_has(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_OutletHours", HOURS_EU)
    tables = FileSource(tmp_path)
    assert tables.read(OUTLET_HOURS).height == 3
    assert tables.absent(VISIT_PIN) and not tables.absent(OUTLET_HOURS)
    assert tables.find(VISIT_EXCLUSION) is None
    assert not tables.absent(REP)  # a required table is never "absent": it is missing
    with pytest.raises(ContractError, match="MV_SetupRep table missing"):
        tables.read(REP)
