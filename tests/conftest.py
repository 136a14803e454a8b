"""One throwaway PostGIS database per test session; every test starts from empty tables.

The database is ``wangge_test`` in the project's embedded cluster (started if needed), or the one
``DATABASE_URL`` names. If PostGIS cannot be reached the whole run fails: it never skips.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from gis.cases.calendar import forget_calendars, seed_calendar
from gis.db import check_postgis, database_url, make_engine
from gis.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
REAL = (ROOT.parent / "shared" / "data" / "real").resolve()

TEST_DATABASE = "wangge_test"
_state: dict[str, object] = {}


def url_of_test_database() -> str:
    """The test database: the one ``DATABASE_URL`` names, or ``wangge_test`` in the embedded cluster."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from gis.cluster import Cluster

    return Cluster(Settings()).url(TEST_DATABASE)


def _prepare(session: pytest.Session) -> Settings:
    url = os.environ.get("DATABASE_URL")
    if not url:
        from gis.cluster import Cluster

        base = Settings()
        cluster = Cluster(base)
        cluster.start()
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if cluster.notice and reporter:
            reporter.write_line(f"wangge: {cluster.notice}")
        url = cluster.create_database(TEST_DATABASE, drop=True)
    settings = Settings(database_url=url)
    engine = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    from gis import migrate

    migrate.upgrade(database_url(settings))
    check_postgis(engine)
    engine.dispose()
    return settings


def pytest_sessionstart(session: pytest.Session) -> None:
    try:
        _state["settings"] = _prepare(session)
    except Exception as exc:  # noqa: BLE001 - any failure to reach PostGIS must stop the run
        pytest.exit(f"PostGIS is required for the tests and could not be reached: {exc}", returncode=3)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return _state["settings"]  # type: ignore[return-value]


@pytest.fixture(scope="session")
def engine(settings):
    eng = make_engine(settings)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine):
    """Empty grid tables before each test (importers commit, so rollback isolation is not enough)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "TRUNCATE track_point, worker_position, device_reject, worker_grid, worker, "
                'case_event, "case", dispatch_rule, component, resp_unit, grid_piece, grid, import_run, '
                "event_class, component_class, audit_log, device_secret, login_attempt, auth_session, access_grant, "
                "api_key, app_user, access_secret RESTART IDENTITY CASCADE"
            )
        )
        # the event and component classes as shipped (tests add and edit classes), as migration 0002 loads them
        for table, rows in _SHIPPED_CLASSES.items():
            conn.execute(
                text(
                    f"INSERT INTO {table} SELECT * FROM jsonb_populate_recordset(NULL::{table}, CAST(:rows AS jsonb))"
                ),
                {"rows": json.dumps(rows)},
            )
        # the working-day calendar as `wangge db migrate` seeds it (tests add days to it)
        conn.execute(text("TRUNCATE work_calendar"))
        seed_calendar(conn)
    forget_calendars()
    return engine


def _shipped(filename: str) -> list[dict[str, str]]:
    return list(csv.DictReader((ROOT / "data" / filename).read_text(encoding="utf-8").splitlines()))


_SHIPPED_CLASSES = {"event_class": _shipped("event_classes.csv"), "component_class": _shipped("component_classes.csv")}


@pytest.fixture
def client(settings, db):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(settings)) as c:
        c.headers.update(bearer(api_key(db)))  # an administrator of the whole city
        yield c


def api_key(engine, role: str = "admin", areas: tuple[str, ...] = (), unit: str | None = None) -> str:
    """A new API key with ``role`` on ``areas`` (none: the whole city); its secret."""
    import uuid

    from gis.access import accounts

    with engine.begin() as conn:
        _, secret = accounts.create_api_key(conn, f"test-{role}-{uuid.uuid4().hex[:8]}", role, list(areas), unit=unit)
    return secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="session")
def real() -> Path:
    assert REAL.is_dir(), f"the real test data must be at {REAL}"
    return REAL
