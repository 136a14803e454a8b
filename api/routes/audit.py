"""The audit trail: ``GET /api/v1/audit``, newest first, for administrators of the whole city."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.access import AuditRead
from api.deps import AutocommitDep
from api.params import PageDep
from api.schemas import FormText, Instant
from api.schemas.paging import Page
from gis.access import audit
from gis.access.principal import Principal
from gis.errors import Forbidden

router = APIRouter(tags=["access"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: str
    action: str
    object_type: str
    object_id: str | None = None
    details: dict[str, Any]
    client_addr: str | None = None
    request_id: str | None = None


def _trail(conn, who: Principal, **query: Any) -> dict[str, Any]:
    # the trail names every area's users and objects: an administrator of one district reads none of it
    if who.areas_for("audit:read") is not None:
        raise Forbidden("the audit trail is read by administrators of the whole city")
    return audit.query(conn, **query)


@router.get("/audit", response_model=Page[AuditEntry])
async def read_audit(
    autocommit: AutocommitDep,
    page: PageDep,
    who: AuditRead,
    actor: Annotated[FormText | None, Query(max_length=200, description="user, user:12, key:3, device:W0001")] = None,
    object: Annotated[FormText | None, Query(max_length=200, description="case, case:17, grid:110108001")] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
) -> dict[str, Any]:
    """Who (as authenticated) did what to which object, newest first: writes, imports, sign-ins."""
    found = await autocommit(
        _trail, who, actor=actor, object=object, from_=from_, to=to, limit=page.limit, offset=page.offset
    )
    return {"total": found["total"], "limit": page.limit, "offset": page.offset, "items": found["items"]}
