"""Open311 GeoReport v2 on the same intake, so existing 311 clients can submit and read cases.

Coordinates are WGS-84 (``lat``, ``long``) as the specification says; services are the event
classes. Status ``closed`` is wangge's 结案, every other state is ``open``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from sqlalchemy import text
from sqlalchemy.engine import Connection

from api.deps import AutocommitDep, TransactionDep
from api.schemas import FormText, Instant
from gis.cases import intake
from gis.errors import InvalidInput

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


def _request(case: dict[str, Any], service_name: str | None = None) -> dict[str, Any]:
    return {
        "service_request_id": str(case["id"]),
        "status": "closed" if case["state"] == "closed" else "open",
        "status_notes": case["why"].get("message", ""),
        "service_code": case["class_code"],
        "service_name": service_name,
        "description": case["description"],
        "agency_responsible": case["resp_unit"],
        "requested_datetime": case["reported_at"].isoformat(),
        "updated_datetime": case["updated_at"].isoformat(),
        "expected_datetime": case["deadline"].isoformat() if case["deadline"] else None,
        "lat": case["lat"],
        "long": case["lon"],
        "address": None,
        "zipcode": None,
    }


@router.get("/services.json")
async def services(autocommit: AutocommitDep) -> list[dict[str, Any]]:
    return await autocommit(_services)


@router.post("/requests.json")
async def post_request(
    transaction: TransactionDep,
    service_code: Annotated[FormText, Form()],
    lat: Annotated[float, Form(ge=-90, le=90)],
    long: Annotated[float, Form(ge=-180, le=180)],
    description: Annotated[FormText, Form()] = "",
    address_string: Annotated[FormText | None, Form()] = None,
    email: Annotated[FormText | None, Form()] = None,
    device_id: Annotated[FormText | None, Form()] = None,
    account_id: Annotated[FormText | None, Form()] = None,
    api_key: Annotated[FormText | None, Form()] = None,
) -> list[dict[str, Any]]:
    """Submit a request (form-encoded, as the specification says)."""
    text_ = description if not address_string else f"{description} ({address_string})"
    case, _ = await transaction(
        intake.intake, lon=long, lat=lat, crs="EPSG:4326", class_code=service_code, channel="app", description=text_
    )
    return [
        {
            "service_request_id": str(case["id"]),
            "service_notice": case["why"].get("message", ""),
            "account_id": account_id,
        }
    ]


def _find(
    conn: Connection,
    ids: list[int] | None,
    service_code: str | None,
    start: datetime | None,
    end: datetime | None,
    status: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    where, params = ["true"], {"limit": limit}
    if ids:
        where.append("id = ANY(:ids)")
        params["ids"] = ids
    if service_code:
        where.append("class_code = ANY(:codes)")
        params["codes"] = service_code.split(",")
    if start:
        where.append("reported_at >= :start")
        params["start"] = start
    if end:
        where.append("reported_at < :end")
        params["end"] = end
    if status == "closed":
        where.append("state = 'closed'")
    elif status == "open":
        where.append("state <> 'closed'")
    found = (
        conn.execute(
            text(f'SELECT id FROM "case" WHERE {" AND ".join(where)} ORDER BY reported_at DESC, id DESC LIMIT :limit'),
            params,
        )
        .scalars()
        .all()
    )
    names = dict(conn.execute(text("SELECT code, minor_name FROM event_class")).all())
    return [_request(c, names.get(c["class_code"])) for c in (intake.get_case(conn, i) for i in found)]


@router.get("/requests.json")
async def get_requests(
    autocommit: AutocommitDep,
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
    return await autocommit(_find, ids, service_code, start_date, end_date, st, 1000)


@router.get("/requests/{request_id}.json")
async def get_request(request_id: int, autocommit: AutocommitDep) -> list[dict[str, Any]]:
    def one(conn: Connection) -> list[dict[str, Any]]:
        case = intake.get_case(conn, request_id)
        name = conn.execute(
            text("SELECT minor_name FROM event_class WHERE code = :c"), {"c": case["class_code"]}
        ).scalar()
        return [_request(case, name)]

    return await autocommit(one)
