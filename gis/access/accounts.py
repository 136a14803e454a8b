"""Users, their roles on areas, sign-in with failed-attempt limits, and API keys.

Passwords are hashed with Argon2 (pwdlib's recommended hasher): slow on purpose, because people
choose guessable passwords. API keys are 32 random bytes made by wangge; for a secret that cannot be
guessed a slow hash adds nothing, and a plain SHA-256 lets the key be found by an indexed equality
lookup on each request (a salted Argon2 hash would need the row first, and cost ~50 ms a request).
Nothing here logs or returns a password or a stored hash; a key's secret is returned once, by
:func:`create_api_key`.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.access.personal import check_phone
from gis.access.principal import Grant, Principal
from gis.access.roles import NEEDS_UNIT, NEEDS_WORKER, ROLES
from gis.errors import Conflict, InvalidInput, NotFound, TooManyAttempts
from gis.grids.hierarchy import check_area

# as gis.grids.hierarchy (access is a base module and imports no domain room)
_LOGIN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # Argon2 takes any length; a cap keeps a huge body from costing memory
KEY_PREFIX = "wgk_"  # tells a key from a JWT at a glance, and lets secret scanners find leaked keys

_HASHER = PasswordHash((Argon2Hasher(),))  # stateless: parameters only


@functools.cache
def _dummy_hash() -> str:
    # an unknown login costs the same Argon2 time as a known one, so timing does not tell them apart
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The Argon2 hash of ``password`` after checking it (length; the caller checks it is not the login)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD} characters", field="password")
    return _HASHER.hash(password)


def _check_login(login: str) -> str:
    if not isinstance(login, str) or not _LOGIN.match(login):
        raise InvalidInput(f"bad login {login!r}", field="login", allowed="1-64 letters, digits, _ . @ -")
    return login


# -- users ---------------------------------------------------------------------------------------

_USER_COLUMNS = """u.id, u.login, u.display_name, u.phone, u.active, u.worker_id, u.created_at,
    u.password_hash IS NOT NULL AS has_password,
    coalesce((SELECT jsonb_agg(jsonb_build_object('role', g.role, 'area', g.area_code, 'resp_unit', g.resp_unit)
                               ORDER BY g.id)
              FROM access_grant g WHERE g.user_id = u.id), '[]') AS grants"""


def create_user(
    conn: Connection,
    login: str,
    display_name: str,
    *,
    password: str | None = None,
    phone: str | None = None,
    worker_id: str | None = None,
) -> dict[str, Any]:
    """A new user (no roles yet: :func:`grant`); without a password the account cannot sign in."""
    _check_login(login)
    if not isinstance(display_name, str) or not display_name.strip():
        raise InvalidInput("a user needs a display name", field="display_name")
    check_phone(phone)
    if password is not None and password == login:
        raise InvalidInput("the password must not be the login", field="password")
    hashed = hash_password(password) if password is not None else None
    if worker_id is not None:
        _check_worker(conn, worker_id)
    try:
        with conn.begin_nested():
            uid = conn.execute(
                text(
                    """INSERT INTO app_user (login, display_name, phone, password_hash, password_changed_at, worker_id)
                       VALUES (:l, :n, :p, :h, CASE WHEN CAST(:h AS text) IS NULL THEN NULL ELSE now() END, :w)
                       RETURNING id"""
                ),
                {"l": login, "n": display_name.strip(), "p": phone, "h": hashed, "w": worker_id},
            ).scalar_one()
    except IntegrityError:
        raise Conflict(f"login {login} or worker {worker_id} already has an account", field="login") from None
    return _user(conn, uid)


def _check_worker(conn: Connection, worker_id: str) -> None:
    if conn.execute(text("SELECT 1 FROM worker WHERE id = :w"), {"w": worker_id}).scalar() is None:
        raise InvalidInput(f"no worker {worker_id!r}", field="worker_id")


def _user(conn: Connection, user_id: int) -> dict[str, Any]:
    row = conn.execute(text(f"SELECT {_USER_COLUMNS} FROM app_user u WHERE u.id = :i"), {"i": user_id}).mappings()
    return dict(row.one())


def get_user(conn: Connection, login: str) -> dict[str, Any]:
    """One user with its grants; NotFound if there is no such login."""
    row = (
        conn.execute(text(f"SELECT {_USER_COLUMNS} FROM app_user u WHERE u.login = :l"), {"l": login})
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no user {login!r}", field="login")
    return dict(row)


def list_users(conn: Connection, *, limit: int = 1000, offset: int = 0) -> list[dict[str, Any]]:
    """Users by login, each with its grants (never a password hash)."""
    rows = conn.execute(
        text(f"SELECT {_USER_COLUMNS} FROM app_user u ORDER BY u.login LIMIT :lim OFFSET :off"),
        {"lim": limit, "off": offset},
    ).mappings()
    return [dict(r) for r in rows]


def set_active(conn: Connection, login: str, active: bool) -> dict[str, Any]:
    """Disable or enable an account. Disabling also ends its sessions, so enabling it later does not
    revive tokens issued before."""
    uid = _user_id(conn, login)
    conn.execute(text("UPDATE app_user SET active = :a WHERE id = :i"), {"a": active, "i": uid})
    if not active:
        _end_sessions(conn, uid)
    return _user(conn, uid)


def set_password(conn: Connection, login: str, password: str) -> None:
    """Replace a user's password; every session of the user ends (sign in again)."""
    uid = _user_id(conn, login)
    if password == login:
        raise InvalidInput("the password must not be the login", field="password")
    conn.execute(
        text("UPDATE app_user SET password_hash = :h, password_changed_at = now() WHERE id = :i"),
        {"h": hash_password(password), "i": uid},
    )
    _end_sessions(conn, uid)


def _end_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(
        text("UPDATE auth_session SET revoked_at = now() WHERE user_id = :i AND revoked_at IS NULL"), {"i": user_id}
    )


def _user_id(conn: Connection, login: str) -> int:
    uid = conn.execute(text("SELECT id FROM app_user WHERE login = :l"), {"l": login}).scalar()
    if uid is None:
        raise NotFound(f"no user {login!r}", field="login")
    return uid


# -- grants --------------------------------------------------------------------------------------


def check_grant(conn: Connection, role: str, area: str | None, unit: str | None) -> None:
    """Refuse an unknown role, an area that is not a grid code in ``grid`` (at any version), and a
    unit given to a role that takes none, or missing or unknown for unit_staff."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", field="role", allowed=list(ROLES))
    if area is not None:
        check_area(area, "area")
        if conn.execute(text("SELECT 1 FROM grid WHERE code = :c LIMIT 1"), {"c": area}).scalar() is None:
            raise InvalidInput(f"no grid {area} (at any date)", field="area")
    if role in NEEDS_UNIT:
        if not unit:
            raise InvalidInput(f"the role {role} needs a unit", field="unit")
        if conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None:
            raise InvalidInput(f"no responsible unit {unit!r}", field="unit")
    elif unit is not None:
        raise InvalidInput(f"the role {role} takes no unit", field="unit", allowed=sorted(NEEDS_UNIT))


def grant(conn: Connection, login: str, role: str, area: str | None = None, unit: str | None = None) -> dict[str, Any]:
    """Give a user ``role`` on ``area`` (``None``: the whole city); returns the user with its grants."""
    uid = _user_id(conn, login)
    check_grant(conn, role, area, unit)
    if role in NEEDS_WORKER:
        if conn.execute(text("SELECT worker_id FROM app_user WHERE id = :i"), {"i": uid}).scalar() is None:
            raise InvalidInput(f"the role {role} needs an account linked to a worker", field="role")
    conn.execute(
        text(
            """INSERT INTO access_grant (user_id, role, area_code, resp_unit) VALUES (:i, :r, :a, :u)
               ON CONFLICT DO NOTHING"""
        ),
        {"i": uid, "r": role, "a": area, "u": unit},
    )
    return _user(conn, uid)


def revoke(conn: Connection, login: str, role: str, area: str | None = None, unit: str | None = None) -> dict[str, Any]:
    """Take ``role`` on ``area`` away from a user (at once: each request re-reads the grants)."""
    uid = _user_id(conn, login)
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}", field="role", allowed=list(ROLES))
    gone = conn.execute(
        text(
            """DELETE FROM access_grant WHERE user_id = :i AND role = :r
               AND area_code IS NOT DISTINCT FROM :a AND resp_unit IS NOT DISTINCT FROM :u"""
        ),
        {"i": uid, "r": role, "a": area, "u": unit},
    ).rowcount
    if not gone:
        raise NotFound(f"user {login} has no role {role} on {area or 'the whole city'}", field="role")
    return _user(conn, uid)


# -- sign-in -------------------------------------------------------------------------------------

_FAILURES = text(
    """
    WITH w AS (SELECT now() - make_interval(secs => :win) AS since)
    SELECT
      (SELECT at FROM login_attempt f, w
        WHERE f.login = :l AND NOT f.ok AND f.at > w.since
          AND f.at > coalesce((SELECT max(s.at) FROM login_attempt s WHERE s.login = :l AND s.ok), '-infinity')
        ORDER BY f.at DESC OFFSET (:n - 1) LIMIT 1) AS login_nth,
      (SELECT at FROM login_attempt f, w
        WHERE f.client_addr = :addr AND NOT f.ok AND f.at > w.since
          -- a success forgives that account's own failures, never another account's
          AND NOT EXISTS (SELECT 1 FROM login_attempt s WHERE s.login = f.login AND s.ok AND s.at > f.at)
        ORDER BY f.at DESC OFFSET (:n - 1) LIMIT 1) AS addr_nth,
      now() AS now
    """
)


def authenticate(
    conn: Connection,
    login: str,
    password: str,
    client_addr: str,
    *,
    max_failures: int = 10,
    window_s: int = 900,
) -> dict[str, Any] | None:
    """The active user whose login and password these are, or None (wrong login, wrong password,
    disabled account: one answer, in the same time).

    Raises TooManyAttempts (with the seconds to wait) when the account, or the address, has had
    ``max_failures`` failures within ``window_s``; nothing is checked or counted then. A failure is
    recorded in ``login_attempt``: the caller must commit after a None as after a success.
    """
    login = login if isinstance(login, str) else ""
    password = password if isinstance(password, str) else ""
    client_addr = (client_addr or "unknown")[:64]
    counted_login = login[:64]
    # attempts on one account queue here, so parallel guesses cannot slip past the count
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('wangge.login:' || :l))"), {"l": counted_login})
    row = (
        conn.execute(_FAILURES, {"l": counted_login, "addr": client_addr, "n": max_failures, "win": window_s})
        .mappings()
        .one()
    )
    waits = [nth + timedelta(seconds=window_s) - row["now"] for nth in (row["login_nth"], row["addr_nth"]) if nth]
    if waits:
        retry = max(1, int(max(waits).total_seconds() + 0.999))
        raise TooManyAttempts(
            f"too many failed sign-ins; try again in {retry} s", field="username", retry_after_s=retry
        )
    user = None
    if _LOGIN.match(login):
        user = (
            conn.execute(text("SELECT id, password_hash, active FROM app_user WHERE login = :l"), {"l": login})
            .mappings()
            .first()
        )
    stored = user["password_hash"] if user and user["password_hash"] else None
    ok, new_hash = False, None
    if stored is None or len(password) > MAX_PASSWORD:
        _HASHER.verify(password[:MAX_PASSWORD], _dummy_hash())
    else:
        ok, new_hash = _HASHER.verify_and_update(password, stored)
    ok = ok and bool(user and user["active"])
    conn.execute(text("DELETE FROM login_attempt WHERE at < now() - make_interval(secs => :win)"), {"win": window_s})
    conn.execute(
        text("INSERT INTO login_attempt (login, client_addr, ok) VALUES (:l, :a, :ok)"),
        {"l": counted_login, "a": client_addr, "ok": ok},
    )
    if not ok:
        return None
    if new_hash:  # the hasher's parameters changed since this password was set
        conn.execute(text("UPDATE app_user SET password_hash = :h WHERE id = :i"), {"h": new_hash, "i": user["id"]})
    return _user(conn, user["id"])


# -- API keys ------------------------------------------------------------------------------------


def key_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def create_api_key(
    conn: Connection,
    name: str,
    role: str,
    areas: list[str] | tuple[str, ...] = (),
    *,
    unit: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A key for a machine client with ``role`` on each of ``areas`` (none: the whole city).

    Returns the key's record and its secret; the secret is not kept and cannot be shown again.
    """
    if not isinstance(name, str) or not _KEY_NAME.match(name):
        raise InvalidInput(f"bad key name {name!r}", field="name", allowed="1-64 letters, digits, _ . -")
    if role in NEEDS_WORKER:
        raise InvalidInput(f"a key cannot have the role {role}", field="role")
    for area in areas or [None]:
        check_grant(conn, role, area, unit)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    try:
        with conn.begin_nested():
            kid = conn.execute(
                text("INSERT INTO api_key (name, secret_hash) VALUES (:n, :h) RETURNING id"),
                {"n": name, "h": key_hash(secret)},
            ).scalar_one()
    except IntegrityError:
        raise Conflict(f"a key named {name} exists; revoke it first", field="name") from None
    for area in dict.fromkeys(areas or [None]):
        conn.execute(
            text("INSERT INTO access_grant (key_id, role, area_code, resp_unit) VALUES (:k, :r, :a, :u)"),
            {"k": kid, "r": role, "a": area, "u": unit},
        )
    return _key(conn, kid), secret


_KEY_COLUMNS = """k.id, k.name, k.created_at, k.revoked_at, k.last_used_at,
    coalesce((SELECT jsonb_agg(jsonb_build_object('role', g.role, 'area', g.area_code, 'resp_unit', g.resp_unit)
                               ORDER BY g.id)
              FROM access_grant g WHERE g.key_id = k.id), '[]') AS grants"""


def _key(conn: Connection, key_id: int) -> dict[str, Any]:
    return dict(
        conn.execute(text(f"SELECT {_KEY_COLUMNS} FROM api_key k WHERE k.id = :i"), {"i": key_id}).mappings().one()
    )


def list_api_keys(conn: Connection, *, include_revoked: bool = False) -> list[dict[str, Any]]:
    """Keys by name (never a secret or its hash)."""
    where = "" if include_revoked else "WHERE k.revoked_at IS NULL"
    return [
        dict(r)
        for r in conn.execute(text(f"SELECT {_KEY_COLUMNS} FROM api_key k {where} ORDER BY k.name, k.id")).mappings()
    ]


def revoke_api_key(conn: Connection, name: str) -> dict[str, Any]:
    """Revoke the live key called ``name``; it stops working at once."""
    kid = conn.execute(
        text("UPDATE api_key SET revoked_at = now() WHERE name = :n AND revoked_at IS NULL RETURNING id"), {"n": name}
    ).scalar()
    if kid is None:
        raise NotFound(f"no live key {name!r}", field="name")
    return _key(conn, kid)


_VERIFY_KEY = """
WITH k AS (SELECT id, name, last_used_at FROM api_key WHERE secret_hash = :h AND revoked_at IS NULL),
touch AS (
    -- at most one write a minute per key, not one per request
    UPDATE api_key SET last_used_at = now() FROM k
    WHERE api_key.id = k.id AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute')
)
SELECT k.id, k.name, g.roles, g.areas, g.units
FROM k LEFT JOIN LATERAL (
    SELECT array_agg(role) AS roles, array_agg(area_code) AS areas, array_agg(resp_unit) AS units
    FROM access_grant WHERE key_id = k.id
) g ON true
"""


def verify_api_key(conn: Connection, secret: str) -> Principal | None:
    """The principal of a live key, or None for a wrong, unknown or revoked one (one indexed query)."""
    from gis.statements import fetch_prepared

    if not isinstance(secret, str) or not secret.startswith(KEY_PREFIX) or len(secret) > 128:
        return None
    _, rows = fetch_prepared(conn, "wangge_verify_key", _VERIFY_KEY, {"h": key_hash(secret)})
    if not rows:
        return None
    kid, name, roles, areas, units = rows[0]
    return Principal(kind="key", id=str(kid), name=name, grants=grants_of(roles, areas, units))


def grants_of(
    roles: list[str] | None, areas: list[str | None] | None, units: list[str | None] | None
) -> tuple[Grant, ...]:
    """Grants from the three parallel arrays the verify queries aggregate."""
    if not roles:
        return ()
    return tuple(Grant(r, a, u) for r, a, u in zip(roles, areas or [], units or [], strict=True))
