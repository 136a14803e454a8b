from __future__ import annotations

import json

from sqlalchemy import text

from demo.city import build_demo
from gis.grids.lookup import lookup_point
from gis.grids.validate import validate
from gis.tracks import positions


def test_demo_city_builds_valid_and_idempotent(db):
    summary = build_demo(db)
    assert summary["counts"] == {"district": 4, "street": 46, "community": 467, "unit_grid": 4670}
    with db.connect() as conn:
        assert validate(conn)["ok"] is True
        names = dict(conn.execute(text("SELECT code, name FROM grid WHERE level <= 2")).all())
        hit = lookup_point(conn, 110.3207, 20.0154, crs="gcj02")
        gov = conn.execute(text("SELECT count(*) FROM resp_unit WHERE kind LIKE '%government'")).scalar_one()
    assert names["460106"] == "龙华区" and names["460106001"] == "中山街道"  # real NBS names
    assert hit["unit_grid"] is not None and hit["unit_grid"]["code"].startswith("460106")
    assert gov == 4 + 46
    # one demo account per role, each signing in with the password the build printed (new every build)
    roles = {a["role"]: a for a in summary["accounts"]}
    assert set(roles) == {"admin", "grid_admin", "dispatcher", "unit_staff", "gridworker", "planner", "viewer"}
    from gis.access import accounts

    with db.begin() as conn:
        for a in summary["accounts"]:
            assert accounts.authenticate(conn, a["login"], a["password"], "127.0.0.1") is not None, a
    # synthetic activity: gridworkers walking their grids, three months of cases
    act = summary["activity"]
    assert act["track_points"] == 200 * 120 and act["cases_written"] == 3000
    with db.connect() as conn:
        fc = json.loads(positions.positions(conn))
        inside = [f["properties"]["inside_own_grid"] for f in fc["features"]]
        assigned = conn.execute(text('SELECT count(*) FROM "case" WHERE resp_unit IS NOT NULL')).scalar_one()
    assert len(inside) == 200 and all(inside)
    assert assigned == 3000  # every demo case reached a government at least (属地兜底)
    # the unit staff's account is a unit's with cases to see (the unit with the most)
    unit = roles["unit_staff"]["area"].removeprefix("unit ")
    with db.connect() as conn:
        theirs = conn.execute(text('SELECT count(*) FROM "case" WHERE resp_unit = :u'), {"u": unit}).scalar_one()
    assert theirs > 0, roles["unit_staff"]
    # synthetic components with owners and maintainers; a case about one goes to the right unit
    assert 200 * 5 <= act["components"] <= 200 * 5 * 3
    with db.connect() as conn:
        hydrant, lon, lat = conn.execute(
            text("SELECT code, ST_X(geom), ST_Y(geom) FROM component WHERE class_code = '0107' LIMIT 1")
        ).one()
        inside = conn.execute(
            text("SELECT count(*) FROM component c JOIN grid g ON g.code = c.unit_grid_code AND g.valid_to IS NULL")
        ).scalar_one()
    assert inside == act["components"]  # each in the unit grid its chain names
    from gis.cases.intake import intake

    with db.begin() as conn:
        case, _ = intake(conn, lon=lon, lat=lat, class_code="0402", channel="app", component_code=hydrant)
    assert case["resp_unit"] == "DEMO-FIRE" and case["why"]["decided_by"] == "component"  # the maintainer
    again = build_demo(db)
    assert again["written"] == 0  # a second build changes no boundary
    assert again["activity"]["workers_created"] == 0 and again["activity"]["cases_written"] == 0
    assert again["activity"]["components"] == 0


def test_three_years_of_demo_cases_hold_the_patterns_a_planner_should_find(settings, db):
    """The demo's synthetic history (a third of make demo's 300,000 here): the analyses find the
    summer waterlogging along the river, the market street that became a hot spot in the last six
    months, the redevelopment's faded hot spot, and the weekday and hour rhythms."""
    from datetime import datetime

    from fastapi.testclient import TestClient

    from api.app import create_app
    from demo.history import MARKET, REDEVELOPMENT, RIVER, months_before
    from gis.cases.counts import CHINA
    from tests.conftest import api_key, bearer

    summary = build_demo(db, history=100_000)
    assert summary["activity"]["history_cases"] == 100_000
    now = datetime.now(CHINA)
    with db.connect() as conn:

        def community(lon, lat):
            return lookup_point(conn, lon, lat)["community"]["code"]

        market, redevelopment = community(*MARKET[0]), community(*REDEVELOPMENT)
        river = {community(*p) for p in RIVER[1:5]}
        first = months_before(now)[0]
        span = conn.execute(
            text("""SELECT min(reported_at), max(reported_at) FROM "case" WHERE idempotency_key LIKE 'hist-%'""")
        ).one()
        synthetic = conn.execute(
            text(
                """SELECT count(*) FROM "case" WHERE idempotency_key LIKE 'hist-%' AND description LIKE '%合成数据%'"""
            )
        ).scalar_one()
    assert span[0] >= datetime(*first, 1, tzinfo=CHINA) and span[1] < datetime(now.year, now.month, 1, tzinfo=CHINA)
    assert synthetic == 100_000
    this_month = f"{now.year:04d}-{now.month:02d}-01T00:00:00+08:00"
    start = f"{first[0]:04d}-{first[1]:02d}-01T00:00:00+08:00"
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(db, "planner"))
        months = c.get(
            "/api/v1/analytics/emerging",
            params={"level": "community", "from": start, "to": this_month},
            headers=planner,
        ).json()
        by = {g["code"]: g for g in months["grids"]}
        assert by[market]["category"] == "consecutive_hot", by[market]
        assert by[redevelopment]["category"] == "historical_hot", by[redevelopment]
        summers = c.get(
            "/api/v1/analytics/emerging",
            params={"level": "community", "from": start, "to": this_month, "step": "season", "season": "summer"},
            headers=planner,
        ).json()
        assert len(summers["steps"]) >= 2
        cats = {g["code"]: g["category"] for g in summers["grids"]}
        assert all(cats[code] == "persistent_hot" for code in river), {code: cats[code] for code in river}
        year = now.year if now.month > 8 else now.year - 1
        hot = c.get(
            "/api/v1/analytics/hotspots",
            params={"level": "community", "season": "summer", "year": year, "format": "json"},
            headers=planner,
        ).json()
        bins = {g["code"]: g["gi_bin"] for g in hot["grids"]}
        assert all(bins[code] >= 2 for code in river)
        winter = c.get(
            "/api/v1/analytics/hotspots",
            params={"level": "community", "season": "winter", "year": year, "format": "json"},
            headers=planner,
        ).json()
        assert all(g["gi_bin"] <= 0 for g in winter["grids"] if g["code"] in river)  # summer's, not winter's
        days = c.get("/api/v1/analytics/profile", params={"by": "weekday", "from": start, "to": this_month},
                     headers=planner).json()  # fmt: skip
        hours = c.get("/api/v1/analytics/profile", params={"by": "hour", "from": start, "to": this_month},
                      headers=planner).json()  # fmt: skip
    weekday = {d["weekday"]: d["count"] for d in days}
    hour = {h["hour"]: h["count"] for h in hours}
    assert min(weekday[d] for d in range(1, 6)) > 1.3 * max(weekday[6], weekday[7])
    assert hour[10] > 5 * hour[3]
    again = build_demo(db, history=100_000)
    assert again["activity"]["history_cases"] == 0  # built once
