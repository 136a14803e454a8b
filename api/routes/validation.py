from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy.engine import Connection

from api.access import GridsRead
from api.deps import AtDep, AutocommitDep
from api.schemas.grids import ValidationReport
from gis.access.principal import Principal
from gis.grids.hierarchy import LEVEL_ALIASES
from gis.grids.validate import validate

router = APIRouter(tags=["validation"])


@router.get("/validation", response_model=ValidationReport)
async def validation(
    autocommit: AutocommitDep,
    who: GridsRead,
    at: AtDep,
    level: Literal["district", "street", "community", "unit_grid", "unit"] | None = None,
    tolerance: Annotated[float, Query(ge=0, le=10_000, description="metres a child may lie outside its parent")] = 10.0,
    min_area: Annotated[float, Query(ge=0, le=1e12, description="ignore overlaps and gaps under this many m²")] = 1.0,
) -> dict[str, Any]:
    """Children outside parents, sibling overlaps, gaps, orphans and code mismatches, with geometries."""
    levels = [LEVEL_ALIASES[level]] if level else None
    return await autocommit(_validate, who, levels=levels, at=at, tolerance_m=tolerance, min_area_m2=min_area)


def _validate(conn: Connection, who: Principal, **kw: Any) -> dict[str, Any]:
    """The findings about grids inside the caller's areas."""
    result = validate(conn, **kw)
    if who.areas_for("grids:read") is not None:
        result["findings"] = [f for f in result["findings"] if who.covers("grids:read", f["code"])]
        result["counts"] = {k: sum(f["kind"] == k for f in result["findings"]) for k in result["counts"]}
        result["ok"] = not result["findings"]
    return result
