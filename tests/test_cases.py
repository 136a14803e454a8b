"""Cases through the API: assignment with its reason, idempotency, the closed loop and its trace."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box
from sqlalchemy import text

from gis.cases.deadlines import CST
from gis.errors import ImportRejected
from importers.cases import CaseImportOptions
from importers.core import GridImportOptions, import_grid_frame
from tests.helpers import STEP, X0, Y0, load_city, square_city

# unit grid 110108001001001 (north-west corner of the city), its centre and a point 1 m inside its east edge
P = (X0 + 0.5 * STEP, Y0 + 7.5 * STEP)
NEAR_EDGE = (X0 + STEP - 1e-5, Y0 + 7.5 * STEP)


@pytest.fixture
def city(client, db):
    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    units = [
        ("GOV-D", "测试区人民政府", "district_government", "110108"),
        ("GOV-S1", "西街道办事处", "street_government", "110108001"),
        ("CG", "区城管执法局", "urban_management", "110108"),
        ("WATER", "自来水公司", "water", None),
        ("WATER-W", "西街道供水所", "water", "110108001"),
    ]
    for code, name, kind, area in units:
        r = client.post("/api/v1/resp-units", json={"code": code, "name": name, "kind": kind, "area_code": area})
        assert r.status_code == 201, r.text
    return client


def _case(client, pt=P, cls="0102", **kw):
    body = {"lon": pt[0], "lat": pt[1], "class": cls, "channel": "hotline", "description": "测试", **kw}
    return client.post("/api/v1/cases", json=body)


def test_precedence_component_then_specific_rule_then_broad_then_fallback(city):
    c = city
    # no rule: the street government (属地兜底)
    r = _case(c)
    assert r.status_code == 201
    case = r.json()
    assert case["resp_unit"] == "GOV-S1" and case["why"]["decided_by"] == "fallback"
    assert case["why"]["message"] == "no rule or component: the street government of 110108001 (属地兜底)"
    assert case["chain"] == {
        "district": "110108",
        "street": "110108001",
        "community": "110108001001",
        "unit_grid": "110108001001001",
    }
    assert case["state"] == "dispatched" and case["deadline"]
    # a district-wide rule for the major class beats the fallback
    assert (
        c.post("/api/v1/rules", json={"class_code": "0100", "area_code": "110108", "resp_unit": "CG"}).status_code
        == 201
    )
    assert _case(c).json()["resp_unit"] == "CG"
    # a street rule for the exact class is more specific
    c.post("/api/v1/rules", json={"class_code": "0102", "area_code": "110108001", "resp_unit": "WATER-W"})
    case = _case(c).json()
    assert case["resp_unit"] == "WATER-W" and case["why"]["area"] == "110108001"
    rule = case["why"]["rule_id"]
    assert case["why"]["message"] == f"dispatch rule {rule} for class 0102 in area 110108001"
    # elsewhere in the district the broad rule still applies
    assert _case(c, pt=(X0 + 6.5 * STEP, Y0 + 0.5 * STEP)).json()["resp_unit"] == "CG"
    # a case about a component goes to its owner, whatever the area rules say
    r = c.post(
        "/api/v1/components",
        json={
            "code": "1101080101000001",
            "geometry": {"type": "Point", "coordinates": list(P)},
            "owner_unit": "WATER",
            "maintainer_unit": "CG",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["unit_grid_code"] == "110108001001001"
    case = _case(c, cls="0402", component_code="1101080101000001").json()
    assert case["resp_unit"] == "WATER" and case["why"]["decided_by"] == "component"
    assert case["why"]["message"].endswith("1101080101000001: its owner is responsible")


def test_time_window_rule(city):
    c = city
    c.post(
        "/api/v1/rules",
        json={
            "class_code": "0102",
            "area_code": "110108001001001",
            "resp_unit": "CG",
            "start_time": "20:00",
            "end_time": "06:00",
            "valid_from": "2024-01-01T00:00:00Z",
        },
    )
    night = _case(c, reported_at="2024-05-10T23:30:00+08:00").json()
    day = _case(c, reported_at="2024-05-10T10:30:00+08:00").json()
    assert night["resp_unit"] == "CG" and day["resp_unit"] == "GOV-S1"


def test_near_boundary_warning_and_outside_queue(city):
    near = _case(city, pt=NEAR_EDGE).json()
    warning = near["why"]["warnings"][0]
    assert warning["near_boundary"] and warning["distance_m"] < 2
    assert (
        warning["message"] == f"the point is {warning['distance_m']:.1f} m from the edge of unit grid 110108001001001"
    )
    far = _case(city, pt=(100.0, 30.0))
    assert far.status_code == 201
    body = far.json()
    assert body["queue"] == "unassigned" and body["state"] == "received" and body["resp_unit"] is None
    assert "outside every grid" in body["why"]["message"]


def test_idempotent_intake(city):
    a = _case(city, idempotency_key="hotline-2024-000123")
    b = _case(city, idempotency_key="hotline-2024-000123")
    assert a.status_code == 201 and b.status_code == 200 and a.json()["id"] == b.json()["id"]
    c = city.post(
        "/api/v1/cases",
        headers={"Idempotency-Key": "app-77"},
        json={"lon": P[0], "lat": P[1], "class": "0102", "channel": "app"},
    )
    d = city.post(
        "/api/v1/cases",
        headers={"Idempotency-Key": "app-77"},
        json={"lon": P[0], "lat": P[1], "class": "0102", "channel": "app"},
    )
    assert c.json()["id"] == d.json()["id"] != a.json()["id"]


def test_bad_input_names_field_and_allowed(city):
    r = _case(city, cls="9999")
    assert r.status_code == 400 and r.json()["field"] == "class" and "0402" in r.json()["allowed"]
    r = city.post("/api/v1/cases", json={"lon": P[0], "lat": P[1], "class": "0102", "channel": "fax"})
    assert r.status_code == 400 and r.json()["field"] == "channel" and "hotline" in r.json()["allowed"]
    r = city.post("/api/v1/resp-units", json={"code": "X", "name": "x", "kind": "bank"})
    assert r.status_code == 400 and "street_government" in r.json()["allowed"]


def test_closed_loop_illegal_transition_and_history(city):
    c = city
    case = _case(c).json()
    cid = case["id"]

    def act(action, **kw):
        return c.post(f"/api/v1/cases/{cid}/actions", json={"action": action, "actor": "张三", **kw})

    r = act("close")  # a dispatched case cannot be closed
    assert r.status_code == 409 and "accept" in r.json()["allowed"]
    assert c.get(f"/api/v1/cases/{cid}").json()["state"] == "dispatched"  # nothing changed
    assert act("return").status_code == 400  # a return needs a reason
    assert act("return", note="不是我们的辖区").json()["state"] == "returned"
    assert act("dispatch", resp_unit="CG").json()["resp_unit"] == "CG"
    assert act("accept").json()["state"] == "handling"
    before = c.get(f"/api/v1/cases/{cid}").json()["deadline"]
    after = act("extend", hours=24, note="等待配件").json()["deadline"]
    assert after > before
    assert act("supervise", note="区领导督办").json()["state"] == "handling"
    assert act("finish").json()["state"] == "verified"
    assert act("rework", note="现场仍有垃圾").json()["state"] == "handling"
    assert act("finish").json()["state"] == "verified"
    assert act("close").json()["state"] == "closed"
    assert act("callback", satisfaction="satisfied").json()["state"] == "closed"
    hist = c.get(f"/api/v1/cases/{cid}/history").json()
    assert [h["action"] for h in hist] == [
        "receive",
        "file",
        "dispatch",
        "return",
        "dispatch",
        "accept",
        "extend",
        "supervise",
        "finish",
        "rework",
        "finish",
        "close",
        "callback",
    ]
    # the trail records the signed-in caller, not the "actor" the body claims
    assert hist[3]["note"] == "不是我们的辖区" and hist[3]["actor"].startswith("key:")
    assert hist[3]["from_state"] == "dispatched" and hist[3]["to_state"] == "returned"


def test_moving_the_pin_reassigns_and_records_both(city):
    c = city
    case = _case(c).json()
    r = c.post(
        f"/api/v1/cases/{case['id']}/actions",
        json={"action": "move", "actor": "坐席", "lon": X0 + 6.5 * STEP, "lat": Y0 + 0.5 * STEP},
    )
    moved = r.json()
    # street 110108002 has no government unit of its own: the district government takes it
    assert moved["chain"]["street"] == "110108002" and moved["resp_unit"] == "GOV-D"
    assert moved["why"]["decided_by"] == "fallback" and moved["why"]["area"] == "110108"
    assert moved["why"]["message"] == "no rule or component: the district government of 110108 (属地兜底)"
    last = c.get(f"/api/v1/cases/{case['id']}/history").json()[-1]
    assert last["action"] == "move"
    assert last["data"]["from"]["lon"] == pytest.approx(P[0]) and last["data"]["to"]["lon"] == pytest.approx(
        X0 + 6.5 * STEP
    )


def test_case_before_a_redraw_keeps_its_old_grid(city, db):
    # redraw on 2025-01-01: community 110108001001 (north) grows south by one row
    city_ = square_city()
    comms = city_[3].copy()
    i_n = comms.index[comms["code"] == "110108001001"][0]
    i_s = comms.index[comms["code"] == "110108001002"][0]
    comms.loc[i_n, "geometry"] = box(X0, Y0 + 3 * STEP, X0 + 4 * STEP, Y0 + 8 * STEP)
    comms.loc[i_s, "geometry"] = box(X0, Y0, X0 + 4 * STEP, Y0 + 3 * STEP)
    import_grid_frame(
        db,
        comms,
        GridImportOptions(level=3, valid_from=datetime(2025, 1, 1, tzinfo=UTC), tolerance_m=1000),
        source="redraw",
    )
    pt = (X0 + 0.5 * STEP, Y0 + 3.5 * STEP)
    old = _case(city, pt=pt, reported_at="2024-06-01T10:00:00+08:00").json()
    new = _case(city, pt=pt, reported_at="2025-06-01T10:00:00+08:00").json()
    assert old["chain"]["community"] == "110108001002"
    assert new["chain"]["community"] == "110108001001"


def test_retired_rule_still_explains_past_cases(city):
    c = city
    rule = c.post(
        "/api/v1/rules",
        json={"class_code": "0102", "area_code": "110108", "resp_unit": "CG", "valid_from": "2024-01-01T00:00:00Z"},
    ).json()
    assert c.delete(f"/api/v1/rules/{rule['id']}").json()["valid_to"] is not None
    assert c.delete(f"/api/v1/rules/{rule['id']}").status_code == 409
    past = _case(c, reported_at="2024-06-01T10:00:00+08:00").json()
    now = _case(c).json()
    assert past["resp_unit"] == "CG" and past["why"]["rule_id"] == rule["id"]
    assert now["resp_unit"] == "GOV-S1"


def test_statistics_and_overdue(city):
    c = city
    ids = [_case(c, reported_at="2024-05-06T09:00:00+08:00").json()["id"] for _ in range(3)]
    _case(c, pt=(X0 + 6.5 * STEP, Y0 + 0.5 * STEP), reported_at="2024-05-06T09:00:00+08:00")

    def act(cid, action, **kw):
        r = c.post(f"/api/v1/cases/{cid}/actions", json={"action": action, "actor": "t", **kw})
        assert r.status_code == 200, r.text

    for a in ("accept", "finish", "close"):
        act(ids[0], a)
    for a in ("accept", "finish", "rework", "finish", "close"):
        act(ids[1], a)
    r = c.get(
        "/api/v1/cases-statistics",
        params={"by": "street", "from": "2024-05-01T00:00:00Z", "to": "2024-06-01T00:00:00Z"},
    )
    assert r.status_code == 200, r.text
    west, east = r.json()
    assert west["street"] == "110108001" and west["total"] == 3 and west["closed"] == 2
    assert west["closure_rate"] == round(2 / 3, 4) and west["rework_rate"] == round(1 / 3, 4)
    assert west["by_state"] == {"closed": 2, "dispatched": 1} and west["by_class"] == {"0102": 3}
    # closed today, long after a 4-working-hour deadline in 2024: not on time
    assert west["closed_on_time"] == 0 and west["on_time_rate"] == 0
    assert east["street"] == "110108002" and east["total"] == 1
    overdue = c.get("/api/v1/cases-overdue", params={"by": "resp_unit"}).json()
    assert {o["resp_unit"]: o["overdue"] for o in overdue} == {"GOV-S1": 1, "GOV-D": 1}
    assert (
        c.get("/api/v1/cases-statistics", params={"by": "planet", "from": "2024-01-01", "to": "2024-02-01"}).status_code
        == 400
    )


def test_open311_round_trip(city):
    c = city
    services = c.get("/open311/v2/services.json").json()
    assert {"service_code": "0402", "service_name": "自来水管破裂", "group": "突发事件"}.items() <= next(
        s for s in services if s["service_code"] == "0402"
    ).items()
    r = c.post(
        "/open311/v2/requests.json",
        data={"service_code": "0402", "lat": str(P[1]), "long": str(P[0]), "description": "水管爆裂"},
    )
    assert r.status_code == 200, r.text
    rid = r.json()[0]["service_request_id"]
    got = c.get(f"/open311/v2/requests/{rid}.json").json()[0]
    assert got["status"] == "open" and got["service_code"] == "0402" and got["description"] == "水管爆裂"
    assert got["agency_responsible"] == "GOV-S1" and got["lat"] == pytest.approx(P[1])
    listed = c.get("/open311/v2/requests.json", params={"service_code": "0402", "status": "open"}).json()
    assert [x["service_request_id"] for x in listed] == [rid]
    bad = c.post("/open311/v2/requests.json", data={"service_code": "0402", "lat": "x", "long": "116"})
    assert bad.status_code == 400 and bad.json()["field"] == "lat"


def test_import_units_rules_components_all_or_nothing(settings, db, tmp_path):
    from tests.test_cli import wangge

    load_city(db, square_city(), upto=2)
    units = tmp_path / "units.csv"
    units.write_text(
        "code,name,kind,area_code\nGOV-S1,西街道办事处,street_government,110108001\n"
        "CG,城管,urban_management,110108\nWATER,水务,water,\n"
    )
    p = wangge(settings, "import", "units", str(units), "--json")
    assert p.returncode == 0, p.stderr
    rules = tmp_path / "rules.csv"
    rules.write_text(
        "class_code,area_code,resp_unit,start_time,end_time\n0102,110108,CG,,\n0402,110108001,NOPE,,\n0401,1101,CG,,\n"
    )
    p = wangge(settings, "import", "rules", str(rules), "--json")
    assert p.returncode == 1
    rejected = {r["row"]: r for r in json.loads(p.stdout)["rejected"]}
    assert set(rejected) == {2, 3} and rejected[3]["field"] == "area_code"  # data rows, from 1
    comps = gpd.GeoDataFrame(
        {
            "code": ["1101080101000001", "1101080108000002"],
            "owner_unit": ["WATER", "CG"],
            "maintainer_unit": ["WATER", "CG"],
            "material": ["铸铁", "钢"],
        },
        geometry=[Point(P), Point(X0 + 6.5 * STEP, Y0 + 0.5 * STEP)],
        crs="EPSG:4490",
    ).to_crs(3857)
    path = tmp_path / "components.gpkg"
    comps.to_file(path)
    p = wangge(settings, "import", "components", str(path), "--json")
    assert p.returncode == 0, p.stderr
    with db.connect() as conn:
        rows = conn.execute(text("SELECT code, street_code, attrs->>'material' FROM component ORDER BY code")).all()
        assert conn.execute(text("SELECT count(*) FROM dispatch_rule")).scalar_one() == 0
    assert rows == [("1101080101000001", "110108001", "铸铁"), ("1101080108000002", "110108002", "钢")]


def test_bulk_import_equals_one_by_one_intake(city, db, tmp_path):
    from gis.cases import intake as cases_mod
    from importers.cases import import_cases

    c = city
    c.post(
        "/api/v1/rules",
        json={"class_code": "0100", "area_code": "110108", "resp_unit": "CG", "valid_from": "2024-01-01T00:00:00Z"},
    )
    c.post(
        "/api/v1/rules",
        json={
            "class_code": "0402",
            "area_code": "110108001002",
            "resp_unit": "WATER-W",
            "start_time": "18:00",
            "end_time": "08:00",
            "valid_from": "2024-01-01T00:00:00Z",
        },
    )
    rng = np.random.default_rng(4)
    n = 300
    xs = rng.uniform(X0 - STEP, X0 + 9 * STEP, n)  # some outside the city
    ys = rng.uniform(Y0, Y0 + 8 * STEP, n)
    xs[:8] = X0 + np.arange(8) * STEP  # exactly on grid lines
    times = pd.Timestamp("2024-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 300 * 86400, n), unit="s")
    classes = rng.choice(["0102", "0402", "0505", "0601"], n)
    frame = pd.DataFrame(
        {
            "ext_id": [f"h-{i}" for i in range(n)],
            "lon": xs,
            "lat": ys,
            "class": classes,
            "reported_at": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": "hotline",
        }
    )
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    report = import_cases(db, path, CaseImportOptions(id_field="ext_id"))
    assert report["written"] == n
    with db.begin() as conn:
        one_by_one = [
            cases_mod.intake(
                conn,
                lon=r.lon,
                lat=r.lat,
                class_code=r["class"],
                channel="hotline",
                reported_at=t.to_pydatetime(),
                idempotency_key=f"i-{i}",
            )[0]
            for (i, r), t in zip(frame.iterrows(), times, strict=True)
        ]
        bulk = {
            k: cases_mod.get_case(conn, cid)
            for k, cid in conn.execute(
                text("SELECT idempotency_key, id FROM \"case\" WHERE idempotency_key LIKE 'h-%'")
            ).all()
        }
    for i, single in enumerate(one_by_one):
        b = bulk[f"h-{i}"]
        assert b["chain"] == single["chain"], i
        assert b["resp_unit"] == single["resp_unit"], i
        assert b["deadline"] == single["deadline"], i
        assert b["why"]["decided_by"] == single["why"]["decided_by"], i
    # a second run skips what is stored; a bad row rejects the whole file
    again = import_cases(db, path, CaseImportOptions(id_field="ext_id"))
    assert again["written"] == 0 and again["skipped_existing"] == n
    frame.loc[250, "class"] = "9999"
    frame.to_csv(path, index=False)
    with pytest.raises(ImportRejected) as info:
        import_cases(db, path, CaseImportOptions(id_field="ext_id"))
    assert info.value.details["rejected"] == [{"row": 251, "reason": "unknown event class"}]


def _case_indexes(db) -> set[str]:
    with db.connect() as conn:
        return set(
            conn.execute(text("SELECT indexname FROM pg_indexes WHERE tablename IN ('case', 'case_event')")).scalars()
        )


def _case_keys(db) -> set[tuple[str, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
                   WHERE contype = 'f' AND conrelid IN ('"case"'::regclass, 'case_event'::regclass)"""
            )
        ).all()
    return {(table.strip('"'), definition) for table, definition in rows}


def _case_filenode(db) -> int:
    with db.connect() as conn:
        return conn.execute(text("SELECT pg_relation_filenode('\"case\"')")).scalar_one()


def test_import_cases_from_the_command_line_rebuilds_or_keeps_the_indexes(city, db, settings, tmp_path):
    """``wangge import cases``: a first load builds the case indexes after the rows (every index is
    there afterwards, and used); a dry run rolls the dropped indexes back with the rows; a bad file
    exits non-zero naming the row."""
    from tests.test_cli import wangge

    before = _case_indexes(db)
    keys = _case_keys(db)
    assert keys == {
        ("case", "FOREIGN KEY (class_code) REFERENCES event_class(code)"),
        ("case", "FOREIGN KEY (resp_unit) REFERENCES resp_unit(code)"),
        ("case_event", 'FOREIGN KEY (case_id) REFERENCES "case"(id)'),
    }
    assert {"case_geom", "case_grid", "case_unit_state", "case_state_deadline", "case_event_case"} <= before
    frame = pd.DataFrame(
        {
            "no": [f"c-{i}" for i in range(40)],
            "lon": X0 + (np.arange(40) % 8 + 0.5) * STEP,
            "lat": Y0 + (np.arange(40) // 8 + 0.5) * STEP,
            "class": "0102",
            "reported_at": "2024-06-03 09:00:00",
            "channel": "app",
        }
    )
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    p = wangge(
        settings, "import", "cases", str(path), "--id-field", "no", "--dry-run", "--indexes", "rebuild", "--json"
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["indexes_rebuilt"] == 8 and _case_indexes(db) == before
    assert _case_keys(db) == keys  # dropped for the load, back with the rollback
    with db.connect() as conn:
        assert conn.execute(text('SELECT count(*) FROM "case"')).scalar_one() == 0
    filenode = _case_filenode(db)
    p = wangge(settings, "import", "cases", str(path), "--id-field", "no", "--json")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["written"] == 40 and report["indexes_rebuilt"] == 8 and _case_indexes(db) == before
    assert _case_keys(db) == keys  # added back, checked once over the loaded rows
    assert _case_filenode(db) != filenode  # empty tables are truncated first: new files, no WAL
    filenode = _case_filenode(db)
    with db.connect() as conn:
        code = conn.execute(text("SELECT unit_grid_code FROM \"case\" WHERE idempotency_key = 'c-0'")).scalar_one()
        by_scan = conn.execute(text('SELECT count(*) FROM "case" WHERE unit_grid_code = :g'), {"g": code}).scalar()
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        query = text('SELECT count(*) FROM "case" WHERE unit_grid_code = :g')
        plan = "\n".join(conn.execute(text("EXPLAIN " + query.text), {"g": code}).scalars())
        assert "case_grid" in plan and conn.execute(query, {"g": code}).scalar() == by_scan == 1
    # a smaller load into a fuller table keeps the indexes and inserts into them
    frame.assign(no=[f"d-{i}" for i in range(40)]).head(10).to_csv(path, index=False)
    p = wangge(settings, "import", "cases", str(path), "--id-field", "no", "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["indexes_rebuilt"] == 0 and json.loads(p.stdout)["written"] == 10
    assert _case_filenode(db) == filenode  # stored cases are never truncated
    frame.loc[3, "channel"] = "fax"
    frame.to_csv(path, index=False)
    p = wangge(settings, "import", "cases", str(path), "--id-field", "no")
    assert p.returncode == 1 and "row 4: channel must be one of" in p.stderr, p.stdout + p.stderr


def test_units_event_classes_and_components_are_editable(city):
    c = city
    # units: change, refuse a bad kind, delete one nothing names, refuse one a case names
    r = c.patch("/api/v1/resp-units/WATER", json={"name": "市自来水集团", "area_code": "110108"})
    assert r.status_code == 200 and r.json()["name"] == "市自来水集团" and r.json()["area_code"] == "110108"
    r = c.patch("/api/v1/resp-units/WATER", json={"kind": "bakery"})
    assert r.status_code == 400 and r.json()["field"] == "kind" and "water" in r.json()["allowed"]
    assert c.get("/api/v1/resp-units/WATER").json()["kind"] == "water"
    assert c.delete("/api/v1/resp-units/WATER-W").status_code == 204
    assert c.get("/api/v1/resp-units/WATER-W").status_code == 404
    assert _case(c).json()["resp_unit"] == "GOV-S1"
    r = c.delete("/api/v1/resp-units/GOV-S1")
    assert r.status_code == 409 and c.get("/api/v1/resp-units/GOV-S1").status_code == 200
    # event classes: a new one, a changed time limit gives new cases a new deadline, old ones keep theirs
    r = c.post(
        "/api/v1/event-classes",
        json={
            "code": "0199",
            "major_name": "市容环境",
            "minor_name": "测试类",
            "time_limit": 2,
            "time_unit": "natural_days",
        },
    )
    assert r.status_code == 201, r.text
    before = _case(c, cls="0199").json()
    r = c.patch("/api/v1/event-classes/0199", json={"time_limit": 4})
    assert r.status_code == 200 and float(r.json()["time_limit"]) == 4
    after = _case(c, cls="0199").json()
    due = [datetime.fromisoformat(x["deadline"]) - datetime.fromisoformat(x["reported_at"]) for x in (before, after)]
    assert round(due[0].total_seconds() / 86400) == 2 and round(due[1].total_seconds() / 86400) == 4
    assert c.get(f"/api/v1/cases/{before['id']}").json()["deadline"] == before["deadline"]
    r = c.patch("/api/v1/event-classes/0199", json={"time_unit": "fortnights"})
    assert r.status_code == 400 and r.json()["field"] == "time_unit"
    assert c.patch("/api/v1/event-classes/0199", json={"time_limit": 0}).status_code == 400
    # components: a new owner takes the next case about it; changed_at moves
    r = c.post(
        "/api/v1/components",
        json={"code": "1101080101000002", "geometry": {"type": "Point", "coordinates": list(P)}, "owner_unit": "WATER"},
    )
    assert r.status_code == 201, r.text
    first = r.json()
    r = c.patch("/api/v1/components/1101080101000002", json={"owner_unit": "CG", "state": "damaged"})
    assert r.status_code == 200 and r.json()["owner_unit"] == "CG" and r.json()["state"] == "damaged"
    assert r.json()["changed_at"] > first["changed_at"]
    assert _case(c, cls="0402", component_code="1101080101000002").json()["resp_unit"] == "CG"
    r = c.patch("/api/v1/components/1101080101000002", json={"owner_unit": "NOBODY"})
    assert r.status_code == 400 and r.json()["field"] == "owner_unit"
    assert c.patch("/api/v1/components/1101080101000002", json={"code": "x"}).status_code == 400


def test_deadlines_follow_the_holiday_calendar(city, settings, tmp_path):
    from tests.test_cli import wangge

    c = city
    _class(c, "0198", 2, "working_days")
    # reported on the eve of the 2025 National Day holiday (Oct 1-8; Saturday Oct 11 worked)
    case = _case(c, cls="0198", reported_at="2025-09-30T08:00:00Z").json()
    assert datetime.fromisoformat(case["deadline"]).astimezone(CST).isoformat() == "2025-10-10T16:00:00+08:00"
    assert [d["day"] for d in c.get("/api/v1/calendar", params={"year": 2025}).json()["items"]][:2] == [
        "2025-01-01",
        "2025-01-26",
    ]
    # a year the package does not know yet comes from a file, all or nothing
    path = tmp_path / "calendar-2027.csv"
    path.write_text("day,workday,name\n2027-03-02,false,测试假日\n2027-02-30,false,坏日期\n")
    p = wangge(settings, "import", "calendar", str(path))
    assert p.returncode == 1 and "2027-02-30" in p.stderr
    assert c.get("/api/v1/calendar", params={"year": 2027}).json()["items"] == []
    path.write_text("day,workday,name\n2027-03-02,false,测试假日\n2027-03-07,true,测试调休\n")
    p = wangge(settings, "import", "calendar", str(path))
    assert p.returncode == 0, p.stderr
    assert [d["day"] for d in c.get("/api/v1/calendar", params={"year": 2027}).json()["items"]] == [
        "2027-03-02",
        "2027-03-07",
    ]
    # the API writes a day too, and new deadlines follow at once in this process
    assert c.put("/api/v1/calendar/2025-09-29", json={"workday": False, "name": "测试"}).status_code == 200
    assert c.put("/api/v1/calendar/2025-13-01", json={"workday": False}).status_code == 400
    case = _case(c, cls="0198", reported_at="2025-09-26T08:00:00Z").json()  # a Friday, 16:00
    # Sat 27 off, Sun 28 worked (1), Mon 29 now off, Sep 30 (2)
    assert datetime.fromisoformat(case["deadline"]).astimezone(CST).isoformat() == "2025-09-30T16:00:00+08:00"


def _class(client, code: str, limit: float, unit: str) -> None:
    """An event class with this limit (classes outlive a test: the tables the db fixture empties keep them)."""
    body = {"code": code, "major_name": "市容环境", "minor_name": "测试", "time_limit": limit, "time_unit": unit}
    r = client.post("/api/v1/event-classes", json=body)
    if r.status_code == 409:
        r = client.patch(f"/api/v1/event-classes/{code}", json={"time_limit": limit, "time_unit": unit})
    assert r.status_code in (200, 201), r.text


def _due(case: dict) -> str:
    return datetime.fromisoformat(case["deadline"]).astimezone(CST).isoformat()


def test_2026_holidays_and_weekend_working_days_come_from_the_package(city):
    c = city
    _class(c, "0196", 5, "working_days")
    _class(c, "0195", 2, "working_hours")
    # reported on Thursday 2026-09-24, 10:00: Mid-autumn (Sep 25-27) and National Day (Oct 1-7) are off
    case = _case(c, cls="0196", reported_at="2026-09-24T02:00:00Z").json()
    assert _due(case) == "2026-10-09T10:00:00+08:00"  # Sep 28, 29, 30, Oct 8, 9
    assert case["why"]["warnings"] == []
    # Saturday 2026-10-10 is worked (调休): 2 working hours from Friday 16:00 end on Saturday at 10:00
    case = _case(c, cls="0195", reported_at="2026-10-09T08:00:00Z").json()
    assert _due(case) == "2026-10-10T10:00:00+08:00"
    days = {d["day"]: d for d in c.get("/api/v1/calendar", params={"year": 2026}).json()["items"]}
    assert days["2026-10-10"] == {"day": "2026-10-10", "workday": True, "name": "国庆节调休上班"}
    assert days["2026-10-01"] == {"day": "2026-10-01", "workday": False, "name": "国庆节"}


def test_a_deadline_in_a_year_the_calendar_lacks_says_so_until_it_is_imported(city, db, caplog, monkeypatch):
    import logging
    from datetime import date

    from gis.cases import calendar

    monkeypatch.setattr(calendar, "_WARNED_YEARS", set())  # logged once per process: count from here
    c = city
    _class(c, "0197", 60, "working_days")
    _class(c, "0194", 60, "natural_days")
    with caplog.at_level(logging.WARNING, logger="wangge.deadlines"):
        # reported on Monday 2026-10-12 10:00; the 60th working day is in January 2027
        first = _case(c, cls="0197", reported_at="2026-10-12T02:00:00Z").json()
        again = _case(c, cls="0197", reported_at="2026-10-12T03:00:00Z").json()
    assert _due(first) == "2027-01-04T10:00:00+08:00"  # Friday 2027-01-01 counted as a working day
    (warning,) = first["why"]["warnings"]
    assert warning["calendar_not_covered"] == 2027 and "wangge import calendar" in warning["message"]
    assert again["why"]["warnings"] == [warning]
    assert [r.getMessage() for r in caplog.records if r.name == "wangge.deadlines"] == [warning["message"]]
    # a natural-days deadline does not depend on the calendar
    assert _case(c, cls="0194", reported_at="2026-10-12T02:00:00Z").json()["why"]["warnings"] == []
    # the health check: still ok, with the covered years, and 2027 missing from November on
    health = c.get("/healthz").json()
    assert health["status"] == "ok" and health["calendar"]["covered_years"] == list(range(2004, 2027))
    with db.connect() as conn:
        assert health["calendar"] == calendar.calendar_health(conn)
        nov = calendar.calendar_health(conn, today=date(2026, 11, 29))
        assert [(w["calendar_not_covered"], w["message"]) for w in nov["warnings"]] == [(2027, warning["message"])]
        assert calendar.calendar_health(conn, today=date(2026, 6, 1))["warnings"] == []
    # moving the pin keeps the deadline, and the warning about it
    r = c.post(
        f"/api/v1/cases/{first['id']}/actions",
        json={"action": "move", "actor": "坐席", "lon": X0 + 6.5 * STEP, "lat": Y0 + 0.5 * STEP},
    )
    assert r.status_code == 200 and r.json()["why"]["warnings"] == [warning] and _due(r.json()) == _due(first)
    # 2027 imported (元旦 on Friday Jan 1): new deadlines count it and say nothing
    assert c.put("/api/v1/calendar/2027-01-01", json={"workday": False, "name": "元旦"}).status_code == 200
    second = _case(c, cls="0197", reported_at="2026-10-12T02:00:00Z").json()
    assert _due(second) == "2027-01-05T10:00:00+08:00" and second["why"]["warnings"] == []
    assert 2027 in c.get("/healthz").json()["calendar"]["covered_years"]
    with db.connect() as conn:
        assert calendar.calendar_health(conn, today=date(2026, 11, 29))["warnings"] == []
    # the first case's deadline was counted without the holiday: its warning stays
    assert c.get(f"/api/v1/cases/{first['id']}").json()["why"]["warnings"] == [warning]


def test_the_bulk_import_reports_the_years_the_calendar_lacks(city, db, tmp_path):
    from importers.cases import import_cases

    _class(city, "0197", 60, "working_days")
    path = tmp_path / "cases.csv"
    path.write_text(
        "ext_id,lon,lat,class,reported_at\n"
        f"a,{P[0]},{P[1]},0197,2026-10-12T02:00:00Z\n"
        f"b,{P[0]},{P[1]},0197,2026-03-02T02:00:00Z\n"
    )
    report = import_cases(db, path, CaseImportOptions(id_field="ext_id", dry_run=True))
    assert [w["calendar_not_covered"] for w in report["warnings"]] == [2027]
    path.write_text(f"ext_id,lon,lat,class,reported_at\nb,{P[0]},{P[1]},0197,2026-03-02T02:00:00Z\n")
    assert import_cases(db, path, CaseImportOptions(id_field="ext_id", dry_run=True))["warnings"] == []


def test_a_case_names_the_gridworkers_of_its_grid(city):
    c = city
    for body in (
        {"worker_id": "w1", "name": "张三", "grids": ["110108001001001"]},
        {"worker_id": "w2", "name": "李四", "grids": ["110108001001002"]},
        {"worker_id": "lead", "name": "王组长", "role": "grid_leader", "grids": ["110108001001"]},
    ):
        assert c.post("/api/v1/workers", json=body).status_code == 201
    case = _case(c).json()
    assert [(w["worker_id"], w["role"]) for w in case["gridworkers"]] == [("w1", "gridworker"), ("lead", "grid_leader")]
    assert c.get(f"/api/v1/cases/{case['id']}").json()["gridworkers"] == case["gridworkers"]
    # elsewhere in the city: nobody registered
    assert _case(c, pt=(X0 + 6.5 * STEP, Y0 + 0.5 * STEP)).json()["gridworkers"] == []


def test_list_cases_with_filters(city):
    c = city
    east = (X0 + 6.5 * STEP, Y0 + 0.5 * STEP)
    ids = [
        _case(c, reported_at="2024-05-06T02:00:00Z").json()["id"],
        _case(c, cls="0402", reported_at="2024-05-07T02:00:00Z").json()["id"],
        _case(c, pt=east, channel="app", reported_at="2024-05-08T02:00:00Z").json()["id"],
    ]
    body = c.get("/api/v1/cases").json()
    assert body["total"] == 3 and [x["id"] for x in body["items"]] == ids[::-1]  # newest first
    assert [x["id"] for x in c.get("/api/v1/cases", params={"grid": "110108001"}).json()["items"]] == ids[1::-1]
    assert [x["id"] for x in c.get("/api/v1/cases", params={"grid": "110108002002"}).json()["items"]] == [ids[2]]
    assert [x["id"] for x in c.get("/api/v1/cases", params={"class": "0400"}).json()["items"]] == [ids[1]]
    assert [x["id"] for x in c.get("/api/v1/cases", params={"channel": "app"}).json()["items"]] == [ids[2]]
    q = {"from": "2024-05-07T00:00:00Z", "to": "2024-05-08T00:00:00Z"}
    assert [x["id"] for x in c.get("/api/v1/cases", params=q).json()["items"]] == [ids[1]]
    bbox = f"{X0},{Y0 + 7 * STEP},{X0 + STEP},{Y0 + 8 * STEP}"
    assert c.get("/api/v1/cases", params={"bbox": bbox}).json()["total"] == 2
    page = c.get("/api/v1/cases", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and [x["id"] for x in page["items"]] == [ids[1]]
    assert c.get("/api/v1/cases", params={"resp_unit": "GOV-S1"}).json()["total"] == 2
    r = c.get("/api/v1/cases", params={"state": "lost"})
    assert r.status_code == 400 and r.json()["field"] == "state" and "closed" in r.json()["allowed"]
    assert c.get("/api/v1/cases", params={"grid": "1101"}).json()["field"] == "grid"


def test_intake_is_committed_by_the_callers_commit(city, db):
    """The intake's statement goes through the DBAPI cursor; it must still join the caller's
    transaction, so that ``conn.commit()`` stores the case (and a rollback does not)."""
    from gis.cases import intake as cases_mod

    def count():
        with db.connect() as c:
            return c.execute(text('SELECT count(*) FROM "case"')).scalar_one()

    with db.connect() as conn:  # the first call fills the per-process caches
        cases_mod.intake(conn, lon=P[0], lat=P[1], class_code="0102", channel="hotline")
        conn.commit()
    with db.connect() as conn:
        cases_mod.intake(conn, lon=P[0], lat=P[1], class_code="0102", channel="hotline")
        conn.commit()
    with db.connect() as conn:
        cases_mod.intake(conn, lon=P[0], lat=P[1], class_code="0102", channel="hotline")
        conn.rollback()
    assert count() == 2


def test_import_cases_reads_local_times_and_refuses_unreadable_ones(city, db, tmp_path):
    """Times without an offset are in ``--timezone``; one unreadable time refuses the file, naming
    its row (the whole column then goes through the row-by-row parser)."""
    from importers.cases import import_cases

    frame = pd.DataFrame(
        {
            "lon": [X0 + 0.5 * STEP, X0 + 1.5 * STEP],
            "lat": [Y0 + 0.5 * STEP, Y0 + 0.5 * STEP],
            "class": ["102", "0102"],  # a code that lost its zero in a spreadsheet
            "reported_at": ["2024-06-03 09:00:00", "2024-06-03T10:30:00"],
            "channel": ["app", "hotline"],
        }
    )
    path = tmp_path / "local.csv"
    frame.to_csv(path, index=False)
    report = import_cases(db, path, CaseImportOptions(timezone="Asia/Shanghai"))
    assert report["written"] == 2
    with db.connect() as conn:
        got = conn.execute(text('SELECT reported_at, class_code FROM "case" ORDER BY reported_at')).all()
    assert [(t, c) for t, c in got] == [
        (datetime(2024, 6, 3, 1, 0, tzinfo=UTC), "0102"),
        (datetime(2024, 6, 3, 2, 30, tzinfo=UTC), "0102"),
    ]
    frame.loc[1, "reported_at"] = "yesterday at noon"
    frame.to_csv(path, index=False)
    with pytest.raises(ImportRejected) as info:
        import_cases(db, path, CaseImportOptions(timezone="Asia/Shanghai"))
    assert info.value.details["rejected"] == [{"row": 2, "reason": "reported_at is not a date-time"}]


def test_import_cases_keeps_the_callers_contact_and_refuses_a_bad_one(city, db, client, tmp_path):
    """Historical cases bring who called (optional columns): stored, answered like an intake's
    contact; a malformed phone number refuses the file, naming its row, and nothing is written."""
    from importers.cases import import_cases

    frame = pd.DataFrame(
        {
            "lon": [X0 + 0.5 * STEP, X0 + 1.5 * STEP],
            "lat": [Y0 + 0.5 * STEP, Y0 + 0.5 * STEP],
            "class": ["0102", "0102"],
            "reported_at": ["2024-06-03T09:00:00+08:00", "2024-06-03T10:30:00+08:00"],
            "contact_name": ["王芳", ""],
            "contact_phone": ["13812345678", ""],
        }
    )
    path = tmp_path / "calls.csv"
    frame.to_csv(path, index=False)
    assert import_cases(db, path)["written"] == 2
    items = client.get("/api/v1/cases", params={"limit": 5}).json()["items"]
    assert sorted(str(c["contact"]) for c in items) == sorted(
        [str({"name": "王芳", "phone": "13812345678", "email": None}), "None"]
    )
    frame.loc[1, "contact_phone"] = "call me"
    frame["reported_at"] = ["2024-06-04T09:00:00+08:00", "2024-06-04T10:30:00+08:00"]
    frame.to_csv(path, index=False)
    with pytest.raises(ImportRejected) as info:
        import_cases(db, path)
    assert [r["row"] for r in info.value.details["rejected"]] == [2]
    assert "contact_phone" in info.value.details["rejected"][0]["reason"]
    assert client.get("/api/v1/cases").json()["total"] == 2


def test_import_cases_from_parquet_and_geopackage(city, db, tmp_path):
    """The same cases from Parquet (lon/lat columns, times as timestamps) and from a GeoPackage in
    Web Mercator (points, a date-time field) get the same grids and times as from CSV."""
    from importers.cases import import_cases

    pts = [(X0 + (i % 8 + 0.5) * STEP, Y0 + (i // 8 + 0.5) * STEP) for i in range(16)]
    times = pd.date_range("2024-06-03 01:00", periods=16, freq="h", tz="UTC")
    frame = pd.DataFrame(
        {
            "no": [f"p-{i}" for i in range(16)],
            "lon": [p[0] for p in pts],
            "lat": [p[1] for p in pts],
            "class": "0102",
            "reported_at": times,
            "channel": "wechat",
        }
    )
    csv = tmp_path / "cases.csv"
    frame.assign(no=[f"c-{i}" for i in range(16)]).to_csv(csv, index=False)
    parquet = tmp_path / "cases.parquet"
    frame.to_parquet(parquet)
    gpkg = tmp_path / "cases.gpkg"
    gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]).assign(no=[f"g-{i}" for i in range(16)]),
        geometry=[Point(p) for p in pts],
        crs="EPSG:4490",
    ).to_crs(3857).to_file(gpkg)
    for path in (csv, parquet, gpkg):
        assert import_cases(db, path, CaseImportOptions(id_field="no"))["written"] == 16, path
    with db.connect() as conn:
        rows = conn.execute(
            text(
                """SELECT substr(idempotency_key, 3)::int AS i, left(idempotency_key, 1) AS src, unit_grid_code, reported_at
                   FROM "case" ORDER BY 1, 2"""
            )
        ).all()
    by_source: dict[str, list] = {}
    for i, src, grid, at in rows:
        by_source.setdefault(src, []).append((i, grid, at))
    assert set(by_source) == {"c", "p", "g"}
    assert by_source["c"] == by_source["p"] == by_source["g"]
    assert [at for _, _, at in by_source["c"]] == list(times.to_pydatetime())
    assert len({grid for _, grid, _ in by_source["c"]}) == 16 and all(by_source["c"][k][1] for k in range(16))


def test_components_are_listed_by_class_area_unit_state_and_box(city):
    c = city
    pts = {
        "1101080101000001": (X0 + 0.5 * STEP, Y0 + 0.5 * STEP),  # unit 110108001001001, west street
        "1101080102000002": (X0 + 1.5 * STEP, Y0 + 0.5 * STEP),
        "1101080201000003": (X0 + 6.5 * STEP, Y0 + 0.5 * STEP),  # east street
    }
    owners = {"1101080101000001": "WATER", "1101080102000002": "WATER", "1101080201000003": "CG"}
    for code, pt in pts.items():
        body = {"code": code, "geometry": {"type": "Point", "coordinates": list(pt)}, "owner_unit": owners[code]}
        assert c.post("/api/v1/components", json=body).status_code == 201
    c.patch("/api/v1/components/1101080102000002", json={"state": "damaged", "maintainer_unit": "CG"})

    def codes(**params):
        r = c.get("/api/v1/components", params=params)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json"), r.text
        fc = r.json()
        assert fc["numberReturned"] == len(fc["features"])
        return [f["properties"]["code"] for f in fc["features"]]

    assert codes() == sorted(pts)
    assert codes(**{"class": "0101"}) == ["1101080101000001"]
    assert codes(**{"class": "01"}) == ["1101080101000001", "1101080102000002"]
    west = c.get("/api/v1/components/1101080101000001").json()
    for level in ("unit_grid_code", "community_code", "street_code"):
        assert "1101080101000001" in codes(area=west[level])
    assert codes(area=west["street_code"]) == ["1101080101000001", "1101080102000002"]
    assert codes(area="110108") == sorted(pts)
    assert codes(resp_unit="CG") == ["1101080102000002", "1101080201000003"]  # maintainer or owner
    assert codes(state="damaged") == ["1101080102000002"]
    box = f"{X0},{Y0},{X0 + 2 * STEP},{Y0 + STEP}"
    assert codes(bbox=box) == ["1101080101000001", "1101080102000002"]
    page = c.get("/api/v1/components", params={"limit": 2}).json()
    assert page["numberMatched"] == 3 and len(page["features"]) == 2
    rest = c.get(page["links"][0]["href"]).json()
    assert [f["properties"]["code"] for f in rest["features"]] == ["1101080201000003"]
    feature = rest["features"][0]
    assert feature["geometry"]["type"] == "Point" and feature["properties"]["major_name"]
    for params, field in (({"class": "1"}, "class"), ({"area": "1101"}, "area"), ({"bbox": "1,2"}, "bbox")):
        r = c.get("/api/v1/components", params=params)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
