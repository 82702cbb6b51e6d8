"""The outlet x SKU grid in batches of SKUs (scoring/grid.py), computed by hand on a small
region: which rows and SKUs it holds, the totals that span every SKU, and the batches."""

import numpy as np
import polars as pl
import pytest

from scoring.grid import grid_cells, grid_plan, grid_rows, outlet_sku_grid

# outlets 1 and 2 bought in the window; outlet 3 did not (not in the grid)
SEGMENTS = pl.DataFrame(
    {
        "CustomerId": [1, 2, 3],
        "AreaId": [7, 7, 7],
        "Channel": ["x", "y", "x"],
        "Behaviour": [0, 0, 0],
        "VolumeTier": [1, 2, 2],
        "Revenue": [100.0, 50.0, 0.0],
    }
)
# SKUs 10 and 11 are subcategory 1, 12 subcategory 2; 13 sold nothing (not in the grid)
ITEMS = pl.DataFrame({"ItemId": [10, 11, 12, 13], "SubCategoryId": [1, 1, 2, 3]})
TOTALS = pl.DataFrame(
    {
        "CustomerId": [1, 1, 2, 2],
        "ItemId": [10, 12, 11, 13],
        "Revenue": [60.0, 40.0, 50.0, 0.0],
        "RecentRevenue": [20.0, 10.0, -5.0, 0.0],  # a net return counts as 0
    }
)


def test_the_plan_holds_the_active_outlets_the_sold_skus_and_the_totals_over_every_sku() -> None:
    plan = grid_plan(SEGMENTS, TOTALS, ITEMS)
    assert plan.outlets["CustomerId"].to_list() == [1, 2]
    assert plan.outlets["Total"].to_list() == [100.0, 50.0]
    assert plan.outlets["_RecentTotal"].to_list() == [30.0, 0.0]  # 20 + 10; -5 clipped
    assert plan.items["ItemId"].to_list() == [10, 11, 12]
    assert plan.height == 6
    season = plan.season_totals.sort("Channel")
    assert season.rows() == [(7, "x", 30.0, 100.0), (7, "y", 0.0, 50.0)]


@pytest.mark.parametrize(
    ("batch_rows", "batches"),
    [
        (None, [[0, 1, 2]]),
        (6, [[0, 1, 2]]),
        (4, [[0, 1], [2]]),  # 2 SKUs per batch: subcategory 1, then subcategory 2
        (2, [[0, 1], [2]]),  # 1 SKU per batch, but a subcategory is never split
    ],
)
def test_batches_hold_whole_subcategories_within_the_rows(
    batch_rows: int | None, batches: list[list[int]]
) -> None:
    plan = grid_plan(SEGMENTS, TOTALS, ITEMS, batch_rows)
    assert [batch.tolist() for batch in plan.batches] == batches


def test_a_batch_is_the_whole_grid_s_rows_of_its_skus() -> None:
    plan = grid_plan(SEGMENTS, TOTALS, ITEMS, batch_rows=4)
    whole = outlet_sku_grid(SEGMENTS, TOTALS, ITEMS)
    second = grid_rows(plan, TOTALS, plan.batches[1])
    assert second.equals(whole.filter(pl.col("ItemId") == 12))
    # the outlet's recent total spans the SKUs of the other batch
    assert second["RecentTotal"].to_list() == [30.0, 0.0]
    assert second["Share"].to_list() == [0.4, 0.0]
    # where each batch row sits in the whole grid (outlet-major, 3 SKUs per outlet)
    assert plan.positions(plan.batches[1]).tolist() == [2, 5]
    assert plan.positions(plan.batches[0]).tolist() == [0, 1, 3, 4]
    rows = np.concatenate([plan.positions(b) for b in plan.batches])
    assert sorted(rows.tolist()) == list(range(plan.height))


def test_the_bought_cells_are_the_sparse_part_of_the_grid() -> None:
    plan = grid_plan(SEGMENTS, TOTALS, ITEMS)
    cells = grid_cells(plan, TOTALS).sort("CustomerId", "ItemId")
    assert cells.select("CustomerId", "ItemId", "Share").rows() == [
        (1, 10, 0.6),
        (1, 12, 0.4),
        (2, 11, 1.0),
    ]
