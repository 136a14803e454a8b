from __future__ import annotations

import json

from sqlalchemy import text

from data.demo_city import build_demo
from gis import positions
from gis.lookup import lookup_point
from gis.validate import validate


def test_demo_city_builds_valid_and_idempotent(db):
    summary = build_demo(db)
    assert summary["counts"] == {"district": 4, "street": 46, "community": 467, "unit": 4670}
    with db.connect() as conn:
        assert validate(conn)["ok"] is True
        names = dict(conn.execute(text("SELECT code, name FROM grid WHERE level <= 2")).all())
        hit = lookup_point(conn, 110.3207, 20.0154, crs="gcj02")
        gov = conn.execute(text("SELECT count(*) FROM resp_unit WHERE kind LIKE '%government'")).scalar_one()
    assert names["460106"] == "龙华区" and names["460106001"] == "中山街道"  # real NBS names
    assert hit["unit"] is not None and hit["unit"]["code"].startswith("460106")
    assert gov == 4 + 46
    # synthetic activity: gridworkers walking their grids, three months of cases
    act = summary["activity"]
    assert act["track_points"] == 200 * 120 and act["cases_written"] == 3000
    with db.connect() as conn:
        fc = json.loads(positions.positions(conn))
        inside = [f["properties"]["inside_own_grid"] for f in fc["features"]]
        assigned = conn.execute(text('SELECT count(*) FROM "case" WHERE unit_code IS NOT NULL')).scalar_one()
    assert len(inside) == 200 and all(inside)
    assert assigned == 3000  # every demo case reached a government at least (属地兜底)
    again = build_demo(db)
    assert again["written"] == 0  # a second build changes no boundary
    assert again["activity"]["workers_created"] == 0 and again["activity"]["cases_written"] == 0
