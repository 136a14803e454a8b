"""The FastAPI application, built by :func:`create_app` so tests build their own."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import Depends, FastAPI
from starlette.concurrency import run_in_threadpool

from api import docs, errors, maps, pages
from api.access import FailureLimit, TokenKeys, public
from api.middleware import RequestId
from api.principals import Principals
from api.routes import (
    analytics,
    audit,
    auth,
    cases,
    grids,
    imports,
    lookup,
    ogc,
    open311,
    registry,
    tiles,
    tracks,
    validation,
)
from api.schemas.meta import ERRORS, Health
from gis.db import make_engine
from gis.settings import Settings
from gis.tracks.positions import LivePositions

log = logging.getLogger("wangge.api")
#: paths whose query string says who is where (the OsmAnd protocol's device id and coordinates)
PRIVATE_QUERY_PATHS = ("/osmand",)


class PrivateQueryFilter(logging.Filter):
    """Drops the query string of :data:`PRIVATE_QUERY_PATHS` from uvicorn's access log lines,
    whose args are ``(client_addr, method, full_path, http_version, status_code)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str) and "?" in args[2]:
            path = args[2].split("?", 1)[0]
            if path.rstrip("/").endswith(PRIVATE_QUERY_PATHS):  # also under a root path
                record.args = (args[0], args[1], path, *args[3:])
        return True


def install_log_filter() -> None:
    """Install :class:`PrivateQueryFilter` on uvicorn's access logger, once per process. Called by
    :func:`create_app`, which every server process runs (``--workers N`` builds the app from the
    factory in each worker); uvicorn's logging setup keeps a logger's filters."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, PrivateQueryFilter) for f in access.filters):
        access.addFilter(PrivateQueryFilter())


def refresh_live_positions(app: FastAPI) -> bool:
    """One step of the refresher: bring the live positions in memory up to date if someone asked
    for them in the last minute. True when it refreshed."""
    live = app.state.live_positions
    if time.monotonic() - live.asked > 60:
        return False
    with app.state.autocommit_engine.connect() as conn:
        live.refresh(conn)
    return True


async def _refresh_live_positions(app: FastAPI) -> None:
    """Keep the live positions in memory up to date while someone has asked for them in the last
    minute, so an answer is built from memory (about 2,000 new fixes a second at 20,000 workers
    reporting every 10 s: each refresh reads only those)."""
    while True:
        await asyncio.sleep(app.state.settings.live_refresh_s)
        try:
            await run_in_threadpool(refresh_live_positions, app)
        except Exception:  # the next round tries again; a request refreshes itself if this lags
            log.exception("refreshing the live positions failed")


def openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's OpenAPI without the 422 answers it documents for every route with parameters:
    api.errors answers bad input with 400 (documented from :data:`api.schemas.meta.ERRORS`)."""
    if app.openapi_schema is None:
        schema = FastAPI.openapi(app)
        for ops in schema["paths"].values():
            for op in ops.values():
                answer = op.get("responses", {}).get("422", {})
                if "HTTPValidationError" in str(answer.get("content")):
                    del op["responses"]["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
    return app.openapi_schema  # type: ignore[return-value]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    install_log_filter()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Routes reach the database from the thread pool. With more threads than pooled
        # connections, an overload turns into threads queueing on the pool and fighting for the
        # GIL, and throughput collapses (measured: 500 → 270 cases/s at 64 concurrent requests);
        # capped, the extra requests wait on the event loop, which costs nothing.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.db_threads
        refresher = asyncio.create_task(_refresh_live_positions(app))
        yield
        refresher.cancel()
        app.state.principals.close()
        app.state.engine.dispose()
        app.state.autocommit_engine.dispose()

    app = FastAPI(
        title="wangge",
        version="0.1.0",
        description="City grid management (网格化管理) on PostGIS",
        lifespan=lifespan,
        docs_url=None,  # served from the project's own assets by api.docs, not from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    # No pre-ping: it costs a round trip per request; the pool recycles connections instead.
    pool = {
        "statement_timeout_ms": settings.statement_timeout_ms,
        "pool_size": settings.db_threads,
        "max_overflow": 8,
        "pool_pre_ping": False,
        "pool_recycle": 600,
    }
    # transactions: imports and workflow steps (api.deps.Transaction)
    app.state.engine = make_engine(settings, **pool)
    # Reads and the one-statement case intake run on their own autocommit pool: no BEGIN, no
    # ROLLBACK and no isolation switch per request (measured: 1.1 ms instead of 2.1 ms for a
    # checkout, query and return; api.deps.Autocommit).
    app.state.autocommit_engine = make_engine(settings, **pool, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
    app.state.live_positions = LivePositions()
    app.state.token_keys = TokenKeys(settings.token_secret)
    app.state.principals = Principals(app.state.autocommit_engine)
    app.state.credential_failures = FailureLimit(settings.credential_max_failures, settings.credential_window_s)
    errors.install(app)
    app.add_middleware(RequestId)
    docs.install(app)
    # Routers are matched in order, each tried costing about 0.05 ms of Python: the busiest paths
    # first, the lookup (the cheapest request, with a latency target) before the intake and tracks.
    for module in (lookup, cases, tracks, grids, imports, validation, registry, analytics, auth, audit):
        app.include_router(module.router, prefix="/api/v1", responses=ERRORS)

    app.include_router(open311.router, responses=ERRORS)
    app.include_router(tracks.osmand, responses=ERRORS)
    app.include_router(tiles.router, responses=ERRORS)
    app.include_router(ogc.router)
    app.include_router(pages.router)
    maps.install(app)
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]

    @app.get("/healthz", tags=["meta"], response_model=Health, dependencies=[Depends(public)])
    def healthz() -> dict[str, Any]:
        from gis.cases.calendar import calendar_health
        from gis.db import check_postgis

        with app.state.engine.connect() as conn:
            calendar = calendar_health(conn)  # a year it lacks is a warning: the service still works
        return {"status": "ok", "postgis": check_postgis(app.state.engine), "calendar": calendar}

    return app
