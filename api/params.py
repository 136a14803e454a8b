"""Query parameters shared by the listing routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from gis.errors import InvalidInput
from gis.settings import Settings

#: the paging and box parameters every listing takes
BBox = Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (CGCS2000)")]
Limit = Annotated[int | None, Query(ge=1, description="page size; default and maximum in the settings")]
Offset = Annotated[int, Query(ge=0)]


def parse_page_limit(limit: int | None, settings: Settings) -> int:
    limit = limit or settings.default_page_limit
    if limit > settings.max_page_limit:
        raise InvalidInput(f"limit {limit} too large", field="limit", allowed=f"1..{settings.max_page_limit}")
    return limit


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
