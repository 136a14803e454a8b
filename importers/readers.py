"""One reader per file format. Each returns a GeoDataFrame (raw coordinates) and the file's CRS."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely

from gis.errors import InvalidInput

FORMATS = {
    ".geojson": "GeoJSON",
    ".json": "GeoJSON",
    ".shp": "Shapefile",
    ".zip": "zipped Shapefile",
    ".gpkg": "GeoPackage",
    ".kml": "KML",
    ".csv": "CSV with a WKT column",
}
KML_STYLE_FIELDS = (
    "id",
    "description",
    "timestamp",
    "begin",
    "end",
    "altitudeMode",
    "tessellate",
    "extrude",
    "visibility",
    "drawOrder",
    "icon",
)
WKT_COLUMNS = ("wkt", "geometry", "geom", "the_geom", "shape")


def _ogr_path(path: Path) -> str:
    if path.suffix.lower() != ".zip":
        return str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            shps = [n for n in zf.namelist() if n.lower().endswith(".shp")]
    except zipfile.BadZipFile:
        raise InvalidInput(f"{path.name} is not a readable zip file", field="file") from None
    if not shps:
        raise InvalidInput(f"{path.name}: the zip holds no .shp file", field="file")
    return f"/vsizip/{path}/{shps[0]}"


def list_layers(path: Path) -> list[str]:
    try:
        return [str(row[0]) for row in pyogrio.list_layers(_ogr_path(path))]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InvalidInput(f"cannot read {path.name}: {_gdal_message(exc, path)}", field="file") from None


def _gdal_message(exc: Exception, path: Path) -> str:
    """GDAL's reason, naming the file as the user knows it (an upload lives in a temporary
    directory) and without its advice on driver prefixes, which a wangge user cannot act on."""
    return str(exc).split(";")[0].replace(str(path), path.name).strip()


def read_frame(path: str | Path, layer: str | None = None, wkt_field: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector file. The result's ``.crs`` is the file's CRS, or None when the file has none."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise InvalidInput(f"unsupported file type {ext or '(none)'}", field="file", allowed=sorted(FORMATS))
    if ext == ".csv":
        return _read_csv(path, wkt_field)
    src = _ogr_path(path)
    layers = list_layers(path)
    if layer is not None and layer not in layers:
        raise InvalidInput(f"layer {layer!r} not in {path.name}", field="layer", allowed=layers)
    if layer is None and len(layers) > 1 and ext == ".gpkg":
        raise InvalidInput(
            f"{path.name} has {len(layers)} layers: choose one with --layer", field="layer", allowed=layers
        )
    try:
        frame = gpd.read_file(src, layer=layer, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise InvalidInput(f"cannot read {path.name}: {_gdal_message(exc, path)}", field="file") from None
    if ext in (".shp", ".zip"):
        # a Shapefile cuts field names to 10 characters: read wangge's own exports back by their names
        cut = {"parent_cod": "parent_code", "resp_perso": "resp_person", "resp_unit_": "resp_unit_name"}
        frame = frame.rename(columns={k: v for k, v in cut.items() if k in frame.columns and v not in frame.columns})
    if ext == ".kml":
        # LIBKML adds its styling fields to every placemark; keep only those that carry data
        drop = [
            c
            for c in KML_STYLE_FIELDS
            if c in frame.columns and (c != "description" or frame[c].fillna("").astype(str).str.strip().eq("").all())
        ]
        frame = frame.drop(columns=drop)
    return frame


def read_text_csv(path: Path) -> pd.DataFrame:
    """A CSV as text columns (codes keep their leading zeros); an empty or unreadable file is refused."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{path.name} is empty", field="file") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path.name} as UTF-8 CSV: {exc}", field="file") from None


def _read_csv(path: Path, wkt_field: str | None) -> gpd.GeoDataFrame:
    frame = read_text_csv(path)
    if wkt_field is None:
        lower = {c.lower(): c for c in frame.columns}
        wkt_field = next((lower[c] for c in WKT_COLUMNS if c in lower), None)
    if wkt_field is None or wkt_field not in frame.columns:
        raise InvalidInput(f"{path.name}: no WKT column found", field="wkt_field", allowed=list(frame.columns))
    texts = frame.pop(wkt_field).replace("", None)
    frame = frame.replace("", None)  # a CSV cannot tell an empty value from none: none
    geoms = shapely.from_wkt(texts.to_numpy(), on_invalid="ignore")
    # a CSV has no CRS of its own; plausibility is checked later
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index), crs=None)
