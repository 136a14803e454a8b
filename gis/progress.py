"""Progress of long work, phase by phase. Domain code reports it; only the command line shows it.

A :data:`Progress` is called with a phase's name and, when known, its number of rows; it returns a
context manager whose ``update(n)`` counts rows done. A phase that is one SQL statement reports
its rows at the end, so its rate is still shown. tqdm's bars have exactly this shape.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol


class Phase(Protocol):
    def update(self, n: float | None = 1) -> Any: ...


#: ``progress(name, total)`` → a context manager yielding a :class:`Phase`
Progress = Callable[..., AbstractContextManager[Phase]]


class _Quiet:
    def update(self, n: float | None = 1) -> None:
        return None

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_QUIET = _Quiet()


def quiet(name: str, total: int | None = None) -> _Quiet:
    """The progress of work nobody watches: reports go nowhere."""
    return _QUIET
