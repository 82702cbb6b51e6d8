"""Properties of `scoring.weekly_plan.plan_visits` on random small outlet frames."""

from __future__ import annotations

from collections import Counter
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.config import ScoringConfig
from scoring.weekly_plan import plan_visits, time_params

from .plan_checker import plan_problems

CONFIG = ScoringConfig(
    visits_per_week=6, days_per_week=3, max_visits_per_day=3, candidate_pool=9, planner="counts"
)
"""The count-based planner: exactly min(visits_per_week, candidates) visits per rep."""
VALUE_ONLY = CONFIG.with_overrides({"travel_tradeoff": 0.0})
TIMED = CONFIG.with_overrides({"planner": "timed", "solver_iterations": 50})

OUTLET_SCHEMA = {
    "CustomerId": pl.Int64,
    "RepId": pl.Int64,
    "Latitude": pl.Float64,
    "Longitude": pl.Float64,
    "Routable": pl.Boolean,
    "Priority": pl.Float64,
}

# a coarse grid, so outlets sometimes share a location (co-located shops)
coordinate = st.tuples(st.integers(0, 6), st.integers(0, 6)).map(
    lambda ij: (45.0 + 0.05 * ij[0], 2.0 + 0.07 * ij[1])
)
outlet = st.fixed_dictionaries(
    {
        "RepId": st.one_of(st.none(), st.integers(1, 3)),
        "where": coordinate,
        "Routable": st.booleans(),
        "Priority": st.one_of(
            st.none(),
            st.just(0.0),
            st.floats(0.0, 500.0, allow_nan=False, allow_infinity=False),
        ),
    }
)


def outlets_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Outlets as the region scores give them; a non-routable one has no coordinates."""
    records = []
    for i, row in enumerate(rows):
        lat, lon = row["where"] if row["Routable"] else (None, None)
        records.append(
            {
                "CustomerId": 1000 + i,
                "RepId": row["RepId"],
                "Latitude": lat,
                "Longitude": lon,
                "Routable": row["Routable"],
                "Priority": row["Priority"],
            }
        )
    return pl.DataFrame(records, schema=OUTLET_SCHEMA)


def eligible(outlets: pl.DataFrame) -> pl.DataFrame:
    return outlets.filter(
        pl.col("Routable") & pl.col("RepId").is_not_null() & pl.col("Priority").is_not_null()
    )


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.lists(outlet, min_size=0, max_size=40))
def test_plan_respects_owners_routability_and_the_week(rows: list[dict[str, Any]]) -> None:
    outlets = outlets_frame(rows)
    visits, days = plan_visits(outlets, CONFIG)
    candidates = eligible(outlets)
    owner = dict(candidates.select("CustomerId", "RepId").iter_rows())

    # only eligible outlets, each in its own rep's list, at most once
    pairs = list(visits.select("RepId", "CustomerId").iter_rows())
    assert len(pairs) == len(set(pairs))
    for rep, customer in pairs:
        assert customer in owner, f"non-routable or ownerless outlet {customer} planned"
        assert owner[customer] == rep
    assert visits["CustomerId"].n_unique() == visits.height

    per_rep = Counter(owner.values())
    planned = Counter(visits["RepId"].to_list())
    assert set(planned) == set(per_rep)
    for rep, available in per_rep.items():
        n = min(CONFIG.visits_per_week, available)
        assert planned[rep] == n
        mine = visits.filter(pl.col("RepId") == rep)
        assert sorted(mine["Rank"].to_list()) == list(range(1, n + 1))
        day_sizes = Counter(mine["Day"].to_list())
        assert set(day_sizes) <= set(range(1, CONFIG.days_per_week + 1))
        assert max(day_sizes.values()) <= CONFIG.max_visits_per_day
        for day, size in day_sizes.items():
            orders = mine.filter(pl.col("Day") == day)["RouteOrder"].sort().to_list()
            assert orders == list(range(1, size + 1))
        rep_days = days.filter(pl.col("RepId") == rep)
        assert dict(rep_days.select("Day", "Visits").iter_rows()) == dict(day_sizes)
        assert (rep_days["Km"] >= 0).all()
        # rank follows priority: a better rank never has a lower priority
        by_rank = mine.sort("Rank")["Priority"].to_list()
        assert by_rank == sorted(by_rank, reverse=True)


@SETTINGS
@given(st.lists(outlet, min_size=0, max_size=40))
def test_without_travel_price_the_week_is_the_top_priorities(rows: list[dict[str, Any]]) -> None:
    outlets = outlets_frame(rows)
    visits, _ = plan_visits(outlets, VALUE_ONLY)
    expected = (
        eligible(outlets)
        .sort(["RepId", "Priority", "CustomerId"], descending=[False, True, False])
        .group_by("RepId", maintain_order=True)
        .head(VALUE_ONLY.visits_per_week)
    )
    chosen = set(visits.select("RepId", "CustomerId").iter_rows())
    assert chosen == set(expected.select("RepId", "CustomerId").iter_rows())
    ranked = visits.sort("RepId", "Rank").select("RepId", "CustomerId")
    assert ranked.rows() == expected.select("RepId", "CustomerId").rows()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(outlet, min_size=0, max_size=40))
def test_the_timed_plan_keeps_owners_and_the_days_rules(rows: list[dict[str, Any]]) -> None:
    """The timed planner may plan fewer visits than the week holds (an outlet worth nothing,
    or one the day has no time for), never more, never another rep's outlet, and every day
    passes the independent check of times."""
    outlets = outlets_frame(rows)
    visits, days = plan_visits(outlets, TIMED)
    candidates = eligible(outlets)
    owner = dict(candidates.select("CustomerId", "RepId").iter_rows())
    for rep, customer in visits.select("RepId", "CustomerId").iter_rows():
        assert owner[customer] == rep
    for rep, count in Counter(visits["RepId"].to_list()).items():
        assert count <= TIMED.visits_per_week
        mine = visits.filter(pl.col("RepId") == rep)
        assert sorted(mine["Rank"].to_list()) == list(range(1, count + 1))
        by_rank = mine.sort("Rank")["Priority"].to_list()
        assert by_rank == sorted(by_rank, reverse=True)
    assert plan_problems(visits, days, candidates, time_params(TIMED)) == []
