"""Retention of GPS tracks: the day partitions of ``track_point``, archived and dropped."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

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


def retire_days(
    conn: Connection, before: date, archive_dir: Path | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Drop the day partitions before ``before`` (UTC days), each first written to
    ``archive_dir/track_point_YYYYMMDD.csv.gz`` when given (a CSV ``wangge import tracks`` reads
    back). A day is dropped only once its archive is complete. Does not commit."""
    import gzip
    import os

    days = [(d, n) for d, n in day_partitions(conn) if d < before]
    report: dict[str, Any] = {"before": before.isoformat(), "days": [], "points": 0, "dry_run": dry_run}
    for d, name in days:
        count = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
        entry: dict[str, Any] = {"day": d.isoformat(), "points": count}
        if not dry_run:
            if archive_dir is not None:
                archive_dir.mkdir(parents=True, exist_ok=True)
                final = archive_dir / f"{name}.csv.gz"
                partial = final.with_name(final.name + ".partial")
                with gzip.open(partial, "wb") as out:
                    conn.connection.cursor().copy_expert(
                        f"COPY (SELECT {ARCHIVE_COLUMNS} FROM {name} ORDER BY worker_id, fix_time) "
                        "TO STDOUT WITH (FORMAT csv, HEADER)",
                        out,
                    )
                    out.flush()
                    os.fsync(out.fileno())
                partial.replace(final)
                entry["archive"] = str(final)
            conn.execute(text(f"DROP TABLE {name}"))
            forget_partition(conn, d)
        report["days"].append(entry)
        report["points"] += count
    return report
