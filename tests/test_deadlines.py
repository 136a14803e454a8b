from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import text

from gis.cases.calendar import (
    WorkCalendar,
    calendar_days,
    coverage_warnings,
    coverage_warnings_array,
    package_calendar,
    seed_calendar,
    set_calendar_day,
)
from gis.cases.deadlines import CST, deadline, deadlines_array


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


def _package_calendar() -> WorkCalendar:
    days = package_calendar()
    return WorkCalendar(
        off=frozenset(d for d, w, _ in days if not w),
        on=frozenset(d for d, w, _ in days if w),
        years=frozenset(d.year for d, _, _ in days),
    )


def test_vectorised_deadlines_equal_the_reference_over_the_holidays():
    cal = _package_calendar()
    rng = np.random.default_rng(2)
    base = datetime(2024, 1, 1, tzinfo=UTC)  # to the end of 2026, the package's last year
    reported = [base + timedelta(minutes=int(m)) for m in rng.integers(0, 60 * 24 * 1080, 4000)]
    units = rng.choice(["natural_days", "working_days", "working_hours"], 4000)
    limits = rng.choice([1, 2, 3, 4, 5, 8, 16, 0.5], 4000)
    limits = np.where(units == "working_days", np.round(limits).clip(1), limits)
    got = deadlines_array(
        np.array([t.replace(tzinfo=None) for t in reported], dtype="datetime64[us]"), limits, units, cal
    )
    for t, lim, unit, g in zip(reported, limits, units, got, strict=True):
        expected = deadline(t, lim, unit, cal).astimezone(UTC).replace(tzinfo=None)
        assert np.datetime64(expected, "us") == g, (t, lim, unit)


def test_the_package_calendar_by_hand():
    cal = _package_calendar()
    # Spring Festival 2025: Jan 28 - Feb 4 off, Sunday Jan 26 and Saturday Feb 8 worked
    assert not cal.is_workday(date(2025, 1, 28)) and not cal.is_workday(date(2025, 2, 4))
    assert cal.is_workday(date(2025, 1, 26)) and cal.is_workday(date(2025, 2, 8))
    assert cal.is_workday(date(2025, 2, 5))
    # a working-hours case reported on the afternoon before the 2024 National Day holiday
    due = deadline(datetime(2024, 9, 30, 8, 0, tzinfo=UTC), 4, "working_hours", cal).astimezone(CST)
    assert due.isoformat() == "2024-10-08T12:00:00+08:00"  # 1 h on Sep 30, 3 h on Oct 8
    # without the calendar, the same case would be due during the holiday
    assert deadline(datetime(2024, 9, 30, 8, 0, tzinfo=UTC), 4, "working_hours").astimezone(CST).day == 1


def test_the_2026_calendar_by_hand():
    cal = _package_calendar()
    # reported on Thursday 2026-09-24, 10:00: Mid-autumn (Sep 25-27) and National Day (Oct 1-7) are off
    thursday = datetime(2026, 9, 24, 2, 0, tzinfo=UTC)
    assert deadline(thursday, 5, "working_days", cal).astimezone(CST).isoformat() == "2026-10-09T10:00:00+08:00"
    assert deadline(thursday, 5, "working_days").astimezone(CST).isoformat() == "2026-10-01T10:00:00+08:00"
    # Saturday 2026-10-10 and Sunday 2026-09-20 are worked (调休)
    assert cal.is_workday(date(2026, 10, 10)) and cal.is_workday(date(2026, 9, 20))
    assert not cal.is_workday(date(2026, 10, 11))
    friday_4pm = datetime(2026, 10, 9, 8, 0, tzinfo=UTC)
    assert deadline(friday_4pm, 2, "working_hours", cal).astimezone(CST).isoformat() == "2026-10-10T10:00:00+08:00"
    assert deadline(friday_4pm, 1, "working_days", cal).astimezone(CST).isoformat() == "2026-10-10T16:00:00+08:00"
    due = deadlines_array(
        np.array([np.datetime64("2026-10-09T08:00")], "datetime64[us]"),
        np.array([2.0]),
        np.array(["working_hours"]),
        cal,
    )
    assert due[0] == np.datetime64("2026-10-10T02:00", "us")  # 10:00 CST


def test_the_package_knows_2004_to_2026_with_the_notices_names():
    days = {d: (w, n) for d, w, n in package_calendar()}
    assert {d.year for d in days} == set(range(2004, 2027))
    assert days[date(2026, 10, 1)] == (False, "国庆节")
    assert days[date(2026, 10, 10)] == (True, "国庆节调休上班")
    assert days[date(2026, 4, 6)] == (False, "清明节")
    assert days[date(2015, 9, 3)][0] is False  # the one-off 70th anniversary holiday


def test_coverage_warnings_name_the_years_the_calendar_lacks():
    cal = _package_calendar()
    december = datetime(2026, 12, 30, 2, 0, tzinfo=UTC)
    due = deadline(december, 5, "working_days", cal)
    assert due.year == 2027
    (w,) = coverage_warnings(cal, december, due, "working_days")
    assert w["calendar_not_covered"] == 2027 and "wangge import calendar" in w["message"]
    assert coverage_warnings(cal, december, december + timedelta(days=5), "natural_days") == []
    assert coverage_warnings(cal, december, december + timedelta(days=1), "working_hours") == []
    # the bulk import's version: one warning per year, working units only
    reported = np.array(["2026-12-30T02:00", "2003-06-01T02:00", "2026-06-01T02:00"], "datetime64[us]")
    units = np.array(["working_days", "natural_days", "working_hours"])
    due = deadlines_array(reported, np.array([5.0, 3.0, 4.0]), units, cal)
    assert [w["calendar_not_covered"] for w in coverage_warnings_array(cal, reported, due, units)] == [2027]
    units[1] = "working_days"
    assert [w["calendar_not_covered"] for w in coverage_warnings_array(cal, reported, due, units)] == [2003, 2027]


def test_the_seed_keeps_overrides_and_adds_only_what_is_missing(db):
    with db.begin() as conn:
        assert seed_calendar(conn) == 0  # the fixture seeded it
        set_calendar_day(conn, "2026-10-08", "true", "测试：改为上班")  # the package says off
        set_calendar_day(conn, "2027-01-01", "false", "元旦")  # a year the package does not know
        conn.execute(text("DELETE FROM work_calendar WHERE day = '2026-10-10'"))
        assert seed_calendar(conn) == 1
        days = {d["day"]: (d["workday"], d["name"]) for d in calendar_days(conn, 2026)}
        assert days[date(2026, 10, 8)] == (True, "测试：改为上班")
        assert days[date(2026, 10, 10)] == (True, "国庆节调休上班")
        assert [(d["day"], d["workday"]) for d in calendar_days(conn, 2027)] == [(date(2027, 1, 1), False)]


def test_db_migrate_seeds_the_years_the_database_lacks(settings, db):
    from tests.test_cli import wangge

    with db.begin() as conn:
        conn.execute(text("DELETE FROM work_calendar WHERE day >= '2026-01-01'"))
    p = wangge(settings, "db", "migrate")
    assert p.returncode == 0, p.stderr
    n2026 = sum(d.year == 2026 for d, _, _ in package_calendar())
    assert f"({n2026} working-calendar days added from chinese-calendar)" in p.stdout
    with db.connect() as conn:
        assert len(calendar_days(conn, 2026)) == n2026
