"""The one parser of the dates and times users give: every ``at``, ``from``, ``to``,
``reported_at`` and ``valid_from``, in the API, the command line and the importers.

Times without a UTC offset are UTC. Years outside 1900-2200 and offsets beyond ±14:00 (the widest
real time zones) are refused here, before PostgreSQL refuses them with a server error.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gis.errors import InvalidInput

#: the platform's local time: duty hours, working days, deadlines and dispatch rules' daily windows
#: are China Standard Time (no daylight saving); the SQL functions of migration 0011 say the same
CHINA = ZoneInfo("Asia/Shanghai")
MIN_YEAR, MAX_YEAR = 1900, 2200
MAX_OFFSET = timedelta(hours=14)
#: the same bounds as epoch seconds, for columns of times checked at once (GPS fixes)
MIN_EPOCH = datetime(MIN_YEAR, 1, 1, tzinfo=UTC).timestamp()
MAX_EPOCH = datetime(MAX_YEAR + 1, 1, 1, tzinfo=UTC).timestamp()
ALLOWED = f"YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+08:00], years {MIN_YEAR}-{MAX_YEAR}, offsets up to ±14:00"


def parse_at(value: str | date | datetime | None, field: str = "at") -> datetime | None:
    """Parse an ISO date or date-time; a bare date means its start (UTC); None stays None.

    >>> parse_at("2024-05-01").isoformat()
    '2024-05-01T00:00:00+00:00'
    >>> parse_at("2024-05-01T08:00+08:00").isoformat()
    '2024-05-01T08:00:00+08:00'
    >>> parse_at(None) is None
    True
    >>> parse_at("0668-10-26T07:31:26Z", "from")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: year 668 is outside 1900-2200
    >>> parse_at("2271-03-07T10:45:17+08:00", "to")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: year 2271 is outside 1900-2200
    >>> parse_at("2026-03-07T10:45:17-20:13", "to")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: UTC offset -20:13 is beyond ±14:00
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            raise InvalidInput(
                f"{value[:64]!r} is not an ISO date (YYYY-MM-DD) or date-time", field=field, allowed=ALLOWED
            ) from None
    else:
        raise InvalidInput(f"{type(value).__name__} is not a date or date-time", field=field, allowed=ALLOWED)
    return check_instant(dt, field)


def check_instant(dt: datetime, field: str) -> datetime:
    """``dt`` with UTC for a missing offset, if its year and offset are ones wangge accepts."""
    offset = dt.utcoffset()
    if offset is not None and abs(offset) > MAX_OFFSET:
        sign, minutes = ("-" if offset < timedelta(0) else "+"), int(abs(offset).total_seconds() // 60)
        raise InvalidInput(
            f"UTC offset {sign}{minutes // 60:02d}:{minutes % 60:02d} is beyond ±14:00", field=field, allowed=ALLOWED
        )
    if not MIN_YEAR <= dt.year <= MAX_YEAR:
        raise InvalidInput(f"year {dt.year} is outside {MIN_YEAR}-{MAX_YEAR}", field=field, allowed=ALLOWED)
    return dt if offset is not None else dt.replace(tzinfo=UTC)
