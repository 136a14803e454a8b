"""Engine and session factories. Nothing here is a module-level singleton: callers build their own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from gis.settings import Settings


def make_engine(settings: Settings, *, statement_timeout_ms: int | None = None, **kw: Any) -> Engine:
    connect_args = {}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout_ms)}"
    kw.setdefault("pool_pre_ping", True)
    return create_engine(settings.url(), connect_args=connect_args, **kw)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One session, one transaction: committed on success, rolled back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session


def check_postgis(engine: Engine) -> str:
    """Return the PostGIS version, or raise if the database has no PostGIS."""
    with engine.connect() as conn:
        return conn.execute(text("select postgis_lib_version()")).scalar_one()
