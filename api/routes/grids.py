from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import AtDep, ReaderDep, SettingsDep
from gis.errors import InvalidInput, NotFound
from gis.grid_query import get_grid_feature, list_grid_features
from gis.hierarchy import LEVELS

router = APIRouter(tags=["grids"])
GEOJSON = "application/geo+json"
LevelName = Literal["district", "street", "community", "unit"]


def parse_bbox(bbox: str | None) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        parts = tuple(float(v) for v in bbox.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not (parts[0] <= parts[2] and parts[1] <= parts[3]):
        raise InvalidInput(f"bad bbox {bbox!r}", field="bbox", allowed="minlon,minlat,maxlon,maxlat")
    return parts  # type: ignore[return-value]


@router.get("/grids", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
async def list_grids(
    request: Request,
    read: ReaderDep,
    settings: SettingsDep,
    at: AtDep,
    level: LevelName | None = None,
    parent: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    """Grids as a GeoJSON FeatureCollection, paged."""
    limit = limit or settings.default_page_limit
    if limit > settings.max_page_limit:
        raise InvalidInput(f"limit {limit} too large", field="limit", allowed=f"1..{settings.max_page_limit}")
    body, matched, returned = await read(
        list_grid_features,
        level=LEVELS[level] if level else None,
        parent=parent,
        bbox=parse_bbox(bbox),
        at=at,
        limit=limit,
        offset=offset,
    )
    links = ""
    if offset + returned < matched:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links = f',"links":[{{"rel":"next","type":"{GEOJSON}","href":"{nxt}"}}]'
    text = (
        f'{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{returned}'
        f'{links},"features":[{body}]}}'
    )
    return Response(text, media_type=GEOJSON)


@router.get("/grids/{code}", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
async def get_grid(code: str, read: ReaderDep, at: AtDep) -> Response:
    """One grid as a GeoJSON Feature (the version valid at ``at``)."""
    if not code.isdigit() or len(code) not in (6, 9, 12, 15):
        raise InvalidInput(f"bad grid code {code!r}", field="code", allowed="6, 9, 12 or 15 digits")
    feature = await read(get_grid_feature, code, at)
    if feature is None:
        raise NotFound(f"no grid {code}" + (f" at {at.isoformat()}" if at else ""), field="code")
    return Response(feature, media_type=GEOJSON)
