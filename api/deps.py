"""Request dependencies: the connection and parsed common parameters."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from sqlalchemy.engine import Connection, Engine

from gis.dates import parse_at
from gis.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_conn(request: Request) -> Iterator[Connection]:
    with request.app.state.engine.connect() as conn:
        yield conn


def get_at(
    at: Annotated[str | None, Query(description="ISO date or date-time; default now")] = None,
) -> datetime | None:
    return parse_at(at)


ConnDep = Annotated[Connection, Depends(get_conn)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
AtDep = Annotated[datetime | None, Depends(get_at)]
