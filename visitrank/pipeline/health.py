"""Data health: what a person should know about the input before trusting the week's lists.

Coercion stops on values that cannot be read, quarantine sets aside rows that break a rule;
neither says whether what is left can make a useful week. The checks here do, from facts both
drivers have after staging (the set-aside rows, the row counts, the sale dates, the day of the
run) and, after the fan-in, from the documents themselves:

* ``error`` findings mean the run cannot produce anything useful (every customer set aside, no
  outlet that can be routed, no list with any value): the run is ``failed``, never
  ``complete``;
* ``warning`` findings need a human (stale or short history, future-dated rows, GPS outliers,
  outlets with no rep, unknown codes, exact duplicate lines): the run completes and lists them;
* ``info`` findings are context (reps with no outlet, visits by reps who left).

Each finding carries a count and a few examples, so the data owner can find the rows. Pure:
facts in, findings out; no files, clock or environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, Final, Literal

import polars as pl

from scoring.inputs import ScoringWindow
from visitrank.contract.quarantine import KEPT_REASONS, REASON, UNROUTABLE_REASONS

Severity = Literal["error", "warning", "info"]

STALE_AFTER_DAYS: Final = 7
"""An export whose last sale is more than a week before the run's day plans a week that has
already begun: the lists would send reps to last week's gaps."""
EXAMPLES: Final = 5
"""Examples kept per finding: enough to find the rows, small enough for a summary."""
REQUIRED_TABLES: Final = ("MV_SetupCustomer", "MV_SetupItem", "MV_Sales", "MV_SalesDetail")
"""Tables without which no list can be made: if every row of one is set aside, the run fails."""

_SEVERITY_ORDER: Final = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One health finding: which check, how bad, how many rows or reps, what to do, examples."""

    check: str
    severity: Severity
    count: int
    message: str
    examples: tuple[Any, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """The finding as the run summary's ``health`` list holds it."""
        return {
            "check": self.check,
            "severity": self.severity,
            "count": self.count,
            "message": self.message,
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class DataFacts:
    """What the input checks look at, gathered by the staging of either driver.

    Attributes:
        today: the run's day (None: replaying the past, no staleness or future check).
        first_sale, last_sale: the clean sales' first and last day (None without sales).
        window: the scoring window of the run (already shrunk to the sales that exist).
        lookback_weeks: the configured look-back, to say how much of it the data cover.
        input_rows: rows read per table.
        clean_rows: rows left per table after the quarantine (kept rows included).
        set_aside: the quarantined rows per table (contract columns + Reason), for examples;
            a table may be missing (its counts alone are then used).
        quarantined: table -> reason -> rows.
        duplicate_lines: sales lines that repeat another line of the same sale exactly.
        reps_without_outlets: RepIds of ``MV_SetupRep`` that own no routable outlet.
    """

    today: date | None
    first_sale: date | None
    last_sale: date | None
    window: ScoringWindow
    lookback_weeks: int
    input_rows: Mapping[str, int]
    clean_rows: Mapping[str, int]
    set_aside: Mapping[str, pl.DataFrame]
    quarantined: Mapping[str, Mapping[str, int]]
    duplicate_lines: int = 0
    reps_without_outlets: Sequence[int] = ()
    routable_outlets: int | None = 0
    """Outlets that can be put on a list; None when the driver does not know (no check)."""


def input_findings(facts: DataFacts) -> list[Finding]:
    """The findings about the input, most severe first."""
    findings = [
        *_emptied_tables(facts),
        *_no_routable_outlet(facts),
        *_stale(facts),
        *_short_history(facts),
        *_reason_findings(facts),
    ]
    if facts.duplicate_lines:
        findings.append(
            Finding(
                "duplicate_lines",
                "warning",
                facts.duplicate_lines,
                f"{facts.duplicate_lines:,} sales lines repeat another line of the same sale "
                "exactly (same item, quantity and amount); they are kept, as a till may list "
                "an item twice, but an export that doubled its rows doubles the sales",
            )
        )
    if facts.reps_without_outlets:
        count = len(facts.reps_without_outlets)
        findings.append(
            Finding(
                "reps_without_outlets",
                "info",
                count,
                f"{count} rep(s) own no outlet that can be visited: they get no list",
                tuple(sorted(facts.reps_without_outlets)[:EXAMPLES]),
            )
        )
    return sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])


def list_findings(
    documents: Sequence[Mapping[str, Any]], eligible_reps: Mapping[int, int]
) -> list[Finding]:
    """Findings about the week's documents: none at all, none with any value, or reps with
    eligible outlets (``eligible_reps``: RepId -> outlets that can be visited) left without a
    valued list. Only reps of regions that were scored should be passed."""
    expected = {rep for rep, outlets in eligible_reps.items() if outlets > 0}
    if not expected:
        return []
    valued = {
        int(document["repId"])
        for document in documents
        if any(float(visit.get("opportunityValue") or 0) > 0 for visit in document["visits"])
    }
    if not documents:
        return [
            Finding(
                "no_documents",
                "error",
                len(expected),
                f"no rep document was produced although {len(expected)} rep(s) have outlets "
                "that can be visited",
                tuple(sorted(expected)[:EXAMPLES]),
            )
        ]
    if not valued:
        return [
            Finding(
                "no_value",
                "error",
                len(documents),
                "every visit of every list is worth 0: nothing below its potential in the "
                "scored window (check the sales dates and the week planned)",
            )
        ]
    missing = sorted(expected - valued)
    if not missing:
        return []
    return [
        Finding(
            "reps_without_value",
            "warning",
            len(missing),
            f"{len(missing)} rep(s) with outlets to visit have no list with any value",
            tuple(missing[:EXAMPLES]),
        )
    ]


def counted_findings(
    *,
    input_rows: Mapping[str, int],
    quarantined: Mapping[str, Mapping[str, int]],
    window: ScoringWindow,
    today: date,
    lookback_weeks: int,
    documents: int,
    regions_ok: bool,
) -> list[Finding]:
    """The findings a driver that only has counts can make (the Azure orchestration: the
    regions' row counts, the plan's window and day, the documents published): the input
    checks without examples, and ``no_documents`` when every region scored but nothing was
    published although outlets remain."""
    table_rows = accounting(input_rows, quarantined)
    facts = DataFacts(
        today=today,
        first_sale=window.window_start,
        last_sale=window.as_of,
        window=window,
        lookback_weeks=lookback_weeks,
        input_rows=input_rows,
        clean_rows={table: row["clean"] for table, row in table_rows.items()},
        set_aside={},
        quarantined=quarantined,
        routable_outlets=None,
    )
    findings = input_findings(facts)
    customers = table_rows.get("MV_SetupCustomer", {}).get("clean", 0)
    if regions_ok and documents == 0 and customers and not failure_reason(findings):
        findings.insert(
            0,
            Finding(
                "no_documents",
                "error",
                customers,
                f"no rep document was produced from {customers:,} clean outlets (no outlet "
                "with coordinates and a known rep?)",
            ),
        )
    return findings


def honest_status(status: str, findings: Iterable[Finding]) -> str:
    """The run's status once the health is known: ``failed`` when a finding is an error;
    ``partial`` instead of ``complete`` when some rep with outlets has no valued list."""
    found = list(findings)
    if any(finding.severity == "error" for finding in found):
        return "failed"
    if status == "complete" and any(finding.check == "reps_without_value" for finding in found):
        return "partial"
    return status


def health_section(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """The summary's ``health``: every finding, most severe first."""
    ordered = sorted(findings, key=lambda finding: _SEVERITY_ORDER[finding.severity])
    return [finding.to_json() for finding in ordered]


def failure_reason(findings: Iterable[Finding]) -> str | None:
    """The error findings' messages, joined: why a run failed on its data (None if it did not)."""
    errors = [finding.message for finding in findings if finding.severity == "error"]
    return "; ".join(errors) or None


def accounting(
    input_rows: Mapping[str, int], quarantined: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, Any]]:
    """Per table: rows in, clean (kept reasons included), set aside (removed), and the reasons.
    ``rowsIn == clean + setAside`` for every table, by construction of the quarantine."""
    table_rows: dict[str, dict[str, Any]] = {}
    for table, rows in input_rows.items():
        reasons = dict(quarantined.get(table, {}))
        kept = KEPT_REASONS.get(table, frozenset())
        removed = sum(count for reason, count in reasons.items() if reason not in kept)
        table_rows[table] = {
            "rowsIn": rows,
            "clean": rows - removed,
            "setAside": removed,
            "reasons": reasons,
        }
    return table_rows


def _emptied_tables(facts: DataFacts) -> list[Finding]:
    findings = []
    for table in REQUIRED_TABLES:
        rows_in = facts.input_rows.get(table, 0)
        if rows_in and not facts.clean_rows.get(table, 0):
            reasons = ", ".join(
                f"{reason} {count:,}" for reason, count in facts.quarantined.get(table, {}).items()
            )
            findings.append(
                Finding(
                    "table_emptied",
                    "error",
                    rows_in,
                    f"every {table} row was set aside ({reasons}): nothing to plan from",
                    (table,),
                )
            )
    return findings


def _no_routable_outlet(facts: DataFacts) -> list[Finding]:
    customers = facts.clean_rows.get("MV_SetupCustomer", 0)
    if not customers or facts.routable_outlets is None or facts.routable_outlets:
        return []
    reasons = facts.quarantined.get("MV_SetupCustomer", {})
    why = ", ".join(
        f"{reason} {reasons[reason]:,}"
        for reason in sorted(UNROUTABLE_REASONS)
        if reasons.get(reason)
    )
    return [
        Finding(
            "no_routable_outlet",
            "error",
            customers,
            f"none of the {customers:,} outlets can be put on a list ({why}): every outlet "
            "needs coordinates and a known rep",
        )
    ]


def _stale(facts: DataFacts) -> list[Finding]:
    if facts.today is None or facts.last_sale is None:
        return []
    age = (facts.today - facts.last_sale).days
    if age <= STALE_AFTER_DAYS:
        return []
    return [
        Finding(
            "stale_data",
            "warning",
            age,
            f"the last sale is {facts.last_sale.isoformat()}, {age} days before today "
            f"({facts.today.isoformat()}): the week planned, {facts.window.week_start}, "
            "has already begun; export fresh data (or plan a week with --week-start)",
            (facts.last_sale.isoformat(),),
        )
    ]


def _short_history(facts: DataFacts) -> list[Finding]:
    if facts.first_sale is None:
        return []
    days = (facts.window.as_of - facts.window.window_start).days + 1
    weeks = days / 7
    if weeks >= facts.lookback_weeks:
        return []
    return [
        Finding(
            "short_history",
            "warning",
            round(weeks),
            f"the sales begin on {facts.first_sale.isoformat()}: {weeks:.1f} of the "
            f"{facts.lookback_weeks} look-back weeks exist, so weekly values are per real week "
            "and peers are compared on less history than configured",
            (facts.first_sale.isoformat(),),
        )
    ]


_REASON_CHECKS: Final[dict[tuple[str, str], tuple[Severity, str, tuple[str, ...]]]] = {
    ("MV_Sales", "future_date"): (
        "warning",
        "sales dated after today were set aside (never moving the week planned)",
        ("SaleId", "SaleDate"),
    ),
    ("MV_Visit", "future_date"): (
        "warning",
        "visits dated after today were set aside",
        ("VisitId", "VisitDate"),
    ),
    ("MV_SetupCustomer", "gps_outlier"): (
        "warning",
        "outlets lie far from every other outlet of their area (latitude and longitude "
        "swapped?): kept for the benchmarks, not routed",
        ("CustomerId", "Latitude", "Longitude"),
    ),
    ("MV_SetupCustomer", "unknown_rep"): (
        "warning",
        "outlets have no rep or one not in MV_SetupRep: kept for the benchmarks, never listed",
        ("CustomerId", "RepId"),
    ),
    ("MV_SetupCustomer", "no_gps"): (
        "warning",
        "outlets have no usable coordinates: kept for the benchmarks, never listed",
        ("CustomerId", "Latitude", "Longitude"),
    ),
    ("MV_SetupCustomer", "unknown_channel"): (
        "warning",
        "outlets have a Channel that is not ON_TRADE or OFF_TRADE and were set aside with "
        "their sales (map the values in visitrank-source.toml, [values.Channel])",
        ("Channel",),
    ),
    ("MV_Visit", "unknown_rep"): (
        "info",
        "visits were made by reps no longer in MV_SetupRep: kept, as their sales are",
        ("VisitId", "RepId"),
    ),
    ("MV_SetupRep", "invalid_home"): (
        "warning",
        "reps have a home that locates nothing (one coordinate only, out of range or 0/0): "
        "ignored, their days start at their first visit",
        ("RepId", "HomeLatitude", "HomeLongitude"),
    ),
    ("MV_SetupCustomer", "invalid_visit_minutes"): (
        "warning",
        "outlets have a VisitMinutes outside (0, 480]: ignored, their visits take the default "
        "length",
        ("CustomerId", "VisitMinutes"),
    ),
    ("MV_SetupCustomer", "invalid_visit_frequency"): (
        "warning",
        "outlets have a VisitEveryWeeks outside 1..52: ignored, they are planned as outlets "
        "without a frequency",
        ("CustomerId", "VisitEveryWeeks"),
    ),
    ("MV_OutletHours", "bad_hours"): (
        "warning",
        "opening hours are no interval of a weekday (Weekday outside 1..7, or Closes not after "
        "Opens) and were set aside: the outlet's other hours still apply",
        ("CustomerId", "Weekday", "Opens", "Closes"),
    ),
    ("MV_OutletHours", "unknown_customer"): (
        "info",
        "opening hours of outlets that are not clean customers were set aside",
        ("CustomerId",),
    ),
    ("MV_VisitPin", "unknown_customer"): (
        "warning",
        "pinned visits (appointments) of outlets that are not clean customers were set aside: "
        "they will not be planned",
        ("CustomerId", "VisitDate"),
    ),
    ("MV_VisitExclusion", "unknown_customer"): (
        "info",
        "visit exclusions of outlets that are not clean customers were set aside",
        ("CustomerId", "Until"),
    ),
}


def _reason_findings(facts: DataFacts) -> list[Finding]:
    findings = []
    for (table, reason), (severity, text, columns) in _REASON_CHECKS.items():
        count = facts.quarantined.get(table, {}).get(reason, 0)
        if not count:
            continue
        examples = _examples(facts.set_aside.get(table), reason, columns)
        findings.append(Finding(reason, severity, count, f"{count:,} {text}", examples))
    return findings


def _examples(rows: pl.DataFrame | None, reason: str, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """A few set-aside rows of ``reason`` (their ``columns``); for one column, its most
    frequent distinct values with their counts (an unknown code is one value many times)."""
    if rows is None or not rows.height:
        return ()
    matching = rows.filter(pl.col(REASON) == reason)
    if len(columns) == 1:
        (column,) = columns
        values = (
            matching.group_by(column)
            .len()
            .sort(["len", column], descending=[True, False])
            .head(EXAMPLES)
        )
        return tuple({"value": _json(value), "rows": count} for value, count in values.iter_rows())
    return tuple(
        {column: _json(value) for column, value in zip(columns, row, strict=True)}
        for row in matching.select(columns).head(EXAMPLES).iter_rows()
    )


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | time) else value
