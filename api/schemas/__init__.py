"""The API's models. Here: the request models' shared base and field types, what every body and
form field must satisfy. Beside it, the answers, one module per resource (``grids``, ``cases``,
``registry``, ``tracks``, ``open311``, ``meta``) and the two list shapes (``paging``).

Each rule here is the API's face of one rule in ``gis/`` (:mod:`gis.text`, :mod:`gis.dates`), so a
bad value answers 400 naming its field, in the shape of every other validation error.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationInfo, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from gis import dates, text
from gis.errors import InvalidInput


def _storable(value: Any, path: str = "") -> Any:
    """Refuse text PostgreSQL cannot store, anywhere inside ``value``."""
    try:
        text.check_json(value, path or "value")
    except InvalidInput as exc:
        raise PydanticCustomError("storable_text", exc.message, {"expected": exc.allowed}) from None
    return value


def _instant(value: Any, info: ValidationInfo) -> datetime | None:
    try:
        return dates.parse_at(value, info.field_name or "time")
    except InvalidInput as exc:
        raise PydanticCustomError("date_time", exc.message, {"expected": exc.allowed}) from None


#: a date-time as :func:`gis.dates.parse_at` reads it: ISO 8601, a bare date at its start, UTC
#: without an offset, years 1900-2200, offsets up to ±14:00
Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "description": dates.ALLOWED}),
]

#: a time of day without an offset (China time, as duty hours and rule windows are kept): JSON
#: Schema's ``time`` format requires an offset, so the schema says what is sent instead
LocalTime = Annotated[
    time,
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", "description": "HH:MM:SS, China time"}
    ),
]

#: a text form field (bodies get this from :class:`Body`)
FormText = Annotated[str, AfterValidator(_storable)]


class Body(BaseModel):
    """Base of every request body: no field may hold text PostgreSQL cannot store."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable_fields(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str | dict | list):
            return _storable(value, info.field_name or "")
        return value
