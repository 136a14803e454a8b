"""Personal data (the Personal Information Protection Law): a caller without ``personal:read`` on
an object sees the people in it masked: gridworkers' names in a case (张**), and phone numbers as
138****5678 where they are shown."""

from __future__ import annotations

from collections.abc import Iterable

from gis.access.principal import Principal

PERMISSION = "personal:read"


def sees_personal(who: Principal | None, codes: Iterable[str | None], unit: str | None = None) -> bool:
    """May ``who`` (None: the local operator) see in full the people of an object lying in the grids
    ``codes`` (its chain) and dispatched to ``unit``?"""
    if who is None:
        return True
    if any(who.covers(PERMISSION, c) for c in codes if c):
        return True
    return unit is not None and unit in who.units_for(PERMISSION)


def mask_name(name: str | None) -> str | None:
    """The first character, the rest starred: 张三丰 → 张**, Li → L*."""
    return name if not name else name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """The first three and last four digits kept: 13812345678 → 138****5678; a short number all starred."""
    if not phone:
        return phone
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "*" * len(phone)
