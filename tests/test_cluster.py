"""The embedded cluster's port: a taken port is explained, a new cluster picks a free one and keeps it.
Its roles: connections need a password, the application's role is no superuser, and a cluster made
before that (trust, superuser ``wangge``) is converted, data kept.

One throwaway cluster (one initdb) serves the module; it lives under /var/tmp because as root
initdb and postgres run as the ``postgres`` user, who cannot enter a private temp dir.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import text

from gis import migrate
from gis.cluster import ADMIN, CONF, Cluster, _bindir, free_port
from gis.db import make_engine
from gis.errors import ClusterError
from gis.settings import Settings
from tests.conftest import ROOT


def _settings(data_dir: Path, port: int | None = None) -> Settings:
    # pg_port given even when None: a WANGGE_PG_PORT in the test run's environment must not apply.
    return Settings(data_dir=data_dir, pg_port=port)


def _app_settings(data_dir: Path) -> Settings:
    """What wangge uses without DATABASE_URL (even if the test run has one): the cluster's own URL."""
    return Settings(data_dir=data_dir, pg_port=None, database_url=None)


@pytest.fixture(scope="module")
def listener():
    """Some other program listening on a port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def home():
    path = Path(tempfile.mkdtemp(prefix="wangge-cluster-test-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(home, listener):
    """A new cluster, no port set, whose first choice is the listener's port: it has to pick another."""
    first = Cluster(_settings(home / "a" / ".pgdata"), first_port=listener)
    try:
        first.start()
        yield first
    finally:
        Cluster(_settings(first.data)).stop()


def _current(cluster: Cluster) -> Cluster:
    return Cluster(_settings(cluster.data))


def test_new_cluster_picks_a_free_port_and_keeps_it(cluster, listener):
    assert cluster.port != listener
    assert cluster.port_source.startswith(f"chosen at initdb: {listener} is in use")
    assert f"port {listener} is in use" in cluster.notice and f"listens on {cluster.port} instead" in cluster.notice

    again = _current(cluster)
    port = int(again._psql("show port"))
    assert again.port == port != listener
    assert again.status()["port_source"] == f"remembered in {cluster.pgdata / 'postgresql.conf'}"
    assert again.stop() and again.start() and int(again._psql("show port")) == port
    assert again.notice is None

    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WANGGE_PG_PORT")}
    env["WANGGE_DATA_DIR"] = str(cluster.data)
    p = subprocess.run(
        [sys.executable, "-m", "cli.main", "db", "status"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    status = json.loads(p.stdout)
    assert status["running"] and status["port"] == port and status["port_source"].startswith("remembered in ")


def test_explicit_port_in_use_is_refused_before_initdb(home, listener):
    fresh = Cluster(_settings(home / "b" / ".pgdata", listener))
    with pytest.raises(ClusterError) as err:
        fresh.start()
    message = err.value.message
    # the holder is this very test process, found through /proc
    assert message.startswith(f"port {listener} is in use by pid {os.getpid()}: ")
    assert "WANGGE_PG_PORT=" in message and "make test" in message
    assert not fresh.initialised()


def test_port_held_by_another_wangge_cluster_names_its_data_directory(cluster, home):
    other = _current(cluster)
    data_directory = other._psql("show data_directory")  # what the running cluster reports
    fresh = Cluster(_settings(home / "c" / ".pgdata", other.port))
    with pytest.raises(ClusterError) as err:
        fresh.start()
    message = err.value.message
    assert f"port {other.port} is in use by another wangge cluster, data directory {data_directory}," in message
    assert f"`wangge db stop` in {home / 'a'}" in message and "WANGGE_PG_PORT=" in message
    assert not fresh.initialised()


def test_running_cluster_asked_for_another_port(cluster, listener):
    running = _current(cluster)
    asked = Cluster(_settings(cluster.data, listener))
    with pytest.raises(ClusterError) as err:
        asked.start()
    assert f"running on port {running.port}, and WANGGE_PG_PORT asks for {listener}" in err.value.message
    status = asked.status()
    assert status["port"] == listener and status["port_source"] == "WANGGE_PG_PORT"
    assert status["running_on_port"] == running.port


def test_failed_start_shows_the_end_of_the_log(cluster):
    current = _current(cluster)
    conf = current.pgdata / "postgresql.conf"
    kept = conf.read_text()
    current.stop()
    try:
        conf.write_text(kept + "shared_buffers = 'plenty'\n")
        with pytest.raises(ClusterError) as err:
            current.start()
        message = err.value.message
        assert "PostgreSQL did not start" in message and str(current.data / "postgres.log") in message
        assert 'invalid value for parameter "shared_buffers": "plenty"' in message
    finally:
        conf.write_text(kept)
        current.start()


def test_wangge_pg_port_moves_a_stopped_cluster(cluster, listener):
    current = _current(cluster)
    before = current.port
    current.stop()
    with pytest.raises(ClusterError) as err:
        Cluster(_settings(cluster.data, listener)).start()
    assert f"port {listener} is in use" in err.value.message
    assert _current(cluster).port == before  # a refused port is not remembered

    target = free_port(before + 1)
    moved = Cluster(_settings(cluster.data, target))
    assert moved.start() and int(moved._psql("show port")) == target
    assert _current(cluster).port == target  # remembered without WANGGE_PG_PORT from now on


# --- roles and passwords -------------------------------------------------------------------------


def _refused(cluster: Cluster, user: str, host: str, password: str | None = None) -> str:
    """The error of a connection as ``user`` to ``host`` (the socket directory or 127.0.0.1)."""
    # no password file: only what is given here
    kw = {"password": password} if password is not None else {}
    with pytest.raises(psycopg2.OperationalError) as err:
        psycopg2.connect(
            host=host, port=cluster.port, user=user, dbname="wangge", passfile="/nonexistent", connect_timeout=5, **kw
        ).close()
    return str(err.value)


def _role(engine) -> dict:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    """SELECT current_user AS name, rolsuper, rolcreaterole, rolcreatedb,
                              pg_get_userbyid(d.datdba) AS database_owner
                       FROM pg_roles, pg_database d
                       WHERE rolname = current_user AND d.datname = current_database()"""
                )
            )
            .mappings()
            .one()
        )


def test_new_cluster_asks_every_connection_for_its_password(cluster):
    current = _current(cluster)
    for host in (str(current.socket_dir), "127.0.0.1"):
        for user in ("wangge", ADMIN):
            assert "no password supplied" in _refused(current, user, host)
            assert "password authentication failed" in _refused(current, user, host, "wangge")
    hba = [line.split() for line in (current.pgdata / "pg_hba.conf").read_text().splitlines()]
    assert {line[-1] for line in hba if line and not line[0].startswith("#")} == {"scram-sha-256"}


def test_application_role_is_no_superuser_and_owns_its_database(cluster):
    engine = make_engine(_app_settings(cluster.data))  # the URL wangge itself uses
    try:
        role = _role(engine)
        assert role == {
            "name": "wangge",
            "rolsuper": False,
            "rolcreaterole": False,
            "rolcreatedb": False,
            "database_owner": "wangge",
        }
        with engine.connect() as conn:
            assert conn.execute(text("SELECT postgis_lib_version()")).scalar()  # installed by the administrator
            with pytest.raises(Exception, match="permission denied to set parameter"):
                conn.execute(text("SET session_replication_role = replica"))
    finally:
        engine.dispose()


def test_password_files_are_private_and_never_printed(cluster):
    current = _current(cluster)
    for path in (current.admin_password_file, current.app_password_file):
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent == current.data != current.pgdata  # outside PostgreSQL's own directory
    password = current.app_password_file.read_text().strip()
    assert password in current.url("wangge") and len(password) >= 24
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "WANGGE_PG_PORT")}
    env["WANGGE_DATA_DIR"] = str(cluster.data)
    for action in ("status", "start"):
        p = subprocess.run(
            [sys.executable, "-m", "cli.main", "db", action], capture_output=True, text=True, env=env, cwd=ROOT
        )
        assert p.returncode == 0, p.stderr
        assert "wangge:***@" in p.stdout and password not in p.stdout + p.stderr


def _old_style_cluster(data: Path, port: int) -> str:
    """A cluster as wangge made them before roles had passwords: bootstrap superuser ``wangge``,
    trust, migrated, a few rows. Running; returns its URL."""
    old = Cluster(_settings(data, port))
    old._own(old.data)
    old._own(old.socket_dir)
    old._run(
        str(_bindir() / "initdb"),
        "-D",
        str(old.pgdata),
        "-U",
        "wangge",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
    )
    conf = old.pgdata / "postgresql.conf"
    conf.write_text(
        conf.read_text() + CONF.format(port=port, socket_dir=old.socket_dir).replace("shared_buffers = 1GB", "")
    )
    old._run(str(_bindir() / "pg_ctl"), "-D", str(old.pgdata), "-l", str(old.data / "postgres.log"), "-w", "start")
    url = f"postgresql+psycopg2://wangge@/wangge?host={old.socket_dir}&port={port}"
    engine = make_engine(Settings(database_url=url.replace("/wangge?", "/postgres?")), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("CREATE DATABASE wangge"))
    engine.dispose()
    engine = make_engine(Settings(database_url=url))
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION postgis"))
    migrate.upgrade(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO resp_unit (code, name, kind, area_code) VALUES ('U1', '城管执法', 'street_government', '110108001')"
            )
        )
        conn.execute(
            text(
                """INSERT INTO "case" (geom, class_code, channel, reported_at, state, resp_unit)
                   SELECT ST_SetSRID(ST_MakePoint(116.3, 39.9), 4490), code, 'app', now(), 'dispatched', 'U1'
                   FROM event_class ORDER BY code LIMIT 3"""
            )
        )
        assert _role(engine)["rolsuper"]
    engine.dispose()
    return url


def test_old_cluster_is_converted_when_started_data_kept(home):
    data = home / "old" / ".pgdata"
    port = free_port(55400)
    trusting_url = _old_style_cluster(data, port)
    converted = Cluster(_settings(data))
    try:
        assert not converted.start()  # found running: converted in place
        assert converted.secured()
        for again in range(2):  # and once more: nothing changes, nothing fails
            if again:
                converted._convert()
            engine = make_engine(_app_settings(data))
            try:
                assert _role(engine) == {
                    "name": "wangge",
                    "rolsuper": False,
                    "rolcreaterole": False,
                    "rolcreatedb": False,
                    "database_owner": "wangge",
                }
                with engine.begin() as conn:
                    assert (
                        conn.execute(text("SELECT count(*) FROM \"case\" WHERE resp_unit = 'U1'")).scalar() == 3 + again
                    )
                    # its tables, sequences and functions are the application role's now
                    conn.execute(
                        text(
                            """INSERT INTO "case" (geom, class_code, channel, reported_at, state, resp_unit)
                               SELECT ST_SetSRID(ST_MakePoint(116.3, 39.9), 4490), code, 'app', now(), 'dispatched',
                                      'U1' FROM event_class ORDER BY code LIMIT 1"""
                        )
                    )
                    conn.execute(text("ALTER TABLE \"case\" ALTER COLUMN description SET DEFAULT ''"))
                    owners = conn.execute(
                        text(
                            """SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c
                               WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S', 'v')
                                 AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')"""
                        )
                    ).scalars()
                    assert set(owners) == {"wangge"}
                    assert conn.execute(text("SELECT rolname FROM pg_roles WHERE oid = 10")).scalar() == ADMIN
            finally:
                engine.dispose()
        assert "no password supplied" in _refused(converted, "wangge", str(converted.socket_dir))
        assert "no password supplied" in _refused(converted, "wangge", "127.0.0.1")
        with pytest.raises(psycopg2.OperationalError, match="no password supplied"):
            psycopg2.connect(trusting_url.replace("postgresql+psycopg2", "postgresql"), passfile="/nonexistent").close()
        for path in (converted.admin_password_file, converted.app_password_file):
            assert path.stat().st_mode & 0o777 == 0o600
        # stopped and started again: the same roles, the same passwords
        kept = converted.app_password_file.read_text()
        assert converted.stop() and converted.start()
        assert converted.app_password_file.read_text() == kept
        engine = make_engine(_app_settings(data))
        assert not _role(engine)["rolsuper"]
        engine.dispose()
    finally:
        converted.stop()
