"""Weekly visit planning: pick each rep's visits and order them into daily round trips.

Per rep the planner maximises ``Σ Priority − λ · Σ km`` over its selected visits, where km is
the length of the closed daily tours from the rep's base. Pure: frames and params in, frames
out.

* **Base.** The data holds no home address, so a rep's base is the unweighted centroid of all
  its candidate outlets (mean latitude, circular-mean longitude), independent of priority:
  the middle of the territory, where a rep typically lives or parks.
* **Price of travel λ** (value per km). ``value_per_km`` if set; otherwise
  ``travel_tradeoff · P_ref / D_ref`` with ``P_ref`` the priority of the rep's
  ``visits_per_week``-th best candidate (the marginal visit) and ``D_ref`` the median
  nearest-neighbour km in its candidate pool (a "typical hop"). ``travel_tradeoff = 1`` thus
  means one typical hop costs as much as the marginal visit is worth; ``0`` means travel never
  changes the selection (exactly the top-N by priority) and only orders the days.
* **Algorithm.** (1) pool = the rep's ``candidate_pool`` best outlets; (2) weighted k-means
  (k = days) on the pool, projected to km, seeds one geographic area per day; (3) greedy
  prize-collecting cheapest insertion: repeatedly insert the outlet with the highest
  ``Priority − λ · insertion_km`` into its area's day (any day once that is full), until the
  rep has its visits; (4) local search until stable: relocate a visit to the cheapest
  position of any day, merge two days whose visits fit in one (Clarke-Wright savings), 2-opt
  within each day and, when λ > 0, swap a selected visit for an unselected pool outlet if the
  objective improves.
* **Days.** Numbered by value: Day 1 holds the highest total priority (so if the week is cut
  short the most valuable day is done). Days are packed up to ``max_visits_per_day`` because
  nothing in the objective rewards spreading visits; a week may use fewer than ``days`` days
  and the ``days`` frame lists only days with visits. Within a day the tour is oriented so
  the higher-priority end is visited first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from scoring.geo import FloatArray, centroid_deg, equirectangular_km, pairwise_haversine_km

IntArray = npt.NDArray[np.intp]

VISITS_SCHEMA: dict[str, pl.DataType] = {
    "RepId": pl.Int64(),
    "CustomerId": pl.Int64(),
    "Rank": pl.Int32(),
    "Day": pl.Int32(),
    "RouteOrder": pl.Int32(),
    "Priority": pl.Float64(),
}
DAYS_SCHEMA: dict[str, pl.DataType] = {
    "RepId": pl.Int64(),
    "Day": pl.Int32(),
    "Visits": pl.Int32(),
    "Km": pl.Float64(),
}
_KM_EPS = 1e-9  # minimum km improvement a local-search move must bring (avoids cycling)
_KMEANS_N_INIT = 3


@dataclass(frozen=True)
class RoutingParams:
    """Knobs of the weekly plan; see the module docstring for how λ is derived."""

    visits_per_week: int = 30
    days: int = 5
    max_visits_per_day: int = 8
    candidate_pool: int = 90
    travel_tradeoff: float = 0.5
    value_per_km: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if min(self.visits_per_week, self.days, self.max_visits_per_day) < 1:
            raise ValueError("visits_per_week, days and max_visits_per_day must be >= 1")
        if self.days * self.max_visits_per_day < self.visits_per_week:
            raise ValueError("days * max_visits_per_day must be >= visits_per_week")
        if self.candidate_pool < self.visits_per_week:
            raise ValueError("candidate_pool must be >= visits_per_week")
        if not self.travel_tradeoff >= 0.0:
            raise ValueError("travel_tradeoff must be >= 0")
        if self.value_per_km is not None and not self.value_per_km >= 0.0:
            raise ValueError("value_per_km must be >= 0")


def plan_weeks(
    candidates: pl.DataFrame, params: RoutingParams
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Plan every rep's week.

    ``candidates``: one row per routable outlet with RepId, CustomerId (Int64), Latitude,
    Longitude (Float64, degrees) and Priority (Float64 >= 0, value of visiting it this week).

    Returns ``(visits, days)``. ``visits``: RepId, CustomerId, Rank (1..n by Priority desc,
    ties by CustomerId, within the rep's selected visits), Day (1..days), RouteOrder (1..k
    within the day), Priority; sorted by RepId, Day, RouteOrder. ``days``: RepId, Day, Visits,
    Km (haversine km base → visits in RouteOrder → base); one row per day that has visits.
    Each rep gets ``min(visits_per_week, its candidate count)`` visits.
    """
    df = _validated(candidates).sort(
        ["RepId", "Priority", "CustomerId"], descending=[False, True, False]
    )
    rep = df["RepId"].to_numpy()
    cust = df["CustomerId"].to_numpy()
    lat = df["Latitude"].to_numpy()
    lon = df["Longitude"].to_numpy()
    pri = df["Priority"].to_numpy()
    if rep.size == 0:
        return pl.DataFrame(schema=VISITS_SCHEMA), pl.DataFrame(schema=DAYS_SCHEMA)
    starts = np.flatnonzero(np.r_[True, rep[1:] != rep[:-1]])
    ends = np.r_[starts[1:], rep.size].astype(np.intp)

    v_parts: list[tuple[IntArray, ...]] = []
    d_parts: list[tuple[npt.NDArray[np.generic], ...]] = []
    for s, e in zip(starts, ends, strict=True):
        sel, day, order, day_km = _plan_rep(lat[s:e], lon[s:e], pri[s:e], params)
        idx = s + sel
        # rank: rows are sorted by priority desc / customer asc, so sorted idx is rank order
        rank = np.empty(idx.size, dtype=np.intp)
        rank[np.argsort(idx, kind="stable")] = np.arange(1, idx.size + 1)
        v_parts.append((idx, rank, day, order))
        n_days = day_km.size
        d_parts.append(
            (
                np.full(n_days, rep[s]),
                np.arange(1, n_days + 1),
                np.bincount(day - 1, minlength=n_days),
                day_km,
            )
        )
    idx, rank, day, order = (np.concatenate(c) for c in zip(*v_parts, strict=True))
    visits = pl.DataFrame(
        {
            "RepId": rep[idx],
            "CustomerId": cust[idx],
            "Rank": rank,
            "Day": day,
            "RouteOrder": order,
            "Priority": pri[idx],
        },
        schema=VISITS_SCHEMA,
    ).sort(["RepId", "Day", "RouteOrder"])
    d_cols = [np.concatenate(c) for c in zip(*d_parts, strict=True)]
    days = pl.DataFrame(dict(zip(DAYS_SCHEMA, d_cols, strict=True)), schema=DAYS_SCHEMA)
    return visits, days


def _validated(candidates: pl.DataFrame) -> pl.DataFrame:
    """Check columns, nulls, ranges and uniqueness; cast to the contract types."""
    cols: dict[str, pl.DataType] = {"RepId": pl.Int64(), "CustomerId": pl.Int64()}
    cols |= {c: pl.Float64() for c in ("Latitude", "Longitude", "Priority")}
    missing = [c for c in cols if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidates lack columns {missing}")
    df = candidates.select(pl.col(c).cast(t) for c, t in cols.items())
    if df.null_count().sum_horizontal().item() > 0:
        raise ValueError("candidates contain nulls")
    ok = (
        df["Priority"].is_finite().all()
        and (df["Priority"] >= 0).all()
        and df["Latitude"].is_between(-90, 90).all()
        and df["Longitude"].is_between(-180, 180).all()
    )
    if not ok:
        raise ValueError("Priority must be finite >= 0 and coordinates valid degrees")
    if df.select(pl.struct("RepId", "CustomerId").is_duplicated().any()).item():
        raise ValueError("candidates hold duplicate (RepId, CustomerId) rows")
    return df


def _plan_rep(
    lat: FloatArray, lon: FloatArray, pri: FloatArray, params: RoutingParams
) -> tuple[IntArray, IntArray, IntArray, FloatArray]:
    """One rep (rows sorted by priority desc). Returns row indices of the selected visits,
    their 1-based Day and RouteOrder, and the km of each day (index = Day - 1)."""
    n = min(params.visits_per_week, lat.size)
    m = min(params.candidate_pool, lat.size)
    lat0, lon0 = centroid_deg(lat, lon)
    # node 0 = base, node i = pool outlet i-1
    dist = pairwise_haversine_km(np.r_[lat0, lat[:m]], np.r_[lon0, lon[:m]])
    value = np.r_[0.0, pri[:m]]
    lam = travel_price(pri[:m], dist[1:, 1:], params)
    areas = _day_areas(equirectangular_km(lat[:m], lon[:m], lat0, lon0), pri[:m], params)

    routes = _greedy_insert(dist, value=value, lam=lam, areas=areas, n=n, params=params)
    _local_search(
        dist, value=value, lam=lam, routes=routes, cap=params.max_visits_per_day, max_rounds=4 * n
    )

    # Day 1 = most valuable day; orient each tour so its higher-priority end comes first
    used = [r for r in routes if r]
    used.sort(key=lambda r: (-value[r].sum(), min(r)))
    sel, day, order, day_km = [], [], [], []
    for d, r in enumerate(used, start=1):
        tour = r[::-1] if value[r[-1]] > value[r[0]] else r
        sel += [v - 1 for v in tour]
        day += [d] * len(tour)
        order += list(range(1, len(tour) + 1))
        day_km.append(float(dist[np.r_[0, tour], np.r_[tour, 0]].sum()))
    return (
        np.asarray(sel, dtype=np.intp),
        np.asarray(day, dtype=np.intp),
        np.asarray(order, dtype=np.intp),
        np.asarray(day_km, dtype=np.float64),
    )


def travel_price(pri: FloatArray, nn_dist: FloatArray, params: RoutingParams) -> float:
    """λ in value per km (see module docstring); robust to zero priorities / duplicates."""
    if params.value_per_km is not None:
        return params.value_per_km
    if params.travel_tradeoff == 0.0:
        return 0.0
    k = params.visits_per_week
    p_ref = pri[k - 1] if pri.size >= k else 0.0  # pri is sorted descending
    for fallback in (np.median(pri), pri.mean(), 1.0):  # 1.0: all-zero priorities
        if p_ref > 0.0:
            break
        p_ref = float(fallback)
    d_ref = 1.0
    if pri.size > 1:
        d = nn_dist + np.diag(np.full(pri.size, np.inf))
        nn = d.min(axis=1)
        d_ref = float(np.median(nn))
        if d_ref <= 0.0:  # many co-located outlets: fall back to the positive hops
            d_ref = float(nn[nn > 0].mean()) if (nn > 0).any() else 1.0
    return float(params.travel_tradeoff * p_ref / d_ref)


def _day_areas(xy: FloatArray, pri: FloatArray, params: RoutingParams) -> IntArray:
    """Day-area label (0..days-1) per pool outlet: value-weighted k-means on km coordinates."""
    k = min(params.days, np.unique(xy, axis=0).shape[0])
    if k <= 1:
        return np.zeros(xy.shape[0], dtype=np.intp)
    weight = pri + 0.01 * pri.mean() + 1e-9  # zero-priority outlets still count a little
    return weighted_kmeans(xy, weight, k, seed=params.seed)


def weighted_kmeans(
    xy: FloatArray, weight: FloatArray, k: int, *, seed: int, n_init: int = _KMEANS_N_INIT
) -> IntArray:
    """Labels of a weighted k-means (k-means++ seeding, Lloyd steps, best of ``n_init``).

    Plain numpy instead of sklearn.cluster.KMeans: on ~100 points the sklearn call costs more
    in overhead than the maths, and its OpenMP threads collapse (10x) when the cores are busy.
    Deterministic for a seed. Requires at least ``k`` distinct points.
    """
    rng = np.random.default_rng(seed)
    p_w = weight / weight.sum()
    best_labels, best_inertia = np.zeros(xy.shape[0], dtype=np.intp), np.inf
    for _ in range(n_init):
        centers = xy[[rng.choice(xy.shape[0], p=p_w)]]
        for _ in range(1, k):
            d2 = ((xy[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2).min(axis=1)
            p = weight * d2
            centers = np.vstack([centers, xy[rng.choice(xy.shape[0], p=p / p.sum())]])
        labels = np.full(xy.shape[0], -1, dtype=np.intp)
        for _ in range(100):
            d2 = ((xy[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
            new = d2.argmin(axis=1)
            if np.array_equal(new, labels):
                break
            labels = new
            mass = np.bincount(labels, weights=weight, minlength=k)
            for dim in range(2):
                s = np.bincount(labels, weights=weight * xy[:, dim], minlength=k)
                centers[:, dim] = np.where(mass > 0, s / np.maximum(mass, 1e-300), centers[:, dim])
        inertia = float((weight * d2[np.arange(xy.shape[0]), labels]).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels


def _edges(routes: list[list[int]]) -> tuple[IntArray, IntArray, IntArray]:
    """All tour edges (from, to, day) of the closed tours base → route → base."""
    frm: list[int] = []
    to: list[int] = []
    day: list[int] = []
    for d, r in enumerate(routes):
        frm += [0, *r]
        to += [*r, 0]
        day += [d] * (len(r) + 1)
    return np.asarray(frm), np.asarray(to), np.asarray(day)


def _insert(route: list[int], after: int, node: int) -> None:
    """Insert ``node`` right after ``after`` (0 = the base at the start of the tour)."""
    route.insert(0 if after == 0 else route.index(after) + 1, node)


def _greedy_insert(
    dist: FloatArray,
    *,
    value: FloatArray,
    lam: float,
    areas: IntArray,
    n: int,
    params: RoutingParams,
) -> list[list[int]]:
    """Prize-collecting cheapest insertion of ``n`` pool outlets into ``params.days`` tours.

    Each step scores every unselected outlet by value − λ · (cheapest insertion km into its
    area's day, or any non-full day once that is full) and inserts the best; ties go to the
    earlier pool row (higher priority, lower CustomerId), so λ = 0 gives the top-n exactly.
    """
    cap = params.max_visits_per_day
    routes: list[list[int]] = [[] for _ in range(params.days)]
    free = np.ones(dist.shape[0], dtype=bool)
    free[0] = False
    for _ in range(n):
        frm, to, eday = _edges(routes)
        full = np.array([len(r) >= cap for r in routes])
        cand = np.flatnonzero(free)
        ins = dist[cand[:, None], frm[None, :]] + dist[cand[:, None], to[None, :]] - dist[frm, to]
        own = areas[cand - 1]
        allowed = ~full[eday][None, :] & ((eday[None, :] == own[:, None]) | full[own][:, None])
        ins = np.where(allowed, ins, np.inf)
        best_e = ins.argmin(axis=1)
        score = value[cand] - lam * ins[np.arange(cand.size), best_e] if lam > 0 else value[cand]
        i = int(np.argmax(score))
        e = best_e[i]
        _insert(routes[eday[e]], int(frm[e]), int(cand[i]))
        free[cand[i]] = False
    return routes


def _local_search(
    dist: FloatArray,
    *,
    value: FloatArray,
    lam: float,
    routes: list[list[int]],
    cap: int,
    max_rounds: int,
) -> None:
    """Improve ``routes`` in place until no move helps (or ``max_rounds``)."""
    for _ in range(max_rounds):
        changed = False
        while _relocate_once(dist, routes, cap):
            changed = True
        while _merge_once(dist, routes, cap):
            changed = True
        for d, r in enumerate(routes):
            new = two_opt(dist, r)
            changed |= new != r
            routes[d] = new
        if lam > 0 and _swap_once(dist, value, lam, routes, cap):
            changed = True
        if not changed:
            return


def _visit_context(routes: list[list[int]]) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """For each visit: node, day, predecessor and successor in its tour (0 = base)."""
    node: list[int] = []
    day: list[int] = []
    prev: list[int] = []
    nxt: list[int] = []
    for d, r in enumerate(routes):
        if r:
            node += r
            day += [d] * len(r)
            prev += [0, *r[:-1]]
            nxt += [*r[1:], 0]
    return np.asarray(node), np.asarray(day), np.asarray(prev), np.asarray(nxt)


def _relocate_once(dist: FloatArray, routes: list[list[int]], cap: int) -> bool:
    """Apply the single best km-saving move of one visit to another position / day."""
    node, vday, prev, nxt = _visit_context(routes)
    if node.size == 0:
        return False
    frm, to, eday = _edges(routes)
    full = np.array([len(r) >= cap for r in routes])
    gain = dist[prev, node] + dist[node, nxt] - dist[prev, nxt]
    ins = dist[node[:, None], frm[None, :]] + dist[node[:, None], to[None, :]] - dist[frm, to]
    ok = (eday[None, :] == vday[:, None]) | ~full[eday][None, :]
    ok &= (frm[None, :] != node[:, None]) & (to[None, :] != node[:, None])
    delta = np.where(ok, ins - gain[:, None], np.inf)
    v, e = np.unravel_index(int(np.argmin(delta)), delta.shape)
    if not delta[v, e] < -_KM_EPS:
        return False
    routes[vday[v]].remove(int(node[v]))
    _insert(routes[eday[e]], int(frm[e]), int(node[v]))
    return True


def _merge_once(dist: FloatArray, routes: list[list[int]], cap: int) -> bool:
    """Join the two days with the largest Clarke-Wright saving if their visits fit in one."""
    best, pair = _KM_EPS, None
    for a, ra in enumerate(routes):
        for b in range(a + 1, len(routes)):
            rb = routes[b]
            if not ra or not rb or len(ra) + len(rb) > cap:
                continue
            for ta in (ra, ra[::-1]):
                for tb in (rb, rb[::-1]):
                    saving = dist[ta[-1], 0] + dist[0, tb[0]] - dist[ta[-1], tb[0]]
                    if saving > best:
                        best, pair = saving, (a, b, ta + tb)
    if pair is None:
        return False
    a, b, joined = pair
    routes[a], routes[b] = joined, []
    return True


def _swap_once(
    dist: FloatArray, value: FloatArray, lam: float, routes: list[list[int]], cap: int
) -> bool:
    """Replace one selected visit by one unselected pool outlet if Σ value − λ·km rises."""
    node, vday, prev, nxt = _visit_context(routes)
    out = np.setdiff1d(np.arange(1, dist.shape[0]), node)
    if out.size == 0 or node.size == 0:
        return False
    frm, to, eday = _edges(routes)
    full = np.array([len(r) >= cap for r in routes])
    gain = dist[prev, node] + dist[node, nxt] - dist[prev, nxt]  # km saved removing v
    # u into an edge untouched by removing v (same day, or another day with room) ...
    ok = ((eday[None, :] == vday[:, None]) | ~full[eday][None, :]) & (
        (frm[None, :] != node[:, None]) & (to[None, :] != node[:, None])
    )  # (V, E)
    ins = (
        dist[out[:, None], frm[None, :]] + dist[out[:, None], to[None, :]] - dist[frm, to]
    )  # (U, E)
    cost = np.where(ok[None, :, :], ins[:, None, :], np.inf)  # (U, V, E)
    e_best = cost.argmin(axis=2)
    c_edge = np.take_along_axis(cost, e_best[:, :, None], axis=2)[:, :, 0]
    # ... or u straight into v's place
    c_place = (
        dist[out[:, None], prev[None, :]]
        + dist[out[:, None], nxt[None, :]]
        - dist[prev, nxt][None, :]
    )
    net = (
        value[out][:, None]
        - value[node][None, :]
        - lam * (np.minimum(c_edge, c_place) - gain[None, :])
    )
    u, v = np.unravel_index(int(np.argmax(net)), net.shape)
    if not net[u, v] > lam * _KM_EPS:
        return False
    routes[vday[v]].remove(int(node[v]))
    if c_place[u, v] <= c_edge[u, v]:
        _insert(routes[vday[v]], int(prev[v]), int(out[u]))
    else:
        e = e_best[u, v]
        _insert(routes[eday[e]], int(frm[e]), int(out[u]))
    return True


def two_opt(dist: FloatArray, route: list[int]) -> list[int]:
    """Best-improvement 2-opt of the closed tour base(0) → route → base; returns a new list.

    Reverses the segment whose reversal shortens the tour most, until none does; this
    removes every crossing of a Euclidean tour.
    """
    tour = [0, *route, 0]
    n = len(route)
    if n < 3:
        return list(route)
    i, j = np.triu_indices(n + 1, k=1)
    i, j = i[i >= 1], j[i >= 1]  # candidate moves: reverse tour[i..j], 1 <= i < j <= n
    while True:
        t = np.asarray(tour)
        delta = (
            dist[t[i - 1], t[j]]
            + dist[t[i], t[j + 1]]
            - dist[t[i - 1], t[i]]
            - dist[t[j], t[j + 1]]
        )
        k = int(np.argmin(delta))
        if not delta[k] < -_KM_EPS:
            return tour[1:-1]
        a, b = int(i[k]), int(j[k])
        tour[a : b + 1] = tour[a : b + 1][::-1]
