"""Retention of GPS tracks: the day partitions of ``track_point``, archived and dropped."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import BinaryIO

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.statements import ident
from gis.tracks.ingest import forget_partition


def day_partitions(conn: Connection) -> list[tuple[date, str]]:
    """The day partitions of ``track_point``, oldest first."""
    names = conn.execute(
        text(
            """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = 'track_point'::regclass ORDER BY c.relname"""
        )
    ).scalars()
    out = []
    for n in names:
        m = re.fullmatch(r"track_point_(\d{8})", n)
        if m:
            out.append((datetime.strptime(m.group(1), "%Y%m%d").date(), n))
    return out


ARCHIVE_COLUMNS = (
    "worker_id, fix_time, device_time, server_time, ST_X(geom) AS lon, ST_Y(geom) AS lat, "
    "accuracy, speed, course, attrs, array_to_string(flags, ';') AS flags"
)


def day_points(conn: Connection, name: str) -> int:
    """The fixes a day partition holds (``name`` as :func:`day_partitions` gives it)."""
    return conn.execute(text(f"SELECT count(*) FROM {ident(name)}")).scalar_one()


def copy_day(conn: Connection, name: str, out: BinaryIO) -> None:
    """Write a day partition to ``out`` as CSV with a header, in the columns ``wangge import tracks``
    reads back, ordered by worker and time."""
    conn.connection.cursor().copy_expert(
        f"COPY (SELECT {ARCHIVE_COLUMNS} FROM {ident(name)} ORDER BY worker_id, fix_time) "
        "TO STDOUT WITH (FORMAT csv, HEADER)",
        out,
    )


def drop_day(conn: Connection, day: date, name: str) -> None:
    """Drop a day partition and its fixes. Does not commit."""
    conn.execute(text(f"DROP TABLE {ident(name)}"))
    forget_partition(conn, day)
