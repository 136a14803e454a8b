"""Verified callers kept in memory for as long as the database says nothing about access changed.

Checking an API key, a session or a device secret is one indexed query, but on the busiest writes
(case intake) that round trip cost 14.5 % of the throughput (docs/benchmarks.md). So each server
process keeps the callers it verified, keyed by the hash of the secret (or the session id), and
forgets them all whenever PostgreSQL notifies ``wangge_access`` (the triggers of migration 0015 fire
on any change to users, grants, keys, ended sessions, device secrets or workers' grids, from this
process, another one, or the command line).

The notifications arrive on one connection kept for that. It is read before every use of the
cache (a non-blocking read of its socket: no round trip), so a revocation committed before a request
arrives is seen by that request: at once, as without the cache. If the connection is lost, the cache
is emptied and not used (every request asks the database, as before) until it is listening again.
A caller verified while a notification was on its way is not kept (the generation check).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from gis.access.principal import Principal

log = logging.getLogger("wangge.access")
CHANNEL = "wangge_access"


class Principals:
    def __init__(self, engine: Engine | None, *, max_entries: int = 10_000, ttl_s: float = 60.0, retry_s: float = 5.0):
        self.engine, self.max, self.ttl, self.retry_s = engine, max_entries, ttl_s, retry_s
        self.entries: dict[tuple, tuple[Principal, float]] = {}
        self.generation = 0
        self.listener: Any = None  # the DBAPI connection that LISTENs, or None
        self.next_try = 0.0
        self.hits = 0  # answers from memory (for the tests and the curious)
        self.lock = threading.Lock()

    def verified(self, key: tuple, load: Callable[[], Principal | None]) -> Principal | None:
        """The caller under ``key``, from memory if nothing changed since it was verified, else
        ``load()`` (the database's answer), kept when it is a caller and nothing changed meanwhile."""
        if not self._listening():
            return load()
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
            self.generation += 1
            self.entries.clear()

    def _listening(self) -> bool:
        """Read the notifications that arrived (forgetting everything if any did); connect the
        listener if there is none and it is time to try. False when not listening."""
        with self.lock:
            if self.listener is None:
                if self.engine is None or time.monotonic() < self.next_try:
                    return False
                self._connect()
                return self.listener is not None
            try:
                self.listener.poll()
                if self.listener.notices:  # a server closing the connection says so first, then hangs up
                    said = list(self.listener.notices)
                    self.listener.notices.clear()
                    if any(n.startswith(("FATAL", "PANIC")) for n in said):
                        raise ConnectionError(said[-1].strip())
                if self.listener.notifies:
                    self.listener.notifies.clear()
                    self.generation += 1
                    self.entries.clear()
                return True
            except Exception:  # the connection is gone: nothing in memory can be trusted
                log.warning("lost the access notifications; verifying every caller in the database until back")
                self._drop()
                return False

    def _connect(self) -> None:
        try:
            raw = self.engine.raw_connection()
            raw.detach()  # ours alone, outside the pool
            conn = raw.dbapi_connection
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
            self.listener = conn
            self.generation += 1  # whatever was verified before listening is not trusted
            self.entries.clear()
        except Exception:
            log.warning("cannot listen for access changes; verifying every caller in the database", exc_info=True)
            self.next_try = time.monotonic() + self.retry_s

    def _drop(self) -> None:
        try:
            self.listener.close()
        except Exception:
            pass
        self.listener, self.next_try = None, time.monotonic() + self.retry_s
        self.generation += 1
        self.entries.clear()

    def close(self) -> None:
        with self.lock:
            if self.listener is not None:
                self._drop()
