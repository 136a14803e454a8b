"""Deadlines from an event class's time limit.

Working time is 09:00-17:00 China Standard Time on working days: Monday to Friday, except the
public holidays, plus the weekend days worked in their place (调休), as the working-day calendar
(:mod:`gis.cases.calendar`) holds them."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal

import numpy as np

from gis.cases.calendar import MONDAY_TO_FRIDAY, WorkCalendar
from gis.dates import CHINA

CST = CHINA  # deadlines are counted in China Standard Time
DAY_START, DAY_END = time(9, 0), time(17, 0)


def _next_work_start(t: datetime, cal: WorkCalendar) -> datetime:
    """The first working instant at or after ``t``."""
    while True:
        start = t.replace(hour=DAY_START.hour, minute=DAY_START.minute, second=0, microsecond=0)
        end = t.replace(hour=DAY_END.hour, minute=DAY_END.minute, second=0, microsecond=0)
        if cal.is_workday(t.date()) and t < end:
            return max(t, start)
        t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def deadline(
    reported_at: datetime, limit: Decimal | float, unit: str, calendar: WorkCalendar = MONDAY_TO_FRIDAY
) -> datetime:
    """When a case reported at ``reported_at`` is due.

    >>> from datetime import date, timezone
    >>> friday_4pm = datetime(2024, 5, 10, 8, 0, tzinfo=timezone.utc)  # 16:00 CST
    >>> deadline(friday_4pm, 2, "working_hours").astimezone(CST).isoformat()
    '2024-05-13T10:00:00+08:00'
    >>> deadline(friday_4pm, 1, "working_days").astimezone(CST).isoformat()
    '2024-05-13T16:00:00+08:00'
    >>> deadline(friday_4pm, 3, "natural_days").astimezone(CST).isoformat()
    '2024-05-13T16:00:00+08:00'
    >>> national_day = WorkCalendar(off=frozenset(date(2025, 10, d) for d in range(1, 9)),
    ...                             on=frozenset({date(2025, 9, 28), date(2025, 10, 11)}))
    >>> tuesday = datetime(2025, 9, 30, 8, 0, tzinfo=timezone.utc)  # 16:00 CST, the eve of the holiday
    >>> deadline(tuesday, 2, "working_hours", national_day).astimezone(CST).isoformat()
    '2025-10-09T10:00:00+08:00'
    >>> deadline(tuesday, 2, "working_days", national_day).astimezone(CST).isoformat()
    '2025-10-10T16:00:00+08:00'
    """
    local = reported_at.astimezone(CST)
    cal = calendar
    amount = float(limit)
    if unit == "natural_days":
        return local + timedelta(days=amount)
    if unit == "working_days":
        t = local
        days = int(amount)
        while days > 0:
            t += timedelta(days=1)
            if cal.is_workday(t.date()):
                days -= 1
        return t
    if unit == "working_hours":
        remaining = timedelta(hours=amount)
        t = _next_work_start(local, cal)
        while True:
            end = t.replace(hour=DAY_END.hour, minute=DAY_END.minute, second=0, microsecond=0)
            if t + remaining <= end:
                return t + remaining
            remaining -= end - t
            t = _next_work_start(end + timedelta(seconds=1), cal)
    raise ValueError(f"unknown time unit {unit!r}")


class _WorkDays:
    """``np.is_busday`` and ``np.busday_offset`` over a calendar with make-up working days, which
    numpy's weekmask cannot express: every working day of the range, searched."""

    def __init__(self, cal: WorkCalendar, first: np.datetime64, last: np.datetime64):
        self.w = cal.workdays(first, last)

    def is_workday(self, d: np.ndarray) -> np.ndarray:
        i = np.minimum(np.searchsorted(self.w, d), len(self.w) - 1)
        return self.w[i] == d

    def offset(self, d: np.ndarray, n: np.ndarray | int, roll: str) -> np.ndarray:
        i = np.searchsorted(self.w, d, "left") if roll == "forward" else np.searchsorted(self.w, d, "right") - 1
        return self.w[i + n]


def deadlines_array(
    reported_utc: np.ndarray, limits: np.ndarray, units: np.ndarray, calendar: WorkCalendar = MONDAY_TO_FRIDAY
) -> np.ndarray:
    """Vectorised :func:`deadline` for bulk imports: ``datetime64[us]`` UTC in, UTC out.

    Gives the same instants as :func:`deadline` (checked in the tests).
    """
    offset = np.timedelta64(8, "h")  # China Standard Time has no daylight saving
    local = reported_utc.astype("datetime64[us]") + offset
    limits = limits.astype(float)
    out = np.empty(len(local), dtype="datetime64[us]")
    day = local.astype("datetime64[D]")
    tod = local - day
    us_per_hour = 3_600_000_000
    if len(day):
        span = int(np.nanmax(limits)) * 2 + 60  # working days needed, with room for the longest holidays
        cal = _WorkDays(calendar, day.min() - np.timedelta64(10, "D"), day.max() + np.timedelta64(span, "D"))
    natural = units == "natural_days"
    out[natural] = local[natural] + (limits[natural] * 24 * us_per_hour).astype("timedelta64[us]")
    wd = units == "working_days"
    if wd.any():
        out[wd] = cal.offset(day[wd], limits[wd].astype(int), roll="backward") + tod[wd]
    wh = units == "working_hours"
    if wh.any():
        d, h = day[wh], limits[wh]
        tod_us = tod[wh].astype("timedelta64[us]").astype(np.int64)
        start_us = (DAY_START.hour * 60 + DAY_START.minute) * 60_000_000
        end_us = (DAY_END.hour * 60 + DAY_END.minute) * 60_000_000
        day_us = end_us - start_us
        workday = cal.is_workday(d)
        before = workday & (tod_us < start_us)
        after = workday & (tod_us >= end_us)
        first = np.where(after, cal.offset(d, 1, roll="forward"), cal.offset(d, 0, roll="forward"))
        offset_us = np.where(workday & ~before & ~after, tod_us - start_us, 0)
        total = offset_us + np.round(h * us_per_hour).astype(np.int64)
        days = total // day_us
        within = total - days * day_us
        edge = (within == 0) & (days > 0)  # exactly at the end of a working day: that day, 17:00
        days[edge] -= 1
        within[edge] = day_us
        due_day = cal.offset(first, days, roll="forward")
        out[wh] = due_day + (start_us + within).astype("timedelta64[us]")
    return out - offset
