"""Signing in and out: ``POST /api/v1/auth/token`` (the OAuth2 password form), ``GET …/me``,
``POST …/logout``. A failed sign-in is recorded (so the limits count it) and answered 401 without
saying whether the login exists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.access import Caller, Permission, access_changed, public
from api.schemas import FormText
from gis.access import accounts, audit, tokens
from gis.access.principal import Principal
from gis.errors import Unauthorized

router = APIRouter(prefix="/auth", tags=["access"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class GrantOut(BaseModel):
    role: str
    area: str | None = None
    resp_unit: str | None = None


class MeOut(BaseModel):
    kind: str
    id: str
    name: str
    roles: list[str]
    grants: list[GrantOut]
    worker_id: str | None = None
    permissions: list[str]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def open_session(request: Request, username: str, password: str, *, lifetime_s: int, csrf: bool = False) -> dict:
    """Check a login and password and open a session (:func:`gis.access.tokens.issue_token`'s answer);
    a failure is recorded and committed (so the limits count it), then answered Unauthorized without
    saying whether the login exists. The token route and the browser's /login page both sign in here."""
    with request.app.state.engine.begin() as conn:
        user = accounts.authenticate(
            conn,
            username,
            password,
            _client(request),
            max_failures=request.app.state.settings.login_max_failures,
            window_s=request.app.state.settings.login_window_s,
        )
        if user is None:
            audit.record(conn, None, "auth.failed", "user", username[:64], client_addr=_client(request))
        else:
            key = request.app.state.token_keys.get(conn)
            answer = tokens.issue_token(
                conn, key, user["id"], lifetime_s=lifetime_s, client_addr=_client(request), csrf=csrf
            )
    if user is None:  # committed above
        raise Unauthorized("wrong login or password", field="username")
    return answer


@router.post("/token", response_model=TokenOut, dependencies=[Depends(public)])
def sign_in(
    request: Request,
    username: Annotated[FormText, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
) -> dict[str, Any]:
    """Sign in with a login and password (``application/x-www-form-urlencoded``, as OAuth2's password
    flow); the answer's ``access_token`` goes in ``Authorization: Bearer …`` on later requests."""
    return open_session(request, username, password, lifetime_s=request.app.state.settings.token_lifetime_s)


@router.get("/me", response_model=MeOut)
async def me(request: Request, caller: Annotated[Caller, Depends(Permission("account:read"))]) -> dict[str, Any]:
    """Who the credentials belong to, with their roles, areas and permissions."""
    from gis.access.roles import PERMISSIONS

    def work() -> Any:
        with request.app.state.autocommit_engine.connect() as conn:
            return caller.resolve(conn)

    who = await run_in_threadpool(work)
    return {
        "kind": who.kind,
        "id": who.id,
        "name": who.name,
        "roles": list(who.roles),
        "grants": [{"role": g.role, "area": g.area, "resp_unit": g.unit} for g in who.grants],
        "worker_id": who.worker_id,
        "permissions": [p for p in PERMISSIONS if who.can(p)],
    }


def end_session(request: Request, conn: Any, who: Principal) -> None:
    """Sign ``who`` out (the API's logout and the browser's): the session ends, the trail says so."""
    if who.session_id:
        tokens.revoke_session(conn, who.session_id)
        audit.record(conn, who, "auth.logout", "user", who.name, client_addr=_client(request))


@router.post("/logout", status_code=204)
def sign_out(request: Request, caller: Annotated[Caller, Depends(Permission("account:read"))]) -> None:
    """End the session of this token: it stops working at once."""
    with request.app.state.engine.begin() as conn:
        end_session(request, conn, caller.resolve(conn))
    access_changed(request)
