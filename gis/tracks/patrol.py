"""Patrol metrics: a worker's day (distance, duty time inside and outside the own grid, coverage,
stops, outside alerts) and a grid's day (coverage by its own workers together, who was inside)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.dates import CHINA
from gis.errors import NotFound
from gis.tracks.distance import haversine
from gis.tracks.duty import on_duty
from gis.tracks.workers import workers_in_grid

GAP_S = 600  # a pause in reporting longer than this is a gap: not walked, not time on patrol


def _walked(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> shapely.Geometry:
    """The walked line, split where reporting paused (a gap is not a straight walk)."""
    breaks = np.flatnonzero(np.diff(t) > GAP_S) + 1
    parts = [np.column_stack([xs, ys]) for xs, ys in zip(np.split(x, breaks), np.split(y, breaks), strict=True)]
    if any(len(p) >= 2 for p in parts):
        return shapely.MultiLineString([p for p in parts if len(p) >= 2])
    return shapely.MultiPoint(np.column_stack([x, y]))


def _coverage(
    conn: Connection, codes: list[str], at: datetime, walked: shapely.Geometry, buffer_m: float
) -> float | None:
    """Share of the grids' area (the versions valid at ``at``) within ``buffer_m`` of ``walked``."""
    cov = conn.execute(
        text(
            """WITH own AS (SELECT ST_Union(geom) g FROM grid WHERE code = ANY(:own)
                            AND wangge_valid(valid_from, valid_to, :at)),
                    tr AS (SELECT ST_SetSRID(ST_Buffer(ST_GeomFromWKB(:wkb, 4490)::geography, :b)::geometry, 4490) g)
               SELECT ST_Area(ST_Intersection(own.g, tr.g)::geography) / nullif(ST_Area(own.g::geography), 0)
               FROM own, tr"""
        ),
        {"own": codes, "at": at, "wkb": shapely.to_wkb(walked), "b": buffer_m},
    ).scalar()
    return None if cov is None else round(float(cov), 4)


def _day_points(conn: Connection, worker_id: str, start: datetime, end: datetime):
    return conn.execute(
        text(
            """SELECT fix_time, ST_X(geom), ST_Y(geom) FROM track_point
           WHERE worker_id = :w AND fix_time >= :s AND fix_time < :e AND flags = '{}' ORDER BY fix_time"""
        ),
        {"w": worker_id, "s": start, "e": end},
    ).all()


def patrol(
    conn: Connection,
    worker_id: str,
    day: date,
    *,
    buffer_m: float = 30.0,
    min_move_m: float = 5.0,
    stop_s: float = 300.0,
    stop_radius_m: float = 30.0,
    outside_alert_s: float = 900.0,
) -> dict[str, Any]:
    """One worker's day: distance, time on duty inside/outside the own grid, coverage, stops, alerts."""
    w = conn.execute(text("SELECT * FROM worker WHERE id = :w"), {"w": worker_id}).mappings().first()
    if w is None:
        raise NotFound(f"no worker {worker_id}", field="id")
    start = datetime.combine(day, time(), CHINA)
    end = start + timedelta(days=1)
    rows = _day_points(conn, worker_id, start, end)
    own = list(conn.execute(text("SELECT grid_code FROM worker_grid WHERE worker_id = :w"), {"w": worker_id}).scalars())
    result: dict[str, Any] = {
        "worker_id": worker_id,
        "date": day.isoformat(),
        "points": len(rows),
        "own_grids": own,
        "distance_m": 0.0,
        "duty_inside_s": 0.0,
        "duty_outside_s": 0.0,
        "coverage": None,
        "stops": [],
        "outside_alerts": [],
    }
    if not rows:
        return result
    t = np.array([r[0].timestamp() for r in rows])
    x = np.array([r[1] for r in rows])
    y = np.array([r[2] for r in rows])
    # noise filter: a move counts once the worker is min_move_m away from the last counted point
    dist, ax, ay = 0.0, x[0], y[0]
    for xi, yi in zip(x[1:], y[1:], strict=True):
        d = float(haversine(ax, ay, xi, yi))
        if d >= min_move_m:
            dist += d
            ax, ay = xi, yi
    result["distance_m"] = round(dist, 1)
    # inside/outside the own grids, per point (the union of the own grids at that day)
    inside = np.zeros(len(rows), dtype=bool)
    if own:
        inside = np.array(
            conn.execute(
                text(
                    """SELECT coalesce(bool_or(ST_Intersects(g.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4490))), false)
               FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY AS p(x, y, n)
               LEFT JOIN grid g ON g.code = ANY(:own) AND wangge_valid(g.valid_from, g.valid_to, :at)
               GROUP BY p.n ORDER BY p.n"""
                ),
                {"x": x.tolist(), "y": y.tolist(), "own": own, "at": end},
            )
            .scalars()
            .all()
        )
        result["coverage"] = _coverage(conn, own, end, _walked(t, x, y), buffer_m)
    # time between consecutive points on duty, split by where the worker was at the earlier point
    outside_run = 0.0
    run_start = None
    for i in range(len(t) - 1):
        dt = t[i + 1] - t[i]
        if dt > GAP_S:
            continue
        when = datetime.fromtimestamp(t[i], UTC)
        if not on_duty(when, w["duty_start"], w["duty_end"], w["duty_days"]):
            continue
        if inside[i]:
            result["duty_inside_s"] += dt
            if outside_run >= outside_alert_s:
                result["outside_alerts"].append({"from": run_start.isoformat(), "seconds": round(outside_run)})
            outside_run, run_start = 0.0, None
        else:
            result["duty_outside_s"] += dt
            run_start = run_start or when
            outside_run += dt
    if outside_run >= outside_alert_s and run_start:
        result["outside_alerts"].append({"from": run_start.isoformat(), "seconds": round(outside_run)})
    # stops: stays within stop_radius_m for at least stop_s
    i = 0
    while i < len(t):
        j = i
        while j + 1 < len(t) and float(haversine(x[i], y[i], x[j + 1], y[j + 1])) <= stop_radius_m:
            j += 1
        if t[j] - t[i] >= stop_s:
            result["stops"].append(
                {
                    "from": datetime.fromtimestamp(t[i], UTC).isoformat(),
                    "seconds": round(t[j] - t[i]),
                    "lon": float(x[i]),
                    "lat": float(y[i]),
                }
            )
            i = j + 1
        else:
            i += 1
    result["duty_inside_s"] = round(result["duty_inside_s"], 1)
    result["duty_outside_s"] = round(result["duty_outside_s"], 1)
    return result


def grid_patrol(conn: Connection, code: str, day: date, *, buffer_m: float = 30.0) -> dict[str, Any]:
    """A grid's day (China time): how much of it its own gridworkers' tracks covered together,
    each of them in brief (distance, duty time inside and outside, own-grid coverage, stops,
    outside alerts), and every worker who was inside it that day."""
    start = datetime.combine(day, time(), CHINA)
    end = start + timedelta(days=1)
    area = conn.execute(
        text(
            """SELECT ST_Area(geom::geography) FROM grid
               WHERE code = :c AND wangge_valid(valid_from, valid_to, :at)"""
        ),
        {"c": code, "at": end},
    ).scalar()
    if area is None:
        raise NotFound(f"no grid {code} on {day.isoformat()}", field="code")
    # the grid's own workers: assigned to it or to a grid inside it
    own = list(
        conn.execute(
            text(
                """SELECT DISTINCT worker_id FROM worker_grid
                   WHERE grid_code = :c OR left(grid_code, length(:c)) = :c ORDER BY worker_id"""
            ),
            {"c": code},
        ).scalars()
    )
    briefs, lines = [], []
    for w in own:
        p = patrol(conn, w, day, buffer_m=buffer_m)
        briefs.append(
            {
                "worker_id": w,
                "points": p["points"],
                "distance_m": p["distance_m"],
                "duty_inside_s": p["duty_inside_s"],
                "duty_outside_s": p["duty_outside_s"],
                "own_grid_coverage": p["coverage"],
                "stops": len(p["stops"]),
                "outside_alerts": len(p["outside_alerts"]),
            }
        )
        rows = _day_points(conn, w, start, end)
        if rows:
            t = np.array([r[0].timestamp() for r in rows])
            lines.append(_walked(t, np.array([r[1] for r in rows]), np.array([r[2] for r in rows])))
    coverage = _coverage(conn, [code], end, shapely.union_all(lines), buffer_m) if lines else 0.0
    return {
        "grid": code,
        "date": day.isoformat(),
        "area_m2": round(float(area), 1),
        "coverage": coverage,
        "workers": briefs,
        "visitors": [
            {**v, "first_seen": v["first_seen"].isoformat(), "last_seen": v["last_seen"].isoformat()}
            for v in workers_in_grid(conn, code, start, end)
        ],
    }
