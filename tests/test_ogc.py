"""OGC API – Features (issue 16): Parts 1–3 through the API, and GDAL (pyogrio's, and Debian's
ogrinfo) reading wangge as a standard client: the same counts and geometries as the database, in
CRS84, CGCS2000 and a Gauss-Krüger zone, paging past 10,000 features, CQL2 evaluated on the
server, each caller within their areas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text

from api.app import create_app
from gis.cases import intake
from gis.cases.counts import CHINA
from gis.registry import components, units
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture
def city(db):
    """The square city (two streets, 64 unit grids) with a case in each unit grid, some with a caller."""
    load_city(db, square_city(), valid_from=datetime(2020, 1, 1, tzinfo=CHINA))
    with db.begin() as conn:
        for col in range(8):
            for row in range(8):
                intake.intake(
                    conn, lon=X0 + (col + 0.5) * STEP, lat=Y0 + (row + 0.5) * STEP, class_code="0101",
                    channel="hotline" if col < 2 else "app", reported_at=datetime(2024, 7, 1 + row, 10, tzinfo=CHINA),
                    contact={"name": "王伟", "phone": "13800000000", "email": None} if col < 2 else None,
                )  # fmt: skip
        # a manhole cover in each column's bottom grid; the four in the east maintained by U1
        units.create_unit(conn, code="U1", name="市政", kind="municipal", area_code="110108")
        for col in range(8):
            components.create_component(
                conn, code=f"11010801010000{col + 1:02d}", owner_unit="U1" if col >= 4 else None,
                geometry={"type": "Point", "coordinates": [X0 + (col + 0.3) * STEP, Y0 + 0.3 * STEP]},
            )  # fmt: skip
    return db


def _client(settings, **overrides):
    return TestClient(create_app(settings.model_copy(update=overrides)))


def test_landing_conformance_and_collections_as_clients_find_them(settings, city):
    with _client(settings) as c:
        viewer = bearer(api_key(city, "viewer"))
        landing = c.get("/ogc", headers=viewer).json()
        rels = {link["rel"]: link for link in landing["links"]}
        assert {"service-desc", "service-doc", "conformance", "data", "self"} <= set(rels)
        assert rels["service-desc"]["type"].startswith("application/vnd.oai.openapi+json")
        api = c.get("/ogc/api", headers=viewer)
        assert api.json()["openapi"].startswith("3.0") and "/collections/grids-unit/items" in api.json()["paths"]
        conformance = c.get("/ogc/conformance", headers=viewer).json()["conformsTo"]
        for cls in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-2/1.0/conf/crs", "ogcapi-features-3/1.0/conf/filter",
                    "ogcapi-features-3/1.0/conf/features-filter", "cql2/1.0/conf/cql2-text", "cql2/1.0/conf/basic-cql2"):  # fmt: skip
            assert any(cls in c_ for c_ in conformance), cls  # (QGIS filters on the server only with all four)
        ids = [x["id"] for x in c.get("/ogc/collections", headers=viewer).json()["collections"]]
        assert ids == ["grids-district", "grids-street", "grids-community", "grids-unit", "components", "cases"]
        unit = c.get("/ogc/collections/grids-unit", headers=viewer).json()
        assert unit["storageCrs"] == EPSG + "4490" and CRS84 in unit["crs"] and EPSG + "4547" in unit["crs"]
        q = c.get("/ogc/collections/cases/queryables", headers=viewer).json()
        assert "class_code" in q["properties"] and "contact_name" not in q["properties"]  # no personal:read
        assert "<html" in c.get("/ogc/collections/grids-unit/items", params={"f": "html"}, headers=viewer).text
        # a unit's staff read grids and their unit's cases and components, so all three are listed;
        # a reporter (a machine client filing cases) reads no grid
        reporter = c.get("/ogc/collections", headers=bearer(api_key(city, "reporter"))).json()["collections"]
        assert [x["id"] for x in reporter] == ["cases"]


def test_anonymous_clients_read_only_the_public_collections(settings, city):
    with _client(settings) as c:
        assert c.get("/ogc/collections").json()["collections"] == []
        r = c.get("/ogc/collections/grids-unit/items")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    with _client(settings, ogc_public="grids-district,grids-street") as c:
        ids = [x["id"] for x in c.get("/ogc/collections").json()["collections"]]
        assert ids == ["grids-district", "grids-street"]
        assert c.get("/ogc/collections/grids-street/items").json()["numberMatched"] == 2
        assert c.get("/ogc/collections/cases/items").status_code == 401
        assert c.get("/ogc/collections/nothing/items").status_code == 401  # (no hint what exists)
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        settings.model_validate({**settings.model_dump(), "ogc_public": "cases"})  # never public


def test_items_paging_limits_and_parameters(settings, city):
    with _client(settings) as c:
        admin = bearer(api_key(city, "admin"))
        r = c.get("/ogc/collections/grids-unit/items", headers=admin)
        assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
        assert r.headers["content-crs"] == f"<{CRS84}>"
        body = r.json()
        assert body["numberMatched"] == 64 and body["numberReturned"] == 10 and body["timeStamp"].endswith("Z")
        seen, url, pages = [], "/ogc/collections/cases/items?limit=25", 0
        while url:
            page = c.get(url, headers=admin).json()
            seen += [f["id"] for f in page["features"]]
            if pages == 0:  # a case reported while the client pages: no page shifts, nothing twice
                with city.begin() as conn:
                    intake.intake(conn, lon=X0 + 0.5 * STEP, lat=Y0 + 0.5 * STEP, class_code="0101", channel="app")
            if pages == 1:  # the HTML alternate of a later page is that page, not the first
                alternate = [link["href"] for link in page["links"] if link["rel"] == "alternate"][0]
                assert "cursor=" in alternate and "f=html" in alternate, alternate
            nxt = [link["href"] for link in page["links"] if link["rel"] == "next"]
            url = nxt[0].replace("http://testserver", "") if nxt else None
            pages += 1
        assert len(seen) == len(set(seen)) == 65 and pages == 3
        for params, field in (({"foo": "1"}, "foo"), ({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                              ({"bbox": "1,2,3"}, "bbox"), ({"crs": EPSG + "2000"}, "crs"), ({"datetime": "yesterday"}, "datetime"),
                              ({"filter": "nosuch = 1"}, "filter"), ({"filter": "code = "}, "filter"),
                              ({"filter-lang": "sql"}, "filter-lang"), ({"level": "x"}, "level"), ({"f": "xml"}, "f")):  # fmt: skip
            r = c.get("/ogc/collections/grids-unit/items", params=params, headers=admin)
            assert r.status_code == 400 and r.json()["field"] == field, (params, r.text)
        assert (
            len(c.get("/ogc/collections/grids-unit/items", params={"limit": 20000}, headers=admin).json()["features"])
            == 64
        )
        head = c.head("/ogc/collections/grids-unit/items", headers=admin)  # (clients probe with HEAD)
        assert head.status_code == 200 and head.headers["content-crs"] == f"<{CRS84}>" and not head.content
        one = c.get("/ogc/collections/grids-unit/items/110108001001001", headers=admin)
        assert one.status_code == 200 and one.json()["properties"]["code"] == "110108001001001"
        assert c.get("/ogc/collections/grids-unit/items/999", headers=admin).status_code == 404


def test_crs_by_reference_axis_order_and_bbox_crs(settings, city):
    with _client(settings) as c, city.connect() as conn:
        admin = bearer(api_key(city, "admin"))
        code = "110108001001001"
        stored = shapely.from_wkb(
            bytes(
                conn.execute(
                    text("SELECT ST_AsBinary(geom) FROM grid WHERE code = :c AND valid_to IS NULL"), {"c": code}
                ).scalar_one()
            )
        )
        url = f"/ogc/collections/grids-unit/items/{code}"
        lonlat = shapely.geometry.shape(c.get(url, headers=admin).json()["geometry"])
        assert shapely.equals_exact(lonlat, stored, 1e-9)
        r = c.get(url, params={"crs": EPSG + "4490"}, headers=admin)
        assert r.headers["content-crs"] == f"<{EPSG}4490>"
        latlon = shapely.geometry.shape(r.json()["geometry"])  # latitude first, as EPSG defines 4490
        assert shapely.equals_exact(shapely.transform(latlon, lambda a: a[:, ::-1]), stored, 1e-9)
        gk = shapely.geometry.shape(c.get(url, params={"crs": EPSG + "4527"}, headers=admin).json()["geometry"])
        to_gk = Transformer.from_crs(4490, 4527, always_xy=True)
        expect = shapely.transform(stored, lambda a: np.column_stack(to_gk.transform(a[:, 0], a[:, 1])))
        northing_first = shapely.transform(gk, lambda a: a[:, ::-1])
        assert shapely.equals_exact(northing_first, expect, 0.01)  # within 1 cm
        # a bbox in CGCS2000 is latitude first; in CRS84 longitude first: the same grids
        box = (X0 + 0.1 * STEP, Y0 + 0.1 * STEP, X0 + 0.9 * STEP, Y0 + 0.9 * STEP)
        a = c.get("/ogc/collections/grids-unit/items", params={"bbox": ",".join(map(str, box))}, headers=admin).json()
        b = c.get("/ogc/collections/grids-unit/items", headers=admin,
                  params={"bbox": ",".join(map(str, (box[1], box[0], box[3], box[2]))), "bbox-crs": EPSG + "4490"}).json()  # fmt: skip
        assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]] and a["numberMatched"] == 1


def test_cql2_text_and_json_on_the_server(settings, city):
    with _client(settings) as c:
        admin = bearer(api_key(city, "admin"))

        def ids(**params):
            r = c.get("/ogc/collections/grids-unit/items", params={"limit": 100, **params}, headers=admin)
            assert r.status_code == 200, r.text
            return {f["id"] for f in r.json()["features"]}

        west = ids(filter="parent_code LIKE '110108001%'")
        assert len(west) == 32
        assert ids(filter="code IN ('110108001001001','110108002002016') AND level = 4") == {
            "110108001001001",
            "110108002002016",
        }
        point = f"POINT({X0 + 0.5 * STEP} {Y0 + 0.5 * STEP})"
        hit = ids(filter=f"S_INTERSECTS(geometry, {point})")
        assert len(hit) == 1
        as_json = {
            "op": "s_intersects",
            "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [X0 + 0.5 * STEP, Y0 + 0.5 * STEP]}],
        }
        assert ids(filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}) == hit
        assert ids(filter="NOT (parent_code LIKE '110108001%') AND area_m2 > 0") == ids() - west
        assert ids(code="110108001001001") == {"110108001001001"}  # a queryable as a query parameter
        community = ids(filter="CASEI(name) LIKE '%'", parent_code="110108001001")
        assert len(community) == 16 and community <= west and all(c.startswith("110108001001") for c in community)
        r = c.get(
            "/ogc/collections/cases/items",
            params={"filter": "reported_at >= TIMESTAMP('2024-07-05T00:00:00Z')"},
            headers=admin,
        )
        assert r.json()["numberMatched"] == 8 * 4  # rows 4..7 of each column: 5 July 10:00 China time onwards


def test_areas_and_personal_data_hold_whatever_is_asked(settings, city):
    with _client(settings) as c:
        west = bearer(api_key(city, "viewer", ("110108001",)))
        everything = {"bbox": "-180,-90,180,90", "limit": 1000, "filter": "code LIKE '%' OR 1 = 1"}
        r = c.get("/ogc/collections/grids-unit/items", params=everything, headers=west).json()
        assert r["numberMatched"] == 32 and all(f["id"].startswith("110108001") for f in r["features"])
        assert c.get("/ogc/collections/grids-unit/items/110108002001001", headers=west).status_code == 404
        cases = c.get("/ogc/collections/cases/items", params={"limit": 100}, headers=west).json()
        assert cases["numberMatched"] == 32
        assert all(f["properties"]["contact_name"] is None for f in cases["features"])  # a viewer: no personal data
        r = c.get("/ogc/collections/cases/items", params={"filter": "contact_name = '王伟'"}, headers=west)
        assert r.status_code == 400  # (nor can a viewer find a caller by filtering on the name)
        dispatcher = bearer(api_key(city, "dispatcher"))
        named = c.get(
            "/ogc/collections/cases/items", params={"filter": "contact_name = '王伟'", "limit": 100}, headers=dispatcher
        ).json()
        assert named["numberMatched"] == 16 and named["features"][0]["properties"]["contact_name"] == "王伟"


def _gdal(code: str, key: str) -> str:
    """Python with pyogrio's GDAL in a fresh process, signed in with ``key`` (the OAPIF driver sets
    its own Accept header, which replaces GDAL_HTTP_HEADERS: GDAL's bearer options carry the key)."""
    env = {**os.environ, "GDAL_HTTP_AUTH": "BEARER", "GDAL_HTTP_BEARER": key}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_gdal_reads_the_collections_as_a_standard_client(settings, city):
    from tests.browser import live_server

    with city.begin() as conn:  # more than 10,000 cases, so GDAL pages through eleven pages of 1,000
        conn.execute(
            text(
                """INSERT INTO "case" (geom, class_code, channel, reported_at, state, description)
                   SELECT ST_SetSRID(ST_MakePoint(:x + (i % 100) * :s, :y + (i / 100) * :s), 4490), '0101', 'app',
                          '2024-08-01'::timestamptz + i * interval '1 minute', 'closed', 'bulk'
                   FROM generate_series(1, 10100) AS i"""
            ),
            {"x": X0 + 0.01 * STEP, "y": Y0 + 0.01 * STEP, "s": 0.05 * STEP},
        )
        stored = {
            code: shapely.from_wkb(bytes(w))
            for code, w in conn.execute(
                text("SELECT code, ST_AsBinary(geom) FROM grid WHERE level = 4 AND valid_to IS NULL")
            )
        }
        cases = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
    key = api_key(city, "viewer")
    with live_server(settings) as base:
        out = _gdal(
            f"""
import json, pyogrio
url = "OAPIF:{base}/ogc/collections/grids-unit"
plain = pyogrio.read_dataframe(url)
cg = pyogrio.read_dataframe(url, PREFERRED_CRS="EPSG:4490")
gk = pyogrio.read_dataframe(url, PREFERRED_CRS="EPSG:4527")
cases = pyogrio.read_dataframe("OAPIF:{base}/ogc/collections/cases", columns=["id"], PAGE_SIZE=1000)
west = pyogrio.read_dataframe(url, where="parent_code = '110108001001'")
counts = {{str(n): len(pyogrio.read_dataframe("OAPIF:{base}/ogc/collections/" + str(n)))
          for n, _ in pyogrio.list_layers("OAPIF:{base}/ogc")}}
print(json.dumps({{
    "layers": [str(x[0]) for x in pyogrio.list_layers("OAPIF:{base}/ogc")],
    "plain": {{c: g.wkt for c, g in zip(plain.code, plain.geometry)}}, "plain_crs": plain.crs.to_epsg(),
    "cg": {{c: g.wkt for c, g in zip(cg.code, cg.geometry)}}, "cg_crs": cg.crs.to_epsg(),
    "gk": {{c: g.wkt for c, g in zip(gk.code, gk.geometry)}}, "gk_crs": gk.crs.to_epsg(),
    "cases": len(cases), "unique": int(cases.id.nunique()), "west": sorted(west.code), "counts": counts,
}}))""",
            key,
        )
    found = json.loads(out)
    assert found["layers"] == ["grids-district", "grids-street", "grids-community", "grids-unit", "components", "cases"]
    to_gk = Transformer.from_crs(4490, 4527, always_xy=True)
    for name, epsg in (("plain", 4490), ("cg", 4490), ("gk", 4527)):
        got = {c: shapely.from_wkt(w) for c, w in found[name].items()}
        assert found[f"{name}_crs"] == epsg and set(got) == set(stored), name  # (GDAL takes storageCrs by default)
        for code, geom in stored.items():
            expect = (
                geom
                if epsg == 4490
                else shapely.transform(geom, lambda a: np.column_stack(to_gk.transform(a[:, 0], a[:, 1])))
            )
            tol = 1e-7 if epsg == 4490 else 0.01  # (1e-7 degrees: about 1 cm)
            assert shapely.equals_exact(shapely.normalize(got[code]), shapely.normalize(expect), tol), (name, code)
    assert found["cases"] == found["unique"] == cases > 10_000
    assert len(found["west"]) == 16 and all(c.startswith("110108001001") for c in found["west"])
    # every collection, as many features as the database holds (a city-wide viewer)
    assert found["counts"] == {"grids-district": 1, "grids-street": 2, "grids-community": 4, "grids-unit": 64,
                               "components": 8, "cases": cases}  # fmt: skip


def test_ogrinfo_from_the_distribution_reads_a_collection(settings, city, tmp_path):
    from tests.browser import live_server

    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "ogrinfo is missing: scripts/install-system.sh installs gdal-bin"
    key = api_key(city, "viewer")
    header = tmp_path / "headers.txt"
    header.write_text(f"Authorization: Bearer {key}\n")
    with live_server(settings) as base:
        r = subprocess.run(
            [ogrinfo, "-ro", "-so", f"OAPIF:{base}/ogc/collections/grids-unit", "grids-unit"],
            env={**os.environ, "GDAL_HTTP_HEADER_FILE": str(header)}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert "Feature Count: 64" in r.stdout, r.stdout
        r = subprocess.run(
            [ogrinfo, "-ro", "-al", "-q", "-where", "code = '110108001001001'", f"OAPIF:{base}/ogc/collections/grids-unit"],
            env={**os.environ, "GDAL_HTTP_HEADER_FILE": str(header)}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert r.returncode == 0 and r.stdout.count("OGRFeature(grids-unit)") == 1, r.stdout[-2000:]


QGIS_SCRIPT = """
import os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from qgis.core import Qgis, QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
out = {"version": Qgis.QGIS_VERSION}
for name in ("grids-street", "grids-unit"):
    layer = QgsVectorLayer(f"url='{sys.argv[1]}' typename='{name}'", name, "OAPIF")
    out[name] = [layer.isValid(), layer.featureCount() if layer.isValid() else None,
                 sorted(f["code"] for f in layer.getFeatures()) if layer.isValid() else []]
print(__import__("json").dumps(out))
app.exitQgis()
"""


def test_qgis_headless_loads_a_public_collection(settings, city):
    """QGIS itself (Debian's python3-qgis, its OAPIF provider) lists and loads a public collection;
    a collection not made public stays closed to it."""
    from tests.browser import live_server

    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import qgis.core"], capture_output=True, text=True)
    assert probe.returncode == 0, "python3-qgis is missing: scripts/install-system.sh installs it"
    with live_server(settings.model_copy(update={"ogc_public": "grids-street"})) as base:
        r = subprocess.run(
            [python, "-c", QGIS_SCRIPT, f"{base}/ogc"], capture_output=True, text=True, timeout=180,
            env={**os.environ, "XDG_RUNTIME_DIR": "/tmp"},
        )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    found = json.loads(r.stdout.strip().splitlines()[-1])
    assert found["grids-street"] == [True, 2, ["110108001", "110108002"]], found
    assert found["grids-unit"][0] is False, found  # (401: QGIS reports the layer invalid)


def test_a_caller_with_personal_data_in_part_of_their_area_cannot_filter_on_it_elsewhere(settings, city):
    """A dispatcher of the east street who views the whole district: the callers' names are in
    the west street's cases, where this user may not read them, so no filter or parameter on them
    finds (or counts) those cases."""
    from gis.access import accounts

    with city.begin() as conn:
        accounts.create_user(conn, "mixed", "混合", password="a long passphrase")
        accounts.grant(conn, "mixed", "dispatcher", "110108002")
        accounts.grant(conn, "mixed", "viewer", "110108")
    with _client(settings) as c:
        token = c.post("/api/v1/auth/token", data={"username": "mixed", "password": "a long passphrase"}).json()
        who = {"Authorization": f"Bearer {token['access_token']}"}
        url = "/ogc/collections/cases/items"
        assert c.get(url, headers=who).json()["numberMatched"] == 64  # every case of the district
        for params in ({"filter": "contact_name = '王伟'"}, {"contact_name": "王伟"},
                       {"filter": "contact_phone LIKE '138%'"}, {"filter": "contact_name IS NOT NULL"}):  # fmt: skip
            r = c.get(url, params=params, headers=who)
            assert r.status_code == 200 and r.json()["numberMatched"] == 0, (params, r.text)
        shown = c.get(url, params={"limit": 100}, headers=who).json()["features"]
        assert all(f["properties"]["contact_name"] is None for f in shown)
        # in the east street, where this user dispatches, the caller's name is there and found
        with city.begin() as conn:
            intake.intake(conn, lon=X0 + 6.5 * STEP, lat=Y0 + 6.5 * STEP, class_code="0101", channel="hotline",
                          contact={"name": "李娜", "phone": "13900000000", "email": None})  # fmt: skip
        found = c.get(url, params={"filter": "contact_name = '李娜'"}, headers=who).json()
        assert found["numberMatched"] == 1 and found["features"][0]["properties"]["contact_name"] == "李娜"


def test_hostile_filters_and_parameters_are_400s_naming_the_field(settings, city):
    deep = " AND ".join(["1 = 1"] * 1000)
    deep_json = json.dumps({"op": "and", "args": [{"op": "=", "args": [1, 1]}] * 1000})
    cases = [
        ({"filter": "name = 5"}, "filter"),
        ({"filter": "CASEI('x') = 'x' AND name LIKE CASEI('%x%')"}, None),  # (fine: CASEI of a literal)
        (
            {"filter": json.dumps({"op": "in", "args": [{"property": "name"}, []]}), "filter-lang": "cql2-json"},
            "filter",
        ),
        ({"filter": deep}, "filter"),
        ({"filter": deep_json, "filter-lang": "cql2-json"}, "filter"),
        ({"filter": "level = " + "+".join(["1"] * 1000)}, "filter"),
        (
            {
                "filter": json.dumps(
                    {"op": "s_intersects", "args": [{"property": "geometry"}, {"type": "Point", "coordinates": [1]}]}
                ),
                "filter-lang": "cql2-json",
            },
            "filter",
        ),  # fmt: skip
        (
            {"filter": json.dumps({"op": "=", "args": [{"property": "name"}, "a\u0000b"]}), "filter-lang": "cql2-json"},
            "filter",
        ),
        (
            {
                "filter": json.dumps(
                    {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": ["a", 1, 2, 3]}]}
                ),
                "filter-lang": "cql2-json",
            },
            "filter",
        ),  # fmt: skip
        ({"bbox": "0,0,1e12,1e12", "bbox-crs": EPSG + "4513"}, "bbox"),
        ({"filter": "area_m2 / 0 > 1"}, "filter"),
        ({"limit": "²"}, "limit"),
        ({"cursor": "²"}, "cursor"),
        ({"level": "99999999999999999999"}, "level"),
        ({"datetime": "2024-01-01T00:00:00-23:59"}, "datetime"),
        ({"valid_from": "2024-01-01T00:00:00-23:59"}, "valid_from"),
    ]
    with _client(settings) as c:
        admin = bearer(api_key(city, "admin"))
        for params, field in cases:
            r = c.get("/ogc/collections/grids-unit/items", params=params, headers=admin)
            if field is None:
                assert r.status_code == 200, (params, r.text)
                continue
            assert r.status_code == 400 and r.json()["field"] == field, (str(params)[:120], r.status_code, r.text[:300])


def test_bbox_literals_geometry_members_extent_and_single_cases(settings, city):
    with _client(settings) as c:
        admin = bearer(api_key(city, "admin"))
        box = (X0 + 0.1 * STEP, Y0 + 0.1 * STEP, X0 + 0.9 * STEP, Y0 + 0.9 * STEP)
        url = "/ogc/collections/cases/items"

        def matched(**params):
            r = c.get(url, params=params, headers=admin)
            assert r.status_code == 200, r.text
            return r.json()["numberMatched"]

        assert matched(bbox=",".join(map(str, box))) == 1
        assert matched(filter=f"S_INTERSECTS(geometry, BBOX({', '.join(map(str, box))}))") == 1
        as_json = {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(box)}]}
        assert matched(filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}) == 1
        between = {"op": "between", "args": [{"property": "id"}, 1, 10]}
        assert matched(filter=json.dumps(between), **{"filter-lang": "cql2-json"}) == 10
        with city.begin() as conn:
            for text_ in ("axb", "a.b"):
                intake.intake(conn, lon=X0 + 0.5 * STEP, lat=Y0 + 0.5 * STEP, class_code="0101", channel="app",
                              description=text_)  # fmt: skip
        like = {"op": "like", "args": [{"property": "description"}, "a.b%"]}  # "." is no wildcard in CQL2
        assert matched(filter=json.dumps(like), **{"filter-lang": "cql2-json"}) == 1
        assert matched(filter="description LIKE 'a_b'") == 2  # ("_" is)
        page = c.get(url, headers=admin).json()
        assert all("crs" not in f["geometry"] for f in page["features"])  # RFC 7946: no crs member
        extent = c.get("/ogc/collections/cases", headers=admin).json()["extent"]["spatial"]["bbox"][0]
        assert extent == pytest.approx([X0, Y0, X0 + 8 * STEP, Y0 + 8 * STEP], abs=1e-6)
        first = page["features"][0]["id"]
        one = c.get(f"{url}/{first}", headers=admin)
        assert one.status_code == 200 and one.json()["id"] == first
        assert c.get(f"{url}/x1", headers=admin).status_code == 404


def test_a_units_staff_read_their_units_components(settings, city):
    with _client(settings) as c:
        staff = bearer(api_key(city, "unit_staff", ("110108",), unit="U1"))
        ogc = c.get("/ogc/collections/components/items", params={"limit": 100}, headers=staff).json()
        api = c.get("/api/v1/components", params={"limit": 100}, headers=staff).json()
        assert ogc["numberMatched"] == len(api["features"]) == 4
        assert sorted(f["id"] for f in ogc["features"]) == sorted(f["id"] for f in api["features"])
