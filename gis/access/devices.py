"""Gridworkers' device secrets: what a phone is configured with, and how a report proves its worker.

The Traccar Client (OsmAnd protocol) sends only ``id``, so the secret *is* the device identifier
typed or scanned into the phone; the JSON ingest takes it as a bearer token. Only its SHA-256 is
kept: the secret is 24 random bytes made here, so a slow hash adds no protection, and a plain one
finds the worker by an indexed equality lookup on every GPS report. Issuing again replaces the hash,
so the old secret stops working at once.

A wrong, unknown or revoked secret is simply "no worker" (:func:`worker_for_secret` returns None):
the ingest must answer it exactly as any other refused report.
"""

from __future__ import annotations

import hashlib
import io
import secrets

import segno
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Grant, Principal
from gis.errors import NotFound
from gis.statements import fetch_prepared

SECRET_BYTES = 24  # 32 URL-safe characters: fits the phone's device id field and a small QR code
MAX_SECRET = 128


def _hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def issue_secret(conn: Connection, worker_id: str, *, issued_by: str) -> str:
    """Issue or rotate ``worker_id``'s device secret and return it (it is not kept; show it once).

    ``issued_by`` is the actor (:attr:`Principal.actor`) recorded with it.
    """
    if conn.execute(text("SELECT 1 FROM worker WHERE id = :w"), {"w": worker_id}).scalar() is None:
        raise NotFound(f"no worker {worker_id!r}", field="worker_id")
    secret = secrets.token_urlsafe(SECRET_BYTES)
    conn.execute(
        text(
            """INSERT INTO device_secret (worker_id, secret_hash, issued_by) VALUES (:w, :h, :by)
               ON CONFLICT (worker_id) DO UPDATE
               SET secret_hash = excluded.secret_hash, issued_at = now(), issued_by = excluded.issued_by"""
        ),
        {"w": worker_id, "h": _hash(secret), "by": issued_by},
    )
    return secret


def revoke_secret(conn: Connection, worker_id: str) -> bool:
    """Withdraw ``worker_id``'s device secret (a lost phone). False if it had none."""
    return bool(conn.execute(text("DELETE FROM device_secret WHERE worker_id = :w"), {"w": worker_id}).rowcount)


def secret_issued(conn: Connection, worker_id: str) -> dict | None:
    """When and by whom ``worker_id``'s current secret was issued (never the secret), or None."""
    row = (
        conn.execute(text("SELECT issued_at, issued_by FROM device_secret WHERE worker_id = :w"), {"w": worker_id})
        .mappings()
        .first()
    )
    return dict(row) if row else None


def worker_for_secret(conn: Connection, secret: str | None) -> str | None:
    """The worker whose device has ``secret``, or None (wrong, unknown, revoked, empty: all alike)."""
    if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET:
        return None
    _, rows = fetch_prepared(
        conn, "wangge_device_secret", "SELECT worker_id FROM device_secret WHERE secret_hash = :h", {"h": _hash(secret)}
    )
    return rows[0][0] if rows else None


def device_principal(worker_id: str) -> Principal:
    """The principal of a device signed in by its secret: it may send its own worker's fixes only."""
    return Principal(kind="device", id=worker_id, name=worker_id, grants=(Grant("device"),), worker_id=worker_id)


def qr_png(secret: str, *, scale: int = 8) -> bytes:
    """A PNG QR code of ``secret``, to scan into the phone's device identifier field."""
    out = io.BytesIO()
    segno.make(secret, error="m", micro=False).save(out, kind="png", scale=scale, border=4)
    return out.getvalue()
