"""`build_documents` on tiny hand-made frames: ids, empty weeks, rounding, reasons, order."""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
import pytest

from scoring.routing import DAYS_SCHEMA, VISITS_SCHEMA
from visitrank.pipeline.documents import (
    SWITCHED_OFF,
    attach_learned_steps,
    build_documents,
    document_id,
)

WEEK = date(2026, 11, 16)
AS_OF = date(2026, 11, 13)

OUTLET_SCHEMA = {
    "CustomerId": pl.Int64,
    "CustomerName": pl.String,
    "Latitude": pl.Float64,
    "Longitude": pl.Float64,
    "Segment": pl.String,
    "DaysSinceLastVisit": pl.Int64,
    "OpportunityValue": pl.Float64,
    "PushedSkus": pl.Int64,
    "ResponseFactor": pl.Float64,
}
SKU_SCHEMA = {
    "CustomerId": pl.Int64,
    "ItemId": pl.Int64,
    "ItemName": pl.String,
    "SkuRank": pl.Int64,
    "IndexScore": pl.Float64,
    "Peers": pl.Int64,
    "Actual": pl.Float64,
    "Expected": pl.Float64,
    "GapValue": pl.Float64,
    "Basis": pl.String,
    "GapWindow": pl.Float64,
}
REP_SCHEMA = {"RepId": pl.Int64, "RepName": pl.String, "EligibleOutlets": pl.Int64}

# rep 7: three visits given out of route order; rep 9 owns outlets but none is routable
VISITS = pl.DataFrame(
    [
        (7, 101, 3, 2, 1, 0.5),  # day 2
        (7, 102, 2, 1, 2, 3.14159),
        (7, 103, 1, 1, 1, 12.34567),
    ],
    schema=VISITS_SCHEMA,
    orient="row",
)
DAYS = pl.DataFrame(
    [(7, 2, 1, 4.04), (7, 1, 2, 10.26)],
    schema=DAYS_SCHEMA,
    orient="row",
)
OUTLETS = pl.DataFrame(
    [
        (101, "Café du Nord", 48.1, 2.1, "ON_TRADE|v1|b0", None, 0.0, 0, 1.0),
        (102, "Bar l'Étoile", 48.2, 2.2, "ON_TRADE|v2|b0", 12, 0.0, 0, 0.8),
        (103, "Cave Zoë", 48.3, 2.3, "OFF_TRADE|v3|b1", None, 12.3456, 2, 1.25),
        (104, "No GPS", None, None, "OFF_TRADE|v1|b0", 3, 0.0, 0, 1.0),
    ],
    schema=OUTLET_SCHEMA,
    orient="row",
)
SKUS = pl.DataFrame(
    [
        # listed with rank 2 first: the document must follow SkuRank
        (103, 502, "Rosé Bio 75cl", 2, 20.04, 14, 1.004, 5.126, 4.5149, "own history", 8.0),
        (103, 501, "Gin Légère 70cl", 1, 12.34, 15, 2.2222, 9.9999, 7.8307, "peers", 26.0),
    ],
    schema=SKU_SCHEMA,
    orient="row",
)
REPS = pl.DataFrame([(9, "Zoë Martin", 0), (7, "Jean O'Neill", 3)], schema=REP_SCHEMA, orient="row")


def build(**frames: pl.DataFrame) -> dict[int, dict[str, Any]]:
    args = {
        "visits": VISITS,
        "days": DAYS,
        "outlets": OUTLETS,
        "skus": SKUS,
        "reps": REPS,
    } | frames
    documents = build_documents(
        args["visits"],
        args["days"],
        args["outlets"],
        args["skus"],
        args["reps"],
        week_start=WEEK,
        as_of=AS_OF,
        run_id="run-1",
        generated_at="2026-11-16T05:00:00+00:00",
    )
    return {d["repId"]: d for d in documents}


def visit(document: dict[str, Any], customer: int) -> dict[str, Any]:
    (found,) = [v for v in document["visits"] if v["customerId"] == customer]
    return found


def test_one_document_per_rep_with_id_and_dates() -> None:
    documents = build()
    assert sorted(documents) == [7, 9]
    for rep, d in documents.items():
        assert d["id"] == f"{rep}:2026-11-16" == document_id(rep, WEEK)
        assert d["weekStart"] == "2026-11-16" and d["asOf"] == "2026-11-13"
        assert d["runId"] == "run-1"
    assert documents[7]["repName"] == "Jean O'Neill"


def test_rep_without_routable_outlet_gets_an_empty_week() -> None:
    empty = build()[9]
    assert empty["visits"] == []
    summary = empty["summary"]
    assert summary["visits"] == 0
    assert summary["eligibleOutlets"] == 0
    assert summary["km"] == 0.0 and summary["kmPerDay"] == []
    assert summary["kmPerVisit"] is None
    assert summary["opportunityValue"] == 0.0 and summary["visitsWithGap"] == 0


def test_visits_sorted_by_day_then_route_order() -> None:
    visits = build()[7]["visits"]
    assert [(v["day"], v["routeOrder"]) for v in visits] == [(1, 1), (1, 2), (2, 1)]
    assert [v["customerId"] for v in visits] == [103, 102, 101]
    assert [v["rank"] for v in visits] == [1, 2, 3]


def test_money_is_rounded_to_cents() -> None:
    d = build()[7]
    top = visit(d, 103)
    assert top["priority"] == 12.35
    assert top["opportunityValue"] == 12.35
    assert visit(d, 102)["priority"] == 3.14
    gin, rose = top["skus"]
    assert (gin["actual"], gin["benchmark"], gin["gapValue"]) == (2.22, 10.0, 7.83)
    assert (rose["actual"], rose["benchmark"], rose["gapValue"]) == (1.0, 5.13, 4.51)
    assert (gin["indexScore"], rose["indexScore"]) == (12.3, 20.0)
    summary = d["summary"]
    assert summary["opportunityValue"] == 12.35
    assert summary["kmPerDay"] == [10.3, 4.0]
    assert summary["km"] == 14.3
    assert summary["kmPerVisit"] == pytest.approx(14.3 / 3, abs=0.005)
    assert summary["visitsWithGap"] == 1
    assert summary["visits"] == 3


def test_skus_follow_their_rank_and_carry_their_ids() -> None:
    skus = visit(build()[7], 103)["skus"]
    assert [s["itemId"] for s in skus] == [501, 502]
    assert [s["itemName"] for s in skus] == ["Gin Légère 70cl", "Rosé Bio 75cl"]
    assert [(s["basis"], s["windowWeeks"]) for s in skus] == [("peers", 26), ("own history", 8)]
    assert visit(build()[7], 101)["skus"] == []


def test_reasons() -> None:
    d = build()[7]
    gap = visit(d, 103)["reason"]
    assert "never visited" in gap
    assert "Gin Légère 70cl" in gap  # the top SKU, not the second one
    assert "Rosé" not in gap
    assert gap.startswith("2 SKU(s)")
    recent = visit(d, 102)["reason"]
    assert "never visited" not in recent and "12 days" in recent
    assert "no gap" in recent
    assert "never visited" in visit(d, 101)["reason"]
    assert all(v["reason"] for v in d["visits"])


def test_no_skus_anywhere() -> None:
    documents = build(
        skus=pl.DataFrame(schema=SKU_SCHEMA),
        outlets=OUTLETS.with_columns(OpportunityValue=pl.lit(0.0), PushedSkus=pl.lit(0)),
    )
    for v in documents[7]["visits"]:
        assert v["skus"] == []
        assert "no gap" in v["reason"]
    assert documents[7]["summary"]["visitsWithGap"] == 0


def test_no_visits_at_all() -> None:
    documents = build(
        visits=pl.DataFrame(schema=VISITS_SCHEMA),
        days=pl.DataFrame(schema=DAYS_SCHEMA),
        reps=REPS.with_columns(EligibleOutlets=pl.lit(0, dtype=pl.Int64)),
    )
    assert sorted(documents) == [7, 9]
    for d in documents.values():
        assert d["visits"] == [] and d["summary"]["visits"] == 0
        assert d["summary"]["kmPerDay"] == [] and d["summary"]["km"] == 0.0


def test_visit_response_factor_is_shown_and_explained() -> None:
    d = build()[7]
    assert [visit(d, c)["responseFactor"] for c in (101, 102, 103)] == [1.0, 0.8, 1.25]
    assert "respond" not in visit(d, 101)["reason"]  # factor 1: nothing to say
    assert "respond" not in visit(d, 102)["reason"]  # no gap, priority 0: the factor moved nothing
    assert visit(d, 103)["reason"].endswith(
        "; its sales respond to visits more than average (priority x1.25)"
    )


@pytest.mark.parametrize(
    ("factor", "said"),
    [(0.8, "less than average (priority x0.8)"), (0.996, None), (1.004, None)],
)
def test_response_reason_follows_the_shown_factor(factor: float, said: str | None) -> None:
    outlets = OUTLETS.with_columns(
        ResponseFactor=pl.when(pl.col("CustomerId") == 103).then(factor).otherwise(1.0)
    )
    reason = visit(build(outlets=outlets)[7], 103)["reason"]
    if said is None:  # shown as x1.0: no words about it
        assert "respond" not in reason
    else:
        assert reason.endswith(f"; its sales respond to visits {said}")


def test_expected_gains_are_shown_with_their_probability() -> None:
    # without the persistence step's columns: no probability, the expected gain is the gap
    plain = visit(build()[7], 103)
    assert [s["persistProbability"] for s in plain["skus"]] == [None, None]
    assert [s["expectedGain"] for s in plain["skus"]] == [7.83, 4.51]
    assert plain["expectedGain"] == plain["opportunityValue"] == 12.35
    weighted = build(
        skus=SKUS.with_columns(
            PersistProbability=pl.Series([0.5, 0.9]),
            ExpectedGain=pl.col("GapValue") * pl.Series([0.5, 0.9]),
        ),
        outlets=OUTLETS.with_columns(ExpectedGain=pl.Series([0.0, 0.0, 9.30, 0.0])),
    )
    shown = visit(weighted[7], 103)
    # 4.5149 x 0.5 = 2.26 (rank 2), 7.8307 x 0.9 = 7.05 (rank 1)
    assert [s["persistProbability"] for s in shown["skus"]] == [0.9, 0.5]
    assert [s["expectedGain"] for s in shown["skus"]] == [7.05, 2.26]
    assert shown["expectedGain"] == 9.3


def test_each_document_says_whether_the_learned_steps_shaped_it_and_why() -> None:
    # rep 1 has 2 outlets in area 10 and 1 in area 20: its region is 10; rep 2 is in area 20,
    # whose outcome has gap persistence switched off; rep 3's area has no outcome.
    outlets = pl.DataFrame(
        {"RepId": [1, 1, 1, 2, 3], "AreaId": [10, 10, 20, 20, 30], "CustomerId": [1, 2, 3, 4, 5]}
    )
    outcomes = [
        {
            "areaId": 10,
            "visitResponse": {"signal": False, "reason": "too few untouched weeks"},
            "gapPersistence": {"signal": True, "reason": "better than the base rate"},
        },
        {
            "areaId": 20,
            "visitResponse": {"signal": True, "reason": "a visit lifts sales by +5%"},
            "gapPersistence": None,
        },
    ]
    documents = [{"repId": rep, "visits": []} for rep in (1, 2, 3)]
    got = {
        d["repId"]: d["learnedSteps"] for d in attach_learned_steps(documents, outlets, outcomes)
    }
    assert got[1] == {
        "visitResponse": {"used": False, "why": "too few untouched weeks"},
        "gapPersistence": {"used": True, "why": "better than the base rate"},
    }
    assert got[2] == {
        "visitResponse": {"used": True, "why": "a visit lifts sales by +5%"},
        "gapPersistence": {"used": False, "why": SWITCHED_OFF},
    }
    assert got[3]["visitResponse"]["used"] is False
    assert "no scoring outcome" in got[3]["gapPersistence"]["why"]
