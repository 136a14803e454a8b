"""The audit trail: who (as authenticated, never as a request claims) did what to which object.

Append-only: the table refuses UPDATE and DELETE. Refused requests are recorded too (action
``denied``), with the principal if one was known, else as ``anonymous``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import KINDS, Principal
from gis.errors import InvalidInput

ACTOR_KINDS = (*KINDS, "anonymous")
MAX_LIMIT = 1000
_REF = re.compile(r"^([a-z_]{1,32})(?::(.{1,128}))?$")


def record(
    conn: Connection,
    principal: Principal | None,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    details: dict[str, Any] | None = None,
    *,
    client_addr: str | None = None,
    request_id: str | None = None,
) -> int:
    """Append one entry; returns its id. ``details`` must not hold secrets or passwords."""
    kind, actor_id = (principal.kind, principal.id) if principal else ("anonymous", "-")
    return conn.execute(
        text(
            """INSERT INTO audit_log (actor_kind, actor_id, action, object_type, object_id, details, client_addr,
                                      request_id)
               VALUES (:k, :a, :act, :ot, :oid, CAST(:d AS jsonb), :addr, :rid) RETURNING id"""
        ),
        {
            "k": kind,
            "a": actor_id,
            "act": action,
            "ot": object_type,
            "oid": None if object_id is None else str(object_id),
            "d": json.dumps(details or {}, default=str, ensure_ascii=False),
            "addr": client_addr and client_addr[:64],
            "rid": request_id and request_id[:128],
        },
    ).scalar_one()


def _ref(value: str, field: str, allowed: Any) -> tuple[str, str | None]:
    m = _REF.match(value) if isinstance(value, str) else None
    if not m:
        raise InvalidInput(f"bad {field} {value!r}: write TYPE or TYPE:ID", field=field, allowed=allowed)
    return m.group(1), m.group(2)


def query(
    conn: Connection,
    *,
    actor: str | None = None,
    object: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Entries newest first, with the total: ``actor`` as ``user`` or ``user:12``, ``object`` as
    ``case`` or ``case:17``, ``from_`` inclusive, ``to`` exclusive."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be 1 to {MAX_LIMIT}", field="limit")
    if offset < 0:
        raise InvalidInput("offset must not be negative", field="offset")
    if from_ and to and to <= from_:
        raise InvalidInput("to must be after from", field="to")
    where, params = ["TRUE"], {"lim": limit, "off": offset, "from": from_, "to": to}
    if actor is not None:
        kind, ident = _ref(actor, "actor", list(ACTOR_KINDS))
        if kind not in ACTOR_KINDS:
            raise InvalidInput(f"unknown actor kind {kind!r}", field="actor", allowed=list(ACTOR_KINDS))
        where.append("actor_kind = :ak")
        params["ak"] = kind
        if ident is not None:
            where.append("actor_id = :aid")
            params["aid"] = ident
    if object is not None:
        otype, oid = _ref(object, "object", "TYPE or TYPE:ID, e.g. case:17")
        where.append("object_type = :ot")
        params["ot"] = otype
        if oid is not None:
            where.append("object_id = :oid")
            params["oid"] = oid
    if from_ is not None:
        where.append("at >= :from")
    if to is not None:
        where.append("at < :to")
    cond = " AND ".join(where)
    total = conn.execute(text(f"SELECT count(*) FROM audit_log WHERE {cond}"), params).scalar_one()
    rows = conn.execute(
        text(
            f"""SELECT id, at, actor_kind, actor_id, action, object_type, object_id, details, client_addr, request_id
                FROM audit_log WHERE {cond} ORDER BY at DESC, id DESC LIMIT :lim OFFSET :off"""
        ),
        params,
    ).mappings()
    return {"total": total, "items": [dict(r) for r in rows]}
