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


class ErrorAnswer(BaseModel):
    """Every error: a machine code, a message safe to show, and for bad input the field at fault
    and the values it allows."""

    error: str = Field(description="invalid_input, not_found, conflict, import_rejected, query_timeout, …")
    message: str
    field: str | None = None
    allowed: Any = None
    details: Any = Field(default=None, description="every problem found, when there are several")
    request_id: str | None = Field(default=None, description="on an internal error: where the log has it")


#: the errors every route may answer, for the OpenAPI (api.errors maps each to its status)
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorAnswer, "description": "bad input: the field at fault and the values it allows"},
    404: {"model": ErrorAnswer, "description": "not found"},
    409: {"model": ErrorAnswer, "description": "a conflict with stored data or an illegal step"},
    503: {"model": ErrorAnswer, "description": "the database is unreachable, busy or too slow"},
}

#: an import's refusal: nothing written, every reason listed
REJECTED: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorAnswer, "description": "rejected, nothing written: ``details`` lists every reason"}
}
