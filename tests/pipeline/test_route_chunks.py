"""The reps' weeks planned in chunks of reps (the Azure route fan-out) and joined again: chunk
membership computed by hand, and the joined plans equal to planning every rep at once."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from scoring.config import ScoringConfig
from visitrank.pipeline.fan_in import chunk_outlets, merge_planned, plan_weeks


def reps_of(outlets: pl.DataFrame, chunk: int, chunks: int) -> list[int | None]:
    return sorted(
        chunk_outlets(outlets, chunk, chunks)["RepId"].to_list(), key=lambda r: (r is not None, r)
    )


def test_chunks_split_the_sorted_reps_and_keep_rep_less_outlets_in_the_first() -> None:
    outlets = pl.DataFrame({"RepId": [30, 10, 20, 50, 40, None, 10]})
    # reps 10 20 30 40 50: chunk 0 holds reps [0 * 5 // 2, 1 * 5 // 2) = the first two
    assert reps_of(outlets, 0, 2) == [None, 10, 10, 20]
    assert reps_of(outlets, 1, 2) == [30, 40, 50]


def test_more_chunks_than_reps_leave_some_chunks_empty() -> None:
    outlets = pl.DataFrame({"RepId": [7, 8, 9]})
    # chunk i holds reps [i * 3 // 5, (i + 1) * 3 // 5): [0, 0) [0, 1) [1, 1) [1, 2) [2, 3)
    assert [reps_of(outlets, chunk, 5) for chunk in range(5)] == [[], [7], [], [8], [9]]


def test_a_chunk_outside_the_run_is_refused_with_its_number() -> None:
    with pytest.raises(ValueError, match=r"route chunk 3 is not one of 0\.\.2"):
        chunk_outlets(pl.DataFrame({"RepId": [1]}), 3, 3)


def territory(seed: int) -> pl.DataFrame:
    """Eleven reps' outlets in one city, one outlet without a rep, a few not routable."""
    rng = np.random.default_rng(seed)
    n = 660
    rep = pl.Series(rng.integers(1, 12, n)).scatter([5], [None])
    return pl.DataFrame(
        {
            "CustomerId": np.arange(n, dtype=np.int64),
            "RepId": rep,
            "Latitude": 48.8 + rng.random(n) * 0.3,
            "Longitude": 2.2 + rng.random(n) * 0.3,
            "Priority": rng.random(n) * 100,
            "Routable": rng.random(n) > 0.05,
        }
    )


@pytest.mark.parametrize("planner", ["counts", "timed"])
def test_weeks_planned_in_chunks_and_merged_equal_one_plan_of_every_rep(planner: str) -> None:
    outlets = territory(seed=4)
    config = ScoringConfig(planner=planner, solver_iterations=40)  # type: ignore[arg-type]
    whole = plan_weeks(outlets, config)
    # the chunks are read in another row order, as publish reads regions in any order
    shuffled = outlets.sample(fraction=1.0, shuffle=True, seed=1)
    merged = merge_planned([plan_weeks(chunk_outlets(shuffled, i, 4), config) for i in range(4)])
    assert whole.visits.height > 0 and whole.visits["RepId"].n_unique() == 11
    assert merged.visits.equals(whole.visits)
    assert merged.days.equals(whole.days)
    if planner == "timed":
        assert whole.left_out is not None and merged.left_out is not None
        assert merged.left_out.equals(whole.left_out)
    else:
        assert merged.left_out is None and whole.left_out is None


def test_more_chunks_than_reps_still_merge_to_every_rep() -> None:
    outlets = territory(seed=5).filter(pl.col("RepId").is_in([1, 2]) | pl.col("RepId").is_null())
    config = ScoringConfig()
    merged = merge_planned([plan_weeks(chunk_outlets(outlets, i, 6), config) for i in range(6)])
    whole = plan_weeks(outlets, config)
    assert merged.visits.equals(whole.visits) and merged.days.equals(whole.days)
