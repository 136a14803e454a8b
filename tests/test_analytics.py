"""Planners' counts by season and region (issue 15, part 1): seasons with December in the next
winter, per km², share, rank, 同比/环比, series, profiles, CSV, the caller's reach, bad input,
and the command line."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.analytics.counts import season_period
from gis.cases import intake
from gis.cases.counts import CHINA
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city

WEST = (X0 + 0.5 * STEP, Y0 + 7.5 * STEP)  # unit grid 110108001001001
EAST = (X0 + 6.5 * STEP, Y0 + 6.5 * STEP)
PLAN = [  # where, year, month, how many
    (WEST, 2023, 12, 3),
    (WEST, 2024, 1, 2),
    (WEST, 2024, 2, 1),
    (WEST, 2024, 7, 4),
    (EAST, 2024, 1, 1),
    (EAST, 2023, 7, 2),
]


@pytest.fixture
def cases(db):
    load_city(db, square_city(), valid_from=datetime(2020, 1, 1, tzinfo=CHINA))
    with db.begin() as conn:
        for (lon, lat), year, month, n in PLAN:
            for i in range(n):  # 09:00 on the 3rd, 4th …: a Wednesday's hour is known
                at = datetime(year, month, 3 + i, 9, tzinfo=CHINA)
                intake.intake(conn, lon=lon, lat=lat, class_code="0101", channel="hotline", reported_at=at)
    return db


def test_a_winter_is_december_to_february_counted_in_the_year_of_its_january():
    start, end, months = season_period("winter", 2024)
    assert (start, end, months) == (datetime(2023, 12, 1, tzinfo=CHINA), datetime(2024, 3, 1, tzinfo=CHINA), [12, 1, 2])
    start, end, _ = season_period("autumn", 2024)
    assert (start, end) == (datetime(2024, 9, 1, tzinfo=CHINA), datetime(2024, 12, 1, tzinfo=CHINA))


def test_counts_per_grid_by_season_with_density_share_rank_and_comparison(settings, cases):
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(cases, "planner"))
        r = c.get("/api/v1/analytics/counts", params={"season": "winter", "year": 2024}, headers=planner)
        assert r.status_code == 200, r.text
        body = r.json()
        by = {g["code"]: g for g in body["grids"]}
        assert (by["110108001"]["count"], by["110108002"]["count"], body["total"]) == (6, 1, 7)  # December 2023 in
        assert [g["rank"] for g in body["grids"]] == [1, 2]
        assert by["110108001"]["share"] == pytest.approx(6 / 7, abs=1e-6)
        with cases.connect() as conn:
            km2 = conn.execute(text("SELECT area_m2 / 1e6 FROM grid WHERE code = '110108001'")).scalar_one()
        assert by["110108001"]["per_km2"] == pytest.approx(6 / km2, rel=1e-3)
        # every grid of the level is listed, with no case too; ties share a rank
        comm = c.get("/api/v1/analytics/counts", params={"season": "winter", "year": 2024, "level": "community"},
                     headers=planner).json()  # fmt: skip
        assert len(comm["grids"]) == 4 and [g["rank"] for g in comm["grids"]] == [1, 2, 3, 3]
        # 同比: summer 2024 against summer 2023
        yoy = c.get("/api/v1/analytics/counts", params={"season": "summer", "year": 2024, "compare": "yoy"},
                    headers=planner).json()  # fmt: skip
        by = {g["code"]: g for g in yoy["grids"]}
        assert (by["110108001"]["count"], by["110108001"]["base"], by["110108001"]["change_pct"]) == (4, 0, None)
        assert (by["110108002"]["count"], by["110108002"]["base"], by["110108002"]["change_pct"]) == (0, 2, -100.0)
        assert yoy["base_total"] == 2 and yoy["base_from"].startswith("2023-06-01")
        # the same as a plain count of the cases
        with cases.connect() as conn:
            plain = dict(conn.execute(text(
                "SELECT street_code, count(*) FROM \"case\" WHERE reported_at >= '2023-12-01T00:00+08:00' "
                "AND reported_at < '2024-03-01T00:00+08:00' GROUP BY 1")).all())  # fmt: skip
        assert plain == {"110108001": 6, "110108002": 1}
        # CSV for a spreadsheet
        r = c.get(
            "/api/v1/analytics/counts", params={"season": "winter", "year": 2024, "format": "csv"}, headers=planner
        )
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
        assert [(row["code"], row["count"]) for row in rows] == [("110108001", "6"), ("110108002", "1")]
        # a street's planner: only their street
        west = bearer(api_key(cases, "planner", ("110108001",)))
        mine = c.get("/api/v1/analytics/counts", params={"season": "winter", "year": 2024}, headers=west).json()
        assert [g["code"] for g in mine["grids"]] == ["110108001"] and mine["total"] == 6


def test_series_and_profiles(settings, cases):
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(cases, "planner"))
        year = {"from": "2024-01-01T00:00:00+08:00", "to": "2025-01-01T00:00:00+08:00", "region": "110108001"}
        months = c.get("/api/v1/analytics/series", params=year, headers=planner).json()
        assert len(months) == 12 and months[0] == {"period": "2024-01", "count": 2} and months[6]["count"] == 4
        days = c.get("/api/v1/analytics/series", params={**year, "step": "day"}, headers=planner).json()
        assert len(days) == 366 and sum(d["count"] for d in days) == 7
        assert {"period": "2024-07-03", "count": 1} in days
        weeks = c.get("/api/v1/analytics/series", params={**year, "step": "week"}, headers=planner).json()
        assert weeks[0]["period"] == "2024-W01" and sum(w["count"] for w in weeks) == 7
        hours = c.get("/api/v1/analytics/profile", params={**year, "by": "hour"}, headers=planner).json()
        assert len(hours) == 24 and hours[9] == {"hour": 9, "count": 7}
        week = c.get("/api/v1/analytics/profile", params={**year, "by": "weekday"}, headers=planner).json()
        assert len(week) == 7 and sum(d["count"] for d in week) == 7
        per_month = c.get("/api/v1/analytics/profile", params={"region": "110108001", "from": "2020-01-01",
                                                                "to": "2030-01-01"}, headers=planner).json()  # fmt: skip
        assert per_month[11] == {"month": 12, "count": 3} and per_month[6] == {"month": 7, "count": 4}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"season": "winter"}, "year"),
        ({"year": 2024}, "season"),
        ({"season": "winter", "year": 2024, "from": "2024-01-01"}, "season"),
        ({"season": "monsoon", "year": 2024}, "season"),
        ({"level": "block"}, "level"),
        ({"months": "13"}, "months"),
        ({"state": "lost"}, "state"),
        ({"region": "12"}, "region"),
    ],
)
def test_bad_input_names_the_field(settings, cases, params, field):
    with TestClient(create_app(settings)) as c:
        r = c.get("/api/v1/analytics/counts", params=params, headers=bearer(api_key(cases, "planner")))
        assert 400 <= r.status_code < 500 and field in r.text, r.text


def test_the_command_line_writes_counts_for_a_season(settings, cases, tmp_path):
    from tests.test_cli import wangge

    out = tmp_path / "winter.csv"
    p = wangge(settings, "analytics", "counts", "--season", "winter", "--year", "2024", "--output", str(out))
    assert p.returncode == 0, p.stderr
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["code"], r["count"], r["rank"]) for r in rows] == [("110108001", "6", "1"), ("110108002", "1", "2")]
    p = wangge(settings, "analytics", "series", "--from", "2024-01-01", "--to", "2024-03-01", "--region", "110108001")
    assert p.returncode == 0 and p.stdout.splitlines() == ["period,count", "2024-01,2", "2024-02,1"], p.stdout
    p = wangge(settings, "analytics", "counts", "--season", "winter")
    assert p.returncode == 2 and "year" in p.stderr
