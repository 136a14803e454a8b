"""Getis-Ord Gi* (issue 15, part 2): a z-score computed by hand on a 3×3 lattice; a planted hot
block found on a 50×50 lattice and a null lattice without false positives after FDR; the stored
queen weights; the API and the command line on a real city."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.analytics.emerging import CATEGORIES
from gis.analytics.hotspots import bins, gi_star, p_two_sided
from gis.cases import intake
from gis.cases.counts import CHINA
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city


def queen(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (both ways) of a rows × cols lattice sharing an edge or a corner."""
    i, j = [], []
    for r in range(rows):
        for c in range(cols):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if (dr or dc) and 0 <= r + dr < rows and 0 <= c + dc < cols:
                        i.append(r * cols + c)
                        j.append((r + dr) * cols + c + dc)
    return np.array(i), np.array(j)


def test_gi_star_by_hand_on_a_3x3_lattice():
    # 1 2 3 / 4 5 6 / 7 8 9; the top-left cell: itself and its neighbours 2, 4, 5
    x = np.arange(1, 10, dtype=float)
    n, mean = 9, 5.0
    s = math.sqrt((1 + 4 + 9 + 16 + 25 + 36 + 49 + 64 + 81) / n - mean**2)  # √(285/9 − 25) = 2.58199
    w = 4  # self + 3
    by_hand = ((1 + 2 + 4 + 5) - mean * w) / (s * math.sqrt((n * w - w**2) / (n - 1)))  # −8 / 4.08248
    assert by_hand == pytest.approx(-1.959592, abs=1e-6)
    z = gi_star(x, *queen(3, 3))
    assert z[0] == pytest.approx(by_hand, abs=1e-12)
    assert z[8] == pytest.approx(-by_hand, abs=1e-12)  # the bottom-right mirrors it
    assert z[4] == 0.0  # the centre sees all nine: no contrast (0 / 0 is reported as 0)
    assert p_two_sided(np.array([1.959964]))[0] == pytest.approx(0.05, abs=1e-6)


def test_a_planted_hot_block_is_found_and_a_null_lattice_gives_no_false_positive():
    rng = np.random.default_rng(15)
    i, j = queen(50, 50)
    x = rng.poisson(5, 2500).astype(float)
    block = [(r * 50 + c) for r in range(20, 26) for c in range(30, 36)]  # 6 × 6
    x[block] = rng.poisson(12, len(block))
    z = gi_star(x, i, j)
    b = bins(z, p_two_sided(z), fdr=True)
    assert (b[block] >= 2).mean() >= 0.9  # hot at 95 % after FDR
    null = rng.poisson(5, 2500).astype(float)
    zn = gi_star(null, i, j)
    bn = bins(zn, p_two_sided(zn), fdr=True)
    assert (np.abs(bn) >= 2).mean() <= 0.005
    # without the correction, the null lattice shows the expected chance hits: FDR is doing the work
    assert (np.abs(bins(zn, p_two_sided(zn), fdr=False)) >= 2).mean() > 0.01


@pytest.fixture
def hot_corner(db):
    """Cases of summer 2024: 12 in each of the four north-west unit grids, 1 in every other one."""
    load_city(db, square_city(), valid_from=datetime(2020, 1, 1, tzinfo=CHINA))
    hot = {(0, 7), (1, 7), (0, 6), (1, 6)}
    with db.begin() as conn:
        for col in range(8):
            for row in range(8):
                for k in range(12 if (col, row) in hot else 1):
                    at = datetime(2024, 7, 1 + k, 10, tzinfo=CHINA)
                    lon, lat = X0 + (col + 0.5) * STEP, Y0 + (row + 0.5) * STEP
                    intake.intake(conn, lon=lon, lat=lat, class_code="0101", channel="app", reported_at=at)
    return db


def test_hotspots_on_the_stored_lattice_through_the_api_and_the_command_line(settings, hot_corner, tmp_path):
    with hot_corner.connect() as conn:  # queen weights stored when the grids were written
        corner = conn.execute(
            text("""SELECT count(*) FROM grid_neighbour n JOIN grid g ON g.id = n.grid_id
                    WHERE g.code = '110108001001001'""")
        ).scalar_one()
        inner = conn.execute(
            text("""SELECT count(*) FROM grid_neighbour n JOIN grid g ON g.id = n.grid_id
                    WHERE g.code = '110108001001006'""")
        ).scalar_one()
    assert (corner, inner) == (3, 8)
    summer = {"season": "summer", "year": 2024}
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(hot_corner, "planner"))
        r = c.get("/api/v1/analytics/hotspots", params=summer, headers=planner)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json", r.text
        body = r.json()
        assert len(body["features"]) == 64 and body["total"] == 60 + 48 and body["fdr"] is True
        by = {f["properties"]["code"]: f["properties"] for f in body["features"]}
        assert by["110108001001001"]["gi_bin"] >= 2 and by["110108001001001"]["neighbours"] == 3
        assert by["110108002002016"]["gi_bin"] <= 0  # the far corner is no hot spot
        assert body["features"][0]["geometry"]["type"] == "MultiPolygon"
        assert body["boundaries_at"].startswith("2024-08-31T")
        # the same numbers as computed here from the counts and the lattice
        r = c.get("/api/v1/analytics/hotspots", params={**summer, "format": "csv"}, headers=planner)
        assert r.text.lstrip("\ufeff").splitlines()[0] == "code,name,count,gi_z,gi_p,gi_bin,neighbours,lon,lat"
        # kept per filter set, reach and data version: asked again, not computed again; a new case
        # in the period is a new version
        from gis.analytics import cache

        hits = cache.results.hits
        again = c.get("/api/v1/analytics/hotspots", params=summer, headers=planner).json()
        assert cache.results.hits == hits + 1 and again["total"] == body["total"]
        with hot_corner.begin() as conn:
            intake.intake(conn, lon=X0 + 0.5 * STEP, lat=Y0 + 7.5 * STEP, class_code="0101", channel="app",
                          reported_at=datetime(2024, 7, 20, tzinfo=CHINA))  # fmt: skip
        fresh = c.get("/api/v1/analytics/hotspots", params=summer, headers=planner).json()
        assert cache.results.hits == hits + 1 and fresh["total"] == body["total"] + 1
        # a GeoPackage for GIS staff: the same grids, in CGCS2000
        r = c.get("/api/v1/analytics/hotspots", params={**summer, "format": "gpkg"}, headers=planner)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geopackage+sqlite3"
        (tmp_path / "h.gpkg").write_bytes(r.content)
        import pyogrio

        gpkg = pyogrio.read_dataframe(tmp_path / "h.gpkg", layer="hotspots")
        assert len(gpkg) == 64 and gpkg.crs.to_epsg() == 4490 and {"gi_z", "gi_bin", "count"} <= set(gpkg.columns)
        # a street's planner: the lattice is their street
        west = bearer(api_key(hot_corner, "planner", ("110108001",)))
        mine = c.get("/api/v1/analytics/hotspots", params=summer, headers=west).json()
        assert len(mine["features"]) == 32
        assert c.get("/api/v1/analytics/hotspots", params={"level": "x"}, headers=planner).status_code in (400, 422)
    from tests.test_cli import wangge

    out = tmp_path / "summer.geojson"
    p = wangge(settings, "analytics", "hotspots", "--season", "summer", "--year", "2024", "--output", str(out))
    assert p.returncode == 0, p.stderr
    import json

    cli = json.loads(out.read_text(encoding="utf-8"))
    p = wangge(
        settings, "analytics", "hotspots", "--season", "summer", "--year", "2024", "--output", str(tmp_path / "s.gpkg")
    )
    assert p.returncode == 0 and (tmp_path / "s.gpkg").stat().st_size > 0, p.stderr
    p = wangge(
        settings, "analytics", "counts", "--season", "summer", "--year", "2024", "--output", str(tmp_path / "c.gpkg")
    )
    assert p.returncode == 2 and "output" in p.stderr
    assert {f["properties"]["code"]: f["properties"]["gi_z"] for f in cli["features"]} == {
        f["properties"]["code"]: f["properties"]["gi_z"] for f in fresh["features"]
    }  # (the answer after the last case was added)


def test_the_hotspots_page_draws_the_bins_in_chromium(settings, hot_corner):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from gis.access import accounts
    from tests.browser import chromium, live_server, screenshot, sign_in

    with hot_corner.begin() as conn:
        accounts.create_user(conn, "hu", "胡规划", password="a long passphrase")
        accounts.grant(conn, "hu", "planner")
    with live_server(settings) as base, chromium(1600, 900) as browser:
        sign_in(browser, base, "hu", "a long passphrase", "/maps/hotspots")
        wait = WebDriverWait(browser, 20)
        hot = "return Number(document.body && document.body.getAttribute('data-hot') || 0)"
        wait.until(lambda x: x.execute_script(hot) >= 1)
        browser.execute_script(
            "const f = document.getElementById('wg-hot'); f.season.value = 'summer'; f.year.value = '2024'; f.requestSubmit()"
        )
        wait.until(lambda x: x.execute_script(hot) >= 2)
        assert browser.execute_script("return wangge.hot.binOf('110108001001001')") >= 2
        assert "热点" in browser.find_element(By.ID, "wg-hot-status").text
        browser.execute_script("wangge.hot.open('110108001001001', '网格1')")
        wait.until(lambda x: x.execute_script("return document.body.getAttribute('data-chart')") == "110108001001001")
        assert "Gi* z" in browser.find_element(By.ID, "wg-hot-title").text
        screenshot(browser, "maps-hotspots")
        # the same answer as files, downloaded with the session
        fetch = (
            "const a = document.querySelector('#wg-hot-export a[data-format=\"' + arguments[0] + '\"]');"
            "return fetch(a.href).then(r => r.text().then(t => [r.status, r.headers.get('content-type'), a.href, t.slice(0, 80)]))"
        )
        status, kind, url, _ = browser.execute_script(fetch, "gpkg")
        assert status == 200 and kind == "application/geopackage+sqlite3" and "season=summer" in url, (
            status,
            kind,
            url,
        )
        # the printable A4 report of the same analysis
        href = browser.find_element(By.ID, "wg-hot-report").get_attribute("href")
        assert "season=summer" in href and "year=2024" in href
        browser.get(href)
        wait.until(lambda x: x.find_elements(By.ID, "wg-report"))
        report = browser.find_element(By.ID, "wg-report").text
        assert "热点分析报告" in report and "110108001001001" in report and "12月" in report
        assert len(browser.find_elements(By.CSS_SELECTOR, "svg.map path")) == 64
        screenshot(browser, "maps-hotspots-report")
        browser.back()
        wait.until(lambda x: x.execute_script(hot) >= 1)
        # 时空模式: the emerging categories of the 36 months to the end of 2024
        browser.execute_script(
            "const f = document.getElementById('wg-hot'); f.mode.value = 'emerging'; f.season.value = ''; f.requestSubmit()"
        )
        wait.until(lambda x: x.execute_script(hot) >= 2)
        assert browser.execute_script("return wangge.hot.categoryOf('110108001001001')") in CATEGORIES
        assert "36 个时段" in browser.find_element(By.ID, "wg-hot-status").text
        status, kind, url, head = browser.execute_script(fetch, "csv")
        assert (
            status == 200 and "/analytics/emerging?" in url and head.lstrip("\ufeff").startswith("code,name,category")
        )
        hosts = browser.execute_script(
            "return [...new Set(performance.getEntriesByType('resource').map(e => new URL(e.name).host))]"
        )
        assert hosts == [base.split("//")[1]], hosts
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


def test_permutation_inference_finds_the_planted_block_and_no_false_positive():
    from gis.analytics.hotspots import pseudo_p

    rng = np.random.default_rng(15)  # the analytic test's lattice
    i, j = queen(50, 50)
    x = rng.poisson(5, 2500).astype(float)
    block = [(r * 50 + c) for r in range(20, 26) for c in range(30, 36)]
    x[block] = rng.poisson(12, len(block))
    p, side = pseudo_p(x, i, j, 9_999, seed=1)
    assert p.min() >= 1 / 10_000 and p.max() <= 1.0  # (ties count on both sides: a middle value may pass a half)
    b = bins(side.astype(float), p, fdr=True)
    assert (b[block] >= 2).mean() >= 0.9
    # the two inferences agree: the same side, and the same cells hot at 95 % but for a few
    z = gi_star(x, i, j)
    strong = np.abs(z) > 1
    assert np.all(side[strong] == np.sign(z[strong]))
    analytic = bins(z, p_two_sided(z), fdr=True)
    assert ((analytic >= 2) == (b >= 2)).mean() >= 0.99
    null = rng.poisson(5, 2500).astype(float)
    pn, sn = pseudo_p(null, i, j, 9_999, seed=2)
    assert (np.abs(bins(sn.astype(float), pn, fdr=True)) >= 2).mean() <= 0.005
    again, _ = pseudo_p(null, i, j, 9_999, seed=2)
    assert np.array_equal(again, pn)  # a seed repeats the answer
    # sparse counts (most grids none, as rural unit grids): ties are not significance
    sparse = rng.poisson(0.2, 2500).astype(float)
    ps, ss = pseudo_p(sparse, i, j, 9_999, seed=3)
    assert (np.abs(bins(ss.astype(float), ps, fdr=True)) >= 1).mean() <= 0.005
    # two cells, each the other's only neighbour (two islands): an answer, at once
    p2, s2 = pseudo_p(np.array([3.0, 1.0]), np.array([0, 1]), np.array([1, 0]), 9_999, seed=4)
    assert p2.tolist() == [1.0, 1.0] and s2.tolist() == [0, 0]  # (every draw is the one other value)
    lone, _ = pseudo_p(np.array([3.0, 1.0, 2.0]), np.array([0, 1]), np.array([1, 0]), 9_999, seed=5)
    assert lone[2] == 1.0  # a cell with no neighbour: never significant


def test_permutations_through_the_api_and_their_bounds(settings, hot_corner):
    summer = {"season": "summer", "year": 2024, "format": "json"}
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(hot_corner, "planner"))
        r = c.get("/api/v1/analytics/hotspots", params={**summer, "permutations": 9999, "seed": 3}, headers=planner)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["inference"] == "9999 permutations"
        by = {g["code"]: g for g in body["grids"]}
        assert by["110108001001001"]["gi_bin"] >= 2 and by["110108001001001"]["gi_p"] <= 0.01
        # 999 permutations cannot reach significance among many cells after FDR: refused, naming the field
        r = c.get("/api/v1/analytics/hotspots", params={**summer, "permutations": 999}, headers=planner)
        assert r.status_code == 400 and r.json()["field"] == "permutations", r.text
        r = c.get("/api/v1/analytics/hotspots", params={**summer, "permutations": 10**6}, headers=planner)
        assert r.status_code in (400, 422)


def test_cases_of_a_grid_split_within_the_period_are_counted_where_they_lie(settings, hot_corner, tmp_path):
    """Five cases reported in July near the east edge of a grid split on 1 August: in summer's
    hot spots and in the monthly emerging series they count in the new piece, not the kept code."""
    from importers.core import split_grid

    lon, lat = X0 + 3.9 * STEP, Y0 + 3.5 * STEP
    with hot_corner.begin() as conn:
        for d in range(5):
            intake.intake(conn, lon=lon, lat=lat, class_code="0101", channel="app",
                          reported_at=datetime(2024, 7, 15 + d, tzinfo=CHINA))  # fmt: skip
        old = conn.execute(
            text("""SELECT unit_grid_code FROM "case" WHERE reported_at = :t"""),
            {"t": datetime(2024, 7, 15, tzinfo=CHINA)},
        ).scalar_one()
    cut = {
        "type": "LineString",
        "coordinates": [[X0 + 3.75 * STEP, Y0 + 3 * STEP - 1e-4], [X0 + 3.75 * STEP, Y0 + 4 * STEP + 1e-4]],
    }
    report = split_grid(hot_corner, old, cut, valid_from=datetime(2024, 8, 1, tzinfo=CHINA), tolerance_m=1.0)
    assert report.written == 2, report
    with hot_corner.connect() as conn:
        new = conn.execute(
            text("SELECT code FROM grid WHERE attrs->>'split_from' = :c AND valid_to IS NULL"), {"c": old}
        ).scalar_one()
    summer = {"season": "summer", "year": 2024, "format": "json"}
    with TestClient(create_app(settings)) as c:
        planner = bearer(api_key(hot_corner, "planner"))
        body = c.get("/api/v1/analytics/hotspots", params=summer, headers=planner).json()
        by = {g["code"]: g["count"] for g in body["grids"]}
        assert by[new] == 5 and by[old] == 1  # the grid's centre case stays, the five moved
        assert body["total"] == 60 + 48 + 5 and len(body["grids"]) == 65
        assert body["reassigned"] == {"from": [old], "cases": 6, "unplaced": 0}
        r = c.get(
            "/api/v1/analytics/emerging",
            params={"level": "unit_grid", "from": "2024-06-01T00:00:00+08:00", "to": "2024-09-01T00:00:00+08:00"},
            headers=planner,
        )
        assert r.status_code == 200, r.text
        series = {g["code"]: g["counts"] for g in r.json()["grids"]}
        assert series[new] == [0, 5, 0] and series[old] == [0, 1, 0]
        # the emerging categories as a GeoPackage, with the grids' boundaries
        r = c.get(
            "/api/v1/analytics/emerging",
            params={"level": "unit_grid", "from": "2024-06-01T00:00:00+08:00", "to": "2024-09-01T00:00:00+08:00",
                    "format": "gpkg"},
            headers=planner,
        )  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"] == "application/geopackage+sqlite3"
        (tmp_path / "e.gpkg").write_bytes(r.content)
        import pyogrio

        gpkg = pyogrio.read_dataframe(tmp_path / "e.gpkg", layer="emerging")
        assert (
            len(gpkg) == 65 and gpkg.crs.to_epsg() == 4490 and {"category", "trend_tau", "counts"} <= set(gpkg.columns)
        )
        assert gpkg.set_index("code").loc[new, "counts"] == "0,5,0"


def test_stored_neighbours_share_an_edge_without_a_vertex_and_a_time(db):
    """Queen contiguity as stored (gis/grids/neighbours.py): grids touching along part of an edge
    with no vertex in common are neighbours, as are grids touching at one corner; grids in force
    at different times are not, whatever they touch; the pairs are found for an import's grids and
    their neighbours both ways."""
    from gis.grids.neighbours import store

    def box(x0, y0, x1, y1):
        x0, y0, x1, y1 = (X0 + v * STEP for v in (x0, y0, x1, y1))
        return f"MULTIPOLYGON((({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0})))"

    rows = [  # code, geometry, valid from, valid to
        ("110108001001001", box(0, 0, 2, 1), "2020-01-01", None),  # A: the long one below
        ("110108001001002", box(0.5, 1, 1.5, 2), "2020-01-01", None),  # B: on A's edge, no vertex of A
        ("110108001001003", box(2, 1, 3, 2), "2020-01-01", None),  # C: A's corner only
        ("110108001001004", box(1.5, 1, 2, 2), "2020-01-01", "2021-01-01"),  # D: retired before E began
        ("110108001001005", box(1.5, 1, 2, 2), "2021-01-01", None),  # E: D's place, later
        ("110108001001006", box(5, 5, 6, 6), "2020-01-01", None),  # F: far away
    ]
    with db.begin() as conn:
        ids = {}
        for code, wkt, start, end in rows:
            ids[code[-1]] = conn.execute(
                text(
                    """INSERT INTO grid (code, level, name, parent_code, geom, area_m2, valid_from, valid_to)
                       VALUES (:c, 4, :c, '110108001001', ST_GeomFromText(:g, 4490), 1, :s, :e) RETURNING id"""
                ),
                {"c": code, "g": wkt, "s": start, "e": end},
            ).scalar_one()
        store(conn)
        pairs = conn.execute(text("SELECT grid_id, neighbour_id FROM grid_neighbour")).all()
    name = {v: k for k, v in ids.items()}
    found = {(name[a], name[b]) for a, b in pairs if a in name and b in name}
    expected = {("1", "2"), ("1", "3"), ("1", "4"), ("1", "5"), ("2", "4"), ("2", "5"), ("3", "4"), ("3", "5")}
    assert found == expected | {(b, a) for a, b in expected}, sorted(found)
