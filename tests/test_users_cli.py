"""``wangge users``, ``wangge keys`` and ``wangge workers token`` as an administrator runs them on
the server: real processes against the test database, every change in the audit trail."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import text

from gis.access import accounts, devices
from gis.db import database_url
from gis.tracks import workers
from tests.conftest import ROOT
from tests.helpers import load_city, square_city


def wangge(settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url(settings)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], input=stdin, capture_output=True, text=True, env=env, cwd=ROOT
    )


def test_accounts_keys_and_device_secrets_from_the_command_line(settings, db, tmp_path):
    load_city(db, square_city(), upto=2)
    p = wangge(settings, "users", "add", "zhao", "--role", "dispatcher", "--area", "110108001", "--password-stdin",
               stdin="a long passphrase\n")  # fmt: skip
    assert p.returncode == 0, p.stderr
    with db.begin() as conn:
        assert accounts.authenticate(conn, "zhao", "a long passphrase", "127.0.0.1") is not None
        assert accounts.authenticate(conn, "zhao", "wrong", "127.0.0.1") is None
    p = wangge(settings, "users", "grant", "zhao", "--role", "viewer", "--area", "110108002")
    assert p.returncode == 0, p.stderr
    listed = wangge(settings, "users", "list").stdout
    assert "dispatcher@110108001" in listed and "viewer@110108002" in listed
    assert wangge(settings, "users", "revoke", "zhao", "--role", "viewer", "--area", "110108002").returncode == 0
    assert "viewer" not in wangge(settings, "users", "list").stdout
    # a bad role or area is refused naming the field, and nothing is half-written
    p = wangge(settings, "users", "add", "qian", "--role", "boss")
    assert p.returncode == 2 and "role" in p.stderr
    p = wangge(settings, "users", "add", "qian", "--role", "viewer", "--area", "999999")
    assert p.returncode == 2 and "area" in p.stderr
    assert "qian" not in wangge(settings, "users", "list").stdout
    assert wangge(settings, "users", "disable", "zhao").returncode == 0
    with db.begin() as conn:
        assert accounts.authenticate(conn, "zhao", "a long passphrase", "127.0.0.2") is None
    # a key is printed once, on the last line, and works until it is revoked
    p = wangge(settings, "keys", "add", "hotline", "--role", "reporter")
    assert p.returncode == 0, p.stderr
    secret = p.stdout.strip().splitlines()[-1]
    with db.connect() as conn:
        assert accounts.verify_api_key(conn, secret).kind == "key"
    assert secret not in wangge(settings, "keys", "list").stdout
    assert wangge(settings, "keys", "revoke", "hotline").returncode == 0
    with db.connect() as conn:
        assert accounts.verify_api_key(conn, secret) is None
    # a worker's phone: a secret and its QR code; a new one replaces the old at once
    with db.begin() as conn:
        workers.create_worker(conn, worker_id="W1", name="网格员")
    first = wangge(settings, "workers", "token", "W1").stdout.strip().splitlines()[-1]
    qr = tmp_path / "w1.png"
    p = wangge(settings, "workers", "token", "W1", "--qr", str(qr))
    second = p.stdout.strip().splitlines()[-1]
    assert qr.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with db.connect() as conn:
        assert devices.worker_for_secret(conn, first) is None
        assert devices.worker_for_secret(conn, second) == "W1"
        trail = conn.execute(text("SELECT actor_kind, action FROM audit_log ORDER BY id")).all()
    assert set(trail) >= {("operator", "user.add"), ("operator", "key.add"), ("operator", "device.issue")}
