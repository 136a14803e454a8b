"""Who is calling and what they may do: every route declares one permission (:class:`Permission`)
or is public on purpose (:func:`public`); ``tests/test_access.py`` walks every route and fails on
one that declares neither.

A route's permission dependency only reads the credentials (no database): a bearer token (a
signed-in user) or an API key in ``Authorization``; none is a 401 at once. The token or key is
checked, and the caller's roles re-read, inside the route's one hop to the database
(:class:`Caller`, resolved by the runners of :mod:`api.deps` on the same connection as the route's
work), so signing in costs one indexed query and no extra thread hop.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy.engine import Connection

from gis.access import accounts, tokens
from gis.access.principal import Principal
from gis.errors import Forbidden, Unauthorized

#: the routes open to anyone, each for a reason (docs/access.md)
PUBLIC_REASONS = {
    "/healthz": "the load balancer's health check",
    "/docs": "the API documentation",
    "/openapi.json": "the API documentation",
    "/open311/v2/services.json": "GeoReport v2: the service list is public",
    "/api/v1/auth/token": "signing in",
    "/": "the landing page: links only",
}


@dataclass(frozen=True)
class Credentials:
    kind: str  # "token" or "key"
    secret: str


class _Keys:
    """The token signing key, read from the database once per app (it changes only by rotation)."""

    def __init__(self, configured: str | None):
        self.configured, self.key, self.lock = configured, None, threading.Lock()

    def get(self, conn: Connection) -> bytes:
        if self.key is None:
            with self.lock:
                if self.key is None:
                    self.key = tokens.signing_key(conn, self.configured)
        return self.key


@dataclass
class Caller:
    """A request's credentials and the permission its route needs, resolved on a connection."""

    credentials: Credentials
    permission: str
    keys: _Keys
    principal: Principal | None = None

    def resolve(self, conn: Connection) -> Principal:
        """The caller as the database knows them now; 401 for bad credentials, 403 for a caller
        whose roles do not give the route's permission anywhere."""
        if self.principal is None:
            c = self.credentials
            if c.kind == "token":
                who = tokens.verify(conn, self.keys.get(conn), c.secret)
            else:
                who = accounts.verify_api_key(conn, c.secret)
                if who is None:
                    raise Unauthorized("the API key is not valid", field="authorization")
            if not who.can(self.permission):
                raise Forbidden(f"your roles do not allow {self.permission}", field="permission")
            self.principal = who
        return self.principal


def credentials(request: Request) -> Credentials | None:
    """``Authorization: Bearer <token>`` (a JWT: three dot-separated parts) or ``Bearer <API key>``."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthorized("use Authorization: Bearer <token or API key>", field="authorization")
    return Credentials("token" if value.count(".") == 2 else "key", value)


class Permission:
    """The dependency a route declares: ``Annotated[Caller, Depends(Permission("cases:read"))]``."""

    def __init__(self, name: str):
        from gis.access.roles import PERMISSIONS

        if name not in PERMISSIONS:
            raise ValueError(f"unknown permission {name!r}")
        self.name = name

    async def __call__(self, request: Request) -> Caller:
        found = credentials(request)
        if found is None:
            raise Unauthorized("sign in first (POST /api/v1/auth/token) or send an API key", field="authorization")
        return Caller(found, self.name, request.app.state.token_keys)

    def __repr__(self) -> str:
        return f"Permission({self.name!r})"


async def public() -> None:
    """The dependency of a route that is public on purpose (listed in :data:`PUBLIC_REASONS`)."""


def resolve_callers(conn: Connection, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple, dict]:
    """``args`` and ``kwargs`` with every :class:`Caller` replaced by its resolved Principal."""
    if not any(isinstance(a, Caller) for a in (*args, *kwargs.values())):
        return args, kwargs
    return (
        tuple(a.resolve(conn) if isinstance(a, Caller) else a for a in args),
        {k: (v.resolve(conn) if isinstance(v, Caller) else v) for k, v in kwargs.items()},
    )
