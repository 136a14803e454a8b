"""Open311 GeoReport v2 on the same intake, so existing 311 clients can submit and read cases.

Coordinates are WGS-84 (``lat``, ``long``) as the specification says; services are the event
classes. Status ``closed`` is wangge's 结案, every other state is ``open``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from sqlalchemy import text
from sqlalchemy.engine import Connection

from api.access import Caller, CasesRead, FormKeyPermission, Public
from api.deps import AutocommitDep, TransactionDep
from api.schemas import FormText, Instant
from api.schemas.open311 import Service, ServiceRequest, ServiceRequestCreated
from gis.access.principal import Principal
from gis.cases import intake
from gis.cases.intake import case_scope
from gis.errors import InvalidInput, NotFound

router = APIRouter(prefix="/open311/v2", tags=["open311"])


def _services(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(text("SELECT code, major_name, minor_name FROM event_class ORDER BY code")).mappings()
    return [
        {
            "service_code": r["code"],
            "service_name": r["minor_name"],
            "group": r["major_name"],
            "description": f"{r['major_name']} / {r['minor_name']}",
            "metadata": False,
            "type": "realtime",
            "keywords": "",
        }
        for r in rows
    ]


#: what a service request answer needs of a case, with its service's name: one statement for any
#: number of requests
_REQUESTS = """SELECT c.id, c.state, coalesce(c.why ->> 'message', '') AS notes, c.class_code, k.minor_name,
    c.description, c.resp_unit, c.reported_at, c.updated_at, c.deadline, ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat
FROM "case" c LEFT JOIN event_class k ON k.code = c.class_code"""


def _request(r: Any) -> dict[str, Any]:
    return {
        "service_request_id": str(r["id"]),
        "status": "closed" if r["state"] == "closed" else "open",
        "status_notes": r["notes"],
        "service_code": r["class_code"],
        "service_name": r["minor_name"],
        "description": r["description"],
        "agency_responsible": r["resp_unit"],
        "requested_datetime": r["reported_at"].isoformat(),
        "updated_datetime": r["updated_at"].isoformat(),
        "expected_datetime": r["deadline"].isoformat() if r["deadline"] else None,
        "lat": r["lat"],
        "long": r["lon"],
        "address": None,
        "zipcode": None,
    }


@router.get("/services.json", response_model=list[Service])
async def services(autocommit: AutocommitDep, _: Public) -> list[dict[str, Any]]:
    """The services (event classes): public, as GeoReport v2 has it."""
    return await autocommit(_services)


@router.post("/requests.json", response_model=list[ServiceRequestCreated])
async def post_request(
    transaction: TransactionDep,
    who: Annotated[Caller, Depends(FormKeyPermission("cases:intake"))],
    service_code: Annotated[FormText, Form()],
    lat: Annotated[float, Form(ge=-90, le=90)],
    long: Annotated[float, Form(ge=-180, le=180)],
    description: Annotated[FormText, Form()] = "",
    address_string: Annotated[FormText | None, Form()] = None,
    email: Annotated[FormText | None, Form(max_length=254)] = None,
    first_name: Annotated[FormText | None, Form(max_length=31)] = None,
    last_name: Annotated[FormText | None, Form(max_length=31)] = None,
    phone: Annotated[FormText | None, Form(max_length=32)] = None,
    device_id: Annotated[FormText | None, Form()] = None,
    account_id: Annotated[FormText | None, Form()] = None,
) -> list[dict[str, Any]]:
    """Submit a request (form-encoded, as the specification says), with the client's ``api_key``
    (or a bearer token). The citizen's ``first_name``, ``last_name``, ``phone`` and ``email`` are kept
    as the case's contact (personal data: masked to those who do not handle the case)."""
    text_ = description if not address_string else f"{description} ({address_string})"
    case, _ = await transaction(
        intake.intake,
        lon=long,
        lat=lat,
        crs="EPSG:4326",
        class_code=service_code,
        channel="app",
        description=text_,
        who=who,
        contact={"name": full_name(first_name, last_name), "phone": phone, "email": email},
    )
    return [
        {
            "service_request_id": str(case["id"]),
            "service_notice": case["why"].get("message", ""),
            "account_id": account_id,
        }
    ]


def full_name(first: str | None, last: str | None) -> str | None:
    """A name from GeoReport's two parts: family name first for Chinese (张 + 三 → 张三), else "First Last".

    >>> full_name("三", "张"), full_name("Wei", "Li"), full_name(None, "王"), full_name(" ", None)
    ('张三', 'Wei Li', '王', None)
    """
    first, last = (first or "").strip(), (last or "").strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in first + last):
        return (last + first) or None
    return " ".join(p for p in (first, last) if p) or None


def _find(
    conn: Connection,
    who: Principal,
    ids: list[int] | None,
    service_code: str | None,
    start: datetime | None,
    end: datetime | None,
    status: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    scope, params = case_scope(who)
    where, params = [scope], {**params, "limit": limit}
    if ids:
        where.append("c.id = ANY(:ids)")
        params["ids"] = ids
    if service_code:
        where.append("c.class_code = ANY(:codes)")
        params["codes"] = service_code.split(",")
    if start:
        where.append("c.reported_at >= :start")
        params["start"] = start
    if end:
        where.append("c.reported_at < :end")
        params["end"] = end
    if status == "closed":
        where.append("c.state = 'closed'")
    elif status == "open":
        where.append("c.state <> 'closed'")
    rows = conn.execute(
        text(f"{_REQUESTS} WHERE {' AND '.join(where)} ORDER BY c.reported_at DESC, c.id DESC LIMIT :limit"), params
    ).mappings()
    return [_request(r) for r in rows]


@router.get("/requests.json", response_model=list[ServiceRequest])
async def get_requests(
    autocommit: AutocommitDep,
    who: CasesRead,
    service_request_id: str | None = None,
    service_code: str | None = None,
    start_date: Instant | None = None,
    end_date: Instant | None = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)(,(open|closed))?$")] = None,
) -> list[dict[str, Any]]:
    ids = None
    if service_request_id:
        try:
            ids = [int(v) for v in service_request_id.split(",")]
        except ValueError:
            raise InvalidInput(
                "service_request_id must be numbers separated by commas", field="service_request_id"
            ) from None
    st = None if status is None or "," in status else status
    return await autocommit(_find, who, ids, service_code, start_date, end_date, st, 1000)


@router.get("/requests/{request_id}.json", response_model=list[ServiceRequest])
async def get_request(request_id: int, autocommit: AutocommitDep, who: CasesRead) -> list[dict[str, Any]]:
    def one(conn: Connection, who: Principal) -> list[dict[str, Any]]:
        scope, params = case_scope(who)
        row = (
            conn.execute(text(f"{_REQUESTS} WHERE c.id = :id AND {scope}"), {"id": request_id, **params})
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no case {request_id}", field="id")
        return [_request(row)]

    return await autocommit(one, who)
