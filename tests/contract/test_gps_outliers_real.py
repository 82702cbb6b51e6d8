"""The GPS outlier rule on real coordinates (US airports by state, vega-datasets): no false
positive on the data as they are, every swapped pair of coordinates set aside."""

from __future__ import annotations

import random

from bench.real_data.gps_outliers import airport_outlets, flagged, swapped

NOT_ROUTED = ("gps_outlier", "no_gps")


def test_no_real_airport_is_an_outlier_of_its_state() -> None:
    outlets = airport_outlets()
    assert outlets.height > 3_000 and outlets["AreaId"].n_unique() > 50
    assert flagged(outlets, NOT_ROUTED) == set()


def test_swapped_coordinates_are_set_aside_and_nothing_else() -> None:
    outlets = airport_outlets()
    for seed in range(3):
        ids = set(random.Random(seed).sample(outlets["CustomerId"].to_list(), 30))
        found = flagged(swapped(outlets, sorted(ids)), NOT_ROUTED)
        assert found == ids, seed
