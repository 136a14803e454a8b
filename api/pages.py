"""The browser's pages: ``/`` (links), ``/login`` and ``/logout``.

A browser signs in with the same accounts as the API (:func:`api.routes.auth.open_session`) and keeps
its token in an HttpOnly, SameSite=Strict cookie (``wangge_session``), so page scripts never hold it;
the API reads it when a request has no ``Authorization`` header (:func:`api.access.credentials`). A
write made with the cookie must send the session's CSRF token as ``X-CSRF-Token`` (double submit:
the readable ``wangge_csrf`` cookie holds it, the signed token holds the same value), so another site
cannot make a signed-in browser write even where SameSite is not honoured. The sign-in form carries
its own one-time token against login CSRF (signing a victim into the attacker's account).
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.access import CSRF_COOKIE, SESSION_COOKIE, access_changed, public
from api.routes.auth import end_session, open_session
from gis.access import tokens
from gis.errors import Forbidden, TooManyAttempts, Unauthorized

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
#: the sign-in form's one-time token (against login CSRF), valid while the form is open
FORM_COOKIE = "wangge_login"
FORM_TTL_S = 3600

router = APIRouter(include_in_schema=False, dependencies=[Depends(public)])


def root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def secure(request: Request) -> bool:
    configured = request.app.state.settings.cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if (
        not value
        or len(value) > 1024
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(ch) < 32 or ch == "\\" for ch in value)
    ):
        return "/"
    return value


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page with its scripts allowed by a per-response nonce and nothing loaded from elsewhere."""
    nonce = secrets.token_urlsafe(16)
    response = TEMPLATES.TemplateResponse(
        request, template, {"root": root(request), "nonce": nonce, **context}, status_code=status
    )
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def login_form(
    request: Request, status: int = 200, *, error: str = "", username: str = "", next: str = "/"
) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", status, error=error, username=username, next=safe_next(next), form_token=token
    )
    response.set_cookie(
        FORM_COOKIE,
        token,
        max_age=FORM_TTL_S,
        path=f"{root(request)}/login",
        secure=secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


FAVICON = Path(__file__).resolve().parents[1] / "maps" / "static" / "favicon.svg"


@router.get("/favicon.ico")
def favicon() -> Response:
    """The tab's icon (browsers ask for it at this path, whatever the page says)."""
    return Response(FAVICON.read_bytes(), media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> Response:
    today = datetime.now(UTC).date()
    return render(request, "landing.html", since=str(today - timedelta(days=90)), until=str(today + timedelta(days=1)))


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    return login_form(request, next=next)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str, Form(max_length=1024)] = "/",
    form_token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Sign in from the form: the session cookie is set and the browser goes on to ``next``."""
    sent = request.cookies.get(FORM_COOKIE, "")
    if not form_token or not hmac.compare_digest(sent.encode(), form_token.encode()):
        return login_form(
            request,
            400,
            error="登录页面已过期，请重试。The sign-in form had expired; please try again.",
            username=username,
            next=next,
        )
    if not username or not password:
        return login_form(
            request, 400, error="请输入账号和密码。Enter your login and password.", username=username, next=next
        )
    settings = request.app.state.settings
    try:
        session = open_session(request, username, password, lifetime_s=settings.session_lifetime_s, csrf=True)
    except Unauthorized:
        return login_form(request, 401, error="账号或密码错误。Wrong login or password.", username=username, next=next)
    except TooManyAttempts as exc:
        response = login_form(request, 429, error=f"尝试次数过多。{exc}", username=username, next=next)
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    response = RedirectResponse(f"{root(request)}{safe_next(next)}", status_code=303)
    path, max_age, https = f"{root(request)}/", settings.session_lifetime_s, secure(request)
    response.set_cookie(
        SESSION_COOKIE,
        session["access_token"],
        max_age=max_age,
        path=path,
        secure=https,
        httponly=True,
        samesite="strict",
    )
    response.set_cookie(
        CSRF_COOKIE, session["csrf_token"], max_age=max_age, path=path, secure=https, httponly=False, samesite="strict"
    )
    response.delete_cookie(FORM_COOKIE, path=f"{root(request)}/login", secure=https, httponly=True, samesite="strict")
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Sign out: the session the cookie names ends (given its CSRF token) and the cookies go."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and csrf_token:
        with request.app.state.engine.begin() as conn:
            try:
                who = tokens.verify(conn, request.app.state.token_keys.get(conn), cookie, csrf=csrf_token)
            except (Unauthorized, Forbidden):  # ended already, or a wrong CSRF token: the cookies still go
                who = None
            if who is not None:
                end_session(request, conn, who)
        access_changed(request)
    response = RedirectResponse(f"{root(request)}/login", status_code=303)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path=f"{root(request)}/", secure=secure(request), samesite="strict")
    return response
