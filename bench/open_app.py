"""The API with the credentials check of every route that declares a plain :class:`Permission`
replaced by the local operator, already resolved: the baseline "the same request without
authentication" that issue 13's speed targets compare with. For benchmarks only
(``bench.common.server(..., open_app=True)``); ``wangge serve`` never serves it.

The check is swapped on the class, not through ``app.dependency_overrides``: FastAPI re-reads an
override's signature on every request (measured: 0.6 ms more per lookup than the real check), so an
override would make the baseline slower than the thing it is compared with. Open311's form key and
the OsmAnd device secret (subclasses with their own ``__call__``) keep their checks.
"""

from __future__ import annotations

from fastapi import FastAPI, Request

from api.access import Caller, Credentials, Permission
from api.app import create_app
from gis.access.principal import Principal

_OPERATOR = Principal.operator()


async def _no_check(self: Permission, request: Request) -> Caller:
    return Caller(Credentials("key", "-"), self.name, request.app.state.token_keys, _OPERATOR)


def create_open_app() -> FastAPI:
    Permission.__call__ = _no_check  # type: ignore[method-assign]  # this process only
    return create_app()
