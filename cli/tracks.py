"""``wangge tracks retire``: archive old GPS days to CSV.gz and drop them."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.output import emit, engine, iso_date, progress
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("tracks", help="GPS track days: archive and drop old ones")
    tr.add_argument("action", choices=["retire"])
    tr.add_argument("--before", required=True, type=iso_date, help="drop the days before this date (YYYY-MM-DD, UTC)")
    tr.add_argument("--archive", metavar="DIR", help="first write each day to DIR/track_point_YYYYMMDD.csv.gz")
    tr.add_argument("--dry-run", action="store_true", help="list the days and their points, change nothing")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from importers.track_archive import retire

    with engine(settings).begin() as conn:
        report = retire(
            conn,
            args.before,
            Path(args.archive) if args.archive else None,
            dry_run=args.dry_run,
            progress=progress(args),
        )
    verb = "would drop" if args.dry_run else ("archived and dropped" if args.archive else "dropped")
    emit(report, args.json, f"{verb} {len(report['days'])} day(s), {report['points']} points before {args.before}")
    return 0
