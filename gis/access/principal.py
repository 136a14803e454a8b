"""Who is asking: a user, an API key, a device or the local operator, with its roles on areas.

A :class:`Principal` is built once per request (``gis.access.tokens.verify``,
``gis.access.accounts.verify_api_key``, ``gis.access.devices.device_principal``,
:meth:`Principal.operator`) and answers two questions: may it use a permission at all
(:meth:`Principal.can`, function level), and which objects does that permission reach
(:meth:`Principal.areas_for`, :func:`area_condition`, object level). An object outside the reach
must be answered like a missing one (404), so ids cannot be probed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gis.access.roles import AREA, DEVICE, DISTRICT, PERMISSIONS, ROLES, SELF, SUBMITTER, UNIT, WORKER_GRIDS

KINDS = ("user", "key", "device", "operator")
# district, street, community, unit grid (as gis.grids.hierarchy, which access, a base module, does not import)


@dataclass(frozen=True)
class Grant:
    """A role on an area (``None``: the whole city); ``unit`` for unit_staff."""

    role: str
    area: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class Principal:
    kind: str  # one of KINDS
    id: str  # user id, key id, worker id (device), "local" (operator)
    name: str  # login, key name, worker id, "command line"
    grants: tuple[Grant, ...] = ()
    worker_id: str | None = None  # a gridworker's own worker (and a device's)
    worker_grids: tuple[str, ...] = ()  # the grids that worker is assigned to
    session_id: str | None = None

    @classmethod
    def operator(cls) -> Principal:
        """The local operator (the command line): an administrator of the whole city."""
        return cls(kind="operator", id="local", name="command line", grants=(Grant("admin"),))

    @property
    def actor(self) -> str:
        """How the trail names this caller: ``user:12``, ``key:3``, ``device:W001``, ``operator:local``.

        >>> Principal.operator().actor
        'operator:local'
        """
        return f"{self.kind}:{self.id}"

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.role for g in self.grants))

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.unit for g in self.grants if g.unit))

    def _scopes(self, permission: str) -> list[tuple[str, Grant]]:
        if permission not in PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")  # a programming error, not user input
        table = {**ROLES, "device": DEVICE} if self.kind == "device" else ROLES
        out = []
        for g in self.grants:
            scope = table.get(g.role, {}).get(permission)
            if scope == DISTRICT and not (g.area is None or len(g.area) == 6):
                continue  # a street dispatcher does not set city-wide rules
            if scope == UNIT and not g.unit:
                continue
            if scope in (SELF, WORKER_GRIDS) and not self.worker_id:
                continue
            if scope is not None:
                out.append((scope, g))
        return out

    def can(self, permission: str) -> bool:
        """May this caller use ``permission`` at all (on some object)?

        >>> p = Principal("user", "1", "li", (Grant("dispatcher", "460106001"),))
        >>> p.can("cases:act"), p.can("registry:write"), p.can("users:admin")
        (True, False, False)
        >>> Principal("user", "2", "wang", (Grant("dispatcher", "460106"),)).can("registry:write")
        True
        """
        return bool(self._scopes(permission))

    def areas_for(self, permission: str) -> list[str] | None:
        """The grid codes ``permission`` reaches (each covering everything below it), ``None`` for
        everywhere, ``[]`` for no area (unit, own-worker and submitter scopes are not areas).

        >>> p = Principal("user", "1", "li", (Grant("viewer", "460106001"), Grant("viewer", "460106001002")))
        >>> p.areas_for("cases:read"), p.areas_for("tracks:read")
        (['460106001'], [])
        >>> Principal.operator().areas_for("cases:read") is None
        True
        """
        codes: set[str] = set()
        for scope, g in self._scopes(permission):
            if scope in (AREA, DISTRICT):
                if g.area is None:
                    return None
                codes.add(g.area)
            elif scope == WORKER_GRIDS:
                codes.update(self.worker_grids)
        # a code inside another one adds nothing
        return sorted(c for c in codes if not any(c != o and c.startswith(o) for o in codes))

    def covers(self, permission: str, code: str | None) -> bool:
        """Is the grid ``code`` (any level) inside this caller's areas for ``permission``?

        >>> p = Principal("user", "1", "li", (Grant("viewer", "460106001"),))
        >>> p.covers("grids:read", "460106001003007"), p.covers("grids:read", "460106002"), p.covers("grids:read", "460106")
        (True, False, False)
        """
        return inside(code, self.areas_for(permission))

    def units_for(self, permission: str) -> list[str]:
        """The responsible units whose objects ``permission`` reaches through a unit scope."""
        return sorted({g.unit for s, g in self._scopes(permission) if s == UNIT and g.unit})

    def own_worker_for(self, permission: str) -> str | None:
        """The caller's own worker id if ``permission`` reaches it through a self scope."""
        return self.worker_id if any(s == SELF for s, _ in self._scopes(permission)) else None

    def submitter_for(self, permission: str) -> bool:
        """Does ``permission`` reach what this caller submitted itself?"""
        return any(s == SUBMITTER for s, _ in self._scopes(permission))


def inside(code: str | None, areas: list[str] | None) -> bool:
    """Is the grid ``code`` (any level) inside one of ``areas`` (grid codes, each covering everything
    below it; None: everywhere)? Codes nest by prefix (GB/T 30428), so this is the whole rule."""
    if areas is None:
        return True
    return bool(code) and any(str(code).startswith(a) for a in areas)


def area_condition(
    principal: Principal,
    permission: str,
    columns: Mapping[Any, Any],
    *,
    prefix: str = "acc",
) -> tuple[str, dict[str, Any]]:
    """A WHERE fragment (and its bound values) keeping only the rows ``permission`` reaches.

    ``columns`` names the SQL expressions to test: code lengths 6, 9, 12, 15 -> the district,
    street, community and unit-grid code columns (a grant is compared with the column of its own
    level, or by prefix with the next finer one given); ``"code"`` -> a column holding codes of
    any level (the grid table); ``"unit"`` -> a unit column or a tuple of them; ``"worker"`` -> a
    worker id column; ``"submitter"`` -> an expression giving the actor that submitted the row
    (compared with :attr:`Principal.actor`). A scope whose column is not given reaches nothing:
    what cannot be proven inside is outside. Values are bound, never interpolated.

    >>> p = Principal("user", "1", "li", (Grant("viewer", "460106001"),))
    >>> area_condition(p, "cases:read", {6: "c.district_code", 9: "c.street_code", 15: "c.unit_grid_code"})
    ('(c.street_code = ANY(:acc_9))', {'acc_9': ['460106001']})
    >>> area_condition(p, "cases:read", {6: "c.district_code", 15: "c.unit_grid_code"})
    ('(starts_with(c.unit_grid_code, :acc_p0))', {'acc_p0': '460106001'})
    >>> area_condition(p, "users:admin", {9: "c.street_code"})
    ('FALSE', {})
    >>> area_condition(Principal.operator(), "cases:read", {9: "c.street_code"})
    ('TRUE', {})
    """
    if not principal.can(permission):
        return "FALSE", {}
    areas = principal.areas_for(permission)
    if areas is None:
        return "TRUE", {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    levels = sorted(k for k in columns if isinstance(k, int))
    by_column: dict[int, list[str]] = {}
    n = 0
    for code in areas:
        if "code" in columns:
            params[f"{prefix}_p{n}"] = code
            parts.append(f"starts_with({columns['code']}, :{prefix}_p{n})")
            n += 1
        elif len(code) in columns:
            by_column.setdefault(len(code), []).append(code)
        else:
            finer = [k for k in levels if k > len(code)]
            if finer:
                params[f"{prefix}_p{n}"] = code
                parts.append(f"starts_with({columns[finer[0]]}, :{prefix}_p{n})")
                n += 1
    for length, codes in sorted(by_column.items()):
        params[f"{prefix}_{length}"] = codes
        parts.insert(0, f"{columns[length]} = ANY(:{prefix}_{length})")
    units = principal.units_for(permission)
    if units and "unit" in columns:
        cols = columns["unit"] if isinstance(columns["unit"], tuple | list) else (columns["unit"],)
        params[f"{prefix}_units"] = units
        parts.extend(f"{c} = ANY(:{prefix}_units)" for c in cols)
    worker = principal.own_worker_for(permission)
    if worker and "worker" in columns:
        params[f"{prefix}_worker"] = worker
        parts.append(f"{columns['worker']} = :{prefix}_worker")
    if principal.submitter_for(permission) and "submitter" in columns:
        params[f"{prefix}_actor"] = principal.actor
        parts.append(f"{columns['submitter']} = :{prefix}_actor")
    if not parts:
        return "FALSE", {}
    return "(" + " OR ".join(parts) + ")", params
