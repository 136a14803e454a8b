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
