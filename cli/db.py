"""``wangge db start|stop|status|migrate``: the embedded cluster and the schema."""

from __future__ import annotations

import argparse
import sys

from cli.output import emit, engine
from gis.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="manage the embedded PostGIS cluster and the schema")
    db.add_argument("action", choices=["start", "stop", "status", "migrate"])
    db.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from gis.cluster import Cluster
    from gis.db import database_url, display_url

    if args.action == "migrate":
        from sqlalchemy import text

        from gis import migrate
        from gis.cases.calendar import seed_calendar

        eng = engine(settings)
        if not settings.database_url:
            # the embedded cluster's database may have been dropped since the cluster started: its
            # superuser makes it again, with PostGIS (the application role may not install it)
            Cluster(settings).create_database(settings.pg_database)
        with eng.begin() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        migrate.upgrade(database_url(settings))
        # the calendar of every year the chinese-calendar package knows (a newer package adds years);
        # days already stored, imported or overridden, are kept
        with eng.begin() as conn:
            added = seed_calendar(conn)
        sys.stdout.write(
            f"migrated {display_url(database_url(settings))} ({added} working-calendar days added from chinese-calendar)\n"
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
        sys.stdout.write(
            ("started" if started else "already running") + f": {display_url(cluster.url(settings.pg_database))}\n"
        )
    elif args.action == "stop":
        sys.stdout.write("stopped\n" if cluster.stop() else "not running\n")
    else:
        emit(cluster.status(), True)
    return 0
