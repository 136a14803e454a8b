"""Mapbox vector tiles (MVT) from PostGIS: grids of each level, components and cases.

Each tile is one statement: the tile's envelope is transformed to the storage CRS for the index
test (as pg_tileserv does), only the matching rows are transformed to Web Mercator and clipped by
``ST_AsMVTGeom``. Features come in a deterministic order (grid code, component code, case id) up
to a cap; one more is fetched to say whether the tile was cut. A collection has a first zoom
below which its tiles are empty (30,000 unit grids are no picture at zoom 8); up to zoom 13 the
current grids are drawn from boundaries simplified for the zoom band, coverage-safely, when they
were written (:mod:`gis.grids.simple`; a past ``at`` is drawn exact); and cases are
points only from zoom 15: below, one count per grid (unit grids from zoom 12, communities,
streets, districts further out) from the counts kept as cases are written, so millions of cases
are neither read nor sent. ``where`` is the caller's reach (:func:`gis.access.principal.area_condition`), bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.crs import wgs84_to_gcj02
from gis.errors import InvalidInput

EXTENT, BUFFER = 4096, 64
MAX_ZOOM = 22
#: features per tile at most (tippecanoe's default cap is 200,000; a tile stays under 500 KB here)
CAP = 20_000
CASE_POINTS_FROM = 15
#: the last zoom of each band of simplified grid boundaries → its column in ``grid_simple``
SIMPLE_BANDS = {9: "z9", 11: "z11", 13: "z13"}


@dataclass(frozen=True)
class Collection:
    name: str
    kind: str  # grids, components, cases
    minzoom: int
    level: int | None = None
    fields: tuple[tuple[str, str], ...] = ()


COLLECTIONS = {
    c.name: c
    for c in (
        Collection("grids-district", "grids", 0, 1, (("code", "String"), ("name", "String"))),
        Collection("grids-street", "grids", 9, 2, (("code", "String"), ("name", "String"), ("parent", "String"))),
        Collection("grids-community", "grids", 11, 3, (("code", "String"), ("name", "String"), ("parent", "String"))),
        Collection(
            "grids-unit",
            "grids",
            13,
            4,
            (("code", "String"), ("name", "String"), ("parent", "String"), ("resp_person", "String")),
        ),
        Collection("components", "components", 14, None, (("code", "String"), ("name", "String"), ("class", "String"))),
        Collection(
            "cases",
            "cases",
            0,
            None,
            (
                ("id", "Number"),
                ("state", "String"),
                ("class", "String"),
                ("overdue", "Boolean"),
                ("code", "String"),
                ("count", "Number"),
            ),
        ),
    )
}

# ``:dx, :dy``: a base map's offset at the tile's centre, in Web Mercator metres (0 for none): rows
# are chosen where their shifted geometry meets the tile, and drawn shifted
_BOUNDS = """bounds AS (
    SELECT ST_TileEnvelope(:z, :x, :y) AS merc,
           ST_Transform(ST_Translate(ST_TileEnvelope(:z, :x, :y), -CAST(:dx AS float8), -CAST(:dy AS float8)), 4490) AS b
)"""
_SHIFTED = "ST_Translate(ST_Transform({g}, 3857), CAST(:dx AS float8), CAST(:dy AS float8))"

_GRIDS = f"""WITH {_BOUNDS},
rows AS (
    SELECT g.code, g.name, g.parent_code AS parent, g.resp_person,
           ST_AsMVTGeom({_SHIFTED.format(g="{shape}")}, bounds.merc, {EXTENT}, {BUFFER}, true) AS geom
    FROM grid g {{simple}}, bounds
    WHERE g.level = :level AND g.geom && bounds.b AND wangge_valid(g.valid_from, g.valid_to, :at) AND {{where}}
    ORDER BY g.code
    LIMIT :cap + 1
)
SELECT ST_AsMVT(r, :layer, {EXTENT}, 'geom', 'fid'), (SELECT count(*) FROM rows)
FROM (SELECT code::bigint AS fid, code, name, parent, {{extra}} geom FROM rows
      WHERE geom IS NOT NULL ORDER BY code LIMIT :cap) r"""

_COMPONENTS = f"""WITH {_BOUNDS},
rows AS (
    SELECT c.code, c.name, c.class_code AS class,
           ST_AsMVTGeom({_SHIFTED.format(g="c.geom")}, bounds.merc, {EXTENT}, {BUFFER}, true) AS geom
    FROM component c, bounds
    WHERE c.geom && bounds.b AND {{where}}
    ORDER BY c.code
    LIMIT :cap + 1
)
SELECT ST_AsMVT(r, :layer, {EXTENT}, 'geom'), (SELECT count(*) FROM rows)
FROM (SELECT * FROM rows WHERE geom IS NOT NULL ORDER BY code LIMIT :cap) r"""

_CASE_POINTS = f"""WITH {_BOUNDS},
rows AS (
    SELECT c.id, c.state, c.class_code AS class,
           (c.state <> 'closed' AND c.deadline < now()) AS overdue,
           ST_AsMVTGeom({_SHIFTED.format(g="c.geom")}, bounds.merc, {EXTENT}, {BUFFER}, true) AS geom
    FROM "case" c, bounds
    WHERE c.geom && bounds.b AND {{where}}
    ORDER BY c.id DESC
    LIMIT :cap + 1
)
SELECT ST_AsMVT(r, :layer, {EXTENT}, 'geom', 'id'), (SELECT count(*) FROM rows)
FROM (SELECT * FROM rows WHERE geom IS NOT NULL ORDER BY id DESC LIMIT :cap) r"""


def check_tile(z: int, x: int, y: int) -> None:
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInput(f"zoom {z} is out of range", field="z", allowed=f"0-{MAX_ZOOM}")
    if not (0 <= x < 2**z and 0 <= y < 2**z):
        raise InvalidInput(f"no tile {x}/{y} at zoom {z}", field="x", allowed=f"0-{2**z - 1}")


def tile(
    conn: Connection,
    collection: str,
    z: int,
    x: int,
    y: int,
    *,
    where: str = "TRUE",
    params: dict[str, Any] | None = None,
    at: datetime | None = None,
    offset: str | None = None,
) -> tuple[bytes, bool]:
    """The tile's MVT bytes (one layer named after the collection) and whether the cap cut it.
    ``offset="gcj02"``: drawn for a GCJ-02 base map (:func:`offset_shift`). Cases below zoom 15
    are counts per grid: :func:`gis.cases.cells.case_cells`."""
    if collection not in COLLECTIONS:
        raise InvalidInput(f"unknown collection {collection!r}", field="collection", allowed=sorted(COLLECTIONS))
    check_tile(z, x, y)
    c = COLLECTIONS[collection]
    if z < c.minzoom:
        return b"", False
    dx, dy = offset_shift(z, x, y) if offset == "gcj02" else (0.0, 0.0)
    values = {"z": z, "x": x, "y": y, "layer": collection, "cap": CAP, "dx": dx, "dy": dy, **(params or {})}
    if c.kind == "grids":
        extra = "resp_person, " if c.level == 4 else ""
        band = next((b for b in SIMPLE_BANDS if z <= b), None)
        if band is not None and at is None:  # the current boundaries, simplified for the zoom
            shape, join = f"coalesce(s.{SIMPLE_BANDS[band]}, g.geom)", "LEFT JOIN grid_simple s ON s.grid_id = g.id"
        else:
            shape, join = "g.geom", ""
        sql = _GRIDS.replace("{shape}", shape).format(where=where, extra=extra, simple=join)
        values.update(level=c.level, at=at or datetime.now(UTC))
    elif c.kind == "components":
        sql = _COMPONENTS.format(where=where)
    elif z < CASE_POINTS_FROM:  # counts, not points: the cases room draws them
        raise ValueError("case tiles below zoom 15: gis.cases.cells.case_cells")
    else:  # (the case list's filters come in ``where``: gis.cases.query.case_filters)
        sql = _CASE_POINTS.format(where=where)
    if c.kind == "cases":
        # A few hundred points, but the planner prices ST_AsMVTGeom high and starts a parallel
        # worker for them: 13 ms instead of 0.6 (measured); serial, on this connection only.
        conn.exec_driver_sql("SET max_parallel_workers_per_gather = 0")
        try:
            data, n = conn.execute(text(sql), values).one()
        finally:
            conn.exec_driver_sql("RESET max_parallel_workers_per_gather")
    else:
        data, n = conn.execute(text(sql), values).one()
    return bytes(data or b""), n > CAP


R = 6378137.0  # Web Mercator's sphere


def offset_shift(z: int, x: int, y: int) -> tuple[float, float]:
    """GCJ-02's offset at the tile's centre, in Web Mercator metres. One shift per tile: the
    offset's fastest-varying term changes by about 3 m per km, so every point of a tile lands
    within two thirds of a pixel of its exact GCJ-02 twin at any zoom, and within a metre on the
    ground from zoom 17 (tests/test_tiles.py measures it). What the pages draw from coordinates (workers, cases,
    tracks, a clicked point) is shifted point by point, exactly (maps/static/wangge.js)."""
    n = 2**z
    lon = (x + 0.5) / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 0.5) / n))))
    glon, glat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))

    def merc_y(phi: float) -> float:
        return R * math.log(math.tan(math.pi / 4 + math.radians(phi) / 2))

    return R * math.radians(float(glon[0]) - lon), merc_y(float(glat[0])) - merc_y(lat)


def version(conn: Connection, collection: str) -> str:
    """Changes whenever the collection's rows are written: the TileJSON's cache-busting key (cases
    change all the time: their tiles are always revalidated, by ETag)."""
    kind = COLLECTIONS[collection].kind
    sql = {
        "grids": "SELECT count(*), max(valid_from), max(valid_to) FROM grid",
        "components": "SELECT 0, max(changed_at), NULL FROM component",
        "cases": "SELECT 0, NULL, NULL",
    }[kind]
    n, a, b = conn.execute(text(sql)).one()
    return "-".join(str(int(v.timestamp() * 1000)) if isinstance(v, datetime) else str(v or 0) for v in (n, a, b))
