"""Vector tiles from PostGIS, decoded by GDAL's MVT driver (pyogrio): grids keep their shared edges,
a tile holds only the caller's areas, is cached privately and revalidated by ETag, and cases are
counted in cells until points make sense."""

from __future__ import annotations

import math

import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from gis.cases import intake
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city

MVT = "application/vnd.mapbox-vector-tile"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def decode(data: bytes, layer: str, z: int, x: int, y: int, tmp_path) -> list:
    """The tile's features as (properties, geometry in EPSG:3857), read by GDAL from {z}/{x}/{y}.pbf."""
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    frame = pyogrio.read_dataframe(path, layer=layer)
    return frame


@pytest.fixture
def city(db):
    load_city(db, square_city())
    return db


def test_unit_grids_in_a_tile_share_their_edges_and_cover_without_gaps(settings, city, client, tmp_path):
    z = 15
    x, y = tile_of(X0 + 2 * STEP, Y0 + 2 * STEP, z)
    r = client.get(f"/tiles/grids-unit/{z}/{x}/{y}.pbf")
    assert r.status_code == 200 and r.headers["content-type"] == MVT, r.text
    frame = decode(r.content, "grids-unit", z, x, y, tmp_path)
    assert len(frame) >= 4 and set(frame.columns) >= {"code", "name", "parent", "geometry"}
    assert all(len(c) == 15 for c in frame["code"])
    polygons = shapely.make_valid(frame.geometry.values)
    # neighbours meet along edges and never overlap; together they leave no hole inside the tile
    assert shapely.coverage_is_valid(polygons)
    union = shapely.union_all(polygons)
    assert len(shapely.get_parts(union)) == 1 and shapely.get_num_interior_rings(union) == 0


def _wiggly_city() -> dict:
    """:func:`square_city` whose unit grids have zigzag edges inside each community (19 extra
    vertices 3 m off the line per edge, computed once per edge so neighbours share them)."""
    city = square_city()
    outline = {0, 4, 8}  # community lines stay straight

    def edge(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[float, float]]:
        key = tuple(sorted([a, b]))
        (i0, j0), (i1, j1) = key
        vertical = i0 == i1
        line = [(X0 + i0 * STEP, Y0 + j0 * STEP)]
        if not ((vertical and i0 in outline) or (not vertical and j0 in outline)):
            for k in range(1, 20):
                t, off = k / 20, 3 / 111_320 * (1 if k % 2 else -1)
                x, y = X0 + (i0 + (i1 - i0) * t) * STEP, Y0 + (j0 + (j1 - j0) * t) * STEP
                line.append((x + off, y) if vertical else (x, y + off))
        line.append((X0 + i1 * STEP, Y0 + j1 * STEP))
        return line if (a, b) == key else line[::-1]

    shapes = []
    for g in city[4].geometry:
        i, j = round((g.bounds[0] - X0) / STEP), round((g.bounds[1] - Y0) / STEP)
        corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1), (i, j)]
        ring = [p for a, b in zip(corners[:-1], corners[1:], strict=True) for p in edge(a, b)[:-1]]
        shapes.append(shapely.Polygon(ring))
    city[4] = city[4].set_geometry(shapes)
    return city


def test_low_zoom_grid_tiles_are_simplified_and_stay_a_coverage(settings, db, client, tmp_path):
    load_city(db, _wiggly_city())
    z = 13
    x, y = tile_of(X0 + 2 * STEP, Y0 + 6 * STEP, z)
    simple = decode(client.get(f"/tiles/grids-unit/{z}/{x}/{y}.pbf").content, "grids-unit", z, x, y, tmp_path)
    past = client.get(f"/tiles/grids-unit/{z}/{x}/{y}.pbf", params={"at": "2099-01-01T00:00:00Z"})  # not simplified
    exact = decode(past.content, "grids-unit", z, x, y, tmp_path)
    assert len(simple) == len(exact) >= 16
    polygons = shapely.make_valid(simple.geometry.values)
    assert shapely.coverage_is_valid(polygons)  # neighbours still meet edge to edge
    union = shapely.union_all(polygons)
    assert shapely.get_num_interior_rings(union) == 0
    n_simple = shapely.get_num_coordinates(simple.geometry.values).sum()
    n_exact = shapely.get_num_coordinates(exact.geometry.values).sum()
    assert n_simple < 0.4 * n_exact, (n_simple, n_exact)
    # a redraw recomputes its community's simplified boundaries (the new version's among them)
    code = "110108001001006"
    old = client.get(f"/api/v1/grids/{code}").json()
    moved = shapely.affinity.translate(shapely.geometry.shape(old["geometry"]), xoff=STEP / 5)
    assert (
        client.put(f"/api/v1/grids/{code}", json={**old, "geometry": shapely.geometry.mapping(moved)}).status_code
        == 200
    )
    with db.connect() as conn:
        from sqlalchemy import text

        fresh = conn.execute(
            text(
                "SELECT s.z13 IS NOT NULL FROM grid g JOIN grid_simple s ON s.grid_id = g.id WHERE g.code = :c AND g.valid_to IS NULL"
            ),
            {"c": code},
        ).scalar_one()
    assert fresh


def test_a_street_user_gets_only_their_street_in_tiles(settings, city, tmp_path):
    z = 13
    x, y = tile_of(X0 + 4 * STEP, Y0 + 4 * STEP, z)  # the tile over both streets
    with TestClient(create_app(settings), headers=bearer(api_key(city, "viewer", ("110108001",)))) as c:
        streets = decode(c.get(f"/tiles/grids-street/{z}/{x}/{y}.pbf").content, "grids-street", z, x, y, tmp_path)
        assert list(streets["code"]) == ["110108001"]
        units = c.get(f"/tiles/grids-unit/{z}/{x}/{y}.pbf")
        assert units.headers["cache-control"].startswith("private")
        codes = set(decode(units.content, "grids-unit", z, x, y, tmp_path)["code"])
        assert codes and all(code.startswith("110108001") for code in codes)


def test_tiles_revalidate_by_etag_and_stay_empty_below_their_first_zoom(settings, city, client):
    z = 15
    x, y = tile_of(X0 + 2 * STEP, Y0 + 2 * STEP, z)
    url = f"/tiles/grids-unit/{z}/{x}/{y}.pbf"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content
    spec = client.get("/tiles/grids-unit.json").json()
    assert spec["tilejson"] == "3.0.0" and spec["minzoom"] == 13 and "?v=" in spec["tiles"][0]
    versioned = client.get(url, params={"v": spec["tiles"][0].split("?v=")[1]})
    assert versioned.headers["cache-control"] == "private, max-age=3600"
    # too many unit grids to draw at zoom 10: an empty tile, not 30,000 polygons
    lx, ly = tile_of(X0 + 2 * STEP, Y0 + 2 * STEP, 10)
    low = client.get(f"/tiles/grids-unit/10/{lx}/{ly}.pbf")
    assert low.status_code == 200 and low.content == b""
    bad = client.get("/tiles/grids-unit/3/9/1.pbf")
    assert bad.status_code == 400 and bad.json()["field"] == "x"
    assert client.get("/tiles/grids-nowhere/3/1/1.pbf").status_code in (400, 404)


def test_cases_are_counted_in_cells_then_drawn_as_points(settings, city, client, tmp_path):
    with city.begin() as conn:
        for i in range(30):
            intake.intake(
                conn, lon=X0 + (0.2 + i % 5 * 0.1) * STEP, lat=Y0 + 0.5 * STEP, class_code="0101", channel="hotline"
            )
        intake.intake(conn, lon=X0 + 0.5 * STEP, lat=Y0 + 0.5 * STEP, class_code="0102", channel="app")
    z = 12
    x, y = tile_of(X0 + 0.5 * STEP, Y0 + 0.5 * STEP, z)
    cells = decode(client.get(f"/tiles/cases/{z}/{x}/{y}.pbf").content, "cases", z, x, y, tmp_path)
    assert cells["count"].sum() == 31 and "state" not in cells.columns
    only = decode(
        client.get(f"/tiles/cases/{z}/{x}/{y}.pbf", params={"class": "0102"}).content, "cases", z, x, y, tmp_path
    )
    assert only["count"].sum() == 1
    z = 16
    x, y = tile_of(X0 + 0.5 * STEP, Y0 + 0.5 * STEP, z)
    points = decode(client.get(f"/tiles/cases/{z}/{x}/{y}.pbf").content, "cases", z, x, y, tmp_path)
    assert len(points) >= 1 and set(points.columns) >= {"mvt_id", "state", "class", "overdue"}  # the case id


def test_a_gcj02_base_map_gets_tiles_shifted_within_a_metre_of_the_exact_twins(settings, city, client, tmp_path):
    """One shift per tile, taken at its centre: every point of a tile lands within three quarters
    of a pixel of its exact GCJ-02 twin at any zoom (0.66 measured), and within a metre on the
    ground from zoom 17."""
    import numpy as np

    from gis.crs import wgs84_to_gcj02
    from gis.tiles import R, offset_shift

    def merc(lon, lat):
        return R * np.radians(lon), R * np.log(np.tan(np.pi / 4 + np.radians(lat) / 2))

    rng = np.random.default_rng(4)
    for lon0, lat0 in ((X0, Y0), (110.33, 20.03), (121.47, 31.23), (87.6, 43.8)):
        for z in range(6, 20):
            pixel = 2 * 20037508.34 / 2**z / 256
            metre = 1 / np.cos(np.radians(lat0))  # a metre on the ground, in Web Mercator metres
            allowed_m = min(0.75 * pixel, metre) if z >= 17 else 0.75 * pixel
            x, y = tile_of(lon0, lat0, z)
            n = 2**z
            lons = (x + rng.random(200)) / n * 360 - 180
            lats = np.degrees(np.arctan(np.sinh(np.pi * (1 - 2 * (y + rng.random(200)) / n))))
            dx, dy = offset_shift(z, x, y)
            ex, ey = merc(*wgs84_to_gcj02(lons, lats))
            px, py = merc(lons, lats)
            assert np.hypot(px + dx - ex, py + dy - ey).max() < allowed_m, (lon0, lat0, z)
    # and the tile itself is drawn shifted by that much (grids not cut by the tile's edge in either)
    z = 13
    x, y = tile_of(X0 + 2 * STEP, Y0 + 2 * STEP, z)
    plain = decode(client.get(f"/tiles/grids-unit/{z}/{x}/{y}.pbf").content, "grids-unit", z, x, y, tmp_path)
    moved = decode(
        client.get(f"/tiles/grids-unit/{z}/{x}/{y}.pbf", params={"offset": "gcj02"}).content,
        "grids-unit", z, x, y, tmp_path / "moved",
    )  # fmt: skip
    dx, dy = offset_shift(z, x, y)
    a = {c: g.bounds for c, g in zip(plain["code"], plain.geometry, strict=True)}
    b = {c: g.bounds for c, g in zip(moved["code"], moved.geometry, strict=True)}
    whole = [c for c in set(a) & set(b) if abs((a[c][2] - a[c][0]) - (b[c][2] - b[c][0])) < 1]
    assert len(whole) >= 4
    for c in whole:
        assert abs(b[c][0] - a[c][0] - dx) < 2 and abs(b[c][1] - a[c][1] - dy) < 2, c
