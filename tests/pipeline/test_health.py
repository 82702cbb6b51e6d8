"""Data health: findings from hand-made facts, the honest status, the accounting."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl

from scoring.inputs import ScoringWindow
from visitrank.pipeline.health import (
    DataFacts,
    Finding,
    accounting,
    counted_findings,
    honest_status,
    input_findings,
    list_findings,
)

WINDOW = ScoringWindow(
    week_start=date(2026, 11, 16),
    as_of=date(2026, 11, 15),
    window_start=date(2026, 5, 18),
    history_start=date(2024, 11, 18),
)


def facts(**changes: Any) -> DataFacts:
    values: dict[str, Any] = {
        "today": date(2026, 11, 16),
        "first_sale": date(2024, 11, 18),
        "last_sale": date(2026, 11, 15),
        "window": WINDOW,
        "lookback_weeks": 26,
        "input_rows": {"MV_SetupCustomer": 10, "MV_Sales": 100},
        "clean_rows": {"MV_SetupCustomer": 10, "MV_Sales": 100},
        "set_aside": {},
        "quarantined": {},
        "routable_outlets": 10,
    }
    return DataFacts(**(values | changes))


def checks(findings: list[Finding]) -> list[tuple[str, str, int]]:
    return [(f.check, f.severity, f.count) for f in findings]


def test_clean_fresh_data_have_no_finding() -> None:
    assert input_findings(facts()) == []


def test_stale_data_is_a_warning_with_its_age() -> None:
    found = input_findings(facts(today=date(2026, 12, 3)))
    assert checks(found) == [("stale_data", "warning", 18)]
    assert "2026-11-15, 18 days before today (2026-12-03)" in found[0].message
    # a week old is not stale; no day given (a replay) is never stale
    assert input_findings(facts(today=date(2026, 11, 22))) == []
    assert input_findings(facts(today=None)) == []


def test_short_history_says_how_many_weeks_exist() -> None:
    short = ScoringWindow(WINDOW.week_start, WINDOW.as_of, date(2026, 10, 19), date(2026, 10, 19))
    found = input_findings(facts(window=short, first_sale=date(2026, 10, 19)))
    # 2026-10-19 .. 2026-11-15 is 28 days: 4 of 26 weeks
    assert checks(found) == [("short_history", "warning", 4)]
    assert "4.0 of the 26 look-back weeks exist" in found[0].message


def test_every_customer_set_aside_is_an_error_naming_the_values() -> None:
    rows = pl.DataFrame(
        {
            "CustomerId": [1, 2, 3],
            "Channel": ["HORECA", "RETAIL", "HORECA"],
            "Reason": ["unknown_channel"] * 3,
        }
    )
    found = input_findings(
        facts(
            input_rows={"MV_SetupCustomer": 3},
            clean_rows={"MV_SetupCustomer": 0},
            set_aside={"MV_SetupCustomer": rows},
            quarantined={"MV_SetupCustomer": {"unknown_channel": 3}},
            routable_outlets=0,
        )
    )
    assert checks(found) == [
        ("table_emptied", "error", 3),
        ("unknown_channel", "warning", 3),
    ]
    assert found[1].examples == ({"value": "HORECA", "rows": 2}, {"value": "RETAIL", "rows": 1})
    assert honest_status("complete", found) == "failed"


def test_no_outlet_with_coordinates_is_an_error() -> None:
    found = input_findings(
        facts(quarantined={"MV_SetupCustomer": {"no_gps": 10}}, routable_outlets=0)
    )
    assert checks(found) == [("no_routable_outlet", "error", 10), ("no_gps", "warning", 10)]
    assert "(no_gps 10)" in found[0].message


def test_future_rows_and_gps_outliers_give_examples() -> None:
    sales = pl.DataFrame({"SaleId": [7], "SaleDate": [date(2029, 3, 1)], "Reason": ["future_date"]})
    found = input_findings(
        facts(
            set_aside={"MV_Sales": sales},
            quarantined={"MV_Sales": {"future_date": 1}},
            duplicate_lines=4,
            reps_without_outlets=[9, 3],
        )
    )
    assert checks(found) == [
        ("future_date", "warning", 1),
        ("duplicate_lines", "warning", 4),
        ("reps_without_outlets", "info", 2),
    ]
    assert found[0].examples == ({"SaleId": 7, "SaleDate": "2029-03-01"},)
    assert found[2].examples == (3, 9)


def _document(rep: int, *values: float) -> dict[str, Any]:
    return {"repId": rep, "visits": [{"opportunityValue": v} for v in values]}


def test_list_findings_and_the_honest_status() -> None:
    eligible = {1: 5, 2: 3, 3: 0}
    assert list_findings([_document(1, 10.0), _document(2, 0.0, 2.5)], eligible) == []
    none = list_findings([], eligible)
    assert checks(none) == [("no_documents", "error", 2)]
    zero = list_findings([_document(1, 0.0), _document(2, 0.0)], eligible)
    assert checks(zero) == [("no_value", "error", 2)]
    assert honest_status("complete", zero) == "failed"
    some = list_findings([_document(1, 4.0), _document(2, 0.0)], eligible)
    assert checks(some) == [("reps_without_value", "warning", 1)]
    assert some[0].examples == (2,)
    assert honest_status("complete", some) == "partial"
    assert honest_status("partial", some) == "partial"
    warning = Finding("stale_data", "warning", 3, "old")
    assert honest_status("complete", [warning]) == "complete"


def test_accounting_adds_up_for_every_table() -> None:
    table = accounting(
        {"MV_SetupCustomer": 10, "MV_Sales": 100, "MV_Visit": 5},
        {
            "MV_SetupCustomer": {"no_gps": 2, "unknown_channel": 3},
            "MV_Sales": {"future_date": 1},
        },
    )
    assert table["MV_SetupCustomer"] == {
        "rowsIn": 10,
        "clean": 7,  # no-GPS outlets stay clean (kept, not routed)
        "setAside": 3,
        "reasons": {"no_gps": 2, "unknown_channel": 3},
    }
    assert table["MV_Sales"]["clean"] == 99
    assert table["MV_Visit"] == {"rowsIn": 5, "clean": 5, "setAside": 0, "reasons": {}}
    for row in table.values():
        assert row["rowsIn"] == row["clean"] + row["setAside"]


def counted(quarantined: dict[str, dict[str, int]], documents: int) -> list[Finding]:
    """counted_findings on 4 customers and 9 sales read, all regions ok, fresh data."""
    return counted_findings(
        input_rows={"MV_SetupCustomer": 4, "MV_Sales": 9},
        quarantined=quarantined,
        window=WINDOW,
        today=date(2026, 11, 16),
        lookback_weeks=26,
        documents=documents,
        regions_ok=True,
    )


def test_counted_findings_from_counts_only() -> None:
    """What the Azure orchestration can say from the regions' counts and the plan: a table
    emptied fails the run; every region ok and nothing published from clean outlets fails it
    too; a short window is a warning."""
    emptied = counted({"MV_SetupCustomer": {"unknown_channel": 4}}, documents=0)
    assert checks(emptied) == [("table_emptied", "error", 4), ("unknown_channel", "warning", 4)]
    blind = counted({"MV_SetupCustomer": {"no_gps": 4}}, documents=0)
    assert checks(blind) == [("no_documents", "error", 4), ("no_gps", "warning", 4)]
    assert honest_status("complete", blind) == "failed"
    assert counted({}, documents=3) == []
