"""Analysis results kept per filter set, caller's reach and data version, in each process.

A Gi* over 30,000 grids takes most of a second; a planner toggling between views asks for the
same one again. The key holds what the answer depends on: the function and its arguments, the
caller's reach, and the version of the data (the boundaries written and the cases written), so a
new case or a redraw makes the next request compute afresh. Small and per process: the answers
are a few megabytes at most.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.engine import Connection

T = TypeVar("T")

# changes whenever a grid version or a case is written (both read through an index)
_VERSION = """SELECT (SELECT max(valid_from) FROM grid), (SELECT max(valid_to) FROM grid),
       (SELECT max(id) FROM grid), (SELECT max(updated_at) FROM "case"), (SELECT max(id) FROM "case")"""


class ResultCache:
    def __init__(self, size: int = 32):
        self.size = size
        self.hits = 0
        self._data: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conn: Connection, key: tuple, compute: Callable[[], T]) -> T:
        """The answer for ``key`` at the data's current version, computed once."""
        full = (key, tuple(conn.execute(text(_VERSION)).one()))
        with self._lock:
            if full in self._data:
                self._data.move_to_end(full)
                self.hits += 1
                return self._data[full]
        value = compute()
        with self._lock:
            self._data[full] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


#: the answers of the hot-spot analyses (``gis.analytics.hotspots``, ``gis.analytics.emerging``)
results = ResultCache()


def reach_key(who: Any) -> tuple:
    """What of the caller an answer depends on: its reach on the cases."""
    if who is None:
        return ("everyone",)
    permission = "cases:read"
    return (
        tuple(who.areas_for(permission) or ()) if who.areas_for(permission) is not None else ("all",),
        tuple(who.units_for(permission)),
        who.own_worker_for(permission),
        who.submitter_for(permission) and who.actor,
    )


def frozen(kwargs: dict[str, Any]) -> tuple:
    """Keyword arguments as a key (lists as tuples, in name order)."""
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in kwargs.items()))
