"""``DATABASE_URL`` as people write it: ``postgresql://`` and ``postgres://`` work end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from api.app import create_app
from gis.db import database_url, normalise_url
from gis.settings import Settings
from tests.conftest import ROOT
from tests.helpers import STEP, X0, Y0, square_city, write_geojson


def wangge(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def test_bare_url_migrates_imports_and_looks_up(settings, tmp_path):
    """A fresh database named by postgresql:// (migrate, import) and postgres:// (lookup, API)."""
    name = f"wangge_bare_url_{os.getpid()}"
    _drop_database(settings, name)
    if os.environ.get("DATABASE_URL"):
        admin = create_engine(database_url(settings), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    else:  # the embedded cluster's application role may not create databases: its administrator does
        from gis.cluster import Cluster

        Cluster(Settings()).create_database(name)
    try:
        base = make_url(database_url(settings)).set(database=name)
        # The embedded cluster asks for the application role's password; a server that does not
        # (DATABASE_URL) gets one anyway, to show whether `db migrate` prints it.
        secret = base.password or f"not-to-be-printed-{os.getpid()}"
        bare = base.set(drivername="postgresql", password=secret).render_as_string(hide_password=False)
        assert bare.startswith("postgresql://") and secret in bare

        p = wangge(bare, "db", "migrate")
        assert p.returncode == 0, p.stderr
        assert p.stdout.startswith("migrated postgresql+psycopg2://") and "***" in p.stdout
        assert secret not in p.stdout + p.stderr

        path = write_geojson(square_city()[1], tmp_path / "district.geojson")
        p = wangge(bare, "import", "grids", str(path), "--level", "district", "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["written"] == 1

        heroku = "postgres://" + bare.partition("://")[2]
        p = wangge(heroku, "lookup", str(X0 + 0.5 * STEP), str(Y0 + 7.5 * STEP), "--json")
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["district"]["code"] == "110108"

        from sqlalchemy import create_engine as _engine

        from tests.conftest import api_key, bearer

        key_engine = _engine(normalise_url(heroku))
        key = api_key(key_engine, "viewer")
        key_engine.dispose()
        with TestClient(create_app(Settings(database_url=heroku)), headers=bearer(key)) as client:
            r = client.get("/api/v1/lookup", params={"lon": X0 + 0.5 * STEP, "lat": Y0 + 7.5 * STEP})
            assert r.status_code == 200, r.text
            assert r.json()["district"]["code"] == "110108"
    finally:
        _drop_database(settings, name)


def _drop_database(settings: Settings, name: str) -> None:
    if os.environ.get("DATABASE_URL"):
        admin = create_engine(database_url(settings), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        from gis.cluster import Cluster

        Cluster(Settings())._psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_url_naming_a_missing_driver_is_a_message_not_a_traceback(settings):
    missing = [d for d in ("pg8000", "asyncpg", "psycopg2cffi", "psycopg") if importlib.util.find_spec(d) is None]
    assert missing, "every PostgreSQL driver SQLAlchemy knows is installed: nothing to test with"
    url = (
        make_url(database_url(settings))
        .set(drivername=f"postgresql+{missing[0]}")
        .render_as_string(hide_password=False)
    )
    p = wangge(url, "db", "migrate")
    assert p.returncode == 3
    assert f"DATABASE_URL names the driver '{missing[0]}', which is not installed" in p.stderr
    assert "postgresql://" in p.stderr and "Traceback" not in p.stderr

    p = wangge("mysql://u@localhost/grid", "lookup", "116.3", "39.9")
    assert p.returncode == 3 and "wangge needs PostgreSQL" in p.stderr and "Traceback" not in p.stderr
