from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from gis.deadlines import CST, WorkCalendar, deadline, deadlines_array


def test_vectorised_deadlines_equal_the_reference():
    rng = np.random.default_rng(1)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    reported = [base + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 60, 3000)]
    units = rng.choice(["natural_days", "working_days", "working_hours"], 3000)
    limits = rng.choice([1, 2, 3, 4, 5, 8, 16, 0.5], 3000)
    limits = np.where(units == "working_days", np.round(limits).clip(1), limits)
    got = deadlines_array(np.array([t.replace(tzinfo=None) for t in reported], dtype="datetime64[us]"), limits, units)
    for t, lim, unit, g in zip(reported, limits, units, got, strict=True):
        expected = deadline(t, lim, unit).astimezone(UTC).replace(tzinfo=None)
        assert np.datetime64(expected, "us") == g, (t, lim, unit)


def _shipped_calendar() -> WorkCalendar:
    rows = pd.read_csv(Path(__file__).parents[1] / "data" / "work_calendar.csv", dtype=str)
    days = [(date.fromisoformat(d), w == "true") for d, w in zip(rows["day"], rows["workday"], strict=True)]
    return WorkCalendar(off=frozenset(d for d, w in days if not w), on=frozenset(d for d, w in days if w))


def test_vectorised_deadlines_equal_the_reference_over_the_holidays():
    cal = _shipped_calendar()
    rng = np.random.default_rng(2)
    base = datetime(2024, 1, 1, tzinfo=UTC)
    reported = [base + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 720, 4000)]
    units = rng.choice(["natural_days", "working_days", "working_hours"], 4000)
    limits = rng.choice([1, 2, 3, 4, 5, 8, 16, 0.5], 4000)
    limits = np.where(units == "working_days", np.round(limits).clip(1), limits)
    got = deadlines_array(
        np.array([t.replace(tzinfo=None) for t in reported], dtype="datetime64[us]"), limits, units, cal
    )
    for t, lim, unit, g in zip(reported, limits, units, got, strict=True):
        expected = deadline(t, lim, unit, cal).astimezone(UTC).replace(tzinfo=None)
        assert np.datetime64(expected, "us") == g, (t, lim, unit)


def test_the_shipped_calendar_by_hand():
    cal = _shipped_calendar()
    # Spring Festival 2025: Jan 28 - Feb 4 off, Sunday Jan 26 and Saturday Feb 8 worked
    assert not cal.is_workday(date(2025, 1, 28)) and not cal.is_workday(date(2025, 2, 4))
    assert cal.is_workday(date(2025, 1, 26)) and cal.is_workday(date(2025, 2, 8))
    assert cal.is_workday(date(2025, 2, 5))
    # a working-hours case reported on the afternoon before the 2024 National Day holiday
    due = deadline(datetime(2024, 9, 30, 8, 0, tzinfo=UTC), 4, "working_hours", cal).astimezone(CST)
    assert due.isoformat() == "2024-10-08T12:00:00+08:00"  # 1 h on Sep 30, 3 h on Oct 8
    # without the calendar, the same case would be due during the holiday
    assert deadline(datetime(2024, 9, 30, 8, 0, tzinfo=UTC), 4, "working_hours").astimezone(CST).day == 1
