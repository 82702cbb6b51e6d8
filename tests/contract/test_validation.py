"""coerce_table: strict casts, exact error locations, nullable handling."""

from __future__ import annotations

import pickle
from datetime import date, datetime

import polars as pl
import pytest

from visitrank.contract.coercion import coerce_table
from visitrank.contract.errors import PROBLEMS_PER_COLUMN, ContractError, combined, with_problems
from visitrank.contract.tables import CUSTOMER, ITEM, SALES, SALES_DETAIL, TableSpec

GOOD_SALES = {
    "SaleId": ["1", "2", "3"],
    "CustomerId": ["10", "11", "12"],
    "SaleDate": ["2024-01-02", "2024-01-03", "2024-01-04"],
    "RepId": ["5", "5", "6"],
}


def _sales_with(column: str, row: int, value: str | None) -> pl.DataFrame:
    data = {name: list(values) for name, values in GOOD_SALES.items()}
    data[column][row - 1] = value
    return pl.DataFrame(data, schema=dict.fromkeys(data, pl.String))


def test_string_columns_are_cast_to_contract_dtypes_in_contract_order() -> None:
    frame = pl.DataFrame(
        {
            "RepId": ["5", "", " 6 "],
            "Extra": ["x", "y", "z"],
            "SaleDate": ["2024-01-02", "2024-01-03 10:11:12.250", "2024-01-04T23:59:59"],
            "CustomerId": [" 10", "11.0", "1e2"],
            "SaleId": ["1", "2", "3"],
        }
    )
    out = coerce_table(SALES, frame)
    assert out.columns == ["SaleId", "CustomerId", "SaleDate", "RepId"]
    assert out.schema == pl.Schema(SALES.columns)
    assert out.get_column("CustomerId").to_list() == [10, 11, 100]
    assert out.get_column("SaleDate").to_list() == [
        date(2024, 1, 2),
        date(2024, 1, 3),
        date(2024, 1, 4),
    ]
    assert out.get_column("RepId").to_list() == [5, None, 6]  # nullable: empty → null


@pytest.mark.parametrize(
    ("column", "row", "value", "fragment"),
    [
        ("SaleId", 2, "abc", "cannot parse 'abc' as an integer"),
        ("SaleId", 3, "12.5", "cannot parse '12.5' as an integer"),
        ("CustomerId", 1, "1,000", "cannot parse '1,000' as an integer"),
        ("CustomerId", 3, "9" * 25, "as an integer"),
        ("RepId", 2, "five", "cannot parse 'five' as an integer"),
        ("SaleDate", 2, "2024-13-45", "cannot parse '2024-13-45' as a date (expected YYYY-MM-DD"),
        ("SaleDate", 1, "02/01/2024", "cannot parse '02/01/2024' as a date"),
        ("SaleDate", 3, "24-01-02", "cannot parse '24-01-02' as a date"),
        ("SaleDate", 3, "2024-1-2", "cannot parse '2024-1-2' as a date"),
        ("SaleDate", 2, "2024-02-30", "cannot parse '2024-02-30' as a date"),
        ("SaleDate", 2, "2024-01-02 25:00:00", "as a date"),
    ],
)
def test_bad_values_name_table_column_row_and_value(
    column: str, row: int, value: str, fragment: str
) -> None:
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, _sales_with(column, row, value))
    error = caught.value
    assert (error.table, error.column, error.row, error.value) == ("MV_Sales", column, row, value)
    assert str(error).startswith(f"MV_Sales.{column} row {row}: ")
    assert fragment in str(error)


def test_message_matches_documented_shape() -> None:
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, _sales_with("SaleDate", 2, "2024-13-45"))
    assert str(caught.value).startswith(
        "MV_Sales.SaleDate row 2: cannot parse '2024-13-45' as a date (expected YYYY-MM-DD"
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [("SaleId", None), ("CustomerId", ""), ("CustomerId", "   "), ("SaleDate", None)],
)
def test_missing_values_in_required_columns_are_errors(column: str, value: str | None) -> None:
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, _sales_with(column, 3, value))
    error = caught.value
    assert (error.table, error.column, error.row, error.value) == ("MV_Sales", column, 3, value)
    assert "missing value" in str(error)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            ["SaleId", "ItemId", "Qty", "Amount"],
            "MV_SalesDetail: missing column 'Quantity' (found: SaleId, ItemId, Qty, Amount)",
        ),
        (
            ["SaleId", "Qty"],
            "MV_SalesDetail: missing columns 'ItemId', 'Quantity', 'Amount' (found: SaleId, Qty)",
        ),
    ],
)
def test_missing_columns_are_listed_with_what_was_found(columns: list[str], message: str) -> None:
    frame = pl.DataFrame({name: ["1"] for name in columns})
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES_DETAIL, frame)
    assert str(caught.value) == message
    assert (caught.value.table, caught.value.column, caught.value.row) == (
        "MV_SalesDetail",
        None,
        None,
    )


def test_header_case_and_spaces_are_tolerated_when_unambiguous() -> None:
    frame = pl.DataFrame({" saleid ": [1], "ITEMID": [2], "Quantity": [1.0], "amount": [3.0]})
    out = coerce_table(SALES_DETAIL, frame)
    assert out.row(0) == (1, 2, 1.0, 3.0)


def test_first_bad_cell_is_lowest_row_then_contract_column_order() -> None:
    frame = _sales_with("SaleDate", 3, "bad").with_columns(
        pl.Series("RepId", ["5", "x", "6"]), pl.Series("CustomerId", ["10", "11", "y"])
    )
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, frame)
    assert (caught.value.column, caught.value.row) == ("RepId", 2)


def test_floats_parse_including_non_finite_and_nullable_blanks() -> None:
    frame = pl.DataFrame(
        {
            "SaleId": ["1", "2", "3", "4", "5"],
            "ItemId": ["1", "1", "1", "1", "1"],
            "Quantity": [" 1.5 ", "-2", "nan", "", "   "],
            "Amount": ["1e3", "inf", "0", None, " -0.25"],
        }
    )
    out = coerce_table(SALES_DETAIL, frame)
    quantity = out.get_column("Quantity").to_list()
    assert quantity[:2] == [1.5, -2.0]
    assert quantity[2] != quantity[2]  # NaN is kept for quarantine to flag
    assert quantity[3:] == [None, None]  # blank = missing, allowed in a nullable column
    assert out.get_column("Amount").to_list() == [1000.0, float("inf"), 0.0, None, -0.25]


def test_bad_float_names_row_and_value() -> None:
    frame = pl.DataFrame(
        {"SaleId": ["1", "2"], "ItemId": ["1", "1"], "Quantity": ["1", "1,5"], "Amount": ["1", "2"]}
    )
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES_DETAIL, frame)
    assert str(caught.value) == "MV_SalesDetail.Quantity row 2: cannot parse '1,5' as a number"
    assert caught.value.value == "1,5"


def test_native_types_whole_floats_and_datetimes_are_accepted() -> None:
    frame = pl.DataFrame(
        {
            "SaleId": [1.0, 2.0],
            "CustomerId": pl.Series([10, 11], dtype=pl.Int32),
            "SaleDate": [datetime(2024, 1, 2, 23, 59), datetime(2024, 1, 3)],
            "RepId": [None, 4.0],
        }
    )
    out = coerce_table(SALES, frame)
    assert out.schema == pl.Schema(SALES.columns)
    assert out.rows() == [(1, 10, date(2024, 1, 2), None), (2, 11, date(2024, 1, 3), 4)]


@pytest.mark.parametrize("value", [12.5, float("nan"), float("inf"), 1e30])
def test_non_whole_or_huge_float_ids_are_errors(value: float) -> None:
    frame = pl.DataFrame(
        {"ItemId": [1.0, value], "ItemName": ["a", "b"], "BrandId": [1, 1]}
        | {"SubCategoryId": [1, 1], "UnitPrice": [1.0, 1.0]}
    )
    with pytest.raises(ContractError) as caught:
        coerce_table(ITEM, frame)
    assert (caught.value.table, caught.value.column, caught.value.row) == (
        "MV_SetupItem",
        "ItemId",
        2,
    )
    assert "not a whole number" in str(caught.value)


def test_unconvertible_column_type_names_the_column() -> None:
    frame = pl.DataFrame(
        {"SaleId": [1], "CustomerId": [True], "SaleDate": [date(2024, 1, 1)], "RepId": [1]}
    )
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, frame)
    assert (caught.value.column, caught.value.row) == ("CustomerId", None)
    assert "Boolean" in str(caught.value)


def test_text_keeps_unicode_and_empty_strings_but_not_nulls() -> None:
    names = ["Café de l'Étoile", "", "  O'Brien  "]
    frame = pl.DataFrame(
        {"ItemId": [1, 2, 3], "ItemName": names, "BrandId": [1, 1, 1]}
    ).with_columns(SubCategoryId=pl.lit(1), UnitPrice=pl.lit(1.0))
    assert coerce_table(ITEM, frame).get_column("ItemName").to_list() == names
    with pytest.raises(ContractError) as caught:
        coerce_table(ITEM, frame.with_columns(pl.Series("ItemName", ["a", None, "c"])))
    assert (caught.value.column, caught.value.row) == ("ItemName", 2)


def test_nullable_customer_coordinates_keep_nulls() -> None:
    frame = pl.DataFrame(
        {
            "CustomerId": ["1"],
            "CustomerName": ["Zoë"],
            "CityId": [""],
            "AreaId": ["1"],
            "Latitude": [""],
            "Longitude": [None],
            "Channel": ["on_trade"],
            "RepId": ["1"],
        }
    )
    out = coerce_table(CUSTOMER, frame)
    # the optional VisitMinutes and VisitEveryWeeks, absent, are null
    assert out.row(0) == (1, "Zoë", None, 1, None, None, "on_trade", 1, None, None)


def test_empty_and_all_null_frames() -> None:
    empty = pl.DataFrame(schema=dict.fromkeys(SALES.columns, pl.String))
    assert coerce_table(SALES, empty).schema == pl.Schema(SALES.columns)
    spec = TableSpec("T", {"A": pl.Int64(), "B": pl.Float64()}, (), frozenset({"B"}))
    out = coerce_table(spec, pl.DataFrame({"A": [1], "B": [None]}))
    assert out.schema == pl.Schema({"A": pl.Int64, "B": pl.Float64})


def test_error_survives_pickling() -> None:
    error = ContractError.at("MV_Sales", "bad", column="SaleId", row=3, value="x")
    clone = pickle.loads(pickle.dumps(error))
    assert (str(clone), clone.table, clone.column, clone.row, clone.value) == (
        "MV_Sales.SaleId row 3: bad",
        "MV_Sales",
        "SaleId",
        3,
        "x",
    )
    assert isinstance(clone, ValueError)


def test_large_frame_error_located_without_row_loop() -> None:
    n = 2_000_000
    ids = pl.int_range(1, n + 1, eager=True).cast(pl.String)
    frame = pl.DataFrame(
        {"SaleId": ids, "ItemId": ids, "Quantity": ["1"] * n, "Amount": ["2.5"] * n}
    ).with_columns(
        pl.when(pl.int_range(pl.len()) == n - 7)
        .then(pl.lit("oops"))
        .otherwise(pl.col("Amount"))
        .alias("Amount")
    )
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES_DETAIL, frame)
    assert (caught.value.column, caught.value.row, caught.value.value) == ("Amount", n - 6, "oops")


@pytest.mark.parametrize(
    ("column", "row", "value"), [("SaleDate", 2, "2024-13-45"), ("CustomerId", 3, "")]
)
def test_row_offset_names_the_row_in_the_whole_source(column: str, row: int, value: str) -> None:
    """A chunk read after 1,000 data rows: its row 2 is the source's data row 1,002."""
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, _sales_with(column, row, value), row_offset=1_000)
    assert (caught.value.column, caught.value.row, caught.value.value) == (
        column,
        1_000 + row,
        value,
    )
    assert str(caught.value).startswith(f"MV_Sales.{column} row {1_000 + row}: ")
    good = _sales_with("SaleId", 1, "1")
    assert coerce_table(SALES, good, row_offset=7).equals(coerce_table(SALES, good))


def test_every_bad_cell_is_reported_at_once_capped_per_column() -> None:
    """A file with several problems is fixed in one go: every bad cell is counted, up to
    PROBLEMS_PER_COLUMN of each column listed with row and raw value, in row order."""
    rows = 25
    frame = pl.DataFrame(
        {
            "SaleId": [str(i) for i in range(1, rows + 1)],
            "CustomerId": ["10"] * rows,
            # every date is DD/MM/YYYY: 25 bad cells, 20 listed
            "SaleDate": [f"{day:02d}/01/2024" for day in range(1, rows + 1)],
            "RepId": ["5"] * 3 + ["x5"] + ["5"] * (rows - 4),
        },
        schema=dict.fromkeys(["SaleId", "CustomerId", "SaleDate", "RepId"], pl.String),
    )
    with pytest.raises(ContractError) as caught:
        coerce_table(SALES, frame)
    error = caught.value
    assert error.total == rows + 1
    assert len(error.problems) == PROBLEMS_PER_COLUMN + 1
    located = [(p.column, p.row, p.value) for p in error.problems]
    assert located[:5] == [
        ("SaleDate", 1, "01/01/2024"),
        ("SaleDate", 2, "02/01/2024"),
        ("SaleDate", 3, "03/01/2024"),
        ("SaleDate", 4, "04/01/2024"),
        ("RepId", 4, "x5"),
    ]
    assert str(error).startswith("MV_Sales.SaleDate row 1: cannot parse '01/01/2024' as a date")
    assert str(error).endswith("(and 25 more problems in MV_Sales)")


def test_errors_of_several_tables_combine_and_survive_pickling() -> None:
    first = ContractError.at("MV_Sales", "bad", column="SaleId", row=3, value="x")
    second = with_problems(
        [
            ContractError.at("MV_Visit", "bad", column="VisitId", row=1, value="a"),
            ContractError.at("MV_Visit", "bad", column="VisitId", row=2, value="b"),
        ],
        total=7,
    )
    both = combined([first, second])
    assert both is not None
    assert both.total == 8
    assert [(p.table, p.row) for p in both.problems] == [
        ("MV_Sales", 3),
        ("MV_Visit", 1),
        ("MV_Visit", 2),
    ]
    assert str(both) == "MV_Sales.SaleId row 3: bad (and 7 more problems)"
    clone = pickle.loads(pickle.dumps(both))
    assert (clone.total, [p.value for p in clone.problems]) == (8, ["x", "a", "b"])
    assert combined([]) is None
    assert combined([first]) is first
