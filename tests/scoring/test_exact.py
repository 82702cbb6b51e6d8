import random

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.exact import exact_sum

money = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 2))


@settings(max_examples=60, deadline=None)
@given(st.lists(money, min_size=1, max_size=40), st.randoms())
def test_exact_sum_is_the_same_in_any_order(values: list[float], rnd: random.Random) -> None:
    shuffled = values[:]
    rnd.shuffle(shuffled)
    a = pl.DataFrame({"v": values}).select(exact_sum("v")).item()
    b = pl.DataFrame({"v": shuffled}).select(exact_sum("v")).item()
    assert a == b
    assert abs(a - sum(values)) < 1e-6 * max(1.0, len(values))


def test_plain_float_sum_can_depend_on_order() -> None:
    """Why exact_sum exists: the float sum of the same numbers differs by order."""
    assert (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
    assert pl.DataFrame({"v": [0.1, 0.2, 0.3]}).select(exact_sum("v")).item() == 0.6
