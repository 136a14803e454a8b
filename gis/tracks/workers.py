"""Gridworkers (网格员) and grid leaders (网格长), their grids, duty hours and devices."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.errors import Conflict, InvalidInput, NotFound
from gis.grids.hierarchy import level_of_code
from gis.statements import UNSCOPED, Scope, query

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
    days = duty_days or [1, 2, 3, 4, 5]
    grids = grids or []
    _check(conn, role=role, duty_days=days, grids=grids)
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    """INSERT INTO worker (id, name, role, device_id, duty_start, duty_end, duty_days)
                   VALUES (:id, :n, :r, :d, :s, :e, :days)"""
                ),
                {
                    "id": worker_id,
                    "n": name,
                    "r": role,
                    "d": device_id,
                    "s": duty_start,
                    "e": duty_end,
                    "days": days,
                },
            )
    except IntegrityError:
        raise Conflict(f"worker {worker_id} or device {device_id} exists", field="worker_id") from None
    if grids:
        conn.execute(
            text("INSERT INTO worker_grid (worker_id, grid_code) SELECT :w, unnest(CAST(:g AS text[]))"),
            {"w": worker_id, "g": grids},
        )
    return get_worker(conn, worker_id)


def _check(conn: Connection, *, role=None, duty_days=None, grids=None) -> None:
    if role is not None and role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", field="role", allowed=list(ROLES))
    if duty_days is not None and not all(1 <= d <= 7 for d in duty_days):
        raise InvalidInput("duty days are ISO weekdays", field="duty_days", allowed="1 (Monday) … 7 (Sunday)")
    for g in grids or []:
        if level_of_code(g) not in (3, 4):
            raise InvalidInput(f"bad grid code {g!r}", field="grids", allowed="unit-grid (15) or community (12) codes")
    twice = sorted({g for g in grids or [] if grids.count(g) > 1})
    if twice:
        raise InvalidInput(f"grid {', '.join(twice)} given twice", field="grids", allowed="each grid once")
    if grids:
        found = set(
            conn.execute(
                text("SELECT code FROM grid WHERE code = ANY(:g) AND valid_to IS NULL"), {"g": grids}
            ).scalars()
        )
        missing = [g for g in grids if g not in found]
        if missing:
            raise InvalidInput(f"no current grid {', '.join(missing)}", field="grids")


#: what ``update_worker`` may change
EDITABLE = ("name", "role", "device_id", "grids", "duty_start", "duty_end", "duty_days")


def update_worker(conn: Connection, worker_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change some of a worker's fields (``grids`` replaces the list). Does not commit."""
    get_worker(conn, worker_id)
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"cannot change {', '.join(unknown)}", field=unknown[0], allowed=list(EDITABLE))
    for c in ("name", "role", "duty_start", "duty_end", "duty_days"):
        if c in changes and changes[c] in (None, "", []):
            raise InvalidInput(f"{c} must not be empty", field=c)
    _check(conn, role=changes.get("role"), duty_days=changes.get("duty_days"), grids=changes.get("grids"))
    cols = [c for c in changes if c != "grids"]
    if cols:
        try:
            with conn.begin_nested():
                conn.execute(
                    text(f"UPDATE worker SET {', '.join(f'{c} = :{c}' for c in cols)} WHERE id = :id"),
                    {**{c: changes[c] for c in cols}, "id": worker_id},
                )
        except IntegrityError:
            raise Conflict(f"device {changes.get('device_id')} belongs to another worker", field="device_id") from None
    if "grids" in changes:
        conn.execute(text("DELETE FROM worker_grid WHERE worker_id = :w"), {"w": worker_id})
        for g in changes["grids"] or []:
            conn.execute(
                text("INSERT INTO worker_grid (worker_id, grid_code) VALUES (:w, :g)"), {"w": worker_id, "g": g}
            )
    return get_worker(conn, worker_id)


def delete_worker(conn: Connection, worker_id: str) -> None:
    """Remove a worker who never reported. A worker with track points keeps them and is refused:
    history is not deleted (take the device away instead). Does not commit."""
    get_worker(conn, worker_id)
    if conn.execute(text("SELECT 1 FROM track_point WHERE worker_id = :w LIMIT 1"), {"w": worker_id}).scalar():
        raise Conflict(
            f"worker {worker_id} has track points, which are kept: set device_id to null instead",
            field="worker_id",
        )
    conn.execute(text("DELETE FROM worker WHERE id = :w"), {"w": worker_id})


#: a worker with the codes of its grids, from ``worker w`` (grouped by ``w.id``)
_WORKER = """w.id AS worker_id, w.name, w.role, w.device_id, w.duty_start, w.duty_end, w.duty_days,
    coalesce(array_agg(g.grid_code ORDER BY g.grid_code) FILTER (WHERE g.grid_code IS NOT NULL), '{}') AS grids"""

#: ``worker w`` in one of the grid :g (assigned to it or to a grid inside it), or any when :g is null
_IN_GRID = """CAST(:g AS text) IS NULL OR EXISTS (
    SELECT 1 FROM worker_grid x WHERE x.worker_id = w.id AND left(x.grid_code, length(:g)) = :g)"""


#: what a grant reaches on a worker: the grids it is assigned to (``s``: a row of worker_grid)
WORKER_SCOPE = {"code": "s.grid_code"}


def worker_scope(scope: Scope) -> str:
    """``scope`` (built over :data:`WORKER_SCOPE`) as a condition on a worker ``w``."""
    if scope[0] == "TRUE":
        return "TRUE"
    return f"EXISTS (SELECT 1 FROM worker_grid s WHERE s.worker_id = w.id AND {scope[0]})"


def list_workers(
    conn: Connection, *, grid: str | None = None, limit: int = 100, offset: int = 0, scope: Scope = UNSCOPED
) -> tuple[int, list[dict[str, Any]]]:
    """Workers by id, optionally only those of a grid (assigned to it or to a grid inside it), and
    how many match over all pages: one statement (a second only to count past the last page).
    Only those inside ``scope``."""
    params = {"g": grid, "l": limit, "o": offset, **scope[1]}
    rows = [
        dict(r)
        for r in conn.execute(
            text(
                f"""SELECT {_WORKER}, count(*) OVER () AS total
                FROM worker w LEFT JOIN worker_grid g ON g.worker_id = w.id
                WHERE ({_IN_GRID}) AND {worker_scope(scope)} GROUP BY w.id ORDER BY w.id LIMIT :l OFFSET :o"""
            ),
            params,
        ).mappings()
    ]
    if rows:
        total = rows[0]["total"]
        for r in rows:
            del r["total"]
    elif offset:
        total = conn.execute(
            text(f"SELECT count(*) FROM worker w WHERE ({_IN_GRID}) AND {worker_scope(scope)}"), params
        ).scalar_one()
    else:
        total = 0
    return total, rows


def get_worker(conn: Connection, worker_id: str) -> dict[str, Any]:
    row = (
        conn.execute(
            text(
                f"""SELECT {_WORKER} FROM worker w LEFT JOIN worker_grid g ON g.worker_id = w.id
                WHERE w.id = :w GROUP BY w.id"""
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
               WHERE :c IN (p.unit_grid_code, p.community_code, p.street_code, p.district_code)
               ORDER BY p.worker_id"""
            ),
            {"c": code},
        ).mappings()
    else:
        rows = conn.execute(query("workers_in_grid"), {"c": code, "s": start, "e": end}).mappings()
    return [dict(r) for r in rows]
