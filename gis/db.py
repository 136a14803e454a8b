"""Engine and session factories. Nothing here is a module-level singleton: callers build their own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from gis.settings import Settings


def make_engine(settings: Settings, *, statement_timeout_ms: int | None = None, **kw: Any) -> Engine:
    connect_args = {}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    kw.setdefault("pool_pre_ping", True)
    return create_engine(settings.url(), connect_args=connect_args, **kw)


def check_postgis(engine: Engine) -> str:
    """Return the PostGIS version, or raise if the database has no PostGIS."""
    with engine.connect() as conn:
        return conn.execute(text("select postgis_lib_version()")).scalar_one()
