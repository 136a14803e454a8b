"""What authenticating a request costs: a token, an API key and a device secret turned into a
principal, beside the same connection's bare round trip (``SELECT 1`` on the DBAPI cursor, as the verify
functions use it) in the same run.

The tables hold 2,000 users (three grants each, a session each), 200 API keys and 2,000 device
secrets, so the lookups are index reads, not scans of a few rows. The rows are removed at the end.
Run: ``python -m bench.access`` (``WANGGE_BENCH_DATABASE_URL`` picks the database).
"""

from __future__ import annotations

import json
import os

import jwt
from sqlalchemy import text

from bench.common import bench_settings, summary, timings
from gis import migrate
from gis.access import accounts, devices, tokens
from gis.db import database_url, make_engine

N = int(os.environ.get("BENCH_N", "3000"))
USERS = 2000
KEY = b"b" * 32


def _populate(conn) -> tuple[str, str, str]:
    conn.execute(
        text(
            """INSERT INTO worker (id, name) SELECT 'bench-w' || i, 'bench' FROM generate_series(1, :n) i;
               INSERT INTO app_user (login, display_name, worker_id)
               SELECT 'bench-u' || i, 'bench', 'bench-w' || i FROM generate_series(1, :n) i;
               INSERT INTO access_grant (user_id, role, area_code)
               SELECT u.id, r.role, NULL FROM app_user u,
                      (VALUES ('viewer'), ('planner'), ('dispatcher')) r(role)
               WHERE u.login LIKE 'bench-u%';
               INSERT INTO auth_session (id, user_id, expires_at)
               SELECT 'bench-s' || u.id, u.id, now() + interval '1 hour' FROM app_user u
               WHERE u.login LIKE 'bench-u%';
               INSERT INTO device_secret (worker_id, secret_hash, issued_by)
               SELECT 'bench-w' || i, sha256(('bench-secret-' || i)::bytea), 'bench'
               FROM generate_series(1, :n) i"""
        ),
        {"n": USERS},
    )
    for i in range(200):
        _, key = accounts.create_api_key(conn, f"bench-k{i}", "reporter")
    uid = conn.execute(text("SELECT id FROM app_user WHERE login = :l"), {"l": f"bench-u{USERS // 2}"}).scalar()
    token = tokens.issue_token(conn, KEY, uid, lifetime_s=3600)["access_token"]
    secret = devices.issue_secret(conn, f"bench-w{USERS // 3}", issued_by="bench")
    return token, key, secret


def _clean(conn) -> None:
    conn.execute(
        text(
            """DELETE FROM access_grant WHERE key_id IN (SELECT id FROM api_key WHERE name LIKE 'bench-k%');
               DELETE FROM api_key WHERE name LIKE 'bench-k%';
               DELETE FROM app_user WHERE login LIKE 'bench-u%';
               DELETE FROM worker WHERE id LIKE 'bench-w%'"""
        )
    )


def main() -> dict:
    settings = bench_settings()
    migrate.upgrade(database_url(settings))
    engine = make_engine(settings)
    with engine.begin() as conn:
        _clean(conn)
        token, key, secret = _populate(conn)
        conn.execute(text("ANALYZE app_user, access_grant, auth_session, api_key, device_secret, worker_grid"))
    try:
        with engine.connect() as conn:
            principal = tokens.verify(conn, KEY, token)
            assert principal.can("cases:act"), principal
            assert accounts.verify_api_key(conn, key) is not None
            assert devices.worker_for_secret(conn, secret) is not None
            cur = conn.connection.dbapi_connection.cursor()

            def round_trip():
                cur.execute("SELECT 1")
                return cur.fetchall()

            results = {
                "round trip (SELECT 1)": summary(timings(round_trip, N)),
                "jwt decode only": summary(
                    timings(lambda: jwt.decode(token, KEY, algorithms=["HS256"], issuer="wangge"), N)
                ),
                "tokens.verify": summary(timings(lambda: tokens.verify(conn, KEY, token), N)),
                "accounts.verify_api_key": summary(timings(lambda: accounts.verify_api_key(conn, key), N)),
                "devices.worker_for_secret": summary(timings(lambda: devices.worker_for_secret(conn, secret), N)),
            }
            conn.rollback()
    finally:
        with engine.begin() as conn:
            _clean(conn)
        engine.dispose()
    base = results["round trip (SELECT 1)"]["p50_ms"]
    for name, r in results.items():
        print(
            f"{name:28s} p50 {r['p50_ms']:7.3f} ms  p99 {r['p99_ms']:7.3f} ms  ×{r['p50_ms'] / base:5.2f} of a round trip"
        )
    return results


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
