from __future__ import annotations

import io
import tempfile

import pytest
from sqlalchemy import text

from tests.helpers import STEP, X0, Y0, load_city, square_city


def test_grids_geojson_paging_and_filters(client, db):
    load_city(db, square_city())
    r = client.get("/api/v1/grids", params={"level": "unit", "limit": 10})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 64 and body["numberReturned"] == 10
    assert body["links"][0]["rel"] == "next"
    f = body["features"][0]
    assert f["properties"]["level"] == "unit_grid" and f["geometry"]["type"] == "MultiPolygon"
    assert "crs" not in f["geometry"]  # web output is plain lon/lat
    r = client.get("/api/v1/grids", params={"parent": "110108001", "level": "community"})
    assert [f["id"] for f in r.json()["features"]] == ["110108001001", "110108001002"]
    bbox = f"{X0 + 0.1 * STEP},{Y0 + 0.1 * STEP},{X0 + 0.2 * STEP},{Y0 + 0.2 * STEP}"
    r = client.get("/api/v1/grids", params={"level": "unit", "bbox": bbox})
    assert r.json()["numberMatched"] == 1


def test_grid_by_code_and_errors(client, db):
    load_city(db, square_city(), upto=2)
    r = client.get("/api/v1/grids/110108001")
    assert r.status_code == 200 and r.json()["properties"]["name"] == "西街道"
    assert client.get("/api/v1/grids/110108009").status_code == 404
    r = client.get("/api/v1/grids", params={"level": "village"})
    assert r.status_code == 400
    assert r.json()["field"] == "level" and "district" in r.json()["allowed"]
    r = client.get("/api/v1/grids", params={"bbox": "1,2,3"})
    assert r.status_code == 400 and r.json()["field"] == "bbox"
    r = client.get("/api/v1/grids", params={"limit": 10**6})
    assert r.status_code == 400 and r.json()["field"] == "limit"


def test_lookup_get_and_batch(client, db):
    load_city(db, square_city())
    r = client.get("/api/v1/lookup", params={"lon": X0 + 0.5 * STEP, "lat": Y0 + 7.5 * STEP})
    assert r.status_code == 200
    assert r.json()["unit_grid"]["code"] == "110108001001001"
    r = client.get("/api/v1/lookup", params={"lon": 116.3, "lat": 39.9, "crs": "nonsense"})
    assert r.status_code == 400 and r.json()["field"] == "crs" and "gcj02" in r.json()["allowed"]
    r = client.get("/api/v1/lookup", params={"lon": 200, "lat": 39.9})
    assert r.status_code == 400 and r.json()["field"] == "lon"
    pts = [{"lon": X0 + (i % 8 + 0.5) * STEP, "lat": Y0 + (i // 8 + 0.5) * STEP} for i in range(64)]
    pts.append({"lon": 100.0, "lat": 30.0})
    r = client.post("/api/v1/lookup", json={"points": pts})
    results = r.json()["results"]
    assert len(results) == 65 and results[-1]["outside"] is True
    assert len({res["unit_grid"]["code"] for res in results[:-1]}) == 64
    r = client.post("/api/v1/lookup", json={"points": [{"lon": 1, "lat": 1}] * 10_001})
    assert r.status_code == 400 and r.json()["field"] == "points"


def test_import_upload_and_validation(client, db, tmp_path):
    city = square_city()
    load_city(db, city, upto=2)
    buf = io.BytesIO(city[3].to_json().encode())
    r = client.post(
        "/api/v1/imports/grids", data={"level": "community"}, files={"file": ("c.geojson", buf, "application/geo+json")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 4 and r.json()["committed"] is True
    # a rejected upload: 422 with the report, nothing written
    bad = city[4].copy()
    bad["code"] = "1"
    r = client.post(
        "/api/v1/imports/grids",
        data={"level": "unit"},
        files={"file": ("u.geojson", io.BytesIO(bad.to_json().encode()), "application/geo+json")},
    )
    assert r.status_code == 422 and r.json()["details"]["rejected_count"] == 64
    r = client.post(
        "/api/v1/imports/grids", data={"level": "unit"}, files={"file": ("u.txt", io.BytesIO(b"x"), "text/plain")}
    )
    assert r.status_code == 400 and r.json()["field"] == "file" and ".geojson" in r.json()["allowed"]
    r = client.get("/api/v1/validation")
    assert r.status_code == 200 and r.json()["ok"] is True


def test_an_upload_is_recorded_by_its_own_file_name_not_the_servers_temporary_path(client, db):
    """The import run, the report and the versions a grid lists name the file the user sent."""
    city = square_city()
    load_city(db, city, upto=2)
    buf = io.BytesIO(city[3].to_json().encode())
    name = "社区 boundaries.geojson"
    r = client.post("/api/v1/imports/grids", data={"level": "community"}, files={"file": (f"../x/{name}", buf)})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == name
    versions = client.get("/api/v1/grids/110108001001/versions")
    assert versions.status_code == 200
    assert [v["properties"]["source"] for v in versions.json()["features"]] == [name]
    assert "wangge-upload" not in versions.text and tempfile.gettempdir() not in versions.text
    with db.connect() as conn:
        assert conn.execute(text("SELECT source FROM import_run ORDER BY id DESC LIMIT 1")).scalar_one() == name
    # a refused upload's report names the file too
    bad = city[4].assign(code="1")
    r = client.post("/api/v1/imports/grids", data={"level": "unit"}, files={"file": ("u.geojson", bad.to_json())})
    assert r.status_code == 422 and r.json()["details"]["source"] == "u.geojson"
    assert "wangge-upload" not in r.text and tempfile.gettempdir() not in r.text


def test_openapi_and_health(client):
    assert client.get("/docs").status_code == 200
    assert "/api/v1/lookup" in client.get("/openapi.json").json()["paths"]
    assert client.get("/healthz").json()["status"] == "ok"


def test_every_link_of_the_landing_page_answers(client, db):
    import re

    page = client.get("/")
    links = [u.replace("&amp;", "&") for u in re.findall(r'href="([^"]+)"', page.text)]
    assert len(links) >= 9
    for u in links:
        assert client.get(u).status_code == 200, u


def test_api_docs_load_nothing_from_outside(client):
    """Command halls run on intranets: /docs and everything it loads come from wangge itself."""
    import re

    page = client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?'([^']+)'""", page.text)
    urls = [a or b for a, b in urls]
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for u in urls:
        r = client.get(u)
        assert r.status_code == 200 and len(r.content) > 100, u
    bundle = client.get(next(u for u in urls if u.endswith(".js")))
    assert "javascript" in bundle.headers["content-type"] and "SwaggerUIBundle" in bundle.text
    assert "cdn." not in page.text


def test_a_database_that_is_down_answers_503_not_a_hang():
    """The intake runs on the event loop: with the database unreachable it must answer at once,
    with the JSON error, and so must a read."""
    import socket
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from gis.settings import Settings

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = Settings(database_url=f"postgresql+psycopg2://wangge@127.0.0.1:{port}/wangge")
    with TestClient(create_app(down), headers={"Authorization": "Bearer some-key"}) as c:
        t = time.perf_counter()
        r = c.post("/api/v1/cases", json={"lon": X0, "lat": Y0, "class": "0102", "channel": "hotline"})
        assert r.status_code == 503 and r.json()["error"] == "database_unavailable"
        assert c.get("/api/v1/cases/1").status_code == 503
        assert time.perf_counter() - t < 10


def test_redraw_one_grid_as_a_boundary_editor_saves_it(client, db):
    from datetime import UTC, datetime

    import numpy as np
    import shapely
    from shapely.geometry import mapping, shape

    from gis.crs import wgs84_to_gcj02

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    code = "110108001001001"
    old = client.get(f"/api/v1/grids/{code}").json()
    smaller = shape(old["geometry"]).buffer(-0.1 * STEP, join_style="mitre")
    r = client.put(f"/api/v1/grids/{code}", json={**old, "geometry": mapping(smaller)})
    assert r.status_code == 200, r.text
    assert r.json()["written"] == 1 and r.json()["closed"] == 1 and r.json()["committed"] is True
    now = client.get(f"/api/v1/grids/{code}").json()
    assert now["properties"]["name"] == old["properties"]["name"]  # kept
    assert now["properties"]["area_m2"] < 0.7 * old["properties"]["area_m2"]
    before = client.get(f"/api/v1/grids/{code}", params={"at": "2024-06-01"}).json()
    assert before["properties"]["area_m2"] == old["properties"]["area_m2"]  # history kept
    # the lookup follows at once: a point in the strip given up is in no unit grid now
    minx, miny, _, maxy = shape(old["geometry"]).bounds
    edge = client.get("/api/v1/lookup", params={"lon": minx + 0.02 * STEP, "lat": (miny + maxy) / 2}).json()
    assert edge["unit_grid"] is None and edge["community"]["code"] == code[:12]

    # rejected: sticking out of the community; nothing changes
    moved = shapely.affinity.translate(smaller, xoff=20 * STEP)
    r = client.put(f"/api/v1/grids/{code}", json={"type": "Feature", "geometry": mapping(moved)})
    assert r.status_code == 422 and "outside parent" in r.json()["details"]["rejected"][0]["reason"], r.text
    assert client.get(f"/api/v1/grids/{code}").json()["properties"]["area_m2"] == now["properties"]["area_m2"]
    r = client.put(f"/api/v1/grids/{code}", json={**old, "properties": {"code": "110108001001002"}})
    assert r.status_code == 400 and r.json()["field"] == "properties.code"
    r = client.put(f"/api/v1/grids/{code}", json={"type": "Point", "coordinates": [X0, Y0]})
    assert r.status_code == 400 and r.json()["field"] == "body"

    # taking in part of a neighbour: saved (validation lists overlaps), with a warning naming it
    wider = shapely.affinity.scale(shape(old["geometry"]), xfact=1.2, origin=(minx, miny))
    r = client.put(
        f"/api/v1/grids/{code}", params={"dry_run": "true"}, json={"type": "Feature", "geometry": mapping(wider)}
    )
    assert r.status_code == 200 and r.json()["committed"] is False, r.text
    (warning,) = r.json()["warnings"]
    assert warning.startswith(f"{code} and 1101080010") and "overlap by" in warning  # as wangge validate says it

    versions = client.get(f"/api/v1/grids/{code}/versions").json()["features"]
    assert [v["properties"]["area_m2"] for v in versions] == [
        old["properties"]["area_m2"],
        now["properties"]["area_m2"],
    ]
    assert versions[0]["properties"]["valid_to"] == versions[1]["properties"]["valid_from"]
    assert versions[1]["properties"]["source"] == f"redraw of {code}" and versions[1]["properties"]["valid_to"] is None
    assert client.get("/api/v1/grids/110108999999999/versions").status_code == 404

    # a community redrawn smaller leaves part of its unit grids outside: saved, with a warning each
    community = client.get(f"/api/v1/grids/{code[:12]}").json()
    cut = shape(community["geometry"]).buffer(-0.3 * STEP, join_style="mitre")
    r = client.put(
        f"/api/v1/grids/{code[:12]}", params={"dry_run": "true"}, json={"type": "Feature", "geometry": mapping(cut)}
    )
    assert r.status_code == 200, r.text
    outside = [w for w in r.json()["warnings"] if "outside" in w]
    assert outside and all(w.endswith(f"outside its parent {code[:12]}") for w in outside)
    units = client.get("/api/v1/grids", params={"parent": code[:12]}).json()["features"]
    assert len(units) == 16 and len(outside) == 12  # a 4 × 4 block: the 4 inner ones are still inside

    # drawn on a GCJ-02 web map: sent with crs=gcj02, stored where it belongs
    ring = np.array(shape(old["geometry"]).geoms[0].exterior.coords)
    gx, gy = wgs84_to_gcj02(ring[:, 0], ring[:, 1])
    drawn = {"type": "Polygon", "coordinates": [np.column_stack([gx, gy]).tolist()]}
    r = client.put(f"/api/v1/grids/{code}", params={"crs": "gcj02"}, json={"type": "Feature", "geometry": drawn})
    assert r.status_code == 200, r.text
    back = shape(client.get(f"/api/v1/grids/{code}").json()["geometry"])
    # the conversion back from GCJ-02 is iterative: within a few centimetres along the whole edge
    assert back.symmetric_difference(shape(old["geometry"])).area < 1e-11


def test_the_access_log_keeps_osmand_query_strings_out(client):
    """uvicorn's access line for /osmand loses its query (device id and coordinates); others keep theirs."""
    import logging

    access = logging.getLogger("uvicorn.access")
    assert access.filters  # create_app installed it

    def logged(path: str) -> str:
        record = access.makeRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5000", "GET", path, "1.1", 200),
            None,
        )
        assert access.filter(record)
        return record.getMessage()

    secret = "/osmand?id=864000000000007&lat=39.9123&lon=116.3123&timestamp=1717376400"
    assert logged(secret) == '127.0.0.1:5000 - "GET /osmand HTTP/1.1" 200'
    assert logged("/wangge/osmand/?id=864000000000007") == '127.0.0.1:5000 - "GET /wangge/osmand/ HTTP/1.1" 200'
    assert logged("/api/v1/lookup?lon=116.3&lat=39.9").endswith('"GET /api/v1/lookup?lon=116.3&lat=39.9 HTTP/1.1" 200')
    assert logged("/osmand") == '127.0.0.1:5000 - "GET /osmand HTTP/1.1" 200'


def test_split_merge_and_draw_a_grid_on_the_server(client, db):
    """The editor's server operations: each a versioned import (all or nothing, with its checks),
    codes by the standard numbering, lineage kept, the lookup following at once."""
    from datetime import UTC, datetime

    import shapely
    from shapely.geometry import shape

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    code, east = "110108001002013", "110108001002014"  # the south-west corner and its east neighbour
    whole = shape(client.get(f"/api/v1/grids/{code}").json()["geometry"])
    x0, y0, x1, y1 = whole.bounds
    cut = {"type": "LineString", "coordinates": [[x0 - STEP / 10, y0 + STEP / 3], [x1 + STEP / 10, y0 + STEP / 3]]}
    dry = client.post(f"/api/v1/grids/{code}/split", params={"dry_run": "true"}, json={"line": cut})
    assert dry.status_code == 200 and dry.json()["committed"] is False, dry.text
    r = client.post(f"/api/v1/grids/{code}/split", json={"line": cut})
    assert r.status_code == 200 and r.json()["committed"] is True and r.json()["written"] == 2, r.text
    new = [c for c in r.json()["codes"] if c != code]
    assert new == ["110108001002017"]  # after the 16 unit grids of the community
    kept, piece = (shape(client.get(f"/api/v1/grids/{c}").json()["geometry"]) for c in (code, new[0]))
    assert kept.area > piece.area and abs(kept.area + piece.area - whole.area) < 1e-12
    assert client.get(f"/api/v1/grids/{new[0]}").json()["properties"]["attrs"]["split_from"] == code
    below = client.get("/api/v1/lookup", params={"lon": x0 + STEP / 2, "lat": y0 + STEP / 6}).json()
    assert below["unit_grid"]["code"] == new[0]
    # a line that does not cross it; a district; a code outside the city
    miss = {"type": "LineString", "coordinates": [[x0 + STEP / 4, y0 + STEP / 2], [x0 + STEP / 3, y0 + STEP / 2]]}
    r = client.post(f"/api/v1/grids/{code}/split", json={"line": miss})
    assert r.status_code == 400 and r.json()["field"] == "line"
    assert client.post("/api/v1/grids/110108/split", json={"line": cut}).status_code == 400
    assert client.post("/api/v1/grids/110108001/split", json={"line": cut}).status_code == 409  # has children
    assert client.post("/api/v1/grids/110108009009009/split", json={"line": cut}).status_code == 404

    # merge the piece back and the east neighbour in: one code left, the others retired
    r = client.post(f"/api/v1/grids/{code}/merge", json={"with": new[0]})
    assert r.status_code == 200 and r.json()["retired"] == 1, r.text
    assert client.get(f"/api/v1/grids/{new[0]}").status_code == 404
    assert client.get(f"/api/v1/grids/{new[0]}", params={"at": "2025-01-01"}).status_code == 404  # never then
    r = client.post(f"/api/v1/grids/{code}/merge", json={"with": east})
    assert r.status_code == 200, r.text
    merged = client.get(f"/api/v1/grids/{code}").json()
    assert merged["properties"]["attrs"]["merged_from"] == f"{new[0]},{east}"
    assert shape(merged["geometry"]).area == pytest.approx(2 * whole.area, rel=1e-9)
    assert (
        client.get("/api/v1/lookup", params={"lon": x1 + STEP / 2, "lat": y0 + STEP / 2}).json()["unit_grid"]["code"]
        == code
    )
    far = "110108001001001"  # no shared edge
    r = client.post(f"/api/v1/grids/{code}/merge", json={"with": far})
    assert r.status_code == 400 and r.json()["field"] == "with"
    r = client.post(f"/api/v1/grids/{code}/merge", json={"with": "110108002001001"})
    assert r.status_code == 400  # another community's grid
    r = client.post(f"/api/v1/grids/{code}/merge", json={"with": "x"})
    assert r.status_code in (400, 422) and "with" in r.text

    # draw a new grid in a hole: the next free code (retired ones are not given again)
    client.put(
        f"/api/v1/grids/{far}",
        json={
            "type": "Feature",
            "geometry": shapely.geometry.mapping(
                shape(client.get(f"/api/v1/grids/{far}").json()["geometry"]).buffer(-STEP / 4, join_style="mitre")
            ),
        },
    )
    ring = shape(client.get("/api/v1/grids/110108001001001", params={"at": "2024-06-01"}).json()["geometry"])
    hole = ring.difference(shape(client.get(f"/api/v1/grids/{far}").json()["geometry"]))
    r = client.post(
        "/api/v1/grids/110108001001/children",
        json={"type": "Feature", "properties": {"name": "新网格"}, "geometry": shapely.geometry.mapping(hole)},
    )
    assert r.status_code == 200 and r.json()["codes"] == ["110108001001017"], r.text
    added = client.get("/api/v1/grids/110108001001017").json()
    assert added["properties"]["name"] == "新网格" and added["properties"]["parent_code"] == "110108001001"
    x, y = ring.bounds[0] + STEP / 10, ring.bounds[1] + STEP / 10
    assert client.get("/api/v1/lookup", params={"lon": x, "lat": y}).json()["unit_grid"]["code"] == "110108001001017"


def test_moving_a_shared_edge_redraws_both_grids_together(client, db):
    from datetime import UTC, datetime

    from shapely.geometry import box, mapping

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    west, east = "110108001002013", "110108001002014"
    edge = X0 + 1.25 * STEP  # was X0 + STEP
    body = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"code": west}, "geometry": mapping(box(X0, Y0, edge, Y0 + STEP))},
            {
                "type": "Feature",
                "properties": {"code": east},
                "geometry": mapping(box(edge, Y0, X0 + 2 * STEP, Y0 + STEP)),
            },
        ],
    }
    dry = client.put("/api/v1/grids", params={"dry_run": "true"}, json=body)
    assert dry.status_code == 200 and dry.json()["findings"] == [] and not dry.json()["committed"], dry.text
    # one of the two alone leaves an overlap, drawn for the editor
    alone = client.put(f"/api/v1/grids/{west}", params={"dry_run": "true"}, json=body["features"][0])
    (finding,) = alone.json()["findings"]
    assert finding["kind"] == "overlap" and finding["geometry"]["type"] in ("Polygon", "MultiPolygon")
    shrunk = client.put(f"/api/v1/grids/{east}", params={"dry_run": "true"}, json=body["features"][1])
    assert [f["kind"] for f in shrunk.json()["findings"]] == ["gap"]
    r = client.put("/api/v1/grids", json=body)
    assert r.status_code == 200 and r.json()["written"] == 2 and r.json()["committed"], r.text
    here = client.get("/api/v1/lookup", params={"lon": X0 + 1.1 * STEP, "lat": Y0 + STEP / 2}).json()
    assert here["unit_grid"]["code"] == west
    bad = client.put("/api/v1/grids", json={"type": "FeatureCollection", "features": [{"type": "Feature"}]})
    assert bad.status_code == 400 and bad.json()["field"] == "features"
    mixed = {**body, "features": [body["features"][0], {**body["features"][1], "properties": {"code": "110108001"}}]}
    assert client.put("/api/v1/grids", json=mixed).status_code == 400


def test_grid_labels_for_a_map_within_the_caller_s_area(settings, db):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.conftest import api_key, bearer

    load_city(db, square_city())
    box = f"{X0},{Y0},{X0 + 8 * STEP},{Y0 + 8 * STEP}"
    with TestClient(create_app(settings)) as c:
        every = c.get("/api/v1/grid-labels", params={"bbox": box}, headers=bearer(api_key(db, "viewer"))).json()
        assert len(every) == 64 and {"code", "name", "lon", "lat"} == set(every[0])
        first = next(g for g in every if g["code"] == "110108001001001")
        assert (
            first["name"] == "网格1" and X0 < first["lon"] < X0 + STEP and Y0 + 7 * STEP < first["lat"] < Y0 + 8 * STEP
        )
        west = bearer(api_key(db, "viewer", ("110108001",)))
        mine = c.get("/api/v1/grid-labels", params={"bbox": box, "level": "community"}, headers=west).json()
        assert [g["code"] for g in mine] == ["110108001001", "110108001002"]
        assert c.get("/api/v1/grid-labels", params={"level": "x"}, headers=west).status_code in (400, 422)


def test_grid_edits_stay_inside_the_editor_s_area_and_report_what_they_leave(settings, db, monkeypatch):
    """A street's grid admin cannot place a grid outside their street, whatever tolerance they
    give; a code taken meanwhile is refused, not overwritten; a split cuts only the parts the line
    crosses; a merge names what still refers to the grid it retires; properties must be an object."""
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient
    from shapely.geometry import box, mapping

    from api.app import create_app
    from gis.grids import versions
    from gis.tracks import workers
    from tests.conftest import api_key, bearer

    load_city(db, square_city(), valid_from=datetime(2024, 1, 1, tzinfo=UTC))
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="W14", name="网格员", grids=["110108001002014"])
    west = bearer(api_key(db, "grid_admin", ("110108001",)))
    east_box = mapping(box(X0 + 5.2 * STEP, Y0 + 0.2 * STEP, X0 + 5.8 * STEP, Y0 + 0.8 * STEP))  # the east street
    with TestClient(create_app(settings)) as c:
        r = c.post("/api/v1/grids/110108001002/children", params={"tolerance": 10000}, json=east_box, headers=west)
        assert r.status_code == 422 and "outside the areas you may change" in r.text, r.text
        r = c.put("/api/v1/grids/110108001002013", params={"tolerance": 10000}, json=east_box, headers=west)
        assert r.status_code == 422 and "outside the areas you may change" in r.text, r.text
        # the next free code, taken meanwhile by another editor: refused
        monkeypatch.setattr(versions, "next_codes", lambda conn, parent, n: ["110108001002001"])
        inside = mapping(box(X0 + 0.2 * STEP, Y0 + 0.2 * STEP, X0 + 0.4 * STEP, Y0 + 0.4 * STEP))
        r = c.post("/api/v1/grids/110108001002/children", json=inside, headers=west)
        assert r.status_code == 422 and "given meanwhile" in r.text, r.text
        monkeypatch.undo()
        # a grid of two parts: a line across one of them cuts that one only
        code = "110108001002013"
        two = {"type": "MultiPolygon", "coordinates": [
            mapping(box(X0, Y0, X0 + 0.4 * STEP, Y0 + STEP))["coordinates"],
            mapping(box(X0 + 0.6 * STEP, Y0, X0 + STEP, Y0 + STEP))["coordinates"],
        ]}  # fmt: skip
        assert c.put(f"/api/v1/grids/{code}", json=two, headers=west).status_code == 200
        line = {
            "type": "LineString",
            "coordinates": [[X0 - 0.1 * STEP, Y0 + 0.7 * STEP], [X0 + 0.5 * STEP, Y0 + 0.7 * STEP]],
        }
        r = c.post(f"/api/v1/grids/{code}/split", json={"line": line}, headers=west)
        assert r.status_code == 200 and len(r.json()["codes"]) == 2, r.text
        kept = c.get(f"/api/v1/grids/{code}", headers=west).json()["geometry"]
        assert len(kept["coordinates"]) == 2  # the untouched part and the larger piece
        # 014 (a gridworker's grid) merged into 010, north of it: the answer says W14 still names it
        r = c.post("/api/v1/grids/110108001002010/merge", json={"with": "110108001002014"}, headers=west)
        assert r.status_code == 200 and r.json()["retired"] == 1, r.text
        assert any("W14" in w for w in r.json()["warnings"]), r.json()["warnings"]
        bad = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": [1], "geometry": east_box}]}
        assert c.put("/api/v1/grids", json=bad, headers=west).status_code == 400
        r = c.put(f"/api/v1/grids/{code}", json={"type": "Feature", "properties": "x", "geometry": two}, headers=west)
        assert r.status_code == 400 and r.json()["field"] == "properties"
