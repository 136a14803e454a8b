"""``wangge import workers FILE.csv`` and ``wangge import tracks FILE`` (CSV or GPX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy.engine import Engine

from gis.errors import ImportRejected, InvalidInput
from gis.progress import Progress, quiet
from gis.tracks import ingest, workers
from importers.core import all_or_nothing
from importers.readers import list_layers, read_text_csv
from importers.registry import _read_csv, _run

BATCH = 5000
WORKER_COLUMNS = ("worker_id", "name", "device_id", "grids")


def import_workers(
    engine: Engine, path: str | Path, *, dry_run: bool = False, progress: Progress = quiet
) -> dict[str, Any]:
    """CSV with at least ``worker_id,name,device_id,grids`` (grids: codes separated by ``;``)."""
    frame = _read_csv(Path(path), WORKER_COLUMNS)
    rows = [(i + 1, r) for i, r in enumerate(frame.to_dict("records"))]
    return _run(
        engine,
        str(path),
        "workers",
        rows,
        lambda conn, r: workers.create_worker(
            conn,
            worker_id=r["worker_id"],
            name=r["name"],
            device_id=r["device_id"] or None,
            grids=[g.strip() for g in r["grids"].split(";") if g.strip()],
            role=r.get("role") or "gridworker",
        ),
        dry_run,
        progress,
    )


def import_tracks(
    engine: Engine,
    path: str | Path,
    *,
    worker_id: str | None = None,
    crs: str = "EPSG:4326",
    time_field: str = "fix_time",
    lon_field: str = "lon",
    lat_field: str = "lat",
    progress: Progress = quiet,
) -> dict[str, Any]:
    """CSV (``worker_id`` or ``device_id``, fix time, lon, lat[, accuracy, speed, course]) or GPX (one worker)."""
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    if path.suffix.lower() == ".gpx":
        if not worker_id:
            raise InvalidInput("a GPX file needs --worker", field="worker")
        if "track_points" not in list_layers(path):
            raise InvalidInput(f"{path.name} has no track points", field="file")
        pts = gpd.read_file(path, layer="track_points", engine="pyogrio")
        points = [
            {
                "worker_id": worker_id,
                "fix_time": pd.Timestamp(t).to_pydatetime(),
                "lon": g.x,
                "lat": g.y,
                "crs": crs,
                "attrs": {"altitude": float(e)} if pd.notna(e) else {},
            }
            for t, g, e in zip(pts["time"], pts.geometry, pts.get("ele", [None] * len(pts)), strict=True)
        ]
    elif path.suffix.lower() == ".csv" or path.name.lower().endswith(".csv.gz"):
        frame = read_text_csv(path)
        for f in (time_field, lon_field, lat_field):
            if f not in frame.columns:
                raise InvalidInput(f"no column {f!r} in {path.name}", field="file", allowed=list(frame.columns))
        points = []
        for r in frame.to_dict("records"):
            p = {
                "worker_id": worker_id or r.get("worker_id") or None,
                "device_id": r.get("device_id") or None,
                "fix_time": r[time_field],
                "lon": r[lon_field],
                "lat": r[lat_field],
                "crs": crs,
            }
            for f in ("accuracy", "speed", "course"):
                if r.get(f):
                    p[f] = r[f]  # checked with the rest of the point by ingest.ingest
            points.append(p)
    else:
        raise InvalidInput(f"unsupported file type {path.suffix}", field="file", allowed=[".csv", ".gpx"])
    report = {"source": str(path), "read": len(points), "accepted": 0, "duplicates": 0, "flagged": 0, "rejected": []}
    with progress("storing", len(points)) as phase, all_or_nothing(engine) as (conn, trans):
        for i in range(0, len(points), BATCH):
            res = ingest.ingest(conn, points[i : i + BATCH])
            phase.update(len(points[i : i + BATCH]))
            report["accepted"] += res.accepted
            report["duplicates"] += res.duplicates
            report["flagged"] += res.flagged
            # rows of the file from 1, as every importer numbers them
            report["rejected"] += [{"row": r.pop("index") + i + 1, **r} for r in res.rejected]
        if report["rejected"]:
            trans.rollback()
            raise ImportRejected(
                f"{len(report['rejected'])} of {len(points)} points rejected; nothing was written",
                details={**report, "rejected": report["rejected"][:1000]},
            )
        trans.commit()
    return report
