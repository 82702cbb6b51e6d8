"""The optional planning inputs of the contract: reps' homes, outlets' visit length and frequency,
opening hours, pinned visits and exclusions. Read when there, empty or null when not; an invalid
attribute never costs its row; the optional tables follow the rules of every table."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.contract.test_quarantine import world
from visitrank.contract.coercion import coerce_table, resolve_columns
from visitrank.contract.errors import ContractError
from visitrank.contract.quarantine import (
    ATTRIBUTE_RULES,
    KEPT_REASONS,
    REASON,
    ROUTABLE,
    RULE_ORDER,
    quarantine,
    set_aside_columns,
)
from visitrank.contract.tables import (
    ALL_TABLES,
    CUSTOMER,
    OPTIONAL_TABLES,
    OUTLET_HOURS,
    REP,
    TABLES,
    VISIT_EXCLUSION,
    VISIT_PIN,
    complete,
    empty_table,
)

D = date(2024, 3, 1)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "data-contract.md"


def frame(spec_name: str, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    """Rows of every contract column of a table (optional columns included)."""
    return pl.DataFrame(rows, schema=ALL_TABLES[spec_name].all_columns, orient="row")


def hours(*rows: tuple[int, int, str, str]) -> pl.DataFrame:
    """MV_OutletHours rows from "HH:MM" times."""
    parsed = [
        (c, w, datetime.strptime(o, "%H:%M").time(), datetime.strptime(x, "%H:%M").time())
        for c, w, o, x in rows
    ]
    return frame(OUTLET_HOURS.name, parsed)


def reasons(result: Any, table: str) -> list[tuple[Any, ...]]:
    """The set-aside rows of ``table`` as (key..., Reason), in order."""
    spec = ALL_TABLES[table]
    return [tuple(row) for row in result.rows[table].select([*spec.key, REASON]).rows()]


# --- the contract ---------------------------------------------------------------------------


def test_optional_tables_and_columns_are_declared() -> None:
    assert list(OPTIONAL_TABLES) == ["MV_OutletHours", "MV_VisitPin", "MV_VisitExclusion"]
    assert not set(OPTIONAL_TABLES) & set(TABLES)
    assert REP.optional == {"HomeLatitude": pl.Float64(), "HomeLongitude": pl.Float64()}
    assert CUSTOMER.optional == {"VisitMinutes": pl.Float64(), "VisitEveryWeeks": pl.Int64()}
    assert REP.column_names == ["RepId", "RepName", "AreaId"]  # the required ones, unchanged
    assert REP.all_column_names == ["RepId", "RepName", "AreaId", "HomeLatitude", "HomeLongitude"]
    assert OUTLET_HOURS.key == ("CustomerId", "Weekday", "Opens")
    assert dict(empty_table(VISIT_PIN).schema) == VISIT_PIN.all_columns


def test_complete_adds_what_optional_is_missing() -> None:
    tables = {"MV_SetupRep": pl.DataFrame({"RepId": [1], "RepName": ["r"], "AreaId": [1]})}
    completed = complete(tables | {"Other": pl.DataFrame({"x": [1]})})
    assert list(completed) == ["MV_SetupRep", "Other", *OPTIONAL_TABLES]
    assert completed["MV_SetupRep"].row(0) == (1, "r", 1, None, None)
    assert completed["MV_SetupRep"].schema["HomeLatitude"] == pl.Float64
    assert completed["Other"].equals(pl.DataFrame({"x": [1]}))
    for name, spec in OPTIONAL_TABLES.items():
        assert completed[name].is_empty() and dict(completed[name].schema) == spec.all_columns


def test_every_reason_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for table in OPTIONAL_TABLES:
        assert f"`{table}`" in text, table
    for table, table_reasons in {**RULE_ORDER, **ATTRIBUTE_RULES}.items():
        for reason in table_reasons:
            assert f"`{reason}`" in text, (table, reason)
    for table, columns in ((REP, REP.optional), (CUSTOMER, CUSTOMER.optional)):
        for column in columns:
            assert column in text, (table.name, column)


# --- coercion ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("08:05", time(8, 5)),
        ("8:05", time(8, 5)),
        (" 16:00 ", time(16, 0)),
        ("23:59:59", time(23, 59, 59)),
        ("07:30:00.5", time(7, 30, 0, 500_000)),
        ("12:00:00.0000000", time(12, 0)),  # SQL Server's TIME(7) as text
        ("1899-12-31 08:00:00", time(8, 0)),  # a spreadsheet's time cell read as text
        ("2024-01-02T09:15", time(9, 15)),
    ],
)
def test_times_of_day_are_read_from_text(text: str, expected: time) -> None:
    raw = pl.DataFrame(
        {"CustomerId": ["1"], "Weekday": ["1"], "Opens": [text], "Closes": ["23:59:59"]}
    )
    assert coerce_table(OUTLET_HOURS, raw).item(0, "Opens") == expected


@pytest.mark.parametrize("text", ["24:00", "8h05", "08:60", "16.00", "8", "08:05:61", "noon"])
def test_a_time_that_is_none_stops_with_table_column_row_and_value(text: str) -> None:
    raw = pl.DataFrame(
        {"CustomerId": ["1", "2"], "Weekday": ["1", "1"], "Opens": ["08:00", text]}
        | {"Closes": ["12:00", "13:00"]}
    )
    with pytest.raises(ContractError) as info:
        coerce_table(OUTLET_HOURS, raw)
    error = info.value
    assert (error.table, error.column, error.row, error.value) == (
        "MV_OutletHours",
        "Opens",
        2,
        text,
    )
    assert f"cannot parse {text!r} as a time of day" in str(error)


def test_times_are_read_from_typed_columns() -> None:
    """Time as it is; a Datetime (Excel's time cell) without its date; a Duration of less
    than a day (an interval type); a Duration of a day or more, or negative, is an error."""
    base = {"CustomerId": [1, 2], "Weekday": [1, 2]}
    typed = pl.DataFrame(base | {"Opens": [time(8), time(14)], "Closes": [time(12), time(19)]})
    assert coerce_table(OUTLET_HOURS, typed).equals(typed)
    stamps = pl.DataFrame(
        base
        | {
            "Opens": [datetime(1899, 12, 31, 8), datetime(1899, 12, 31, 14)],
            "Closes": [timedelta(hours=12), timedelta(hours=19, minutes=30)],
        }
    )
    assert coerce_table(OUTLET_HOURS, stamps).select("Opens", "Closes").rows() == [
        (time(8), time(12)),
        (time(14), time(19, 30)),
    ]
    for bad in (timedelta(hours=24), timedelta(minutes=-5)):
        with pytest.raises(ContractError) as info:
            coerce_table(OUTLET_HOURS, stamps.with_columns(Closes=pl.lit(bad)))
        assert info.value.column == "Closes"


def test_optional_columns_absent_read_as_null_and_present_are_checked() -> None:
    raw = pl.DataFrame({"RepId": ["1"], "RepName": ["Zoë"], "AreaId": ["1"]})
    assert coerce_table(REP, raw).row(0) == (1, "Zoë", 1, None, None)
    cased = raw.with_columns(homelatitude=pl.lit(" 45.5 "), HOMELONGITUDE=pl.lit(""))
    assert coerce_table(REP, cased).row(0) == (1, "Zoë", 1, 45.5, None)
    with pytest.raises(ContractError) as info:
        coerce_table(REP, raw.with_columns(HomeLatitude=pl.lit("north")))
    assert (info.value.column, info.value.value) == ("HomeLatitude", "north")
    customers = pl.DataFrame(
        {
            "CustomerId": ["1"],
            "CustomerName": ["c"],
            "CityId": [""],
            "AreaId": ["1"],
            "Latitude": ["48.8"],
            "Longitude": ["2.3"],
            "Channel": ["ON_TRADE"],
            "RepId": ["1"],
            "VisitMinutes": ["12.5"],
            "VisitEveryWeeks": ["2.0"],
        }
    )
    assert coerce_table(CUSTOMER, customers).row(0)[-2:] == (12.5, 2)
    with pytest.raises(ContractError) as info:
        coerce_table(CUSTOMER, customers.with_columns(VisitEveryWeeks=pl.lit("1.5")))
    assert (info.value.column, info.value.value) == ("VisitEveryWeeks", "1.5")


def test_an_optional_column_twice_ignoring_case_is_ambiguous() -> None:
    with pytest.raises(ContractError, match="'HomeLatitude'"):
        resolve_columns(REP, ["RepId", "RepName", "AreaId", "homelatitude", "HOMELATITUDE"])


def test_the_optional_tables_have_required_and_nullable_columns() -> None:
    pins = pl.DataFrame(
        {"CustomerId": ["1", "2"], "VisitDate": ["2024-03-04", "2024-03-05"]}
        | {"StartTime": ["09:30", ""], "Note": [None, "manager"]}
    )
    assert coerce_table(VISIT_PIN, pins).rows() == [
        (1, date(2024, 3, 4), time(9, 30), None),
        (2, date(2024, 3, 5), None, "manager"),
    ]
    with pytest.raises(ContractError) as info:
        coerce_table(VISIT_PIN, pins.with_columns(VisitDate=pl.lit("")))
    assert (info.value.column, "required" in str(info.value)) == ("VisitDate", True)
    with pytest.raises(ContractError, match="missing column 'Until'"):
        coerce_table(VISIT_EXCLUSION, pl.DataFrame({"CustomerId": ["1"], "Reason": ["x"]}))
    exclusions = pl.DataFrame({"CustomerId": ["1"], "Until": ["2024-04-01"], "Reason": [None]})
    assert coerce_table(VISIT_EXCLUSION, exclusions).row(0) == (1, date(2024, 4, 1), None)


# --- invalid optional attributes: the row stays, the attribute goes ------------------------------


def test_an_invalid_home_is_ignored_and_reported_and_the_rep_kept() -> None:
    reps = [
        (1, "valid", 1, 48.9, 2.4),
        (2, "none", 1, None, None),
        (3, "out of range", 1, 95.0, 2.4),
        (4, "latitude only", 1, 48.9, None),
        (5, "longitude only", 1, None, 2.4),
        (6, "zero", 1, 0.0, 0.0),
        (7, "not a number", 1, float("nan"), 2.4),
        (8, "west of the date line", 1, 10.0, -181.0),
    ]
    customers = [
        (rep, f"c{rep}", 1, 1, 48.85, 2.35, "ON_TRADE", rep) for rep in range(1, len(reps) + 1)
    ]
    tables = world(Customer=customers) | {"MV_SetupRep": frame("MV_SetupRep", reps)}
    result = quarantine(tables)
    assert reasons(result, "MV_SetupRep") == [(rep, "invalid_home") for rep in range(3, 9)]
    assert result.counts()["MV_SetupRep"] == {"invalid_home": 6}
    clean = result.tables["MV_SetupRep"].sort("RepId")
    assert clean.height == len(reps)  # kept: the rep owns its outlets
    assert (
        clean.select("HomeLatitude", "HomeLongitude").rows() == [(48.9, 2.4)] + [(None, None)] * 7
    )
    set_aside = result.rows["MV_SetupRep"].filter(pl.col("RepId") == 3)
    assert set_aside.select("HomeLatitude", "HomeLongitude").row(0) == (95.0, 2.4)  # as read
    assert result.tables["MV_SetupCustomer"][ROUTABLE].all()
    assert result.removed("MV_SetupRep") == 0


def test_an_invalid_visit_length_or_frequency_is_ignored_and_reported() -> None:
    values = [
        (15.0, 1),
        (480.0, 52),
        (0.5, None),
        (None, 4),
        (0.0, 0),
        (-5.0, 53),
        (481.0, -1),
        (float("nan"), 2),
        (float("inf"), 2),
    ]
    customers = [
        (i, f"c{i}", 1, 1, 48.85, 2.35, "ON_TRADE", 1, minutes, weeks)
        for i, (minutes, weeks) in enumerate(values, start=1)
    ]
    result = quarantine(world() | {"MV_SetupCustomer": frame("MV_SetupCustomer", customers)})
    assert reasons(result, "MV_SetupCustomer") == [
        (5, "invalid_visit_minutes"),
        (6, "invalid_visit_minutes"),
        (7, "invalid_visit_minutes"),
        (8, "invalid_visit_minutes"),
        (9, "invalid_visit_minutes"),
        (5, "invalid_visit_frequency"),
        (6, "invalid_visit_frequency"),
        (7, "invalid_visit_frequency"),
    ]
    clean = result.tables["MV_SetupCustomer"].sort("CustomerId")
    assert clean.height == len(values)
    assert clean[ROUTABLE].all()  # an attribute never keeps an outlet off the lists
    assert clean.select("VisitMinutes", "VisitEveryWeeks").rows() == [
        (15.0, 1),
        (480.0, 52),
        (0.5, None),
        (None, 4),
        (None, None),
        (None, None),
        (None, None),
        (None, 2),
        (None, 2),
    ]


def test_an_attribute_is_judged_on_the_rows_that_stay_once_per_attribute() -> None:
    """A kept customer without GPS and with an impossible visit length is reported twice (each
    problem once); a removed row is reported for the rule that removed it only; rows in =
    clean + removed still holds."""
    customers = [
        (1, "no gps", 1, 1, None, None, "ON_TRADE", 1, 999.0, None),
        (2, "twice", 1, 1, 48.85, 2.35, "ON_TRADE", 1, 999.0, None),
        (2, "twice", 1, 1, 48.85, 2.35, "ON_TRADE", 1, 999.0, None),
        (3, "unknown channel", 1, 1, 48.85, 2.35, "PUB", 1, 999.0, 0),
    ]
    tables = world() | {"MV_SetupCustomer": frame("MV_SetupCustomer", customers)}
    result = quarantine(tables)
    assert sorted(reasons(result, "MV_SetupCustomer")) == [
        (1, "invalid_visit_minutes"),
        (1, "no_gps"),
        (2, "duplicate_key"),
        (2, "invalid_visit_minutes"),
        (3, "unknown_channel"),
    ]
    clean = result.tables["MV_SetupCustomer"].sort("CustomerId")
    assert clean.select("CustomerId", ROUTABLE, "VisitMinutes").rows() == [
        (1, False, None),
        (2, True, None),
    ]
    assert result.removed("MV_SetupCustomer") == 2
    assert len(customers) == clean.height + result.removed("MV_SetupCustomer")
    assert {"invalid_visit_minutes", "invalid_visit_frequency"} <= KEPT_REASONS["MV_SetupCustomer"]


# --- the optional tables ------------------------------------------------------------------------


def test_absent_optional_tables_are_empty_and_change_nothing() -> None:
    without = quarantine(world())
    with_empty = quarantine(world() | {name: empty_table(s) for name, s in OPTIONAL_TABLES.items()})
    assert without.counts() == with_empty.counts()
    for name in ALL_TABLES:
        assert without.tables[name].equals(with_empty.tables[name]), name
        assert without.rows[name].equals(with_empty.rows[name]), name
    for name in OPTIONAL_TABLES:
        assert without.tables[name].is_empty() and without.counts()[name] == {}


def test_opening_hours_rules() -> None:
    """Split shifts are two rows of a weekday; identical repeats keep one, differing ones
    (another closing time) are all set aside; hours of an unknown outlet or that are no
    interval of a weekday are set aside."""
    table = hours(
        (1, 1, "08:00", "12:30"),
        (1, 1, "14:00", "19:00"),  # the afternoon of a split shift
        (1, 2, "08:00", "12:30"),
        (1, 2, "08:00", "12:30"),  # an identical repeat
        (2, 3, "10:00", "23:00"),
        (2, 3, "10:00", "22:00"),  # the same interval closing at another time
        (9, 1, "08:00", "12:00"),  # not a customer
        (2, 4, "23:00", "10:00"),  # closes before it opens
        (2, 5, "10:00", "10:00"),  # closes when it opens
        (2, 8, "10:00", "12:00"),  # no eighth day
        (2, 0, "10:00", "12:00"),
    )
    result = quarantine(world() | {"MV_OutletHours": table})
    t = time
    assert reasons(result, "MV_OutletHours") == [
        (1, 2, t(8), "duplicate_key"),
        (2, 3, t(10), "conflicting_key"),
        (2, 3, t(10), "conflicting_key"),
        (9, 1, t(8), "unknown_customer"),
        (2, 4, t(23), "bad_hours"),
        (2, 5, t(10), "bad_hours"),
        (2, 8, t(10), "bad_hours"),
        (2, 0, t(10), "bad_hours"),
    ]
    assert result.tables["MV_OutletHours"].rows() == [
        (1, 1, t(8), t(12, 30)),
        (1, 1, t(14), t(19)),
        (1, 2, t(8), t(12, 30)),
    ]


def test_pins_and_exclusions_rules() -> None:
    pins = frame(
        "MV_VisitPin",
        [
            (1, D, time(9), "appointment"),
            (1, D, time(9), "appointment"),  # identical
            (2, D, time(9), None),
            (2, D, time(10), None),  # the same day at another time
            (2, D + timedelta(days=1), None, None),  # another day: another pin
            (9, D, None, "not a customer"),
        ],
    )
    exclusions = frame(
        "MV_VisitExclusion",
        [
            (1, D, "works"),
            (1, D, "dispute"),  # the same date, another reason
            (2, D, None),
            (2, D + timedelta(days=7), None),
            (9, D, "not a customer"),
        ],
    )
    result = quarantine(world() | {"MV_VisitPin": pins, "MV_VisitExclusion": exclusions})
    assert reasons(result, "MV_VisitPin") == [
        (1, D, "duplicate_key"),
        (2, D, "conflicting_key"),
        (2, D, "conflicting_key"),
        (9, D, "unknown_customer"),
    ]
    assert result.tables["MV_VisitPin"].rows() == [
        (1, D, time(9), "appointment"),
        (2, D + timedelta(days=1), None, None),
    ]
    assert reasons(result, "MV_VisitExclusion") == [
        (1, D, "conflicting_key"),
        (1, D, "conflicting_key"),
        (9, D, "unknown_customer"),
    ]
    # the exclusion's own Reason is ExclusionReason in its set-aside rows, Reason in the clean
    assert result.rows["MV_VisitExclusion"].columns == [
        "CustomerId",
        "Until",
        "ExclusionReason",
        "Reason",
    ]
    assert set_aside_columns(VISIT_EXCLUSION) == ["CustomerId", "Until", "ExclusionReason"]
    assert result.rows["MV_VisitExclusion"]["ExclusionReason"].to_list() == [
        "works",
        "dispute",
        "not a customer",
    ]
    assert result.tables["MV_VisitExclusion"].columns == VISIT_EXCLUSION.all_column_names
    assert result.tables["MV_VisitExclusion"].rows() == [
        (2, D, None),
        (2, D + timedelta(days=7), None),
    ]


def test_the_planning_rows_of_a_customer_set_aside_follow_it() -> None:
    tables = world(
        Customer=[
            (1, "kept", 1, 1, 48.85, 2.35, "ON_TRADE", 1),
            (2, "set aside", 1, 1, 48.86, 2.36, "PUB", 1),
        ]
    ) | {
        "MV_OutletHours": hours((1, 1, "08:00", "12:00"), (2, 1, "08:00", "12:00")),
        "MV_VisitPin": frame("MV_VisitPin", [(2, D, None, None)]),
        "MV_VisitExclusion": frame("MV_VisitExclusion", [(2, D, None)]),
    }
    result = quarantine(tables)
    assert reasons(result, "MV_OutletHours") == [(2, 1, time(8), "unknown_customer")]
    assert result.counts()["MV_VisitPin"] == {"unknown_customer": 1}
    assert result.counts()["MV_VisitExclusion"] == {"unknown_customer": 1}


def test_the_order_of_the_planning_rows_never_decides() -> None:
    planning = {
        "MV_SetupRep": frame("MV_SetupRep", [(1, "r", 1, 95.0, 2.0)]),
        "MV_OutletHours": hours(
            (1, 1, "08:00", "12:00"),
            (1, 1, "08:00", "12:00"),
            (2, 3, "10:00", "23:00"),
            (2, 3, "10:00", "22:00"),
            (1, 2, "19:00", "08:00"),
        ),
        "MV_VisitPin": frame("MV_VisitPin", [(2, D, time(9), None), (2, D, time(10), None)]),
        "MV_VisitExclusion": frame("MV_VisitExclusion", [(1, D, "a"), (1, D, "a"), (1, D, "b")]),
    }
    tables = world() | planning
    first = quarantine(tables)
    rng = random.Random(5)
    for _ in range(5):
        shuffled = {
            name: table.sample(fraction=1.0, shuffle=True, seed=rng.randrange(1 << 30))
            for name, table in tables.items()
        }
        second = quarantine(shuffled)
        assert first.counts() == second.counts()
        for name in ALL_TABLES:
            assert unordered(first.tables[name]).equals(unordered(second.tables[name])), name
            assert unordered(first.rows[name]).equals(unordered(second.rows[name])), name


def unordered(table: pl.DataFrame) -> pl.DataFrame:
    """``table``'s rows sorted on every column: what it holds, whatever its row order."""
    return table.sort(table.columns, nulls_last=True)
