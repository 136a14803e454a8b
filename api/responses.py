"""Answers built by hand on the hot paths, and the page of a short list.

A route that returns one of these declares its schema with ``responses={200: {"model": X}}``
(FastAPI documents it in the OpenAPI and does not validate at run time) and says beside it why it
is built by hand; every other route returns a value FastAPI validates against its response model.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from api.params import PageParams

JSON = "application/json"
GEOJSON = "application/geo+json"


class GeoJSONResponse(JSONResponse):
    """The response class of a GeoJSON route, so the OpenAPI puts its schema under
    ``application/geo+json``."""

    media_type = GEOJSON


def json_response(content: Any, status_code: int = 200) -> Response:
    """Serialised with orjson (datetimes as RFC 3339 with their offset, ``+00:00`` for UTC)."""
    return Response(orjson.dumps(content), status_code=status_code, media_type=JSON)


def geojson_page(request: Request, features: str, matched: int, returned: int, page: PageParams) -> Response:
    """A page of comma-joined GeoJSON features as a FeatureCollection with OGC API counts and, when
    more remain, a ``next`` link."""
    links = ""
    if page.offset + returned < matched:
        nxt = request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit)
        links = f',"links":[{{"rel":"next","type":"{GEOJSON}","href":"{nxt}"}}]'
    text = (
        f'{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{returned}'
        f'{links},"features":[{features}]}}'
    )
    return Response(text, media_type=GEOJSON)


def page_of(rows: list[Any], page: PageParams) -> dict[str, Any]:
    """One page of a short list read whole (units, rules, classes, calendar days: hundreds of rows,
    where one read costs less than a count and a page), in the shape of every page."""
    return {
        "total": len(rows),
        "limit": page.limit,
        "offset": page.offset,
        "items": rows[page.offset : page.offset + page.limit],
    }
