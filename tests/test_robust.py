import statistics

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.robust import loo_median


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
