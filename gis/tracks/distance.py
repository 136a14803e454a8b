"""Great-circle distances between GPS fixes."""

from __future__ import annotations

import math

import numpy as np

EARTH_R = 6_371_008.8


def haversine(lon1, lat1, lon2, lat2):
    """Great-circle distance in metres (arrays welcome).

    >>> round(float(haversine(116.0, 40.0, 116.0, 40.001)), 1)
    111.2
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_R * np.arcsin(np.sqrt(a))


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Scalar haversine in metres (plain math: a numpy call per point costs more than the sum)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * EARTH_R * math.asin(math.sqrt(a))
