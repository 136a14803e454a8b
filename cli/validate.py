"""``wangge validate``: nesting, overlaps, gaps, orphans and codes of the grids as of a date."""

from __future__ import annotations

import argparse
import sys

from cli.output import emit, engine, progress
from gis.grids.hierarchy import LEVEL_ALIASES, parse_level
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser("validate", help="check nesting, overlaps, gaps, orphans and codes")
    v.add_argument("--level", choices=list(LEVEL_ALIASES))
    v.add_argument("--at")
    v.add_argument("--tolerance", type=float, default=10.0)
    v.add_argument("--min-area", type=float, default=1.0, help="ignore overlaps and gaps under this many m²")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at
    from gis.grids.validate import validate

    levels = [parse_level(args.level)] if args.level else None
    with engine(settings).connect() as conn:
        result = validate(
            conn,
            levels=levels,
            at=parse_at(args.at),
            tolerance_m=args.tolerance,
            min_area_m2=args.min_area,
            progress=progress(args),
        )
    if args.json:
        emit(result, True)
    else:
        for f in result["findings"]:
            sys.stdout.write(f"{f['kind']:14} {f['level']:10} {f['message']}\n")
        sys.stdout.write(
            "no findings\n"
            if result["ok"]
            else "findings: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items() if v) + "\n"
        )
    return 0 if result["ok"] else 1
