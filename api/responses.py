"""JSON answers serialised with orjson (FastAPI's generic encoder costs more than a case's SQL)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

JSON = "application/json"
GEOJSON = "application/geo+json"


def json_response(content: Any, status_code: int = 200) -> Response:
    """Datetimes come out as RFC 3339 (UTC as ``Z``), as in every case answer."""
    return Response(orjson.dumps(content), status_code=status_code, media_type=JSON)


def geojson_page(request: Request, features: str, matched: int, returned: int, offset: int, limit: int) -> Response:
    """A page of comma-joined GeoJSON features as a FeatureCollection with OGC API counts and, when
    more remain, a ``next`` link."""
    links = ""
    if offset + returned < matched:
        nxt = request.url.include_query_params(offset=offset + limit, limit=limit)
        links = f',"links":[{{"rel":"next","type":"{GEOJSON}","href":"{nxt}"}}]'
    text = (
        f'{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{returned}'
        f'{links},"features":[{features}]}}'
    )
    return Response(text, media_type=GEOJSON)
