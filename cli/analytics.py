"""``wangge analytics``: the planners' counts per grid by season and region, time series and
seasonal profiles (the same as ``/api/v1/analytics/…``, for the whole city)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.output import engine
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("analytics", help="case counts by season and region, series, profiles")
    kinds = a.add_subparsers(dest="kind", required=True)
    for kind, help_ in (
        ("counts", "cases per grid: count, per km², share, rank (and a comparison)"),
        ("series", "cases per day, week or month"),
        ("profile", "cases per month of the year, day of the week or hour of the day"),
        ("hotspots", "hot and cold spots per grid (Getis-Ord Gi*, FDR): GeoJSON or CSV"),
        ("emerging", "emerging hot spots per grid: the 17 categories, trends"),
    ):
        p = kinds.add_parser(kind, help=help_)
        p.add_argument("--from", dest="since", help="start: a date (its midnight in China time) or an ISO date-time")
        p.add_argument("--to", dest="until", help="end, exclusive")
        p.add_argument("--season", choices=["spring", "summer", "autumn", "winter"])
        p.add_argument("--year", type=int, help="the season's year (a winter's is its January's)")
        p.add_argument("--months", help="a season as months, e.g. 6,7,8,9,10")
        p.add_argument("--class", dest="class_code", help="an event class (minor, or major NN00)")
        p.add_argument("--channel")
        p.add_argument("--state", help="a case state, or open")
        p.add_argument("--region", help="a grid code of any level")
        p.add_argument(
            "--output",
            type=Path,
            help="write to FILE (.csv, .json; .geojson or .gpkg for hotspots and emerging) instead of standard output",
        )
        if kind == "counts":
            p.add_argument("--level", default="street", help="district, street, community or unit_grid")
            p.add_argument("--compare", choices=["yoy", "prev"])
        elif kind == "hotspots":
            p.add_argument("--level", default="unit_grid", help="district, street, community or unit_grid")
            p.add_argument("--no-fdr", dest="fdr", action="store_false", help="bins without the FDR correction")
            p.add_argument(
                "--permutations", type=int, default=0,
                help="0: the analytic p-value (default); 9999 or more: conditional permutation inference",
            )  # fmt: skip
            p.add_argument("--seed", type=int, help="the permutations' random seed (repeatable answers)")
        elif kind == "emerging":
            p.add_argument("--level", default="community", help="district, street, community or unit_grid")
            p.add_argument("--step", default="month", choices=["month", "quarter", "year", "season"])
            p.add_argument("--k", type=int, default=1, help="space-time neighbours: this step and the k before")
            p.add_argument("--no-fdr", dest="fdr", action="store_false", help="bins without the FDR correction")
        elif kind == "series":
            p.add_argument("--step", default="month", choices=["day", "week", "month"])
        else:
            p.add_argument("--by", default="month", choices=["month", "weekday", "hour"])
        p.set_defaults(func=run)


def _period(args: argparse.Namespace):
    from datetime import UTC, datetime

    from gis.analytics.counts import season_period
    from gis.cases.heat import default_period
    from gis.errors import InvalidInput

    months = None
    if args.months:
        try:
            months = [int(m) for m in args.months.split(",") if m.strip()]
        except ValueError:
            raise InvalidInput(f"bad months {args.months!r}", field="months", allowed="1-12, comma-separated") from None
    if args.season or args.year:
        if not (args.season and args.year):
            raise InvalidInput("--season and --year go together", field="season" if not args.season else "year")
        if args.since or args.until or months:
            raise InvalidInput("give a season or a period with months, not both", field="season")
        return season_period(args.season, args.year)
    a, b = default_period(datetime.now(UTC))
    return _china(args.since, "from") or a, _china(args.until, "to") or b, months


def _china(value: str | None, field: str):
    """A date is its midnight in China time (a planner's day); a date-time as written."""
    from datetime import date, datetime

    from gis.cases.counts import CHINA
    from gis.dates import parse_at

    if value and len(value) == 10:
        try:
            d = date.fromisoformat(value)
        except ValueError:
            return parse_at(value, field)  # its message names the field
        return datetime(d.year, d.month, d.day, tzinfo=CHINA)
    return parse_at(value, field)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.analytics import counts, features, tables

    if args.kind == "emerging":  # a span of steps; --season picks the season of each year
        from datetime import datetime

        from gis.cases.counts import CHINA

        now = datetime.now(CHINA)
        this_month = datetime(now.year, now.month, 1, tzinfo=CHINA)
        since = _china(args.since, "from") or datetime(now.year - 3, now.month, 1, tzinfo=CHINA)
        until, months = _china(args.until, "to") or this_month, None
    else:
        since, until, months = _period(args)
    kw = {
        "since": since, "until": until, "months": months, "class_code": args.class_code, "channel": args.channel,
        "state": args.state, "region": args.region,
    }  # fmt: skip
    with engine(settings).connect() as conn:
        if args.kind == "counts":
            found = counts.grid_counts(conn, level=args.level, compare=args.compare, **kw)
            rows, fields = found["grids"], tables.COMPARED if args.compare else tables.COUNTS
        elif args.kind == "series":
            found = rows = counts.series(conn, step=args.step, **kw)
            fields = ("period", "count")
        elif args.kind == "emerging":
            from gis.analytics import emerging

            if args.step == "season" and not args.season:
                from gis.errors import InvalidInput

                raise InvalidInput("--step season needs --season", field="season")
            found = emerging.emerging(
                conn, level=args.level, since=kw["since"], until=kw["until"], step=args.step,
                season=args.season if args.step == "season" else None, k=args.k, class_code=args.class_code,
                channel=args.channel, region=args.region, fdr=args.fdr,
            )  # fmt: skip
            rows = found["grids"]
            fields = tables.EMERGING
            geo = args.output is not None and args.output.suffix.lower() in (".gpkg", ".geojson")
            if geo:
                found = features.as_geojson(conn, found)
        elif args.kind == "hotspots":
            from gis.analytics import hotspots

            result = hotspots.hotspots(
                conn, level=args.level, fdr=args.fdr, permutations=args.permutations, seed=args.seed, **kw
            )
            rows, fields = result["grids"], tables.HOTSPOTS
            found = features.as_geojson(conn, result)
        else:
            found = rows = counts.profile(conn, by=args.by, **kw)
            fields = (args.by, "count")
    gpkg = args.output is not None and args.output.suffix.lower() == ".gpkg"
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output and not gpkg else sys.stdout  # noqa: SIM115
    try:
        if args.output and args.output.suffix.lower() == ".gpkg":
            if args.kind not in ("hotspots", "emerging"):
                from gis.errors import InvalidInput

                raise InvalidInput(
                    "a GeoPackage holds hot spots or emerging patterns", field="output", allowed=[".csv", ".json"]
                )
            features.frame(found).to_file(args.output, driver="GPKG", layer=args.kind)
        elif args.output and args.output.suffix.lower() in (".json", ".geojson"):
            out.write(json.dumps(found, ensure_ascii=False, indent=2, default=str) + "\n")
        else:
            out.write(tables.csv_text(rows, fields))
    finally:
        if args.output and not gpkg:
            out.close()
    if args.output:
        sys.stderr.write(f"wangge: {len(rows)} rows written to {args.output}\n")
    return 0
