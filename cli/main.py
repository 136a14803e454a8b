"""``wangge``: the parser of every command group, and one place that turns errors into messages
and exit codes (2 for bad input, 3 for the database, 1 for a refused import)."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import DBAPIError

from cli import analytics, db, demo, export, imports, lookup, serve, tracks, users, validate
from gis.db import sqlstate
from gis.errors import ClusterError, WanggeError
from gis.settings import Settings

GROUPS = (db, imports, export, validate, lookup, tracks, analytics, users, serve, demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wangge", description="City grid management on PostGIS")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
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
        if sqlstate(exc) in ("42P01", "42883"):  # no such table or function: a schema older than this wangge
            sys.stderr.write("wangge: the database's schema is older than this wangge: run `wangge db migrate`\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
