"""Engine and session factories. Nothing here is a module-level singleton: callers build their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from gis.settings import Settings


def make_engine(
    settings: Settings,
    *,
    statement_timeout_ms: int | None = None,
    connect_timeout_s: int = 10,
    **kw: Any,
) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": connect_timeout_s}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    kw.setdefault("pool_pre_ping", True)
    engine = create_engine(settings.url(), connect_args=connect_args, **kw)

    @event.listens_for(engine, "connect")
    def _generic_plans(dbapi_conn: Any, _record: Any) -> None:
        # Only gis.sqlutil.execute_prepared prepares statements server-side: hot, parameterised
        # index lookups whose generic plan is the custom plan. Planning them again on every run
        # cost 0.3-0.7 ms each, a third of a case's intake.
        with dbapi_conn.cursor() as cur:
            cur.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_conn.commit()

    return engine


def check_postgis(engine: Engine) -> str:
    """Return the PostGIS version, or raise if the database has no PostGIS."""
    with engine.connect() as conn:
        return conn.execute(text("select postgis_lib_version()")).scalar_one()


#: SQLSTATEs wangge tells apart (PostgreSQL's appendix A): a statement cut by statement_timeout,
#: and the two a transaction may simply be run again after
QUERY_CANCELED = "57014"
RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure
#: the server is going away or refuses connections: "not reachable", as a refused connection
UNAVAILABLE = frozenset({"57P01", "57P02", "57P03", "53300"})


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (None for a connection that never got an answer)."""
    return getattr(getattr(exc, "orig", None), "pgcode", None)
