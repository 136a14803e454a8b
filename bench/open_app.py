"""The API with every route's credentials check replaced by the local operator, already resolved:
the baseline "the same request without authentication" that issue 13's speed targets compare with.
For benchmarks only (``bench.common.server(..., open_app=True)``); ``wangge serve`` never serves it.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.access import Caller, Credentials, Permission
from api.app import create_app
from gis.access.principal import Principal


def _routes(routes) -> list[APIRoute]:
    """Every APIRoute, the included routers' too (FastAPI keeps those behind ``original_router``)."""
    out = []
    for r in routes:
        if isinstance(r, APIRoute):
            out.append(r)
        elif hasattr(r, "original_router"):
            out += _routes(r.original_router.routes)
    return out


def _permissions(dependant) -> list[Permission]:
    found = []
    for d in dependant.dependencies:
        if isinstance(d.call, Permission):
            found.append(d.call)
        found += _permissions(d)
    return found


def create_open_app() -> FastAPI:
    app = create_app()
    operator = Principal.operator()
    for route in _routes(app.routes):
        for perm in _permissions(route.dependant):
            app.dependency_overrides[perm] = lambda name=perm.name: Caller(
                Credentials("key", "-"), name, app.state.token_keys, operator
            )
    return app
