"""``wangge import grids|cases|workers|tracks|units|rules|components|calendar``: files into wangge,
all or nothing, each refused row named."""

from __future__ import annotations

import argparse

from cli.output import emit, engine, print_report, progress, rejected
from gis.errors import ImportRejected
from gis.grids.hierarchy import LEVEL_ALIASES, parse_level
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    imp = sub.add_parser("import", help="import grids, cases, gridworkers, tracks and registries")
    imp_sub = imp.add_subparsers(dest="what", required=True)
    g = imp_sub.add_parser("grids", help="import grid boundaries of one level")
    g.add_argument("file")
    g.add_argument("--level", required=True, choices=list(LEVEL_ALIASES))
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
    g.set_defaults(func=grids)

    wk = imp_sub.add_parser("workers", help="gridworkers: CSV worker_id,name,device_id,grids (grids split by ;)")
    wk.add_argument("file")
    wk.add_argument("--dry-run", action="store_true")
    wk.add_argument("--json", action="store_true")
    wk.set_defaults(func=tracks_or_workers)
    tk = imp_sub.add_parser("tracks", help="GPS points: CSV or GPX")
    tk.add_argument("file")
    tk.add_argument("--worker", help="the worker of a GPX file (or of every CSV row)")
    tk.add_argument("--crs", default="EPSG:4326")
    tk.add_argument("--time-field", default="fix_time")
    tk.add_argument("--lon-field", default="lon")
    tk.add_argument("--lat-field", default="lat")
    tk.add_argument("--json", action="store_true")
    tk.set_defaults(func=tracks_or_workers)

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
    cs.set_defaults(func=cases)

    for what, helptext in (
        ("units", "responsible units: CSV code,name,kind[,area_code]"),
        ("rules", "dispatch rules: CSV class_code,area_code,resp_unit[,start_time,end_time,valid_from]"),
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
        r.set_defaults(func=registry)


def grids(args: argparse.Namespace, settings: Settings) -> int:
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
    try:
        report = import_grids(engine(settings), args.file, opts, progress=progress(args))
    except ImportRejected as exc:
        if args.json:
            emit(exc.details, True)
        else:
            print_report(exc.details, exc.message)
        return 1
    d = report.to_dict()
    if args.json:
        emit(d, True)
    else:
        verb = "would write" if report.dry_run else "wrote"
        print_report(
            d,
            f"{verb} {report.written} new versions ({report.closed} closed, "
            f"{report.unchanged} unchanged) in {report.seconds:.1f} s",
        )
    return 0


def cases(args: argparse.Namespace, settings: Settings) -> int:
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
        report = import_cases(engine(settings), args.file, opts, progress=progress(args))
    except ImportRejected as exc:
        return rejected(exc, args.json)
    emit(
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


def tracks_or_workers(args: argparse.Namespace, settings: Settings) -> int:
    from importers import tracks as tr

    eng = engine(settings)
    try:
        if args.what == "workers":
            report = tr.import_workers(eng, args.file, dry_run=args.dry_run, progress=progress(args))
        else:
            report = tr.import_tracks(
                eng,
                args.file,
                worker_id=args.worker,
                crs=args.crs,
                time_field=args.time_field,
                lon_field=args.lon_field,
                lat_field=args.lat_field,
                progress=progress(args),
            )
    except ImportRejected as exc:
        return rejected(exc, args.json)
    emit(
        report,
        args.json,
        f"{args.what}: "
        + ", ".join(f"{k} {v}" for k, v in report.items() if isinstance(v, int) and not isinstance(v, bool)),
    )
    return 0


def registry(args: argparse.Namespace, settings: Settings) -> int:
    from importers import registry as reg

    eng = engine(settings)
    try:
        if args.what == "components":
            report = reg.import_components(
                eng,
                args.file,
                layer=args.layer,
                code_field=args.code_field,
                crs=args.crs,
                dry_run=args.dry_run,
                progress=progress(args),
            )
        else:
            report = getattr(reg, f"import_{args.what}")(eng, args.file, dry_run=args.dry_run, progress=progress(args))
    except ImportRejected as exc:
        return rejected(exc, args.json)
    emit(
        report,
        args.json,
        f"{args.what}: read {report['read']}, wrote {report['written']}"
        + (" (dry run, nothing kept)" if args.dry_run else ""),
    )
    return 0
