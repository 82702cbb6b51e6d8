"""FileSource: CSV / Parquet reading, preference, errors naming table and folder, round trips.

(Messy exports, the settings file and Excel workbooks: test_file_dialect.py.)"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from visitrank.adapters.file_source import FileSource
from visitrank.adapters.source_settings import FileSettings, SourceSettings
from visitrank.contract.errors import ContractError
from visitrank.contract.quarantine import quarantine
from visitrank.contract.tables import (
    CUSTOMER,
    ITEM,
    OPTIONAL_TABLES,
    SALES,
    SALES_DETAIL,
    TABLES,
)

NAMES = ["Bar de l'Étoile", "Chez Zoë « Le Café »", 'Say "cheers", O\'Brien', "Ölkännchen 東京"]


def _customers() -> pl.DataFrame:
    n = len(NAMES)
    return pl.DataFrame(
        {
            "CustomerId": list(range(1, n + 1)),
            "CustomerName": NAMES,
            "CityId": [1, None, 1, 1],
            "AreaId": [1] * n,
            "Latitude": [48.85, None, 45.75, 43.3],
            "Longitude": [2.35, None, 4.85, 5.4],
            "Channel": ["ON_TRADE", "OFF_TRADE", "ON_TRADE", "OFF_TRADE"],
            "RepId": [1] * n,
        },
        schema=CUSTOMER.columns,
    )


def _minimal_tables() -> dict[str, pl.DataFrame]:
    d = date(2024, 5, 6)
    rows = {
        "MV_SetupArea": [(1, "Provence-Alpes-Côte d'Azur")],
        "MV_SetupCity": [(1, "L'Haÿ-les-Roses", 1)],
        "MV_SetupRep": [(1, "Jean-François D'Arcy", 1)],
        "MV_SetupCategory": [(1, "Bière")],
        "MV_SetupSubCategory": [(1, "Blonde", 1)],
        "MV_SetupBrand": [(1, "Brasserie d'Œuf")],
        "MV_SetupItem": [(1, "Pinte 50cl", 1, 1, 4.5)],
        "MV_Sales": [(1, 1, d, 1), (2, 3, date(2024, 5, 9), None)],
        "MV_SalesDetail": [(1, 1, 2.0, 9.0), (2, 1, -1.0, -4.5)],
        "MV_Visit": [(1, 1, 1, d)],
    }
    tables = {
        name: pl.DataFrame(table_rows, schema=TABLES[name].columns, orient="row")
        for name, table_rows in rows.items()
    }
    tables["MV_SetupCustomer"] = _customers()
    return tables


def _write(folder: Path, tables: dict[str, pl.DataFrame], fmt: str) -> None:
    for name, frame in tables.items():
        if fmt == "csv":
            frame.write_csv(folder / f"{name}.csv")
        else:
            frame.write_parquet(folder / f"{name}.parquet")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip_preserves_values_and_unicode(tmp_path: Path, fmt: str) -> None:
    tables = _minimal_tables()
    _write(tmp_path, tables, fmt)
    source = FileSource(tmp_path)
    read = source.read_all()
    assert set(read) == set(TABLES)  # the optional tables have no file
    for name, frame in tables.items():
        assert read[name].schema == pl.Schema(TABLES[name].all_columns), name
        assert read[name].select(frame.columns).equals(frame), name
        for column in TABLES[name].optional:  # absent optional columns read as nulls
            assert read[name][column].null_count() == frame.height, (name, column)
    for spec in OPTIONAL_TABLES.values():  # read alone, empty
        assert source.read(spec).is_empty()
        assert source.read(spec).schema == pl.Schema(spec.all_columns)
    assert read["MV_SetupCustomer"].get_column("CustomerName").to_list() == NAMES
    assert read["MV_SetupCity"].item(0, "CityName") == "L'Haÿ-les-Roses"
    # and the result is valid input for quarantine
    assert quarantine(read).counts()["MV_SetupCustomer"] == {"no_gps": 1}


def test_csv_errors_use_data_row_numbers_and_raw_text(tmp_path: Path) -> None:
    (tmp_path / "MV_Sales.csv").write_text(
        "SaleId,CustomerId,SaleDate,RepId,Comment\n"
        "1,1,2024-01-02,1,ok\n"
        '2,1,2024-01-03,,"multi, field"\n'
        "3,1,2024-13-45,2,bad\n",
        encoding="utf-8",
    )
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(SALES)
    error = caught.value
    assert (error.table, error.column, error.row, error.value) == (
        "MV_Sales",
        "SaleDate",
        3,
        "2024-13-45",
    )
    assert str(error).startswith("MV_Sales.SaleDate row 3: cannot parse '2024-13-45' as a date")


def test_csv_reads_text_verbatim_and_ignores_extra_columns(tmp_path: Path) -> None:
    (tmp_path / "MV_SetupItem.csv").write_text(
        "Extra,ItemId,ItemName,BrandId,SubCategoryId,UnitPrice\n"
        'x, 7 ,"  Pastis d\'Henri, 1L ",1,2,12.0\n'
        "y,8,,1,2, 3.25 \n",
        encoding="utf-8",
    )
    out = FileSource(tmp_path).read(ITEM)
    assert out.columns == ITEM.column_names
    assert out.rows() == [(7, "  Pastis d'Henri, 1L ", 1, 2, 12.0), (8, "", 1, 2, 3.25)]


def test_csv_with_bom_is_read(tmp_path: Path) -> None:
    (tmp_path / "MV_SetupBrand.csv").write_bytes("\ufeffBrandId,BrandName\n1,Côte\n".encode())
    assert FileSource(tmp_path).read(TABLES["MV_SetupBrand"]).rows() == [(1, "Côte")]


def test_csv_missing_column_names_table_and_found_columns(tmp_path: Path) -> None:
    (tmp_path / "MV_SalesDetail.csv").write_text("SaleId,ItemId,Qty,Amount\n1,1,1,1\n")
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(TABLES["MV_SalesDetail"])
    assert str(caught.value) == (
        "MV_SalesDetail: missing column 'Quantity' (found: SaleId, ItemId, Qty, Amount)"
    )


def test_invalid_utf8_and_empty_csv_name_the_table(tmp_path: Path) -> None:
    # b"\xff\xfe" reads as cp1252 ("ÿþ") when detected: pin UTF-8 to get the error
    (tmp_path / "MV_SetupBrand.csv").write_bytes(b"BrandId,BrandName\n1,\xff\xfe\n")
    (tmp_path / "MV_SetupArea.csv").write_bytes(b"")
    source = FileSource(tmp_path, SourceSettings(files=FileSettings(encoding="utf-8")))
    with pytest.raises(ContractError, match=r"^MV_SetupBrand: cannot read .* as UTF-8 CSV") as bad:
        source.read(TABLES["MV_SetupBrand"])
    assert bad.value.table == "MV_SetupBrand"
    assert "byte 0xff at offset 20 is not valid UTF-8" in str(bad.value)
    with pytest.raises(ContractError, match=r"^MV_SetupArea: MV_SetupArea.csv is empty"):
        source.read(TABLES["MV_SetupArea"])


def test_parquet_preferred_over_csv(tmp_path: Path) -> None:
    pl.DataFrame({"BrandId": [1], "BrandName": ["from parquet"]}).write_parquet(
        tmp_path / "MV_SetupBrand.parquet"
    )
    (tmp_path / "MV_SetupBrand.csv").write_text("BrandId,BrandName\n2,from csv\n")
    assert FileSource(tmp_path).read(TABLES["MV_SetupBrand"]).rows() == [(1, "from parquet")]


def test_parquet_reads_only_contract_columns_and_coerces(tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "SaleId": [1.0, 2.0],
            "CustomerId": pl.Series([5, 6], dtype=pl.Int32),
            "SaleDate": ["2024-01-02", "2024-01-03 08:00:00"],
            "RepId": [None, None],
            "Blob": [[1, 2], [3]],  # a type coerce_table could never handle: must not be read
        }
    ).write_parquet(tmp_path / "MV_Sales.parquet")
    out = FileSource(tmp_path).read(SALES)
    assert out.schema == pl.Schema(SALES.columns)
    assert out.rows() == [(1, 5, date(2024, 1, 2), None), (2, 6, date(2024, 1, 3), None)]


def test_parquet_bad_value_names_row(tmp_path: Path) -> None:
    pl.DataFrame(
        {"SaleId": [1.0, 2.5], "CustomerId": [5, 6], "SaleDate": [date(2024, 1, 2)] * 2}
        | {"RepId": [1, 1]}
    ).write_parquet(tmp_path / "MV_Sales.parquet")
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(SALES)
    assert (caught.value.column, caught.value.row, caught.value.value) == ("SaleId", 2, 2.5)


def test_corrupt_parquet_names_table(tmp_path: Path) -> None:
    (tmp_path / "MV_SetupBrand.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ContractError, match=r"^MV_SetupBrand: cannot read .* as Parquet"):
        FileSource(tmp_path).read(TABLES["MV_SetupBrand"])


def test_missing_table_names_table_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read(ITEM)
    assert str(caught.value) == (
        f"MV_SetupItem table missing: expected MV_SetupItem.parquet, MV_SetupItem.csv or "
        f"MV_SetupItem.xlsx in {tmp_path}"
    )
    assert caught.value.table == "MV_SetupItem"


def test_read_all_reports_first_missing_table(tmp_path: Path) -> None:
    tables = _minimal_tables()
    del tables["MV_Visit"]
    _write(tmp_path, tables, "parquet")
    with pytest.raises(ContractError) as caught:
        FileSource(tmp_path).read_all()
    assert caught.value.table == "MV_Visit"


@pytest.mark.parametrize("make_file", [False, True])
def test_missing_folder_is_contract_error(tmp_path: Path, make_file: bool) -> None:
    target = tmp_path / "nope"
    if make_file:
        target.write_text("a file, not a folder")
    with pytest.raises(ContractError, match="data folder not found") as caught:
        FileSource(target)
    assert caught.value.table is None


def test_last_sale_date(tmp_path: Path) -> None:
    _write(tmp_path, {"MV_Sales": _minimal_tables()["MV_Sales"]}, "csv")
    assert FileSource(tmp_path).last_sale_date() == date(2024, 5, 9)


def test_last_sale_date_empty_and_only_needs_the_date_column(tmp_path: Path) -> None:
    (tmp_path / "MV_Sales.csv").write_text("SaleId,CustomerId,SaleDate,RepId\n")
    assert FileSource(tmp_path).last_sale_date() is None
    (tmp_path / "MV_Sales.csv").write_text("SaleDate\n2024-02-01\n2024-02-03 10:00:00\n")
    assert FileSource(tmp_path).last_sale_date() == date(2024, 2, 3)


# --- read_batches: the same table in chunks --------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("rows", [1, 2, 100])
def test_read_batches_concatenate_to_read(tmp_path: Path, fmt: str, rows: int) -> None:
    _write(tmp_path, _minimal_tables(), fmt)
    source = FileSource(tmp_path)
    for spec in TABLES.values():
        chunks = list(source.read_batches(spec, rows))
        whole = source.read(spec)
        assert len(chunks) == max(1, -(-whole.height // rows)), spec.name
        assert all(chunk.height <= rows for chunk in chunks)
        assert pl.concat(chunks).equals(whole), spec.name


def test_read_batches_of_csv_keep_quoted_newlines_bom_and_blanks(tmp_path: Path) -> None:
    (tmp_path / "MV_SetupCustomer.csv").write_bytes(
        (
            "\ufeffCustomerId,CustomerName,CityId,AreaId,Latitude,Longitude,Channel,RepId,Extra\n"
            '1,"Bar, ""the"" first\nline two",,1,48.8,2.3,ON_TRADE,1,x\n'
            "2,  Épicerie ,1,1,,,OFF_TRADE,1,y\n"
            '3,"",1,1, 45.1 ,4.8,on_trade,2,z\n'
        ).encode()
    )
    source = FileSource(tmp_path)
    chunks = list(source.read_batches(CUSTOMER, 1))
    assert [chunk.height for chunk in chunks] == [1, 1, 1]
    assert pl.concat(chunks).equals(source.read(CUSTOMER))
    assert pl.concat(chunks).get_column("CustomerName").to_list() == [
        'Bar, "the" first\nline two',
        "  Épicerie ",
        "",
    ]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_batches_of_an_empty_table_is_one_empty_chunk(tmp_path: Path, fmt: str) -> None:
    _write(tmp_path, {"MV_Sales": _minimal_tables()["MV_Sales"].clear()}, fmt)
    (chunk,) = FileSource(tmp_path).read_batches(SALES, 10)
    assert chunk.height == 0
    assert chunk.schema == pl.Schema(SALES.columns)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_read_batches_bad_value_names_its_row_in_the_file(tmp_path: Path, fmt: str) -> None:
    n = 25
    detail = pl.DataFrame(
        {
            "SaleId": [str(i) for i in range(1, n + 1)],
            "ItemId": ["1"] * n,
            "Quantity": ["1.0"] * 20 + ["1,5"] + ["2"] * (n - 21),
            "Amount": ["3"] * n,
        }
    )
    _write(tmp_path, {"MV_SalesDetail": detail}, fmt)  # text columns in Parquet too
    batches = FileSource(tmp_path).read_batches(SALES_DETAIL, 6)
    assert next(batches).height == 6
    with pytest.raises(ContractError) as caught:
        list(batches)
    error = caught.value
    assert (error.table, error.column, error.row, error.value) == (
        "MV_SalesDetail",
        "Quantity",
        21,
        "1,5",
    )
    assert str(error) == "MV_SalesDetail.Quantity row 21: cannot parse '1,5' as a number"


def test_read_batches_checks_table_and_columns_before_the_first_chunk(tmp_path: Path) -> None:
    source = FileSource(tmp_path)
    with pytest.raises(ContractError, match="MV_SalesDetail table missing"):
        source.read_batches(SALES_DETAIL, 10)  # no iteration needed
    (tmp_path / "MV_SalesDetail.csv").write_text("saleid, ItemId ,Qty,Amount\n1,1,1,1\n")
    with pytest.raises(ContractError) as caught:
        source.read_batches(SALES_DETAIL, 10)
    assert str(caught.value) == (
        "MV_SalesDetail: missing column 'Quantity' (found: saleid,  ItemId , Qty, Amount)"
    )
    with pytest.raises(ValueError, match="at least 1"):
        source.read_batches(SALES_DETAIL, 0)


def test_read_batches_errors_name_the_table(tmp_path: Path) -> None:
    (tmp_path / "MV_SetupBrand.csv").write_bytes(b"BrandId,BrandName\n1,ok\n2,\xff\xfe\n")
    (tmp_path / "MV_SetupArea.csv").write_bytes(b"")
    (tmp_path / "MV_SetupCategory.parquet").write_bytes(b"not parquet at all")
    source = FileSource(tmp_path, SourceSettings(files=FileSettings(encoding="utf-8")))
    with pytest.raises(ContractError, match=r"^MV_SetupBrand: cannot read .* as UTF-8 CSV"):
        list(source.read_batches(TABLES["MV_SetupBrand"], 1))
    with pytest.raises(ContractError, match=r"^MV_SetupArea: MV_SetupArea.csv is empty"):
        source.read_batches(TABLES["MV_SetupArea"], 1)
    with pytest.raises(ContractError, match=r"^MV_SetupCategory: cannot read .* as Parquet"):
        source.read_batches(TABLES["MV_SetupCategory"], 1)
