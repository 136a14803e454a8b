"""Track playback: a worker's fixes between two times as lines split at gaps, simplified, with a
time per vertex."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.errors import InvalidInput, NotFound


def track(
    conn: Connection,
    worker_id: str,
    start: datetime,
    end: datetime,
    *,
    gap_s: float = 300,
    simplify_m: float = 5.0,
    raw: bool = False,
) -> dict[str, Any]:
    """Playback: LineStrings with per-vertex times, split at gaps, simplified; raw points on request."""
    if conn.execute(text("SELECT 1 FROM worker WHERE id = :w"), {"w": worker_id}).scalar() is None:
        raise NotFound(f"no worker {worker_id}", field="id")
    if end <= start:
        raise InvalidInput("'to' must be after 'from'", field="to")
    rows = conn.execute(
        text(
            """SELECT fix_time, ST_X(geom), ST_Y(geom), flags FROM track_point
           WHERE worker_id = :w AND fix_time >= :s AND fix_time < :e ORDER BY fix_time"""
        ),
        {"w": worker_id, "s": start, "e": end},
    ).all()
    clean = [r for r in rows if not r[3]]
    segments: list[list[tuple[datetime, float, float]]] = []
    for t, x, y, _ in clean:
        if not segments or (t - segments[-1][-1][0]).total_seconds() > gap_s:
            segments.append([])
        segments[-1].append((t, x, y))
    feats = []
    tol = simplify_m / 111_320.0
    for seg in segments:
        if len(seg) < 2:
            continue
        keep = _simplify_indices(np.array([[x, y] for _, x, y in seg]), tol)
        coords = [(seg[i][1], seg[i][2]) for i in keep]
        feats.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": coords},
                "properties": {
                    "worker_id": worker_id,
                    "start": seg[0][0].isoformat(),
                    "end": seg[-1][0].isoformat(),
                    "points": len(seg),
                    "vertices": len(coords),
                    "times": [seg[i][0].isoformat() for i in keep],
                },
            }
        )
    out: dict[str, Any] = {"type": "FeatureCollection", "features": feats}
    if raw:
        out["raw"] = [{"fix_time": t.isoformat(), "lon": x, "lat": y, "flags": list(f)} for t, x, y, f in rows]
    return out


def _simplify_indices(xy: np.ndarray, tol: float) -> list[int]:
    """Douglas-Peucker that returns the indices it keeps (so per-vertex times survive)."""
    keep = np.zeros(len(xy), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(xy) - 1)]
    while stack:
        a, b = stack.pop()
        if b <= a + 1:
            continue
        p, q = xy[a], xy[b]
        seg = xy[a + 1 : b]
        d = q - p
        norm = np.hypot(*d)
        if norm == 0:
            dist = np.hypot(*(seg - p).T)
        else:
            dist = np.abs(d[0] * (seg[:, 1] - p[1]) - d[1] * (seg[:, 0] - p[0])) / norm
        k = int(np.argmax(dist))
        if dist[k] > tol:
            m = a + 1 + k
            keep[m] = True
            stack += [(a, m), (m, b)]
    return [int(i) for i in np.flatnonzero(keep)]
