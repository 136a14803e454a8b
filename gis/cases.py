"""Cases (工单): intake with automatic assignment, the closed-loop workflow, and its trace.

Functions take a connection and never commit; the route or command owns the transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis import deadlines
from gis.errors import Conflict, InvalidInput, NotFound
from gis.lookup import lookup_points
from gis.sqlutil import array_literal, execute_prepared

CHANNELS = ("hotline", "app", "wechat", "patrol", "video", "other")
#: 受理 → 立案 → 派遣 → 处置 → 核查 → 结案, plus 退单 (returned, back to dispatch)
STATES = ("received", "filed", "dispatched", "handling", "verified", "closed", "returned")
OPEN_STATES = ("received", "filed", "dispatched", "handling", "verified", "returned")
#: action → (states it may start from, state it leads to; None keeps the state)
ACTIONS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "file": (("received",), "filed"),  # 立案
    "dispatch": (("filed", "returned"), "dispatched"),  # 派遣
    "accept": (("dispatched",), "handling"),  # 处置
    "finish": (("handling",), "verified"),  # 核查 passed
    "rework": (("verified",), "handling"),  # 核查 failed: 返工
    "close": (("verified",), "closed"),  # 结案
    "return": (("dispatched", "handling"), "returned"),  # 退单, needs a reason
    "extend": (("dispatched", "handling"), None),  # 延期, needs hours
    "supervise": (OPEN_STATES, None),  # 督办
    "callback": (("closed",), None),  # 回访, needs satisfaction
    "move": (OPEN_STATES, None),  # pin moved and/or class changed: assignment re-run
}
#: a point closer than this to a unit-grid edge gets a warning in the answer
NEAR_BOUNDARY_M = 5.0

_CASE_COLUMNS = """c.id, c.idempotency_key, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.class_code,
    c.description, c.channel, c.reported_at, c.component_code, c.district_code, c.street_code, c.community_code,
    c.grid_code, c.unit_code, c.state, c.deadline, c.why, c.created_at, c.updated_at,
    (SELECT g.resp_person FROM grid g WHERE g.code = c.grid_code AND g.valid_from <= c.reported_at
       AND (g.valid_to IS NULL OR g.valid_to > c.reported_at)) AS gridworker,
    (SELECT json_agg(json_build_object('worker_id', w.id, 'name', w.name, 'role', w.role, 'grid', wg.grid_code)
                     ORDER BY length(wg.grid_code) DESC, w.id)
       FROM worker_grid wg JOIN worker w ON w.id = wg.worker_id
       WHERE wg.grid_code IN (c.grid_code, c.community_code)) AS registered_workers"""

_SELECT = text(f'SELECT {_CASE_COLUMNS} FROM "case" c WHERE c.id = :id')

# the case, its first events and the answer in one round trip
_INSERT = f"""WITH c AS (
          INSERT INTO "case" (idempotency_key, geom, class_code, description, channel, reported_at, component_code,
                              district_code, street_code, community_code, grid_code, unit_code, state, deadline, why)
          VALUES (:k, ST_SetSRID(ST_MakePoint(:x, :y), 4490), :cls, :d, :ch, :r, :comp,
                  :dc, :sc, :cc, :gc, :u, :s, :due, CAST(:why AS jsonb))
          ON CONFLICT (idempotency_key) DO NOTHING
          RETURNING *),
        ev AS (
          INSERT INTO case_event (case_id, actor, action, from_state, to_state, data)
          SELECT c.id, e.actor, e.action, e.f, e.t, CAST(e.d AS jsonb)
          FROM c, unnest(CAST(:ev_action AS text[]), CAST(:ev_from AS text[]), CAST(:ev_to AS text[]),
                         CAST(:ev_actor AS text[]), CAST(:ev_data AS text[]))
                  WITH ORDINALITY AS e(action, f, t, actor, d, n)
          ORDER BY e.n)
        SELECT {_CASE_COLUMNS} FROM c"""

_DISPATCH = """(SELECT 1 AS prio, id, unit_code, area_code, class_code FROM dispatch_rule
        WHERE class_code IN (:cls, :major) AND area_code = ANY(:areas)
          AND valid_from <= :at AND (valid_to IS NULL OR valid_to > :at)
          AND (start_time IS NULL OR CASE WHEN start_time <= end_time
                 THEN (:at AT TIME ZONE 'Asia/Shanghai')::time BETWEEN start_time AND end_time
                 ELSE (:at AT TIME ZONE 'Asia/Shanghai')::time >= start_time
                   OR (:at AT TIME ZONE 'Asia/Shanghai')::time <= end_time END)
        ORDER BY length(area_code) DESC, class_code = :cls DESC, start_time IS NOT NULL DESC, id LIMIT 1)
       UNION ALL
       (SELECT 2, NULL, code, area_code, NULL FROM resp_unit
        WHERE kind = 'street_government' AND area_code = :street ORDER BY code LIMIT 1)
       UNION ALL
       (SELECT 3, NULL, code, area_code, NULL FROM resp_unit
        WHERE kind = 'district_government' AND area_code = :district ORDER BY code LIMIT 1)
       ORDER BY 1 LIMIT 1"""
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")


def _event(
    conn: Connection,
    case_id: int,
    actor: str,
    action: str,
    frm: str | None,
    to: str | None,
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        text(
            "INSERT INTO case_event (case_id, actor, action, from_state, to_state, note, data) "
            "VALUES (:c, :a, :act, :f, :t, :n, CAST(:d AS jsonb))"
        ),
        {
            "c": case_id,
            "a": actor,
            "act": action,
            "f": frm,
            "t": to,
            "n": note,
            "d": json.dumps(data or {}, ensure_ascii=False, default=str),
        },
    )


def event_class(conn: Connection, code: str) -> dict[str, Any]:
    row = execute_prepared(conn, "wangge_event_class", "SELECT * FROM event_class WHERE code = :c", {"c": code})
    row = row.mappings().first()
    if row is None:
        allowed = list(conn.execute(text("SELECT code FROM event_class ORDER BY code")).scalars())
        raise InvalidInput(f"unknown event class {code!r}", field="class", allowed=allowed)
    return dict(row)


def dispatch(
    conn: Connection, class_code: str, chain: dict[str, str | None], component_code: str | None, at: datetime
) -> tuple[str | None, dict[str, Any]]:
    """Find the responsible unit and say why.

    Precedence: the component's owner (or maintainer, per component class) → the dispatch rule
    of the most specific area (unit grid, community, street, district; an exact class before its
    major class; a rule with a time window before one without) → the street government, then the
    district government (属地兜底).
    """
    if component_code:
        comp = (
            conn.execute(
                text(
                    """SELECT c.code, c.owner_unit, c.maintainer_unit, k.responsible, k.minor_name
               FROM component c JOIN component_class k ON k.code = c.class_code WHERE c.code = :c"""
                ),
                {"c": component_code},
            )
            .mappings()
            .first()
        )
        if comp is None:
            raise InvalidInput(f"unknown component {component_code!r}", field="component_code")
        unit = comp["owner_unit"] if comp["responsible"] == "owner" else comp["maintainer_unit"]
        if unit:
            return unit, {
                "decided_by": "component",
                "component": comp["code"],
                "role": comp["responsible"],
                "message": f"{comp['minor_name']} {comp['code']}: its {comp['responsible']} is responsible",
            }
    areas = [c for c in (chain.get("unit"), chain.get("community"), chain.get("street"), chain.get("district")) if c]
    if not areas:
        return None, {"decided_by": "none", "message": "no responsible unit found for this place and class"}
    # the most specific rule, else the street government, else the district government: one round trip
    row = execute_prepared(
        conn,
        "wangge_dispatch",
        _DISPATCH,
        {
            "cls": class_code,
            "major": class_code[:2] + "00",
            "areas": array_literal(areas),
            "at": at,
            "street": chain.get("street"),
            "district": chain.get("district"),
        },
    ).first()
    if row is not None:
        prio, rule_id, unit, area, cls = row
        if prio == 1:
            return unit, {
                "decided_by": "rule",
                "rule_id": rule_id,
                "area": area,
                "class": cls,
                "message": f"dispatch rule {rule_id} for class {cls} in area {area}",
            }
        level = "street" if prio == 2 else "district"
        return unit, {
            "decided_by": "fallback",
            "area": area,
            "message": f"no rule or component: the {level} government of {area} (属地兜底)",
        }
    return None, {"decided_by": "none", "message": "no responsible unit found for this place and class"}


def _assign(
    conn: Connection, lon: float, lat: float, crs: str, at: datetime, class_code: str, component_code: str | None
) -> dict[str, Any]:
    hit = lookup_points(conn, [lon], [lat], crs=crs, at=at)[0]
    chain = {lv: (hit[lv]["code"] if hit[lv] else None) for lv in ("district", "street", "community", "unit")}
    unit, why = dispatch(conn, class_code, chain, component_code, at)
    warnings = []
    if hit["outside"]:
        why["queue"] = "unassigned"
        why["message"] = "the point lies outside every grid: " + why["message"]
    d = hit["boundary_distance_m"]
    if chain["unit"] and d is not None and d <= NEAR_BOUNDARY_M:
        warnings.append(
            {
                "near_boundary": True,
                "distance_m": d,
                "message": f"the point is {d:.1f} m from the edge of unit grid {chain['unit']}",
            }
        )
    why["warnings"] = warnings
    return {"x": hit["lon"], "y": hit["lat"], "chain": chain, "unit": unit, "why": why}


def intake(
    conn: Connection,
    *,
    lon: float,
    lat: float,
    class_code: str,
    channel: str,
    reported_at: datetime | None = None,
    crs: str = "EPSG:4490",
    description: str = "",
    component_code: str | None = None,
    idempotency_key: str | None = None,
    actor: str = "system",
) -> tuple[dict[str, Any], bool]:
    """Store a case with its assignment. Returns the case and whether it was created now."""
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}", field="channel", allowed=list(CHANNELS))
    if idempotency_key:
        existing = conn.execute(
            text('SELECT id FROM "case" WHERE idempotency_key = :k'), {"k": idempotency_key}
        ).scalar()
        if existing is not None:
            return get_case(conn, existing), False
    reported_at = reported_at or datetime.now(UTC)
    if reported_at > datetime.now(UTC) + timedelta(minutes=5):
        raise InvalidInput("reported_at lies in the future", field="reported_at")
    cls = event_class(conn, class_code)
    a = _assign(conn, lon, lat, crs, reported_at, class_code, component_code)
    due = deadlines.deadline(reported_at, cls["time_limit"], cls["time_unit"], deadlines.load_calendar(conn))
    state = "dispatched" if a["unit"] else "received"
    events = [("receive", None, "received", actor, {"channel": channel})]
    if a["unit"]:
        events += [
            ("file", "received", "filed", "system", {}),
            ("dispatch", "filed", "dispatched", "system", {"unit": a["unit"], "why": a["why"]}),
        ]
    row = (
        execute_prepared(
            conn,
            "wangge_case_insert",
            _INSERT,
            {
                "k": idempotency_key,
                "x": a["x"],
                "y": a["y"],
                "cls": class_code,
                "d": description,
                "ch": channel,
                "r": reported_at,
                "comp": component_code,
                "dc": a["chain"]["district"],
                "sc": a["chain"]["street"],
                "cc": a["chain"]["community"],
                "gc": a["chain"]["unit"],
                "u": a["unit"],
                "s": state,
                "due": due,
                "why": json.dumps(a["why"], ensure_ascii=False),
                "ev_action": array_literal([e[0] for e in events]),
                "ev_from": array_literal([e[1] for e in events]),
                "ev_to": array_literal([e[2] for e in events]),
                "ev_actor": array_literal([e[3] for e in events]),
                "ev_data": array_literal([json.dumps(e[4], ensure_ascii=False, default=str) for e in events]),
            },
        )
        .mappings()
        .first()
    )
    if row is None:  # a concurrent retry with the same key won the race
        existing = conn.execute(
            text('SELECT id FROM "case" WHERE idempotency_key = :k'), {"k": idempotency_key}
        ).scalar_one()
        return get_case(conn, existing), False
    return _shape(dict(row)), True


def get_case(conn: Connection, case_id: int) -> dict[str, Any]:
    row = conn.execute(_SELECT, {"id": case_id}).mappings().first()
    if row is None:
        raise NotFound(f"no case {case_id}", field="id")
    return _shape(dict(row))


def _shape(d: dict[str, Any]) -> dict[str, Any]:
    d["chain"] = {
        "district": d.pop("district_code"),
        "street": d.pop("street_code"),
        "community": d.pop("community_code"),
        "unit": d.pop("grid_code"),
    }
    # the gridworkers registered for the unit grid (and the grid leaders of its community) first,
    # then the person the boundary file names for the grid, if not one of them already
    workers = d.pop("registered_workers") or []
    named = d.pop("gridworker")
    if named and named not in {w["name"] for w in workers}:
        workers.append({"worker_id": None, "name": named, "role": "gridworker", "grid": d["chain"]["unit"]})
    d["gridworkers"] = workers
    d["queue"] = "unassigned" if d["unit_code"] is None else "assigned"
    return d


def act(
    conn: Connection, case_id: int, action: str, *, actor: str, note: str = "", data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Apply one workflow action; an action not allowed in the case's state raises Conflict."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}", field="action", allowed=list(ACTIONS))
    data = dict(data or {})
    row = (
        conn.execute(
            text(
                "SELECT state, deadline, reported_at, class_code, component_code, ST_X(geom) x, ST_Y(geom) y "
                'FROM "case" WHERE id = :id FOR UPDATE'
            ),
            {"id": case_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no case {case_id}", field="id")
    allowed_from, to = ACTIONS[action]
    state = row["state"]
    if state not in allowed_from:
        raise Conflict(
            f"cannot {action} a case that is {state}",
            field="action",
            allowed=[a for a, (frm, _) in ACTIONS.items() if state in frm],
        )
    new_state = to or state
    sets: dict[str, Any] = {}
    if action == "return" and not note.strip():
        raise InvalidInput("a returned case needs a reason", field="note")
    if action == "dispatch":
        unit = data.get("unit_code")
        if not unit:
            raise InvalidInput("dispatch needs unit_code", field="unit_code")
        if conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None:
            raise InvalidInput(f"unknown unit {unit!r}", field="unit_code")
        sets["unit_code"] = unit
    if action == "extend":
        hours = data.get("hours")
        if not isinstance(hours, int | float) or hours <= 0:
            raise InvalidInput("extend needs a positive number of hours", field="hours")
        sets["deadline"] = row["deadline"] + timedelta(hours=hours)
        data["new_deadline"] = sets["deadline"]
    if action == "callback" and data.get("satisfaction") not in SATISFACTION:
        raise InvalidInput("callback needs satisfaction", field="satisfaction", allowed=list(SATISFACTION))
    if action == "move":
        lon, lat = data.get("lon", row["x"]), data.get("lat", row["y"])
        cls = data.get("class_code", row["class_code"])
        event_class(conn, cls)
        a = _assign(conn, lon, lat, data.get("crs", "EPSG:4490"), row["reported_at"], cls, row["component_code"])
        data = {
            "from": {"lon": row["x"], "lat": row["y"], "class_code": row["class_code"]},
            "to": {"lon": a["x"], "lat": a["y"], "class_code": cls},
            "unit": a["unit"],
            "why": a["why"],
        }
        conn.execute(
            text('UPDATE "case" SET geom = ST_SetSRID(ST_MakePoint(:x, :y), 4490) WHERE id = :id'),
            {"x": a["x"], "y": a["y"], "id": case_id},
        )
        sets.update(
            class_code=cls,
            district_code=a["chain"]["district"],
            street_code=a["chain"]["street"],
            community_code=a["chain"]["community"],
            grid_code=a["chain"]["unit"],
            unit_code=a["unit"],
            why=json.dumps(a["why"], ensure_ascii=False),
        )
    assignments = ", ".join(f"{k} = :{k}" if k != "why" else "why = CAST(:why AS jsonb)" for k in sets)
    conn.execute(
        text(
            f'UPDATE "case" SET state = :state, updated_at = now()'
            f"{', ' + assignments if assignments else ''} WHERE id = :id"
        ),
        {"state": new_state, "id": case_id, **sets},
    )
    _event(conn, case_id, actor, action, state, new_state, note, data)
    return get_case(conn, case_id)


def history(conn: Connection, case_id: int) -> list[dict[str, Any]]:
    get_case(conn, case_id)
    rows = conn.execute(
        text(
            "SELECT id, at, actor, action, from_state, to_state, note, data FROM case_event "
            "WHERE case_id = :c ORDER BY id"
        ),
        {"c": case_id},
    ).mappings()
    return [dict(r) for r in rows]


def list_cases(
    conn: Connection,
    *,
    state: str | None = None,
    unit: str | None = None,
    grid: str | None = None,
    class_code: str | None = None,
    channel: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Cases, newest first, filtered by state, responsible unit, grid (any level, by code prefix),
    class (or major class ``NN00``), channel, report time and bounding box; with the total."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"unknown state {state!r}", field="state", allowed=list(STATES))
    if channel is not None and channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}", field="channel", allowed=list(CHANNELS))
    where, params = [], {"l": limit, "o": offset}
    for column, value in (("state", state), ("unit_code", unit), ("channel", channel)):
        if value:
            where.append(f"c.{column} = :{column}")
            params[column] = value
    if grid:
        level_col = {6: "district_code", 9: "street_code", 12: "community_code", 15: "grid_code"}.get(len(grid))
        if level_col is None or not grid.isdigit():
            raise InvalidInput(f"bad grid code {grid!r}", field="grid", allowed="a code of 6, 9, 12 or 15 digits")
        where.append(f"c.{level_col} = :grid")
        params["grid"] = grid
    if class_code:
        where.append("(c.class_code = :cls OR (right(:cls, 2) = '00' AND left(c.class_code, 2) = left(:cls, 2)))")
        params["cls"] = class_code
    if start:
        where.append("c.reported_at >= :start")
        params["start"] = start
    if end:
        where.append("c.reported_at < :end")
        params["end"] = end
    if bbox:
        where.append("c.geom && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4490)")
        params.update(dict(zip(("x0", "y0", "x1", "y1"), bbox, strict=True)))
    cond = " AND ".join(where) or "true"
    total = conn.execute(text(f'SELECT count(*) FROM "case" c WHERE {cond}'), params).scalar_one()
    rows = conn.execute(
        text(
            f'SELECT {_CASE_COLUMNS} FROM "case" c WHERE {cond} ORDER BY c.reported_at DESC, c.id DESC LIMIT :l OFFSET :o'
        ),
        params,
    ).mappings()
    return {"total": total, "limit": limit, "offset": offset, "cases": [_shape(dict(r)) for r in rows]}
