"""The four levels of the grid hierarchy and their codes (GB/T 2260, NBS, GB/T 30428.1)."""

from __future__ import annotations

import re

from gis.errors import InvalidInput

LEVELS = {"district": 1, "street": 2, "community": 3, "unit_grid": 4}
#: names read as a level too: "unit" for the unit grid (as the command line and files long wrote it)
LEVEL_ALIASES = {**LEVELS, "unit": 4}
LEVEL_NAMES = {v: k for k, v in LEVELS.items()}
CODE_LENGTH = {1: 6, 2: 9, 3: 12, 4: 15}
LEVEL_OF_LENGTH = {v: k for k, v in CODE_LENGTH.items()}
#: the column of a case, a component or a position that holds the grid of a code's length
CHAIN_COLUMN = {6: "district_code", 9: "street_code", 12: "community_code", 15: "unit_grid_code"}
AREA_CODE = re.compile(r"^[0-9]{6}([0-9]{3}){0,3}$")
AREA_ALLOWED = "a grid code of 6, 9, 12 or 15 digits"


def check_area(value: str | None, field: str = "area_code") -> str | None:
    """A grid code of any level (an area), or None for none.

    >>> check_area("460106001"), check_area("") is None
    ('460106001', True)
    >>> check_area("4601")
    Traceback (most recent call last):
    ...
    gis.errors.InvalidInput: bad grid code '4601'
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not AREA_CODE.match(value):
        raise InvalidInput(f"bad grid code {value!r}", field=field, allowed=AREA_ALLOWED)
    return value


def parse_level(value: str | int, field: str = "level") -> int:
    """Accept a level name or number.

    >>> parse_level("street"), parse_level("unit_grid"), parse_level("unit")
    (2, 4, 4)
    >>> parse_level(4)
    4
    """
    if isinstance(value, int) and value in LEVEL_NAMES:
        return value
    if isinstance(value, str):
        if value in LEVEL_ALIASES:
            return LEVEL_ALIASES[value]
        if value.isdigit() and int(value) in LEVEL_NAMES:
            return int(value)
    raise InvalidInput(f"unknown level {value!r}", field=field, allowed=list(LEVELS))


def level_of_code(code: str) -> int | None:
    """The level a code's length implies, or None.

    >>> level_of_code("460106001")
    2
    >>> level_of_code("12") is None
    True
    """
    return LEVEL_OF_LENGTH.get(len(code)) if code.isdigit() else None


def parent_code(code: str) -> str | None:
    """The code of the parent grid, by prefix.

    >>> parent_code("460106001002")
    '460106001'
    >>> parent_code("460106") is None
    True
    """
    level = level_of_code(code)
    if level is None or level == 1:
        return None
    return code[: CODE_LENGTH[level - 1]]


def normalize_code(value: object) -> str | None:
    """Codes are text; numeric columns from shapefiles come back as numbers.

    >>> normalize_code(460106.0)
    '460106'
    >>> normalize_code(None) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        if value.is_integer():
            return str(int(value))
    text = str(value).strip()
    if text.endswith(".0") and text[:-2].isdigit():
        text = text[:-2]
    return text or None
