"""Settings, read from the environment (``WANGGE_*``, and ``DATABASE_URL``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from gis.errors import ClusterError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: The one storage SRID: CGCS2000 geographic (the national standard). Web output is lon/lat.
STORAGE_SRID = 4490


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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGGE_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "WANGGE_DATABASE_URL"))
    data_dir: Path = PROJECT_ROOT / ".pgdata"
    # None: the port remembered in the cluster's postgresql.conf, or for a new cluster 54329 or the
    # next free one. Set (WANGGE_PG_PORT): that port, written into the cluster's config.
    pg_port: int | None = None
    pg_user: str = "wangge"
    pg_database: str = "wangge"
    # API connections get a statement timeout so one bad query cannot hold the pool.
    statement_timeout_ms: int = 30_000
    # The live positions document is brought up to date this often while someone asks for it.
    live_refresh_s: float = 1.0
    # Per API worker process: threads that may be in the database at once (and pooled connections).
    db_threads: int = 8
    max_batch_points: int = 10_000
    default_page_limit: int = 100
    max_page_limit: int = 10_000
    # Two unit grids whose edges are closer than this are treated as sharing the point.
    boundary_tolerance_m: float = 0.01

    def url(self) -> str:
        """The SQLAlchemy URL: ``DATABASE_URL`` (see :func:`normalise_url`) if set, else the embedded cluster."""
        if self.database_url:
            return normalise_url(self.database_url)
        from gis.cluster import Cluster

        return Cluster(self).url(self.pg_database)
