"""No server error whatever the request: every refusal is a JSON 4xx naming its field; a database
that is slow, deadlocked or gone answers what it is; anything unexpected is a JSON 500 with the
request's id, and every answer carries that id."""

from __future__ import annotations

import logging
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from api.deps import TransactionDep
from tests.conftest import api_key, bearer
from tests.helpers import load_city, square_city


@pytest.fixture
def city(db):
    load_city(db, square_city())
    return db


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("get", "/api/v1/calendar?year=2398307332029285888", None, "year"),
        (
            "get",
            "/api/v1/cases-statistics?from=0668-10-26T07:31:26.60250Z&to=1410-05-09T01:19:09-17:57&by=street",
            None,
            "from",
        ),
        ("get", "/api/v1/cases-statistics?from=2026-01-01&to=2026-05-09T01:19:09-17:57&by=street", None, "to"),
        ("get", "/api/v1/validation?tolerance=1.9906555394601628e%2B16", None, "tolerance"),
        ("get", "/api/v1/workers/w1/track?from=2026-09-01T01:17:20%2B00:00&to=2271-03-07T10:45:17.7-20:13", None, "to"),
        (
            "post",
            "/api/v1/cases",
            {"lon": 116.302, "lat": 39.902, "class": "0101", "channel": "hotline", "description": "a\u0000b"},
            "description",
        ),
        (
            "post",
            "/api/v1/workers",
            {"worker_id": "w9", "name": "x", "grids": ["110108001001001", "110108001001001"]},
            "grids",
        ),
        ("post", "/api/v1/resp-units", {"code": "U9", "name": "a\u0000", "kind": "water"}, "name"),
        # a lone surrogate, as a JSON escape (it cannot be encoded as UTF-8 by the client)
        ("post", "/api/v1/resp-units", '{"code": "U9", "name": "\\ud800", "kind": "water"}', "name"),
        ("get", "/api/v1/cases?resp_unit=a%00b", None, "resp_unit"),
        ("get", "/api/v1/grids/1101%0008", None, "path"),
        (
            "post",
            "/api/v1/cases",
            {"lon": 116.3, "lat": 39.9, "class": "0101", "channel": "app", "reported_at": "1899-12-31T23:00:00Z"},
            "reported_at",
        ),
    ],
)
def test_what_was_a_server_error_is_a_4xx_naming_the_field(client, city, method, url, body, field):
    if isinstance(body, str):
        r = client.request(method.upper(), url, content=body, headers={"content-type": "application/json"})
    else:
        r = client.request(method.upper(), url, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["field"] == field, r.json()


def test_malformed_gps_points_are_refused_one_by_one(client, city):
    client.post("/api/v1/workers", json={"worker_id": "w1", "name": "网格员"}).raise_for_status()
    ok = {"worker_id": "w1", "lon": 116.301, "lat": 39.901, "fix_time": "2026-01-01T00:00:00Z"}
    bad = [
        ({**ok, "lon": [{}]}, "lon"),
        ({**ok, "fix_time": []}, "fix_time"),
        ({**ok, "fix_time": "0668-10-26T07:31:26Z"}, "fix_time"),
        ({**ok, "fix_time": 1e300}, "fix_time"),
        ({**ok, "fix_time": "2026-01-01T00:00:00-20:00"}, "fix_time"),
        ({**ok, "lat": "nan"}, "lat"),
        ({**ok, "speed": "inf"}, "accuracy/speed/course"),
        ({**ok, "attrs": {"note": "x\u0000"}}, "attrs"),
        ({**ok, "crs": "EPSG:9999999"}, "crs"),
        ({**ok, "worker_id": ["w1"]}, "worker_id"),
        ({"device_id": "d\u0000", "lon": 116.3, "lat": 39.9, "fix_time": 1_700_000_000}, "device_id"),
    ]
    r = client.post("/api/v1/tracks", json={"points": [p for p, _ in bad] + [ok]})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["accepted"] == 1
    assert [(x["index"], x["field"]) for x in got["rejected"]] == [(i, f) for i, (_, f) in enumerate(bad)]


def test_an_unexpected_error_is_a_json_500_with_the_request_id_in_the_log(settings, db, caplog):
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: SELECT password FROM users")

    with TestClient(app, raise_server_exceptions=False) as c, caplog.at_level(logging.ERROR, "wangge.api"):
        r = c.get("/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal_error"
    assert body["request_id"] == r.headers["x-request-id"]
    assert "secret" not in r.text and "RuntimeError" not in r.text
    logged = [rec for rec in caplog.records if body["request_id"] in rec.getMessage()]
    assert logged and logged[0].exc_info and "secret internals" in str(logged[0].exc_info[1])


def test_every_answer_carries_a_request_id(client, db):
    ids = {client.get(u).headers["x-request-id"] for u in ("/healthz", "/api/v1/grids/110108", "/nowhere")}
    assert len(ids) == 3 and all(len(i) == 32 for i in ids)
    assert client.get("/healthz", headers={"X-Request-ID": "hall-7:abc"}).headers["x-request-id"] == "hall-7:abc"
    # an id that is not plain is not echoed into the logs or answers
    assert client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"] != "a b\tc"


def test_a_statement_timeout_answers_503_saying_so(settings, city):
    app = create_app(settings.model_copy(update={"statement_timeout_ms": 300}))
    with city.connect() as locker, TestClient(app, headers=bearer(api_key(city))) as c:
        locker.execute(text("LOCK TABLE grid IN ACCESS EXCLUSIVE MODE"))
        r = c.get("/api/v1/grids?level=street")
        locker.rollback()
    assert r.status_code == 503
    assert r.json() == {"error": "query_timeout", "message": "the query took longer than 0.3 s"}


class _Deadlocker:
    """Makes the route's transaction the victim of a real deadlock, ``times`` times: the route
    holds advisory lock 1 and asks for 2; a second session holds 2 and, once the route has waited
    for a while, asks for 1. The session that waited first runs the deadlock check first (after
    deadlock_timeout, 1 s): PostgreSQL aborts the route's transaction."""

    def __init__(self, engine, times: int):
        self.engine, self.times, self.attempts = engine, times, 0

    def __call__(self, conn) -> str:
        self.attempts += 1
        if self.attempts > self.times:
            return "done"
        holding = threading.Event()
        route_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()

        def other() -> None:
            with self.engine.connect() as c2:
                c2.execute(text("SELECT pg_advisory_xact_lock(2)"))
                holding.set()
                while not c2.execute(
                    text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :p"), {"p": route_pid}
                ).scalar():
                    pass
                # half the deadlock timeout between the two waits: the route's check comes first
                # even on a loaded machine
                c2.execute(text("SELECT pg_sleep(0.5), pg_advisory_xact_lock(1)"))
                c2.rollback()

        t = threading.Thread(target=other)
        conn.execute(text("SELECT pg_advisory_xact_lock(1)"))
        t.start()
        holding.wait()
        try:
            conn.execute(text("SELECT pg_advisory_xact_lock(2)"))
        finally:
            t.join()
        return "done"


class _WriteSkew:
    """Makes the route's serializable transaction fail with a serialization failure, ``times``
    times, deterministically: it reads what a second serializable transaction writes, and writes
    what that one read; the second commits first, so the route's write (or commit) is refused."""

    def __init__(self, engine, times: int):
        self.engine, self.times, self.attempts = engine, times, 0

    def __call__(self, conn) -> str:
        self.attempts += 1
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
        conn.execute(text("SELECT count(*) FROM skew WHERE k = 1")).scalar()
        if self.attempts <= self.times:
            with self.engine.connect() as c2:
                c2.execute(text("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"))
                c2.execute(text("SELECT count(*) FROM skew WHERE k = 2")).scalar()
                c2.execute(text("INSERT INTO skew VALUES (1)"))
                c2.commit()
        conn.execute(text("INSERT INTO skew VALUES (2)"))
        return "done"


@pytest.mark.parametrize(("times", "status"), [(1, 200), (2, 409)])
@pytest.mark.parametrize("conflict", [_Deadlocker, _WriteSkew])
def test_a_deadlock_or_serialization_failure_is_retried_once_then_answers_409(settings, db, conflict, times, status):
    with db.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS skew; CREATE TABLE skew (k int)"))
    app = create_app(settings)
    clash = conflict(db, times)

    @app.post("/clash")
    async def route(transaction: TransactionDep) -> str:
        return await transaction(clash)

    try:
        with TestClient(app) as c:
            r = c.post("/clash")
    finally:
        with db.begin() as conn:
            conn.execute(text("DROP TABLE skew"))
    assert r.status_code == status, r.text
    assert clash.attempts == 2
    if status == 409:
        assert r.json()["error"] == "conflict"
