from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Polygon
from sqlalchemy import text

from gis.crs import (
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    normalize_gauss_kruger,
    parse_crs,
    wgs84_to_gcj02,
)
from gis.errors import InvalidInput
from importers.core import GridImportOptions, import_grids

# A district-sized polygon in Beijing (lon/lat), in CGCS2000 3° zone 39 (central meridian 117°E).
LONLAT = Polygon([(116.30, 39.90), (116.36, 39.90), (116.37, 39.95), (116.31, 39.96), (116.30, 39.90)])


def test_gcj02_and_bd09_round_trip():
    lon = np.array([110.3, 114.06, 116.4, 121.47])
    lat = np.array([20.0, 22.54, 39.9, 31.23])
    gx, gy = wgs84_to_gcj02(lon, lat)
    # the offset is hundreds of metres
    assert np.all(np.hypot(gx - lon, gy - lat) > 0.001)
    wx, wy = gcj02_to_wgs84(gx, gy)
    assert np.allclose(wx, lon, atol=1e-8) and np.allclose(wy, lat, atol=1e-8)
    bx, by = gcj02_to_bd09(gx, gy)
    wx, wy = bd09_to_wgs84(bx, by)
    assert np.allclose(wx, lon, atol=1e-8) and np.allclose(wy, lat, atol=1e-8)


# Reference values from an independent implementation, computed once (not by wangge):
# coord-convert 0.2.1 (PyPI, coord_convert.transform.wgs2gcj and gcj2bd), 2026-11-29, pip-installed
# into a throwaway directory, not a project dependency. eviltransform 0.1.1 (wgs2gcj) agrees within
# 1.1e-7 degrees. Tokyo lies outside the GCJ-02 box: no offset, though BD-09 still shifts it.
#        place      WGS-84 lon, lat          GCJ-02 lon, lat                          BD-09 lon, lat
REFERENCE = [
    ("Beijing", 116.397428, 39.90923, 116.40367162595768, 39.91063350638631, 116.41004410170474, 39.916972856075134),
    ("Shanghai", 121.473701, 31.230416, 121.47822405739267, 31.22847374224698, 121.48478247238995, 31.23432658138832),
    ("Haikou", 110.33119, 20.031971, 110.33556086684169, 20.029923923236343, 110.3421094332691, 20.03560001912886),
    ("Urumqi", 87.616848, 43.825592, 87.61969799823531, 43.826797436147594, 87.62614810195592, 43.832941270296004),
    ("Harbin", 126.642464, 45.756967, 126.64843401023796, 45.758918130663396, 126.65506367010121, 45.76461182162859),
    ("Tokyo", 139.6917, 35.6895, 139.6917, 35.6895, 139.69812252626312, 35.69584545284111),
]


@pytest.mark.parametrize(
    ("place", "lon", "lat", "glon", "glat", "blon", "blat"), REFERENCE, ids=[r[0] for r in REFERENCE]
)
def test_gcj02_and_bd09_match_an_independent_implementation(place, lon, lat, glon, glat, blon, blat):
    """Forward within 1e-6 degrees (about 0.1 m) of the reference; a wrong coefficient moves a
    point by far more. The inverses bring the reference back to WGS-84."""
    gx, gy = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    assert abs(gx[0] - glon) < 1e-6 and abs(gy[0] - glat) < 1e-6, place
    bx, by = gcj02_to_bd09(np.array([glon]), np.array([glat]))
    assert abs(bx[0] - blon) < 1e-6 and abs(by[0] - blat) < 1e-6, place
    wx, wy = gcj02_to_wgs84(np.array([glon]), np.array([glat]))
    assert abs(wx[0] - lon) < 1e-6 and abs(wy[0] - lat) < 1e-6, place
    wx, wy = bd09_to_wgs84(np.array([blon]), np.array([blat]))
    assert abs(wx[0] - lon) < 1e-6 and abs(wy[0] - lat) < 1e-6, place


def test_outside_china_no_offset():
    gx, gy = wgs84_to_gcj02(np.array([2.35]), np.array([48.85]))
    assert gx[0] == 2.35 and gy[0] == 48.85


def test_parse_crs_errors_name_allowed_values():
    with pytest.raises(InvalidInput) as info:
        parse_crs("mars-2")
    assert info.value.field == "crs" and "gcj02" in info.value.allowed
    assert parse_crs("bd-09").offset == "bd09"
    assert parse_crs("4547").epsg == 4547


def _gk_coords(prefix: bool) -> np.ndarray:
    t = Transformer.from_crs(4490, 4527 if prefix else 4548, always_xy=True)
    coords = np.array(LONLAT.exterior.coords)
    e, n = t.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([e, n])


def test_normalize_gauss_kruger_fixes_axis_order_and_prefix():
    en = _gk_coords(prefix=True)
    epsg, x, y = normalize_gauss_kruger(4548, en[:, 1], en[:, 0])  # northing first, prefix under a CM code
    assert epsg == 4527
    assert np.allclose(x, en[:, 0]) and np.allclose(y, en[:, 1])
    epsg, _, _ = normalize_gauss_kruger(4527, *_gk_coords(prefix=False).T)
    assert epsg == 4548


def _geojson_with_crs(path, coords, epsg):
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"code": "110108", "name": "GK"},
                        "geometry": {"type": "Polygon", "coordinates": [coords.tolist()]},
                    }
                ],
            }
        )
    )
    return path


@pytest.mark.parametrize(
    "epsg,prefix,swap",
    [(4527, True, False), (4548, False, False), (4548, True, False), (4527, False, False), (4527, True, True)],
)
def test_gauss_kruger_polygon_lands_where_its_lonlat_original_is(db, tmp_path, epsg, prefix, swap):
    en = _gk_coords(prefix)
    if swap:
        en = en[:, ::-1]
    path = _geojson_with_crs(tmp_path / "gk.geojson", en, epsg)
    import_grids(db, path, GridImportOptions(level=1, crs=f"EPSG:{epsg}"))
    with db.connect() as conn:
        wkb = conn.execute(text("SELECT ST_AsBinary(geom) FROM grid")).scalar_one()
        metres = conn.execute(
            text(
                "SELECT ST_HausdorffDistance(ST_Transform(geom, 4527), ST_Transform(ST_GeomFromText(:w, 4490), 4527)) "
                "FROM grid"
            ),
            {"w": LONLAT.wkt},
        ).scalar_one()
    assert shapely.from_wkb(bytes(wkb)).geom_type == "MultiPolygon"
    assert metres < 1.0
