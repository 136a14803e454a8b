"""Parsing the ``at`` and ``valid_from`` dates users give."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from gis.errors import InvalidInput


def parse_at(value: str | date | datetime | None, field: str = "at") -> datetime | None:
    """Parse an ISO date or date-time; a bare date means its start (UTC).

    >>> parse_at("2024-05-01").isoformat()
    '2024-05-01T00:00:00+00:00'
    >>> parse_at(None) is None
    True
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidInput(
                f"{value!r} is not an ISO date (YYYY-MM-DD) or date-time",
                field=field,
                allowed="YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+08:00]",
            ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt
