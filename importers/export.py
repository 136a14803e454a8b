"""Writing grids to files a desktop GIS opens, in the same formats the importer reads.

An exported level imports back unchanged: the columns are those the importer reads (``code``,
``name``, ``parent_code``, the responsible unit and person, then each free attribute as a column).
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from warnings import catch_warnings, simplefilter

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gis.crs import geoms_from_storage, parse_crs
from gis.errors import InvalidInput
from gis.grids.hierarchy import LEVEL_NAMES
from gis.grids.versions import valid_at
from gis.progress import Progress, quiet

#: a Shapefile's field names have at most 10 characters; the importer reads these back
SHAPEFILE_NAMES = {"parent_code": "parent_cod", "resp_person": "resp_perso", "resp_unit_name": "resp_unit_"}
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile", ".kml": "LIBKML"}
COLUMNS = ("code", "name", "parent_code", "resp_unit_name", "resp_person", "resp_phone")


def export_grids(
    engine: Engine,
    path: str | Path,
    *,
    level: int,
    at: datetime | None = None,
    crs: str | None = None,
    layer: str | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Write the grids of one level valid at ``at`` (default now) to ``path``; the format follows
    its extension (GeoPackage, GeoJSON, Shapefile, KML, or CSV with a WKT column)."""
    out = Path(path)
    ext = out.suffix.lower()
    if ext not in (*DRIVERS, ".csv"):
        raise InvalidInput(f"unsupported file type {ext or '(none)'}", field="file", allowed=[*DRIVERS, ".csv"])
    if not out.parent.is_dir():
        raise InvalidInput(f"no such directory: {out.parent}", field="file")
    target = parse_crs(crs or "EPSG:4490")
    with progress("reading") as phase, engine.connect() as conn:
        rows = (
            conn.execute(
                text(
                    f"""SELECT {", ".join(COLUMNS)}, attrs, ST_AsBinary(geom) AS wkb FROM grid g
                WHERE level = :level AND {valid_at("g")} ORDER BY code"""
                ),
                {"level": level, "at": at or datetime.now(UTC)},
            )
            .mappings()
            .all()
        )
        phase.update(len(rows))
    if not rows:
        raise InvalidInput(
            f"no {LEVEL_NAMES[level].removesuffix('_grid')} grids{' at ' + at.isoformat() if at else ''}", field="level"
        )
    frame = pd.DataFrame([{c: r[c] for c in COLUMNS} for r in rows])
    attrs = pd.DataFrame([_flat(r["attrs"]) for r in rows])
    frame = pd.concat([frame, attrs.drop(columns=[c for c in attrs.columns if c in COLUMNS])], axis=1)
    geoms = geoms_from_storage(shapely.from_wkb([bytes(r["wkb"]) for r in rows]), target)
    # a file holds the CRS as an EPSG code; GCJ-02 and BD-09 have none, so their files carry none
    gdf = gpd.GeoDataFrame(frame, geometry=list(geoms), crs=f"EPSG:{target.epsg}" if target.epsg else None)
    warnings: list[str] = []
    if ext == ".shp":
        gdf = gdf.rename(columns=SHAPEFILE_NAMES)
        cut = [c for c in gdf.columns if len(c) > 10]
        if cut:
            warnings.append(
                f"a Shapefile cuts field names to 10 characters ({', '.join(cut)}); a GeoPackage keeps them"
            )
    part = out.with_name(f".{out.stem}.{uuid.uuid4().hex[:8]}.part{ext}")
    try:
        with progress("writing", len(gdf)) as phase:
            _write(gdf, part, ext, layer or LEVEL_NAMES[level])
            phase.update(len(gdf))
        if ext == ".shp":  # a Shapefile is several files: move each beside its final name
            for side in part.parent.glob(f"{part.stem}.*"):
                os.replace(side, out.with_suffix(side.suffix))
        else:
            os.replace(part, out)
    except OSError as exc:
        for side in part.parent.glob(f"{part.stem}.*"):
            side.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}", field="file") from None
    return {
        "file": str(out),
        "level": LEVEL_NAMES[level],
        "crs": str(target),
        "written": len(gdf),
        "warnings": warnings,
    }


def _write(gdf: gpd.GeoDataFrame, part: Path, ext: str, layer: str) -> None:
    if ext == ".csv":
        wkt = shapely.to_wkt(gdf.geometry.to_numpy(), rounding_precision=-1)  # every digit
        gdf.assign(wkt=wkt).drop(columns="geometry").to_csv(part, index=False)
    else:
        with catch_warnings():  # the names cut are reported above
            simplefilter("ignore")
            gdf.to_file(part, driver=DRIVERS[ext], layer=layer, engine="pyogrio")


def _flat(attrs: dict[str, Any] | None) -> dict[str, Any]:
    """Free attributes as columns; nested values as JSON text (a column holds one plain value)."""
    return {
        k: (json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v) for k, v in (attrs or {}).items()
    }
