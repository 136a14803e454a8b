"""The closed loop of a case (受理 → 立案 → 派遣 → 处置 → 核查 → 结案): which action may follow which
state, applying one, and the append-only history of them."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.access.roles import action_permission
from gis.cases.intake import assignment, case_scope, event_class, get_case
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.grids.lookup import to_storage_points

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


def act(
    conn: Connection,
    case_id: int,
    action: str,
    *,
    actor: str = "system",
    note: str = "",
    data: dict[str, Any] | None = None,
    who: Principal | None = None,
) -> dict[str, Any]:
    """Apply one workflow action; an action not allowed in the case's state raises Conflict.

    ``who`` (the signed-in caller) is the actor recorded, and must reach the case with the
    permission the action needs (``cases:handle`` for accept, finish, return and extend, else
    ``cases:act``): a case it does not reach is missing (404). ``actor`` is for callers without one.
    """
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}", field="action", allowed=list(ACTIONS))
    permission = action_permission(action)
    if who is not None:
        if not who.can(permission):
            raise Forbidden(f"your roles do not allow {action}", field="action")
        actor = who.actor
    scope, params = case_scope(who, permission)
    data = dict(data or {})
    row = (
        conn.execute(
            text(
                "SELECT state, deadline, reported_at, class_code, component_code, why, ST_X(geom) x, ST_Y(geom) y "
                f'FROM "case" c WHERE id = :id AND {scope} FOR UPDATE'
            ),
            {"id": case_id, **params},
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
        unit = data.get("resp_unit")
        if not unit:
            raise InvalidInput("dispatch needs resp_unit", field="resp_unit")
        if conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None:
            raise InvalidInput(f"unknown responsible unit {unit!r}", field="resp_unit")
        sets["resp_unit"] = unit
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
        xs, ys = to_storage_points([lon], [lat], data.get("crs", "EPSG:4490"))
        a = assignment(conn, float(xs[0]), float(ys[0]), row["reported_at"], cls, row["component_code"])
        # the deadline stays, and so does what its calendar lacked
        a["why"]["warnings"] += [w for w in (row["why"] or {}).get("warnings", []) if "calendar_not_covered" in w]
        data = {
            "from": {"lon": row["x"], "lat": row["y"], "class_code": row["class_code"]},
            "to": {"lon": a["x"], "lat": a["y"], "class_code": cls},
            "resp_unit": a["resp_unit"],
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
            unit_grid_code=a["chain"]["unit_grid"],
            resp_unit=a["resp_unit"],
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
    return get_case(conn, case_id, who, scoped=False)


def history(conn: Connection, case_id: int, who: Principal | None = None) -> list[dict[str, Any]]:
    get_case(conn, case_id, who)
    rows = conn.execute(
        text(
            "SELECT id, at, actor, action, from_state, to_state, note, data FROM case_event "
            "WHERE case_id = :c ORDER BY id"
        ),
        {"c": case_id},
    ).mappings()
    return [dict(r) for r in rows]
