"""``wangge tracks retire``: old GPS days written to ``DIR/track_point_YYYYMMDD.csv.gz`` (a CSV
``wangge import tracks`` reads back) and dropped. A day is dropped only once its archive is
complete on disk."""

from __future__ import annotations

import gzip
import os
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from gis.progress import Progress, quiet
from gis.tracks.retention import copy_day, day_partitions, day_points, drop_day


def retire(
    conn: Connection,
    before: date,
    archive_dir: Path | None = None,
    *,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Drop the day partitions before ``before`` (UTC days), each archived first when ``archive_dir``
    is given. Does not commit."""
    days = [(d, n) for d, n in day_partitions(conn) if d < before]
    report: dict[str, Any] = {"before": before.isoformat(), "days": [], "points": 0, "dry_run": dry_run}
    for d, name in days:
        count = day_points(conn, name)
        entry: dict[str, Any] = {"day": d.isoformat(), "points": count}
        if not dry_run:
            with progress(d.isoformat(), count) as phase:
                if archive_dir is not None:
                    entry["archive"] = str(_archive(conn, name, archive_dir))
                drop_day(conn, d, name)
                phase.update(count)
        report["days"].append(entry)
        report["points"] += count
    return report


def _archive(conn: Connection, name: str, archive_dir: Path) -> Path:
    archive_dir.mkdir(parents=True, exist_ok=True)
    final = archive_dir / f"{name}.csv.gz"
    partial = final.with_name(final.name + ".partial")
    with gzip.open(partial, "wb") as out:
        copy_day(conn, name, out)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(final)
    return final
