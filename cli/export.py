"""``wangge export grids``: one level, as of a date, to a file the importer reads back unchanged."""

from __future__ import annotations

import argparse

from cli.output import emit, engine, progress
from gis.grids.hierarchy import LEVEL_ALIASES
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="write grids to a file (imports back unchanged)")
    ex_sub = ex.add_subparsers(dest="what", required=True)
    eg = ex_sub.add_parser("grids", help="the grids of one level: .gpkg, .geojson, .shp, .kml or .csv (WKT)")
    eg.add_argument("file")
    eg.add_argument("--level", required=True, choices=list(LEVEL_ALIASES))
    eg.add_argument("--at", help="the versions valid at this date (default: now)")
    eg.add_argument("--crs", help="EPSG:xxxx, gcj02 or bd09 (default: EPSG:4490)")
    eg.add_argument("--layer", help="GeoPackage layer name (default: the level)")
    eg.add_argument("--json", action="store_true")
    eg.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at
    from importers.export import export_grids

    result = export_grids(
        engine(settings),
        args.file,
        level=LEVEL_ALIASES[args.level],
        at=parse_at(args.at),
        crs=args.crs,
        layer=args.layer,
        progress=progress(args),
    )
    human = f"wrote {result['written']} {result['level']} grids to {result['file']} ({result['crs']})"
    emit(result, args.json, "\n".join([human, *(f"  warning: {w}" for w in result["warnings"])]))
    return 0
