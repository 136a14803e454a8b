from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.access import GridsRead, GridsWrite, ScopeOf, within
from api.deps import AtDep, AutocommitDep, EngineDep
from api.params import BBoxDep, GridCodeDep, PageDep
from api.responses import GEOJSON, GeoJSONResponse, geojson_page
from api.schemas.grids import GridFeature, GridPage, GridVersions, ImportReport
from api.schemas.meta import REJECTED
from gis.access import audit
from gis.access.principal import Principal
from gis.dates import parse_at
from gis.errors import InvalidInput, NotFound
from gis.grids import impact, query
from gis.grids.hierarchy import LEVEL_ALIASES, check_area
from gis.grids.query import get_grid_feature, grid_versions, list_grid_features
from importers import core as edits
from importers.core import redraw_grid as redraw

router = APIRouter(tags=["grids"])
#: a grid's own code says which area it lies in
GRID_SCOPE = {"code": "g.code"}
LevelName = Literal["district", "street", "community", "unit_grid", "unit"]


# The grid answers are GeoJSON texts built in PostgreSQL (json_build_object, ST_AsGeoJSON), their
# schema documented, not checked at run time: measured, parsing a page of 64 unit grids back into
# the models and dumping it again costs 1.2 ms on top of the 4.6 ms of the whole request.
@router.get("/grids", response_class=GeoJSONResponse, responses={200: {"model": GridPage}})
async def list_grids(
    request: Request,
    autocommit: AutocommitDep,
    who: GridsRead,
    at: AtDep,
    page: PageDep,
    bbox: BBoxDep,
    level: LevelName | None = None,
    parent: Annotated[str | None, Query(pattern=r"^\d{6,12}$")] = None,
) -> Response:
    """Grids as a GeoJSON FeatureCollection, paged."""
    body, matched, returned = await autocommit(
        list_grid_features,
        level=LEVEL_ALIASES[level] if level else None,
        parent=parent,
        bbox=bbox,
        at=at,
        limit=page.limit,
        offset=page.offset,
        scope=ScopeOf(who, "grids:read", GRID_SCOPE),
    )
    return geojson_page(request, body, matched, returned, page)


class GridLabel(BaseModel):
    code: str
    name: str
    lon: float
    lat: float


@router.get("/grid-labels", response_model=list[GridLabel])
async def grid_labels(
    autocommit: AutocommitDep,
    who: GridsRead,
    bbox: BBoxDep,
    level: LevelName = "unit_grid",
) -> Any:
    """The names of the current grids of ``level`` in ``bbox`` at their label points, for a map
    at high zoom (at most 2,000, by code)."""
    return await autocommit(
        query.grid_labels, level=LEVEL_ALIASES[level], bbox=bbox, scope=ScopeOf(who, "grids:read", GRID_SCOPE)
    )


@router.get("/grids/{code}", response_class=GeoJSONResponse, responses={200: {"model": GridFeature}})
async def get_grid(code: GridCodeDep, autocommit: AutocommitDep, at: AtDep, who: GridsRead) -> Response:
    """One grid as a GeoJSON Feature (the version valid at ``at``)."""
    feature = await autocommit(get_grid_feature, code, at, ScopeOf(who, "grids:read", GRID_SCOPE))
    if feature is None:
        raise NotFound(f"no grid {code}" + (f" at {at.isoformat()}" if at else ""), field="code")
    return Response(feature, media_type=GEOJSON)


@router.get("/grids/{code}/versions", response_class=GeoJSONResponse, responses={200: {"model": GridVersions}})
async def get_grid_versions(code: GridCodeDep, autocommit: AutocommitDep, who: GridsRead) -> Response:
    """Every version of a grid, oldest first (``valid_from``/``valid_to``; ``source``: the import or
    redraw that wrote it): what changed when."""
    features = await autocommit(grid_versions, code, ScopeOf(who, "grids:read", GRID_SCOPE))
    if not features:
        raise NotFound(f"no grid {code}", field="code")
    return Response(f'{{"type":"FeatureCollection","features":[{features}]}}', media_type=GEOJSON)


class Moved(BaseModel):
    count: int
    ids: list[str] = Field(description="the first 200")


class GridImpact(BaseModel):
    code: str
    cases_leaving: Moved = Field(description="open cases inside the old boundary and not the new")
    cases_joining: Moved = Field(description="open cases inside the new boundary and not the old")
    components_leaving: Moved
    components_joining: Moved
    workers: list[str] = Field(description="the gridworkers assigned to the grid")


def _impact(conn: Any, who: Principal, code: str, feature: dict[str, Any], crs: str | None) -> dict[str, Any]:
    if not who.covers("grids:write", code):
        raise NotFound(f"no grid {code}", field="code")
    return impact.impact(conn, code, feature, crs=crs)


@router.post("/grids/{code}/impact", response_model=GridImpact)
async def grid_impact(
    code: GridCodeDep,
    feature: Annotated[dict[str, Any], Body(description="the new boundary: a GeoJSON Feature or geometry")],
    autocommit: AutocommitDep,
    who: GridsWrite,
    crs: Annotated[str | None, Query(description="CRS of the geometry; default CGCS2000 lon/lat")] = None,
) -> dict[str, Any]:
    """What redrawing ``code`` to this boundary would move (before saving it): the open cases and
    components in the area that changes hands, and the gridworkers assigned to the grid."""
    return await autocommit(_impact, who, code, feature, crs)


@router.put("/grids/{code}", response_model=ImportReport, responses=REJECTED)
async def redraw_grid(
    code: GridCodeDep,
    feature: Annotated[
        dict[str, Any], Body(description="a GeoJSON Feature (or geometry); properties left out are kept")
    ],
    engine: EngineDep,
    who: GridsWrite,
    crs: Annotated[
        str | None, Query(description="CRS of the geometry; default CGCS2000 lon/lat (gcj02, bd09 …)")
    ] = None,
    fix_invalid: bool = False,
    dry_run: bool = False,
    valid_from: Annotated[str | None, Query(description="when the new version starts; default now")] = None,
    tolerance: Annotated[float, Query(ge=0, le=10_000, description="metres a grid may stick out of its parent")] = 10.0,
) -> dict[str, Any]:
    """Redraw one grid (a boundary editor's save), or draw a new one: the current version is closed
    and a new one opened, with the checks and the report of a file import (422 when rejected)."""

    def work() -> Any:
        with engine.begin() as conn:  # the caller may only redraw inside its areas; the trail says who
            principal = within(conn, who, "grids:write", code)
            if not dry_run:
                audit.record(conn, principal, "grid.redraw", "grid", code)
        return redraw(
            engine,
            code,
            feature,
            crs=crs,
            fix_invalid=fix_invalid,
            dry_run=dry_run,
            valid_from=parse_at(valid_from, "valid_from"),
            tolerance_m=tolerance,
            within=principal.areas_for("grids:write"),
        )

    report = await run_in_threadpool(work)
    return report.to_dict()


# the boundary editor's operations on the server: each one versioned import, all or nothing
class SplitBody(BaseModel):
    line: dict[str, Any] = Field(description="a GeoJSON LineString (or a Feature of one) crossing the grid")


class MergeBody(BaseModel):
    with_: str = Field(alias="with", pattern=r"^[0-9]{6}([0-9]{3}){0,3}$", description="the sibling to merge in")


DryRun = Annotated[bool, Query(description="check and report, write nothing")]
ValidFrom = Annotated[str | None, Query(description="when the new versions start; default now")]
Tolerance = Annotated[float, Query(ge=0, le=10_000, description="metres a grid may stick out of its parent")]
CrsParam = Annotated[str | None, Query(description="CRS of the geometry; default CGCS2000 lon/lat (gcj02, bd09 …)")]


async def _edit(engine: Any, who: Any, action: str, codes: list[str], edit: Any, dry_run: bool) -> dict[str, Any]:
    def work() -> Any:
        with engine.begin() as conn:  # every grid touched must be inside the caller's areas
            principal = [within(conn, who, "grids:write", c) for c in codes][0]
            if not dry_run:
                for c in codes:
                    audit.record(conn, principal, action, "grid", c)
        return edit(principal.areas_for("grids:write"))

    return (await run_in_threadpool(work)).to_dict()


@router.post("/grids/{code}/split", response_model=ImportReport, responses=REJECTED)
async def split_grid(
    code: GridCodeDep,
    body: SplitBody,
    engine: EngineDep,
    who: GridsWrite,
    crs: CrsParam = None,
    dry_run: DryRun = False,
    valid_from: ValidFrom = None,
    tolerance: Tolerance = 10.0,
) -> dict[str, Any]:
    """Split a grid by a line: the largest piece keeps the code, the others get the next free codes
    under the same parent (the answer's ``codes``)."""
    at = parse_at(valid_from, "valid_from")
    return await _edit(
        engine, who, "grid.split", [code],
        lambda areas: edits.split_grid(engine, code, body.line, crs=crs, dry_run=dry_run, valid_from=at,
                                       tolerance_m=tolerance, within=areas),
        dry_run,
    )  # fmt: skip


@router.post("/grids/{code}/merge", response_model=ImportReport, responses=REJECTED)
async def merge_grids(
    code: GridCodeDep,
    body: MergeBody,
    engine: EngineDep,
    who: GridsWrite,
    dry_run: DryRun = False,
    valid_from: ValidFrom = None,
    tolerance: Tolerance = 10.0,
) -> dict[str, Any]:
    """Merge a neighbouring sibling into this grid: this grid keeps its code, the other is retired."""
    at = parse_at(valid_from, "valid_from")
    return await _edit(
        engine, who, "grid.merge", [code, body.with_],
        lambda areas: edits.merge_grids(engine, code, body.with_, dry_run=dry_run, valid_from=at,
                                        tolerance_m=tolerance, within=areas),
        dry_run,
    )  # fmt: skip


@router.post("/grids/{code}/children", response_model=ImportReport, responses=REJECTED)
async def add_grid(
    code: GridCodeDep,
    feature: Annotated[dict[str, Any], Body(description="the new grid: a GeoJSON Feature (or geometry)")],
    engine: EngineDep,
    who: GridsWrite,
    crs: CrsParam = None,
    dry_run: DryRun = False,
    valid_from: ValidFrom = None,
    tolerance: Tolerance = 10.0,
) -> dict[str, Any]:
    """Draw a new grid under ``code`` with the next free code by the standard numbering."""
    at = parse_at(valid_from, "valid_from")
    return await _edit(
        engine, who, "grid.add", [code],
        lambda areas: edits.add_grid(engine, code, feature, crs=crs, dry_run=dry_run, valid_from=at,
                                     tolerance_m=tolerance, within=areas),
        dry_run,
    )  # fmt: skip


@router.put("/grids", response_model=ImportReport, responses=REJECTED)
async def redraw_grids(
    collection: Annotated[
        dict[str, Any],
        Body(description="a GeoJSON FeatureCollection of grids of one level, each with properties.code"),
    ],
    engine: EngineDep,
    who: GridsWrite,
    crs: CrsParam = None,
    dry_run: DryRun = False,
    valid_from: ValidFrom = None,
    tolerance: Tolerance = 10.0,
) -> dict[str, Any]:
    """Redraw several grids together, all or nothing (the editor moving an edge two grids share)."""
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise InvalidInput("the body must be a GeoJSON FeatureCollection", field="body")
    features = collection.get("features")
    if not isinstance(features, list) or not features or len(features) > 100:
        raise InvalidInput("1 to 100 features", field="features")
    pairs = []
    for f in features:
        props = f.get("properties") if isinstance(f, dict) else None
        code = props.get("code") if isinstance(props, dict) else None
        if not isinstance(code, str):
            raise InvalidInput("each feature needs properties.code", field="features")
        pairs.append((check_area(code, "code"), f))
    at = parse_at(valid_from, "valid_from")
    return await _edit(
        engine, who, "grid.redraw", [c for c, _ in pairs],
        lambda areas: edits.redraw_grids(engine, pairs, crs=crs, dry_run=dry_run, valid_from=at, tolerance_m=tolerance,
                                         within=areas),
        dry_run,
    )  # fmt: skip
