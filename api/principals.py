"""Verified callers kept in memory for as long as the database says nothing about access changed.

Checking an API key, a session or a device secret is one indexed query, but on the busiest writes
(case intake) that round trip cost 14.5 % of the throughput (docs/benchmarks.md). So each server
process keeps the callers it verified, keyed by the hash of the secret (or the session id), and
forgets them all whenever PostgreSQL notifies ``wangge_access`` (the triggers of migration 0015 fire
on any change to users, grants, keys, live sessions, device secrets or workers' grids, from this
process, another one, or the command line). A change made by this process also forgets at once,
before its answer goes out (:meth:`Principals.forget`, called by the routes that change access).

The notifications arrive on one connection kept for that, read before every use of the cache (a
non-blocking read of its socket: no round trip). A change made elsewhere is honoured as soon as
PostgreSQL has delivered its notification: at its commit it wakes the listening backend, which
sends it within about a millisecond; a request in that millisecond may still be answered from
memory. A caller verified while a notification was on its way is not kept (the generation check).

The connection is watched: every few seconds a request's own (autocommit) connection sends this
process a heartbeat on the same channel; if it has not come back within a few seconds, or the
server said it is closing the connection, or the socket fails, the cache is emptied and not used
(every request asks the database, as without it) until a new connection listens. TCP keepalives
(``gis.db.make_engine``) let a silently dropped connection fail instead of hanging.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from gis.access.principal import Principal

log = logging.getLogger("wangge.access")
CHANNEL = "wangge_access"


class Principals:
    def __init__(
        self,
        engine: Engine | None,
        *,
        max_entries: int = 10_000,
        ttl_s: float = 60.0,
        retry_s: float = 5.0,
        heartbeat_s: float = 5.0,
        grace_s: float = 3.0,
    ):
        self.engine, self.max, self.ttl, self.retry_s = engine, max_entries, ttl_s, retry_s
        self.heartbeat_s, self.grace_s = heartbeat_s, grace_s
        self.entries: dict[tuple, tuple[Principal, float]] = {}
        self.generation = 0
        self.listener: Any = None  # the DBAPI connection that LISTENs, or None
        self.next_try = 0.0
        self.connecting = False
        self.token = "hb:" + secrets.token_hex(8)  # this process's heartbeat
        self.beat_sent: float | None = None  # when a heartbeat went out that has not come back
        self.beat_due = 0.0
        self.hits = 0  # answers from memory (for the tests and the curious)
        self.lock = threading.Lock()

    def verified(
        self, key: tuple, load: Callable[[], Principal | None], conn: Connection | None = None
    ) -> Principal | None:
        """The caller under ``key``, from memory if nothing changed since it was verified, else
        ``load()`` (the database's answer), kept when it is a caller and nothing changed meanwhile.
        ``conn``: the request's connection, which carries a heartbeat when one is due."""
        if not self._listening():
            return load()
        if conn is not None and self._beat_due():
            self._beat(conn)
        hit = self.entries.get(key)
        if hit is not None and hit[1] > time.monotonic():
            self.hits += 1
            return hit[0]
        generation = self.generation
        who = load()
        if who is not None:
            with self.lock:
                if generation == self.generation and self.listener is not None:
                    if len(self.entries) >= self.max:
                        self.entries.clear()
                    self.entries[key] = (who, time.monotonic() + self.ttl)
        return who

    def forget(self) -> None:
        with self.lock:
            self._forget()

    def _forget(self) -> None:
        self.generation += 1
        self.entries.clear()

    def _listening(self) -> bool:
        """Read what arrived on the listening connection; False when not listening. Without one,
        try to connect (at most once per ``retry_s``, one thread at a time, outside the lock)."""
        with self.lock:
            if self.listener is not None:
                try:
                    self._read()
                    return True
                except Exception as exc:  # nothing in memory can be trusted now
                    log.warning("lost the access notifications (%s); checking every caller in the database", exc)
                    self._drop()
                    return False
            if self.engine is None or self.connecting or time.monotonic() < self.next_try:
                return False
            self.connecting = True
        conn = None
        try:
            conn = self._connect()
        finally:
            with self.lock:
                self.connecting = False
                if conn is not None:
                    self.listener, self.beat_sent, self.beat_due = conn, None, 0.0
                    self._forget()  # whatever was verified before listening is not trusted
                else:
                    self.next_try = time.monotonic() + self.retry_s
        return conn is not None

    def _read(self) -> None:
        self.listener.poll()
        if self.listener.notices:  # a server closing the connection says so first, then hangs up
            said = list(self.listener.notices)
            self.listener.notices.clear()
            if any(n.startswith(("FATAL", "PANIC")) for n in said):
                raise ConnectionError(said[-1].strip())
        if self.listener.notifies:
            payloads = [n.payload for n in self.listener.notifies]
            self.listener.notifies.clear()
            if self.token in payloads:
                self.beat_sent = None
            if any(not p.startswith("hb:") for p in payloads):
                self._forget()
        if self.beat_sent is not None and time.monotonic() - self.beat_sent > self.grace_s:
            raise ConnectionError(f"no heartbeat back in {self.grace_s} s")

    def _beat_due(self) -> bool:
        with self.lock:
            now = time.monotonic()
            if self.listener is None or self.beat_sent is not None or now < self.beat_due:
                return False
            self.beat_sent, self.beat_due = now, now + self.heartbeat_s
            return True

    def _beat(self, conn: Connection) -> None:
        """Send the heartbeat on ``conn`` if it commits at once (an autocommit connection); a
        transaction's would wait for its commit, or never come."""
        if conn.engine is self.engine:
            conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": self.token})
        else:
            with self.lock:
                self.beat_sent, self.beat_due = None, 0.0  # the next autocommit request sends it

    def _connect(self) -> Any:
        try:
            raw = self.engine.raw_connection()
            raw.detach()  # ours alone, outside the pool
            conn = raw.dbapi_connection
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
            return conn
        except Exception:
            log.warning("cannot listen for access changes; checking every caller in the database", exc_info=True)
            return None

    def _drop(self) -> None:
        try:
            self.listener.close()
        except Exception:
            pass
        self.listener, self.next_try, self.beat_sent = None, time.monotonic() + self.retry_s, None
        self._forget()

    def close(self) -> None:
        with self.lock:
            if self.listener is not None:
                self._drop()
