"""Distance helpers for routing: great-circle (haversine) km and a local flat projection.

All functions are vectorised numpy and take degrees. Distances are "road-less": straight-line
over a spherical Earth, which is what the weekly planner can estimate without a road network.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088
"""IUGG mean Earth radius; the haversine error vs the ellipsoid is below 0.5 %."""

FloatArray = npt.NDArray[np.float64]


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in km between points 1 and 2 (degrees; numpy broadcasting applies)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = p2 - p1
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2.0) ** 2
    # clip guards tiny negative / >1 rounding before sqrt/arcsin
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def pairwise_haversine_km(lat: npt.ArrayLike, lon: npt.ArrayLike) -> FloatArray:
    """Symmetric (n, n) matrix of haversine km between all points, zero diagonal."""
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    d = haversine_km(la[:, None], lo[:, None], la[None, :], lo[None, :])
    np.fill_diagonal(d, 0.0)
    return d


def equirectangular_km(
    lat: npt.ArrayLike, lon: npt.ArrayLike, lat0: float, lon0: float
) -> FloatArray:
    """Project points to a flat (n, 2) km plane (x east, y north) centred on (lat0, lon0).

    Accurate to well under 1 % within a few hundred km of the centre, which is the size of a
    sales territory; used where Euclidean geometry is needed (clustering). Longitude
    differences are wrapped to [-180, 180) so territories across the antimeridian stay compact.
    """
    la = np.radians(np.asarray(lat, dtype=np.float64))
    dlon = (np.asarray(lon, dtype=np.float64) - lon0 + 180.0) % 360.0 - 180.0
    x = EARTH_RADIUS_KM * np.radians(dlon) * np.cos(np.radians(lat0))
    y = EARTH_RADIUS_KM * (la - np.radians(lat0))
    return np.column_stack([x, y])


def tour_km(dist: FloatArray, tour: npt.ArrayLike) -> float:
    """Length of the closed tour visiting node indices `tour` in order (last returns to first)."""
    t = np.asarray(tour, dtype=np.intp)
    if t.size < 2:
        return 0.0
    return float(dist[t, np.roll(t, -1)].sum())


def centroid_deg(lat: npt.ArrayLike, lon: npt.ArrayLike) -> tuple[float, float]:
    """Unweighted centre (lat, lon) of points: mean latitude, circular mean of longitude.

    The circular mean keeps a territory straddling the antimeridian centred on it. Good for
    territory-sized spreads; not meant for points spread over a hemisphere.
    """
    la = np.asarray(lat, dtype=np.float64)
    lo = np.radians(np.asarray(lon, dtype=np.float64))
    lon0 = float(np.degrees(np.arctan2(np.sin(lo).mean(), np.cos(lo).mean())))
    return float(la.mean()), lon0
