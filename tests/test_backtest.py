"""`visitrank backtest`: no look-ahead (nothing dated on or after the cut-off is ever scored)
and the side-by-side report."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from adapters.file_source import FileSource
from scoring.config import ScoringConfig
from visitrank import backtest as bt
from visitrank.demo_data import DemoSpec, write_demo

SPEC = DemoSpec(outlets=200, reps=4, skus=24, weeks=40, areas=2, seed=5)
AT = SPEC.end_date - timedelta(days=7 * 6 - 1)  # a Monday six weeks before the end


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backtest_demo")
    write_demo(SPEC, folder)
    return folder


def test_cut_tables_drops_every_row_on_or_after_the_cut_off(source: Path) -> None:
    tables = FileSource(source).read_all()
    cut = bt.cut_tables(tables, AT)
    assert cut["MV_Sales"]["SaleDate"].max() < AT  # type: ignore[operator]
    assert cut["MV_Visit"]["VisitDate"].max() < AT  # type: ignore[operator]
    kept = set(cut["MV_Sales"]["SaleId"].to_list())
    assert set(cut["MV_SalesDetail"]["SaleId"].to_list()) <= kept
    assert cut["MV_SalesDetail"].height < tables["MV_SalesDetail"].height


def test_rows_after_the_cut_off_change_nothing(source: Path, tmp_path: Path) -> None:
    config = ScoringConfig()
    tables = FileSource(source).read_all()
    base = bt.score_as_of(tables, AT, config, tmp_path / "a")
    # a huge sale and a visit on the cut-off day and later must not move any score
    sales, detail = tables["MV_Sales"], tables["MV_SalesDetail"]
    customer = sales["CustomerId"][0]
    item = detail["ItemId"][0]
    new_id = int(sales["SaleId"].max()) + 1  # type: ignore[arg-type]
    extra_sales = pl.DataFrame(
        {
            "SaleId": [new_id, new_id + 1],
            "CustomerId": [customer] * 2,
            "SaleDate": [AT, AT + timedelta(days=3)],
            "RepId": [sales["RepId"][0]] * 2,
        },
        schema=sales.schema,
    )
    extra_detail = pl.DataFrame(
        {
            "SaleId": [new_id, new_id + 1],
            "ItemId": [item] * 2,
            "Quantity": [1e4, 1e4],
            "Amount": [1e6, 1e6],
        },
        schema=detail.schema,
    ).select(detail.columns)
    visits = tables["MV_Visit"]
    extra_visit = visits.head(1).with_columns(
        pl.lit(AT).alias("VisitDate"), (pl.col("VisitId") + 10**7).alias("VisitId")
    )
    future = {
        **tables,
        "MV_Sales": pl.concat([sales, extra_sales]),
        "MV_SalesDetail": pl.concat([detail, extra_detail]),
        "MV_Visit": pl.concat([visits, extra_visit]),
    }
    again = bt.score_as_of(future, AT, config, tmp_path / "b")
    assert again.as_of < AT
    assert again.outlets.equals(base.outlets)
    assert again.skus.equals(base.skus)
    assert again.pairs.equals(base.pairs)


def test_scoring_never_sees_a_row_after_the_cut_off(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[date] = []
    original = bt.score_region

    def spy(inputs, window, config):  # type: ignore[no-untyped-def]
        seen.append(inputs.lines["SaleDate"].max())
        return original(inputs, window, config)

    monkeypatch.setattr(bt, "score_region", spy)
    bt.score_as_of(FileSource(source).read_all(), AT, ScoringConfig(), tmp_path)
    assert seen and all(day < AT for day in seen)


def test_backtest_reports_every_method_side_by_side(source: Path) -> None:
    report = bt.backtest(source, AT, 4, ScoringConfig())
    methods = report["methods"]
    assert set(methods) == {"visitrank", "segmentMean", "topRevenue", "longestSinceVisit", "random"}
    for name in ("visitrank", "segmentMean"):
        assert 0.0 <= methods[name]["precision"] <= 1.0
        assert -1.0 <= methods[name]["spearman"] <= 1.0
    table = bt.format_table(report)
    assert "segmentMean" in table and "random" in table
