"""Answers about gridworkers and their tracks: workers, ingest results, live positions, playback,
patrol metrics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from geojson_pydantic import Feature, FeatureCollection, LineString, Point
from pydantic import BaseModel, ConfigDict, Field

from api.schemas import LocalTime
from api.schemas.cases import Chain


class Worker(BaseModel):
    worker_id: str
    name: str
    role: str
    device_id: str | None
    duty_start: LocalTime
    duty_end: LocalTime
    duty_days: list[int] = Field(description="ISO weekdays, 1 = Monday")
    grids: list[str] = Field(description="unit-grid or community codes")


class RejectedPoint(BaseModel):
    index: int = Field(description="the point's place in the batch, from 0")
    field: str | None
    reason: str


class IngestAnswer(BaseModel):
    accepted: int
    duplicates: int = Field(description="points already stored (same worker and fix time)")
    flagged: int = Field(description="stored, but a jump or a poor accuracy: left out of metrics")
    rejected: list[RejectedPoint]


class PositionProperties(BaseModel):
    worker_id: str
    name: str
    fix_time: datetime
    accuracy: float | None = Field(description="metres")
    speed: float | None = Field(description="m/s")
    attrs: dict[str, Any]
    chain: Chain
    own_grids: list[str]
    inside_own_grid: bool
    age_s: float = Field(description="seconds since the fix")
    on_duty: bool


class Positions(FeatureCollection[Feature[Point, PositionProperties]]):
    next_since: datetime = Field(description="pass as ``since`` in the next poll to get only what changed")


class TrackProperties(BaseModel):
    worker_id: str
    start: datetime
    end: datetime
    points: int = Field(description="fixes in this piece")
    vertices: int = Field(description="vertices left after simplifying")
    times: list[datetime] = Field(description="the time of each vertex")


class RawFix(BaseModel):
    fix_time: datetime
    lon: float
    lat: float
    flags: list[str]


class Track(FeatureCollection[Feature[LineString, TrackProperties]]):
    raw: list[RawFix] | None = Field(default=None, description="every stored fix, with ``raw=true``")


class Stop(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime = Field(alias="from")
    seconds: int
    lon: float
    lat: float


class OutsideAlert(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime = Field(alias="from")
    seconds: int


class Patrol(BaseModel):
    worker_id: str
    date: date
    points: int
    own_grids: list[str]
    distance_m: float
    duty_inside_s: float
    duty_outside_s: float
    coverage: float | None = Field(description="share of the own grids within reach of the walked track")
    stops: list[Stop]
    outside_alerts: list[OutsideAlert]


class WorkerBrief(BaseModel):
    worker_id: str
    points: int
    distance_m: float
    duty_inside_s: float
    duty_outside_s: float
    own_grid_coverage: float | None
    stops: int
    outside_alerts: int


class WorkerInGrid(BaseModel):
    """Now: the latest fix inside the grid; between two times: the first and last fix inside it."""

    worker_id: str
    name: str
    fix_time: datetime | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    points: int | None = None


class GridPatrol(BaseModel):
    grid: str
    date: date
    area_m2: float
    coverage: float | None
    workers: list[WorkerBrief]
    visitors: list[WorkerInGrid]
