"""The embedded, project-local PostGIS cluster (``wangge db start|stop|status``).

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` OS user that
Debian's packages create, with its data directory inside the project.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from gis.errors import ClusterError
from gis.settings import Settings

CONF = """
# written by wangge
port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
shared_buffers = 1GB
work_mem = 64MB
maintenance_work_mem = 512MB
effective_cache_size = 8GB
max_parallel_workers_per_gather = 2
random_page_cost = 1.1
jit = off
# A project-local cluster has no replicas: minimal WAL lets CREATE TABLE AS and COPY into a table
# created in the same transaction skip the WAL (the bulk assignment writes millions of rows).
wal_level = minimal
max_wal_senders = 0
# GPS ingestion writes all day: fewer checkpoints mean fewer full-page images in the WAL.
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 100
logging_collector = off
"""


def _bindir() -> Path:
    explicit = os.environ.get("WANGGE_PG_BINDIR")
    if explicit:
        return Path(explicit)
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parts[-3]))
    # Prefer a version that has PostGIS installed.
    for cand in reversed(candidates):
        major = cand.parts[-3]
        if list(Path(f"/usr/share/postgresql/{major}/extension").glob("postgis.control")):
            return cand.parent
    if candidates:
        return candidates[-1].parent
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise ClusterError("PostgreSQL binaries not found: run `make` (it installs postgresql and postgis)")


def _postgres_can_reach(path: Path) -> bool:
    """As root: can the ``postgres`` user traverse to ``path`` (its nearest existing ancestor)?"""
    probe = path
    while not probe.exists():
        probe = probe.parent
    proc = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(probe)], capture_output=True)
    return proc.returncode == 0


class Cluster:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.data = Path(settings.data_dir).resolve()
        if os.geteuid() == 0 and not self.data.exists() and not _postgres_can_reach(self.data.parent):
            # A checkout under a private home (/root/...) is closed to the postgres user: keep the
            # cluster in /var/tmp and leave a symlink in the project so it is still found there.
            digest = hashlib.sha1(str(self.data).encode()).hexdigest()[:10]
            outside = Path(f"/var/tmp/wangge-{digest}")
            outside.mkdir(parents=True, exist_ok=True)
            self.data.symlink_to(outside, target_is_directory=True)
            self.data = outside
        self.pgdata = self.data / "pg"
        self.port = settings.pg_port
        self.user = settings.pg_user

    @property
    def socket_dir(self) -> Path:
        # Unix socket paths are limited to ~107 bytes; deep checkouts fall back to /tmp.
        local = self.data / "run"
        if len(str(local)) < 80:
            return local
        digest = hashlib.sha1(str(self.data).encode()).hexdigest()[:10]
        return Path(f"/tmp/wangge-{digest}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://{self.user}@/{database}?host={self.socket_dir}&port={self.port}"

    # --- running commands as the right OS user ------------------------------------------------
    def _as_owner(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        return ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = self._as_owner() + list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if check and proc.returncode != 0:
            raise ClusterError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def _own(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    # --- lifecycle ----------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def init(self) -> None:
        bindir = _bindir()
        self._own(self.data)
        self._own(self.pgdata)
        self._own(self.socket_dir)
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            self.user,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text() + CONF.format(port=self.port, socket_dir=self.socket_dir)
        conf.write_text(text)

    def running(self) -> bool:
        if not self.initialised():
            return False
        proc = self._run(str(_bindir() / "pg_ctl"), "-D", str(self.pgdata), "status", check=False)
        return proc.returncode == 0

    def start(self) -> bool:
        """Start the cluster (initialising it on first use). Returns False if it was running."""
        if not self.initialised():
            self.init()
        if self.running():
            return False
        self._own(self.socket_dir)
        log = self.data / "postgres.log"
        self._run(str(_bindir() / "pg_ctl"), "-D", str(self.pgdata), "-l", str(log), "-w", "-t", "60", "start")
        self._wait()
        self._ensure_database(self.settings.pg_database)
        return True

    def stop(self) -> bool:
        if not self.running():
            return False
        self._run(str(_bindir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        return True

    def _psql(self, sql: str, database: str = "postgres") -> str:
        proc = subprocess.run(
            [
                str(_bindir() / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ClusterError(proc.stderr.strip())
        return proc.stdout.strip()

    def _wait(self) -> None:
        for _ in range(100):
            try:
                self._psql("select 1")
                return
            except ClusterError:
                time.sleep(0.1)
        raise ClusterError("the cluster started but does not accept connections")

    def _ensure_database(self, name: str) -> None:
        if self._psql(f"select 1 from pg_database where datname = '{name}'") != "1":
            self._psql(f'create database "{name}"')

    def create_database(self, name: str, drop: bool = False) -> str:
        """Create (or recreate) a database in the cluster and return its URL."""
        if drop:
            self._psql(f'drop database if exists "{name}" with (force)')
        self._ensure_database(name)
        return self.url(name)

    def status(self) -> dict[str, object]:
        return {
            "data_dir": str(self.pgdata),
            "initialised": self.initialised(),
            "running": self.running(),
            "port": self.port,
            "socket_dir": str(self.socket_dir),
            "url": self.url(self.settings.pg_database),
        }
