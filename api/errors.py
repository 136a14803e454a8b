"""One table mapping each wangge exception to its HTTP status; request, database and unexpected
errors reshaped to the same JSON: ``{"error", "message", "field", "allowed"}``. Nothing internal
(SQL, a traceback) reaches a client: it goes to the log under the request's id."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.middleware import HEADER, request_id
from gis.db import QUERY_CANCELED, RETRYABLE, UNAVAILABLE, sqlstate
from gis.errors import (
    ClusterError,
    Conflict,
    Forbidden,
    ImportRejected,
    InvalidInput,
    NotFound,
    TooManyAttempts,
    Unauthorized,
    WanggeError,
)

log = logging.getLogger("wangge.api")

STATUS: dict[type[WanggeError], int] = {
    InvalidInput: 400,
    Unauthorized: 401,
    Forbidden: 403,
    TooManyAttempts: 429,
    NotFound: 404,
    Conflict: 409,
    ImportRejected: 422,
    ClusterError: 503,
    WanggeError: 400,
}


#: the error code of an HTTP error FastAPI or Starlette raises
HTTP_CODES = {400: "invalid_input", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def status_for(exc: WanggeError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def database_error(exc: DBAPIError, timeout_s: float) -> tuple[int, dict[str, str]] | None:
    """Status and body for a database error a client can act on, or None for a server error.

    Deadlocks and serialization failures reach here after the one retry of :mod:`api.deps`.
    """
    state = sqlstate(exc)
    if state == QUERY_CANCELED:
        return 503, {"error": "query_timeout", "message": f"the query took longer than {timeout_s:g} s"}
    if state in RETRYABLE:
        return 409, {"error": "conflict", "message": "the request collided with a concurrent one twice; retry it"}
    if state == "55P03":  # lock_not_available
        return 503, {"error": "busy", "message": "the data is locked by another operation; retry"}
    if state is None or state.startswith("08") or state in UNAVAILABLE:
        return 503, {"error": "database_unavailable", "message": "the database is not reachable"}
    if isinstance(exc, DataError) or state.startswith("22"):
        # a value the checks let through but PostgreSQL refuses: its primary message names the value only
        primary = getattr(getattr(exc.orig, "diag", None), "message_primary", None) or "a value is out of range"
        return 400, {"error": "invalid_input", "message": primary}
    if isinstance(exc, IntegrityError) or state.startswith("23"):
        return 409, {"error": "conflict", "message": "the change conflicts with stored data"}
    return None


def _audit_refusal(request: Request, exc: Forbidden) -> None:
    """A signed-in caller refused (403) goes to the audit trail with the route and the reason. A
    request without valid credentials (401) goes to the server log only: anyone can send those, and
    they must not be able to fill the database."""
    from gis.access import audit

    caller = getattr(request.state, "caller", None)
    who = caller and (caller.principal or caller.refused)
    if who is None:
        return
    try:
        with request.app.state.engine.begin() as conn:
            audit.record(
                conn,
                who,
                "denied",
                "route",
                f"{request.method} {request.url.path}"[:128],
                {"reason": exc.message, "permission": caller.permission},
                client_addr=request.client.host if request.client else None,
                request_id=request_id(request.scope),
            )
    except DBAPIError:  # the refusal is answered all the same; the server log has it
        log.warning("could not record the refusal %s in the audit trail", request_id(request.scope), exc_info=True)


def install(app: FastAPI) -> None:
    @app.exception_handler(WanggeError)
    async def _wangge(request: Request, exc: WanggeError) -> JSONResponse:
        headers = {}
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        elif isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, Unauthorized | Forbidden):  # refused requests are logged with route and caller
            log.info("refused %s %s %s: %s", request_id(request.scope), request.method, request.url.path, exc.code)
        if isinstance(exc, Forbidden):
            await run_in_threadpool(_audit_refusal, request, exc)
        return JSONResponse(exc.to_dict(), status_code=status_for(exc), headers=headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        # raised by FastAPI and Starlette themselves (a body that is not UTF-8 JSON, an unknown
        # path or method): the same shape as every other error
        code = HTTP_CODES.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path", "form")]
        body = {
            "error": "invalid_input",
            "field": ".".join(loc) or None,
            "message": first.get("msg", "invalid request"),
            "allowed": (first.get("ctx") or {}).get("expected"),
            "details": [
                {
                    "field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("query", "body", "path")),
                    "message": e.get("msg"),
                }
                for e in errors[:20]
            ],
        }
        return JSONResponse(body, status_code=400)

    @app.exception_handler(DBAPIError)
    async def _db(request: Request, exc: DBAPIError) -> JSONResponse:
        answer = database_error(exc, request.app.state.settings.statement_timeout_ms / 1000)
        if answer is None:
            return await _unexpected(request, exc)
        status, body = answer
        log.warning(
            "request %s %s %s: %s (%s)",
            request_id(request.scope),
            request.method,
            request.url.path,
            body["error"],
            sqlstate(exc) or type(exc.orig).__name__,
        )
        return JSONResponse(body, status_code=status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Starlette calls this from its outermost middleware, past the one that adds the request
        # id to answers: it is added here
        rid = request_id(request.scope)
        log.error("request %s %s %s failed", rid, request.method, request.url.path, exc_info=exc)
        return JSONResponse(
            {
                "error": "internal_error",
                "message": f"an unexpected error; it is logged under request id {rid}",
                "request_id": rid,
            },
            status_code=500,
            headers={HEADER.decode(): rid},
        )
