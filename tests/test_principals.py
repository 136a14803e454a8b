"""Verified callers kept in memory (api/principals.py) never outlive a change to who may do what:
a change made by this process counts for its very next request, one made elsewhere (the command
line, another server process) as soon as PostgreSQL delivers its notification, and without a
working notifications connection the cache is not used."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from gis.access import accounts, devices
from gis.tracks import workers
from tests.conftest import api_key, bearer
from tests.helpers import STEP, X0, Y0, load_city, square_city


def refused_soon(c: TestClient, url: str, headers: dict, within_s: float = 2.0) -> float:
    """Seconds until ``url`` answers 401 (PostgreSQL delivers a notification about a millisecond
    after the commit; a request in between may still be answered from memory)."""
    t0 = time.monotonic()
    while c.get(url, headers=headers).status_code != 401:
        assert time.monotonic() - t0 < within_s, "still answered long after the revocation"
        time.sleep(0.002)
    return time.monotonic() - t0


def test_a_sign_out_here_counts_for_the_very_next_request(settings, db):
    with db.begin() as conn:
        accounts.create_user(conn, "sun", "孙", password="a long passphrase")
        accounts.grant(conn, "sun", "viewer")
    with TestClient(create_app(settings)) as c:
        for _ in range(20):
            token = c.post("/api/v1/auth/token", data={"username": "sun", "password": "a long passphrase"}).json()
            me = bearer(token["access_token"])
            for _ in range(2):
                assert c.get("/api/v1/cases", headers=me).status_code == 200
            assert c.post("/api/v1/auth/logout", headers=me).status_code == 204
            assert c.get("/api/v1/cases", headers=me).status_code == 401


def test_a_revocation_elsewhere_is_honoured_as_soon_as_it_is_notified(settings, db):
    with TestClient(create_app(settings)) as c:
        principals = c.app.state.principals
        for round_ in range(10):
            key = bearer(api_key(db, "viewer"))
            assert c.get("/api/v1/cases", headers=key).status_code == 200
            hits = principals.hits
            assert c.get("/api/v1/cases", headers=key).status_code == 200
            assert principals.hits == hits + 1  # the second time from memory
            with db.begin() as conn:  # as `wangge keys revoke` does, from another process
                name = conn.execute(text("SELECT name FROM api_key ORDER BY id DESC LIMIT 1")).scalar_one()
                accounts.revoke_api_key(conn, name)
            assert refused_soon(c, "/api/v1/cases", key) < 0.5, round_


def test_a_role_taken_away_or_an_account_disabled_counts_at_once(settings, db):
    with db.begin() as conn:
        accounts.create_user(conn, "qian", "钱", password="a long passphrase")
        accounts.grant(conn, "qian", "dispatcher")
    with TestClient(create_app(settings)) as c:
        token = c.post("/api/v1/auth/token", data={"username": "qian", "password": "a long passphrase"}).json()
        me = bearer(token["access_token"])
        for _ in range(2):
            assert c.get("/api/v1/workers", headers=me).status_code == 200
        with db.begin() as conn:
            accounts.revoke(conn, "qian", "dispatcher")
            accounts.grant(conn, "qian", "planner")
        t0 = time.monotonic()
        while c.get("/api/v1/workers", headers=me).status_code != 403:  # a planner sees no workers
            assert time.monotonic() - t0 < 2
        assert c.get("/api/v1/cases", headers=me).status_code == 200
        with db.begin() as conn:
            accounts.set_active(conn, "qian", False)
        assert refused_soon(c, "/api/v1/cases", me) < 0.5


def test_a_phone_whose_secret_is_rotated_elsewhere_is_refused_next(settings, db):
    load_city(db, square_city())
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="W1", name="网格员", grids=["110108001001001"])
        secret = devices.issue_secret(conn, "W1", issued_by="test")
    fix = {"fix_time": "2026-11-01T01:00:00Z", "lon": X0 + 0.5 * STEP, "lat": Y0 + 0.5 * STEP}
    with TestClient(create_app(settings)) as c:
        for _ in range(2):
            assert c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer(secret)).status_code == 200
        with db.begin() as conn:
            devices.issue_secret(conn, "W1", issued_by="test")
        t0 = time.monotonic()
        while c.post("/api/v1/tracks", json={"points": [fix]}, headers=bearer(secret)).status_code != 401:
            assert time.monotonic() - t0 < 0.5


def test_without_its_notifications_the_cache_is_not_used(settings, db):
    with TestClient(create_app(settings)) as c:
        principals = c.app.state.principals
        key = bearer(api_key(db, "viewer"))
        assert c.get("/api/v1/cases", headers=key).status_code == 200
        pid = principals.listener.get_backend_pid()
        with db.begin() as conn:  # the listening connection dies (a restart, a network cut)
            conn.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid})  # waits until it is gone
            name = conn.execute(text("SELECT name FROM api_key ORDER BY id DESC LIMIT 1")).scalar_one()
            accounts.revoke_api_key(conn, name)  # ... and meanwhile the key is revoked
        assert c.get("/api/v1/cases", headers=key).status_code == 401
        assert principals.listener is None
        other = bearer(api_key(db, "viewer"))
        hits = principals.hits
        for _ in range(3):
            assert c.get("/api/v1/cases", headers=other).status_code == 200
        assert principals.hits == hits  # every caller asked of the database until it listens again
        principals.next_try = 0  # (it tries again after WANGGE's retry interval, 5 s)
        for _ in range(3):
            assert c.get("/api/v1/cases", headers=other).status_code == 200
        assert principals.listener is not None and principals.hits == hits + 2


def test_a_listener_that_hears_nothing_any_more_is_given_up(settings, db):
    """A connection dropped silently (a firewall forgetting an idle flow) would just stay quiet:
    the heartbeat this process sends itself does not come back, and the cache is turned off."""
    with TestClient(create_app(settings)) as c:
        principals = c.app.state.principals
        principals.heartbeat_s, principals.grace_s = 0.05, 0.3
        key = bearer(api_key(db, "viewer"))
        for _ in range(3):
            assert c.get("/api/v1/cases", headers=key).status_code == 200
        assert principals.listener is not None and principals.hits >= 1
        with principals.listener.cursor() as cur:  # still connected, but deaf from now on
            cur.execute("UNLISTEN *")
        t0 = time.monotonic()
        while principals.listener is not None:
            assert c.get("/api/v1/cases", headers=key).status_code == 200
            assert time.monotonic() - t0 < 3, "a deaf listener was still trusted"
            time.sleep(0.02)
        hits = principals.hits
        assert c.get("/api/v1/cases", headers=key).status_code == 200
        assert principals.hits == hits  # from the database
