"""Duty hours: whether a moment is on duty for a gridworker (China Standard Time)."""

from __future__ import annotations

from datetime import datetime, time

from gis.dates import CHINA


def on_duty(when: datetime, duty_start: time, duty_end: time, duty_days: list[int]) -> bool:
    local = when.astimezone(CHINA)
    return local.isoweekday() in duty_days and duty_start <= local.time() < duty_end
