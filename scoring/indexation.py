"""Indexation: actual vs expected sales of every outlet x SKU, and the money gap.

Index = 100 x actual / expected. Under 100 the outlet sells less than comparable outlets
(untapped potential), over 100 more (saturated). The expected revenue of SKU s is predicted from
the outlet's *other* purchases — rest x b / (1 - b) with b the benchmark share — so a gap on s
does not shrink its own expectation. With `own_history`, what the outlet itself used to give the
SKU is expected too, and the larger expectation wins.

The gap is measured over the whole look-back window and over its last `recent_weeks` (a listing
lost two months ago is diluted in six months of history); the larger weekly gap is kept, with the
actual, expected and index of that window. Each gap is discounted for noise: a shortfall within
`noise_z` standard deviations of a Poisson count of the expected units is no gap (within
`recent_noise_z` in the recent window, whose few weeks of lumpy orders vary more). A SKU the outlet
never bought is only as credible a gap as it is common among its peers (carry rate ** power).
"""

from __future__ import annotations

import polars as pl

from scoring.config import ScoringConfig
from scoring.exact import exact_sum
from scoring.own_history import MAX_OWN_SHARE, MAX_TREND, MIN_TREND

PEERS = "peers"
OWN_HISTORY = "own history"
SEASON_GROUP = ("AreaId", "Channel")
"""The pooling of the recent season factor (`with_recent_season`)."""


def peer_ratio(config: ScoringConfig) -> pl.Expr:
    """Expected revenue of the SKU per unit of the outlet's other purchases, from its peers:
    the segment median share (BenchmarkShare) or the learned share (LearnedShare)."""
    if config.benchmark == "learned":
        # LearnedShare is the expected revenue over the outlet's whole window revenue, learned
        # from its other purchases (it can exceed 1 when the outlet lost a big SKU)
        share = pl.col("Share")
        learned = pl.when(share < 1.0).then(pl.col("LearnedShare") / (1.0 - share)).otherwise(0.0)
        b = pl.col("BenchmarkShare")
        segment = b / (1.0 - b)
        if config.learned_combine == "min":
            ratio = pl.min_horizontal(learned, segment)
        elif config.learned_combine == "geomean":
            ratio = (learned * segment).sqrt()
        else:
            ratio = learned
    else:
        b = pl.col("BenchmarkShare")
        ratio = b / (1.0 - b)
    if config.subcategory_benchmark:
        c = pl.col("SubBenchmarkShare")
        rest = pl.col("Total") - pl.col("Revenue")
        sub_ratio = pl.when(rest > 0).then(
            (pl.col("SubTotal") - pl.col("Revenue")) / rest * c / (1.0 - c)
        )
        ratio = pl.min_horizontal(ratio, sub_ratio.fill_null(ratio))
    return ratio


def expected_share_column(config: ScoringConfig) -> str:
    """The grid column holding the peer expectation of the SKU's share."""
    return "LearnedShare" if config.benchmark == "learned" else "BenchmarkShare"


def own_ratio() -> pl.Expr:
    """The same ratio from the outlet's own prior share (0 without one)."""
    own = pl.col("OwnShare").fill_null(0.0)
    return own / (1.0 - own)


def with_recent_season(
    frame: pl.DataFrame,
    group: list[str],
    subcategory: bool = False,
    group_totals: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """`frame` with `_season`: how much larger the SKU's pooled share is in the recent window
    than in the whole window among the outlets of `group` (seasonality, launches); it scales the
    expectation of the recent window, whose shares were benchmarked on the whole window. Also
    `_trend`, the same against the weeks before the recent ones, and with `subcategory`
    `_sub_trend`, that of the SKU's subcategory.

    The pooled sums are aggregated once per group and joined back (four window expressions
    over the whole grid took ~4x longer); exact sums, so the same values in any order.
    `group_totals` (`group`, RecentRevenue, Revenue: the sums of every SKU) are the per-group
    sums when `frame` holds only some of the SKUs (a batch of the grid)."""
    by_sku = [*group, "ItemId"]
    by_sub = [*group, "SubCategoryId"]
    # on the key and revenue columns only, then attached: joining the wide frame copies it
    keys = [*by_sku, "SubCategoryId"] if subcategory else by_sku
    narrow = frame.select(*keys, "RecentRevenue", "Revenue")
    per_sku = narrow.group_by(by_sku).agg(_rs=exact_sum("RecentRevenue"), _ws=exact_sum("Revenue"))
    per_group = (
        narrow.group_by(group).agg(_rg=exact_sum("RecentRevenue"), _wg=exact_sum("Revenue"))
        if group_totals is None
        else group_totals.select(*group, _rg="RecentRevenue", _wg="Revenue")
    )
    recent = pl.col("_rs") / pl.col("_rg")
    whole = pl.col("_ws") / pl.col("_wg")
    early = (pl.col("_ws") - pl.col("_rs")) / (pl.col("_wg") - pl.col("_rg"))
    sub_recent = pl.col("_rb") / pl.col("_rg")
    sub_early = (pl.col("_wb") - pl.col("_rb")) / (pl.col("_wg") - pl.col("_rg"))

    def trend(now: pl.Expr, before: pl.Expr) -> pl.Expr:
        return (
            pl.when(before > 0)
            .then(now / before)
            .otherwise(1.0)
            .fill_nan(1.0)
            .clip(MIN_TREND, MAX_TREND)
        )

    pooled = narrow.select(keys).join(
        per_sku, on=by_sku, how="left", nulls_equal=True, maintain_order="left"
    )
    columns = {
        "_season": pl.when(whole > 0).then(recent / whole).otherwise(1.0).fill_nan(1.0),
        "_trend": trend(recent, early),
    }
    if subcategory:
        per_sub = narrow.group_by(by_sub).agg(
            _rb=exact_sum("RecentRevenue"), _wb=exact_sum("Revenue")
        )
        pooled = pooled.join(
            per_sub, on=by_sub, how="left", nulls_equal=True, maintain_order="left"
        )
        columns["_sub_trend"] = trend(sub_recent, sub_early)
    pooled = pooled.join(per_group, on=group, how="left", nulls_equal=True, maintain_order="left")
    return frame.with_columns(pooled.select(**columns))


def subcategory_shortfall(share: pl.Expr, total: str, sub_total: str, weeks: float) -> pl.Expr:
    """Weekly revenue the SKU's subcategory is short of the outlet's own expected subcategory
    `share` of its purchases (`total`); 0 when it sells at least that. Measured on the share
    itself, not on the rest of the purchases as a SKU is: a subcategory can be most of an
    outlet's business, and share / (1 - share) then turns small share errors into large
    expectations."""
    expected = pl.col(total) * share.clip(0.0, MAX_OWN_SHARE)
    return ((expected - pl.col(sub_total)) / weeks).clip(lower_bound=0.0)


def shared_cap(gap: pl.Expr, capped: pl.Expr, cap: pl.Expr) -> pl.Expr:
    """`gap` where the `capped` gaps of an outlet's subcategory together take at most `cap`
    (the subcategory's shortfall, one value per outlet x subcategory): scaled down in
    proportion when they claim more. One lost SKU gets at most the subcategory's loss; two
    SKUs replaced by a third share what the subcategory really lost."""
    claimed = pl.when(capped).then(gap).otherwise(0.0).sum().over("CustomerId", "SubCategoryId")
    factor = pl.when(claimed > cap).then(cap / claimed).otherwise(1.0)
    return pl.when(capped).then(gap * factor).otherwise(gap)


def window_gap(
    revenue: str,
    total: str,
    weeks: float,
    config: ScoringConfig,
    scale: pl.Expr | None = None,
    noise_z: float | None = None,
    ratio: pl.Expr | None = None,
    variance_factor: pl.Expr | None = None,
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(weekly actual, weekly expected, weekly noise-discounted gap in money) over one window;
    the expectation is the outlet's other purchases x `ratio` (default: the `_ratio` column)
    x `scale`; `noise_z` defaults to the config's. The noise is Poisson on the expected units,
    its variance times `variance_factor` (default 1) when the expectation is itself a count."""
    expected = (pl.col(total) - pl.col(revenue)) * (pl.col("_ratio") if ratio is None else ratio)
    if scale is not None:
        expected = expected * scale
    price = pl.col("UnitPrice")
    expected_units = expected / price
    shortfall = (
        expected_units
        - pl.col(revenue) / price
        - (config.noise_z if noise_z is None else noise_z)
        * (expected_units if variance_factor is None else expected_units * variance_factor).sqrt()
    ).clip(lower_bound=0.0)
    gap = pl.when(price > 0).then(shortfall * price / weeks).otherwise(0.0)
    return pl.col(revenue) / weeks, expected / weeks, gap


def index_scores(
    benchmarked: pl.DataFrame,
    items: pl.DataFrame,
    weeks: float,
    config: ScoringConfig,
    recent_weeks: float | None = None,
    season_totals: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """CustomerId, ItemId, Actual, Expected (weekly revenue), IndexScore, GapValue (weekly,
    noise-discounted, credibility-weighted), OutletRevenue (the outlet's weekly revenue, all SKUs,
    over the same window as the gap), GapWindow (weeks of the window behind the figures),
    Basis ("peers" or "own history": which expectation was the larger),
    CarryRate, Peers, PeerLevel, BenchmarkShare (segment median), ExpectedShare (the peer share
    used: BenchmarkShare or, with `benchmark = "learned"`, LearnedShare), PeerRatio (the revenue
    of the SKU its peers imply per unit of the outlet's other purchases, before the outlet's own
    history is considered).

    `recent_weeks` (with RecentRevenue / RecentTotal columns) adds the recent window;
    `season_totals` (AreaId, Channel, RecentRevenue, Revenue over every SKU of the grid) when
    `benchmarked` is a batch of the grid (`scoring.grid`).
    IndexScore is null where nothing is expected (no peer sells the SKU)."""
    long_actual, long_expected, long_gap = window_gap("Revenue", "Total", weeks, config)
    columns = {
        "_a": long_actual,
        "_e": long_expected,
        "_g": long_gap,
        "_w": pl.lit(weeks),
        "_t": pl.col("Total") / weeks,
    }
    frame = benchmarked.join(
        items.select("ItemId", "UnitPrice"), on="ItemId", how="left", maintain_order="left"
    )
    if config.own_history:
        frame = frame.with_columns(_peer=peer_ratio(config), _own=own_ratio()).with_columns(
            _ratio=pl.max_horizontal("_peer", "_own"),
            _basis=pl.when(pl.col("_own") > pl.col("_peer"))
            .then(pl.lit(OWN_HISTORY))
            .otherwise(pl.lit(PEERS)),
        )
    else:
        frame = frame.with_columns(_peer=peer_ratio(config)).with_columns(
            _ratio=pl.col("_peer"), _basis=pl.lit(PEERS)
        )
    frame = frame.with_columns(**columns)
    cap = config.substitution_cap and "OwnSubShare" in frame.columns
    if cap:
        # a gap against the outlet's own past is at most what its subcategory lost
        own_based = pl.col("_basis") == OWN_HISTORY
        long_cap = subcategory_shortfall(pl.col("OwnSubShare"), "Total", "SubTotal", weeks)
        frame = frame.with_columns(
            _g=shared_cap(pl.col("_g"), own_based & pl.col("OwnSubShare").is_not_null(), long_cap)
        )
    if recent_weeks:
        frame = with_recent_season(
            frame, list(SEASON_GROUP), subcategory=cap, group_totals=season_totals
        )
        ratio = pl.col("_ratio") * pl.col("_season")
        early_total = pl.col("Total") - pl.col("RecentTotal")  # the weeks before the recent
        if config.recent_own_baseline:
            # the pair's own share before the recent window, moved by the SKU's pooled trend:
            # a listing lost a few weeks ago is measured against the outlet's own past
            # (as a share clipped like the prior own share: an outlet whose early weeks hold
            # nothing else would have an unbounded ratio)
            early_share = (
                pl.when(early_total > 0)
                .then(
                    (pl.col("Revenue") - pl.col("RecentRevenue")) / early_total * pl.col("_trend")
                )
                .otherwise(0.0)
                .clip(0.0, MAX_OWN_SHARE)
            )
            early_ratio = early_share / (1.0 - early_share)
            early_wins = early_ratio > ratio
            frame = frame.with_columns(
                _recent_basis=pl.when(early_wins).then(pl.lit(OWN_HISTORY)).otherwise("_basis")
            )
            ratio = pl.max_horizontal(ratio, early_ratio)
            # an expectation counted on the early weeks is noisy too: the variance of
            # (recent - expected) is the recent count's plus the early count's, rescaled
            early_weeks = max(weeks - recent_weeks, 1.0)
            variance = pl.when(early_wins).then(1.0 + recent_weeks / early_weeks).otherwise(1.0)
        else:
            frame = frame.with_columns(_recent_basis="_basis")
            variance = None
        short_actual, short_expected, short_gap = window_gap(
            "RecentRevenue",
            "RecentTotal",
            recent_weeks,
            config,
            noise_z=config.recent_noise_z,
            ratio=ratio,
            variance_factor=variance,
        )
        if cap:
            # the same cap in the recent window: its subcategory against the outlet's own
            # earlier weeks (or its prior share), the larger of the two expectations
            frame = frame.with_columns(
                RecentSubTotal=exact_sum("RecentRevenue").over("CustomerId", "SubCategoryId")
            )
            early_sub = pl.when(early_total > 0).then(
                (pl.col("SubTotal") - pl.col("RecentSubTotal")) / early_total
            ).otherwise(0.0) * pl.col("_sub_trend")
            own_sub = pl.max_horizontal(early_sub, pl.col("OwnSubShare").fill_null(0.0))
            recent_cap = subcategory_shortfall(
                own_sub, "RecentTotal", "RecentSubTotal", recent_weeks
            )
            short_gap = shared_cap(short_gap, pl.col("_recent_basis") == OWN_HISTORY, recent_cap)
        short_wins = short_gap > pl.col("_g")
        frame = frame.with_columns(
            [
                pl.when(short_wins).then(short).otherwise(pl.col(name)).alias(name)
                for name, short in (
                    ("_a", short_actual),
                    ("_e", short_expected),
                    ("_g", short_gap),
                    ("_w", pl.lit(recent_weeks)),
                    ("_t", pl.col("RecentTotal") / recent_weeks),
                    ("_basis", pl.col("_recent_basis")),
                )
            ]
        )
    credibility = pl.col("CarryRate").fill_null(0.0) ** config.carry_rate_power
    if config.own_history:
        # a SKU the outlet has bought before is a known listing, fully credible
        credibility = pl.when(pl.col("OwnShare") > 0).then(1.0).otherwise(credibility)
    return frame.select(
        "CustomerId",
        "ItemId",
        Actual="_a",
        Expected="_e",
        IndexScore=pl.when(pl.col("_e") > 0).then(100.0 * pl.col("_a") / pl.col("_e")),
        GapValue=pl.col("_g") * credibility,
        OutletRevenue="_t",
        GapWindow="_w",
        Basis="_basis",
        CarryRate="CarryRate",
        Peers="Peers",
        PeerLevel="PeerLevel",
        BenchmarkShare="BenchmarkShare",
        ExpectedShare=expected_share_column(config),
        PeerRatio="_peer",
    )
