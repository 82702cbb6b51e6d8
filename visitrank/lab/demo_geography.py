"""The static world behind ``visitrank.lab.demo_data``: geography, territories, names, catalogue.

Builds a French-like country: area (region) centres 150-300 km apart, 3-6 cities per area,
outlets scattered a few km around their city, and reps owning contiguous, balanced territories
inside one area (recursive bisection of outlet coordinates); plus the drinks catalogue
(categories, subcategories, brands, items with price tier, Zipf-like popularity, channel fit
and seasonality). Names
deliberately contain apostrophes and accents so every consumer is exercised on real Unicode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from visitrank.contract.tables import TABLES
from visitrank.lab import portable_math as pm

FLAT, SUMMER, WINTER = 0, 1, 2
# (category, base unit price, share of SKUs, pack, on-trade mult, off-trade mult,
#  subcategories as (name, on-trade mult, off-trade mult, typical seasonality))
CATALOGUE: tuple[
    tuple[str, float, float, str, float, float, tuple[tuple[str, float, float, int], ...]], ...
] = (
    (
        "Spirits",
        21.0,
        0.30,
        "70cl",
        1.5,
        0.7,
        (
            ("Whisky", 1.2, 0.9, WINTER),
            ("Gin", 1.4, 0.8, SUMMER),
            ("Rhum", 1.1, 0.9, SUMMER),
            ("Anisés", 1.1, 1.0, SUMMER),
        ),
    ),
    (
        "Wine",
        8.5,
        0.25,
        "75cl",
        0.8,
        1.5,
        (
            ("Rouge", 0.8, 1.2, WINTER),
            ("Blanc", 0.9, 1.1, FLAT),
            ("Rosé", 0.9, 1.1, SUMMER),
            ("Champagne", 0.9, 1.1, WINTER),
        ),
    ),
    (
        "Beer",
        2.2,
        0.20,
        "33cl",
        1.3,
        1.0,
        (
            ("Pression", 1.8, 0.05, SUMMER),
            ("Bouteille", 0.9, 1.0, SUMMER),
            ("Pack 12", 0.15, 2.0, SUMMER),
        ),
    ),
    (
        "Soft drinks",
        1.3,
        0.15,
        "1L",
        0.8,
        1.2,
        (("Jus", 0.9, 1.1, FLAT), ("Soda", 1.0, 1.0, SUMMER)),
    ),
    (
        "RTD",
        3.4,
        0.10,
        "25cl",
        1.1,
        0.9,
        (("Cocktail", 1.3, 0.8, SUMMER), ("Hard seltzer", 0.8, 1.2, SUMMER)),
    ),
)
BRANDS = (
    (
        "Glen Ardoch",
        "O'Hara's",
        "Distillerie Lefèvre",
        "Île Noire",
        "Maison Brûlée",
        "Søren & Fils",
        "Côte d'Argent",
    ),
    (
        "Domaine de l'Églantier",
        "Château Lafleur-Müller",
        "Clos Saint-Rémy",
        "Les Vignes d'Hélène",
        "Cave de Bellegarde",
        "Maison Dubœuf",
    ),
    (
        "Brasserie Müller",
        "Bière de l'Abbaye",
        "Fjällbräu",
        "Pils d'Or",
        "La Chouette",
        "Kölsch & Cie",
    ),
    ("Fraîcheur", "Source Sainte-Anne", "Jus d'Été", "Limonade Gaspard"),
    ("Spritzé", "Mojo Frío", "Seltz'n'Co", "Cocktail Maëlle"),
)
VARIANTS = (
    ("Original", "Classique", "Légère"),
    ("Sélection", "Tradition", "Bio"),
    ("Réserve", "Hors d'Âge", "Cuvée Prestige"),
)
ID_BASE = {
    "area": 1,
    "city": 11,
    "rep": 501,
    "customer": 10001,
    "category": 1,
    "subcategory": 101,
    "brand": 201,
    "item": 3001,
    "sale": 1_000_001,
    "visit": 5_000_001,
}

KM_PER_DEG_LAT = 111.0
LAT_RANGE = (43.3, 50.0)
LON_RANGE = (-1.0, 7.0)

AREA_NAMES = (
    "Île-de-France",
    "Provence-Côte d'Azur",
    "Rhône-Alpes",
    "Hauts-de-France",
    "Nouvelle-Aquitaine",
    "Grand Est",
    "Bourgogne-Franche-Comté",
    "Occitanie",
    "Pays de la Loire",
    "Centre-Val de Loire",
    "Normandie",
    "Bretagne",
)
CITY_STEMS = (
    "Saint-Étienne",
    "Châteauneuf",
    "Villeneuve",
    "L'Isle",
    "Bellegarde",
    "Montréal",
    "Beaumont",
    "Sainte-Hélène",
    "Aigues-Mortes",
    "Bourg-l'Abbé",
    "Pont-Évêque",
    "Fontaine",
)
CITY_TAILS = ("", "-sur-Loire", "-les-Bains", "-d'Arrière", "-en-Forêt", "-la-Côte", "-du-Lac")
PLACES = (
    "de l'Étoile",
    "du Marché",
    "de la Gare",
    "des Artistes",
    "du Port",
    "de l'Hôtel de Ville",
    "Saint-Éloi",
    "du Château",
    "de la Forêt",
    "des Halles",
    "de l'Arlequin",
    "du Théâtre",
)
SURNAMES = (
    "Müller",
    "O'Neill",
    "Lefèvre",
    "Gauthier",
    "Dubœuf",
    "Núñez",
    "Kowalski",
    "Brontë",
    "D'Angelo",
    "Dupré",
    "Ørsted",
    "Fernández",
    "L'Hermite",
    "Béranger",
)
FIRST_NAMES = (
    "Zoé",
    "Hélène",
    "François",
    "Seán",
    "Jérôme",
    "Chloé",
    "Maëlle",
    "Noël",
    "Björn",
    "Inès",
    "Anaïs",
    "José",
    "Renée",
    "Aurélien",
)
ON_TRADE_TEMPLATES = (
    "Café {p}",
    "Brasserie {s}",
    "Bar {p}",
    "Bistrot {p}",
    "Chez {s}",
    "{s}'s Bar",
)
OFF_TRADE_TEMPLATES = (
    "Épicerie {s}",
    "Cave {p}",
    "Supérette {p}",
    "Supermarché {p}",
    "Vins & Spiritueux {s}",
    "Tabac-Presse {p}",
)


@dataclass(frozen=True)
class Geography:
    """Area and city centres (degrees) with their names; cities know their area index."""

    area_lat: np.ndarray
    area_lon: np.ndarray
    area_names: list[str]
    city_area: np.ndarray
    city_lat: np.ndarray
    city_lon: np.ndarray
    city_names: list[str]


def _km_xy(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Equirectangular projection to km around 46.5N: good enough for clustering and spacing."""
    return np.column_stack(
        [lon * KM_PER_DEG_LAT * math.cos(math.radians(46.5)), lat * KM_PER_DEG_LAT]
    )


def _offset(lat: float, lon: float, dist_km: float, angle: float) -> tuple[float, float]:
    dlat = dist_km * math.sin(angle) / KM_PER_DEG_LAT
    dlon = dist_km * math.cos(angle) / (KM_PER_DEG_LAT * math.cos(math.radians(lat)))
    return lat + dlat, lon + dlon


def apportion(total: int, weights: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder),
    each part at least ``minimum``; exact, deterministic and summing to ``total``."""
    w = np.asarray(weights, dtype=float)
    spare = total - minimum * len(w)
    if spare < 0:
        raise ValueError(f"cannot split {total} into {len(w)} parts of at least {minimum}")
    raw = spare * w / w.sum()
    parts = np.floor(raw).astype(np.int64)
    left = spare - int(parts.sum())
    parts[np.argsort(-(raw - parts), kind="stable")[:left]] += 1
    return parts + minimum


def build_geography(rng: np.random.Generator, n_areas: int) -> Geography:
    """Area centres 150-300 km from an existing area and >=150 km from all; 3-6 cities each."""
    lats, lons = [46.6 + rng.normal(0, 0.3)], [2.8 + rng.normal(0, 0.5)]
    tries = 0
    while len(lats) < n_areas:  # loop over areas only (a handful), rejection sampling
        tries += 1
        base = int(rng.integers(len(lats)))
        lat, lon = _offset(lats[base], lons[base], rng.uniform(150, 300), rng.uniform(0, 2 * np.pi))
        inside = LAT_RANGE[0] <= lat <= LAT_RANGE[1] and LON_RANGE[0] <= lon <= LON_RANGE[1]
        xy = _km_xy(np.array(lats), np.array(lons))
        dist = np.hypot(*(xy - _km_xy(np.array([lat]), np.array([lon]))).T)
        if (inside or tries > 5000) and dist.min() >= 150:
            lats.append(lat)
            lons.append(lon)
    n_cities = rng.integers(3, 7, size=n_areas)
    city_area = np.repeat(np.arange(n_areas), n_cities)
    dist = rng.uniform(10, 60, size=len(city_area))
    ang = rng.uniform(0, 2 * np.pi, size=len(city_area))
    a_lat, a_lon = np.array(lats), np.array(lons)
    c_lat = a_lat[city_area] + dist * pm.sin(ang) / KM_PER_DEG_LAT
    c_lon = a_lon[city_area] + dist * pm.cos(ang) / (
        KM_PER_DEG_LAT * pm.cos(np.radians(a_lat[city_area]))
    )
    pool = [s + t for t in CITY_TAILS for s in CITY_STEMS]
    picks = rng.permutation(len(pool))[: len(city_area)]
    city_names = [
        pool[i % len(pool)] + (f" {i // len(pool) + 1}" if i >= len(pool) else "") for i in picks
    ]
    area_names = [
        AREA_NAMES[i % len(AREA_NAMES)]
        + (f" {i // len(AREA_NAMES) + 1}" if i >= len(AREA_NAMES) else "")
        for i in range(n_areas)
    ]
    return Geography(a_lat, a_lon, area_names, city_area, c_lat, c_lon, city_names)


def place_outlets(
    rng: np.random.Generator, geo: Geography, n_outlets: int, min_per_area: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Outlet (area, city, lat, lon): exact area counts, Zipf-ish city sizes, normal scatter
    of 1.5-4 km around the city centre (so outlets form natural geographic clusters)."""
    n_areas = len(geo.area_names)
    per_area = apportion(n_outlets, rng.uniform(0.6, 1.4, size=n_areas), min_per_area)
    area = rng.permutation(np.repeat(np.arange(n_areas), per_area))
    city_w = 1.0 / (1.0 + rng.permutation(len(geo.city_area)) % 6)
    city = np.empty(n_outlets, dtype=np.int64)
    for a in range(n_areas):  # loop over areas only
        cities = np.flatnonzero(geo.city_area == a)
        members = np.flatnonzero(area == a)
        city[members] = rng.choice(
            cities, size=len(members), p=city_w[cities] / city_w[cities].sum()
        )
    spread = rng.uniform(1.5, 4.0, size=len(geo.city_area))[city]
    lat = geo.city_lat[city] + rng.normal(0, 1, n_outlets) * spread / KM_PER_DEG_LAT
    lon = geo.city_lon[city] + rng.normal(0, 1, n_outlets) * spread / (
        KM_PER_DEG_LAT * pm.cos(np.radians(geo.city_lat[city]))
    )
    return area, city, np.round(lat, 6), np.round(lon, 6)


def _bisect(
    rng: np.random.Generator, xy: np.ndarray, idx: np.ndarray, k: int, first: int, out: np.ndarray
) -> None:
    """Split ``idx`` into ``k`` contiguous territories: cut across the longer side at the
    quantile giving each half its share of reps (jittered +-10%), then recurse."""
    if k == 1:
        out[idx] = first
        return
    k1 = k // 2
    pts = xy[idx]
    axis = int(np.argmax(np.ptp(pts, axis=0)))
    ordered = idx[np.argsort(pts[:, axis], kind="stable")]
    cut = int(np.clip(round(len(idx) * k1 / k * rng.uniform(0.9, 1.1)), k1, len(idx) - (k - k1)))
    _bisect(rng, xy, ordered[:cut], k1, first, out)
    _bisect(rng, xy, ordered[cut:], k - k1, first + k1, out)


def assign_reps(
    rng: np.random.Generator, outlet_area: np.ndarray, lat: np.ndarray, lon: np.ndarray, n_reps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reps per area proportional to outlets (>=1 each). Territories are contiguous and
    workload-balanced (+-10%): recursive bisection of the area's outlet coordinates, which,
    unlike plain KMeans on city blobs, does not hand one rep a whole big city and another a
    village. Returns (rep index of each outlet, area index of each rep)."""
    n_areas = int(outlet_area.max()) + 1
    reps_per_area = apportion(n_reps, np.bincount(outlet_area, minlength=n_areas), 1)
    owner = np.empty(len(outlet_area), dtype=np.int64)
    starts = np.cumsum(reps_per_area) - reps_per_area
    for a in range(n_areas):  # loop over areas only
        members = np.flatnonzero(outlet_area == a)
        _bisect(rng, _km_xy(lat, lon), members, int(reps_per_area[a]), int(starts[a]), owner)
    return owner, np.repeat(np.arange(n_areas), reps_per_area)


def _fill(templates: tuple[str, ...]) -> list[str]:
    """Every template filled with every place ({p}) or surname ({s})."""
    out: list[str] = []
    for t in templates:
        fillers = PLACES if "{p}" in t else SURNAMES
        out += [t.format(p=f, s=f) for f in fillers]
    return out


def outlet_names(rng: np.random.Generator, on_trade: np.ndarray) -> np.ndarray:
    """A name per outlet drawn from channel-specific templates (names may repeat, like chains)."""
    on_pool, off_pool = np.array(_fill(ON_TRADE_TEMPLATES)), np.array(_fill(OFF_TRADE_TEMPLATES))
    on = on_pool[rng.integers(len(on_pool), size=len(on_trade))]
    off = off_pool[rng.integers(len(off_pool), size=len(on_trade))]
    return np.where(on_trade, on, off)


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 'First Last' names (falls back to numbered names beyond the pool)."""
    pool = [f"{f} {s}" for f in FIRST_NAMES for s in SURNAMES]
    picks = rng.permutation(len(pool))
    return [
        pool[picks[i % len(pool)]] + (f" {i // len(pool) + 1}" if i >= len(pool) else "")
        for i in range(n)
    ]


@dataclass(frozen=True)
class Catalogue:
    tables: dict[str, pl.DataFrame]
    item_id: np.ndarray
    category: np.ndarray
    tier: np.ndarray
    price: np.ndarray
    popularity: np.ndarray  # mean 1, Zipf-like
    channel_mult: np.ndarray  # (2 channels: on, off) x skus
    season: np.ndarray  # skus x 52 multipliers, mean 1 per SKU


def frame(name: str, data: dict[str, Any]) -> pl.DataFrame:
    """A frame with exactly the contract columns and dtypes of table ``name``."""
    return pl.DataFrame(data, schema=pl.Schema(TABLES[name].columns))


def build_catalogue(rng: np.random.Generator, n_skus: int) -> Catalogue:
    n_cat = len(CATALOGUE)
    per_cat = apportion(n_skus, np.array([c[2] for c in CATALOGUE]), 2)
    sub_cat = np.concatenate([np.full(len(c[6]), i) for i, c in enumerate(CATALOGUE)])
    subs = [s for c in CATALOGUE for s in c[6]]
    sub_start = np.searchsorted(sub_cat, np.arange(n_cat))
    n_brands = np.minimum([len(b) for b in BRANDS], np.maximum(2, np.ceil(per_cat / 4.5))).astype(
        int
    )
    brand_cat = np.repeat(np.arange(n_cat), n_brands)
    brand_names = [BRANDS[c][i] for c in range(n_cat) for i in range(n_brands[c])]
    brand_start = np.searchsorted(brand_cat, np.arange(n_cat))

    cat = np.repeat(np.arange(n_cat), per_cat)
    sub = sub_start[cat] + rng.integers(0, np.bincount(sub_cat)[cat])
    brand = brand_start[cat] + rng.integers(0, n_brands[cat])
    base = np.array([c[1] for c in CATALOGUE])[cat]
    price = np.round(np.maximum(0.5, base * rng.lognormal(0.0, 0.5, n_skus)), 2)
    order = np.lexsort((price, cat))
    pos = np.empty(n_skus, dtype=np.int64)
    pos[order] = np.arange(n_skus) - np.repeat(np.cumsum(per_cat) - per_cat, per_cat)
    tier = np.minimum(2, 3 * pos // per_cat[cat])
    popularity = 1.0 / pm.power(1.0 + rng.permutation(n_skus), 0.8)
    popularity /= popularity.mean()
    chan_cat = np.array([[c[4] for c in CATALOGUE], [c[5] for c in CATALOGUE]])
    chan_sub = np.array([[s[1] for s in subs], [s[2] for s in subs]])
    channel_mult = chan_cat[:, cat] * chan_sub[:, sub]

    profile = np.where(rng.random(n_skus) < 0.7, np.array([s[3] for s in subs])[sub], FLAT)
    w = np.arange(52)
    curves = np.stack(
        [
            np.ones(52),
            1 + 0.5 * pm.cos(2 * np.pi * (w - 28) / 52),
            1 + 0.3 * pm.cos(2 * np.pi * (w - 50) / 52) + 0.9 * (w >= 49),
        ]
    )
    curves /= curves.mean(axis=1, keepdims=True)
    variant = rng.integers(0, 3, n_skus)
    names = [
        f"{brand_names[brand[i]]} {subs[sub[i]][0]} {VARIANTS[tier[i]][variant[i]]} "
        f"{CATALOGUE[cat[i]][3]}"
        for i in range(n_skus)
    ]  # loop over SKUs only
    item_id = ID_BASE["item"] + np.arange(n_skus)
    tables = {
        "MV_SetupCategory": frame(
            "MV_SetupCategory",
            {
                "CategoryId": ID_BASE["category"] + np.arange(n_cat),
                "CategoryName": [c[0] for c in CATALOGUE],
            },
        ),
        "MV_SetupSubCategory": frame(
            "MV_SetupSubCategory",
            {
                "SubCategoryId": ID_BASE["subcategory"] + np.arange(len(subs)),
                "SubCategoryName": [s[0] for s in subs],
                "CategoryId": ID_BASE["category"] + sub_cat,
            },
        ),
        "MV_SetupBrand": frame(
            "MV_SetupBrand",
            {"BrandId": ID_BASE["brand"] + np.arange(len(brand_names)), "BrandName": brand_names},
        ),
        "MV_SetupItem": frame(
            "MV_SetupItem",
            {
                "ItemId": item_id,
                "ItemName": names,
                "BrandId": ID_BASE["brand"] + brand,
                "SubCategoryId": ID_BASE["subcategory"] + sub,
                "UnitPrice": price,
            },
        ),
    }
    return Catalogue(tables, item_id, cat, tier, price, popularity, channel_mult, curves[profile])
