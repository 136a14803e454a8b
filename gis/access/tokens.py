"""Short-lived signed access tokens (JWT, HS256) naming a user and a sign-in session.

The token proves who signed in and when; what the user may do is read from the database on every
request (:func:`verify`: one indexed query), so a revoked role, a disabled account or a sign-out
takes effect at once, not when the token expires.

The signing secret is ``WANGGE_TOKEN_SECRET`` when set (at least 32 characters). Otherwise one is
generated on first use and kept in ``access_secret``: every API process and every host that shares
the database then signs and checks with the same key without anyone configuring it, it survives
restarts, and an install using ``DATABASE_URL`` (no data directory of its own) works the same way.
There is no built-in default: a known key would let anyone mint tokens.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

import jwt
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.accounts import grants_of
from gis.access.principal import Principal
from gis.errors import Forbidden, Unauthorized
from gis.statements import fetch_prepared

ALGORITHM = "HS256"
ISSUER = "wangge"
_KEY_NAME = "token_signing"


def signing_key(conn: Connection, configured: str | None = None) -> bytes:
    """The token signing key: ``configured`` (the settings' ``token_secret``) or the stored one,
    generated on first use. Read it once at start-up; it changes only by :func:`rotate_signing_key`."""
    if configured:
        if len(configured) < 32:
            raise ValueError("the token secret needs at least 32 characters")
        return configured.encode()
    conn.execute(
        text("INSERT INTO access_secret (name, value) VALUES (:n, :v) ON CONFLICT (name) DO NOTHING"),
        {"n": _KEY_NAME, "v": secrets.token_bytes(32)},
    )
    return bytes(conn.execute(text("SELECT value FROM access_secret WHERE name = :n"), {"n": _KEY_NAME}).scalar_one())


def rotate_signing_key(conn: Connection) -> bytes:
    """Replace the stored signing key: every token signed before stops verifying (processes must reload it)."""
    key = secrets.token_bytes(32)
    conn.execute(
        text(
            """INSERT INTO access_secret (name, value) VALUES (:n, :v)
               ON CONFLICT (name) DO UPDATE SET value = excluded.value, created_at = now()"""
        ),
        {"n": _KEY_NAME, "v": key},
    )
    return key


def issue_token(
    conn: Connection,
    key: bytes,
    user_id: int,
    *,
    lifetime_s: int = 1800,
    client_addr: str | None = None,
    csrf: bool = False,
) -> dict[str, Any]:
    """Open a session for ``user_id`` (after :func:`gis.access.accounts.authenticate`) and sign its token.

    Returns the OAuth2 token answer (``access_token``, ``token_type``, ``expires_in``) and ``session_id``.
    With ``csrf`` (a browser session kept in a cookie), the token also carries a random ``csrf`` claim,
    returned as ``csrf_token``: writes made with the cookie must send it back (:func:`verify`).
    """
    now = int(time.time())
    sid = secrets.token_urlsafe(16)
    # sessions long past their expiry are kept a week for the trail, then dropped
    conn.execute(text("DELETE FROM auth_session WHERE expires_at < now() - interval '7 days'"))
    conn.execute(
        text(
            """INSERT INTO auth_session (id, user_id, expires_at, client_addr)
               VALUES (:s, :u, to_timestamp(:exp), :a)"""
        ),
        {"s": sid, "u": user_id, "exp": now + lifetime_s, "a": (client_addr or None) and client_addr[:64]},
    )
    claims: dict[str, Any] = {"iss": ISSUER, "sub": str(user_id), "sid": sid, "iat": now, "exp": now + lifetime_s}
    if csrf:
        claims["csrf"] = secrets.token_urlsafe(24)
    return {
        "access_token": jwt.encode(claims, key, algorithm=ALGORITHM),
        "token_type": "bearer",
        "expires_in": lifetime_s,
        "session_id": sid,
        "csrf_token": claims.get("csrf"),
    }


_VERIFY = """
SELECT u.id, u.login, u.worker_id, g.roles, g.areas, g.units, wg.grids
FROM auth_session s
JOIN app_user u ON u.id = s.user_id
LEFT JOIN LATERAL (
    SELECT array_agg(role) AS roles, array_agg(area_code) AS areas, array_agg(resp_unit) AS units
    FROM access_grant WHERE user_id = u.id
) g ON true
LEFT JOIN LATERAL (
    SELECT array_agg(grid_code ORDER BY grid_code) AS grids FROM worker_grid WHERE worker_id = u.worker_id
) wg ON true
WHERE s.id = :sid AND s.user_id = :uid AND s.revoked_at IS NULL AND s.expires_at > now() AND u.active
"""


def decode(key: bytes, token: str) -> dict[str, Any]:
    """The claims of a token signed with ``key`` by wangge and not expired; Unauthorized otherwise."""
    try:
        return jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],  # never the token's own "alg": no "none", no key confusion
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "sid", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired; sign in again", field="token") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the token is not valid", field="token") from None


def checked_claims(key: bytes, token: str, *, csrf: str | None | bool = False) -> dict[str, Any]:
    """The claims of a token signed with ``key``, not expired, naming a user and a session.

    ``csrf``: False when the request needs no CSRF token (a bearer token, a read); otherwise the
    token the request sent (None: none), which must be the session's ``csrf`` claim (Forbidden).
    """
    if not isinstance(token, str) or len(token) > 4096:
        raise Unauthorized("the token is not valid", field="token")
    claims = decode(key, token)
    if csrf is not False:
        expected = claims.get("csrf")
        if not isinstance(expected, str) or not isinstance(csrf, str) or not hmac.compare_digest(expected, csrf):
            raise Forbidden(
                "a write made with the session cookie needs the X-CSRF-Token header (the wangge_csrf cookie's value)",
                field="x-csrf-token",
            )
    try:
        claims["sub"] = int(claims["sub"])
    except (TypeError, ValueError):
        raise Unauthorized("the token is not valid", field="token") from None
    claims["sid"] = str(claims["sid"])
    return claims


def session_principal(conn: Connection, claims: dict[str, Any]) -> Principal:
    """The signed-in user of a token's (checked) claims, with roles, areas and worker grids as they
    are now; Unauthorized for a signed-out session or a disabled account. One indexed query."""
    _, rows = fetch_prepared(conn, "wangge_verify_token", _VERIFY, {"sid": claims["sid"], "uid": claims["sub"]})
    if not rows:
        raise Unauthorized("the session has ended; sign in again", field="token")
    user_id, login, worker_id, roles, areas, units, grids = rows[0]
    return Principal(
        kind="user",
        id=str(user_id),
        name=login,
        grants=grants_of(roles, areas, units),
        worker_id=worker_id,
        worker_grids=tuple(grids or ()),
        session_id=claims["sid"],
    )


def verify(conn: Connection, key: bytes, token: str, *, csrf: str | None | bool = False) -> Principal:
    """The signed-in user behind ``token`` (:func:`checked_claims`, then :func:`session_principal`).

    Unauthorized for a token that is malformed, tampered with, expired, of a signed-out session or of
    a disabled account; Forbidden for a missing or wrong CSRF token where one is needed.
    """
    return session_principal(conn, checked_claims(key, token, csrf=csrf))


def revoke_session(conn: Connection, session_id: str) -> bool:
    """Sign out: the session's token stops working at once. False if it had already ended."""
    return bool(
        conn.execute(
            text("UPDATE auth_session SET revoked_at = now() WHERE id = :s AND revoked_at IS NULL"), {"s": session_id}
        ).rowcount
    )
