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

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from sqlalchemy.engine import Connection

from api.principals import Principals
from gis.access import accounts, devices, tokens
from gis.access.principal import Principal, area_condition
from gis.errors import Forbidden, InvalidInput, NotFound, TooManyAttempts, Unauthorized

#: the routes open to anyone, each for a reason (docs/access.md)
PUBLIC_REASONS = {
    "/healthz": "the load balancer's health check",
    "/docs": "the API documentation",
    "/openapi.json": "the API documentation",
    "/open311/v2/services.json": "GeoReport v2: the service list is public",
    "/api/v1/auth/token": "signing in",
    "/login": "the browser's sign-in page",
    "/logout": "signing out of the browser's session: ends the session its cookie names, if any",
    "/": "the landing page: links only",
    "/favicon.ico": "the tab's icon",
}


#: the browser session's cookies (api/pages.py): the token (HttpOnly) and its CSRF token (readable
#: by the page's scripts, which send it back as ``X-CSRF-Token`` on writes)
SESSION_COOKIE = "wangge_session"
CSRF_COOKIE = "wangge_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Credentials:
    kind: str  # "token" or "key"
    secret: str
    #: the CSRF token a write made with the session cookie sent (None: none); False when the request
    #: needs none (credentials in a header, which another site cannot make a browser send; a read)
    csrf: str | None | bool = False


class TokenKeys:
    """The token signing key, read from the database once per app (it changes only by rotation)."""

    def __init__(self, configured: str | None):
        self.configured, self.key, self.lock = configured, None, threading.Lock()

    def get(self, conn: Connection) -> bytes:
        if self.key is None:
            with self.lock:
                if self.key is None:
                    self.key = tokens.signing_key(conn, self.configured)
        return self.key


class FailureLimit:
    """Wrong credentials (token, API key, device secret) per client address, in this server process:
    once ``max_failures`` different wrong ones came within ``window_s``, the address is refused (429)
    before anything it sends is checked. Different ones: a phone left with a rotated secret repeats
    the same one every few seconds, and behind a carrier's NAT it must not shut out the phones that
    share its address; a guesser tries a new one each time. In memory (a hash of each, never the
    secret), so a right credential costs nothing more; each server process counts its own (sign-ins
    are limited in the database, across processes: ``accounts.authenticate``)."""

    def __init__(self, max_failures: int = 20, window_s: float = 60.0, addresses: int = 10_000):
        self.max, self.window, self.addresses = max_failures, window_s, addresses
        self.failures: dict[str, dict[int, float]] = {}  # address -> hash of a wrong secret -> last seen
        self.lock = threading.Lock()

    def check(self, addr: str) -> None:
        seen = self.failures.get(addr)
        if seen is None or len(seen) < self.max:
            return
        with self.lock:
            since = time.monotonic() - self.window
            for h in [h for h, at in seen.items() if at <= since]:
                del seen[h]
            if len(seen) >= self.max:
                retry = max(1, int(min(seen.values()) - since + 0.999))
                raise TooManyAttempts(
                    f"too many wrong credentials from this address; try again in {retry} s",
                    field="authorization",
                    retry_after_s=retry,
                )

    def fail(self, addr: str, secret: str) -> None:
        with self.lock:
            if addr not in self.failures and len(self.failures) >= self.addresses:
                self.failures.clear()  # a flood of addresses: start again rather than grow without bound
            seen, h = self.failures.setdefault(addr, {}), hash(secret)
            seen.pop(h, None)  # most recent last
            seen[h] = time.monotonic()
            while len(seen) > self.max:
                del seen[next(iter(seen))]


@dataclass
class Caller:
    """A request's credentials and the permission its route needs, resolved on a connection."""

    credentials: Credentials
    permission: str
    keys: TokenKeys
    principal: Principal | None = None
    #: the caller whose roles did not give the permission (for the audit trail of refusals)
    refused: Principal | None = None
    addr: str = "unknown"
    failures: FailureLimit | None = None
    principals: Principals = field(default_factory=lambda: Principals(None))  # none kept: every one asked

    def resolve(self, conn: Connection) -> Principal:
        """The caller as the database knows them now; 401 for bad credentials, 403 for a caller
        whose roles do not give the route's permission anywhere."""
        if self.principal is None:
            try:
                who = self._verify(conn)
            except Unauthorized:
                if self.failures is not None:
                    self.failures.fail(self.addr, self.credentials.secret)
                raise
            if not who.can(self.permission):
                self.refused = who
                raise Forbidden(f"your roles do not allow {self.permission}", field="permission")
            self.principal = who
        return self.principal

    def _verify(self, conn: Connection) -> Principal:
        """Asked of the database, unless this process verified the same credentials since the last
        change to who may do what (:class:`api.principals.Principals`)."""
        c = self.credentials
        if c.kind == "token":
            claims = tokens.checked_claims(self.keys.get(conn), c.secret, csrf=c.csrf)  # no database
            session = ("session", claims["sid"], claims["sub"])
            return self.principals.verified(session, lambda: tokens.session_principal(conn, claims), conn)
        secret = c.secret if isinstance(c.secret, str) else ""
        who = self.principals.verified(
            ("secret", hashlib.sha256(secret.encode()).digest()), lambda: self._key_or_device(conn, secret), conn
        )
        if who is None:
            raise Unauthorized("the API key is not valid", field="authorization")
        return who

    @staticmethod
    def _key_or_device(conn: Connection, secret: str) -> Principal | None:
        who = accounts.verify_api_key(conn, secret)
        if who is None:  # a gridworker's phone sends its device secret the same way
            worker = devices.worker_for_secret(conn, secret)
            who = devices.device_principal(worker) if worker else None
        return who


def credentials(request: Request) -> Credentials | None:
    """``Authorization: Bearer <token>`` (a JWT: three dot-separated parts) or ``Bearer <API key>``;
    else a browser's session cookie, whose writes must carry the session's CSRF token."""
    header = request.headers.get("authorization")
    if not header:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        csrf = False if request.method in SAFE_METHODS else request.headers.get(CSRF_HEADER)
        return Credentials("token", cookie, csrf=csrf)
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value:
        raise Unauthorized("use Authorization: Bearer <token or API key>", field="authorization")
    return Credentials("token" if value.count(".") == 2 else "key", value)


def _caller(request: Request, found: Credentials, permission: str) -> Caller:
    """The request's caller, kept on ``request.state`` so a refusal can name it (api/errors.py)."""
    addr = request.client.host if request.client else "unknown"
    failures = request.app.state.credential_failures
    failures.check(addr)
    caller = Caller(
        found, permission, request.app.state.token_keys, addr=addr, failures=failures,
        principals=request.app.state.principals,
    )  # fmt: skip
    request.state.caller = caller
    return caller


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
            raise Unauthorized(
                "sign in first (POST /api/v1/auth/token, or /login in a browser) or send an API key",
                field="authorization",
            )
        return _caller(request, found, self.name)

    def __repr__(self) -> str:
        return f"Permission({self.name!r})"


class FormKeyPermission(Permission):
    """A permission whose credentials may come as a form field ``api_key`` (GeoReport v2's way), else
    as ``Authorization: Bearer``."""

    async def __call__(self, request: Request, api_key: Annotated[str | None, Form()] = None) -> Caller:  # type: ignore[override]
        if api_key:
            return _caller(request, Credentials("key", api_key), self.name)
        return await super().__call__(request)


class DeviceSecret(Permission):
    """A gridworker's phone speaking the OsmAnd protocol: its device secret is the ``id`` parameter."""

    def __init__(self) -> None:
        super().__init__("tracks:write")

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        secret = request.query_params.get("id")
        if secret is None and request.method == "POST":
            secret = (await request.form()).get("id")
        if not secret or not isinstance(secret, str):
            raise InvalidInput("id is required", field="id")
        return _caller(request, Credentials("key", secret), self.name)


def access_changed(request: Request) -> None:
    """Called by a route that changed who may do what (a sign-out, a device secret, a worker's
    grids), before it answers: this process forgets its verified callers at once (the others when
    PostgreSQL's notification reaches them, api/principals.py)."""
    request.app.state.principals.forget()


async def public() -> None:
    """The dependency of a route that is public on purpose (listed in :data:`PUBLIC_REASONS`)."""


@dataclass
class ScopeOf:
    """The caller's reach with ``permission`` over rows with ``columns``, as a WHERE fragment
    (:func:`gis.access.principal.area_condition`), resolved with the caller."""

    caller: Caller
    permission: str
    columns: dict

    def resolve(self, conn: Connection) -> tuple[str, dict]:
        return area_condition(self.caller.resolve(conn), self.permission, self.columns)


_LAZY = (Caller, ScopeOf)


def resolve_callers(conn: Connection, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple, dict]:
    """``args`` and ``kwargs`` with every :class:`Caller` replaced by its resolved Principal (and
    every :class:`ScopeOf` by its WHERE fragment)."""
    if not any(isinstance(a, _LAZY) for a in (*args, *kwargs.values())):
        return args, kwargs
    return (
        tuple(a.resolve(conn) if isinstance(a, _LAZY) else a for a in args),
        {k: (v.resolve(conn) if isinstance(v, _LAZY) else v) for k, v in kwargs.items()},
    )


def within(conn: Connection, caller: Caller, permission: str, code: str) -> Principal:
    """The caller, if ``code`` (a grid of any level) is inside its areas for ``permission``;
    NotFound otherwise, as for a grid that does not exist."""
    who = caller.resolve(conn)
    if not who.covers(permission, code):
        raise NotFound(f"no grid {code}", field="code")
    return who


def keep_covered(who: Principal, permission: str, result: dict[str, Any]) -> dict[str, Any]:
    """A lookup answer with the grids outside ``who``'s areas left out (as if the point were outside them)."""
    if who.areas_for(permission) is None:
        return result
    for level in ("district", "street", "community", "unit_grid"):
        if result.get(level) and not who.covers(permission, result[level]["code"]):
            result[level] = None
    if not any(result.get(level) for level in ("district", "street", "community", "unit_grid")):
        result["outside"] = True
    if result.get("unit_grid") is None:
        result["on_boundary"], result["boundary_distance_m"] = False, None
    return result


def allow(permission: str) -> Any:
    """The annotation of a route parameter that declares ``permission``."""
    return Annotated[Caller, Depends(Permission(permission))]


# one per permission, so a route reads: ``who: CasesRead``
AccountRead = allow("account:read")
GridsRead = allow("grids:read")
GridsWrite = allow("grids:write")
CasesIntake = allow("cases:intake")
CasesRead = allow("cases:read")
CasesHandle = allow("cases:handle")  # every role that may act on a case has it; the action decides
StatsRead = allow("stats:read")
RegistryRead = allow("registry:read")
RegistryWrite = allow("registry:write")
ComponentsRead = allow("components:read")
ComponentsWrite = allow("components:write")
CalendarRead = allow("calendar:read")
CalendarWrite = allow("calendar:write")
WorkersRead = allow("workers:read")
WorkersWrite = allow("workers:write")
TracksRead = allow("tracks:read")
TracksWrite = allow("tracks:write")
UsersAdmin = allow("users:admin")
AuditRead = allow("audit:read")
Public = Annotated[None, Depends(public)]
