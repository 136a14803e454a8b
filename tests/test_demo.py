from __future__ import annotations

from sqlalchemy import text

from data.demo_city import build_demo
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
    again = build_demo(db)
    assert again["written"] == 0  # a second build changes nothing
