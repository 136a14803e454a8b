"""One table mapping each wangge exception to its HTTP status; request errors reshaped to match."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from gis.errors import ClusterError, Conflict, ImportRejected, InvalidInput, NotFound, WanggeError

log = logging.getLogger("wangge.api")

STATUS: dict[type[WanggeError], int] = {
    InvalidInput: 400,
    NotFound: 404,
    Conflict: 409,
    ImportRejected: 422,
    ClusterError: 503,
    WanggeError: 400,
}


def status_for(exc: WanggeError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(WanggeError)
    async def _wangge(request: Request, exc: WanggeError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=status_for(exc))

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

    @app.exception_handler(OperationalError)
    async def _db(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database error on %s: %s", request.url.path, exc)
        return JSONResponse(
            {"error": "database_unavailable", "message": "the database is not reachable"}, status_code=503
        )
