"""The working-day calendar: public holidays and 调休 working weekends (the ``work_calendar``
table), seeded from the ``chinese-calendar`` package, cached per process, and the warnings for
years it does not cover."""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from gis.dates import CHINA

#: the units whose deadlines depend on the calendar
WORKING_UNITS = ("working_days", "working_hours")


log = logging.getLogger("wangge.deadlines")


@dataclass(frozen=True)
class WorkCalendar:
    """The exceptions to Monday-Friday: weekdays off (holidays) and weekend days worked (调休)."""

    off: frozenset[date] = field(default_factory=frozenset)
    on: frozenset[date] = field(default_factory=frozenset)
    #: the years the calendar knows (has a row of: China has public holidays every year)
    years: frozenset[int] = field(default_factory=frozenset)

    def is_workday(self, d: date) -> bool:
        """
        >>> cal = WorkCalendar(off=frozenset({date(2025, 10, 1)}), on=frozenset({date(2025, 9, 28)}))
        >>> cal.is_workday(date(2025, 10, 1)), cal.is_workday(date(2025, 9, 28)), cal.is_workday(date(2025, 9, 27))
        (False, True, False)
        """
        return d in self.on or (d.weekday() < 5 and d not in self.off)

    def workdays(self, first: np.datetime64, last: np.datetime64) -> np.ndarray:
        """The working days from ``first`` to ``last`` (``datetime64[D]``, sorted)."""
        days = np.arange(first, last + np.timedelta64(1, "D"), dtype="datetime64[D]")
        work = np.is_busday(days)
        if self.off:
            work &= ~np.isin(days, np.array(sorted(self.off), dtype="datetime64[D]"))
        if self.on:
            work |= np.isin(days, np.array(sorted(self.on), dtype="datetime64[D]"))
        return days[work]


MONDAY_TO_FRIDAY = WorkCalendar()


_CALENDARS: WeakKeyDictionary[Any, tuple[float, WorkCalendar]] = WeakKeyDictionary()  # per engine


CALENDAR_TTL_S = 60.0  # another process's calendar import is seen within this time


def load_calendar(conn: Any) -> WorkCalendar:
    """The calendar of the connection's database, read at most once a minute per process."""
    key = conn.engine  # not its URL: hashing a URL renders it as text, which costs more than the rest of this call
    hit = _CALENDARS.get(key)
    if hit and _time.monotonic() - hit[0] < CALENDAR_TTL_S:
        return hit[1]
    from sqlalchemy import text

    rows = conn.execute(text("SELECT day, workday FROM work_calendar")).all()
    cal = WorkCalendar(
        off=frozenset(d for d, w in rows if not w),
        on=frozenset(d for d, w in rows if w),
        years=frozenset(d.year for d, _ in rows),
    )
    _CALENDARS[key] = (_time.monotonic(), cal)
    return cal


def forget_calendars() -> None:
    """Drop the cached calendars (after this process changed one)."""
    _CALENDARS.clear()


WORKDAY_VALUES = {
    "true": True,
    "1": True,
    "yes": True,
    "上班": True,
    "false": False,
    "0": False,
    "no": False,
    "休": False,
}


def set_calendar_day(conn: Any, day: str, workday: str | bool, name: str = "") -> None:
    """Record one day of the calendar (a holiday, or a weekend day worked). Does not commit."""
    from sqlalchemy import text

    from gis.errors import InvalidInput

    try:
        d = date.fromisoformat(str(day).strip())
    except ValueError:
        raise InvalidInput(f"not a date: {day!r}", field="day", allowed="YYYY-MM-DD") from None
    w = workday if isinstance(workday, bool) else WORKDAY_VALUES.get(str(workday).strip().lower())
    if w is None:
        raise InvalidInput(
            f"workday must be true or false, not {workday!r}", field="workday", allowed=sorted(WORKDAY_VALUES)
        )
    conn.execute(
        text(
            """INSERT INTO work_calendar (day, workday, name) VALUES (:d, :w, :n)
               ON CONFLICT (day) DO UPDATE SET workday = excluded.workday, name = excluded.name"""
        ),
        {"d": d, "w": w, "n": name or ""},
    )
    forget_calendars()


def calendar_days(conn: Any, year: int | None = None) -> list[dict[str, Any]]:
    from sqlalchemy import text

    rows = conn.execute(
        text(
            """SELECT day, workday, name FROM work_calendar
               WHERE CAST(:y AS int) IS NULL OR extract(year FROM day) = :y ORDER BY day"""
        ),
        {"y": year},
    ).mappings()
    return [dict(r) for r in rows]


# --- the package's calendar, and saying where the calendar ends ---------------------------------
#: the names the State Council's notices use (the package's Chinese names are shortened: 清明, 端午, 中秋)
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
}


#: /healthz warns about next year from this many days before it starts (the notice comes out in
#: October or November; a case with a long limit reported in December is due in January)
NEXT_YEAR_NOTICE_DAYS = 60


_WARNED_YEARS: set[int] = set()  # logged once per process


def package_calendar() -> list[tuple[date, bool, str]]:
    """The ``chinese-calendar`` package's days: every public holiday (weekend days of a holiday
    too, as the notice lists them) and the weekend days worked in their place (调休), sorted."""
    from chinese_calendar.constants import Holiday, holidays, workdays

    def name(value: str) -> str:
        return HOLIDAY_NAMES.get(value) or Holiday(value).chinese

    days = [(d, False, name(v)) for d, v in holidays.items()]
    days += [(d, True, name(v) + "调休上班") for d, v in workdays.items()]
    return sorted(days)


def seed_calendar(conn: Any) -> int:
    """Add the package's days (:func:`package_calendar`) to ``work_calendar`` for every year the
    package knows. A day already stored is kept: an import or a PUT overrides the package. Returns
    the number of days added. Does not commit."""
    from sqlalchemy import text

    days = package_calendar()
    added = conn.execute(
        text(
            """INSERT INTO work_calendar (day, workday, name)
               SELECT * FROM unnest(CAST(:d AS date[]), CAST(:w AS boolean[]), CAST(:n AS text[]))
               ON CONFLICT (day) DO NOTHING"""
        ),
        {"d": [d for d, _, _ in days], "w": [w for _, w, _ in days], "n": [n for _, _, n in days]},
    ).rowcount
    forget_calendars()
    return added


def not_covered(year: int) -> dict[str, Any]:
    """The warning for a year the calendar does not know; logged the first time in this process."""
    message = (
        f"the working-day calendar has no holidays for {year}: its days are counted Monday–Friday; "
        f"import the State Council's calendar for {year} (wangge import calendar FILE.csv, or "
        "PUT /api/v1/calendar/{day}), or run wangge db migrate after upgrading chinese-calendar"
    )
    if year not in _WARNED_YEARS:
        _WARNED_YEARS.add(year)
        log.warning(message)
    return {"calendar_not_covered": year, "message": message}


def uncovered_years(cal: WorkCalendar, first: date, last: date) -> list[int]:
    """The years from ``first`` to ``last`` the calendar has no day of.

    >>> uncovered_years(WorkCalendar(years=frozenset({2026})), date(2026, 12, 20), date(2027, 1, 8))
    [2027]
    """
    return [y for y in range(first.year, last.year + 1) if y not in cal.years]


def coverage_warnings(cal: WorkCalendar, reported_at: datetime, due: datetime | None, unit: str | None) -> list:
    """Warnings for a deadline counted over a year the calendar does not know (a natural-days
    deadline does not depend on the calendar)."""
    if due is None or unit not in WORKING_UNITS:
        return []
    return [
        not_covered(y) for y in uncovered_years(cal, reported_at.astimezone(CHINA).date(), due.astimezone(CHINA).date())
    ]


def coverage_warnings_array(
    cal: WorkCalendar, reported_utc: np.ndarray, due_utc: np.ndarray, units: np.ndarray
) -> list:
    """:func:`coverage_warnings` for a bulk import (the arrays of :func:`deadlines_array`), one per year."""
    work = np.isin(units, WORKING_UNITS)
    if not work.any():
        return []
    offset = np.timedelta64(8, "h")  # the year in China Standard Time
    first = (reported_utc[work].astype("datetime64[us]") + offset).astype("datetime64[Y]").astype(np.int64) + 1970
    last = (due_utc[work].astype("datetime64[us]") + offset).astype("datetime64[Y]").astype(np.int64) + 1970
    spans = np.unique(np.stack([first, last], axis=1), axis=0)
    years = {y for a, b in spans.tolist() for y in range(a, b + 1)}
    return [not_covered(y) for y in sorted(years - cal.years)]


def calendar_health(conn: Any, today: date | None = None) -> dict[str, Any]:
    """For /healthz: the years the calendar covers, and a warning when this year, or next year
    from :data:`NEXT_YEAR_NOTICE_DAYS` before its start, is not covered."""
    today = today or datetime.now(CHINA).date()
    cal = load_calendar(conn)
    years = [today.year]
    if (date(today.year + 1, 1, 1) - today).days <= NEXT_YEAR_NOTICE_DAYS:
        years.append(today.year + 1)
    return {"covered_years": sorted(cal.years), "warnings": [not_covered(y) for y in years if y not in cal.years]}
