"""``wangge lookup``: the grids of one point, or of every row of a CSV."""

from __future__ import annotations

import argparse
import sys

from cli.output import emit, engine, progress
from gis.errors import WanggeError
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    lk = sub.add_parser("lookup", help="which grids contain a point (or every row of a CSV)")
    lk.add_argument("lon", nargs="?", type=float)
    lk.add_argument("lat", nargs="?", type=float)
    lk.add_argument("--crs", default="EPSG:4490")
    lk.add_argument("--at")
    lk.add_argument("--input")
    lk.add_argument("--output")
    lk.add_argument("--lon-field")
    lk.add_argument("--lat-field")
    lk.add_argument("--json", action="store_true")
    lk.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at

    eng = engine(settings)
    at = parse_at(args.at)
    if args.input:
        from importers.lookup_csv import lookup_csv

        for flag in ("output", "lon_field", "lat_field"):
            if not getattr(args, flag):
                raise WanggeError(f"--input needs --{flag.replace('_', '-')}", field=flag)
        stats = lookup_csv(
            eng,
            args.input,
            args.output,
            lon_field=args.lon_field,
            lat_field=args.lat_field,
            crs=args.crs,
            at=at,
            progress=progress(args),
        )
        emit(
            stats,
            args.json,
            f"{stats['rows']} rows → {args.output}: {stats['assigned_unit_grid']} in a unit grid, "
            f"{stats['outside']} outside, {stats['seconds']:.1f} s",
        )
        return 0
    if args.lon is None or args.lat is None:
        raise WanggeError("give LON LAT, or --input FILE.csv", field="lon")
    from gis.grids.lookup import LEVELS, lookup_point

    with eng.connect() as conn:
        result = lookup_point(conn, args.lon, args.lat, crs=args.crs, at=at, tolerance_m=settings.boundary_tolerance_m)
    if args.json:
        emit(result, True)
    else:
        for level in LEVELS:
            g = result[level]
            sys.stdout.write(f"{level:10} {(g['code'] + ' ' + g['name']) if g else '-'}\n")
        if result["outside"]:
            sys.stdout.write("outside every grid\n")
        sys.stdout.write(f"on_boundary {result['on_boundary']}, boundary distance {result['boundary_distance_m']} m\n")
    return 0
