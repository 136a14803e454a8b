"""Taking in a case (工单): its grid chain, responsible unit, deadline and the ``why`` of its
assignment, in one statement; reading a case back.

Functions take a connection and never commit; the route or command owns the transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access import personal
from gis.access.principal import Principal, area_condition
from gis.cases import calendar, deadlines
from gis.dates import parse_at
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.grids.lookup import to_storage_points
from gis.statements import execute_prepared, fetch_prepared, load

CHANNELS = ("hotline", "app", "wechat", "patrol", "video", "other")


#: a point closer than this to a unit-grid edge gets a warning in the answer
NEAR_BOUNDARY_M = 5.0


_CASE_COLUMNS = """c.id, c.idempotency_key, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat, c.class_code,
    c.description, c.channel, c.reported_at, c.component_code, c.district_code, c.street_code, c.community_code,
    c.unit_grid_code, c.resp_unit, c.state, c.deadline, c.why, c.created_at, c.updated_at,
    c.contact_name, c.contact_phone, c.contact_email,
    (SELECT g.resp_person FROM grid g WHERE g.code = c.unit_grid_code
       AND wangge_valid(g.valid_from, g.valid_to, c.reported_at)) AS gridworker,
    (SELECT json_agg(json_build_object('worker_id', w.id, 'name', w.name, 'role', w.role, 'grid', wg.grid_code)
                     ORDER BY length(wg.grid_code) DESC, w.id)
       FROM worker_grid wg JOIN worker w ON w.id = wg.worker_id
       WHERE wg.grid_code IN (c.unit_grid_code, c.community_code)) AS registered_workers"""


_SELECT = text(f'SELECT {_CASE_COLUMNS} FROM "case" c WHERE c.id = :id')

#: what a grant reaches on a case (gis.access.principal.area_condition): its grids, its responsible
#: unit, and for a machine client the cases it submitted (the actor of the case's first event)
CASE_SCOPE = {
    6: "c.district_code",
    9: "c.street_code",
    12: "c.community_code",
    15: "c.unit_grid_code",
    "unit": "c.resp_unit",
    "submitter": "(SELECT e.actor FROM case_event e WHERE e.case_id = c.id ORDER BY e.id LIMIT 1)",
}


def case_scope(who: Principal | None, permission: str = "cases:read", prefix: str = "acc") -> tuple[str, dict]:
    """The WHERE fragment keeping the cases ``who`` reaches with ``permission`` (everything for None:
    the system itself, a test, the command line)."""
    return ("TRUE", {}) if who is None else area_condition(who, permission, CASE_SCOPE, prefix=prefix)


_ASSIGN = "WITH " + load("case_assign")


# assignment, the case, its first events and the answer: one statement, so one round trip and
# atomic on an autocommit connection. Nothing is written when the class's time limit is not the
# one the deadline was computed from (the class changed, or is unknown) or the component is unknown.
_INTAKE = (
    _ASSIGN
    + f""",
cls AS (
    SELECT code FROM event_class
    WHERE code = CAST(:cls AS text) AND time_limit = CAST(:lim AS numeric) AND time_unit = CAST(:lim_unit AS text)
), ok AS (
    SELECT a.* FROM a
    WHERE EXISTS (SELECT 1 FROM cls) AND (CAST(:comp AS text) IS NULL OR a.component_found > 0)
), ins AS (
    INSERT INTO "case" (idempotency_key, geom, class_code, description, channel, reported_at, component_code,
                        district_code, street_code, community_code, unit_grid_code, resp_unit, state, deadline, why,
                        contact_name, contact_phone, contact_email)
    SELECT CAST(:k AS text), pt.g, CAST(:cls AS text), CAST(:d AS text), CAST(:ch AS text), CAST(:at AS timestamptz),
           CAST(:comp AS text), ok.district, ok.street, ok.community, ok.unit_grid, ok.resp_unit,
           CASE WHEN ok.resp_unit IS NULL THEN 'received' ELSE 'dispatched' END, CAST(:due AS timestamptz),
           ok.why || jsonb_build_object('warnings', (ok.why -> 'warnings') || CAST(:cal_warn AS jsonb)),
           CAST(:cn AS text), CAST(:cp AS text), CAST(:ce AS text)
    FROM ok, pt
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
), ev AS (
    INSERT INTO case_event (case_id, actor, action, from_state, to_state, data)
    SELECT ins.id, e.actor, e.action, e.f, e.t, e.d
    FROM ins CROSS JOIN LATERAL (VALUES
        (1, CAST(:actor AS text), 'receive', NULL, 'received', jsonb_build_object('channel', ins.channel)),
        (2, 'system', 'file', 'received', 'filed', '{{}}'::jsonb),
        (3, 'system', 'dispatch', 'filed', 'dispatched', jsonb_build_object('resp_unit', ins.resp_unit, 'why', ins.why))
    ) AS e(n, actor, action, f, t, d)
    WHERE e.n = 1 OR ins.resp_unit IS NOT NULL
    ORDER BY e.n
)
SELECT EXISTS (SELECT 1 FROM cls) AS class_current, a.component_found > 0 AS component_found, x.*
FROM a LEFT JOIN LATERAL (SELECT {_CASE_COLUMNS} FROM ins c) x ON true"""
)


_MOVE = _ASSIGN + " SELECT a.*, ST_X(pt.g) AS x, ST_Y(pt.g) AS y FROM a, pt"


def event_class(conn: Connection, code: str) -> dict[str, Any]:
    row = execute_prepared(conn, "wangge_event_class", "SELECT * FROM event_class WHERE code = :c", {"c": code})
    row = row.mappings().first()
    if row is None:
        allowed = list(conn.execute(text("SELECT code FROM event_class ORDER BY code")).scalars())
        raise InvalidInput(f"unknown event class {code!r}", field="class", allowed=allowed)
    return dict(row)


_CLASS_LIMITS: WeakKeyDictionary[Any, dict[str, tuple[Decimal, str]]] = WeakKeyDictionary()  # per engine


def _class_limit(conn: Connection, code: str, *, fresh: bool = False) -> tuple[Decimal, str]:
    """An event class's time limit and unit, cached per process (the intake's statement checks it is current)."""
    limits = _CLASS_LIMITS.setdefault(conn.engine, {})
    if fresh or code not in limits:
        cls = event_class(conn, code)
        limits[code] = (cls["time_limit"], cls["time_unit"])
    return limits[code]


def assignment(
    conn: Connection, x: float, y: float, at: datetime, class_code: str, component_code: str | None
) -> dict[str, Any]:
    """Grid chain, responsible unit and ``why`` of a case at storage-CRS (x, y) as of ``at``."""
    row = (
        execute_prepared(
            conn,
            "wangge_case_assign",
            _MOVE,
            {"x": x, "y": y, "at": at, "cls": class_code, "comp": component_code, "near_m": NEAR_BOUNDARY_M},
        )
        .mappings()
        .one()
    )
    if component_code and not row["component_found"]:
        raise InvalidInput(f"unknown component {component_code!r}", field="component_code")
    chain = {k: row[k] for k in ("district", "street", "community", "unit_grid")}
    return {"x": row["x"], "y": row["y"], "chain": chain, "resp_unit": row["resp_unit"], "why": row["why"]}


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
    who: Principal | None = None,
    contact: dict[str, str | None] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a case with its assignment. Returns the case and whether it was created now.

    One statement does the lookup, the dispatch, the insert of the case and its first events, and
    returns the answer (safe on an autocommit connection). ``who`` (the signed-in caller) is the
    actor of the case's first event, and a caller whose intake is limited to areas may only report
    inside them (a point outside: Forbidden, before anything is written). ``contact``: the citizen's
    ``name``, ``phone`` and ``email`` (:func:`gis.access.personal.contact`), answered masked to a
    caller without ``personal:read`` on the case.
    """
    if who is not None:
        actor = who.actor
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {channel!r}", field="channel", allowed=list(CHANNELS))
    now = datetime.now(UTC)
    reported_at = parse_at(reported_at, "reported_at") or now  # a time without offset is UTC, as everywhere
    if reported_at > now + timedelta(minutes=5):
        raise InvalidInput("reported_at lies in the future", field="reported_at")
    xs, ys = to_storage_points([lon], [lat], crs)
    if who is not None and who.areas_for("cases:intake") is not None:
        chain = assignment(conn, float(xs[0]), float(ys[0]), reported_at, class_code, None)["chain"]
        if not who.covers(
            "cases:intake", chain["unit_grid"] or chain["community"] or chain["street"] or chain["district"]
        ):
            raise Forbidden("the point lies outside the areas you may report in", field="lon")
    params = {
        "x": float(xs[0]),
        "y": float(ys[0]),
        "at": reported_at,
        "cls": class_code,
        "comp": component_code,
        "near_m": NEAR_BOUNDARY_M,
        "k": idempotency_key,
        "d": description,
        "ch": channel,
        "actor": actor,
        **_contact_params(contact),
    }
    cal = calendar.load_calendar(conn)
    for fresh in (False, True):
        limit, unit = _class_limit(conn, class_code, fresh=fresh)
        due = deadlines.deadline(reported_at, limit, unit, cal)
        # a deadline over a year the calendar does not know says so in the case's why
        warn = calendar.coverage_warnings(cal, reported_at, due, unit)
        params.update(
            lim=limit, lim_unit=unit, due=due, cal_warn=json.dumps(warn, ensure_ascii=False) if warn else "[]"
        )
        columns, rows = fetch_prepared(conn, "wangge_case_intake", _INTAKE, params)
        row = dict(zip(columns, rows[0], strict=True))
        if row["class_current"]:
            break
    else:  # changed twice in a row while we looked: refuse rather than store a wrong deadline
        raise Conflict(f"event class {class_code!r} is being changed; retry", field="class")
    if component_code and not row["component_found"]:
        raise InvalidInput(f"unknown component {component_code!r}", field="component_code")
    if row["id"] is None:  # the idempotency key is already stored: answer the first case
        existing = conn.execute(
            text('SELECT id FROM "case" WHERE idempotency_key = :k'), {"k": idempotency_key}
        ).scalar_one()
        return get_case(conn, existing, who), False
    case = dict(row)
    del case["class_current"], case["component_found"]
    return _shape(case, who), True


def _contact_params(found: dict[str, str | None] | None) -> dict[str, str | None]:
    checked = personal.contact(**found) if found else None
    return (
        {"cn": None, "cp": None, "ce": None}
        if checked is None
        else {"cn": checked["name"], "cp": checked["phone"], "ce": checked["email"]}
    )


def get_case(
    conn: Connection, case_id: int, who: Principal | None = None, permission: str = "cases:read", *, scoped: bool = True
) -> dict[str, Any]:
    """One case; a case ``who`` does not reach with ``permission`` is missing (404), as an unknown id.
    ``scoped=False``: the case whatever its place (one ``who`` just acted on, perhaps moving it out
    of their areas), still shaped for ``who`` (personal data masked)."""
    if who is None or not scoped:
        row = conn.execute(_SELECT, {"id": case_id}).mappings().first()
    else:
        scope, params = case_scope(who, permission)
        row = (
            conn.execute(
                text(f'SELECT {_CASE_COLUMNS} FROM "case" c WHERE c.id = :id AND {scope}'), {"id": case_id, **params}
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no case {case_id}", field="id")
    return _shape(dict(row), who)


def _shape(d: dict[str, Any], who: Principal | None = None) -> dict[str, Any]:
    """A case row as the API answers it; the citizen's contact and the gridworkers' names masked for
    a caller without ``personal:read`` on the case."""
    d["chain"] = {
        "district": d.pop("district_code"),
        "street": d.pop("street_code"),
        "community": d.pop("community_code"),
        "unit_grid": d.pop("unit_grid_code"),
    }
    # the gridworkers registered for the unit grid (and the grid leaders of its community) first,
    # then the person the boundary file names for the grid, if not one of them already
    workers = d.pop("registered_workers") or []
    named = d.pop("gridworker")
    if named and named not in {w["name"] for w in workers}:
        workers.append({"worker_id": None, "name": named, "role": "gridworker", "grid": d["chain"]["unit_grid"]})
    contact = {"name": d.pop("contact_name"), "phone": d.pop("contact_phone"), "email": d.pop("contact_email")}
    contact = contact if any(contact.values()) else None
    if not personal.sees_personal(who, d["chain"].values(), d["resp_unit"]):
        workers = [{**w, "name": personal.mask_name(w["name"])} for w in workers]
        contact = personal.masked_contact(contact)
    d["gridworkers"] = workers
    d["contact"] = contact
    d["queue"] = "unassigned" if d["resp_unit"] is None else "assigned"
    return d
