"""Everyone's latest position as GeoJSON: one read of ``worker_position``, kept current on ingest.

Each feature's text is built in SQL (``gis/sql/position_features.sql``) but for its two
time-dependent properties, ``age_s`` and ``on_duty``, which are appended here for each answer.
:class:`LivePositions` keeps those texts in memory and brings them up to date by reading only the
positions received since its last read, as Traccar keeps its devices' last positions in memory:
building 20,000 features costs 250-400 ms on this machine, appending the two properties 30-60 ms.
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, time, timedelta
from functools import cache

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.statements import UNSCOPED, Scope, fetch_prepared, load
from gis.tracks.duty import on_duty

#: a read with ``since`` starts this much before it: a fix whose ingest transaction began before
#: the previous read but committed after it comes in the next one (a map replaces features by id)
SINCE_OVERLAP_S = 1

#: worker id → (feature text without its last two properties and closing braces, fix time as
#: epoch seconds, duty key)
Features = dict[str, tuple[bytes, float, str]]


@cache
def _features_sql() -> str:
    return load("position_features")


def _read(conn: Connection, since: datetime | None, scope: Scope = UNSCOPED) -> tuple[Features, datetime]:
    """The features received after ``since`` (all without it), and the database's time of the read."""
    if scope[0] == "TRUE":
        _, rows = fetch_prepared(conn, "wangge_position_features", _features_sql(), {"since": since})
    else:  # a caller limited to areas: its own statement, not the prepared one everyone shares
        sql = _features_sql().replace("/*scope*/", f"AND {scope[0]}")
        rows = conn.execute(text(sql), {"since": since, **scope[1]}).all()
    if rows:
        read_at = datetime.fromtimestamp(rows[0][4], UTC)
    else:
        read_at = conn.exec_driver_sql("SELECT statement_timestamp()").scalar_one()
    return {wid: (head.encode(), fix, duty) for wid, head, fix, duty, _ in rows}, read_at


@cache
def _duty(key: str) -> tuple[list[int], time, time]:
    """``"1,2,3,4,5|30600|63000"`` → ISO weekdays, start and end of duty."""
    days, start, end = key.split("|")
    clock = lambda s: (datetime.min + timedelta(seconds=int(s))).time()  # noqa: E731
    return [int(d) for d in days.split(",") if d], clock(start), clock(end)


def assemble(features: Features, now: datetime, read_at: datetime) -> bytes:
    """The FeatureCollection, features in the dict's order, with age and duty as of ``now``;
    ``next_since`` from ``read_at``, the database's time of the read (its clock, not ours, decides
    which fixes a later ``since`` read returns)."""
    duty_now: dict[str, bytes] = {}  # few distinct duty hours: decided once each
    ts = now.timestamp()
    parts = []
    add = parts.append
    for head, fix, key in features.values():
        duty = duty_now.get(key)
        if duty is None:
            days, start, end = _duty(key)
            duty = duty_now[key] = b"true" if on_duty(now, start, end, days) else b"false"
        add(b'%s,"age_s":%.1f,"on_duty":%s}}' % (head, ts - fix, duty))
    next_since = (read_at - timedelta(seconds=SINCE_OVERLAP_S)).isoformat().encode()
    return b'{"type":"FeatureCollection","features":[%s],"next_since":"%s"}' % (b",".join(parts), next_since)


def positions(
    conn: Connection, now: datetime | None = None, since: datetime | None = None, scope: Scope = UNSCOPED
) -> bytes:
    """Everyone's latest position as GeoJSON: worker, time, age, grid chain, on duty, inside own grid.

    The chain (of the unit grid holding the fix, at its time) was stored on ingest. Duty hours are
    China time. With ``since``, only the positions received after it; the answer's ``next_since``
    is the value for the next poll.
    """
    features, read_at = _read(conn, since, scope)
    return assemble(dict(sorted(features.items())), now or datetime.now(UTC), read_at)


class LivePositions:
    """Everyone's latest position, kept in memory.

    :meth:`refresh` reads only the positions received since its previous read (less the overlap);
    every ``rebuild_s``, or when positions have vanished from the table, it reads
    everything again, which also brings in what changed without a new fix (a renamed worker, new
    grids or duty hours; :meth:`forget` does it at the next refresh). :meth:`document` answers from
    memory, as of the last refresh.
    """

    def __init__(self, rebuild_s: float = 30.0):
        self.rebuild_s = rebuild_s
        self._lock = threading.Lock()
        self._features: Features = {}
        self._read_at: datetime | None = None
        self._built = 0.0
        self.refreshed = 0.0  # monotonic time of the last refresh
        self.asked = 0.0  # monotonic time of the last document asked for

    def forget(self) -> None:
        with self._lock:
            self._built = float("-inf")  # the next refresh reads everything

    def refresh(self, conn: Connection) -> None:
        with self._lock:
            count = conn.exec_driver_sql("SELECT count(*) FROM worker_position").scalar_one()
            full = (
                self._read_at is None or _time.monotonic() - self._built > self.rebuild_s or count < len(self._features)
            )
            if full:
                features, read_at = _read(conn, None)
                self._features = dict(sorted(features.items()))
                self._read_at, self._built = read_at, _time.monotonic()
            else:
                features, read_at = _read(conn, self._read_at - timedelta(seconds=SINCE_OVERLAP_S))
                new = any(k not in self._features for k in features)
                merged = {**self._features, **features}
                self._features = dict(sorted(merged.items())) if new else merged
                self._read_at = read_at
            self.refreshed = _time.monotonic()

    def document(self, now: datetime | None = None) -> bytes:
        self.asked = _time.monotonic()
        # both replaced, never changed in place, while being read here
        features, read_at = self._features, self._read_at
        now = now or datetime.now(UTC)
        return assemble(features, now, read_at or now)
