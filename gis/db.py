"""The database: which one (``DATABASE_URL`` or the embedded cluster), engines (nothing here is a
module-level singleton: callers build their own), and what its errors mean."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from gis.errors import ClusterError
from gis.settings import Settings

#: What a bare ``postgresql://`` (or Heroku-style ``postgres://``) means: the driver wangge pins.
#: SQLAlchemy 2.1 reads a bare scheme as psycopg 3, which wangge does not install.
DEFAULT_DRIVER = "postgresql+psycopg2"


def normalise_url(url: str) -> str:
    """A database URL as people write it, as SQLAlchemy needs it.

    ``postgresql://`` and ``postgres://`` (libpq, Docker images, managed PostgreSQL) get the pinned
    psycopg2 driver; a URL naming its driver keeps it, provided that driver is installed.

    >>> normalise_url("postgres://u@db.example:5432/grid")
    'postgresql+psycopg2://u@db.example:5432/grid'
    >>> normalise_url("postgresql+psycopg2://u@/grid?host=/run/pg")
    'postgresql+psycopg2://u@/grid?host=/run/pg'
    """
    scheme, sep, rest = url.strip().partition("://")
    if sep and scheme.lower() in ("postgres", "postgresql"):
        url = f"{DEFAULT_DRIVER}://{rest}"
    allowed = ["postgresql://", "postgres://", "postgresql+psycopg2://"]
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ClusterError(
            "DATABASE_URL is not a database URL: write it as postgresql://user:password@host:port/database",
            field="DATABASE_URL",
            allowed=allowed,
        ) from None
    if parsed.get_backend_name() != "postgresql":
        raise ClusterError(
            f"DATABASE_URL names {parsed.get_backend_name()!r}: wangge needs PostgreSQL with PostGIS "
            "(postgresql://user:password@host:port/database)",
            field="DATABASE_URL",
            allowed=allowed,
        )
    driver = parsed.get_driver_name()
    try:
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise ClusterError(
            f"DATABASE_URL names the driver {driver!r}, which SQLAlchemy does not know: "
            "write postgresql:// (wangge uses psycopg2)",
            field="DATABASE_URL",
            allowed=allowed,
        ) from None
    except ImportError as exc:
        raise ClusterError(
            f"DATABASE_URL names the driver {driver!r}, which is not installed ({exc}): "
            "write postgresql:// (wangge uses psycopg2), or install that driver",
            field="DATABASE_URL",
            allowed=allowed,
        ) from None
    return url


def display_url(url: str) -> str:
    """``url`` safe to print: its password hidden, also one given as ``?password=``.

    >>> display_url("postgresql+psycopg2://u:secret@h/d?password=secret&sslmode=require")
    'postgresql+psycopg2://u:***@h/d?password=%2A%2A%2A&sslmode=require'
    """
    parsed = make_url(url)
    if "password" in parsed.query:
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL: ``DATABASE_URL`` (see :func:`normalise_url`) if set, else the embedded cluster's."""
    if settings.database_url:
        return normalise_url(settings.database_url)
    from gis.cluster import Cluster

    return Cluster(settings).url(settings.pg_database)


def make_engine(
    settings: Settings,
    *,
    statement_timeout_ms: int | None = None,
    connect_timeout_s: int = 10,
    **kw: Any,
) -> Engine:
    # TCP keepalives (libpq; ignored on the embedded cluster's Unix socket): a connection whose peer
    # vanished without a word fails within about 20 s instead of hanging for the OS's two hours
    connect_args: dict[str, Any] = {
        "connect_timeout": connect_timeout_s,
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 2,
    }
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    kw.setdefault("pool_pre_ping", True)
    engine = create_engine(database_url(settings), connect_args=connect_args, **kw)

    @event.listens_for(engine, "connect")
    def _generic_plans(dbapi_conn: Any, _record: Any) -> None:
        # Only gis.statements.execute_prepared prepares statements server-side: hot, parameterised
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
