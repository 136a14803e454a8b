"""Answers about grids: the point lookup, grid features and their versions, import reports and
validation reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from geojson_pydantic import Feature, FeatureCollection, MultiPolygon
from pydantic import BaseModel, ConfigDict, Field

from api.schemas.paging import FeaturePage

LevelName = Literal["district", "street", "community", "unit_grid"]


class GridRef(BaseModel):
    code: str
    name: str


class LookupResult(BaseModel):
    """The grid at each level holding the point (null where none does)."""

    lon: float = Field(description="CGCS2000 longitude of the point")
    lat: float
    district: GridRef | None
    street: GridRef | None
    community: GridRef | None
    unit_grid: GridRef | None
    outside: bool = Field(description="in no district")
    on_boundary: bool = Field(description="on a unit-grid edge (within the boundary tolerance)")
    boundary_distance_m: float | None = Field(description="to the unit-grid edge; to the nearest unit grid if outside")


class LookupBatch(BaseModel):
    count: int
    results: list[LookupResult] = Field(description="in the order of the points asked")


class GridProperties(BaseModel):
    code: str
    name: str
    level: LevelName
    parent_code: str | None
    area_m2: float | None
    resp_unit_name: str | None = Field(description="the responsible unit as the boundary file names it (free text)")
    resp_person: str | None
    resp_phone: str | None
    attrs: dict[str, Any]
    valid_from: datetime
    valid_to: datetime | None


class GridVersionProperties(GridProperties):
    source: str | None = Field(description="the import or redraw that wrote this version")


GridFeature = Feature[MultiPolygon, GridProperties]
GridPage = FeaturePage[GridFeature]
GridVersions = FeatureCollection[Feature[MultiPolygon, GridVersionProperties]]


class Rejection(BaseModel):
    model_config = ConfigDict(extra="allow")
    row: int | None = Field(description="the file's record number, from 1")
    code: str | None
    reason: str


class Finding(BaseModel):
    kind: Literal["outside", "overlap", "gap", "orphan", "code_mismatch"]
    level: str
    code: str | None
    other_code: str | None
    area_m2: float | None
    message: str
    geometry: dict[str, Any] | None = Field(description="GeoJSON geometry of the problem")


class ImportReport(BaseModel):
    """What an import read, wrote and refused; nothing is written when ``rejected`` is not empty."""

    source: str
    level: str
    crs: str
    read: int
    written: int
    unchanged: int
    closed: int = Field(description="old versions closed by this import")
    repaired: int
    generated_codes: int
    retired: int = Field(0, description="grids closed with no successor (a merge's other grid)")
    codes: list[str] = Field(default_factory=list, description="the codes written (a split's pieces, a new grid)")
    findings: list[Finding] = Field(
        default_factory=list, description="what the validation finds about the grids written, with geometries"
    )
    rejected: list[Rejection]
    rejected_count: int
    warnings: list[str]
    dry_run: bool
    committed: bool
    import_id: int | None
    valid_from: str
    seconds: float


class ValidationReport(BaseModel):
    ok: bool
    counts: dict[str, int]
    findings: list[Finding]
    tolerance_m: float
    min_area_m2: float
    min_width_m: float
