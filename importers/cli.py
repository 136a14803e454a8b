"""The ``wangge`` command line: thin shells over ``gis/`` and ``importers/core``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy.exc import DBAPIError

from gis.errors import ClusterError, ImportRejected, WanggeError
from gis.grids.hierarchy import LEVELS, parse_level
from gis.settings import Settings, display_url


def _engine(settings: Settings, ensure: bool = True):
    from gis.db import make_engine

    if ensure and not settings.database_url:
        from gis.cluster import Cluster

        cluster = Cluster(settings)
        cluster.start()
        if cluster.notice:
            sys.stderr.write(f"wangge: {cluster.notice}\n")
    return make_engine(settings)


def _iso_date(value: str):
    from datetime import date

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from None


def _emit(obj: Any, as_json: bool, human: str | None = None) -> None:
    if as_json or human is None:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")
    else:
        sys.stdout.write(human + "\n")


def cmd_tracks(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from gis.tracks import retention

    engine = _engine(settings)
    with engine.begin() as conn:
        report = retention.retire_days(
            conn, args.before, Path(args.archive) if args.archive else None, dry_run=args.dry_run
        )
    verb = "would drop" if args.dry_run else ("archived and dropped" if args.archive else "dropped")
    _emit(report, args.json, f"{verb} {len(report['days'])} day(s), {report['points']} points before {args.before}")
    return 0


# --- db ---------------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from gis.cluster import Cluster

    if args.action == "migrate":
        from sqlalchemy import text

        from gis import migrate

        engine = _engine(settings)
        with engine.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        added = migrate.upgrade(settings.url())
        sys.stdout.write(
            f"migrated {display_url(settings.url())} ({added} working-calendar days added from chinese-calendar)\n"
        )
        return 0
    if settings.database_url:
        sys.stderr.write("DATABASE_URL is set: wangge uses that database, not the embedded cluster\n")
        return 0 if args.action == "status" else 2
    cluster = Cluster(settings)
    if args.action == "start":
        started = cluster.start()
        if cluster.notice:
            sys.stderr.write(f"wangge: {cluster.notice}\n")
        sys.stdout.write(("started" if started else "already running") + f": {cluster.url(settings.pg_database)}\n")
    elif args.action == "stop":
        sys.stdout.write("stopped\n" if cluster.stop() else "not running\n")
    else:
        _emit(cluster.status(), True)
    return 0


# --- import -----------------------------------------------------------------------------------
def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at
    from importers.core import GridImportOptions, import_grids

    opts = GridImportOptions(
        level=parse_level(args.level),
        layer=args.layer,
        code_field=args.code_field,
        name_field=args.name_field,
        parent_field=args.parent_field,
        wkt_field=args.wkt_field,
        crs=args.crs,
        fix_invalid=args.fix_invalid,
        dry_run=args.dry_run,
        valid_from=parse_at(args.valid_from, "valid_from"),
        tolerance_m=args.tolerance,
    )
    engine = _engine(settings)
    try:
        report = import_grids(engine, args.file, opts, progress=not args.json and sys.stderr.isatty())
    except ImportRejected as exc:
        if args.json:
            _emit(exc.details, True)
        else:
            _print_report(exc.details, exc.message)
        return 1
    d = report.to_dict()
    if args.json:
        _emit(d, True)
    else:
        verb = "would write" if report.dry_run else "wrote"
        _print_report(
            d,
            f"{verb} {report.written} new versions ({report.closed} closed, "
            f"{report.unchanged} unchanged) in {report.seconds:.1f} s",
        )
    return 0


def cmd_import_cases(args: argparse.Namespace, settings: Settings) -> int:
    from importers.cases import CaseImportOptions, import_cases

    opts = CaseImportOptions(
        lon_field=args.lon_field,
        lat_field=args.lat_field,
        class_field=args.class_field,
        time_field=args.time_field,
        id_field=args.id_field,
        crs=args.crs,
        layer=args.layer,
        timezone=args.timezone,
        indexes=args.indexes,
        dry_run=args.dry_run,
    )
    try:
        report = import_cases(_engine(settings), args.file, opts)
    except ImportRejected as exc:
        return _rejected(exc, args.json)
    _emit(
        report,
        args.json,
        "\n".join(
            [
                f"cases: read {report['read']}, wrote {report['written']}, "
                f"skipped {report['skipped_existing']} already stored, {report['seconds']:.1f} s",
                *(f"  warning: {w['message']}" for w in report["warnings"]),
            ]
        ),
    )
    return 0


def cmd_import_tracks(args: argparse.Namespace, settings: Settings) -> int:
    from importers import tracks as tr

    engine = _engine(settings)
    try:
        if args.what == "workers":
            report = tr.import_workers(engine, args.file, dry_run=args.dry_run)
        else:
            report = tr.import_tracks(
                engine,
                args.file,
                worker_id=args.worker,
                crs=args.crs,
                time_field=args.time_field,
                lon_field=args.lon_field,
                lat_field=args.lat_field,
            )
    except ImportRejected as exc:
        return _rejected(exc, args.json)
    _emit(
        report,
        args.json,
        f"{args.what}: "
        + ", ".join(f"{k} {v}" for k, v in report.items() if isinstance(v, int) and not isinstance(v, bool)),
    )
    return 0


def cmd_import_registry(args: argparse.Namespace, settings: Settings) -> int:
    from importers import registry as reg

    engine = _engine(settings)
    try:
        if args.what == "components":
            report = reg.import_components(
                engine, args.file, layer=args.layer, code_field=args.code_field, crs=args.crs, dry_run=args.dry_run
            )
        else:
            report = getattr(reg, f"import_{args.what}")(engine, args.file, dry_run=args.dry_run)
    except ImportRejected as exc:
        return _rejected(exc, args.json)
    _emit(
        report,
        args.json,
        f"{args.what}: read {report['read']}, wrote {report['written']}"
        + (" (dry run, nothing kept)" if args.dry_run else ""),
    )
    return 0


def _rejected(exc: ImportRejected, as_json: bool) -> int:
    """Report a refused import (every reason, or the first 50 for people) and exit 1."""
    if as_json:
        _emit(exc.details, True)
    else:
        for r in exc.details["rejected"][:50]:
            sys.stderr.write(f"  row {r.get('row', r.get('index'))}: {r['reason']}\n")
        sys.stderr.write(exc.message + "\n")
    return 1


def _print_report(d: dict[str, Any], headline: str) -> None:
    out = sys.stdout if not d.get("rejected") else sys.stderr
    out.write(f"{d['source']}: {d['level']} grids, CRS {d.get('crs') or '?'}\n")
    out.write(
        f"  read {d['read']}, repaired {d['repaired']}, generated codes {d['generated_codes']}, "
        f"rejected {len(d['rejected'])}\n"
    )
    for r in d["rejected"][:50]:
        out.write(f"  row {r['row']}{' (' + r['code'] + ')' if r.get('code') else ''}: {r['reason']}\n")
    if len(d["rejected"]) > 50:
        out.write(f"  … and {len(d['rejected']) - 50} more (use --json for all)\n")
    for w in d.get("warnings", [])[:50]:
        out.write(f"  warning: {w}\n")
    out.write(headline + "\n")


# --- export -----------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at
    from importers.export import export_grids

    result = export_grids(
        _engine(settings), args.file, level=LEVELS[args.level], at=parse_at(args.at), crs=args.crs, layer=args.layer
    )
    human = f"wrote {result['written']} {result['level']} grids to {result['file']} ({result['crs']})"
    _emit(result, args.json, "\n".join([human, *(f"  warning: {w}" for w in result["warnings"])]))
    return 0


# --- validate ---------------------------------------------------------------------------------
def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at
    from gis.grids.validate import validate

    engine = _engine(settings)
    levels = [parse_level(args.level)] if args.level else None
    with engine.connect() as conn:
        result = validate(
            conn, levels=levels, at=parse_at(args.at), tolerance_m=args.tolerance, min_area_m2=args.min_area
        )
    if args.json:
        _emit(result, True)
    else:
        for f in result["findings"]:
            sys.stdout.write(f"{f['kind']:14} {f['level']:10} {f['message']}\n")
        sys.stdout.write(
            "no findings\n"
            if result["ok"]
            else "findings: " + ", ".join(f"{k} {v}" for k, v in result["counts"].items() if v) + "\n"
        )
    return 0 if result["ok"] else 1


# --- lookup -----------------------------------------------------------------------------------
def cmd_lookup(args: argparse.Namespace, settings: Settings) -> int:
    from gis.dates import parse_at

    engine = _engine(settings)
    at = parse_at(args.at)
    if args.input:
        from gis.grids.bulk import lookup_csv

        for flag in ("output", "lon_field", "lat_field"):
            if not getattr(args, flag):
                raise WanggeError(f"--input needs --{flag.replace('_', '-')}", field=flag)
        stats = lookup_csv(
            engine, args.input, args.output, lon_field=args.lon_field, lat_field=args.lat_field, crs=args.crs, at=at
        )
        _emit(
            stats,
            args.json,
            f"{stats['rows']} rows → {args.output}: {stats['assigned_unit']} in a unit grid, "
            f"{stats['outside']} outside, {stats['seconds']:.1f} s",
        )
        return 0
    if args.lon is None or args.lat is None:
        raise WanggeError("give LON LAT, or --input FILE.csv", field="lon")
    from gis.grids.lookup import lookup_point

    with engine.connect() as conn:
        result = lookup_point(conn, args.lon, args.lat, crs=args.crs, at=at, tolerance_m=settings.boundary_tolerance_m)
    if args.json:
        _emit(result, True)
    else:
        for level in LEVELS:
            g = result[level]
            sys.stdout.write(f"{level:10} {(g['code'] + ' ' + g['name']) if g else '-'}\n")
        if result["outside"]:
            sys.stdout.write("outside every grid\n")
        sys.stdout.write(f"on_boundary {result['on_boundary']}, boundary distance {result['boundary_distance_m']} m\n")
    return 0


# --- serve / demo -----------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    _engine(settings).dispose()  # starts the embedded cluster if needed
    if args.workers > 1:
        # each worker process builds its own app (and pools) from the same environment
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            access_log=args.log_level == "info",
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=args.log_level == "info",
        )
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from data.demo_city import build_demo

    engine = _engine(settings)
    summary = build_demo(engine, big=args.big, progress=sys.stderr.isatty())
    human = "demo city: " + ", ".join(f"{k} {v}" for k, v in summary["counts"].items())
    if "activity" in summary:
        human += "; synthetic activity: " + ", ".join(
            f"{k.replace('_', ' ')} {v}" for k, v in summary["activity"].items()
        )
    _emit(summary, args.json, human)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wangge", description="City grid management on PostGIS")
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="manage the embedded PostGIS cluster")
    db.add_argument("action", choices=["start", "stop", "status", "migrate"])
    db.set_defaults(func=cmd_db)

    imp = sub.add_parser("import", help="import boundaries")
    imp_sub = imp.add_subparsers(dest="what", required=True)
    g = imp_sub.add_parser("grids", help="import grid boundaries of one level")
    g.add_argument("file")
    g.add_argument("--level", required=True, choices=list(LEVELS))
    g.add_argument("--layer")
    g.add_argument("--code-field")
    g.add_argument("--name-field")
    g.add_argument("--parent-field")
    g.add_argument("--wkt-field", help="CSV: the column holding WKT (default: wkt/geometry/geom)")
    g.add_argument("--crs", help="override the file's CRS: EPSG:xxxx, gcj02, bd09")
    g.add_argument("--fix-invalid", action="store_true", help="repair invalid polygons with make_valid")
    g.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    g.add_argument("--valid-from", help="date the new versions take effect (default: now)")
    g.add_argument(
        "--tolerance",
        type=float,
        default=10.0,
        help="metres a child may lie outside its parent (average band along its edge)",
    )
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_import)

    ex = sub.add_parser("export", help="write grids to a file (imports back unchanged)")
    ex_sub = ex.add_subparsers(dest="what", required=True)
    eg = ex_sub.add_parser("grids", help="the grids of one level: .gpkg, .geojson, .shp, .kml or .csv (WKT)")
    eg.add_argument("file")
    eg.add_argument("--level", required=True, choices=list(LEVELS))
    eg.add_argument("--at", help="the versions valid at this date (default: now)")
    eg.add_argument("--crs", help="EPSG:xxxx, gcj02 or bd09 (default: EPSG:4490)")
    eg.add_argument("--layer", help="GeoPackage layer name (default: the level)")
    eg.add_argument("--json", action="store_true")
    eg.set_defaults(func=cmd_export)

    wk = imp_sub.add_parser("workers", help="gridworkers: CSV worker_id,name,device_id,grids (grids split by ;)")
    wk.add_argument("file")
    wk.add_argument("--dry-run", action="store_true")
    wk.add_argument("--json", action="store_true")
    wk.set_defaults(func=cmd_import_tracks, what="workers")
    tk = imp_sub.add_parser("tracks", help="GPS points: CSV or GPX")
    tk.add_argument("file")
    tk.add_argument("--worker", help="the worker of a GPX file (or of every CSV row)")
    tk.add_argument("--crs", default="EPSG:4326")
    tk.add_argument("--time-field", default="fix_time")
    tk.add_argument("--lon-field", default="lon")
    tk.add_argument("--lat-field", default="lat")
    tk.add_argument("--json", action="store_true")
    tk.set_defaults(func=cmd_import_tracks, what="tracks")
    cs = imp_sub.add_parser(
        "cases", help="historical cases (CSV, Parquet or a point file), assigned with the boundaries of their time"
    )
    cs.add_argument("file")
    cs.add_argument("--lon-field", default="lon")
    cs.add_argument("--lat-field", default="lat")
    cs.add_argument("--class-field", default="class", help="event class code (e.g. 0102)")
    cs.add_argument("--time-field", default="reported_at")
    cs.add_argument("--id-field", help="an external id, stored as the idempotency key: a re-run skips what is stored")
    cs.add_argument("--crs", help="override the file's CRS (also gcj02, bd09); CSV default CGCS2000 lon/lat")
    cs.add_argument("--layer")
    cs.add_argument("--timezone", default="UTC", help="of times written without an offset")
    cs.add_argument(
        "--indexes",
        choices=["auto", "rebuild", "keep"],
        default="auto",
        help="rebuild the case indexes after the load (auto: when the file holds at least as many cases as "
        "are stored; other writers to cases wait until the import commits) or insert into them as they are",
    )
    cs.add_argument("--dry-run", action="store_true", help="check, assign and roll back")
    cs.add_argument("--json", action="store_true")
    cs.set_defaults(func=cmd_import_cases)

    for what, helptext in (
        ("units", "responsible units: CSV code,name,kind[,area_code]"),
        ("rules", "dispatch rules: CSV class_code,area_code,unit_code[,start_time,end_time,valid_from]"),
        ("components", "city components (部件) from any supported vector file"),
        ("calendar", "working-day calendar: CSV day,workday[,name] (holidays false, 调休 weekend days true)"),
    ):
        r = imp_sub.add_parser(what, help=helptext)
        r.add_argument("file")
        if what == "components":
            r.add_argument("--layer")
            r.add_argument("--code-field", default="code")
            r.add_argument("--crs")
        r.add_argument("--dry-run", action="store_true")
        r.add_argument("--json", action="store_true")
        r.set_defaults(func=cmd_import_registry, what=what)

    v = sub.add_parser("validate", help="check nesting, overlaps, gaps, orphans and codes")
    v.add_argument("--level", choices=list(LEVELS))
    v.add_argument("--at")
    v.add_argument("--tolerance", type=float, default=10.0)
    v.add_argument("--min-area", type=float, default=1.0, help="ignore overlaps and gaps under this many m²")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_validate)

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
    lk.set_defaults(func=cmd_lookup)

    tr = sub.add_parser("tracks", help="GPS track days: archive and drop old ones")
    tr.add_argument("action", choices=["retire"])
    tr.add_argument("--before", required=True, type=_iso_date, help="drop the days before this date (YYYY-MM-DD, UTC)")
    tr.add_argument("--archive", metavar="DIR", help="first write each day to DIR/track_point_YYYYMMDD.csv.gz")
    tr.add_argument("--dry-run", action="store_true", help="list the days and their points, change nothing")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=cmd_tracks)

    s = sub.add_parser("serve", help="serve the API")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    s.set_defaults(func=cmd_serve)

    d = sub.add_parser("demo", help="build the demo city")
    d.add_argument("action", choices=["build"])
    d.add_argument("--big", action="store_true", help="the 30,000-unit-grid benchmark city")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    try:
        return args.func(args, settings)
    except ClusterError as exc:
        sys.stderr.write(f"wangge: database: {exc.message}\n")
        return 3
    except WanggeError as exc:
        extra = f" (field: {exc.field})" if exc.field else ""
        allowed = f"; allowed: {exc.allowed}" if exc.allowed else ""
        sys.stderr.write(f"wangge: {exc.message}{extra}{allowed}\n")
        return 2
    except DBAPIError as exc:  # the database refused or lost us: say so, not a traceback
        sys.stderr.write(f"wangge: database error: {str(exc.orig).strip().splitlines()[0]}\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
