"""The one helper that puts identifiers into SQL (values are always bound parameters)."""

from __future__ import annotations

import re

from gis.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def ident(name: str) -> str:
    """Quote a possibly schema-qualified table name, refusing anything but plain identifiers.

    >>> ident("public.cases")
    '"public"."cases"'
    >>> ident("x; drop table grid")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: not a plain table name: 'x; drop table grid'
    """
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_NAME.match(p) for p in parts):
        raise InvalidInput(f"not a plain table name: {name!r}", field="table")
    return ".".join(f'"{p}"' for p in parts)
