"""The embedded, project-local PostGIS cluster (``wangge db start|stop|status``).

PostgreSQL refuses to run as root, so as root the cluster runs as the ``postgres`` OS user that
Debian's packages create, with its data directory inside the project.

Its port is the one in its ``postgresql.conf``: 54329 for a new cluster, or the next free port when
54329 is taken (by another checkout's cluster, say), or ``WANGGE_PG_PORT``, which is then written
there, so a checkout keeps its port.

It accepts only connections with a password (scram-sha-256, over its Unix socket and 127.0.0.1).
Two roles, each with a generated password kept in the data directory (mode 0600):
``wangge_admin``, the bootstrap superuser, which creates and drops databases and installs PostGIS
(not a trusted extension); and the application role (``WANGGE_PG_USER``, ``wangge``), which is no
superuser, cannot create roles or databases, and owns the databases it uses and everything in them.
A cluster made before that (superuser ``wangge``, trust) is converted when it is next started.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from gis.errors import ClusterError
from gis.settings import Settings

#: The port of a new cluster unless it is taken or ``WANGGE_PG_PORT`` says otherwise.
DEFAULT_PORT = 54329
#: The first line of the block wangge appends to postgresql.conf: how another checkout's cluster is known.
MARK = "# written by wangge"
_PORT_LINE = re.compile(r"^[ \t]*port[ \t]*=[ \t]*(\d+)", re.MULTILINE)
#: The cluster's bootstrap superuser: databases, extensions, roles. Nothing at run time connects as it.
ADMIN = "wangge_admin"
#: A superuser that exists only while an old cluster is converted: the bootstrap superuser cannot
#: rename itself, and only a superuser may rename a superuser.
CONVERTER = "wangge_convert"

HBA = f"""{MARK}: every connection gives its role's password (the files in the data directory)
local   all   all                  scram-sha-256
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
"""

# In each database of an old cluster, what the bootstrap superuser owns in schema public and no
# extension does, handed to the application role. Tables take their indexes and owned sequences
# with them; array and row types follow their element type or table.
GIVE_OBJECTS = """
DO $give$
DECLARE
  app name := {app};
  r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass::text AS obj,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                          WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND c.relowner <> app::regrole
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                        AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i'))))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.obj, app);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure::text AS obj, CASE p.prokind WHEN 'a' THEN 'AGGREGATE' ELSE 'ROUTINE' END AS kind
    FROM pg_proc p
    WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> app::regrole
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                        AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.obj, app);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype::text AS obj, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
    FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
    WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> app::regrole
      AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
      AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                        AND d.deptype = 'e')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO %I', r.kind, r.obj, app);
  END LOOP;
END
$give$;
"""

CONF = f"""
{MARK}
port = {{port}}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{{socket_dir}}'
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


def port_in_use(port: int) -> bool:
    """Does something listen on 127.0.0.1:``port`` (where the cluster would listen)?"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a port left in TIME_WAIT by a stopped server is free to listen on again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port(start: int, tries: int = 100) -> int:
    """The first port from ``start`` on that nothing listens on."""
    for port in range(start, min(start + tries, 65536)):
        if not port_in_use(port):
            return port
    raise ClusterError(f"no free port in {start}-{start + tries - 1}: set WANGGE_PG_PORT to a free one")


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local address "HEXIP:HEXPORT", state 0A is LISTEN, field 9 the socket's inode
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def port_holder(port: int) -> dict[str, object] | None:
    """The process listening on ``port``, as far as /proc shows it (all of it as root).

    Returns ``pid`` and ``command``, and for a PostgreSQL server its ``data_dir`` and whether
    wangge made that cluster (``wangge``); None when the process cannot be seen.
    """
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            held = any(os.readlink(fd) in sockets for fd in (proc / "fd").iterdir())
        except OSError:  # gone, or another user's process
            continue
        if held:
            return _describe(int(proc.name))
    return None


def _describe(pid: int) -> dict[str, object]:
    proc = Path(f"/proc/{pid}")
    try:
        argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        argv = []
    holder: dict[str, object] = {"pid": pid, "command": " ".join(argv).strip()}
    if argv and Path(argv[0]).name in ("postgres", "postmaster"):
        # The postmaster works in its data directory; -D is the fallback if cwd cannot be read.
        data_dir = None
        try:
            data_dir = os.readlink(proc / "cwd")
        except OSError:
            if "-D" in argv[:-1]:
                data_dir = argv[argv.index("-D") + 1]
        if data_dir:
            holder["data_dir"] = data_dir
            try:
                holder["wangge"] = MARK in (Path(data_dir) / "postgresql.conf").read_text()
            except OSError:
                holder["wangge"] = Path(data_dir).name == "pg" and Path(data_dir).parent.name == ".pgdata"
    return holder


def _remembered_port(pgdata: Path) -> int | None:
    try:
        ports = _PORT_LINE.findall((pgdata / "postgresql.conf").read_text())
    except OSError:
        return None
    return int(ports[-1]) if ports else None


def _taken_by(holder: dict[str, object] | None) -> str:
    if holder is None:
        return "by a process this user cannot see"
    if "data_dir" in holder:
        kind = "another wangge cluster" if holder.get("wangge") else "another PostgreSQL server"
        return f"by {kind}, data directory {holder['data_dir']}, pid {holder['pid']}"
    return f"by pid {holder['pid']}: {str(holder['command'])[:120]}"


def _tail(log: Path, lines: int = 12) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(cannot read it: {exc})"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a scram-sha-256 password (RFC 5802, RFC 7677). Sent instead of the
    password, so the password itself never reaches the server, its log or its statistics."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${b64(stored).decode()}:{b64(server).decode()}"


class Cluster:
    def __init__(self, settings: Settings, first_port: int = DEFAULT_PORT):
        """``first_port``: where a new cluster without ``WANGGE_PG_PORT`` starts looking for a free port."""
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
        self.user = settings.pg_user
        self.first_port = first_port
        #: What the user should be told about the port (set when a new cluster had to pick one).
        self.notice: str | None = None
        remembered = _remembered_port(self.pgdata)
        if settings.pg_port is not None:
            self.port, self.port_source = settings.pg_port, "WANGGE_PG_PORT"
        elif remembered is not None:
            self.port, self.port_source = remembered, f"remembered in {self.pgdata / 'postgresql.conf'}"
        else:
            self.port, self.port_source = first_port, "default (a new cluster takes the next free port if it is in use)"

    @property
    def socket_dir(self) -> Path:
        # Unix socket paths are limited to ~107 bytes; deep checkouts fall back to /tmp.
        local = self.data / "run"
        if len(str(local)) < 80:
            return local
        digest = hashlib.sha1(str(self.data).encode()).hexdigest()[:10]
        return Path(f"/tmp/wangge-{digest}")

    # --- the two roles' passwords -------------------------------------------------------------
    @property
    def admin_password_file(self) -> Path:
        return self.data / "admin.password"

    @property
    def app_password_file(self) -> Path:
        return self.data / "app.password"

    def _read_password(self, path: Path) -> str | None:
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ClusterError(f"cannot read the database password in {path}: {exc}") from None

    def _write_password(self, path: Path, password: str | None = None) -> str:
        """``password`` (a new random one if None) in ``path``, created with mode 0600 (never readable
        by others, not even for an instant); owned by the postgres OS user as root, so initdb can read it."""
        password = password or secrets.token_urlsafe(24)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(password + "\n")
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)
        return password

    def url(self, database: str) -> str:
        """The application role's URL, with its password: print it only through ``gis.db.display_url``."""
        return self._url(database, self._read_password(self.app_password_file))

    def _url(self, database: str, password: str | None) -> str:
        who = f"{self.user}:{quote(password, safe='*')}" if password else self.user
        return f"postgresql+psycopg2://{who}@/{database}?host={self.socket_dir}&port={self.port}"

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
        if self.settings.pg_port is None and port_in_use(self.port):
            taken = _taken_by(port_holder(self.port))
            self.port = free_port(self.port + 1)
            self.port_source = f"chosen at initdb: {self.first_port} is in use ({taken})"
            self.notice = (
                f"port {self.first_port} is in use ({taken}): this cluster listens on {self.port} instead, "
                f"remembered in {self.pgdata / 'postgresql.conf'} (WANGGE_PG_PORT=N moves it)"
            )
        bindir = _bindir()
        self._own(self.data)
        self._own(self.pgdata)
        self._own(self.socket_dir)
        self._write_password(self.admin_password_file)
        self.app_password_file.unlink(missing_ok=True)  # the application role is made at the first start
        self._run(
            str(bindir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            ADMIN,
            "--auth=scram-sha-256",
            f"--pwfile={self.admin_password_file}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        conf = self.pgdata / "postgresql.conf"
        text = conf.read_text() + CONF.format(port=self.port, socket_dir=self.socket_dir)
        conf.write_text(text)
        (self.pgdata / "pg_hba.conf").write_text(HBA)

    def running(self) -> bool:
        if not self.initialised():
            return False
        proc = self._run(str(_bindir() / "pg_ctl"), "-D", str(self.pgdata), "status", check=False)
        return proc.returncode == 0

    def running_port(self) -> int | None:
        """The port the running server listens on (line 4 of postmaster.pid)."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[3])
        except (OSError, IndexError, ValueError):
            return None

    def start(self) -> bool:
        """Start the cluster (initialising it on first use). Returns False if it was running."""
        if self.running():
            actual = self.running_port()
            if actual is not None and actual != self.port:
                raise ClusterError(
                    f"the cluster in {self.pgdata} is running on port {actual}, and WANGGE_PG_PORT asks for "
                    f"{self.port}: stop it first (`wangge db stop`), then start it again"
                )
            self._secure()
            return False
        new = not self.initialised()
        if not (new and self.settings.pg_port is None):  # a new cluster without WANGGE_PG_PORT picks a free port
            self._check_port()
        if new:
            self.init()
        elif _remembered_port(self.pgdata) != self.port:
            conf = self.pgdata / "postgresql.conf"
            text, found = _PORT_LINE.subn(f"port = {self.port}", conf.read_text())
            conf.write_text(text if found else f"{text}\nport = {self.port}\n")
        self._own(self.socket_dir)
        log = self.data / "postgres.log"
        proc = self._run(
            str(_bindir() / "pg_ctl"), "-D", str(self.pgdata), "-l", str(log), "-w", "-t", "60", "start", check=False
        )
        if proc.returncode != 0:
            said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise ClusterError(
                f"PostgreSQL did not start ({said[0] if said else f'pg_ctl exit {proc.returncode}'}); "
                f"the end of {log}:\n{_tail(log)}"
            )
        self._wait()
        self._secure()
        self._ensure_database(self.settings.pg_database)
        return True

    def _check_port(self) -> None:
        """Raise, saying who holds it and what to do, if the cluster's port is taken."""
        if not port_in_use(self.port):
            return
        holder = port_holder(self.port)
        fix = (
            f"give this checkout another port, e.g. WANGGE_PG_PORT={free_port(self.port + 1)} make test "
            f"(or make demo; the cluster then keeps it)"
        )
        if holder and holder.get("wangge"):
            other = Path(str(holder["data_dir"]))
            checkout = other.parent.parent if other.parent.name == ".pgdata" else other.parent
            fix = f"stop that cluster (`wangge db stop` in {checkout}), or {fix}"
        raise ClusterError(f"port {self.port} is in use {_taken_by(holder)}: {fix}")

    def stop(self) -> bool:
        if not self.running():
            return False
        self._run(str(_bindir() / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop")
        return True

    def _psql(self, sql: str, database: str = "postgres", user: str = ADMIN, **variables: str) -> str:
        """Run ``sql`` (a psql script, read from standard input) as ``user``, the administrator unless
        converting an old cluster; its password goes in the environment, never on a command line.
        ``variables`` are psql variables (``:'name'`` quotes a value, ``:"name"`` an identifier)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        password = self._read_password(self.admin_password_file)
        if password:
            env["PGPASSWORD"] = password
        cmd = [str(_bindir() / "psql"), "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            cmd += ["-v", f"{name}={value}"]
        cmd += ["-h", str(self.socket_dir), "-p", str(self.port), "-U", user, "-d", database, "-f", "-"]
        proc = subprocess.run(cmd, input=sql, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise ClusterError(proc.stderr.strip())
        return proc.stdout.strip()

    def _wait(self) -> None:
        for _ in range(100):
            ready = subprocess.run(
                [str(_bindir() / "pg_isready"), "-q", "-h", str(self.socket_dir), "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise ClusterError("the cluster started but does not accept connections")

    # --- roles and passwords ------------------------------------------------------------------
    def secured(self) -> bool:
        """Does the cluster ask every connection for a password, and has its application role one?"""
        try:
            hba = (self.pgdata / "pg_hba.conf").read_text()
        except OSError:
            return False
        return hba.startswith(MARK) and self.app_password_file.exists()

    def _secure(self) -> None:
        """Make the application role of a new cluster, or convert an old one (trust, superuser
        ``wangge``); nothing when done. Each step can be run again, so an interrupted conversion
        finishes at the next start."""
        if self.secured():
            return
        hba = self.pgdata / "pg_hba.conf"
        if hba.read_text().startswith(MARK):
            self._make_app_role()
            return
        self._convert()
        # last, once both roles have their passwords
        hba.write_text(HBA)
        self._psql("SELECT pg_reload_conf()")

    def _convert(self) -> None:
        """An old cluster, still trusting every local connection: its bootstrap superuser becomes
        ``wangge_admin`` with a password, and what it owns in the databases goes to the application
        role (made by :meth:`_make_app_role`, after this)."""
        # under trust any role gets in: the administrator if an earlier attempt got that far
        try:
            boot = self._psql("SELECT rolname FROM pg_roles WHERE oid = 10", user=ADMIN)
        except ClusterError:
            boot = self._psql("SELECT rolname FROM pg_roles WHERE oid = 10", user=self.user)
        if boot != ADMIN:
            # The application keeps its role name (URLs, WANGGE_PG_USER, grants stay right): the
            # bootstrap superuser can neither lose SUPERUSER nor be REASSIGNed, so it is renamed.
            self._psql(
                "SELECT format('CREATE ROLE %I LOGIN SUPERUSER', :'conv') "
                "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'conv') \\gexec",
                user=boot,
                conv=CONVERTER,
            )
            self._psql(f"ALTER ROLE {_ident(boot)} RENAME TO {_ident(ADMIN)}", user=CONVERTER)
        if self._read_password(self.admin_password_file) is None:
            self._write_password(self.admin_password_file)
        password = self._read_password(self.admin_password_file)
        self._psql(
            f"DROP ROLE IF EXISTS {_ident(CONVERTER)};\n"
            f"ALTER ROLE {_ident(ADMIN)} PASSWORD {_literal(scram_verifier(password or ''))};",
            user=ADMIN,
        )
        self._make_app_role()
        databases = self._psql(
            "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate AND datname <> 'postgres'"
        ).split()
        for name in databases:
            self._psql(f"ALTER DATABASE {_ident(name)} OWNER TO {_ident(self.user)}")
            self._psql(GIVE_OBJECTS.format(app=_literal(self.user)), database=name)

    def _make_app_role(self) -> None:
        """The application role: created, or set right (no superuser, no roles, no databases), with
        the password of its file (a new one if there is none)."""
        password = self._read_password(self.app_password_file)
        fresh = password is None
        if fresh:
            password = secrets.token_urlsafe(24)
        self._psql(
            "SELECT format('CREATE ROLE %I', :'app') "
            "WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app') \\gexec\n"
            f"ALTER ROLE {_ident(self.user)} LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS "
            f"PASSWORD {_literal(scram_verifier(password or ''))};",
            app=self.user,
        )
        if fresh:
            # written once the role has it: an interrupted start makes a new one next time
            temp = self.app_password_file.with_suffix(".new")
            self._write_password(temp, password)
            temp.replace(self.app_password_file)

    def _ensure_database(self, name: str) -> None:
        """The database, owned by the application role, with PostGIS (which only a superuser may install)."""
        self._psql(
            "SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'app') "
            "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec",
            db=name,
            app=self.user,
        )
        self._psql("CREATE EXTENSION IF NOT EXISTS postgis", database=name)

    def create_database(self, name: str, drop: bool = False) -> str:
        """Create (or recreate) a database in the cluster and return its URL."""
        if drop:
            self._psql(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")
        self._ensure_database(name)
        return self.url(name)

    def status(self) -> dict[str, object]:
        running = self.running()
        status: dict[str, object] = {
            "data_dir": str(self.pgdata),
            "initialised": self.initialised(),
            "running": running,
            "port": self.port,
            "port_source": self.port_source,
            "socket_dir": str(self.socket_dir),
            # the password hidden, as gis.db.display_url would (which imports this module)
            "url": self._url(self.settings.pg_database, "***" if self.app_password_file.exists() else None),
        }
        actual = self.running_port() if running else None
        if actual is not None and actual != self.port:
            status["running_on_port"] = actual  # WANGGE_PG_PORT applies at the next start
        return status
