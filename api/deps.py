"""Request dependencies and the one way routes reach the database.

Dependencies that do no I/O are ``async`` so they run on the event loop; each route makes exactly
one hop to the thread pool (:class:`Autocommit` or :class:`Transaction`) for its database work. Every
extra hop costs about half a millisecond on a two-core machine, so the caller's credentials are
checked in that same hop: a :class:`api.access.Caller` among the arguments is replaced by the
Principal it resolves to, on the route's own connection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from api.access import Caller, resolve_callers
from gis.access import audit as trail
from gis.dates import parse_at
from gis.db import RETRYABLE, sqlstate
from gis.settings import Settings

T = TypeVar("T")
log = logging.getLogger("wangge.api")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def retried(attempt: Callable[[], T]) -> T:
    """Run ``attempt`` (a whole transaction) again once if PostgreSQL aborted it for a deadlock or
    a serialization failure, which a second run usually passes; a second failure is raised (409)."""
    try:
        return attempt()
    except OperationalError as exc:
        if sqlstate(exc) not in RETRYABLE:
            raise
        log.info("retrying after %s", sqlstate(exc))
    return attempt()


class Autocommit:
    """Runs a function with a connection of the autocommit engine (``app.state.autocommit_engine``),
    off the event loop: every statement commits by itself, with no BEGIN and no ROLLBACK round trips
    (measured: 1.1 ms instead of 2.1 ms for a checkout, query and return). For reads, and for the
    case intake, whose every write is one self-contained statement.

    Tried and measured for the intake: running that one statement on the event loop instead of the
    thread pool gave the same ceiling (about 530 cases/s) but serialised each server process, so one
    slow statement held every request behind it: at 400 requests/s the p99 was 233-252 ms, against
    56-70 ms through the thread pool.
    """

    def __init__(self, engine: Engine):
        self.engine = engine

    async def __call__(self, fn: Callable[..., T], *args: Any, caller: Caller | None = None, **kwargs: Any) -> T:
        """``caller``: checked (credentials, permission) before ``fn`` runs, without passing it on."""

        def work() -> T:
            with self.engine.connect() as conn:
                if caller is not None:
                    caller.resolve(conn)
                a, kw = resolve_callers(conn, args, kwargs)  # the caller, checked on this same connection
                return fn(conn, *a, **kw)

        return await run_in_threadpool(retried, work)


class Transaction:
    """Runs a function in one transaction of ``app.state.engine`` (committed on success, rolled
    back on an error), off the event loop."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def __call__(
        self,
        fn: Callable[..., T],
        *args: Any,
        caller: Caller | None = None,
        audit: tuple[str, str, Any] | None = None,
        **kwargs: Any,
    ) -> T:
        """``caller``: checked before ``fn`` runs, without passing it on; ``audit``: (action, object
        type, object id) written to the trail with the caller, in the same transaction."""

        def work() -> T:
            with self.engine.begin() as conn:
                who = caller.resolve(conn) if caller is not None else None
                a, kw = resolve_callers(conn, args, kwargs)
                result = fn(conn, *a, **kw)
                if audit is not None:
                    trail.record(conn, who, *audit)
                return result

        return await run_in_threadpool(retried, work)


async def get_transaction(request: Request) -> Transaction:
    return Transaction(request.app.state.engine)


async def get_autocommit(request: Request) -> Autocommit:
    return Autocommit(request.app.state.autocommit_engine)


async def get_at(
    at: Annotated[str | None, Query(description="ISO date or date-time; default now")] = None,
) -> datetime | None:
    return parse_at(at)


EngineDep = Annotated[Engine, Depends(get_engine)]
AutocommitDep = Annotated[Autocommit, Depends(get_autocommit)]
TransactionDep = Annotated[Transaction, Depends(get_transaction)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AtDep = Annotated[datetime | None, Depends(get_at)]
__all__ = ["AtDep", "AutocommitDep", "Connection", "EngineDep", "SettingsDep", "TransactionDep"]
