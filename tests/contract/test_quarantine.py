"""quarantine: every reason on a tiny frame, cascades, no-GPS flagging, conservation."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visitrank.contract.errors import ContractError
from visitrank.contract.quarantine import (
    KEPT_REASONS,
    REASON,
    ROUTABLE,
    RULE_ORDER,
    quarantine,
    quarantine_detail,
    quarantine_headers,
    reason_counts,
)
from visitrank.contract.tables import ALL_TABLES, OPTIONAL_TABLES, TABLES, with_optional_columns

D = date(2024, 3, 1)


def _frame(table: str, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    spec = TABLES[table]
    return pl.DataFrame(rows, schema=spec.columns, orient="row")


def world(**overrides: list[tuple[Any, ...]]) -> dict[str, pl.DataFrame]:
    """A small consistent data set; keyword overrides replace a table's rows."""
    rows: dict[str, list[tuple[Any, ...]]] = {
        "MV_SetupArea": [(1, "Île-de-France")],
        "MV_SetupCity": [(1, "Paris", 1)],
        "MV_SetupRep": [(1, "Zoë O'Neil", 1)],
        "MV_SetupCustomer": [
            (1, "Bar de l'Étoile", 1, 1, 48.85, 2.35, "ON_TRADE", 1),
            (2, "Épicerie", 1, 1, 48.86, 2.36, "OFF_TRADE", 1),
        ],
        "MV_SetupCategory": [(1, "Beer")],
        "MV_SetupSubCategory": [(1, "Lager", 1)],
        "MV_SetupBrand": [(1, "Brand")],
        "MV_SetupItem": [(1, "Lager 33cl", 1, 1, 1.5), (2, "Lager 50cl", 1, 1, 2.0)],
        "MV_Sales": [(1, 1, D, 1), (2, 2, D, None)],
        "MV_SalesDetail": [(1, 1, 2.0, 3.0), (1, 2, -1.0, -2.0), (2, 1, 1.0, 1.5)],
        "MV_Visit": [(1, 1, 1, D), (2, 2, 1, D)],
    }
    names = {name.removeprefix("MV_").removeprefix("Setup"): name for name in TABLES}
    for short, table_rows in overrides.items():
        rows[names[short]] = table_rows
    return {name: _frame(name, table_rows) for name, table_rows in rows.items()}


def reasons(result: Any, table: str) -> list[tuple[Any, ...]]:
    """Quarantined rows as (key..., reason) tuples, in source order."""
    frame = result.rows[table]
    spec = TABLES[table]
    key = list(spec.key) if spec.key else ["SaleId", "ItemId"]
    return [tuple(row) for row in frame.select([*key, REASON]).rows()]


def test_clean_world_has_no_quarantine_and_flags_all_routable() -> None:
    result = quarantine(world())
    assert all(not counts for counts in result.counts().values())
    assert set(result.counts()) == set(ALL_TABLES)  # the optional tables, absent: empty
    for name in ALL_TABLES:
        assert result.tables[name].height == world().get(name, pl.DataFrame()).height
    assert result.tables["MV_SetupCustomer"].get_column(ROUTABLE).to_list() == [True, True]


def test_unknown_brand_and_subcategory() -> None:
    result = quarantine(
        world(
            Item=[
                (1, "a", 1, 1, 1.0),
                (2, "b", 9, 1, 1.0),
                (3, "c", 1, 9, 1.0),
                (4, "d", 9, 9, 1.0),
            ]
        )
    )
    assert reasons(result, "MV_SetupItem") == [
        (2, "unknown_brand"),
        (3, "unknown_subcategory"),
        (4, "unknown_brand"),  # one reason per row: the first in RULE_ORDER
    ]
    assert result.tables["MV_SetupItem"].get_column("ItemId").to_list() == [1]
    # lines of the removed item 2 are then unknown_item
    assert reasons(result, "MV_SalesDetail") == [(1, 2, "unknown_item")]


def test_unknown_category_cascades_to_items() -> None:
    result = quarantine(world(SubCategory=[(1, "Lager", 7)]))
    assert reasons(result, "MV_SetupSubCategory") == [(1, "unknown_category")]
    assert reasons(result, "MV_SetupItem") == [
        (1, "unknown_subcategory"),
        (2, "unknown_subcategory"),
    ]
    assert result.tables["MV_SetupItem"].height == 0
    assert result.counts()["MV_SalesDetail"] == {"unknown_item": 3}


def test_customer_reference_and_channel_rules() -> None:
    result = quarantine(
        world(
            Customer=[
                (1, "ok", 1, 1, 48.0, 2.0, " on_trade ", 1),
                (2, "area", 1, 9, 48.0, 2.0, "ON_TRADE", 1),
                (3, "rep", 1, 1, 48.0, 2.0, "ON_TRADE", 9),
                (4, "channel", 1, 1, 48.0, 2.0, "WHOLESALE", 1),
                (5, "both", 1, 9, 48.0, 2.0, "WHOLESALE", 9),
            ],
            Sales=[(1, 1, D, 1)],
            SalesDetail=[(1, 1, 1.0, 1.0)],
            Visit=[(1, 1, 1, D)],
        )
    )
    assert reasons(result, "MV_SetupCustomer") == [
        (2, "unknown_area"),
        (3, "unknown_rep"),
        (4, "unknown_channel"),
        (5, "unknown_area"),
    ]
    # an outlet no known rep owns is kept for the benchmarks but never routed
    clean = result.tables["MV_SetupCustomer"]
    assert clean.select("CustomerId", "Channel", ROUTABLE).rows() == [
        (1, "ON_TRADE", True),
        (3, "ON_TRADE", False),
    ]
    assert result.removed("MV_SetupCustomer") == 3
    # the quarantined row keeps its raw value, for the report
    channels = result.rows["MV_SetupCustomer"].get_column("Channel").to_list()
    assert channels[2] == "WHOLESALE"


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (None, 2.0),
        (48.0, None),
        (float("nan"), 2.0),
        (48.0, float("inf")),
        (91.0, 2.0),
        (48.0, -180.5),
        (0.0, 0.0),
    ],
)
def test_no_gps_customers_are_kept_flagged_and_reported(
    lat: float | None, lon: float | None
) -> None:
    customers = [
        (1, "a", 1, 1, 48.85, 2.35, "ON_TRADE", 1),
        (2, "b", None, 1, lat, lon, "OFF_TRADE", 1),
    ]
    result = quarantine(world(Customer=customers))
    clean = result.tables["MV_SetupCustomer"]
    assert clean.select("CustomerId", ROUTABLE).rows() == [(1, True), (2, False)]
    assert reasons(result, "MV_SetupCustomer") == [(2, "no_gps")]
    assert result.removed("MV_SetupCustomer") == 0
    # their sales stay: they are peer data for the benchmarks
    assert result.tables["MV_Sales"].height == 2
    assert result.tables["MV_SalesDetail"].height == 3


def test_gps_on_equator_or_meridian_alone_is_valid() -> None:
    customers = [(1, "a", 1, 1, 0.0, 2.0, "ON_TRADE", 1), (2, "b", 1, 1, 48.0, 0.0, "ON_TRADE", 1)]
    result = quarantine(world(Customer=customers))
    assert result.tables["MV_SetupCustomer"].get_column(ROUTABLE).to_list() == [True, True]


def test_identical_duplicate_sale_keeps_one_copy_and_its_lines() -> None:
    result = quarantine(
        world(Sales=[(1, 1, D, 1), (2, 2, D, None), (2, 2, D, None), (2, 2, D, None)])
    )
    assert reasons(result, "MV_Sales") == [(2, "duplicate_sale_id"), (2, "duplicate_sale_id")]
    assert result.tables["MV_Sales"].get_column("SaleId").to_list() == [1, 2]
    assert result.rows["MV_SalesDetail"].height == 0


def test_conflicting_sale_quarantines_every_copy_and_its_lines() -> None:
    result = quarantine(world(Sales=[(1, 1, D, 1), (1, 1, D, 1), (1, 2, D, 1), (2, 2, D, None)]))
    assert reasons(result, "MV_Sales") == [(1, "conflicting_sale_id")] * 3
    assert result.tables["MV_Sales"].get_column("SaleId").to_list() == [2]
    assert reasons(result, "MV_SalesDetail") == [
        (1, 1, "header_quarantined"),
        (1, 2, "header_quarantined"),
    ]
    assert result.tables["MV_SalesDetail"].rows() == [(2, 1, 1.0, 1.5)]


def test_sale_of_unknown_customer_takes_its_lines() -> None:
    result = quarantine(world(Sales=[(1, 1, D, 1), (2, 99, D, 1)]))
    assert reasons(result, "MV_Sales") == [(2, "unknown_customer")]
    assert reasons(result, "MV_SalesDetail") == [(2, 1, "header_quarantined")]


def test_sales_of_customer_removed_by_cascade_are_unknown_customer() -> None:
    customers = [(1, "a", 1, 1, 48.0, 2.0, "ON_TRADE", 1), (2, "b", 1, 1, 48.0, 2.0, "BAD", 1)]
    result = quarantine(world(Customer=customers))
    assert reasons(result, "MV_Sales") == [(2, "unknown_customer")]
    assert reasons(result, "MV_Visit") == [(2, "unknown_customer")]


def test_detail_rules_in_documented_order() -> None:
    nan, inf = float("nan"), float("inf")
    detail = [
        (1, 1, 2.0, 3.0),  # clean
        (1, 1, -4.0, -6.0),  # a return: valid, kept
        (7, 1, 1.0, 1.0),  # unknown_sale
        (1, 9, None, None),  # unknown_item wins over missing values
        (1, 1, None, 1.0),  # missing_quantity
        (1, 2, None, None),  # missing_quantity first
        (2, 1, 1.0, None),  # missing_amount
        (2, 1, nan, 1.0),  # non_finite_value
        (2, 2, 1.0, -inf),  # non_finite_value
    ]
    result = quarantine(world(SalesDetail=detail))
    assert reasons(result, "MV_SalesDetail") == [
        (7, 1, "unknown_sale"),
        (1, 9, "unknown_item"),
        (1, 1, "missing_quantity"),
        (1, 2, "missing_quantity"),
        (2, 1, "missing_amount"),
        (2, 1, "non_finite_value"),
        (2, 2, "non_finite_value"),
    ]
    assert result.tables["MV_SalesDetail"].rows() == [(1, 1, 2.0, 3.0), (1, 1, -4.0, -6.0)]
    assert result.counts()["MV_SalesDetail"] == {
        "missing_amount": 1,
        "missing_quantity": 2,
        "non_finite_value": 2,
        "unknown_item": 1,
        "unknown_sale": 1,
    }


def test_visit_rules() -> None:
    visits = [
        (1, 1, 1, D),
        (1, 1, 1, D),  # an identical copy: duplicate_visit_id, one copy kept
        (5, 1, 1, D),
        (5, 2, 1, D),  # copies that differ: every copy conflicting_visit_id
        (2, 99, 1, D),
        (3, 1, 99, D),
        (4, 2, 1, D),
    ]
    result = quarantine(world(Visit=visits))
    assert reasons(result, "MV_Visit") == [
        (1, "duplicate_visit_id"),
        (5, "conflicting_visit_id"),
        (5, "conflicting_visit_id"),
        (2, "unknown_customer"),
        (3, "unknown_rep"),
    ]
    # a visit by a rep who left is still a visit the outlet had: reported, kept
    assert result.tables["MV_Visit"].select("VisitId", "CustomerId").rows() == [
        (1, 1),
        (3, 1),
        (4, 2),
    ]


def test_rep_and_city_with_unknown_area_are_reported_but_kept() -> None:
    result = quarantine(
        world(Rep=[(1, "r", 1), (2, "s", 9)], City=[(1, "Paris", 1), (2, "Lyon", 9)])
    )
    assert reasons(result, "MV_SetupRep") == [(2, "unknown_area")]
    assert reasons(result, "MV_SetupCity") == [(2, "unknown_area")]
    assert result.tables["MV_SetupRep"].get_column("RepId").to_list() == [1, 2]
    assert result.tables["MV_SetupCity"].get_column("CityId").to_list() == [1, 2]
    assert result.removed("MV_SetupRep") == 0


def test_repeated_setup_keys_keep_one_identical_copy_and_no_differing_one() -> None:
    """Identical copies of a key: one is kept (any would do). Copies that differ: none is,
    whichever comes first (which is right is unknowable), and what depends on the key goes
    with it (the brand's items, then their lines)."""
    result = quarantine(
        world(
            Brand=[(1, "first"), (2, "other"), (1, "second")],
            Area=[(1, "a"), (1, "a")],
            Item=[(1, "Lager 33cl", 1, 1, 1.5), (2, "Lager 50cl", 2, 1, 2.0)],
        )
    )
    assert reasons(result, "MV_SetupBrand") == [(1, "conflicting_key"), (1, "conflicting_key")]
    assert result.tables["MV_SetupBrand"].get_column("BrandName").to_list() == ["other"]
    assert result.counts()["MV_SetupArea"] == {"duplicate_key": 1}
    assert result.tables["MV_SetupArea"].rows() == [(1, "a")]
    assert reasons(result, "MV_SetupItem") == [(1, "unknown_brand")]
    assert result.counts()["MV_SalesDetail"] == {"unknown_item": 2}


def test_rows_have_contract_columns_plus_reason() -> None:
    result = quarantine(world(Visit=[(1, 99, 1, D)]))
    for name, spec in TABLES.items():
        assert result.rows[name].columns == [*spec.all_column_names, REASON]
    assert result.rows["MV_Visit"].schema[REASON] == pl.String


def test_missing_table_is_a_contract_error() -> None:
    tables = world()
    del tables["MV_Visit"]
    with pytest.raises(ContractError) as caught:
        quarantine(tables)
    assert caught.value.table == "MV_Visit"


def test_extra_tables_pass_through() -> None:
    extra = pl.DataFrame({"x": [1]})
    result = quarantine(world() | {"Other": extra})
    assert result.tables["Other"].equals(extra)


# --- conservation invariant ---------------------------------------------------------------

ids = st.integers(min_value=1, max_value=5)
maybe_float = st.one_of(
    st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32), st.sampled_from([0.0])
)


def _rows(strategy: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    return st.lists(strategy, max_size=8)


random_world = st.fixed_dictionaries(
    {
        "Area": _rows(st.tuples(ids, st.just("a"))),
        "City": _rows(st.tuples(ids, st.just("c"), ids)),
        "Rep": _rows(st.tuples(ids, st.just("r"), ids)),
        "Customer": _rows(
            st.tuples(
                ids,
                st.just("n"),
                st.one_of(st.none(), ids),
                ids,
                maybe_float,
                maybe_float,
                st.sampled_from(["ON_TRADE", " off_trade", "X"]),
                ids,
            )
        ),
        "Category": _rows(st.tuples(ids, st.just("k"))),
        "SubCategory": _rows(st.tuples(ids, st.just("s"), ids)),
        "Brand": _rows(st.tuples(ids, st.just("b"))),
        "Item": _rows(st.tuples(ids, st.just("i"), ids, ids, st.just(1.0))),
        "Sales": _rows(
            st.tuples(ids, ids, st.sampled_from([D, date(2024, 3, 2)]), st.one_of(st.none(), ids))
        ),
        "SalesDetail": _rows(st.tuples(ids, ids, maybe_float, maybe_float)),
        "Visit": _rows(st.tuples(ids, ids, ids, st.just(D))),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_world)
def test_conservation_and_clean_referential_integrity(
    overrides: dict[str, list[tuple[Any, ...]]],
) -> None:
    tables = world(**overrides)
    result = quarantine(tables)
    for name, source in tables.items():
        rows = result.rows[name]
        kept = sorted(KEPT_REASONS.get(name, frozenset()))
        kept_rows = rows.filter(pl.col(REASON).is_in(kept)).height
        removed = rows.height - kept_rows
        assert source.height == result.tables[name].height + removed, name
        assert result.removed(name) == removed
        assert sum(result.counts()[name].values()) == rows.height

    clean = result.tables

    def keys(table: str, column: str) -> set[int]:
        return set(clean[table].get_column(column).to_list())

    def refs_ok(table: str, column: str, parent: str, key: str) -> bool:
        return set(clean[table].get_column(column).to_list()) <= keys(parent, key)

    assert refs_ok("MV_SetupItem", "BrandId", "MV_SetupBrand", "BrandId")
    assert refs_ok("MV_SetupItem", "SubCategoryId", "MV_SetupSubCategory", "SubCategoryId")
    assert refs_ok("MV_SetupSubCategory", "CategoryId", "MV_SetupCategory", "CategoryId")
    assert refs_ok("MV_SetupCustomer", "AreaId", "MV_SetupArea", "AreaId")
    # an outlet with no known rep is kept for the benchmarks, never routed
    routable_reps = set(
        clean["MV_SetupCustomer"].filter(pl.col(ROUTABLE)).get_column("RepId").to_list()
    )
    assert routable_reps <= keys("MV_SetupRep", "RepId")
    assert refs_ok("MV_Sales", "CustomerId", "MV_SetupCustomer", "CustomerId")
    assert refs_ok("MV_SalesDetail", "SaleId", "MV_Sales", "SaleId")
    assert refs_ok("MV_SalesDetail", "ItemId", "MV_SetupItem", "ItemId")
    assert refs_ok("MV_Visit", "CustomerId", "MV_SetupCustomer", "CustomerId")
    # a visit by a rep who left is kept and reported
    unknown_visits = clean["MV_Visit"].filter(
        ~pl.col("RepId").is_in(list(keys("MV_SetupRep", "RepId")))
    )
    assert unknown_visits.height == result.counts()["MV_Visit"].get("unknown_rep", 0)
    for name, spec in TABLES.items():
        if spec.key:
            assert not clean[name].get_column(spec.key[0]).is_duplicated().any(), name
    detail = clean["MV_SalesDetail"]
    assert detail.select(pl.col("Quantity", "Amount").is_finite().all()).row(0) == (True, True)
    customers = clean["MV_SetupCustomer"]
    assert set(customers.get_column("Channel").to_list()) <= {"ON_TRADE", "OFF_TRADE"}
    routable = customers.filter(pl.col(ROUTABLE))
    assert (
        routable.select(
            (pl.col("Latitude").abs() <= 90)
            & ~((pl.col("Latitude") == 0) & (pl.col("Longitude") == 0))
        )
        .to_series()
        .all()
    )


# --- the detail chunk by chunk (streamed staging) -----------------------------------------


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_world, st.integers(min_value=1, max_value=4))
def test_detail_in_chunks_equals_the_whole_table(
    overrides: dict[str, list[tuple[Any, ...]]], rows: int
) -> None:
    tables = world(**overrides)
    whole = quarantine(tables)
    detail = tables["MV_SalesDetail"]
    headers, rules = quarantine_headers(tables)  # the detail among the input is ignored
    assert "MV_SalesDetail" not in headers.tables
    assert list(headers.rows) == [name for name in RULE_ORDER if name != "MV_SalesDetail"]
    for name, frame in headers.rows.items():
        assert frame.equals(whole.rows[name]), name
        assert headers.tables[name].equals(whole.tables[name]), name
    parts = [
        quarantine_detail(detail.slice(start, rows), rules)
        for start in range(0, max(detail.height, 1), rows)
    ]
    clean = pl.concat([part[0] for part in parts])
    quarantined = pl.concat([part[1] for part in parts])
    assert clean.equals(whole.tables["MV_SalesDetail"])
    assert quarantined.equals(whole.rows["MV_SalesDetail"])
    assert detail.height == clean.height + quarantined.height
    assert reason_counts(quarantined) == whole.counts()["MV_SalesDetail"]


def test_whole_result_keeps_table_and_rule_order() -> None:
    result = quarantine(world())
    assert list(result.rows) == list(RULE_ORDER)
    assert list(result.tables) == [*world(), *OPTIONAL_TABLES]


def test_detail_rules_need_the_detail_columns() -> None:
    _, rules = quarantine_headers(world())
    with pytest.raises(ContractError) as caught:
        quarantine_detail(world()["MV_SalesDetail"].drop("Amount"), rules)
    assert (caught.value.table, "Amount" in str(caught.value)) == ("MV_SalesDetail", True)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_world)
def test_duplicate_rules_match_their_definition(
    overrides: dict[str, list[tuple[Any, ...]]],
) -> None:
    """The conflicting / duplicate rules (found among repeated keys only) tag exactly the rows
    of their plain definitions: every copy of a key whose copies differ; every copy after the
    first of a key whose copies are identical."""
    tables = world(**overrides)
    result = quarantine(tables)
    clean = result.tables

    def expected(table: str, rules: list[tuple[str, pl.Expr]]) -> pl.DataFrame:
        reason: pl.Expr = pl.lit(None, dtype=pl.String)
        for name, condition in reversed(rules):
            reason = pl.when(condition).then(pl.lit(name)).otherwise(reason)
        complete = with_optional_columns(TABLES[table], tables[table])
        tagged = complete.with_columns(reason.alias(REASON))
        return tagged.filter(pl.col(REASON).is_not_null())

    def known(column: str, table: str) -> pl.Expr:
        return ~pl.col(column).is_in(clean[table].get_column(column).implode())

    def repeats(table: str, conflicting: str, duplicate: str) -> list[tuple[str, pl.Expr]]:
        (key,) = TABLES[table].key
        return [
            (conflicting, pl.struct(TABLES[table].all_column_names).n_unique().over(key) > 1),
            (duplicate, ~pl.col(key).is_first_distinct()),
        ]

    sales = expected(
        "MV_Sales",
        [
            *repeats("MV_Sales", "conflicting_sale_id", "duplicate_sale_id"),
            ("unknown_customer", known("CustomerId", "MV_SetupCustomer")),
        ],
    )
    assert result.rows["MV_Sales"].equals(sales)
    visits = expected(
        "MV_Visit",
        [
            *repeats("MV_Visit", "conflicting_visit_id", "duplicate_visit_id"),
            ("unknown_customer", known("CustomerId", "MV_SetupCustomer")),
            ("unknown_rep", known("RepId", "MV_SetupRep")),
        ],
    )
    assert result.rows["MV_Visit"].equals(visits)
    for table in ("MV_SetupArea", "MV_SetupBrand", "MV_SetupCategory"):
        rows = expected(table, repeats(table, "conflicting_key", "duplicate_key"))
        assert result.rows[table].equals(rows), table
    # the customers' first three rules (their other rules are tested on their own)
    customers = expected(
        "MV_SetupCustomer",
        [
            ("several_areas", pl.col("AreaId").n_unique().over("CustomerId") > 1),
            *repeats("MV_SetupCustomer", "conflicting_key", "duplicate_key"),
        ],
    )
    first = ["several_areas", "conflicting_key", "duplicate_key"]
    assert result.rows["MV_SetupCustomer"].filter(pl.col(REASON).is_in(first)).equals(customers)


def test_a_customer_listed_in_two_areas_is_quarantined_everywhere() -> None:
    """Which region such an outlet belongs to is unknowable: every row goes (several_areas),
    and its sales and visits with it; a customer repeated identically within one area keeps
    one row (duplicate_key). The same rule holds when the rows are read region by region from
    SQL."""
    result = quarantine(
        world(
            Area=[(1, "Nord"), (2, "Sud")],
            Customer=[
                (1, "north", 1, 1, 48.0, 2.0, "ON_TRADE", 1),
                (2, "once", 1, 1, 48.0, 2.0, "ON_TRADE", 1),
                (1, "south", 1, 2, 43.0, 5.0, "ON_TRADE", 1),
                (2, "once", 1, 1, 48.0, 2.0, "ON_TRADE", 1),
            ],
        )
    )
    assert reasons(result, "MV_SetupCustomer") == [
        (1, "several_areas"),
        (1, "several_areas"),
        (2, "duplicate_key"),
    ]
    assert result.tables["MV_SetupCustomer"]["CustomerName"].to_list() == ["once"]
    assert reasons(result, "MV_Sales") == [(1, "unknown_customer")]
    assert reasons(result, "MV_Visit") == [(1, "unknown_customer")]


# --- repeated keys: the row order never decides ------------------------------------------


def _unordered(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame``'s rows sorted on every column: what it holds, whatever its row order."""
    return frame.sort(frame.columns, nulls_last=True)


def assert_same_whatever_the_order(
    tables: dict[str, pl.DataFrame], shuffled: dict[str, pl.DataFrame]
) -> None:
    """The quarantine of ``tables`` and of ``shuffled`` (the same rows in another order) give
    the same clean rows, set-aside rows and counts, table by table."""
    first, second = quarantine(tables), quarantine(shuffled)
    assert first.counts() == second.counts()
    for name in TABLES:
        assert _unordered(first.tables[name]).equals(_unordered(second.tables[name])), name
        assert _unordered(first.rows[name]).equals(_unordered(second.rows[name])), name


def test_an_identical_repeated_visit_keeps_one_copy() -> None:
    visits = [(1, 1, 1, D), (2, 2, 1, D), (1, 1, 1, D), (1, 1, 1, D)]
    result = quarantine(world(Visit=visits))
    assert reasons(result, "MV_Visit") == [(1, "duplicate_visit_id")] * 2
    assert result.tables["MV_Visit"].rows() == [(1, 1, 1, D), (2, 2, 1, D)]
    assert result.counts()["MV_Visit"] == {"duplicate_visit_id": 2}


@pytest.mark.parametrize(
    "copy",
    [
        pytest.param((1, 2, 1, D), id="another-customer"),
        pytest.param((1, 1, 2, D), id="another-rep"),
        pytest.param((1, 1, 1, date(2024, 3, 2)), id="another-day"),
    ],
)
def test_a_visit_repeated_with_differing_copies_sets_every_copy_aside(
    copy: tuple[Any, ...],
) -> None:
    """Which copy is the visit is unknowable (on two customers, the two copies may sit in two
    regions, each read alone from SQL): neither is kept, in either order."""
    for visits in ([(1, 1, 1, D), (2, 2, 1, D), copy], [copy, (2, 2, 1, D), (1, 1, 1, D)]):
        result = quarantine(world(Rep=[(1, "r", 1), (2, "s", 1)], Visit=visits))
        assert reasons(result, "MV_Visit") == [(1, "conflicting_visit_id")] * 2
        assert result.tables["MV_Visit"].rows() == [(2, 2, 1, D)]


def test_a_customer_repeated_in_its_area_with_another_channel_is_set_aside_whole() -> None:
    """Neither row of the outlet is trusted (another Channel, RepId or GPS may be the right
    one), so its sales and visits go too; an identical repeat keeps one row. Listed in two
    areas, the outlet stays several_areas, the rule that comes first."""
    customers = [
        (1, "bar", 1, 1, 48.85, 2.35, "ON_TRADE", 1),
        (2, "shop", 1, 1, 48.86, 2.36, "OFF_TRADE", 1),
        (3, "kiosk", 1, 1, 48.87, 2.37, "OFF_TRADE", 1),
        (1, "bar", 1, 1, 48.85, 2.35, "OFF_TRADE", 1),
        (3, "kiosk", 1, 1, 48.87, 2.37, "OFF_TRADE", 1),
        (4, "cafe", 1, 1, 48.88, 2.38, "ON_TRADE", 1),
        (4, "cafe", 1, 2, 48.88, 2.38, "OFF_TRADE", 1),
    ]
    result = quarantine(
        world(
            Area=[(1, "Nord"), (2, "Sud")],
            Customer=customers,
            Sales=[(1, 1, D, 1), (2, 2, D, None), (3, 3, D, 1)],
            Visit=[(1, 1, 1, D), (2, 2, 1, D), (3, 4, 1, D)],
        )
    )
    assert reasons(result, "MV_SetupCustomer") == [
        (1, "conflicting_key"),
        (1, "conflicting_key"),
        (3, "duplicate_key"),
        (4, "several_areas"),
        (4, "several_areas"),
    ]
    assert result.tables["MV_SetupCustomer"]["CustomerId"].to_list() == [2, 3]
    assert reasons(result, "MV_Sales") == [(1, "unknown_customer")]
    assert reasons(result, "MV_Visit") == [(1, "unknown_customer"), (3, "unknown_customer")]
    assert result.counts()["MV_SalesDetail"] == {"header_quarantined": 2}


def test_an_item_repeated_with_another_price_is_set_aside_whole() -> None:
    items = [
        (1, "Lager 33cl", 1, 1, 1.5),
        (2, "Lager 50cl", 1, 1, 2.0),
        (1, "Lager 33cl", 1, 1, 1.6),  # another price: which is right is unknowable
    ]
    result = quarantine(world(Item=items))
    assert reasons(result, "MV_SetupItem") == [(1, "conflicting_key")] * 2
    assert result.tables["MV_SetupItem"]["ItemId"].to_list() == [2]
    assert reasons(result, "MV_SalesDetail") == [(1, 1, "unknown_item"), (2, 1, "unknown_item")]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(
            {"Visit": [(1, 1, 1, D), (1, 2, 1, D), (2, 2, 1, D), (3, 1, 1, D), (3, 1, 1, D)]},
            id="visits",
        ),
        pytest.param(
            {
                "Customer": [
                    (1, "bar", 1, 1, 48.85, 2.35, "ON_TRADE", 1),
                    (1, "bar", 1, 1, 48.85, 2.35, "OFF_TRADE", 1),
                    (2, "shop", 1, 1, 48.86, 2.36, "OFF_TRADE", 1),
                    (2, "shop", 1, 1, 48.86, 2.36, "OFF_TRADE", 1),
                ]
            },
            id="customers",
        ),
        pytest.param(
            {
                "SubCategory": [(1, "Lager", 1), (1, "Ale", 1), (2, "Stout", 1), (2, "Stout", 1)],
                "Item": [(1, "a", 1, 1, 1.5), (2, "b", 1, 2, 2.0)],
            },
            id="subcategories",
        ),
    ],
)
def test_reversed_rows_give_the_same_result(overrides: dict[str, list[tuple[Any, ...]]]) -> None:
    tables = world(**overrides)
    assert_same_whatever_the_order(
        tables, {name: frame.reverse() for name, frame in tables.items()}
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_world, st.data())
def test_the_row_order_never_changes_the_result(
    overrides: dict[str, list[tuple[Any, ...]]], data: st.DataObject
) -> None:
    """Any permutation of every table's rows gives the same clean rows, set-aside rows and
    counts (a database has no row order; the Azure app reads it region by region)."""
    tables = world(**overrides)
    shuffled = {
        name: frame[data.draw(st.permutations(range(frame.height)), label=name)]
        for name, frame in tables.items()
    }
    assert_same_whatever_the_order(tables, shuffled)


def test_rows_dated_after_the_run_day_are_set_aside_with_their_lines() -> None:
    later = date(2029, 3, 1)
    tables = world(
        Sales=[(1, 1, D, 1), (2, 2, later, None)],
        Visit=[(1, 1, 1, D), (2, 2, 1, later)],
    )
    result = quarantine(tables, today=date(2024, 3, 4))
    assert reasons(result, "MV_Sales") == [(2, "future_date")]
    assert reasons(result, "MV_Visit") == [(2, "future_date")]
    # the sale's line follows its header; nothing dated later than today is left
    assert result.counts()["MV_SalesDetail"] == {"header_quarantined": 1}
    assert result.tables["MV_Sales"].get_column("SaleDate").max() == D
    # without a day (a backtest replaying the past), nothing is in the future
    assert quarantine(tables).counts()["MV_Sales"] == {}


def test_an_outlet_without_a_rep_is_kept_for_the_benchmarks_but_never_routed() -> None:
    result = quarantine(
        world(
            Customer=[
                (1, "ok", 1, 1, 48.85, 2.35, "ON_TRADE", 1),
                (2, "no rep", 1, 1, 48.86, 2.36, "OFF_TRADE", None),
            ]
        )
    )
    assert reasons(result, "MV_SetupCustomer") == [(2, "unknown_rep")]
    assert result.removed("MV_SetupCustomer") == 0
    assert result.tables["MV_SetupCustomer"].get_column(ROUTABLE).to_list() == [True, False]
    # its sale and lines stay clean: genuine peer data
    assert result.tables["MV_Sales"].height == 2
    assert result.counts()["MV_SalesDetail"] == {}


def _outlets_around(lat: float, lon: float, count: int) -> list[tuple[Any, ...]]:
    """`count` outlets on a line 1 km apart (0.009 degrees of latitude) from (lat, lon)."""
    return [(i + 1, f"o{i}", 1, 1, lat + 0.009 * i, lon, "ON_TRADE", 1) for i in range(count)]


def test_swapped_coordinates_are_a_gps_outlier_kept_but_not_routed() -> None:
    # ten outlets within 9 km of (40.0, 30.0); outlet 11 has its coordinates swapped
    # (30.0, 40.0): ~1,400 km from the area's median point, far beyond 4 x its 90% spread
    outlets = [*_outlets_around(40.0, 30.0, 10), (11, "swapped", 1, 1, 30.0, 40.0, "ON_TRADE", 1)]
    result = quarantine(world(Customer=outlets, Sales=[(1, 1, D, 1)], Visit=[(1, 1, 1, D)]))
    assert reasons(result, "MV_SetupCustomer") == [(11, "gps_outlier")]
    routable = result.tables["MV_SetupCustomer"].filter(~pl.col(ROUTABLE))
    assert routable.get_column("CustomerId").to_list() == [11]


def test_no_gps_outlier_in_a_small_area_or_within_the_minimum_distance() -> None:
    # four located outlets are too few to have a shape
    few = [*_outlets_around(40.0, 30.0, 3), (4, "far", 1, 1, 30.0, 40.0, "ON_TRADE", 1)]
    result = quarantine(world(Customer=few, Sales=[(1, 1, D, 1)], Visit=[(1, 1, 1, D)]))
    assert reasons(result, "MV_SetupCustomer") == []
    # 0.3 degrees of latitude (~33 km) is far for a 9 km area but under the 50 km floor
    near = [*_outlets_around(40.0, 30.0, 10), (11, "edge", 1, 1, 40.34, 30.0, "ON_TRADE", 1)]
    result = quarantine(world(Customer=near, Sales=[(1, 1, D, 1)], Visit=[(1, 1, 1, D)]))
    assert reasons(result, "MV_SetupCustomer") == []
