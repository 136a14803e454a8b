"""Request parsing shared by the routes, as dependencies: the page, the box, a grid code.

Each runs on the event loop (``async``, no I/O) and answers 400 naming its parameter, so route
bodies only call the domain and shape the answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query

from api.deps import SettingsDep
from gis.errors import InvalidInput
from gis.grids.hierarchy import AREA_ALLOWED, check_area


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


async def get_page(
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, description="page size; default and maximum in the settings")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PageParams:
    """``limit`` (default ``default_page_limit``, at most ``max_page_limit``) and ``offset``."""
    limit = limit or settings.default_page_limit
    if limit > settings.max_page_limit:
        raise InvalidInput(f"limit {limit} too large", field="limit", allowed=f"1..{settings.max_page_limit}")
    return PageParams(limit, offset)


async def get_bbox(
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat (CGCS2000)")] = None,
) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    try:
        parts = tuple(float(v) for v in bbox.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or not (parts[0] <= parts[2] and parts[1] <= parts[3]):
        raise InvalidInput(f"bad bbox {bbox!r}", field="bbox", allowed="minlon,minlat,maxlon,maxlat")
    return parts  # type: ignore[return-value]


async def get_grid_code(code: Annotated[str, Path(description=AREA_ALLOWED)]) -> str:
    """The grid code in the path, of any level."""
    return check_area(code, "code") or _missing("code")


async def get_grid_filter(
    grid: Annotated[str | None, Query(description=f"{AREA_ALLOWED}: inside this grid")] = None,
) -> str | None:
    return check_area(grid, "grid")


async def get_area(
    area: Annotated[str | None, Query(description=f"{AREA_ALLOWED}: inside this grid")] = None,
) -> str | None:
    return check_area(area, "area")


def _missing(field: str) -> str:
    raise InvalidInput(f"{field} is empty", field=field, allowed=AREA_ALLOWED)


PageDep = Annotated[PageParams, Depends(get_page)]
BBoxDep = Annotated[tuple[float, float, float, float] | None, Depends(get_bbox)]
GridCodeDep = Annotated[str, Depends(get_grid_code)]
GridFilterDep = Annotated[str | None, Depends(get_grid_filter)]
AreaDep = Annotated[str | None, Depends(get_area)]


async def get_months(
    months: Annotated[str | None, Query(max_length=40, description="a season: months 1-12, e.g. 6,7,8")] = None,
) -> list[int] | None:
    """``months``: a season as comma-separated months (checked for 1-12 by the case filters)."""
    if months is None:
        return None
    try:
        return [int(m) for m in months.split(",") if m.strip()]
    except ValueError:
        raise InvalidInput(f"bad months {months[:40]!r}", field="months", allowed="1-12, comma-separated") from None


Months = Annotated[list[int] | None, Depends(get_months)]
