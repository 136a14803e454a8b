"""The embedded cluster's port: a taken port is explained, a new cluster picks a free one and keeps it.

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

import pytest

from gis.cluster import Cluster, free_port
from gis.errors import ClusterError
from gis.settings import Settings
from tests.conftest import ROOT


def _settings(data_dir: Path, port: int | None = None) -> Settings:
    # pg_port given even when None: a WANGGE_PG_PORT in the test run's environment must not apply.
    return Settings(data_dir=data_dir, pg_port=port)


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
