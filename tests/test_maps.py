"""The map pages: signed in, only the caller's area, nothing from any other host; "who is
responsible here" end to end in a real headless Chromium."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from api.app import create_app
from gis.access import accounts
from gis.registry import components, rules, units
from gis.tracks import workers
from tests.browser import chromium, live_server, screenshot, sign_in
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city

PASSWORD = "a long passphrase"
POINT = (X0 + 1.5 * STEP, Y0 + 6.5 * STEP)  # in the west street, 110108001


@pytest.fixture
def city(db):
    load_city(db, square_city())
    with db.begin() as conn:
        units.create_unit(conn, code="GOV-W", name="西街道办事处", kind="street_government", area_code="110108001")
        units.create_unit(conn, code="GOV-E", name="东街道办事处", kind="street_government", area_code="110108002")
        units.create_unit(conn, code="WATER", name="区水务局", kind="water")
        rules.create_rule(conn, class_code="0101", area_code="110108", resp_unit="WATER")
        from gis.grids.lookup import lookup_points

        grid = lookup_points(conn, [POINT[0]], [POINT[1]])[0]["unit_grid"]["code"]
        workers.create_worker(conn, worker_id="W1", name="王网格员", grids=[grid])
        components.create_component(
            conn,
            code="1101080101000001",
            geometry={"type": "Point", "coordinates": [POINT[0] + 0.0002, POINT[1]]},
            name="井盖 1 号",
            owner_unit="WATER",
            maintainer_unit="WATER",
        )
        accounts.create_user(conn, "zhao", "赵", password=PASSWORD)
        accounts.grant(conn, "zhao", "dispatcher", "110108001")
    return grid


def test_responsible_here_names_each_class_unit_inside_the_callers_area(settings, city):
    with TestClient(create_app(settings)) as c:
        west = bearer(api_key(c.app.state.engine, "dispatcher", ("110108001",)))
        found = c.get("/api/v1/lookup/responsible", params={"lon": POINT[0], "lat": POINT[1]}, headers=west).json()
        assert found["outside"] is False and found["chain"]["unit_grid"] == city
        by_class = {k["class"]: k for k in found["classes"]}
        assert by_class["0101"]["resp_unit"] == "WATER" and by_class["0101"]["unit_name"] == "区水务局"
        assert by_class["0102"]["resp_unit"] == "GOV-W" and by_class["0102"]["why"]
        east = bearer(api_key(c.app.state.engine, "dispatcher", ("110108002",)))
        other = c.get("/api/v1/lookup/responsible", params={"lon": POINT[0], "lat": POINT[1]}, headers=east).json()
        assert other == {
            "chain": dict.fromkeys(("district", "street", "community", "unit_grid")),
            "outside": True,
            "classes": [],
        }


def test_a_map_page_needs_a_session_and_loads_nothing_from_elsewhere(settings, city):
    with TestClient(create_app(settings)) as c:
        r = c.get("/maps/lookup", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/maps/lookup"
        r = c.get("/maps/playback", params={"worker": "W1", "date": "2026-01-02"}, follow_redirects=False)
        assert r.headers["location"] == "/login?next=/maps/playback%3Fworker%3DW1%26date%3D2026-01-02"
        page = c.get("/maps/lookup", headers=bearer(api_key(c.app.state.engine, "viewer", ("110108001",))))
        assert page.status_code == 200 and "谁负责这里" in page.text
        assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", page.text)
        assert "script-src 'self' 'nonce-" in page.headers["content-security-policy"]
        # every vendor file the page names is served by wangge
        for path in re.findall(r"""(?:src|href)="\.\./(static/[^"]+)""", page.text):
            assert c.get("/" + path).status_code == 200, path
        denied = c.get("/maps/lookup", headers=bearer(api_key(c.app.state.engine, "reporter")))
        assert denied.status_code == 403 and "无权访问" in denied.text


def test_who_is_responsible_here_in_chromium(settings, city):
    with live_server(settings) as base, chromium() as browser:
        sign_in(browser, base, "zhao", PASSWORD, "/maps/lookup")
        wait = WebDriverWait(browser, 15)
        wait.until(lambda b: b.current_url.endswith("/maps/lookup") and b.find_elements(By.ID, "wg-form"))
        # the grid tiles arrive (only from wangge)
        wait.until(
            lambda b: (
                b.execute_script(
                    "return performance.getEntriesByType('resource').filter(e => e.name.includes('.pbf')).length"
                )
                > 0
            )
        )
        browser.find_element(By.ID, "wg-coords").send_keys(f"{POINT[0]},{POINT[1]}")
        browser.find_element(By.CSS_SELECTOR, "#wg-form button").click()
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-lookup") == "done")
        panel = browser.find_element(By.ID, "wg-result").text
        assert city in panel and "西街道" in panel and "王网格员" in panel
        assert "区水务局" in panel and "井盖 1 号" in panel
        rows = browser.find_elements(By.CSS_SELECTOR, "#wg-responsible tbody tr")
        assert len(rows) > 10
        why = browser.find_element(By.ID, "wg-responsible").text  # why each unit, said in Chinese
        assert ("派遣规则" in why or "属地兜底" in why or "未找到" in why) and "dispatch rule" not in why
        screenshot(browser, "maps-lookup")
        # the page's GCJ-02 is gis/crs.py's; with a GCJ-02 base map a click is sent as gcj02 and the
        # API converts it back: the click on the point's GCJ-02 twin finds the same grid
        from gis.crs import wgs84_to_gcj02

        gx, gy = (float(v[0]) for v in wgs84_to_gcj02([POINT[0]], [POINT[1]]))
        assert browser.execute_script(f"return wangge.gcj02({POINT[0]}, {POINT[1]})") == pytest.approx(
            [gx, gy], abs=1e-9
        )
        browser.execute_script(
            "document.body.removeAttribute('data-lookup'); wangge.setOffset(null, {offset: 'gcj02'})"
        )
        browser.execute_script(
            "var m = Object.values(window).find(v => v instanceof L.Map);"
            f"m.fire('click', {{latlng: L.latLng({gy}, {gx})}})"
        )
        wait.until(lambda b: b.find_element(By.TAG_NAME, "body").get_attribute("data-lookup") == "done")
        assert city in browser.find_element(By.ID, "wg-result").text
        hosts = browser.execute_script(
            "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).host))]"
        )
        assert hosts == [base.split("//")[1]], hosts
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_behind_a_proxy_prefix_the_sign_in_comes_back_to_the_page(settings, city):
    with TestClient(create_app(settings), root_path="/wg") as c:
        r = c.get("/wg/maps/lookup", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/wg/login?next=/maps/lookup"
        form = c.get("/wg/login", params={"next": "/maps/lookup"})
        token = re.search(r'name="form_token" value="([^"]+)"', form.text).group(1)
        assert 'action="/wg/login"' in form.text
        signed = c.post(
            "/wg/login",
            data={"username": "zhao", "password": PASSWORD, "next": "/maps/lookup", "form_token": token},
            follow_redirects=False,
        )
        assert signed.status_code == 303 and signed.headers["location"] == "/wg/maps/lookup"


def test_the_live_map_follows_a_worker_and_acts_on_a_case_in_chromium(settings, city, db):
    import httpx

    from gis.access import devices
    from gis.cases import intake

    with db.begin() as conn:
        secret = devices.issue_secret(conn, "W1", issued_by="test")
        case, _ = intake.intake(conn, lon=POINT[0], lat=POINT[1], class_code="0102", channel="hotline")
        accounts.create_user(conn, "hall", "大厅", password=PASSWORD)
        accounts.grant(conn, "hall", "dispatcher", "110108")
    key = api_key(db, "dispatcher", ("110108",))
    # 20 m apart: a walk, not a jump (a jump is flagged and does not move the live position)
    a, b = (POINT[0] + 0.0005, POINT[1]), (POINT[0] + 0.0007, POINT[1] - 0.0001)
    with live_server(settings) as base, chromium(1600, 900) as browser, httpx.Client(base_url=base) as http:

        def fix(lon: float, lat: float) -> None:
            when = __import__("datetime").datetime.now(__import__("datetime").UTC).isoformat()
            r = http.post("/api/v1/tracks", json={"points": [{"fix_time": when, "lon": lon, "lat": lat}]},
                          headers=bearer(secret))  # fmt: skip
            assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

        fix(*a)
        sign_in(browser, base, "hall", PASSWORD, "/maps/live")
        wait = WebDriverWait(browser, 20)
        polls = "return Number(document.body && document.body.getAttribute('data-polls') || 0)"
        wait.until(lambda x: x.execute_script(polls) >= 1)
        where = "var w = wangge.live.workers['W1']; return w ? [w.getLatLng().lng, w.getLatLng().lat] : null;"
        assert browser.execute_script(where) == pytest.approx(list(a), abs=1e-6)
        assert browser.find_element(By.ID, "wg-open").text == "1"
        # a new fix moves the marker within one poll; a new case appears without a reload
        before = browser.execute_script(polls)
        fix(*b)
        r = http.post("/api/v1/cases", json={"lon": POINT[0], "lat": POINT[1] - 0.001, "class": "0101", "channel": "app"},
                      headers=bearer(key))  # fmt: skip
        assert r.status_code == 201
        wait.until(lambda x: x.execute_script(where) == pytest.approx(list(b), abs=1e-6))
        assert browser.execute_script(polls) <= before + 2  # within one poll (two, if one was under way)
        wait.until(lambda x: x.find_element(By.ID, "wg-open").text == "2")
        # open the first case from the ticker and act on it from the map
        # (the ticker is redrawn at every poll: click it in one go)
        browser.execute_script(f"document.querySelector(\"#wg-ticker li[data-case='{case['id']}']\").click()")
        wait.until(lambda x: x.find_elements(By.ID, "wg-case"))
        assert f"#{case['id']}" in browser.find_element(By.ID, "wg-case").text
        assert "派遣依据" in browser.find_element(By.ID, "wg-detail").text
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(By.ID, "wg-action")).select_by_value("supervise")
        browser.find_element(By.ID, "wg-note").send_keys("请尽快处理")
        browser.find_element(By.CSS_SELECTOR, "#wg-act button").click()
        wait.until(lambda x: "请尽快处理" in x.find_element(By.ID, "wg-detail").text)
        history = http.get(f"/api/v1/cases/{case['id']}/history", headers=bearer(key)).json()
        assert history[-1]["action"] == "supervise" and history[-1]["actor"].startswith("user:")
        # a worker's track
        browser.execute_script("wangge.live.workers['W1'].fire('click')")
        wait.until(lambda x: x.find_elements(By.ID, "wg-track"))
        screenshot(browser, "maps-live")
        hosts = browser.execute_script(
            "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).host))]"
        )
        assert hosts == [base.split("//")[1]], hosts
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_playback_runs_over_time_to_the_last_fix_in_chromium(settings, city, db):
    from datetime import UTC, datetime, timedelta

    from gis.dates import CHINA
    from gis.tracks import ingest

    start = datetime.now(UTC) - timedelta(minutes=30)
    fixes = [
        {"worker_id": "W1", "fix_time": (start + timedelta(seconds=30 * i)).isoformat(),
         "lon": POINT[0] + 0.0002 * i, "lat": POINT[1]}  # a walk of 20 m every 30 s
        for i in range(20)
    ]  # fmt: skip
    with db.begin() as conn:
        assert ingest.ingest(conn, fixes).accepted == 20
    day = (start + timedelta(seconds=30 * 19)).astimezone(CHINA).date().isoformat()
    with live_server(settings) as base, chromium(1600, 900) as browser:
        sign_in(browser, base, "zhao", PASSWORD, f"/maps/playback?worker=W1&date={day}")
        wait = WebDriverWait(browser, 20)
        wait.until(
            lambda x: x.execute_script("return document.body && document.body.getAttribute('data-loaded')") == "1"
        )
        assert "巡查里程" in browser.find_element(By.ID, "wg-figures").text
        # the slider runs over time: from the first fix to the last, in milliseconds
        span = browser.execute_script("return wangge.playback.end() - Number(document.getElementById('wg-slider').min)")
        assert span == 19 * 30 * 1000
        from selenium.webdriver.support.ui import Select

        Select(browser.find_element(By.ID, "wg-speed")).select_by_value("60")
        browser.find_element(By.ID, "wg-play").click()
        wait.until(lambda x: x.execute_script("return document.body.getAttribute('data-playback')") == "end")
        at = browser.execute_script("var m = wangge.playback.loaded[0].marker.getLatLng(); return [m.lng, m.lat]")
        assert at == pytest.approx([fixes[-1]["lon"], fixes[-1]["lat"]], abs=1e-5)
        screenshot(browser, "maps-playback")
        hosts = browser.execute_script(
            "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).host))]"
        )
        assert hosts == [base.split("//")[1]], hosts
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_the_live_cases_are_the_callers_street_only_and_changes_come_with_since(settings, city, db):
    from gis.cases import intake

    with db.begin() as conn:
        west, _ = intake.intake(conn, lon=POINT[0], lat=POINT[1], class_code="0102", channel="hotline")
        east, _ = intake.intake(conn, lon=X0 + 6.5 * STEP, lat=Y0 + 6.5 * STEP, class_code="0102", channel="hotline")
    with TestClient(create_app(settings)) as c:
        street = bearer(api_key(c.app.state.engine, "dispatcher", ("110108001",)))
        first = c.get("/api/v1/cases-live", headers=street).json()
        assert first["complete"] and [x["id"] for x in first["cases"]] == [west["id"]]
        # (next_since reaches a second back, so a slow commit is not missed: a case may come twice)
        again = c.get("/api/v1/cases-live", params={"since": first["next_since"]}, headers=street).json()
        assert {x["id"] for x in again["cases"]} <= {west["id"]}
        acted = c.post(f"/api/v1/cases/{west['id']}/actions", json={"action": "supervise"}, headers=street)
        assert acted.status_code == 200
        changed = c.get("/api/v1/cases-live", params={"since": first["next_since"]}, headers=street).json()
        assert [x["id"] for x in changed["cases"]] == [west["id"]] and not changed["complete"]
        assert east["id"] not in {x["id"] for x in c.get("/api/v1/cases-live", headers=street).json()["cases"]}


def test_a_gcj02_base_map_is_configuration_and_its_host_the_only_other_one(settings, city):
    amap = settings.model_copy(
        update={
            "basemap": "xyz",
            "basemap_url": "http://tiles.intranet:8080/amap/{z}/{x}/{y}.png",
            "basemap_attribution": "© 高德",
            "basemap_offset": "gcj02",
        }
    )
    with TestClient(create_app(amap)) as c:
        page = c.get("/maps/lookup", headers=bearer(api_key(c.app.state.engine, "viewer")))
        assert page.status_code == 200
        assert ".pbf?offset=gcj02" in page.text and "tiles.intranet:8080/amap/" in page.text
        assert '"offset": "gcj02"' in page.text  # the page shifts what it draws and sends clicks as gcj02
        assert "img-src 'self' data: blob: http://tiles.intranet:8080;" in page.headers["content-security-policy"]
        hosts = set(re.findall(r"https?://([^/\"']+)", page.text))
        assert hosts <= {"tiles.intranet:8080"}, hosts
    with TestClient(create_app(settings)) as c:  # no base map by default: nothing foreign at all
        page = c.get("/maps/lookup", headers=bearer(api_key(c.app.state.engine, "viewer")))
        assert not re.findall(r"https?://", page.text) and "offset=gcj02" not in page.text


@pytest.fixture
def seasons(db):
    """Cases of 2025 in the two streets: 6 in January and 5 in July in the west, 2 in July in the
    east; and 1 in the west in July 2024 (for 同比)."""
    from datetime import datetime

    from gis.cases import intake
    from gis.dates import CHINA

    load_city(db, square_city(), valid_from=datetime(2020, 1, 1, tzinfo=CHINA))  # grids in force then
    east = (X0 + 6.5 * STEP, Y0 + 6.5 * STEP)
    plan = [
        (POINT, 2025, 1, 6, "0101"),
        (POINT, 2025, 7, 5, "0102"),
        (east, 2025, 7, 2, "0102"),
        (POINT, 2024, 7, 1, "0102"),
    ]
    with db.begin() as conn:
        for (lon, lat), year, month, n, cls in plan:
            for i in range(n):
                at = datetime(year, month, 10 + i, 9, tzinfo=CHINA)
                intake.intake(conn, lon=lon, lat=lat, class_code=cls, channel="hotline", reported_at=at)
    return db


def test_case_heat_counts_per_grid_by_season_with_a_comparison(settings, seasons):
    year = {"from": "2025-01-01T00:00:00+08:00", "to": "2026-01-01T00:00:00+08:00"}
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(c.app.state.engine, "planner"))
        r = c.get("/api/v1/cases-heat", params={**year, "level": "street"}, headers=planner).json()
        assert {g["code"]: g["count"] for g in r["groups"]} == {"110108001": 11, "110108002": 2}
        assert r["breaks"][:3] == [1, 5, 10] and r["total"] == 13
        summer = c.get("/api/v1/cases-heat", params={**year, "months": "6,7,8"}, headers=planner).json()
        assert {g["code"]: g["count"] for g in summer["groups"]} == {"110108001": 5, "110108002": 2}
        yoy = c.get("/api/v1/cases-heat", params={**year, "months": "7", "compare": "yoy"}, headers=planner).json()
        west = next(g for g in yoy["groups"] if g["code"] == "110108001")
        assert (west["count"], west["base"], west["diff"]) == (5, 1, 4) and yoy["base_total"] == 1
        one = c.get("/api/v1/cases-heat", params={**year, "class": "0101", "level": "unit_grid"}, headers=planner)
        assert [g["count"] for g in one.json()["groups"]] == [6]
        series = c.get("/api/v1/cases-heat/110108001", params=year, headers=planner).json()
        assert series["months"] == [{"month": "2025-01", "count": 6}, {"month": "2025-07", "count": 5}]
        assert [(t["class"], t["count"]) for t in series["top_classes"]] == [("0101", 6), ("0102", 5)]
        bad = c.get("/api/v1/cases-heat", params={"months": "13"}, headers=planner)
        assert bad.status_code == 400 and bad.json()["field"] == "months"
        # a street's planner: only its street, and the other street's grid is missing
        street = bearer(api_key(c.app.state.engine, "planner", ("110108001",)))
        mine = c.get("/api/v1/cases-heat", params=year, headers=street).json()
        assert [g["code"] for g in mine["groups"]] == ["110108001"]
        assert c.get("/api/v1/cases-heat/110108002", params=year, headers=street).status_code == 404


def test_the_heatmap_keeps_a_count_s_colour_across_seasons_in_chromium(settings, seasons, db):
    with db.begin() as conn:
        accounts.create_user(conn, "wu", "吴规划", password=PASSWORD)
        accounts.grant(conn, "wu", "planner")
    with live_server(settings) as base, chromium(1600, 900) as browser:
        sign_in(browser, base, "wu", PASSWORD, "/maps/heat")
        wait = WebDriverWait(browser, 20)
        heat = "return Number(document.body && document.body.getAttribute('data-heat') || 0)"
        wait.until(lambda x: x.execute_script(heat) >= 1)
        browser.execute_script(
            "const f = document.getElementById('wg-heat'); f.from.value = '2025-01-01'; f.to.value = '2025-12-31';"
            "f.requestSubmit()"
        )
        wait.until(lambda x: x.execute_script(heat) >= 2)
        colour = "return wangge.heat.colourOf(arguments[0])"
        whole_year = (browser.execute_script(colour, "110108001"), browser.execute_script(colour, "110108002"))
        assert "共 13 件" in browser.find_element(By.ID, "wg-heat-status").text
        browser.execute_script(
            "const f = document.getElementById('wg-heat'); f.season.value = 'summer'; f.requestSubmit()"
        )
        wait.until(lambda x: x.execute_script(heat) >= 3)
        assert "共 7 件" in browser.find_element(By.ID, "wg-heat-status").text  # the season changes the counts
        summer = (browser.execute_script(colour, "110108001"), browser.execute_script(colour, "110108002"))
        assert summer[1] == whole_year[1]  # the east street's 2 cases: the same colour in both views
        assert summer[0] != whole_year[0]  # the west's 11 became 5: another class of the fixed scale
        # the case points: the case tiles under the same filters (the season too)
        browser.execute_script(
            "const f = document.getElementById('wg-heat'); f.cells.checked = true; f.requestSubmit()"
        )
        wait.until(lambda x: x.execute_script(heat) >= 4)
        cases_tiles = (
            "return performance.getEntriesByType('resource').some(e => e.name.includes('/tiles/cases/')"
            " && e.name.includes('months=6,7,8'))"
        )
        wait.until(lambda x: x.execute_script(cases_tiles))
        browser.execute_script("wangge.heat.open('110108001', '西街道')")
        wait.until(lambda x: x.execute_script("return document.body.getAttribute('data-chart')") == "110108001")
        screenshot(browser, "maps-heat")
        hosts = browser.execute_script(
            "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).host))]"
        )
        assert hosts == [base.split("//")[1]], hosts
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_the_editor_checks_and_saves_a_new_version_that_the_lookup_follows_in_chromium(settings, city, db):
    import httpx

    code = "110108001001001"
    with db.begin() as conn:
        accounts.create_user(conn, "li", "李网格管理员", password=PASSWORD)
        accounts.grant(conn, "li", "grid_admin", "110108001")
    key = api_key(db, "viewer")
    with live_server(settings) as base, chromium(1600, 900) as browser, httpx.Client(base_url=base) as http:
        import shapely.geometry

        old = http.get(f"/api/v1/grids/{code}", headers=bearer(key)).json()
        before_bounds = shapely.geometry.shape(old["geometry"]).bounds
        sign_in(browser, base, "li", PASSWORD, "/maps/editor")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda x: x.find_elements(By.ID, "wg-pick"))
        browser.find_element(By.ID, "wg-code").send_keys(code)
        browser.find_element(By.CSS_SELECTOR, "#wg-pick button").click()
        attr = "return document.body && document.body.getAttribute(arguments[0])"
        wait.until(lambda x: x.execute_script(attr, "data-loaded") == code)
        wait.until(lambda x: x.execute_script(attr, "data-versions") == "1")
        # the grid admin pulls the grid's boundary in by a fifth (as dragging its vertices would)
        browser.execute_script(
            "const l = wangge.editor.layer(), c = l.getBounds().getCenter();"
            "l.setLatLngs(l.getLatLngs().map(ring => (Array.isArray(ring[0]) ? ring : [ring]).map(r =>"
            "  r.map(p => L.latLng(c.lat + (p.lat - c.lat) * 0.8, c.lng + (p.lng - c.lng) * 0.8)))[0]));"
        )
        browser.find_element(By.ID, "wg-check").click()
        wait.until(lambda x: x.execute_script(attr, "data-report") == "checked")
        assert "检查通过" in browser.find_element(By.ID, "wg-verdict").text
        wait.until(lambda x: x.find_elements(By.ID, "wg-impact"))
        assert "在办工单移出" in browser.find_element(By.ID, "wg-impact").text
        assert http.get(f"/api/v1/grids/{code}/versions", headers=bearer(key)).json()["features"].__len__() == 1
        browser.find_element(By.ID, "wg-save").click()
        wait.until(lambda x: x.execute_script(attr, "data-report") == "saved")
        wait.until(lambda x: x.execute_script(attr, "data-versions") == "2")
        screenshot(browser, "maps-editor")
        # the lookup follows the new boundary at once: a point in the strip given up is in no unit grid
        minx, miny, _, maxy = before_bounds
        edge = http.get(
            "/api/v1/lookup", params={"lon": minx + 0.02 * STEP, "lat": (miny + maxy) / 2}, headers=bearer(key)
        )
        assert edge.json()["unit_grid"] is None and edge.json()["community"]["code"] == code[:12]
        # a grid of the other street is not this admin's to load
        browser.execute_script("document.body.removeAttribute('data-loaded'); wangge.editor.load('110108002001001')")
        wait.until(lambda x: "没有" in x.find_element(By.ID, "wg-report").text)
        errors = [
            e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "110108002001001" not in e["message"]
        ]
        assert not errors, errors


def test_the_editor_moves_a_shared_corner_with_its_neighbours_splits_merges_and_draws_in_chromium(settings, city, db):
    """A vertex dragged with the mouse (leaflet-geoman's own events) that three neighbours share:
    the page offers to move theirs too and saves the four together, leaving no gap or overlap;
    then a split by a line, the piece merged back, a new grid drawn in a hole, a past day shown."""
    import httpx
    from selenium.webdriver.common.action_chains import ActionChains

    code = "110108001001001"  # the city's north-west corner; its south-east corner is shared by four
    with db.begin() as conn:
        accounts.create_user(conn, "li", "李网格管理员", password=PASSWORD)
        accounts.grant(conn, "li", "grid_admin", "110108001")
    key = bearer(api_key(db, "viewer"))
    attr = "return document.body && document.body.getAttribute(arguments[0])"
    with live_server(settings) as base, chromium(1600, 900) as browser, httpx.Client(base_url=base) as http:
        sign_in(browser, base, "li", PASSWORD, "/maps/editor")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda x: x.find_elements(By.ID, "wg-pick"))
        browser.execute_script(f"wangge.editor.load('{code}')")
        wait.until(lambda x: x.execute_script(attr, "data-loaded") == code)
        wait.until(lambda x: int(x.execute_script(attr, "data-neighbours") or 0) >= 3)
        # the unit grids' names are written on the map at this zoom
        wait.until(lambda x: int(x.execute_script(attr, "data-labels") or 0) >= 4)
        assert "网格1" in browser.execute_script(
            "return [...document.querySelectorAll('.wg-grid-label')].map(e => e.textContent)"
        )
        # the corner's place on the screen, then a real drag of its vertex marker, 60 px east
        px, py, w, h = browser.execute_script(
            "const m = wangge.map || Object.values(window).find(v => v instanceof L.Map);"
            "const ll = wangge.editor.layer().getLatLngs().flat(3).reduce((a, p) => (p.lng - p.lat > a.lng - a.lat ? p : a));"
            "const p = m.latLngToContainerPoint(ll), s = m.getSize(); return [p.x, p.y, s.x, s.y];"
        )
        box = browser.find_element(By.CSS_SELECTOR, ".folium-map")
        drag = ActionChains(browser).move_to_element_with_offset(box, int(px - w / 2), int(py - h / 2)).click_and_hold()
        for _ in range(6):
            drag = drag.move_by_offset(10, 0).pause(0.05)
        drag.release().perform()
        wait.until(lambda x: len(x.execute_script("return wangge.editor.moves()")) == 1)
        browser.find_element(By.ID, "wg-check").click()
        wait.until(lambda x: x.execute_script(attr, "data-report") == "checked")
        offered = [e.get_attribute("value") for e in browser.find_elements(By.CSS_SELECTOR, "#wg-follow input")]
        assert sorted(offered) == ["110108001001002", "110108001001005", "110108001001006"], offered
        assert browser.execute_script(attr, "data-findings") == "0"  # moved together: no gap, no overlap
        screenshot(browser, "maps-editor-shared-edge")
        browser.find_element(By.ID, "wg-save").click()
        wait.until(lambda x: x.execute_script(attr, "data-report") == "saved")
        for c in (code, *offered):
            assert len(http.get(f"/api/v1/grids/{c}/versions", headers=key).json()["features"]) == 2, c
        checked = http.get("/api/v1/validation", params={"level": "unit_grid"}, headers=bearer(api_key(db, "admin")))
        assert checked.json()["ok"] is True, checked.text

        # split by a line across the grid (drawn as leaflet-geoman hands it over), then confirm
        browser.execute_script(
            "wangge.editor.split(); const b = wangge.editor.layer().getBounds(), y = b.getCenter().lat;"
            "const line = L.polyline([[y, b.getWest() - 0.001], [y, b.getEast() + 0.001]]);"
            "const m = Object.values(window).find(v => v instanceof L.Map); line.addTo(m);"
            "m.fire('pm:create', {layer: line, shape: 'Line'})"
        )
        wait.until(lambda x: x.execute_script(attr, "data-report") == "checked")
        assert "110108001001017" in browser.find_element(By.ID, "wg-report").text
        browser.find_element(By.ID, "wg-confirm").click()
        wait.until(lambda x: x.execute_script(attr, "data-report") == "saved")
        assert http.get("/api/v1/grids/110108001001017", headers=key).status_code == 200
        # merge the piece back: picked among the neighbours, checked, confirmed
        wait.until(
            lambda x: "110108001001017" in x.execute_script("return wangge.editor.neighbours().map(n => n.code)")
        )
        browser.execute_script("wangge.editor.merge(); wangge.editor.pick('110108001001017')")
        wait.until(lambda x: x.execute_script(attr, "data-report") == "checked")
        browser.find_element(By.ID, "wg-confirm").click()
        wait.until(lambda x: x.execute_script(attr, "data-report") == "saved")
        assert http.get("/api/v1/grids/110108001001017", headers=key).status_code == 404
        # a past day: the grid did not exist before the city was loaded
        browser.execute_script(
            "const i = document.getElementById('wg-asof'); i.value = '2020-01-01'; i.dispatchEvent(new Event('change'))"
        )
        wait.until(lambda x: x.execute_script(attr, "data-asof") == "none")
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "?at=2020" not in e["message"]]
        assert not errors, errors


def test_the_impact_of_a_new_boundary_lists_what_changes_hands(settings, city, db):
    import shapely.geometry

    from gis.cases import intake

    code = "110108001001001"
    with TestClient(create_app(settings)) as c:
        admin = bearer(api_key(c.app.state.engine, "grid_admin", ("110108001",)))
        old = c.get(f"/api/v1/grids/{code}", headers=admin).json()
        grid = shapely.geometry.shape(old["geometry"])
        minx, miny, maxx, maxy = grid.bounds
        with db.begin() as conn:  # one open case in the strip the grid gives up, one in its middle
            edge, _ = intake.intake(
                conn, lon=minx + 0.02 * STEP, lat=(miny + maxy) / 2, class_code="0102", channel="app"
            )
            middle, _ = intake.intake(
                conn, lon=(minx + maxx) / 2, lat=(miny + maxy) / 2, class_code="0102", channel="app"
            )
        smaller = shapely.affinity.scale(grid, 0.8, 0.8)
        r = c.post(f"/api/v1/grids/{code}/impact", json={"type": "Feature", "geometry": shapely.geometry.mapping(smaller)},
                   headers=admin)  # fmt: skip
        assert r.status_code == 200, r.text
        found = r.json()
        assert found["cases_leaving"] == {"count": 1, "ids": [str(edge["id"])]}
        assert found["cases_joining"]["count"] == 0 and found["workers"] == []
        bigger = shapely.affinity.scale(grid, 1.2, 1.2)  # it would take in a strip of its neighbours
        grown = c.post(f"/api/v1/grids/{code}/impact", json=shapely.geometry.mapping(bigger), headers=admin).json()
        assert grown["cases_leaving"]["count"] == 0 and str(middle["id"]) not in grown["cases_joining"]["ids"]
        east = c.post("/api/v1/grids/110108002001001/impact", json=shapely.geometry.mapping(bigger), headers=admin)
        assert east.status_code == 404
        point = c.post(f"/api/v1/grids/{code}/impact", json={"type": "Point", "coordinates": [X0, Y0]}, headers=admin)
        assert point.status_code == 400 and point.json()["field"] == "geometry"
