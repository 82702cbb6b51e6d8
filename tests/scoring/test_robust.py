import statistics

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.robust import group_ids, loo_mean, loo_median


def test_loo_median_by_hand() -> None:
    frame = pl.DataFrame({"g": [1, 1, 1, 1, 2], "v": [1.0, 2.0, 3.0, 10.0, 5.0]})
    out = loo_median(frame, ["g"], "v", out_col="m", peers_col="p")
    # group 1, without 1.0 -> median(2,3,10)=3; without 2 -> 3; without 3 -> 2; without 10 -> 2
    assert out["m"].to_list() == [3.0, 3.0, 2.0, 2.0, None]
    assert out["p"].to_list() == [3, 3, 3, 3, 0]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 6)), min_size=1, max_size=25))
def test_loo_median_matches_statistics(rows: list[tuple[int, int]]) -> None:
    frame = pl.DataFrame(
        {"g": [g for g, _ in rows], "v": [float(v) for _, v in rows]},
        schema={"g": pl.Int64, "v": pl.Float64},
    )
    out = loo_median(frame, ["g"], "v", out_col="m", peers_col="p").with_row_index("i")
    for i, (g, _) in enumerate(rows):
        others = [float(v) for j, (gg, v) in enumerate(rows) if gg == g and j != i]
        row = out.filter(pl.col("i") == i)
        expected = statistics.median(others) if others else None
        assert row["m"][0] == expected
        assert row["p"][0] == len(others)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["on", "off", None]),
            st.sampled_from([0, 7, 10**12, None]),
            st.integers(0, 4),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_peer_statistics_group_like_polars(rows: list[tuple[str | None, int | None, int]]) -> None:
    """String, null and very wide integer keys group exactly as a polars group-by does."""
    frame = pl.DataFrame(
        {"c": [c for c, _, _ in rows], "k": [k for _, k, _ in rows], "v": [v for *_, v in rows]},
        schema={"c": pl.String, "k": pl.Int64, "v": pl.Float64},
    ).with_row_index("i")
    median = loo_median(frame, ["c", "k"], "v", out_col="m", peers_col="p")
    mean = loo_mean(frame, ["c", "k"], "v", out_col="m", peers_col="p")
    for i, (c, k, _) in enumerate(rows):
        others = [float(v) for j, (cc, kk, v) in enumerate(rows) if (cc, kk) == (c, k) and j != i]
        assert median["m"][i] == (statistics.median(others) if others else None)
        assert mean["m"][i] == (statistics.fmean(others) if others else None)
        assert median["p"][i] == mean["p"][i] == len(others)


def test_group_ids_beyond_the_radix_range() -> None:
    """More groups than a 16-bit radix sort holds: ids are densified, groups stay distinct."""
    keys = np.arange(70_000) % 66_000
    frame = pl.DataFrame({"a": keys // 300, "b": keys % 300})
    ids, bound = group_ids(frame, ["a", "b"])
    assert bound == 66_000
    assert len(np.unique(ids)) == 66_000
    assert (ids[66_000:] == ids[:4_000]).all()


def test_loo_median_rejects_null_values() -> None:
    frame = pl.DataFrame({"g": [1, 1, 1], "v": [1.0, None, 2.0]})
    with pytest.raises(ValueError, match=r"'v'.*row 1"):
        loo_median(frame, ["g"], "v", out_col="m", peers_col="p")
