"""Text PostgreSQL can store: no NUL character (``text`` and ``jsonb`` refuse it) and nothing
that is not UTF-8 (a lone surrogate from a JSON ``\\ud800`` escape). Checked where users' text
enters (API bodies, files), so the answer names the field instead of a server error."""

from __future__ import annotations

import re
from typing import Any

from gis.errors import InvalidInput

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

ALLOWED = "text without NUL (\\u0000) characters, valid UTF-8"


def problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None.

    >>> problem("井盖缺失"), problem("a\\x00b"), problem("\\ud800")
    (None, 'contains a NUL character', 'is not valid UTF-8')
    """
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8"
    return None


def check_text(value: Any, field: str) -> Any:
    """``value`` itself if it is storable text (or not text at all); else :class:`InvalidInput`."""
    if isinstance(value, str):
        why = problem(value)
        if why:
            raise InvalidInput(f"{field} {why}", field=field, allowed=ALLOWED)
    return value


def check_json(value: Any, field: str) -> Any:
    """Like :func:`check_text` for every key and string inside a JSON value (``attrs``).

    >>> check_json({"a": ["x", {"b": "y\\x00"}]}, "attrs")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: attrs.a[1].b contains a NUL character
    """
    if isinstance(value, str):
        check_text(value, field)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(str(k), f"{field} key")
            check_json(v, f"{field}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_json(v, f"{field}[{i}]")
    return value


def scrub(value: Any) -> Any:
    """A copy of a JSON value with what PostgreSQL cannot store replaced by U+FFFD, for keeping a
    sample of a refused report as it came.

    >>> scrub({"id": "d\\x00", "n": ["\\ud800", 1]})
    {'id': 'd�', 'n': ['�', 1]}
    """
    if isinstance(value, str):
        if problem(value) is None:
            return value
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value
