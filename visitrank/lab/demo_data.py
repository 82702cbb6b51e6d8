"""Seeded, realistic demo data: every MV_ contract table plus the planted ground truth.

Why: visitrank must be demonstrable without a customer's ERP and testable against a known
answer. The generator builds a drinks company's field-sales world (areas, cities, outlets with
a hidden taste and size, reps with contiguous territories, a SKU catalogue with price tiers
and seasonality), simulates `weeks` of orders and visits, then *plants* opportunities
(outlet x SKU pairs depressed far below their natural rate) and a few bad rows. The engine is
expected to rank the planted gaps and quarantine the bad rows; ``truth/`` records both. With
``visit_effect`` > 0 it also plants a visit response: every outlet gets a hidden responsiveness
and its orders in the ``VISIT_EFFECT_WEEKS`` weeks after a visit are larger (``truth/outlets``
records it); the default (0) leaves the data exactly as without the option. With ``conversion``
> 0 a visit can *close* a planted gap: at every visit on or after the gap's start, each open
planted gap of the outlet closes (its orders return to the natural rate from the next day) with a
probability that depends on what a model can see: the base ``conversion`` times the channel's
and the SKU price tier's multiplier (``CHANNEL_CONVERSION``, ``TIER_CONVERSION``). ``truth/``
then records every gap's ConversionProbability and ClosedDate; the gaps still open at the end
are the opportunities, and a visit's planted value is gap x probability. With ``dips`` > 0 outlets
also go through passing stock-outs: a carried SKU is not ordered for ``DIP_WEEKS`` weeks, then
comes back by itself. A dip is not an opportunity (it is not in ``truth/``): a list that pushes
it pushes a false gap.

The optional planning inputs of the contract are generated too (``_planning_inputs``), from a
stream of their own so that every other table is exactly what it was without them: each rep's
home near one of their outlets, each outlet's visit length and frequency by its size, opening
hours for most bars and some shops (a closed day, split shifts), a few appointments in the
first planned week and a few exclusions; with a few bad rows (``_bad_planning_rows``).

Everything is vectorised numpy/polars and fully determined by ``DemoSpec.seed``.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from visitrank.contract.tables import ALL_TABLES, OPTIONAL_TABLES
from visitrank.lab import demo_geography as dg
from visitrank.lab import portable_math as pm

LEVELS = ("value", "mainstream", "premium")  # SKU price tier and outlet taste share this order
SIZE_TIERS = ("small", "medium", "large")
# TASTE_AFFINITY[outlet taste, sku tier]: how strongly a taste buys each price tier.
TASTE_AFFINITY = np.array([[1.8, 0.9, 0.1], [0.6, 1.4, 0.5], [0.15, 1.0, 1.6]])
N_NO_GPS = 5
VISIT_EFFECT_WEEKS = 4  # weeks after a visit whose orders the planted visit effect lifts
CHANNEL_CONVERSION = np.array([0.5, 1.5])  # [off-trade, on-trade]: a gap's per-visit conversion
TIER_CONVERSION = np.array([1.4, 1.0, 0.6])  # [value, mainstream, premium] SKU tier multiplier
MAX_CONVERSION = 0.95
NEVER = np.iinfo(np.int64).max // 4  # the close day of a gap that never closes
DIP_WEEKS = (6, 12)  # a passing stock-out lasts this many weeks (uniform, inclusive)
HOME_JITTER_DEGREES = 0.03  # a rep's home: one of their outlets moved by ~3 km (normal sd)
VISIT_MINUTES = np.array([15.0, 25.0, 40.0])  # per size tier (small, medium, large)
VISIT_EVERY_WEEKS = np.array([4, 2, 1])  # per size tier: monthly, fortnightly, weekly
ON_TRADE_WITH_HOURS = 0.8  # share of bars, cafés and restaurants with opening hours
OFF_TRADE_WITH_HOURS = 0.4  # share of shops with opening hours (the others: always open)
BARS = 0.35  # of the on-trade outlets with hours, those open in the evening only
PINS_PER_REP = 0.5  # appointments in the first planned week, per rep (at least 3)
EXCLUSIONS = 6  # outlets a rep must not visit yet (one more whose exclusion is over)
OPENING_PATTERNS = {
    # pattern: (weekdays, [(opens, closes), ...]), ISO weekdays, "HH:MM"
    "bar": (range(2, 8), [("16:00", "23:00")]),  # closed on Monday
    "restaurant": (range(2, 8), [("10:00", "23:00")]),  # closed on Monday
    "shop": (range(1, 7), [("08:00", "12:30"), ("14:00", "19:00")]),  # split shift, no Sunday
}


@dataclass(frozen=True)
class DemoSpec:
    """Size and shape of the demo world; the same spec always yields the same data."""

    outlets: int = 2000
    reps: int = 20
    skus: int = 120
    weeks: int = 104  # weeks of order history
    areas: int = 4  # regions (MV_SetupArea)
    seed: int = 7
    end_date: date = date(2026, 11, 15)  # a Sunday: last day of history
    file_format: Literal["parquet", "csv"] = "parquet"
    # relative lift of the orders in the VISIT_EFFECT_WEEKS weeks after a visit, times the
    # outlet's hidden responsiveness (uniform 0..2, mean 1); 0 = visits do not move sales
    visit_effect: float = 0.0
    # base probability that a visit closes each open planted gap of the outlet (times the
    # channel and tier multipliers); 0 = visits never close gaps
    conversion: float = 0.0
    # passing stock-outs per outlet per year (each on one carried SKU, DIP_WEEKS long, not in
    # truth: a gap that comes back by itself); 0 = none
    dips: float = 0.0
    # yearly hazard of a listing being replaced: from a random day the outlet stops a carried
    # SKU and buys another of the same subcategory and tier instead, at the same spend (not in
    # truth: a list that pushes the stopped SKU pushes a false gap). 1.0 gives 11% of a
    # half-year's listings not bought in the next half-year (real stores: 12.5%,
    # docs/real-data.md); 0 = the range never changes (the default)
    churn: float = 0.0

    def __post_init__(self) -> None:
        if self.areas < 1 or self.reps < self.areas:
            raise ValueError("need at least one area and at least one rep per area")
        if self.outlets < max(50, 10 * self.reps):
            raise ValueError("need at least 50 outlets and 10 outlets per rep")
        if self.skus < 12 or self.weeks < 12:
            raise ValueError("need at least 12 SKUs and 12 weeks of history")
        if self.file_format not in ("parquet", "csv"):
            raise ValueError(f"unknown file_format {self.file_format!r}")
        if not 0.0 <= self.visit_effect <= 5.0:
            raise ValueError(f"visit_effect {self.visit_effect} is not within 0..5")
        if not 0.0 <= self.conversion <= 1.0:
            raise ValueError(f"conversion {self.conversion} is not within 0..1")
        if not 0.0 <= self.dips <= 12.0:
            raise ValueError(f"dips {self.dips} is not within 0..12 per outlet and year")
        if not 0.0 <= self.churn <= 5.0:
            raise ValueError(f"churn {self.churn} is not a yearly hazard within 0..5")

    @property
    def start_date(self) -> date:
        """First day of history: ``weeks`` whole weeks ending on ``end_date``."""
        return self.end_date - timedelta(days=7 * self.weeks - 1)


@dataclass(frozen=True)
class DemoSummary:
    """What ``write_demo`` wrote: row counts, the planted truth in brief, and every path."""

    out_dir: Path
    row_counts: dict[str, int]
    planted_opportunities: int
    planted_outlets: int
    planted_value_per_week: float
    bad_rows: dict[str, Any]
    table_paths: dict[str, Path]
    truth_paths: dict[str, Path]
    closed_opportunities: int = 0  # planted gaps a visit closed before the end (``conversion``)


@dataclass(frozen=True)
class _World:
    """Hidden per-outlet state (index = outlet position, CustomerId = base + position)."""

    area: np.ndarray
    owner: np.ndarray  # rep index
    rep_area: np.ndarray
    on_trade: np.ndarray
    taste: np.ndarray
    size_tier: np.ndarray
    volume: np.ndarray  # natural units per week (seasonality averages to 1)
    rate: np.ndarray  # outlets x skus natural weekly rate, 0 where not carried
    core: np.ndarray  # outlets x skus: inside the range its segment and size would carry
    visit_interval: np.ndarray  # weeks; inf for never-visited outlets
    no_gps: np.ndarray  # outlet positions with nulled coordinates


def _rates(
    rng: np.random.Generator,
    cat: dg.Catalogue,
    on_trade: np.ndarray,
    taste: np.ndarray,
    volume: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Natural weekly rate per outlet x SKU: popularity x taste x channel x idiosyncratic
    lognormal (sigma 0.35) on the carried range, scaled so each row sums to the outlet volume.
    The range is the segment's best sellers (popularity x taste x channel), broader for bigger
    outlets: carry probability rises with size and with the SKU's appeal, with a soft edge.
    Returns (rate, core) where core marks SKUs inside the outlet's expected range (p >= 0.5)."""
    n, s = len(volume), len(cat.price)
    appeal = (
        cat.popularity[None, :]
        * TASTE_AFFINITY[taste][:, cat.tier]
        * cat.channel_mult[np.where(on_trade, 0, 1)]
    )
    rank = np.argsort(np.argsort(-appeal, axis=1, kind="stable"), axis=1, kind="stable")
    breadth = s * np.clip(0.18 * pm.power(volume / np.median(volume), 0.7), 0.06, 0.85)
    p_carry = 1.0 / (1.0 + pm.exp((rank - breadth[:, None]) / (0.08 * s + 1.0)))
    carry = (rng.random((n, s)) < p_carry) | (rank < 5)  # everyone stocks its five best sellers
    pref = np.where(carry, appeal * rng.lognormal(-(0.35**2) / 2, 0.35, (n, s)), 0.0)
    return volume[:, None] * pref / pref.sum(axis=1, keepdims=True), p_carry >= 0.5


def _build_world(
    spec: DemoSpec, rngs: list[np.random.Generator], cat: dg.Catalogue
) -> tuple[_World, dict[str, pl.DataFrame]]:
    geo = dg.build_geography(rngs[0], spec.areas)
    min_per_area = spec.outlets // (2 * spec.areas)  # areas within 2x of the mean size
    area, city, lat, lon = dg.place_outlets(rngs[0], geo, spec.outlets, min_per_area)
    owner, rep_area = dg.assign_reps(rngs[0], area, lat, lon, spec.reps)
    rng = rngs[1]
    n = spec.outlets
    on_trade = rng.random(n) < 0.55
    taste = rng.choice(3, n, p=[0.3, 0.45, 0.25])
    volume = rng.lognormal(math.log(38.0), 0.75, n)
    size_tier = np.digitize(volume, np.quantile(volume, [0.2, 0.85]))
    rate, core = _rates(rng, cat, on_trade, taste, volume)
    lo, hi = np.array([6.0, 4.0, 2.0])[size_tier], np.array([12.0, 8.0, 4.0])[size_tier]
    visit_interval = rng.uniform(lo, hi)
    visit_interval[rng.choice(n, round(0.1 * n), replace=False)] = np.inf
    no_gps = np.sort(rng.choice(n, N_NO_GPS, replace=False))
    lat_out, lon_out = lat.copy(), lon.copy()
    lat_out[no_gps] = np.nan
    lon_out[no_gps] = np.nan
    names = dg.outlet_names(rngs[2], on_trade)
    tables = {
        "MV_SetupArea": dg.frame(
            "MV_SetupArea",
            {"AreaId": dg.ID_BASE["area"] + np.arange(spec.areas), "AreaName": geo.area_names},
        ),
        "MV_SetupCity": dg.frame(
            "MV_SetupCity",
            {
                "CityId": dg.ID_BASE["city"] + np.arange(len(geo.city_names)),
                "CityName": geo.city_names,
                "AreaId": dg.ID_BASE["area"] + geo.city_area,
            },
        ),
        "MV_SetupRep": dg.frame(
            "MV_SetupRep",
            {
                "RepId": dg.ID_BASE["rep"] + np.arange(spec.reps),
                "RepName": dg.person_names(rngs[2], spec.reps),
                "AreaId": dg.ID_BASE["area"] + rep_area,
            },
        ),
        "MV_SetupCustomer": dg.frame(
            "MV_SetupCustomer",
            {
                "CustomerId": dg.ID_BASE["customer"] + np.arange(n),
                "CustomerName": names,
                "CityId": dg.ID_BASE["city"] + city,
                "AreaId": dg.ID_BASE["area"] + area,
                "Latitude": lat_out,
                "Longitude": lon_out,
                "Channel": np.where(on_trade, "ON_TRADE", "OFF_TRADE"),
                "RepId": dg.ID_BASE["rep"] + owner,
            },
        ).with_columns(pl.col("Latitude", "Longitude").fill_nan(None)),
    }
    world = _World(
        area,
        owner,
        rep_area,
        on_trade,
        taste,
        size_tier,
        volume,
        rate,
        core,
        visit_interval,
        no_gps,
    )
    return world, tables


def _plant(
    rng: np.random.Generator, spec: DemoSpec, w: _World
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pick ~35% of outlets (weighted towards rarely/never visited, never the no-GPS ones) and
    1-4 SKUs each among those in the top 40% of its carried SKUs by natural rate that are also
    in its segment's core range (so peers sell them); returns (outlet, sku, factor, start week)."""
    n = spec.outlets
    interval = np.where(np.isinf(w.visit_interval), 14.0, w.visit_interval)
    # stable sorts: numpy's default one orders ties (the never-visited outlets) by CPU
    neglect = np.argsort(np.argsort(interval, kind="stable"), kind="stable") / (n - 1)
    weight = 1.0 + 1.5 * neglect + 1.0 * np.isinf(w.visit_interval)
    weight[w.no_gps] = 0.0
    chosen = np.sort(rng.choice(n, round(0.35 * n), replace=False, p=weight / weight.sum()))
    r = w.rate[chosen]
    n_carried = (r > 0).sum(axis=1)
    rank = np.argsort(np.argsort(-r, axis=1, kind="stable"), axis=1, kind="stable")
    n_top = np.floor(0.4 * n_carried).astype(np.int64)
    candidate = (rank < n_top[:, None]) & w.core[chosen]
    keys = np.where(candidate, rng.random(r.shape), np.inf)
    k = np.minimum(rng.integers(1, 5, len(chosen)), candidate.sum(axis=1))
    picked = np.argsort(keys, axis=1, kind="stable")
    mask = np.arange(r.shape[1])[None, :] < k[:, None]
    outlet = np.repeat(chosen, k)
    sku = picked[mask]
    factor = np.round(rng.uniform(0.0, 0.2, len(sku)), 3)
    late = rng.random(len(sku)) >= 0.7
    start_week = np.where(late, spec.weeks - rng.integers(8, min(41, spec.weeks), len(sku)), 0)
    return outlet, sku, factor, start_week


def _expand(owner: np.ndarray, per_group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per (row, member of its group): (the row, the member's position), where row i
    belongs to group ``owner[i]`` and the members are stored group after group, ``per_group``
    of each (e.g. every carried pair of an order's outlet, every visit of a gap's outlet)."""
    first = np.cumsum(per_group) - per_group
    count = per_group[owner]
    row = np.repeat(np.arange(len(owner)), count)
    member = (
        np.repeat(first[owner], count)
        + np.arange(count.sum())
        - np.repeat(np.cumsum(count) - count, count)
    )
    return row, member


def conversion_probability(conversion: float, on_trade: np.ndarray, tier: np.ndarray) -> np.ndarray:
    """The planted per-visit probability that a visit closes a gap: the base times the outlet
    channel's and the SKU price tier's multiplier, capped at ``MAX_CONVERSION``."""
    p = conversion * CHANNEL_CONVERSION[on_trade.astype(np.int64)] * TIER_CONVERSION[tier]
    return np.minimum(p, MAX_CONVERSION)


def _conversions(
    rng: np.random.Generator,
    plant: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    schedule: tuple[np.ndarray, np.ndarray],
    probability: np.ndarray,
) -> np.ndarray:
    """Per planted gap, the day of the visit that closes it (``NEVER`` if none does): the
    first of its outlet's visits on or after the gap's start whose draw is under the gap's
    probability. One draw per (gap, visit) pair, so each visit is an independent chance."""
    outlet, _, _, start_week = plant
    visit_outlet, visit_day = schedule
    order = np.lexsort((visit_day, visit_outlet))
    visit_outlet, visit_day = visit_outlet[order], visit_day[order]
    n_outlets = int(max(outlet.max(initial=0), visit_outlet.max(initial=0))) + 1
    gap, at = _expand(outlet, np.bincount(visit_outlet, minlength=n_outlets))
    day = visit_day[at]
    closes = (day >= 7 * start_week[gap]) & (rng.random(len(gap)) < probability[gap])
    close_day = np.full(len(outlet), NEVER, dtype=np.int64)
    np.minimum.at(close_day, gap[closes], day[closes])
    return close_day


def _dips(
    rng: np.random.Generator,
    spec: DemoSpec,
    w: _World,
    plant: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Passing stock-outs: per outlet Poisson(``dips`` x years) episodes, each on a carried SKU
    drawn by its rate (the SKUs that matter), never a planted pair, one per pair, starting on a
    random day of the history and lasting ``DIP_WEEKS`` weeks. Returns (outlet, sku, first day,
    day after the last)."""
    n = len(w.volume)
    count = rng.poisson(spec.dips * spec.weeks / 52.0, n)
    outlet = np.repeat(np.arange(n), count)
    cumulative = np.cumsum(w.rate[outlet], axis=1)
    draw = rng.random(len(outlet)) * cumulative[:, -1]
    sku = np.minimum((cumulative < draw[:, None]).sum(axis=1), w.rate.shape[1] - 1)
    start = rng.integers(0, 7 * spec.weeks, len(outlet))
    end = start + 7 * rng.integers(DIP_WEEKS[0], DIP_WEEKS[1] + 1, len(outlet))
    planted = np.zeros(w.rate.shape, dtype=bool)
    planted[plant[0], plant[1]] = True
    _, first = np.unique(outlet * w.rate.shape[1] + sku, return_index=True)
    keep = np.zeros(len(outlet), dtype=bool)
    keep[first] = True
    keep &= ~planted[outlet, sku]
    return outlet[keep], sku[keep], start[keep], end[keep]


def _churn(
    rng: np.random.Generator,
    spec: DemoSpec,
    w: _World,
    cat: dg.Catalogue,
    plant: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[_World, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Natural range changes: each carried, unplanted pair is replaced with probability
    1 - exp(-``churn`` x years), on a random day, by a SKU of the same subcategory and price
    tier the outlet did not carry, drawn by its appeal to the outlet, at the same spend.
    Returns the world with the new SKUs' rates and the zero windows (outlet, sku, first day,
    day after the last) in the form of ``_dips``: the stopped SKU from the switch on, the new
    one before it."""
    rate = w.rate.copy()
    planted = np.zeros(rate.shape, dtype=bool)
    planted[plant[0], plant[1]] = True
    carried = (rate > 0) & ~planted
    p_switch = 1.0 - math.exp(-spec.churn * spec.weeks / 52.0)  # churn is a yearly hazard
    o, a = np.nonzero(carried & (rng.random(rate.shape) < p_switch))
    day = rng.integers(1, 7 * spec.weeks, len(o))
    # the replacement: a SKU of the same subcategory and price tier the outlet did not carry,
    # drawn by its appeal to the outlet (popularity x taste x channel, as its range was: a
    # premium outlet replaces a premium SKU by another); Gumbel-max, in blocks of switches
    sub = cat.tables["MV_SetupItem"]["SubCategoryId"].to_numpy()
    log_appeal = pm.log(
        cat.popularity[None, :]
        * TASTE_AFFINITY[w.taste][:, cat.tier]
        * cat.channel_mult[np.where(w.on_trade, 0, 1)]
    )
    new = np.full(len(o), -1, dtype=np.int64)
    block = max(1, 4_000_000 // rate.shape[1])
    for lo in range(0, len(o), block):  # a loop over blocks of switches, bounded memory
        oo, aa = o[lo : lo + block], a[lo : lo + block]
        score = log_appeal[oo] + rng.gumbel(size=(len(oo), rate.shape[1]))
        allowed = (
            (sub[None, :] == sub[aa][:, None])
            & (cat.tier[None, :] == cat.tier[aa][:, None])
            & (rate[oo] == 0)
        )
        score = np.where(allowed, score, -np.inf)
        pick = np.argmax(score, axis=1)
        new[lo : lo + block] = np.where(np.isfinite(score[np.arange(len(oo)), pick]), pick, -1)
    # two switches of an outlet that drew the same SKU: only the first is one
    _, once = np.unique(o * rate.shape[1] + new, return_index=True)
    claimed = np.zeros(len(o), dtype=bool)
    claimed[once] = True
    ok = claimed & (new >= 0)
    o, a, b, day = o[ok], a[ok], new[ok], day[ok]
    rate[o, b] = rate[o, a] * cat.price[a] / cat.price[b]  # the outlet's spend carries over
    windows = (
        np.concatenate([o, o]),
        np.concatenate([a, b]),
        np.concatenate([day, np.zeros(len(o), dtype=np.int64)]),
        np.concatenate([np.full(len(o), NEVER, dtype=np.int64), day]),
    )
    return replace(w, rate=rate), windows


def _merge_windows(
    first: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    second: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
    n_skus: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Zero windows of both (one per pair: a pair in both keeps `first`'s)."""
    if first is None or second is None:
        return first if second is None else second
    merged = [np.concatenate([x, y]) for x, y in zip(first, second, strict=True)]
    _, keep = np.unique(merged[0] * n_skus + merged[1], return_index=True)
    return merged[0][keep], merged[1][keep], merged[2][keep], merged[3][keep]


def _day_numbers(spec: DemoSpec, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(days since 1970-01-01, week of year 0..51) for day offsets from ``spec.start_date``."""
    epoch = (spec.start_date - date(1970, 1, 1)).days + day
    d64 = epoch.astype("datetime64[D]")
    doy = (d64 - d64.astype("datetime64[Y]")).astype(np.int64)
    return epoch, np.minimum(doy // 7, 51)


def _weekday_offsets(spec: DemoSpec) -> np.ndarray:
    """The five offsets within a history week (0..6) that fall on Monday-Friday."""
    wd = spec.start_date.weekday()
    return np.array([d for d in range(7) if (wd + d) % 7 < 5])


def _schedule(
    rng: np.random.Generator, spec: DemoSpec, interval: np.ndarray, jitter: float, p_pref: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recurring weekday events per outlet every ~``interval`` weeks (gaps >= 1 week, normal
    jitter); mostly on the outlet's preferred weekday. Returns (outlet, day offset, weeks since
    previous event) sorted by outlet then day; an inf interval means no events."""
    n, m = len(interval), spec.weeks + 1
    iv = np.where(np.isinf(interval), spec.weeks + 1.0, interval)[:, None]
    gaps = np.maximum(1, np.rint(iv + rng.normal(0.0, jitter, (n, m)) * iv)).astype(np.int64)
    week = (
        rng.integers(0, np.ceil(iv[:, 0]).astype(np.int64))[:, None]
        + np.cumsum(gaps, 1)
        - gaps[:, :1]
    )
    pref = rng.integers(0, 5, n)[:, None]
    dow = np.where(rng.random((n, m)) < p_pref, pref, rng.integers(0, 5, (n, m)))
    day = 7 * week + _weekday_offsets(spec)[dow]
    since = np.concatenate([gaps[:, :1].astype(float), np.diff(day, axis=1) / 7.0], axis=1)
    valid = (week < spec.weeks) & ~np.isinf(interval)[:, None]
    outlet, _ = np.nonzero(valid)
    return outlet, day[valid], since[valid]


def _orders(
    rng: np.random.Generator,
    spec: DemoSpec,
    w: _World,
    cat: dg.Catalogue,
    plant: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    lift: tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.random.Generator] | None = None,
    close_day: np.ndarray | None = None,
    dips: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Orders on a size-driven rhythm; a line per carried SKU with Poisson(rate x season x
    planted factor x weeks since previous order x visit lift) units, zero lines and empty
    orders dropped. ``lift`` = ((visit outlet, visit day), per-outlet lift, the lift's random
    stream): an order within ``VISIT_EFFECT_WEEKS`` weeks of the outlet's last visit (same day
    included) is larger by the outlet's lift, its extra units drawn from the lift's stream;
    None = no visit effect (the orders are computed exactly as without it).
    ``close_day`` (per planted gap, ``_conversions``): the planted factor applies up to that day
    only; None = gaps never close. ``dips`` (``_dips``): no units of the pair in its stock-out."""
    lo, hi = np.array([2.0, 1.0, 1.0])[w.size_tier], np.array([4.0, 2.0, 1.15])[w.size_tier]
    outlet, day, since = _schedule(rng, spec, rng.uniform(lo, hi), 0.35, 0.8)
    perm = np.lexsort((outlet, day))
    outlet, day, since = outlet[perm], day[perm], since[perm]
    epoch, woy = _day_numbers(spec, day)

    pair_o, pair_s = np.nonzero(w.rate > 0)
    pair_rate = w.rate[pair_o, pair_s]
    lookup = np.full(w.rate.shape, -1, dtype=np.int64)
    lookup[pair_o, pair_s] = np.arange(len(pair_o))
    pair_factor, pair_start = np.ones(len(pair_o)), np.full(len(pair_o), -1)
    pair_end = np.full(len(pair_o), NEVER, dtype=np.int64)
    planted = lookup[plant[0], plant[1]]
    pair_factor[planted], pair_start[planted] = plant[2], 7 * plant[3]
    if close_day is not None:
        pair_end[planted] = close_day
    dip_start = np.full(len(pair_o), NEVER, dtype=np.int64)
    dip_end = np.full(len(pair_o), NEVER, dtype=np.int64)
    if dips is not None:
        dipped = lookup[dips[0], dips[1]]
        dip_start[dipped], dip_end[dipped] = dips[2], dips[3]
    order_of, pidx = _expand(outlet, np.bincount(pair_o, minlength=len(w.volume)))
    sku = pair_s[pidx]
    lam = (
        pair_rate[pidx]
        * cat.season[sku, woy[order_of]]
        * since[order_of]
        * np.where(
            (day[order_of] >= pair_start[pidx]) & (day[order_of] <= pair_end[pidx]),
            pair_factor[pidx],
            1.0,
        )
    )
    extra = None
    if lift is not None:
        extra = lam * (_visit_lift(outlet, day, lift[0], lift[1]) - 1.0)[order_of]
    if dips is not None:
        in_dip = (day[order_of] >= dip_start[pidx]) & (day[order_of] < dip_end[pidx])
        lam = np.where(in_dip, 0.0, lam)
        extra = None if extra is None else np.where(in_dip, 0.0, extra)
    qty = rng.poisson(lam)
    discount = rng.uniform(0.0, 0.08, len(qty))  # per line, zero lines included
    if lift is not None and extra is not None:
        # a visit's extra units from the lift's own stream (Poisson(a) + Poisson(b) is
        # Poisson(a + b)): every draw of the orders stays what it is without the effect
        qty = qty + lift[2].poisson(extra)
    keep = qty > 0
    order_of, sku, qty = order_of[keep], sku[keep], qty[keep].astype(float)
    amount = np.round(qty * cat.price[sku] * (1.0 - discount[keep]), 2)

    has_line = np.bincount(order_of, minlength=len(outlet)) > 0
    # an order's id is its place in the schedule (empty orders leave a gap): an order that
    # gains or loses its only line does not renumber the others
    sale_id = dg.ID_BASE["sale"] + np.arange(len(outlet))
    n_rep_area = np.bincount(w.rep_area)
    area = w.area[outlet]
    other = (np.cumsum(n_rep_area) - n_rep_area)[area] + rng.integers(0, n_rep_area[area])
    rep = np.where(rng.random(len(outlet)) < 0.97, w.owner[outlet], other)
    sales = dg.frame(
        "MV_Sales",
        {
            "SaleId": sale_id[has_line],
            "CustomerId": dg.ID_BASE["customer"] + outlet[has_line],
            "SaleDate": epoch[has_line].astype("datetime64[D]"),
            "RepId": dg.ID_BASE["rep"] + rep[has_line],
        },
    )
    lines = dg.frame(
        "MV_SalesDetail",
        {
            "SaleId": sale_id[order_of],
            "ItemId": cat.item_id[sku],
            "Quantity": qty,
            "Amount": amount,
        },
    )
    return sales, lines


def _visit_lift(
    outlet: np.ndarray,
    day: np.ndarray,
    visits: tuple[np.ndarray, np.ndarray],
    per_outlet: np.ndarray,
) -> np.ndarray:
    """Per order (outlet, day): 1 + the outlet's lift when its last visit on or before the day
    is less than ``VISIT_EFFECT_WEEKS`` weeks earlier, else 1."""
    visit_outlet, visit_day = visits
    if visit_outlet.size == 0:
        return np.ones(len(outlet))
    span = int(max(day.max(initial=0), visit_day.max())) + 1
    keys = visit_outlet.astype(np.int64) * span + visit_day
    order = np.argsort(keys, kind="stable")
    keys, visit_outlet, visit_day = keys[order], visit_outlet[order], visit_day[order]
    last = np.searchsorted(keys, outlet.astype(np.int64) * span + day, side="right") - 1
    found = last >= 0
    last = np.maximum(last, 0)
    recent = (
        found & (visit_outlet[last] == outlet) & (day - visit_day[last] < 7 * VISIT_EFFECT_WEEKS)
    )
    return np.where(recent, 1.0 + per_outlet[outlet], 1.0)


def _visit_schedule(
    rng: np.random.Generator, spec: DemoSpec, w: _World
) -> tuple[np.ndarray, np.ndarray]:
    """(outlet, day offset) of the owner-rep visits, in the order ``MV_Visit`` lists them."""
    outlet, day, _ = _schedule(rng, spec, w.visit_interval, 0.25, 0.7)
    perm = np.lexsort((outlet, w.owner[outlet], day))
    return outlet[perm], day[perm]


def _visits(rng: np.random.Generator, spec: DemoSpec, w: _World) -> pl.DataFrame:
    """Owner-rep visits every ~visit_interval weeks (size-driven), weekdays only."""
    return _visit_frame(spec, w, _visit_schedule(rng, spec, w))


def _visit_frame(
    spec: DemoSpec, w: _World, schedule: tuple[np.ndarray, np.ndarray]
) -> pl.DataFrame:
    """The ``MV_Visit`` table of a visit schedule (``_visit_schedule``)."""
    outlet, day = schedule
    epoch, _ = _day_numbers(spec, day)
    return dg.frame(
        "MV_Visit",
        {
            "VisitId": dg.ID_BASE["visit"] + np.arange(len(outlet)),
            "CustomerId": dg.ID_BASE["customer"] + outlet,
            "RepId": dg.ID_BASE["rep"] + w.owner[outlet],
            "VisitDate": epoch.astype("datetime64[D]"),
        },
    )


def _entry(table: str, reason: str, **key: Any) -> dict[str, Any]:
    return {"table": table, "reason": reason, "key": {k: int(v) for k, v in key.items()}}


def _bad_rows(
    rng: np.random.Generator,
    spec: DemoSpec,
    w: _World,
    cat: dg.Catalogue,
    sales: pl.DataFrame,
    lines: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Plant the rows a robust engine must quarantine, and describe each one exactly:
    3 lines with an unknown ItemId, 2 headers (3 lines each) with an unknown CustomerId,
    2 exact duplicate headers, 3 null Quantity + 1 null Amount lines, 5 outlets without GPS."""
    sale_ids = sales["SaleId"].to_numpy()[rng.choice(sales.height, 5, replace=False)]
    bad_item = int(cat.item_id.max()) + 1000 + np.arange(3)
    new_ids = int(sales["SaleId"].to_numpy().max()) + 1 + np.arange(2)
    ghosts = 99_000_001 + np.arange(2)
    sku = rng.choice(len(cat.item_id), 6, replace=False)
    qty = rng.integers(1, 10, 9).astype(float)
    extra = pl.DataFrame(
        {
            "SaleId": np.concatenate([sale_ids[:3], np.repeat(new_ids, 3)]),
            "ItemId": np.concatenate([bad_item, cat.item_id[sku]]),
            "Quantity": qty,
            "Amount": np.round(qty * np.concatenate([np.full(3, 12.5), cat.price[sku]]), 2),
        },
        schema=lines.schema,
    )
    day = 7 * rng.integers(0, spec.weeks, 2) + _weekday_offsets(spec)[rng.integers(0, 5, 2)]
    ghost_sales = dg.frame(
        "MV_Sales",
        {
            "SaleId": new_ids,
            "CustomerId": ghosts,
            "SaleDate": _day_numbers(spec, day)[0].astype("datetime64[D]"),
            "RepId": dg.ID_BASE["rep"] + rng.integers(0, spec.reps, 2),
        },
    )
    dupes = sales.filter(pl.col("SaleId").is_in(sale_ids[3:].tolist()))
    line_idx = rng.choice(lines.height, 4, replace=False)
    hit = lines[line_idx.tolist()]
    at = pl.int_range(pl.len())
    lines = lines.with_columns(
        pl.when(at.is_in(line_idx[:3].tolist())).then(None).otherwise("Quantity").alias("Quantity"),
        pl.when(at == int(line_idx[3])).then(None).otherwise("Amount").alias("Amount"),
    )
    detail, header = "MV_SalesDetail", "MV_Sales"
    rows = (
        [
            _entry(detail, "unknown_item", SaleId=s, ItemId=i)
            for s, i in zip(sale_ids[:3], bad_item, strict=True)
        ]
        + [
            _entry(header, "unknown_customer", SaleId=s, CustomerId=c)
            for s, c in zip(new_ids, ghosts, strict=True)
        ]
        + [_entry(header, "duplicate_sale_id", SaleId=s) for s in sale_ids[3:]]
        + [
            _entry(
                detail,
                "missing_quantity" if j < 3 else "missing_amount",
                SaleId=hit["SaleId"][j],
                ItemId=hit["ItemId"][j],
            )
            for j in range(4)
        ]
        + [
            _entry("MV_SetupCustomer", "no_gps", CustomerId=dg.ID_BASE["customer"] + o)
            for o in w.no_gps
        ]
    )
    counts = dict(Counter(e["reason"] for e in rows))
    sales = pl.concat([sales, ghost_sales, dupes]).sort("SaleId", maintain_order=True)
    lines = pl.concat([lines, extra]).sort("SaleId", maintain_order=True)
    return sales, lines, {"seed": spec.seed, "counts": counts, "rows": rows}


def _truth(
    spec: DemoSpec,
    w: _World,
    cat: dg.Catalogue,
    plant: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    responsiveness: np.ndarray | None = None,
    conversion: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """truth/opportunities (one row per planted pair) and truth/outlets (hidden outlet state;
    with a planted visit effect also each outlet's Responsiveness and VisitLift). With planted
    conversions (``conversion`` = (probability, close day) per gap) the opportunities also
    carry ConversionProbability and ClosedDate (null: still open at the end)."""
    outlet, sku, factor, start_week = plant
    last = np.arange(max(0, spec.weeks - 26), spec.weeks)
    _, woy = _day_numbers(spec, 7 * last + 3)
    potential = np.round(w.rate[outlet, sku] * cat.season[sku][:, woy].mean(axis=1), 4)
    gap = potential * (1.0 - factor) * cat.price[sku]
    start_epoch, _ = _day_numbers(spec, 7 * start_week)
    opportunities = pl.DataFrame(
        {
            "CustomerId": dg.ID_BASE["customer"] + outlet,
            "ItemId": cat.item_id[sku],
            "RepId": dg.ID_BASE["rep"] + w.owner[outlet],
            "AreaId": dg.ID_BASE["area"] + w.area[outlet],
            "StartDate": start_epoch.astype("datetime64[D]"),
            "Factor": factor,
            "PotentialUnitsPerWeek": potential,
            "GapValuePerWeek": np.round(gap, 4),
        }
    ).with_columns(pl.col("StartDate").cast(pl.Date))
    if conversion is not None:
        probability, close_day = conversion
        closed = close_day < NEVER
        close_epoch, _ = _day_numbers(spec, np.where(closed, close_day, 0))
        opportunities = opportunities.with_columns(
            ConversionProbability=np.round(probability, 4),
            ClosedDate=pl.Series(close_epoch.astype("datetime64[D]")).cast(pl.Date),
        ).with_columns(pl.when(pl.Series(closed)).then(pl.col("ClosedDate")).alias("ClosedDate"))
    opportunities = opportunities.sort("CustomerId", "ItemId")
    outlets = pl.DataFrame(
        {
            "CustomerId": dg.ID_BASE["customer"] + np.arange(len(w.volume)),
            "Taste": np.array(LEVELS)[w.taste],
            "SizeTier": np.array(SIZE_TIERS)[w.size_tier],
            "WeeklyVolume": np.round(w.volume, 4),
            "PlantedValuePerWeek": np.round(
                np.bincount(outlet, weights=gap, minlength=len(w.volume)), 4
            ),
        }
    )
    if responsiveness is not None:
        outlets = outlets.with_columns(
            Responsiveness=np.round(responsiveness, 4),
            VisitLift=np.round(spec.visit_effect * responsiveness, 4),
        )
    return opportunities, outlets


def generate_tables(
    spec: DemoSpec,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame, pl.DataFrame, dict[str, Any]]:
    """Pure: returns (tables keyed by MV_ name, truth_opportunities, truth_outlets,
    bad_rows_manifest). Tables follow ``ALL_TABLES`` order (the optional ones included) and
    match the contract columns/dtypes (optional columns included).

    Each component draws from its own child of ``SeedSequence(spec.seed)``, so the output is
    identical for a given spec and changing one component does not reshuffle the others (the
    visit effect's responsiveness has its own, ninth, child, the conversions their tenth and
    the dips their eleventh, the range churn its twelfth, each drawn only when it is planted;
    the optional planning inputs, always drawn, their thirteenth, the visit effect's extra
    units their fourteenth).
    """
    seeds = np.random.SeedSequence(spec.seed).spawn(14)
    rngs = [np.random.default_rng(s) for s in seeds[:8]]
    cat = dg.build_catalogue(rngs[3], spec.skus)
    world, tables = _build_world(spec, rngs, cat)
    plant = _plant(rngs[4], spec, world)
    schedule = _visit_schedule(rngs[6], spec, world)  # own stream: before or after the orders
    responsiveness = None
    lift = None
    if spec.visit_effect > 0:
        responsiveness = np.random.default_rng(seeds[8]).uniform(0.0, 2.0, spec.outlets)
        lift = (schedule, spec.visit_effect * responsiveness, np.random.default_rng(seeds[13]))
    conversion = None
    if spec.conversion > 0:
        probability = conversion_probability(
            spec.conversion, world.on_trade[plant[0]], cat.tier[plant[1]]
        )
        close = _conversions(np.random.default_rng(seeds[9]), plant, schedule, probability)
        conversion = (probability, close)
    close_day = None if conversion is None else conversion[1]
    switches = None
    if spec.churn > 0:
        world, switches = _churn(np.random.default_rng(seeds[11]), spec, world, cat, plant)
    dips = _dips(np.random.default_rng(seeds[10]), spec, world, plant) if spec.dips > 0 else None
    windows = _merge_windows(switches, dips, cat.price.shape[0])
    sales, lines = _orders(rngs[5], spec, world, cat, plant, lift, close_day, windows)
    sales, lines, manifest = _bad_rows(rngs[7], spec, world, cat, sales, lines)
    tables |= cat.tables | {
        "MV_Sales": sales,
        "MV_SalesDetail": lines,
        "MV_Visit": _visit_frame(spec, world, schedule),
    }
    planning_rng = np.random.default_rng(seeds[12])
    tables |= _planning_inputs(planning_rng, spec, world, tables)
    tables, bad_planning = _bad_planning_rows(planning_rng, spec, tables)
    manifest = _with_entries(manifest, bad_planning)
    opportunities, outlets = _truth(spec, world, cat, plant, responsiveness, conversion)
    return {name: tables[name] for name in ALL_TABLES}, opportunities, outlets, manifest


def planned_week(spec: DemoSpec) -> date:
    """The first week a run on the demo plans: the Monday after its last day of history."""
    return spec.end_date + timedelta(days=7 - spec.end_date.weekday())


def _planning_inputs(
    rng: np.random.Generator, spec: DemoSpec, w: _World, tables: dict[str, pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """The optional planning inputs: ``MV_SetupRep`` with each rep's home (one of their
    located outlets, jittered by ``HOME_JITTER_DEGREES``), ``MV_SetupCustomer`` with
    ``VisitMinutes`` and ``VisitEveryWeeks`` by size tier, ``MV_OutletHours`` (most on-trade
    outlets and some shops, ``OPENING_PATTERNS``), ``MV_VisitPin`` (a few appointments in the
    first planned week, on working days, most at a time) and ``MV_VisitExclusion`` (a few
    outlets excluded for some weeks, one whose exclusion is already over)."""
    n = spec.outlets
    customers = tables["MV_SetupCustomer"].with_columns(
        VisitMinutes=pl.Series(VISIT_MINUTES[w.size_tier]),
        VisitEveryWeeks=pl.Series(VISIT_EVERY_WEEKS[w.size_tier], dtype=pl.Int64),
    )
    homes = (
        customers.with_columns(Draw=pl.Series(rng.random(n)))
        .filter(pl.col("Latitude").is_not_null())
        .sort("Draw")
        .group_by("RepId", maintain_order=True)
        .first()
        .select("RepId", "Latitude", "Longitude")
        .sort("RepId")
    )
    jitter = rng.normal(0.0, HOME_JITTER_DEGREES, (homes.height, 2))
    homes = homes.select(
        "RepId",
        HomeLatitude=(pl.col("Latitude") + jitter[:, 0]).round(6),
        HomeLongitude=(pl.col("Longitude") + jitter[:, 1] / math.cos(math.radians(45.0))).round(6),
    )
    reps = tables["MV_SetupRep"].join(homes, on="RepId", how="left", maintain_order="left")

    draw = rng.random(n)
    pattern = np.where(
        w.on_trade,
        np.where(draw < ON_TRADE_WITH_HOURS * BARS, "bar", "restaurant"),
        "shop",
    )
    with_hours = np.where(w.on_trade, draw < ON_TRADE_WITH_HOURS, draw < OFF_TRADE_WITH_HOURS)
    patterns = pl.DataFrame(
        [
            (name, weekday, opens, closes)
            for name, (weekdays, intervals) in OPENING_PATTERNS.items()
            for weekday in weekdays
            for opens, closes in intervals
        ],
        schema={"Pattern": pl.String, "Weekday": pl.Int64, "Opens": pl.String, "Closes": pl.String},
        orient="row",
    ).with_columns(pl.col("Opens", "Closes").str.to_time("%H:%M"))
    hours = (
        pl.DataFrame({"CustomerId": customers["CustomerId"], "Pattern": pattern})
        .filter(pl.Series(with_hours))
        .join(patterns, on="Pattern", maintain_order="left")
        .select(list(ALL_TABLES["MV_OutletHours"].columns))
    )

    week = planned_week(spec)
    located = customers.filter(pl.col("Latitude").is_not_null())["CustomerId"].to_numpy()
    n_pins = max(3, round(PINS_PER_REP * spec.reps))
    chosen = rng.choice(located, n_pins + EXCLUSIONS + 1, replace=False)
    pinned, excluded = chosen[:n_pins], chosen[n_pins:]
    start = rng.integers(9 * 4, 15 * 4, n_pins) * 15  # quarter hours from 09:00 to 14:45
    timed = np.arange(n_pins) < round(0.7 * n_pins)  # most appointments are at a time
    pins = pl.DataFrame(
        {
            "CustomerId": pinned,
            "VisitDate": [week + timedelta(days=int(day)) for day in rng.integers(0, 5, n_pins)],
            "StartTime": np.where(timed, start, -1),
            "Note": np.where(timed, "appointment with the owner", "manager's pin"),
        }
    ).with_columns(
        pl.when(pl.col("StartTime") >= 0)
        .then((pl.col("StartTime").cast(pl.Int64) * 60_000_000_000).cast(pl.Time))
        .alias("StartTime")
    )
    weeks_out = rng.integers(1, 7, EXCLUSIONS + 1)
    weeks_out[-1] = -2  # an exclusion that ended before the planned week
    reasons = np.array(["closed for works", "payment dispute", "owner on holiday"])
    exclusions = pl.DataFrame(
        {
            "CustomerId": excluded,
            "Until": [week + timedelta(days=7 * int(k)) for k in weeks_out],
            "Reason": reasons[rng.integers(0, len(reasons), EXCLUSIONS + 1)],
        }
    )
    return {
        "MV_SetupRep": reps,
        "MV_SetupCustomer": customers,
        **{
            name: frame.select(
                [pl.col(c).cast(t) for c, t in OPTIONAL_TABLES[name].all_columns.items()]
            )
            for name, frame in {
                "MV_OutletHours": hours,
                "MV_VisitPin": pins,
                "MV_VisitExclusion": exclusions,
            }.items()
        },
    }


def _bad_planning_rows(
    rng: np.random.Generator, spec: DemoSpec, tables: dict[str, pl.DataFrame]
) -> tuple[dict[str, pl.DataFrame], list[dict[str, Any]]]:
    """Plant the bad planning rows a robust engine must report: a rep's home with a latitude
    and no longitude (``invalid_home``: the rep is kept, the home ignored), hours of an outlet
    that close before they open (``bad_hours``) and an appointment at an outlet that does not
    exist (``unknown_customer``). Returns the tables and their manifest entries."""
    reps, hours = tables["MV_SetupRep"], tables["MV_OutletHours"]
    homed = reps.filter(pl.col("HomeLatitude").is_not_null())["RepId"]
    rep = int(homed[int(rng.integers(0, homed.len()))])
    reps = reps.with_columns(
        pl.when(pl.col("RepId") == rep).then(None).otherwise("HomeLongitude").alias("HomeLongitude")
    )
    wrong = hours.row(int(rng.integers(0, hours.height)), named=True)
    backwards = {**wrong, "Weekday": 1, "Opens": wrong["Closes"], "Closes": wrong["Opens"]}
    hours = pl.concat([hours, pl.DataFrame([backwards], schema=hours.schema)]).sort(
        "CustomerId", "Weekday", "Opens", maintain_order=True
    )
    ghost = 99_000_001
    pin = {
        "CustomerId": ghost,
        "VisitDate": planned_week(spec) + timedelta(days=2),
        "StartTime": None,
        "Note": "an outlet not in MV_SetupCustomer",
    }
    pins = tables["MV_VisitPin"]
    pins = pl.concat([pins, pl.DataFrame([pin], schema=pins.schema)])
    entries = [
        _entry("MV_SetupRep", "invalid_home", RepId=rep),
        _entry("MV_OutletHours", "bad_hours", CustomerId=wrong["CustomerId"], Weekday=1),
        _entry("MV_VisitPin", "unknown_customer", CustomerId=ghost),
    ]
    return {**tables, "MV_SetupRep": reps, "MV_OutletHours": hours, "MV_VisitPin": pins}, entries


def _with_entries(manifest: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The bad-rows manifest with more rows, its counts recounted."""
    rows = [*manifest["rows"], *entries]
    return {**manifest, "counts": dict(Counter(e["reason"] for e in rows)), "rows": rows}


def open_opportunities(opportunities: pl.DataFrame) -> pl.DataFrame:
    """The planted gaps still open at the end of the history (all of them without planted
    conversions): the opportunities a list can still capture."""
    if "ClosedDate" not in opportunities.columns:
        return opportunities
    return opportunities.filter(pl.col("ClosedDate").is_null())


def write_demo(spec: DemoSpec, out_dir: Path) -> DemoSummary:
    """Writes <Table>.parquet (or .csv) for every contract table into out_dir, plus
    out_dir/truth/opportunities.csv, out_dir/truth/outlets.csv, out_dir/truth/bad_rows.json.
    CSVs are UTF-8 with a header and ISO dates."""
    tables, opportunities, outlets, manifest = generate_tables(spec)
    out_dir = Path(out_dir)
    (out_dir / "truth").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, df in tables.items():
        paths[name] = out_dir / f"{name}.{spec.file_format}"
        if spec.file_format == "parquet":
            df.write_parquet(paths[name])
        else:
            df.write_csv(paths[name])
    truth = {
        "opportunities": out_dir / "truth" / "opportunities.csv",
        "outlets": out_dir / "truth" / "outlets.csv",
        "bad_rows": out_dir / "truth" / "bad_rows.json",
    }
    opportunities.write_csv(truth["opportunities"])
    outlets.write_csv(truth["outlets"])
    truth["bad_rows"].write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    still_open = open_opportunities(opportunities)
    return DemoSummary(
        out_dir=out_dir,
        row_counts={name: df.height for name, df in tables.items()},
        planted_opportunities=still_open.height,
        planted_outlets=still_open["CustomerId"].n_unique(),
        planted_value_per_week=round(float(still_open["GapValuePerWeek"].sum()), 2),
        closed_opportunities=opportunities.height - still_open.height,
        bad_rows=manifest,
        table_paths=paths,
        truth_paths=truth,
    )
