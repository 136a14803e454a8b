"""Answers about the registry: responsible units, dispatch rules, event and component classes,
components (部件)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from geojson_pydantic import Feature
from geojson_pydantic.geometries import Geometry
from pydantic import BaseModel, Field

from api.schemas import LocalTime
from api.schemas.paging import FeaturePage


class RespUnit(BaseModel):
    code: str
    name: str
    kind: str
    area_code: str | None = Field(description="the grid (any level) of its jurisdiction")
    created_at: datetime


class Rule(BaseModel):
    id: int
    class_code: str = Field(description="event class, major class (NN00) or component class")
    area_code: str
    resp_unit: str
    start_time: LocalTime | None = Field(description="daily window; may pass midnight")
    end_time: LocalTime | None
    valid_from: datetime
    valid_to: datetime | None = Field(description="set when the rule was retired")


class EventClass(BaseModel):
    code: str
    major_name: str
    minor_name: str
    time_limit: Decimal
    time_unit: str
    urgency: str


class ComponentClass(BaseModel):
    code: str
    major_name: str
    minor_name: str
    responsible: str = Field(description="who takes a case about it: owner, manager or maintainer")


class _ComponentFields(BaseModel):
    code: str
    class_code: str
    name: str
    owner_unit: str | None
    manager_unit: str | None
    maintainer_unit: str | None
    state: str
    recorded_at: datetime
    changed_at: datetime
    district_code: str | None
    street_code: str | None
    community_code: str | None
    unit_grid_code: str | None
    attrs: dict[str, Any]


class Component(_ComponentFields):
    geometry: Geometry


class ComponentProperties(_ComponentFields):
    """A component as a GeoJSON Feature's properties, with its class's names."""

    major_name: str
    minor_name: str


ComponentPage = FeaturePage[Feature[Geometry, ComponentProperties]]
