"""Answers about cases: a case with its assignment, its history, statistics, the calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Chain(BaseModel):
    """The grid chain: a code at each level, null where the point is in no grid of that level."""

    district: str | None
    street: str | None
    community: str | None
    unit_grid: str | None


class Gridworker(BaseModel):
    worker_id: str | None = Field(description="null for the person the boundary file names, not registered")
    name: str
    role: str
    grid: str | None


class Contact(BaseModel):
    """The citizen who reported the case; masked (张**, 138****5678) without ``personal:read`` on it."""

    name: str | None
    phone: str | None
    email: str | None


class Case(BaseModel):
    id: int
    idempotency_key: str | None
    lon: float
    lat: float
    class_code: str
    description: str
    channel: str
    reported_at: datetime
    component_code: str | None
    resp_unit: str | None = Field(description="the responsible unit's code; null while unassigned")
    state: str
    deadline: datetime | None
    why: dict[str, Any] = Field(
        description="how the case was assigned: message, decided_by, rule_id, area, class, warnings"
    )
    created_at: datetime
    updated_at: datetime
    chain: Chain
    gridworkers: list[Gridworker]
    contact: Contact | None = Field(description="the citizen's contact; null when none was given")
    queue: Literal["assigned", "unassigned"]


class CaseEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str
    data: dict[str, Any]


class CaseStatistics(BaseModel):
    """One group's figures; the group's code is under the key named by ``by`` (e.g. ``street``)."""

    model_config = ConfigDict(extra="allow")
    total: int
    closed: int
    due: int = Field(description="cases whose deadline fell in the period")
    closed_on_time: int
    reworked: int
    overdue_open: int
    avg_handling_hours: float | None
    by_state: dict[str, int]
    by_class: dict[str, int]
    closure_rate: float | None = Field(description="结案率")
    on_time_rate: float | None = Field(description="按期结案率")
    rework_rate: float | None = Field(description="返工率")


class OverdueGroup(BaseModel):
    """Open cases past their deadline in one group (the key named by ``by`` holds its code)."""

    model_config = ConfigDict(extra="allow")
    overdue: int
    cases: list[dict[str, Any]]


class CalendarDay(BaseModel):
    day: date
    workday: bool = Field(description="false: a holiday; true: a weekend day worked in its place")
    name: str


class LiveCase(BaseModel):
    id: int
    lon: float
    lat: float
    state: str
    class_code: str
    resp_unit: str | None
    reported_at: datetime
    deadline: datetime | None
    updated_at: datetime
    overdue: bool


class LiveCases(BaseModel):
    next_since: datetime = Field(description="ask with since= this next time")
    complete: bool = Field(description="true: every open case (no since); false: only changes")
    truncated: bool
    cases: list[LiveCase]


class HeatGroup(BaseModel):
    code: str
    count: int
    base: int | None = Field(default=None, description="the count in the comparison period")
    diff: int | None = None


class HeatAnswer(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    level: str
    from_: datetime = Field(alias="from", description="the period counted (default: the last twelve months)")
    to: datetime
    breaks: list[int] = Field(description="the fixed class breaks: a value's class is the last break it reaches")
    total: int
    compare: str | None = None
    base_from: datetime | None = None
    base_to: datetime | None = None
    base_total: int | None = None
    groups: list[HeatGroup]


class HeatMonth(BaseModel):
    month: str
    count: int


class HeatClass(BaseModel):
    class_: str = Field(alias="class")
    name: str
    count: int


class HeatSeries(BaseModel):
    code: str
    months: list[HeatMonth]
    top_classes: list[HeatClass]
