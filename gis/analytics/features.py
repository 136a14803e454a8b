"""An analysis's grids with their boundaries: a GeoJSON FeatureCollection, or a GeoDataFrame for
a GeoPackage (hot spots and emerging patterns alike)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

# (the codes as a joined set: ``= ANY`` over 30,000 bound values is slow, the join is not)
_SHAPES = """SELECT g.code, ST_AsGeoJSON(g.geom, 7)::json FROM unnest(CAST(:codes AS text[])) AS u(code)
JOIN grid g ON g.code = u.code AND wangge_valid(g.valid_from, g.valid_to, :at)"""


def as_geojson(conn: Connection, result: dict[str, Any]) -> dict[str, Any]:
    """The answer's grids as Features (their boundaries in force at ``boundaries_at``, the
    analysis's lattice), the rest of the answer beside them."""
    codes = [g["code"] for g in result["grids"]]
    shapes = dict(conn.execute(text(_SHAPES), {"codes": codes, "at": result["boundaries_at"]}).all())
    features = [
        {
            "type": "Feature",
            "id": g["code"],
            "geometry": shapes.get(g["code"]),
            "properties": {k: v for k, v in g.items() if k != "id"},
        }  # fmt: skip
        for g in result["grids"]
    ]
    meta = {k: v for k, v in result.items() if k != "grids"}
    return {"type": "FeatureCollection", "features": features, **meta}


def frame(collection: dict[str, Any]):
    """The FeatureCollection as a GeoDataFrame in CGCS2000 (EPSG:4490), for a GeoPackage: the
    grids' properties as columns (a series as its values joined by commas), the period and the
    lattice's date as each row's too."""
    import geopandas as gpd
    import shapely

    rows = [
        {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in f["properties"].items()}
        for f in collection["features"]
    ]
    shapes = [shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in collection["features"]]
    out = gpd.GeoDataFrame(rows, geometry=shapes, crs="EPSG:4490")
    for key in ("from", "to", "boundaries_at"):
        if key in collection:
            out[key] = str(collection[key])
    if "steps" in collection:
        out["steps"] = ",".join(collection["steps"])
    return out


def geopackage(collection: dict[str, Any], layer: str) -> bytes:
    """The FeatureCollection as the bytes of a GeoPackage with one layer."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        frame(collection).to_file(path, driver="GPKG", layer=layer)
        return path.read_bytes()
