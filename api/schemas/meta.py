"""The health check's answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class CalendarHealth(BaseModel):
    covered_years: list[int]
    warnings: list[dict[str, Any]] = Field(description="a year deadlines may reach that the calendar lacks")


class Health(BaseModel):
    status: str
    postgis: str = Field(description="the PostGIS version")
    calendar: CalendarHealth
