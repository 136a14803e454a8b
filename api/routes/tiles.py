"""Vector tiles (``/tiles/{collection}/{z}/{x}/{y}.pbf``) and their TileJSON, for the map pages and
any MVT client. Every tile holds only what the caller's areas reach, so tiles are ``private``:
with the TileJSON's ``v`` (which changes when the collection's rows do) a browser keeps them an
hour; without it, and always for cases, it revalidates by ``ETag`` (304 when unchanged)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from api.access import CasesRead, ComponentsRead, GridsRead, ScopeOf
from api.deps import AtDep, AutocommitDep
from api.params import Months
from api.routes.grids import GRID_SCOPE
from api.schemas import Instant
from gis import tiles
from gis.access.principal import Principal
from gis.cases import cells
from gis.cases.query import case_filters
from gis.errors import Forbidden
from gis.registry.components import COMPONENT_SCOPE

router = APIRouter(prefix="/tiles", tags=["tiles"])
MVT = "application/vnd.mapbox-vector-tile"
Level = Literal["district", "street", "community", "unit"]
Z = Annotated[int, Path(ge=0, le=tiles.MAX_ZOOM)]
XY = Annotated[int, Path(ge=0, lt=2**tiles.MAX_ZOOM)]
Offset = Annotated[
    Literal["gcj02"] | None, Query(description="draw for a GCJ-02 base map (Amap, Tencent): shifted into it")
]


def _answer(request: Request, found: tuple[bytes, bool], *, cacheable: bool) -> Response:
    data, truncated = found
    etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
    cache = "private, max-age=3600" if cacheable and "v" in request.query_params else "private, no-cache"
    headers = {"ETag": etag, "Cache-Control": cache, "Vary": "Authorization, Cookie"}
    if truncated:
        headers["X-Tile-Truncated"] = f"more than {tiles.CAP} features; zoom in"
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


def _tile(conn: Any, scope: tuple[str, dict], collection: str, z: int, x: int, y: int, **kw: Any) -> tuple[bytes, bool]:
    where, params = scope
    return tiles.tile(conn, collection, z, x, y, where=where, params=params, **kw)


@router.get(
    "/grids-{level}/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def grid_tile(
    request: Request,
    level: Level,
    z: Z,
    x: XY,
    y: XY,
    autocommit: AutocommitDep,
    who: GridsRead,
    at: AtDep,
    offset: Offset = None,
) -> Response:
    """The grids of one level as of ``at`` (default now), with ``code``, ``name`` and ``parent``."""
    scope = ScopeOf(who, "grids:read", GRID_SCOPE)
    found = await autocommit(_tile, scope, f"grids-{level}", z, x, y, at=at, offset=offset)
    return _answer(request, found, cacheable=at is None)


@router.get(
    "/components/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def component_tile(
    request: Request, z: Z, x: XY, y: XY, autocommit: AutocommitDep, who: ComponentsRead, offset: Offset = None
) -> Response:
    """City components (from zoom 14) with ``code``, ``name`` and ``class``."""
    scope = ScopeOf(who, "components:read", COMPONENT_SCOPE)
    found = await autocommit(_tile, scope, "components", z, x, y, offset=offset)
    return _answer(request, found, cacheable=True)


def _case_tile(
    conn: Any, who: Principal, z: int, x: int, y: int, filters: dict, region: str | None, offset: str | None
) -> Any:
    if z < tiles.CASE_POINTS_FROM:  # counts per grid (the caller's reach and filters applied there)
        return cells.case_cells(conn, z, x, y, who=who, offset=offset, region=region, **filters), False
    # the caller's reach and the case list's filters
    where, params = case_filters(who, grid=region, grid_field="region", **filters)
    return tiles.tile(conn, "cases", z, x, y, where=" AND ".join(where), params=params, offset=offset)


@router.get(
    "/cases/{z}/{x}/{y}.pbf",
    response_class=Response,
    responses={200: {"content": {MVT: {"schema": {"type": "string", "format": "binary"}}}}},
)
async def case_tile(
    request: Request,
    z: Z,
    x: XY,
    y: XY,
    autocommit: AutocommitDep,
    who: CasesRead,
    state: Annotated[str | None, Query(max_length=20)] = None,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    months: Months = None,
    region: Annotated[str | None, Query(max_length=15, description="a grid code of any level")] = None,
    offset: Offset = None,
) -> Response:
    """Cases: from zoom 15 points with ``id``, ``state``, ``class`` and ``overdue``; below, the count
    per grid (unit grids from zoom 12, communities, streets, districts further out) its ``code`` and
    ``count``, at its label point. Filters as the case list."""
    filters = {
        "state": state,
        "class_code": class_code,
        "channel": channel,
        "start": from_,
        "end": to,
        "months": months,
    }
    found = await autocommit(_case_tile, who, z, x, y, filters, region, offset)
    return _answer(request, found, cacheable=False)


#: the permission each collection's tiles need
NEEDS = {"grids": "grids:read", "components": "components:read", "cases": "cases:read"}


class TileJSON(BaseModel):
    tilejson: str
    name: str
    tiles: list[str]
    minzoom: int
    maxzoom: int
    vector_layers: list[dict[str, Any]]


def _tilejson(conn: Any, who: Principal, collection: str, base: str) -> dict[str, Any]:
    c = tiles.COLLECTIONS[collection]
    if not who.can(NEEDS[c.kind]):
        raise Forbidden(f"your roles do not allow {NEEDS[c.kind]}", field="collection")
    v = tiles.version(conn, collection)
    return {
        "tilejson": "3.0.0",
        "name": collection,
        "tiles": [f"{base}/tiles/{collection}/{{z}}/{{x}}/{{y}}.pbf" + (f"?v={v}" if c.kind != "cases" else "")],
        "minzoom": c.minzoom,
        "maxzoom": tiles.MAX_ZOOM,
        "vector_layers": [{"id": collection, "fields": dict(c.fields)}],
    }


@router.get("/{collection}.json", response_model=TileJSON)
async def tilejson(
    request: Request,
    collection: Literal[
        "grids-district", "grids-street", "grids-community", "grids-unit", "components", "cases"
    ],  # fmt: skip
    autocommit: AutocommitDep,
    who: GridsRead,
) -> dict[str, Any]:
    """TileJSON 3.0.0 of a collection (its own permission: grids, components or cases): its tile URL
    carries ``v``, which changes when the collection's rows do."""
    base = str(request.base_url).rstrip("/")
    return await autocommit(_tilejson, who, collection, base)
