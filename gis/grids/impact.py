"""What a new boundary would move, for a boundary editor's check before saving: the open cases
and the components lying in the area that changes hands (inside the old boundary and not the new,
or the other way round), and the gridworkers assigned to the grid. Cases keep the grid chain of
the time they were reported (history is not rewritten); the list tells the grid administrator
whose cases and components lie in the strip they move."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.crs import parse_crs, xy_to_storage
from gis.errors import InvalidInput, NotFound
from gis.grids.hierarchy import CHAIN_COLUMN

LISTED = 200

_MOVED = """WITH new AS (SELECT ST_SetSRID(ST_GeomFromWKB(:wkb), 4490) AS g),
old AS (SELECT geom AS g FROM grid WHERE code = :code AND valid_to IS NULL)
SELECT 'leaving' AS way, t.{key} AS id FROM {table} t, new
WHERE {open} t.{column} = :code AND NOT ST_Covers(new.g, t.geom)
UNION ALL
SELECT 'joining', t.{key} FROM {table} t, new, old
WHERE {open} t.geom && new.g AND ST_Covers(new.g, t.geom) AND NOT ST_Covers(old.g, t.geom)
ORDER BY 1, 2"""


def new_geometry(feature: dict[str, Any], crs: str | None) -> shapely.Geometry:
    """The geometry of a GeoJSON Feature (or a bare geometry) in the storage CRS."""
    geometry = feature.get("geometry", feature) if isinstance(feature, dict) else None
    try:
        geom = shape(geometry)
    except Exception:
        raise InvalidInput("send a GeoJSON Feature or geometry", field="geometry") from None
    if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
        raise InvalidInput(f"a grid is a polygon, not a {geom.geom_type}", field="geometry")
    target = parse_crs(crs or "EPSG:4490")

    def to_storage(xy: np.ndarray) -> np.ndarray:
        x, y = xy_to_storage(xy[:, 0], xy[:, 1], target)
        return np.column_stack([x, y])

    return shapely.transform(geom, to_storage)


def impact(conn: Connection, code: str, feature: dict[str, Any], *, crs: str | None = None) -> dict[str, Any]:
    if conn.execute(text("SELECT 1 FROM grid WHERE code = :c AND valid_to IS NULL"), {"c": code}).scalar() is None:
        raise NotFound(f"no grid {code}", field="code")
    wkb = shapely.to_wkb(new_geometry(feature, crs))
    column = CHAIN_COLUMN[len(code)]
    out: dict[str, Any] = {"code": code}
    for name, table, key, open_ in (
        ("cases", '"case"', "id", "t.state <> 'closed' AND"),
        ("components", "component", "code", ""),
    ):
        sql = _MOVED.format(table=table, key=key, column=column, open=open_)
        rows = conn.execute(text(sql), {"wkb": wkb, "code": code}).all()
        for way in ("leaving", "joining"):
            ids = [str(i) for w, i in rows if w == way]
            out[f"{name}_{way}"] = {"count": len(ids), "ids": ids[:LISTED]}
    out["workers"] = list(
        conn.execute(text("SELECT worker_id FROM worker_grid WHERE grid_code = :c ORDER BY 1"), {"c": code}).scalars()
    )
    return out
