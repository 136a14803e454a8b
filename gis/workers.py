"""Gridworkers (网格员) and grid leaders (网格长), their grids, duty hours and devices."""

from __future__ import annotations

import re
import secrets
from datetime import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.errors import Conflict, InvalidInput, NotFound
from gis.lookup import sql as _sql

ROLES = ("gridworker", "grid_leader")


def create_worker(
    conn: Connection,
    *,
    worker_id: str,
    name: str,
    device_id: str | None = None,
    grids: list[str] | None = None,
    role: str = "gridworker",
    duty_start: time = time(8, 30),
    duty_end: time = time(17, 30),
    duty_days: list[int] | None = None,
) -> dict[str, Any]:
    if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", worker_id or ""):
        raise InvalidInput(f"bad worker id {worker_id!r}", field="worker_id", allowed="1-64 letters, digits, _ . -")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", field="role", allowed=list(ROLES))
    days = duty_days or [1, 2, 3, 4, 5]
    if not all(1 <= d <= 7 for d in days):
        raise InvalidInput("duty days are ISO weekdays", field="duty_days", allowed="1 (Monday) … 7 (Sunday)")
    grids = grids or []
    for g in grids:
        if not re.match(r"^[0-9]{12}([0-9]{3})?$", g):
            raise InvalidInput(f"bad grid code {g!r}", field="grids", allowed="unit-grid (15) or community (12) codes")
    found = set(
        conn.execute(text("SELECT code FROM grid WHERE code = ANY(:g) AND valid_to IS NULL"), {"g": grids}).scalars()
    )
    missing = [g for g in grids if g not in found]
    if missing:
        raise InvalidInput(f"no current grid {', '.join(missing)}", field="grids")
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    """INSERT INTO worker (id, name, role, device_id, token, duty_start, duty_end, duty_days)
                   VALUES (:id, :n, :r, :d, :tok, :s, :e, :days)"""
                ),
                {
                    "id": worker_id,
                    "n": name,
                    "r": role,
                    "d": device_id,
                    "tok": secrets.token_urlsafe(24),
                    "s": duty_start,
                    "e": duty_end,
                    "days": days,
                },
            )
    except IntegrityError:
        raise Conflict(f"worker {worker_id} or device {device_id} exists", field="worker_id") from None
    for g in grids:
        conn.execute(text("INSERT INTO worker_grid (worker_id, grid_code) VALUES (:w, :g)"), {"w": worker_id, "g": g})
    return get_worker(conn, worker_id)


def get_worker(conn: Connection, worker_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                """SELECT w.id AS worker_id, w.name, w.role, w.device_id, w.duty_start, w.duty_end, w.duty_days,
                  coalesce(array_agg(g.grid_code ORDER BY g.grid_code) FILTER (WHERE g.grid_code IS NOT NULL), '{}')
                      AS grids
           FROM worker w LEFT JOIN worker_grid g ON g.worker_id = w.id WHERE w.id = :w GROUP BY w.id"""
            ),
            {"w": worker_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no worker {worker_id}", field="worker_id")
    return dict(row)


def workers_in_grid(conn: Connection, code: str, start=None, end=None) -> list[dict[str, Any]]:
    """Who is inside a grid now (latest positions), or was inside between two times (track points)."""
    if start is None:
        rows = conn.execute(
            text(
                # the chain stored with each latest position, by the lookup rule (no double count on edges)
                """SELECT p.worker_id, w.name, p.fix_time FROM worker_position p JOIN worker w ON w.id = p.worker_id
               WHERE :c IN (p.grid_code, p.community_code, p.street_code, p.district_code)
               ORDER BY p.worker_id"""
            ),
            {"c": code},
        ).mappings()
    else:
        rows = conn.execute(text(_sql("workers_in_grid")), {"c": code, "s": start, "e": end}).mappings()
    return [dict(r) for r in rows]
