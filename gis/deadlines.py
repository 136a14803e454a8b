"""Deadlines from an event class's time limit.

Working time is Monday to Friday, 09:00-17:00 China Standard Time (8 working hours a day). There is
no holiday calendar yet: public holidays and the make-up working days are not counted.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

CST = ZoneInfo("Asia/Shanghai")
DAY_START, DAY_END = time(9, 0), time(17, 0)
HOURS_PER_DAY = 8


def _is_workday(d: datetime) -> bool:
    return d.weekday() < 5


def _next_work_start(t: datetime) -> datetime:
    """The first working instant at or after ``t``."""
    while True:
        start = t.replace(hour=DAY_START.hour, minute=DAY_START.minute, second=0, microsecond=0)
        end = t.replace(hour=DAY_END.hour, minute=DAY_END.minute, second=0, microsecond=0)
        if _is_workday(t) and t < end:
            return max(t, start)
        t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def deadline(reported_at: datetime, limit: Decimal | float, unit: str) -> datetime:
    """When a case reported at ``reported_at`` is due.

    >>> from datetime import timezone
    >>> friday_4pm = datetime(2024, 5, 10, 8, 0, tzinfo=timezone.utc)  # 16:00 CST
    >>> deadline(friday_4pm, 2, "working_hours").astimezone(CST).isoformat()
    '2024-05-13T10:00:00+08:00'
    >>> deadline(friday_4pm, 1, "working_days").astimezone(CST).isoformat()
    '2024-05-13T16:00:00+08:00'
    >>> deadline(friday_4pm, 3, "natural_days").astimezone(CST).isoformat()
    '2024-05-13T16:00:00+08:00'
    """
    local = reported_at.astimezone(CST)
    amount = float(limit)
    if unit == "natural_days":
        return local + timedelta(days=amount)
    if unit == "working_days":
        t = local
        days = int(amount)
        while days > 0:
            t += timedelta(days=1)
            if _is_workday(t):
                days -= 1
        return t
    if unit == "working_hours":
        remaining = timedelta(hours=amount)
        t = _next_work_start(local)
        while True:
            end = t.replace(hour=DAY_END.hour, minute=DAY_END.minute, second=0, microsecond=0)
            if t + remaining <= end:
                return t + remaining
            remaining -= end - t
            t = _next_work_start(end + timedelta(seconds=1))
    raise ValueError(f"unknown time unit {unit!r}")
