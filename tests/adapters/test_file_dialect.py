"""Contract tables read "as they come": encodings, delimiters, number and date formats, null
literals, the source settings file, Excel workbooks, streaming and what reading() reports.

Every file here is a small export written by hand, and every expected value was worked out
from the text of the file.
"""

from __future__ import annotations

import csv
import io
import tempfile
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
from hypothesis import given, settings
from hypothesis import strategies as st

from visitrank.adapters import file_dialect
from visitrank.adapters.file_source import FileSource
from visitrank.adapters.source_settings import (
    FileSettings,
    SourceSettings,
    load_source_settings,
)
from visitrank.contract.errors import ContractError
from visitrank.contract.tables import (
    CUSTOMER,
    ITEM,
    SALES,
    SALES_DETAIL,
    TABLES,
    VISIT,
    TableSpec,
)

AREA = TABLES["MV_SetupArea"]
BRAND = TABLES["MV_SetupBrand"]
SALE_DATE_ONLY = TableSpec("MV_Sales", {"SaleDate": SALES.columns["SaleDate"]}, ())


def _csv(folder: Path, table: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / f"{table}.csv"
    path.write_bytes(text.encode(encoding))
    return path


def _settings(folder: Path, text: str) -> None:
    (folder / "visitrank-source.toml").write_text(text, encoding="utf-8")


# --- the messy exports ------------------------------------------------------------------------

CUSTOMERS_EU = (
    "CustomerId;CustomerName;CityId;AreaId;Latitude;Longitude;Channel;RepId\n"
    "1;Café de l'Étoile;NULL;1;48,8566;2,3522;ON_TRADE;1\n"
    "2;Müller Bräu, Köln;3;1;-45,5;NULL;OFF_TRADE;2\n"
)


def test_semicolon_decimal_comma_cp1252_dates_and_null(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_SetupCustomer", CUSTOMERS_EU, "cp1252")
    _csv(tmp_path, "MV_Sales", "SaleId;CustomerId;SaleDate;RepId\n1;1;13/01/2024;NULL\n"
         "2;2;02/03/2024 10:15;1\n")  # fmt: skip
    source = FileSource(tmp_path)
    assert source.read(CUSTOMER).rows() == [  # the optional columns, absent: null
        (1, "Café de l'Étoile", None, 1, 48.8566, 2.3522, "ON_TRADE", 1, None, None),
        (2, "Müller Bräu, Köln", 3, 1, -45.5, None, "OFF_TRADE", 2, None, None),
    ]
    assert source.read(SALES).rows() == [
        (1, 1, date(2024, 1, 13), None),
        (2, 2, date(2024, 3, 2), 1),
    ]
    assert source.reading() == {
        "MV_SetupCustomer": {
            "file": "MV_SetupCustomer.csv",
            "format": "csv",
            "encoding": "cp1252",
            "delimiter": ";",
            "decimal": ",",
            "thousands": "",
            "dateFormat": None,
            "nullValues": ["NULL"],
            "pinned": [],
        },
        "MV_Sales": {
            "file": "MV_Sales.csv",
            "format": "csv",
            "encoding": "utf-8",  # plain ASCII
            "delimiter": ";",
            "decimal": ".",
            "thousands": "",
            "dateFormat": "DD/MM/YYYY",
            "nullValues": ["NULL"],
            "pinned": [],
        },
    }


def test_tab_delimited_with_commas_and_semicolons_in_text(tmp_path: Path) -> None:
    _csv(
        tmp_path,
        "MV_SetupItem",
        "ItemId\tItemName\tBrandId\tSubCategoryId\tUnitPrice\n"
        "7\tPastis, 1L; Ricard\t1\t2\t12.5\n"
        "8\tRhum\t1\t2\t3\n",
    )
    source = FileSource(tmp_path)
    assert source.read(ITEM).rows() == [
        (7, "Pastis, 1L; Ricard", 1, 2, 12.5),
        (8, "Rhum", 1, 2, 3.0),
    ]
    assert source.reading()["MV_SetupItem"]["delimiter"] == "\t"


def test_utf8_with_bom_and_semicolons(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_SetupBrand", "\ufeffBrandId;BrandName\n1;Côte d'Or\n2;Œuf € 5\n")
    source = FileSource(tmp_path)
    assert source.read(BRAND).rows() == [(1, "Côte d'Or"), (2, "Œuf € 5")]
    assert source.reading()["MV_SetupBrand"]["encoding"] == "utf-8-sig"


def test_utf16_with_bom_as_excel_unicode_text_writes_it(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_SetupBrand", "BrandId\tBrandName\r\n1\tBière\r\n", "utf-16")
    source = FileSource(tmp_path)
    assert source.read(BRAND).rows() == [(1, "Bière")]
    assert source.reading()["MV_SetupBrand"]["encoding"] == "utf-16"


@pytest.mark.parametrize(
    ("text", "decimal", "thousands"),
    [
        (
            "ItemId;ItemName;BrandId;SubCategoryId;UnitPrice\n"
            "1.001;A;1;1;1.234,56\n2;B;1;1;12,5\n3;C;1;1;1.000.000,00\n",
            ",",
            ".",
        ),
        (
            "ItemId,ItemName,BrandId,SubCategoryId,UnitPrice\n"
            '"1,001",A,1,1,"1,234.56"\n2,B,1,1,12.5\n3,C,1,1,"1,000,000.00"\n',
            ".",
            ",",
        ),
        (
            "ItemId;ItemName;BrandId;SubCategoryId;UnitPrice\n"
            "1\u00a0001;A;1;1;1\u00a0234,56\n2;B;1;1;12,5\n3;C;1;1;1\u00a0000\u00a0000\n",
            ",",
            "\u00a0",
        ),
        (
            "ItemId;ItemName;BrandId;SubCategoryId;UnitPrice\n"
            "1 001;A;1;1;1 234.56\n2;B;1;1;12.5\n3;C;1;1;1 000 000\n",
            ".",
            " ",
        ),
    ],
    ids=["dot-thousands", "comma-thousands", "nbsp-thousands", "space-thousands"],
)
def test_thousands_separators(tmp_path: Path, text: str, decimal: str, thousands: str) -> None:
    _csv(tmp_path, "MV_SetupItem", text)
    source = FileSource(tmp_path)
    assert source.read(ITEM).rows() == [
        (1001, "A", 1, 1, 1234.56),
        (2, "B", 1, 1, 12.5),
        (3, "C", 1, 1, 1_000_000.0),
    ]
    reading = source.reading()["MV_SetupItem"]
    assert (reading["decimal"], reading["thousands"]) == (decimal, thousands)


def test_numbers_that_read_two_ways_are_refused(tmp_path: Path) -> None:
    # 1.234 and 2.500 are 1.234 and 2.5 with a decimal point, 1234 and 2500 with a dot thousands
    _csv(tmp_path, "MV_SetupItem", "ItemId;ItemName;BrandId;SubCategoryId;UnitPrice\n"
         "1;A;1;1;1.234\n2;B;1;1;2.500\n")  # fmt: skip
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(ITEM)
    assert str(caught.value) == (
        "MV_SetupItem: MV_SetupItem.csv has numbers whose format cannot be told: 8 values read "
        'with decimal "." and no thousands and as many with decimal "," and thousands ".", but '
        "differently: '1.234' in UnitPrice is 1.234 with the first and 1234.0 with the second. "
        "Pin the right one under [files.MV_SetupItem] in visitrank-source.toml: "
        'decimal = ".", thousands = "", or decimal = ",", thousands = "."'
    )
    assert (caught.value.column, caught.value.value) == ("UnitPrice", "1.234")


def test_an_integer_column_tells_the_thousands_separator(tmp_path: Path) -> None:
    # ItemId 1.001 is only a whole number with a dot thousands separator: that settles 1.234
    _csv(tmp_path, "MV_SetupItem", "ItemId;ItemName;BrandId;SubCategoryId;UnitPrice\n"
         "1.001;A;1;1;1.234\n2;B;1;1;2.500\n")  # fmt: skip
    rows = FileSource(tmp_path).read(ITEM).rows()
    assert rows == [(1001, "A", 1, 1, 1234.0), (2, "B", 1, 1, 2500.0)]


# --- dates --------------------------------------------------------------------------------------


def test_ambiguous_dates_are_refused_with_how_to_pin(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_Visit", "VisitId;CustomerId;RepId;VisitDate\n1;1;1;02/01/2024\n"
         "2;1;1;03/01/2024\n")  # fmt: skip
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(VISIT)
    assert str(caught.value) == (
        "MV_Visit: MV_Visit.csv has dates that fit both DD/MM/YYYY and MM/DD/YYYY in every row "
        "(no day above 12 in VisitDate), e.g. '02/01/2024' in VisitDate: which one cannot be "
        'told, so pin it with date_format = "DD/MM/YYYY" or date_format = "MM/DD/YYYY" under '
        "[files.MV_Visit] (or [files] for every file) in visitrank-source.toml"
    )
    assert (caught.value.table, caught.value.column) == ("MV_Visit", "VisitDate")


def test_dates_that_read_the_same_either_way_are_not_ambiguous(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_Visit", "VisitId,CustomerId,RepId,VisitDate\n1,1,1,01.01.2024\n"
         "2,1,1,5.5.2024 08:30\n")  # fmt: skip
    source = FileSource(tmp_path)
    assert source.read(VISIT).get_column("VisitDate").to_list() == [
        date(2024, 1, 1),
        date(2024, 5, 5),
    ]
    assert source.reading()["MV_Visit"]["dateFormat"] == "DD.MM.YYYY"


@pytest.mark.parametrize(
    ("late", "expected", "name"),
    [
        ("25-01-2024", date(2024, 1, 2), "DD-MM-YYYY"),
        ("01-25-2024", date(2024, 2, 1), "MM-DD-YYYY"),
    ],
)
def test_a_sample_of_early_days_is_settled_by_the_whole_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, late: str, expected: date, name: str
) -> None:
    # a file sorted by date: the sample (shrunk to ~100 bytes) holds only days 1 to 12
    monkeypatch.setattr(file_dialect, "SAMPLE_BYTES", 100)
    rows = "".join(f"{i};1;02-01-2024;1\n" for i in range(1, 21)) + f"21;1;{late};1\n"
    _csv(tmp_path, "MV_Sales", "SaleId;CustomerId;SaleDate;RepId\n" + rows)
    source = FileSource(tmp_path)
    dates = source.read(SALES).get_column("SaleDate")
    assert dates[0] == expected
    assert source.reading()["MV_Sales"]["dateFormat"] == name


def test_excel_style_dates_with_twelve_hour_times_and_iso_values(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_Sales", "SaleId,SaleDate\n1,1/25/2024 3:45:00 PM\n2,2024-02-03\n"
         "3,12/31/2023 11:59 pm\n")  # fmt: skip
    source = FileSource(tmp_path)
    assert source.read(SALE_DATE_ONLY).get_column("SaleDate").to_list() == [
        date(2024, 1, 25),
        date(2024, 2, 3),
        date(2023, 12, 31),
    ]
    assert source.last_sale_date() == date(2024, 2, 3)


# --- bad cells keep their raw text and row ---------------------------------------------------


def test_a_cell_that_does_not_read_reports_its_raw_text_and_row(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_SalesDetail", "SaleId;ItemId;Quantity;Amount\n1;1;1,5;3,25\n"
         "2;1;2;4,5\n3;1;12,5x;1\n")  # fmt: skip
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(SALES_DETAIL)
    error = caught.value
    assert (error.table, error.column, error.row, error.value) == (
        "MV_SalesDetail",
        "Quantity",
        3,
        "12,5x",
    )
    assert str(error).startswith("MV_SalesDetail.Quantity row 3: cannot parse '12,5x' as a number")


def test_an_impossible_date_reports_its_raw_text(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_Visit", "VisitId;CustomerId;RepId;VisitDate\n1;1;1;13/01/2024\n"
         "2;1;1;31/02/2024\n")  # fmt: skip
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(VISIT)
    assert (caught.value.column, caught.value.row, caught.value.value) == (
        "VisitDate",
        2,
        "31/02/2024",
    )


def test_null_in_a_required_text_column_is_reported_missing(tmp_path: Path) -> None:
    _csv(tmp_path, "MV_SetupBrand", "BrandId;BrandName\n1;Ricard\n2;NULL\n")
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(BRAND)
    assert (caught.value.column, caught.value.row) == ("BrandName", 2)
    assert "missing value" in str(caught.value)


# --- encodings ---------------------------------------------------------------------------------


def test_an_encoding_that_is_neither_utf8_nor_cp1252_is_refused(tmp_path: Path) -> None:
    data = b"BrandId;BrandName\n1;caf\x81\n"  # 0x81: invalid UTF-8, undefined in cp1252
    (tmp_path / "MV_SetupBrand.csv").write_bytes(data)
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).columns(BRAND)
    message = str(caught.value)
    assert message.startswith(
        "MV_SetupBrand: MV_SetupBrand.csv has an encoding that cannot be told: not UTF-8 "
        "(byte 0x81 at offset 23) and not cp1252 (byte 0x81 at offset 23)"
    )
    assert message.endswith(
        'pin it with encoding = "..." (e.g. "latin-1", "cp1250", "cp1251") in visitrank-source.toml'
    )
    # pinned, it reads
    _settings(tmp_path, '[files]\nencoding = "latin-1"\n')
    source = FileSource(tmp_path)
    assert source.read(BRAND).rows() == [(1, "caf\x81")]
    assert source.reading()["MV_SetupBrand"]["encoding"] == "iso8859-1"
    assert source.reading()["MV_SetupBrand"]["pinned"] == ["encoding"]


def test_cyrillic_cp1251_is_not_taken_for_cp1252(tmp_path: Path) -> None:
    text = "CityId;CityName;AreaId\n1;Москва;1\n2;Санкт-Петербург;1\n3;Новосибирск;1\n"
    _csv(tmp_path, "MV_SetupCity", text, "cp1251")
    with pytest.raises(ContractError, match="does not look like text") as caught:
        FileSource(tmp_path).columns(TABLES["MV_SetupCity"])
    assert "it may be cp1251" in str(caught.value)
    _settings(tmp_path, '[files.MV_SetupCity]\nencoding = "cp1251"\n')
    names = FileSource(tmp_path).read(TABLES["MV_SetupCity"]).get_column("CityName")
    assert names.to_list() == ["Москва", "Санкт-Петербург", "Новосибирск"]


def test_the_first_accent_after_the_first_mib_still_decides(tmp_path: Path) -> None:
    rows = "".join(f"{i};Brand {i}\n" for i in range(1, 80_001))  # ~1.1 MB of ASCII
    path = _csv(tmp_path, "MV_SetupBrand", "BrandId;BrandName\n" + rows + "80001;Bière\n", "cp1252")
    assert path.stat().st_size > file_dialect.SAMPLE_BYTES
    source = FileSource(tmp_path)
    brands = source.read(BRAND)
    assert brands.height == 80_001
    assert brands.row(-1) == (80_001, "Bière")
    assert source.reading()["MV_SetupBrand"]["encoding"] == "cp1252"


def test_pinned_utf8_names_the_first_bad_byte_past_the_sample(tmp_path: Path) -> None:
    head = "BrandId;BrandName\n" + "".join(f"{i};Brand {i}\n" for i in range(1, 80_001))
    data = head.encode() + b"80001;Bi\xe8re\n"
    (tmp_path / "MV_SetupBrand.csv").write_bytes(data)
    _settings(tmp_path, '[files]\nencoding = "utf-8"\n')
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(BRAND)
    offset = data.index(b"\xe8")
    assert offset > file_dialect.SAMPLE_BYTES
    assert str(caught.value).startswith(
        f"MV_SetupBrand: cannot read MV_SetupBrand.csv as UTF-8 CSV: byte 0xe8 at offset "
        f"{offset} is not valid UTF-8"
    )


def test_pinned_cp1252_names_an_undefined_byte(tmp_path: Path) -> None:
    data = b"BrandId;BrandName\n1;ok\n2;\x9d\n"
    (tmp_path / "MV_SetupBrand.csv").write_bytes(data)
    _settings(tmp_path, '[files]\nencoding = "cp1252"\n')
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(BRAND)
    assert str(caught.value).startswith(
        "MV_SetupBrand: cannot read MV_SetupBrand.csv as cp1252 CSV: byte 0x9d at offset 25 is "
        "not valid cp1252"
    )


# --- delimiters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pinned", "text", "expected"),
    [
        (
            ",",
            "AreaId;AreaName\n1;Nord\n",
            "MV_SetupArea: MV_SetupArea.csv has one column 'AreaId;AreaName': the delimiter looks "
            "like ';' (pin it with delimiter = \";\" in visitrank-source.toml)",
        ),
        (
            ";",
            "AreaId\tAreaName\n1\tNord\n",
            "MV_SetupArea: MV_SetupArea.csv has one column 'AreaId\\tAreaName': the delimiter "
            "looks like '\\t' (pin it with delimiter = \"\\t\" in visitrank-source.toml)",
        ),
    ],
)
def test_a_wrong_delimiter_says_which_one_it_looks_like(
    tmp_path: Path, pinned: str, text: str, expected: str
) -> None:
    _csv(tmp_path, "MV_SetupArea", text)
    source = FileSource(tmp_path, SourceSettings(files=FileSettings(delimiter=pinned)))
    with pytest.raises(ContractError) as caught:
        source.columns(AREA)
    assert str(caught.value) == expected
    assert caught.value.table == "MV_SetupArea"


def test_when_the_sniffer_cannot_decide_the_header_line_does(tmp_path: Path) -> None:
    # a ragged row: csv.Sniffer finds no consistent delimiter; the header holds one ';'
    _csv(tmp_path, "MV_SetupArea", "AreaId;AreaName\n1;Nord\n2\n")
    source = FileSource(tmp_path)
    assert source.read(AREA).rows() == [(1, "Nord"), (2, "")]  # polars pads the short row
    assert source.reading()["MV_SetupArea"]["delimiter"] == ";"


def test_a_sample_cut_inside_a_quoted_line_end_still_parses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the head (36 bytes) ends inside "Bar\nTabac": the sample must stop before that row
    monkeypatch.setattr(file_dialect, "SAMPLE_BYTES", 36)
    _csv(tmp_path, "MV_SetupBrand", 'BrandId;BrandName\n1;Nord\n2;"Bar\nTabac; 2"\n3;Sud\n')
    brands = FileSource(tmp_path).read(BRAND)
    assert brands.rows() == [(1, "Nord"), (2, "Bar\nTabac; 2"), (3, "Sud")]


# --- the settings file ----------------------------------------------------------------------


def test_pinned_settings_override_detection(tmp_path: Path) -> None:
    # detected, 02/01/2024 would be refused as ambiguous, and 1.234 read two ways
    _csv(tmp_path, "MV_Visit", "VisitId;CustomerId;RepId;VisitDate\n1;1;1;02/01/2024\n")
    _csv(tmp_path, "MV_SetupItem", "ItemId;ItemName;BrandId;SubCategoryId;UnitPrice\n"
         "1;A;1;1;1.234\n2;B;1;1;n/a\n")  # fmt: skip
    _settings(
        tmp_path,
        '[files]\ndecimal = ","\nnull_values = ["n/a"]\n\n'
        '[files.MV_Visit]\ndate_format = "mm/dd/yyyy"\n',
    )
    source = FileSource(tmp_path)
    assert source.read(VISIT).rows() == [(1, 1, 1, date(2024, 2, 1))]
    with pytest.raises(ContractError) as caught:  # n/a is a null literal: UnitPrice is required
        source.read(ITEM)
    assert (caught.value.column, caught.value.row, caught.value.value) == ("UnitPrice", 2, None)
    reading = source.reading()
    assert reading["MV_Visit"]["dateFormat"] == "MM/DD/YYYY"
    assert reading["MV_Visit"]["pinned"] == ["decimal", "date_format", "null_values"]
    assert reading["MV_SetupItem"]["pinned"] == ["decimal", "null_values"]
    # decimal pinned, thousands still detected: 1.234 is 1234
    assert (reading["MV_SetupItem"]["decimal"], reading["MV_SetupItem"]["thousands"]) == (",", ".")
    assert reading["MV_SetupItem"]["nullValues"] == ["n/a"]


def test_settings_values_are_parsed(tmp_path: Path) -> None:
    _settings(
        tmp_path,
        '[files]\nthousands = ""\nsheet = 2\n\n[files.MV_Sales]\nencoding = "CP1252"\n'
        'delimiter = "\\t"\n\n[values.Channel]\nhoreca = "on_trade"\n" Retail " = "OFF_TRADE"\n',
    )
    loaded = load_source_settings(tmp_path)
    assert loaded.path == tmp_path / "visitrank-source.toml"
    # raw values trimmed and upper-cased, as the mapping compares them
    assert loaded.values == {"Channel": {"HORECA": "ON_TRADE", "RETAIL": "OFF_TRADE"}}
    assert loaded.files == FileSettings(thousands="", sheet=2)
    assert loaded.for_table("MV_Sales") == FileSettings(
        encoding="cp1252", delimiter="\t", thousands="", sheet=2
    )
    assert loaded.for_table("MV_Visit") == loaded.files
    assert FileSource(tmp_path).settings == loaded
    assert FileSource(tmp_path).value_map() == loaded.values


def test_no_settings_file_means_defaults(tmp_path: Path) -> None:
    assert load_source_settings(tmp_path) == SourceSettings()
    with pytest.raises(ContractError, match="source settings file not found"):
        load_source_settings(tmp_path, tmp_path / "elsewhere.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[files]\ndelimeter = ";"\n',
            "[files] unknown key 'delimeter' (did you mean 'delimiter'?) (known: encoding, "
            "delimiter, decimal, thousands, date_format, null_values, sheet)",
        ),
        (
            '[files.MV_Sale]\ndecimal = ","\n',
            "[files.MV_Sale] is not a contract table (did you mean 'MV_Sales'?)",
        ),
        ("[file]\n", "unknown section 'file' (did you mean 'files'?) (known: files, values)"),
        (
            '[files]\ndecimal = ";"\n',
            '[files] decimal = ";" is not usable: expected one of ".", ","',
        ),
        (
            '[files.MV_Sales]\ndelimiter = ":"\n',
            '[files.MV_Sales] delimiter = ":" is not usable: expected one of ",", ";", "\\t", "|"',
        ),
        (
            '[files]\nencoding = "klingon"\n',
            '[files] encoding = "klingon" is not usable: expected a text encoding Python knows',
        ),
        ('[files]\nencoding = "rot13"\n', '[files] encoding = "rot13" is not usable'),
        (
            '[files]\ndate_format = "DD/MM/YY"\n',
            '[files] date_format = "DD/MM/YY" is not usable: expected one of YYYY-MM-DD, '
            "DD/MM/YYYY, MM/DD/YYYY",
        ),
        (
            '[files]\ndecimal = ","\nthousands = ","\n',
            '[files] decimal and thousands are both ",": a number\'s decimal mark and thousands '
            "separator must differ",
        ),
        (
            '[files]\nthousands = "."\n[files.MV_Sales]\ndecimal = "."\n',
            '[files.MV_Sales] decimal and thousands are both "."',
        ),
        ('[files]\nnull_values = "NULL"\n', '[files] null_values = "NULL" is not usable'),
        ("[files]\nnull_values = [1]\n", "[files] null_values = [1] is not usable"),
        ("[files]\nsheet = 0\n", "[files] sheet = 0 is not usable: expected a sheet name"),
        ("[files]\nMV_Sales = 3\n", "files.MV_Sales = 3 must be a table ([files.MV_Sales])"),
        ("files = 3\n", "files = 3 must be a table ([files])"),
        (
            '[values.Channel]\nHORECA = "ON-TRADE"\n',
            "[values.Channel] HORECA = 'ON-TRADE': not a contract value (one of ON_TRADE, "
            "OFF_TRADE)",
        ),
        ("[values.Channel]\nHORECA = 1\n", '[values.Channel] "HORECA" = 1 is not usable'),
        (
            '[values.Chanel]\nX = "ON_TRADE"\n',
            "[values.Chanel] is not a column whose values can be mapped (mappable: Channel) "
            "(did you mean 'Channel'?)",
        ),
        ('[values]\nChannel = "ON_TRADE"\n', 'values.Channel = "ON_TRADE" must be a table'),
        ("[files\n", "does not parse as TOML"),
    ],
)
def test_settings_file_errors_name_the_file_key_and_value(
    tmp_path: Path, text: str, expected: str
) -> None:
    _settings(tmp_path, text)
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path)
    assert str(caught.value).startswith(str(tmp_path / "visitrank-source.toml"))
    assert expected in str(caught.value)


# --- Excel workbooks ------------------------------------------------------------------------


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> None:
    book = xlsxwriter.Workbook(path)
    day = book.add_format({"num_format": "dd/mm/yyyy"})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, datetime):
                    sheet.write_datetime(r, c, value, day)
                elif value is not None:
                    sheet.write(r, c, value)
    book.close()


SALES_ROWS: list[list[object]] = [
    ["SaleId", "CustomerId", "SaleDate", "RepId"],
    [1, 2, datetime(2024, 1, 2), "NULL"],
    [2, 3, "13/01/2024", 4],
    [3.0, 3, datetime(2024, 1, 3, 10, 30), None],
]
SALES_READ = [
    (1, 2, date(2024, 1, 2), None),
    (2, 3, date(2024, 1, 13), 4),
    (3, 3, date(2024, 1, 3), None),
]


def test_xlsx_real_dates_text_dates_numbers_and_null(tmp_path: Path) -> None:
    _workbook(tmp_path / "MV_Sales.xlsx", {"Ventes": SALES_ROWS, "Notes": [["nothing"]]})
    _workbook(
        tmp_path / "MV_SetupItem.xlsx",
        {
            "Items": [
                ["ItemId", "ItemName", "BrandId", "SubCategoryId", "UnitPrice"],
                # a number as a name; 2/3 read as text would be '0.666666667' (9 digits)
                [1, 123, 1, 1, 2 / 3],
                [2, "Bière", 1, 1, 12.5],
            ]
        },
    )
    source = FileSource(tmp_path)
    assert source.read(SALES).rows() == SALES_READ
    assert source.read(ITEM).rows() == [(1, "123", 1, 1, 2 / 3), (2, "Bière", 1, 1, 12.5)]
    assert source.reading()["MV_Sales"] == {
        "file": "MV_Sales.xlsx",
        "format": "xlsx",
        "sheet": "Ventes",
        "decimal": ".",
        "thousands": "",
        "dateFormat": "DD/MM/YYYY",
        "nullValues": ["NULL"],
        "pinned": [],
    }
    chunks = list(source.read_batches(SALES, 2))
    assert [chunk.height for chunk in chunks] == [2, 1]
    assert pl.concat(chunks).rows() == SALES_READ


def test_xlsx_text_numbers_in_european_form(tmp_path: Path) -> None:
    _workbook(
        tmp_path / "MV_SalesDetail.xlsx",
        {"Sheet1": [["SaleId", "ItemId", "Quantity", "Amount"], [1, 1, "1,5", "1.234,50"]]},
    )
    source = FileSource(tmp_path)
    assert source.read(SALES_DETAIL).rows() == [(1, 1, 1.5, 1234.5)]
    assert source.reading()["MV_SalesDetail"]["decimal"] == ","


@pytest.mark.parametrize("sheet", ['"Ventes"', "2"])
def test_xlsx_pinned_sheet(tmp_path: Path, sheet: str) -> None:
    _workbook(tmp_path / "MV_Sales.xlsx", {"Notes": [["nothing"]], "Ventes": SALES_ROWS})
    _settings(tmp_path, f"[files.MV_Sales]\nsheet = {sheet}\n")
    source = FileSource(tmp_path)
    assert source.read(SALES).rows() == SALES_READ
    assert source.reading()["MV_Sales"]["sheet"] == "Ventes"
    assert source.reading()["MV_Sales"]["pinned"] == ["sheet"]


@pytest.mark.parametrize(("sheet", "shown"), [('"Sales"', "'Sales'"), ("3", "3")])
def test_xlsx_missing_sheet(tmp_path: Path, sheet: str, shown: str) -> None:
    _workbook(tmp_path / "MV_Sales.xlsx", {"Notes": [["nothing"]], "Ventes": SALES_ROWS})
    _settings(tmp_path, f"[files.MV_Sales]\nsheet = {sheet}\n")
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(SALES)
    assert str(caught.value).startswith(
        f"MV_Sales: MV_Sales.xlsx has no sheet {shown} (sheets: 'Notes', 'Ventes')"
    )


def test_xlsx_empty_rows_are_kept_so_rows_are_the_sheets(tmp_path: Path) -> None:
    _workbook(
        tmp_path / "MV_SetupBrand.xlsx",
        {"S": [["BrandId", "BrandName"], [1, "Ricard"], [None, None], [3, "Pernod"]]},
    )
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(BRAND)
    assert (caught.value.column, caught.value.row) == ("BrandId", 2)


def test_not_a_workbook_names_the_table(tmp_path: Path) -> None:
    (tmp_path / "MV_SetupBrand.xlsx").write_bytes(b"not a workbook")
    with pytest.raises(ContractError, match=r"^MV_SetupBrand: cannot read MV_SetupBrand.xlsx"):
        FileSource(tmp_path).read(BRAND)


def test_preference_parquet_then_csv_then_xlsx(tmp_path: Path) -> None:
    _workbook(tmp_path / "MV_SetupBrand.xlsx", {"S": [["BrandId", "BrandName"], [3, "xlsx"]]})
    source = FileSource(tmp_path)
    assert source.read(BRAND).rows() == [(3, "xlsx")]
    _csv(tmp_path, "MV_SetupBrand", "BrandId,BrandName\n2,csv\n")
    assert source.read(BRAND).rows() == [(2, "csv")]
    pl.DataFrame({"BrandId": [1], "BrandName": ["parquet"]}).write_parquet(
        tmp_path / "MV_SetupBrand.parquet"
    )
    assert source.read(BRAND).rows() == [(1, "parquet")]
    assert source.reading()["MV_SetupBrand"] == {
        "file": "MV_SetupBrand.parquet",
        "format": "parquet",
    }


# --- streaming --------------------------------------------------------------------------------


def test_read_batches_of_a_cp1252_file_equal_read_and_leave_no_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    data = tmp_path / "data"
    data.mkdir()
    _csv(data, "MV_SetupCustomer", CUSTOMERS_EU + "3;Zoë;1;1;1,25;NULL;ON_TRADE;1\n", "cp1252")
    source = FileSource(data)
    chunks = list(source.read_batches(CUSTOMER, 2))
    assert [chunk.height for chunk in chunks] == [2, 1]
    assert pl.concat(chunks).equals(source.read(CUSTOMER))
    assert pl.concat(chunks).get_column("CustomerName").to_list() == [
        "Café de l'Étoile",
        "Müller Bräu, Köln",
        "Zoë",
    ]
    assert list(scratch.iterdir()) == []
    # a consumer that stops early also leaves no copy behind
    batches = source.read_batches(CUSTOMER, 1)
    next(batches)
    assert len(list(scratch.iterdir())) == 1
    batches.close()
    assert list(scratch.iterdir()) == []


def test_read_batches_error_names_the_row_in_the_whole_cp1252_file(tmp_path: Path) -> None:
    rows = "".join(f"{i};1;{i},5;1,25\n" for i in range(1, 8)) + "8;1;8,5;douze\n"
    _csv(tmp_path, "MV_SalesDetail", "SaleId;ItemId;Quantity;Amount\n" + rows + "9;1;é;1\n",
         "cp1252")  # fmt: skip
    batches = FileSource(tmp_path).read_batches(SALES_DETAIL, 3)
    assert next(batches).get_column("Quantity").to_list() == [1.5, 2.5, 3.5]
    with pytest.raises(ContractError) as caught:
        list(batches)
    assert (caught.value.column, caught.value.row, caught.value.value) == ("Amount", 8, "douze")


# --- any dialect reads back equal -----------------------------------------------------------

NUMBER_FORMATS = [(".", ""), (",", ""), (".", ","), (",", "."), (",", " "), (",", "\u00a0")]
DATE_FORMATS = ["YYYY-MM-DD", "DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY", "YYYY/MM/DD"]
# real words (charset-normalizer judges whether bytes read as text; random letters such as
# "AAAAAAA€A" are rightly refused, see test_cyrillic_cp1251_is_not_taken_for_cp1252)
WORDS = ["Café", "de", "l'Étoile", "Müller", "Bräu", "Straße", "Zoë", "Œuvre", "Peña", "Bar"]
NAME = st.lists(st.sampled_from(WORDS), max_size=3).map(" ".join)


def _number(value: float, decimal: str, thousands: str, places: int) -> str:
    text = f"{abs(value):,.{places}f}".replace(",", "\0").replace(".", decimal)
    return ("-" if value < 0 else "") + text.replace("\0", thousands)


def _date(day: date, name: str) -> str:
    parts = {"DD": f"{day.day:02d}", "MM": f"{day.month:02d}", "YYYY": f"{day.year:04d}"}
    separator = next(char for char in name if not char.isalpha())
    return separator.join(parts[part] for part in name.split(separator))


@settings(max_examples=40, deadline=None)
@given(
    items=st.lists(
        st.tuples(
            st.integers(1, 10_000_000),
            NAME,
            st.integers(-1_000_000_00, 1_000_000_00).map(lambda cents: cents / 100),
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda item: item[0],
    ),
    days=st.lists(st.dates(date(2000, 1, 1), date(2030, 12, 31)), min_size=1, max_size=8),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    number=st.sampled_from(NUMBER_FORMATS),
    date_format=st.sampled_from(DATE_FORMATS),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_any_dialect_reads_back_equal(
    tmp_path_factory: pytest.TempPathFactory,
    items: list[tuple[int, str, float]],
    days: list[date],
    delimiter: str,
    number: tuple[str, str],
    date_format: str,
    encoding: str,
) -> None:
    folder = tmp_path_factory.mktemp("dialect")
    decimal, thousands = number
    item_rows = [
        [_number(i, decimal, thousands, 0), name, "1", "1", _number(price, decimal, thousands, 2)]
        for i, name, price in items
    ]
    sale_rows = [[str(i), "1", _date(day, date_format), "NULL"] for i, day in enumerate(days, 1)]
    for table, rows in (("MV_SetupItem", item_rows), ("MV_Sales", sale_rows)):
        out = io.StringIO()
        writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
        writer.writerow(TABLES[table].column_names)
        writer.writerows(rows)
        _csv(folder, table, out.getvalue(), encoding)
    source = FileSource(folder)
    assert source.read(ITEM).rows() == [(i, name, 1, 1, price) for i, name, price in items]
    ambiguous = (
        date_format in ("DD/MM/YYYY", "MM/DD/YYYY", "DD.MM.YYYY")
        and all(day.day <= 12 for day in days)
        and any(day.day != day.month for day in days)
    )
    if ambiguous:
        with pytest.raises(ContractError, match="fit both"):
            source.read(SALES)
        return
    assert source.read(SALES).rows() == [(i, 1, day, None) for i, day in enumerate(days, 1)]
    reading = source.reading()["MV_Sales"]
    assert reading["delimiter"] == delimiter
