"""Typed answers: every route documents what it returns, the answers built by hand (for speed)
match the models they document, every list that is not GeoJSON is one page shape, and the
listings read their rows in one statement."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import event

from api.schemas.cases import Case, CaseEvent
from api.schemas.grids import GridFeature, GridPage, GridVersions, LookupBatch, LookupResult
from api.schemas.paging import Page
from api.schemas.registry import ComponentPage
from api.schemas.tracks import Positions
from gis.registry import components, units
from gis.tracks import ingest, workers
from tests.helpers import STEP, X0, Y0, load_city, square_city

INSIDE = {"lon": X0 + 0.5 * STEP, "lat": Y0 + 7.5 * STEP}


def _city(db) -> None:
    load_city(db, square_city())
    with db.begin() as conn:
        units.create_unit(conn, code="U1", name="市政", kind="municipal", area_code="110108")
        components.create_component(
            conn,
            code="1101080101000001",
            geometry={"type": "Point", "coordinates": [X0 + 0.5 * STEP, Y0 + 0.5 * STEP]},
            owner_unit="U1",
        )
        for i in range(3):
            workers.create_worker(
                conn, worker_id=f"w{i}", name=f"网格员{i}", device_id=f"d{i}", grids=["110108001001001"]
            )
        ingest.ingest(conn, [{"worker_id": "w0", "fix_time": "2024-05-01T01:00:00Z", **INSIDE}])


def test_every_route_documents_its_answer(client):
    spec = client.get("/openapi.json").json()
    undocumented = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            answers = {k: v for k, v in op["responses"].items() if k.startswith("2")}
            if "204" in answers:
                continue
            schemas = [m.get("schema") for a in answers.values() for m in a.get("content", {}).values()]
            if not any(s and s != {"type": "string"} for s in schemas):
                undocumented.append(f"{method.upper()} {path}")
    assert undocumented == []
    grids = spec["paths"]["/api/v1/grids"]["get"]["responses"]["200"]["content"]
    assert list(grids) == ["application/geo+json"] and "$ref" in grids["application/geo+json"]["schema"]


def _check(model: Any, answer: Any) -> None:
    TypeAdapter(model).validate_python(answer)


def test_answers_built_by_hand_match_their_documented_models(client, db):
    _city(db)
    _check(LookupResult, client.get("/api/v1/lookup", params=INSIDE).json())
    outside = {"lon": X0 - 1, "lat": Y0}
    batch = client.post("/api/v1/lookup", json={"points": [INSIDE, outside]}).json()
    _check(LookupBatch, batch)
    assert batch["results"][1]["unit_grid"] is None
    for cls in ("0101", "0102"):
        r = client.post("/api/v1/cases", json={**INSIDE, "class": cls, "channel": "hotline"})
        assert r.status_code == 201, r.text
        _check(Case, r.json())
    _check(Page[Case], client.get("/api/v1/cases").json())
    _check(Case, client.get("/api/v1/cases/1").json())
    _check(Case, client.post("/api/v1/cases/1/actions", json={"action": "file", "actor": "u"}).json())
    _check(list[CaseEvent], client.get("/api/v1/cases/1/history").json())
    page = client.get("/api/v1/grids", params={"level": "unit", "limit": 2}).json()
    _check(GridPage, page)
    assert page["links"][0]["rel"] == "next"
    _check(GridFeature, client.get("/api/v1/grids/110108001").json())
    _check(GridVersions, client.get("/api/v1/grids/110108001/versions").json())
    _check(ComponentPage, client.get("/api/v1/components").json())
    _check(Positions, client.get("/api/v1/workers/positions").json())
    _check(Positions, client.get("/api/v1/workers/positions", params={"since": "2024-01-01"}).json())


def test_lists_share_one_page_shape_and_one_maximum(client, db, settings):
    _city(db)
    for path in (
        "/api/v1/cases",
        "/api/v1/workers",
        "/api/v1/resp-units",
        "/api/v1/rules",
        "/api/v1/event-classes",
        "/api/v1/component-classes",
        "/api/v1/calendar",
    ):
        page = client.get(path, params={"limit": 2, "offset": 1}).json()
        assert list(page) == ["total", "limit", "offset", "items"], path
        assert (page["limit"], page["offset"]) == (2, 1) and len(page["items"]) <= 2, path
        r = client.get(path, params={"limit": settings.max_page_limit + 1})
        assert r.status_code == 400 and r.json()["field"] == "limit", path
    classes = client.get("/api/v1/event-classes", params={"limit": 2, "offset": 1}).json()
    assert classes["total"] > 3 and [c["code"] for c in classes["items"]] == ["0102", "0103"]


def _statements(client, path: str, params: dict[str, Any] | None = None) -> tuple[int, Any]:
    engine = client.app.state.autocommit_engine
    client.get(path, params=params)  # a connection in the pool, set up
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        r = client.get(path, params=params)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert r.status_code == 200, r.text
    return len(seen), r.json()


def test_listings_read_their_rows_in_one_statement(client, db):
    _city(db)
    for _ in range(3):
        client.post("/api/v1/cases", json={**INSIDE, "class": "0102", "channel": "app"}).raise_for_status()
    n, page = _statements(client, "/api/v1/workers")
    assert n == 1 and page["total"] == 3 and [w["grids"] for w in page["items"]] == [["110108001001001"]] * 3
    n, found = _statements(client, "/open311/v2/requests.json")
    assert n == 1 and [r["service_request_id"] for r in found] == ["3", "2", "1"]
    assert {r["service_name"] for r in found} == {"暴露垃圾"}
    n, found = _statements(client, "/open311/v2/requests.json", {"service_request_id": "2"})
    assert n == 1 and [r["service_request_id"] for r in found] == ["2"]


def test_errors_of_the_framework_itself_have_the_documented_shape(client):
    r = client.post("/api/v1/cases", content=b"\xff\xfe{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_input" and r.json()["message"]
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json() == {"error": "not_found", "message": "Not Found"}
    spec = client.get("/openapi.json").json()
    lookup = spec["paths"]["/api/v1/lookup"]["get"]["responses"]
    assert "422" not in lookup and lookup["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ErrorAnswer"
    )
    assert "422" in spec["paths"]["/api/v1/imports/grids"]["post"]["responses"]  # a rejected import
