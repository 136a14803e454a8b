"""Who may do what, and where, through the API: every route declares a permission (or is public on
purpose), nothing answers without credentials, and a caller limited to an area sees only that area:
an object outside it is missing (404)."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.access import PUBLIC_REASONS, Permission, public
from api.app import create_app
from api.routes import audit, auth, cases, grids, imports, lookup, open311, registry, tiles, tracks, validation
from gis.access import accounts, devices
from gis.cases import intake
from gis.registry import units
from gis.tracks import workers
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city

# the square city's two streets: 110108001 west (x < 4 STEP), 110108002 east
WEST = (X0 + 1.5 * STEP, Y0 + 6.5 * STEP)
EAST = (X0 + 6.5 * STEP, Y0 + 6.5 * STEP)


def _routes(app) -> list[APIRoute]:
    out = [r for r in app.routes if isinstance(r, APIRoute)]
    for module in (lookup, cases, tracks, grids, imports, validation, registry, auth, audit, open311, tiles):
        out += [r for r in module.router.routes if isinstance(r, APIRoute)]
    out += [r for r in tracks.osmand.routes if isinstance(r, APIRoute)]
    return out


def _declares(dependant) -> set[str]:
    found = set()
    for d in dependant.dependencies:
        if isinstance(d.call, Permission):
            found.add(d.call.name)
        elif d.call is public:
            found.add("public")
        found |= _declares(d)
    return found


def test_every_route_declares_a_permission_or_is_public_on_purpose(settings):
    app = create_app(settings)
    routes = _routes(app)
    assert len(routes) > 50
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in routes if not _declares(r.dependant)]
    assert not undeclared, undeclared
    public_paths = {r.path for r in routes if "public" in _declares(r.dependant)}
    prefixed = {p for p in PUBLIC_REASONS}
    assert {p if not p.startswith("/auth") else p for p in public_paths} <= prefixed | {
        p.removeprefix("/api/v1") for p in prefixed
    }, public_paths


#: well-formed path values, so a refusal comes from the missing credentials, not from the path
EXAMPLE = {"code": "110108001", "worker_id": "w1", "day": "2026-01-01", "level": "unit", "collection": "grids-unit"}


def test_nothing_answers_without_credentials(settings, db):
    app = create_app(settings)
    spec = app.openapi()
    with TestClient(app) as c:
        for path, ops in spec["paths"].items():
            for method in ops:
                url = re.sub(r"\{([^}]+)\}", lambda m: EXAMPLE.get(m.group(1), "1"), path)
                r = c.request(method.upper(), url)
                if path in PUBLIC_REASONS:
                    continue
                if path == "/osmand":  # a phone's report carries its secret as `id`: none is refused
                    assert r.status_code == 400, (method, path, r.text)
                    continue
                assert r.status_code == 401, (method, path, r.status_code, r.text)
                assert r.headers.get("www-authenticate") == "Bearer"


@pytest.fixture
def two_streets(db):
    load_city(db, square_city())
    with db.begin() as conn:
        units.create_unit(conn, code="GOV-W", name="西街道", kind="street_government", area_code="110108001")
        units.create_unit(conn, code="GOV-E", name="东街道", kind="street_government", area_code="110108002")
        west, _ = intake.intake(conn, lon=WEST[0], lat=WEST[1], class_code="0101", channel="hotline")
        east, _ = intake.intake(conn, lon=EAST[0], lat=EAST[1], class_code="0101", channel="hotline")
        workers.create_worker(conn, worker_id="WW", name="西网格员", grids=[west["chain"]["unit_grid"]])
        workers.create_worker(conn, worker_id="EW", name="东网格员", grids=[east["chain"]["unit_grid"]])
    return {"west": west, "east": east}


def test_a_street_user_sees_only_its_street(settings, db, two_streets):
    west, east = two_streets["west"], two_streets["east"]
    with TestClient(create_app(settings), headers=bearer(api_key(db, "dispatcher", ("110108001",)))) as c:
        assert c.get(f"/api/v1/cases/{west['id']}").status_code == 200
        # an object outside the street answers exactly like one that does not exist
        outside, missing = c.get(f"/api/v1/cases/{east['id']}"), c.get("/api/v1/cases/999999")
        assert outside.status_code == missing.status_code == 404
        assert outside.json()["error"] == missing.json()["error"] == "not_found"
        assert c.get(f"/api/v1/cases/{east['id']}/history").status_code == 404
        r = c.post(f"/api/v1/cases/{east['id']}/actions", json={"action": "supervise"})
        assert r.status_code == 404
        # lists, a box over both streets, a filter naming the other street: only the west
        assert [x["id"] for x in c.get("/api/v1/cases").json()["items"]] == [west["id"]]
        box = f"{X0},{Y0},{X0 + 8 * STEP},{Y0 + 8 * STEP}"
        assert [x["id"] for x in c.get("/api/v1/cases", params={"bbox": box}).json()["items"]] == [west["id"]]
        assert c.get("/api/v1/cases", params={"grid": "110108002"}).json()["total"] == 0
        stats = c.get("/api/v1/cases-statistics", params={"by": "street", "from": "2000-01-01", "to": "2100-01-01"})
        assert [s["street"] for s in stats.json()] == ["110108001"]
        grids_seen = {f["id"] for f in c.get("/api/v1/grids", params={"level": "street"}).json()["features"]}
        assert grids_seen == {"110108001"}
        assert c.get("/api/v1/grids/110108002").status_code == 404
        assert [w["worker_id"] for w in c.get("/api/v1/workers").json()["items"]] == ["WW"]
        assert c.get("/api/v1/workers/EW").status_code == 404
        assert c.get("/api/v1/workers/EW/track", params={"from": "2020-01-01", "to": "2030-01-01"}).status_code == 404
        east_lookup = c.get("/api/v1/lookup", params={"lon": EAST[0], "lat": EAST[1]}).json()
        assert east_lookup["outside"] is True and east_lookup["street"] is None
        # an intake outside the street is refused before anything is written
        r = c.post("/api/v1/cases", json={"lon": EAST[0], "lat": EAST[1], "class": "0101", "channel": "hotline"})
        assert r.status_code == 403
        # the dispatcher acts on its own street's case; the trail names it, not the body's actor
        r = c.post(f"/api/v1/cases/{west['id']}/actions", json={"action": "supervise", "actor": "someone else"})
        assert r.status_code == 200, r.text
        assert c.get(f"/api/v1/cases/{west['id']}/history").json()[-1]["actor"].startswith("key:")


def test_roles_do_what_their_table_says(settings, db, two_streets):
    west = two_streets["west"]
    with TestClient(create_app(settings)) as c:
        viewer = bearer(api_key(db, "viewer"))
        assert c.get(f"/api/v1/cases/{west['id']}", headers=viewer).status_code == 200
        assert (
            c.post(f"/api/v1/cases/{west['id']}/actions", json={"action": "supervise"}, headers=viewer).status_code
            == 403
        )
        assert c.get("/api/v1/workers/positions", headers=viewer).status_code == 403  # no tracks for a screen
        planner = bearer(api_key(db, "planner"))
        assert c.get("/api/v1/cases-overdue", headers=planner).status_code == 200
        assert (
            c.post("/api/v1/resp-units", json={"code": "X", "name": "x", "kind": "water"}, headers=planner).status_code
            == 403
        )
        # a unit's staff: the cases of its unit wherever they are, and only the handling steps
        staff = bearer(api_key(db, "unit_staff", unit="GOV-W"))
        assert [x["id"] for x in c.get("/api/v1/cases", headers=staff).json()["items"]] == [west["id"]]
        r = c.post(f"/api/v1/cases/{west['id']}/actions", json={"action": "accept"}, headers=staff)
        assert r.status_code == 200, r.text
        r = c.post(f"/api/v1/cases/{west['id']}/actions", json={"action": "supervise"}, headers=staff)
        assert r.status_code == 403
        # a machine client reads back only what it submitted
        app_key = bearer(api_key(db, "reporter"))
        mine = c.post(
            "/api/v1/cases", json={"lon": WEST[0], "lat": WEST[1], "class": "0101", "channel": "app"}, headers=app_key
        )
        assert mine.status_code == 201
        assert [x["id"] for x in c.get("/api/v1/cases", headers=app_key).json()["items"]] == [mine.json()["id"]]
        assert c.get(f"/api/v1/cases/{west['id']}", headers=app_key).status_code == 404
        # a district dispatcher sets the rules; a street dispatcher may not
        street = bearer(api_key(db, "dispatcher", ("110108001",)))
        district = bearer(api_key(db, "dispatcher", ("110108",)))
        unit = {"code": "W2", "name": "水务", "kind": "water"}
        assert c.post("/api/v1/resp-units", json=unit, headers=street).status_code == 403
        assert c.post("/api/v1/resp-units", json=unit, headers=district).status_code == 201


def test_sign_in_me_and_sign_out(settings, db, two_streets):
    with db.begin() as conn:
        accounts.create_user(conn, "zhao", "赵", password="a long passphrase")
        accounts.grant(conn, "zhao", "dispatcher", "110108001")
    with TestClient(create_app(settings)) as c:
        wrong = c.post("/api/v1/auth/token", data={"username": "zhao", "password": "nope"})
        unknown = c.post("/api/v1/auth/token", data={"username": "nobody", "password": "nope"})
        assert wrong.status_code == unknown.status_code == 401 and wrong.json() == unknown.json()
        token = c.post("/api/v1/auth/token", data={"username": "zhao", "password": "a long passphrase"}).json()
        assert token["token_type"] == "bearer" and token["expires_in"] > 0
        me = c.get("/api/v1/auth/me", headers=bearer(token["access_token"])).json()
        assert me["name"] == "zhao" and me["grants"] == [{"role": "dispatcher", "area": "110108001", "resp_unit": None}]
        assert "cases:act" in me["permissions"] and "users:admin" not in me["permissions"]
        # a tampered token, and the token after signing out: refused at once
        tampered = token["access_token"][:-2] + ("AA" if not token["access_token"].endswith("AA") else "BB")
        assert c.get("/api/v1/cases", headers=bearer(tampered)).status_code == 401
        assert c.post("/api/v1/auth/logout", headers=bearer(token["access_token"])).status_code == 204
        assert c.get("/api/v1/cases", headers=bearer(token["access_token"])).status_code == 401


def test_a_phone_reports_for_its_own_worker_only(settings, db, two_streets):
    with db.begin() as conn:
        secret = devices.issue_secret(conn, "WW", issued_by="test")
    with TestClient(create_app(settings)) as c:
        fix = {"fix_time": "2026-11-01T01:00:00Z", "lon": WEST[0], "lat": WEST[1], "crs": "EPSG:4490"}
        # the phone of WW says it is EW: the point is WW's, whatever it says
        r = c.post("/api/v1/tracks", json={"points": [{**fix, "worker_id": "EW"}]}, headers=bearer(secret))
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text
        with db.connect() as conn:
            from sqlalchemy import text

            assert conn.execute(text("SELECT worker_id FROM track_point")).scalars().all() == ["WW"]
        # the phone may send fixes, nothing else; a wrong secret is refused
        assert c.get("/api/v1/cases", headers=bearer(secret)).status_code == 403
        assert c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer("wrong-secret")).status_code == 401


def test_a_street_grid_admin_imports_only_inside_its_street(settings, db):
    """An import naming a grid outside the importer's areas is refused whole: nothing is written."""
    import io

    city = square_city()
    load_city(db, city, upto=2)
    communities = city[3]
    with TestClient(create_app(settings), headers=bearer(api_key(db, "grid_admin", ("110108001",)))) as c:
        r = c.post(
            "/api/v1/imports/grids",
            data={"level": "community"},
            files={"file": ("c.geojson", io.BytesIO(communities.to_json().encode()), "application/geo+json")},
        )
        assert r.status_code == 422, r.text
        rejected = r.json()["details"]["rejected"]
        assert rejected and all("outside the areas you may change" in x["reason"] for x in rejected)
        assert {x["code"][:9] for x in rejected} == {"110108002"}
        assert c.get("/api/v1/grids", params={"level": "community"}).json()["features"] == []
        west = communities[communities["code"].str.startswith("110108001")]
        r = c.post(
            "/api/v1/imports/grids",
            data={"level": "community"},
            files={"file": ("w.geojson", io.BytesIO(west.to_json().encode()), "application/geo+json")},
        )
        assert r.status_code == 200 and r.json()["written"] == len(west), r.text


def test_the_audit_trail_names_the_authenticated_actor_and_is_read_by_city_administrators(settings, db, two_streets):
    west = two_streets["west"]
    key = api_key(db, "dispatcher", ("110108001",))
    with TestClient(create_app(settings), headers=bearer(key)) as c:
        assert c.post(f"/api/v1/cases/{west['id']}/actions", json={"action": "supervise"}).status_code == 200
        me = c.get("/api/v1/auth/me").json()
        assert c.get("/api/v1/audit").status_code == 403  # a dispatcher has no audit:read
    with TestClient(create_app(settings), headers=bearer(api_key(db, "admin", ("110108001",)))) as c:
        r = c.get("/api/v1/audit")  # an administrator of one street: the trail spans every area
        assert r.status_code == 403 and r.json()["error"] == "forbidden"
    with TestClient(create_app(settings), headers=bearer(api_key(db, "admin"))) as c:
        with db.begin() as conn:
            units.create_unit(conn, code="GOV-X", name="x", kind="street_government", area_code="110108001")
        r = c.patch("/api/v1/resp-units/GOV-X", json={"name": "新名字"})
        assert r.status_code == 200, r.text
        trail = c.get("/api/v1/audit", params={"object": "unit:GOV-X"})
        assert trail.status_code == 200, trail.text
        items = trail.json()["items"]
        assert [(i["action"], i["actor_kind"]) for i in items] == [("unit.change", "key")]
        admin = c.get("/api/v1/auth/me").json()["id"]
        mine = c.get("/api/v1/audit", params={"actor": f"key:{admin}"}).json()["items"]
        assert [i["object_id"] for i in mine] == ["GOV-X"]
        # the dispatcher's refusal is in the trail, with the route, its reason and the permission
        refused = c.get("/api/v1/audit", params={"actor": f"key:{me['id']}", "object": "route"}).json()["items"]
        assert [(i["action"], i["object_id"], i["details"]["permission"]) for i in refused] == [
            ("denied", "GET /api/v1/audit", "audit:read")
        ]
        bad = c.get("/api/v1/audit", params={"actor": "nobody:1"})
        assert bad.status_code == 400 and bad.json()["field"] == "actor" and "user" in bad.json()["allowed"]
        assert c.get("/api/v1/audit", params={"from": "2030-01-01", "to": "2020-01-01"}).status_code == 400


#: well-formed values of the required query parameters
QUERY = {"by": "street", "from": "2020-01-01", "to": "2030-01-01", "date": "2026-01-01", "lon": X0, "lat": Y0}


#: a well-formed body for each write, so a refusal comes from the caller's roles, not from the body
#: (FastAPI checks a body before the route's caller is resolved); imports and redraws are dry runs
STREETS = square_city()[2].to_json().encode()
SQUARE = {"type": "Polygon", "coordinates": [[[X0, Y0], [X0 + STEP, Y0], [X0 + STEP, Y0 + STEP], [X0, Y0]]]}
BODIES = {
    ("POST", "/api/v1/lookup"): {"json": {"points": [{"lon": WEST[0], "lat": WEST[1]}]}},
    ("POST", "/api/v1/cases"): {"json": {"lon": WEST[0], "lat": WEST[1], "class": "0101", "channel": "hotline"}},
    ("POST", "/api/v1/cases/{case_id}/actions"): {"json": {"action": "accept"}},
    ("POST", "/api/v1/workers"): {"json": {"worker_id": "NEW", "name": "新网格员"}},
    ("PATCH", "/api/v1/workers/{worker_id}"): {"json": {"name": "西网格员"}},
    ("POST", "/api/v1/workers/{worker_id}/device-secret"): {},
    ("POST", "/api/v1/tracks"): {
        "json": {"points": [{"worker_id": "WW", "fix_time": "2026-11-01T01:00:00Z", "lon": WEST[0], "lat": WEST[1]}]}
    },
    ("PUT", "/api/v1/grids/{code}"): {"json": {"type": "Feature", "geometry": SQUARE}, "params": {"dry_run": "true"}},
    ("POST", "/api/v1/grids/{code}/impact"): {"json": {"type": "Feature", "geometry": SQUARE}},
    ("POST", "/api/v1/grids/{code}/split"): {
        "json": {
            "line": {
                "type": "LineString",
                "coordinates": [[X0 - STEP / 10, Y0 + STEP / 2], [X0 + STEP * 1.1, Y0 + STEP / 2]],
            }
        },
        "params": {"dry_run": "true"},
    },
    ("PUT", "/api/v1/grids"): {
        "json": {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"code": "110108001"}, "geometry": SQUARE}],
        },
        "params": {"dry_run": "true"},
    },
    ("POST", "/api/v1/grids/{code}/merge"): {"json": {"with": "110108001002014"}, "params": {"dry_run": "true"}},
    ("POST", "/api/v1/grids/{code}/children"): {
        "json": {"type": "Feature", "geometry": SQUARE},
        "params": {"dry_run": "true"},
    },
    ("POST", "/api/v1/imports/grids"): {
        "data": {"level": "street", "dry_run": "true"},
        "files": {"file": ("s.geojson", STREETS, "application/geo+json")},
    },
    ("POST", "/api/v1/resp-units"): {"json": {"code": "NEW-UNIT", "name": "新单位", "kind": "water"}},
    ("PATCH", "/api/v1/resp-units/{code}"): {"json": {"name": "西街道办"}},
    ("POST", "/api/v1/rules"): {"json": {"class_code": "0101", "area_code": "110108001", "resp_unit": "GOV-W"}},
    ("POST", "/api/v1/event-classes"): {
        "json": {
            "code": "9901",
            "major_name": "其他",
            "minor_name": "测试",
            "time_limit": 2,
            "time_unit": "working_days",
        }
    },
    ("PATCH", "/api/v1/event-classes/{code}"): {"json": {"minor_name": "井盖"}},
    ("POST", "/api/v1/components"): {
        "json": {"code": "1101080101000001", "geometry": {"type": "Point", "coordinates": list(WEST)}}
    },
    ("PATCH", "/api/v1/components/{code}"): {"json": {"name": "井盖"}},  # the one just made
    ("PUT", "/api/v1/calendar/{day}"): {"json": {"workday": True}},
    ("POST", "/open311/v2/requests.json"): {"data": {"service_code": "0101", "lat": WEST[1], "long": WEST[0]}},
    ("POST", "/api/v1/auth/logout"): {},
}


def _callers(c: TestClient, db) -> dict[str, dict[str, str]]:
    """One caller of each role on the whole city (unit_staff: unit GOV-W): API keys, and for the
    gridworker, whose grants need an account linked to a worker, a signed-in user (worker WW)."""
    from gis.access.roles import ROLES

    with db.begin() as conn:
        accounts.create_user(conn, "ww", "西网格员", password="a long passphrase", worker_id="WW")
        accounts.grant(conn, "ww", "gridworker")
    token = c.post("/api/v1/auth/token", data={"username": "ww", "password": "a long passphrase"}).json()
    out = {
        role: bearer(api_key(db, role, unit="GOV-W" if role == "unit_staff" else None))
        for role in ROLES
        if role != "gridworker"
    }
    return {**out, "gridworker": bearer(token["access_token"])}


def test_every_route_against_every_role(settings, db, two_streets):
    """The role × route matrix: every operation of the OpenAPI (reads, writes with well-formed bodies,
    deletes), every role: a role without the route's permission gets 403, a role with it never 401
    or 403 (whatever else the request meets: 200, 201, 404 for an object outside or missing, 409)."""
    from gis.access.roles import ROLES

    app = create_app(settings)
    declared = {}
    for r in _routes(app):
        found = _declares(r.dependant) - {"public"}
        for m in r.methods - {"HEAD"}:
            if found:  # the module routers' paths are without the /api/v1 they are mounted at
                declared[(m, r.path_format)] = declared[(m, "/api/v1" + r.path_format)] = found
    spec = app.openapi()
    # (/osmand takes a phone's device secret as its id, never a bearer key: test_a_phone_reports...)
    ops = [(m.upper(), p) for p, o in spec["paths"].items() for m in o if (m.upper(), p) in declared]
    ops = [(m, p) for m, p in ops if p != "/osmand"]
    ops.sort(key=lambda op: op[1] == "/api/v1/auth/logout")  # signing out last
    writes = [op for op in ops if op[0] in ("POST", "PUT", "PATCH")]
    assert set(writes) == set(BODIES), set(writes) ^ set(BODIES)  # a new write needs its body here
    assert len(ops) > 50
    west = two_streets["west"]
    values = {**EXAMPLE, "case_id": str(west["id"]), "worker_id": "WW", "code": "110108001"}
    specific = {
        "/api/v1/resp-units/{code}": "GOV-W",
        "/api/v1/event-classes/{code}": "0101",
        "/api/v1/components/{code}": "1101080101000001",
        # the unit grid in the south-west corner (its east neighbour merged in), its community
        "/api/v1/grids/{code}/split": "110108001002013",
        "/api/v1/grids/{code}/merge": "110108001002013",
        "/api/v1/grids/{code}/children": "110108001002",
    }
    seen = set()
    with TestClient(app) as c:
        for role, headers in _callers(c, db).items():
            for method, path in ops:
                if method == "DELETE" and role == "admin":
                    continue  # an admin's delete would succeed and change the city for the next rows
                fill = specific.get(path)
                url = re.sub(r"\{([^}]+)\}", lambda m, fill=fill: fill or values.get(m.group(1), "1"), path)
                params = spec["paths"][path][method.lower()].get("parameters", [])
                query = {q["name"]: QUERY[q["name"]] for q in params if q["in"] == "query" and q.get("required")}
                body = dict(BODIES.get((method, path), {}))
                query |= body.pop("params", {})
                r = c.request(method, url, params=query, headers=headers, **body)
                (needed,) = declared[(method, path)]
                if needed in ROLES[role]:
                    assert r.status_code not in (401, 403), (role, method, path, r.status_code, r.text)
                else:
                    assert r.status_code == 403, (role, method, path, r.status_code, r.text)
                seen.add((role, method, path, r.status_code))
    assert not {(m, p, s) for r, m, p, s in seen if r == "admin" and m in ("POST", "PUT", "PATCH") and s >= 400}
    assert {role for role, *_ in seen} == set(ROLES)
    assert len(seen) > 400


def test_wrong_secrets_from_an_address_are_limited(settings, db, two_streets):
    """Guessing device secrets (or keys, or tokens) from one address: after the limit every
    credential it sends is refused (429, with the wait) before it is checked, the right one too;
    another address is not held up, nor one where a phone repeats the same stale secret."""
    with db.begin() as conn:
        secret = devices.issue_secret(conn, "WW", issued_by="test")
    app = create_app(settings.model_copy(update={"credential_max_failures": 5}))
    fix = {"lat": str(WEST[1]), "lon": str(WEST[0]), "timestamp": "1793500000"}
    with TestClient(app, client=("10.0.0.7", 5000)) as phone, TestClient(app, client=("10.0.0.8", 5000)) as other:
        for i in range(5):  # refused like any bad report, and counted
            r = phone.get("/osmand", params={**fix, "id": f"guess-{i}"})
            assert r.status_code == 400 and r.json()["field"] == "id", r.text
        r = phone.get("/osmand", params={**fix, "id": secret})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0, r.text
        assert phone.get("/api/v1/cases", headers=bearer("wg_wrong")).status_code == 429
        assert other.get("/osmand", params={**fix, "id": secret}).status_code == 200
        for _ in range(10):  # a phone behind the same NAT as others, left with a rotated secret
            assert other.get("/osmand", params={**fix, "id": "rotated-away"}).status_code == 400
        assert other.get("/osmand", params={**fix, "id": secret}).status_code == 200


def test_gridworkers_names_are_masked_for_roles_without_personal_data(settings, db, two_streets):
    """A planner or a command-hall screen sees a case's gridworkers as 西***; the dispatcher of the
    street and the unit handling the case see the names."""
    west = two_streets["west"]
    with TestClient(create_app(settings)) as c:
        for role, unit, seen in (
            ("planner", None, "西***"),
            ("viewer", None, "西***"),
            ("dispatcher", None, "西网格员"),
            ("unit_staff", "GOV-W", "西网格员"),
        ):
            key = bearer(api_key(db, role, unit=unit))
            one = c.get(f"/api/v1/cases/{west['id']}", headers=key).json()
            listed = [x for x in c.get("/api/v1/cases", headers=key).json()["items"] if x["id"] == west["id"]]
            names = [w["name"] for w in one["gridworkers"]]
            assert seen in names and [w["name"] for w in listed[0]["gridworkers"]] == names, (role, names)
            assert ("西网格员" in c.get(f"/api/v1/cases/{west['id']}", headers=key).text) == (seen == "西网格员")


def test_the_citizens_contact_is_masked_for_those_who_do_not_handle_the_case(settings, db, two_streets):
    """The hotline stores who called; the street's dispatcher and the unit handling the case see it,
    a planner, a command-hall screen, a gridworker's unit and the app that submitted it see 张*,
    138****5678 and z***@example.cn, in the case, in lists, and never in statistics."""
    contact = {"name": "张三", "phone": "13812345678", "email": "zhangsan@example.cn"}
    masked = {"name": "张*", "phone": "138****5678", "email": "z***@example.cn"}
    with TestClient(create_app(settings)) as c:
        reporter = bearer(api_key(db, "reporter"))
        body = {"lon": WEST[0], "lat": WEST[1], "class": "0101", "channel": "app", "contact": contact}
        created = c.post("/api/v1/cases", json=body, headers=reporter)
        assert created.status_code == 201 and created.json()["contact"] == masked, created.text
        case = created.json()["id"]
        for role, unit, seen in (
            ("dispatcher", None, contact),
            ("unit_staff", "GOV-W", contact),
            ("admin", None, contact),
            ("planner", None, masked),
            ("viewer", None, masked),
            ("unit_staff", "GOV-E", None),  # another unit's staff: the case is not theirs at all
        ):
            key = bearer(api_key(db, role, unit=unit))
            one = c.get(f"/api/v1/cases/{case}", headers=key)
            if seen is None:
                assert one.status_code == 404
                continue
            assert one.json()["contact"] == seen, (role, one.json()["contact"])
            listed = [x for x in c.get("/api/v1/cases", headers=key).json()["items"] if x["id"] == case]
            assert listed[0]["contact"] == seen, role
            if seen is masked:
                assert "13812345678" not in one.text and "zhangsan" not in one.text
        stats = c.get(
            "/api/v1/cases-statistics", params={"by": "street", "from": "2000-01-01", "to": "2100-01-01"}, headers=key
        )
        assert "138" not in stats.text and "张三" not in stats.text
        # Open311 takes the contact in GeoReport's fields, and its answers never carry it
        form = {"api_key": api_key(db, "reporter"), "service_code": "0101", "lat": WEST[1], "long": WEST[0]}
        r = c.post(
            "/open311/v2/requests.json", data={**form, "first_name": "四", "last_name": "李", "phone": "13900001111"}
        )
        assert r.status_code == 200, r.text
        rid = int(r.json()[0]["service_request_id"])
        admin = bearer(api_key(db, "admin"))
        assert c.get(f"/api/v1/cases/{rid}", headers=admin).json()["contact"] == {
            "name": "李四",
            "phone": "13900001111",
            "email": None,
        }
        listed = c.get("/open311/v2/requests.json", headers=admin)
        assert "13900001111" not in listed.text
        # a bad phone number is refused, naming the field, and nothing is stored
        bad = c.post("/api/v1/cases", json={**body, "contact": {"phone": "call me"}}, headers=reporter)
        assert bad.status_code == 400 and "phone" in bad.json()["field"], bad.text
        assert c.get("/api/v1/cases", headers=admin).json()["total"] == 4


def test_grid_admins_issue_rotate_and_revoke_phone_secrets_through_the_api(settings, db, two_streets):
    fix = {"fix_time": "2026-11-01T01:00:00Z", "lon": WEST[0], "lat": WEST[1]}
    with TestClient(create_app(settings)) as c:
        west_admin = bearer(api_key(db, "grid_admin", ("110108001",)))
        first = c.post("/api/v1/workers/WW/device-secret", params={"qr": "true"}, headers=west_admin)
        assert first.status_code == 201 and first.headers["cache-control"] == "no-store", first.text
        answer = first.json()
        assert answer["worker_id"] == "WW" and answer["qr_png_base64"].startswith("iVBOR")  # a PNG
        assert c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer(answer["secret"])).status_code == 200
        # rotating: the old secret stops working at once
        second = c.post("/api/v1/workers/WW/device-secret", headers=west_admin).json()
        assert second["qr_png_base64"] is None and second["secret"] != answer["secret"]
        assert c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer(answer["secret"])).status_code == 401
        assert c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer(second["secret"])).status_code == 200
        # the east street's worker is not the west admin's to touch
        assert c.post("/api/v1/workers/EW/device-secret", headers=west_admin).status_code == 404
        assert c.delete("/api/v1/workers/EW/device-secret", headers=west_admin).status_code == 404
        # a lost phone: revoked, refused; revoking again finds nothing
        assert c.delete("/api/v1/workers/WW/device-secret", headers=west_admin).status_code == 204
        assert c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer(second["secret"])).status_code == 401
        assert c.delete("/api/v1/workers/WW/device-secret", headers=west_admin).status_code == 404
        trail = c.get("/api/v1/audit", params={"object": "worker:WW"}, headers=bearer(api_key(db))).json()
        assert [e["action"] for e in trail["items"]].count("device.issue") == 2, trail
