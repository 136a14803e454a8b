"""Coordinate reference systems: parse what users give, and bring coordinates to CGCS2000.

Handles EPSG codes (4326, 4490, 3857, …), the CGCS2000 3° Gauss-Krüger zones EPSG:4513–4554 with
and without the zone prefix in X and with either axis order, and the offset systems of Chinese web
maps and phones: GCJ-02 (``gcj02``) and BD-09 (``bd09``). WGS-84 and CGCS2000 differ by well under
a metre, which PROJ also treats as a null transformation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from gis.errors import InvalidInput
from gis.settings import STORAGE_SRID

GK_PREFIXED = range(4513, 4534)  # "3-degree Gauss-Kruger zone 25..45": X carries the zone number
GK_PLAIN = range(4534, 4555)  # "3-degree Gauss-Kruger CM 75E..135E": X without the zone number
ALIASES = {
    "wgs84": 4326,
    "wgs-84": 4326,
    "epsg:4326": 4326,
    "4326": 4326,
    "cgcs2000": 4490,
    "epsg:4490": 4490,
    "4490": 4490,
    "webmercator": 3857,
    "epsg:3857": 3857,
    "3857": 3857,
    "gcj02": "gcj02",
    "gcj-02": "gcj02",
    "gcj": "gcj02",
    "mars": "gcj02",
    "bd09": "bd09",
    "bd-09": "bd09",
    "baidu": "bd09",
}
ALLOWED_TEXT = "EPSG:4326, EPSG:4490, EPSG:3857, EPSG:4513-4554 (CGCS2000 3° GK), any EPSG code, gcj02, bd09"


@dataclass(frozen=True)
class Crs:
    """Either an EPSG code or one of the offset systems (``gcj02``, ``bd09``)."""

    epsg: int | None = None
    offset: str | None = None

    def __str__(self) -> str:
        return self.offset if self.offset else f"EPSG:{self.epsg}"

    @property
    def is_geographic(self) -> bool:
        return self.offset is not None or _pyproj_crs(self.epsg).is_geographic


@lru_cache(maxsize=64)
def _pyproj_crs(epsg: int) -> CRS:
    return CRS.from_epsg(epsg)


def parse_crs(value: object, field: str = "crs") -> Crs:
    """Parse a user-given CRS.

    >>> parse_crs("gcj02")
    Crs(epsg=None, offset='gcj02')
    >>> parse_crs("EPSG:4547").epsg
    4547
    """
    if isinstance(value, Crs):
        return value
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
    else:
        raise InvalidInput("a CRS is required", field=field, allowed=ALLOWED_TEXT)
    alias = ALIASES.get(text.lower())
    if isinstance(alias, str):
        return Crs(offset=alias)
    if isinstance(alias, int):
        return Crs(epsg=alias)
    try:
        crs = CRS.from_user_input(int(text) if text.isdigit() else text)
    except (CRSError, ValueError):
        raise InvalidInput(f"unknown CRS {text!r}", field=field, allowed=ALLOWED_TEXT) from None
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is None:
        raise InvalidInput(
            f"CRS {text!r} has no EPSG equivalent; give its EPSG code", field=field, allowed=ALLOWED_TEXT
        )
    return Crs(epsg=epsg)


def crs_from_pyproj(crs: CRS | None) -> Crs | None:
    if crs is None:
        return None
    epsg = crs.to_epsg(min_confidence=70)
    if epsg is None:
        raise InvalidInput(
            f"the file's CRS ({crs.name}) has no EPSG equivalent: pass --crs", field="crs", allowed=ALLOWED_TEXT
        )
    return Crs(epsg=epsg)


# --- GCJ-02 / BD-09 --------------------------------------------------------------------------
_A = 6378245.0
_EE = 0.00669342162296594323
_XPI = np.pi * 3000.0 / 180.0


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The published GCJ-02 obfuscation (no offset outside China)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += common + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon += common + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrtmagic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrtmagic * np.cos(radlat) * np.pi)
    out = _out_of_china(lon, lat)
    return np.where(out, lon, lon + dlon), np.where(out, lat, lat + dlat)


def gcj02_to_bd09(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _XPI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _XPI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Fixed-point iteration on the forward formula: converges to ~1e-9° (0.1 mm) in a few steps,
    # where the usual one-step inverse is off by up to a couple of metres.
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    wx, wy = lon.copy(), lat.copy()
    for _ in range(30):
        fx, fy = forward(wx, wy)
        dx, dy = fx - lon, fy - lat
        wx -= dx
        wy -= dy
        if np.nanmax(np.abs(dx), initial=0) < 1e-10 and np.nanmax(np.abs(dy), initial=0) < 1e-10:
            break
    return wx, wy


def gcj02_to_wgs84(lon, lat):
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_wgs84(lon, lat):
    return _invert(lambda x, y: gcj02_to_bd09(*wgs84_to_gcj02(x, y)), lon, lat)


# --- Gauss-Krüger -------------------------------------------------------------------------------
def _easting_like(v: float) -> bool:
    rest = v % 1_000_000 if v > 1e7 else v
    return (1e5 <= rest <= 9e5) and (v < 1e6 or 1.3e7 <= v < 4.6e7)


def _northing_like(v: float) -> bool:
    return 1e6 <= v <= 6.5e6


def normalize_gauss_kruger(epsg: int, x: np.ndarray, y: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Fix axis order and zone prefix of CGCS2000 3° GK coordinates.

    Surveying files often write northing first, and the zone number in X (``38 500 000``) may be
    present under a CRS that expects it absent, or the other way round. Returns the EPSG code
    that matches the numbers, and easting/northing arrays.
    """
    if len(x) == 0:
        return epsg, x, y
    mx, my = float(np.nanmedian(x)), float(np.nanmedian(y))
    if _northing_like(mx) and _easting_like(my) and not _easting_like(mx):
        x, y = y, x
        mx, my = my, mx
    if mx > 1e7:
        zone = int(mx // 1_000_000)
        if not 25 <= zone <= 45:
            raise InvalidInput(f"X values around {mx:.0f} carry zone {zone}: CGCS2000 3° zones are 25-45", field="crs")
        if epsg in GK_PLAIN and zone != 25 + (epsg - 4534):
            raise InvalidInput(
                f"X values carry zone {zone} but EPSG:{epsg} is central meridian {75 + 3 * (epsg - 4534)}°E",
                field="crs",
            )
        return 4513 + zone - 25, x, y
    if epsg in GK_PREFIXED:
        return 4534 + (epsg - 4513), x, y
    return epsg, x, y


# --- the public converters ------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def xy_to_storage(x: np.ndarray, y: np.ndarray, crs: Crs) -> tuple[np.ndarray, np.ndarray]:
    """Convert coordinate arrays in ``crs`` to CGCS2000 lon/lat."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if crs.offset == "gcj02":
        return gcj02_to_wgs84(x, y)
    if crs.offset == "bd09":
        return bd09_to_wgs84(x, y)
    epsg = crs.epsg
    if epsg in (4326, STORAGE_SRID):
        return x, y
    if epsg in GK_PREFIXED or epsg in GK_PLAIN:
        epsg, x, y = normalize_gauss_kruger(epsg, x, y)
    return _transformer(epsg, STORAGE_SRID).transform(x, y)


def geoms_to_storage(geoms: np.ndarray, crs: Crs) -> np.ndarray:
    """Convert an array of shapely geometries to CGCS2000 lon/lat (2D)."""
    geoms = np.asarray(geoms, dtype=object)
    if crs.epsg in (4326, STORAGE_SRID):
        return shapely.force_2d(geoms)
    coords = shapely.get_coordinates(geoms)
    if crs.epsg in GK_PREFIXED or crs.epsg in GK_PLAIN:
        # decide swap/prefix once for the whole file, not per geometry
        epsg, xs, ys = normalize_gauss_kruger(crs.epsg, coords[:, 0], coords[:, 1])
        lon, lat = _transformer(epsg, STORAGE_SRID).transform(xs, ys)
    else:
        lon, lat = xy_to_storage(coords[:, 0], coords[:, 1], crs)
    return shapely.set_coordinates(shapely.force_2d(geoms).copy(), np.column_stack([lon, lat]))


def geoms_from_storage(geoms: np.ndarray, crs: Crs) -> np.ndarray:
    """Convert stored CGCS2000 lon/lat geometries to ``crs`` (an EPSG code, ``gcj02`` or ``bd09``)."""
    geoms = np.asarray(geoms, dtype=object)
    if crs.epsg in (4326, STORAGE_SRID):
        return geoms
    coords = shapely.get_coordinates(geoms)
    lon, lat = coords[:, 0], coords[:, 1]
    if crs.offset is not None:
        x, y = wgs84_to_gcj02(lon, lat)
        if crs.offset == "bd09":
            x, y = gcj02_to_bd09(x, y)
    else:
        x, y = _transformer(STORAGE_SRID, crs.epsg).transform(lon, lat)
    return shapely.set_coordinates(geoms.copy(), np.column_stack([x, y]))


def describe_unplausible(bounds: tuple[float, float, float, float]) -> str:
    """A message for a file without CRS whose numbers are not lon/lat, with a guess where possible."""
    minx, miny, maxx, maxy = bounds

    def num(v: float) -> str:
        return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.6g}"

    seen = f"X spans {num(minx)}…{num(maxx)}, Y spans {num(miny)}…{num(maxy)}"
    hint = ""
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    for ex, ny, swapped in ((mx, my, False), (my, mx, True)):
        if _easting_like(ex) and _northing_like(ny):
            order = " (northing first)" if swapped else ""
            if ex > 1e7:
                zone = int(ex // 1e6)
                hint = (
                    f"; this looks like CGCS2000 3° Gauss-Krüger zone {zone} with the zone prefix{order}: "
                    f"try --crs EPSG:{4513 + zone - 25}"
                )
            else:
                hint = f"; this looks like CGCS2000 3° Gauss-Krüger without zone prefix{order}: try --crs EPSG:45xx"
            break
    if not hint and abs(mx) <= 2.0e7 and abs(my) <= 2.0e7 and max(abs(mx), abs(my)) > 1e6:
        hint = "; this may be Web Mercator: try --crs EPSG:3857"
    return f"the file has no CRS and its coordinates are not lon/lat ({seen}){hint}"


def plausible_lonlat(bounds: tuple[float, float, float, float]) -> bool:
    minx, miny, maxx, maxy = bounds
    return -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
