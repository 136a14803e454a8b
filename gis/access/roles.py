"""The one table of who may do what: each role's permissions, and how far each reaches.

A permission is a plain string that a route declares (``"cases:read"``). A role grants a permission
with a *scope* saying which objects it reaches:

- ``AREA``: inside the grant's area (a grid code of any level covers everything below it; a grant
  without an area covers the whole city);
- ``DISTRICT``: like ``AREA``, but only from grants on a whole district or the whole city (the
  dispatcher's registry and calendar, which are city-wide settings);
- ``UNIT``: objects of the grant's responsible unit, wherever they are (unit_staff);
- ``WORKER_GRIDS``: inside the grids the user's worker is assigned to (gridworker);
- ``SELF``: the user's own worker (a gridworker's track and patrol; a device's reports);
- ``SUBMITTER``: objects the caller submitted itself (a reporter's cases).

Anything not in the table is denied.
"""

from __future__ import annotations

from typing import Final

AREA: Final = "area"
DISTRICT: Final = "district"
UNIT: Final = "unit"
WORKER_GRIDS: Final = "worker_grids"
SELF: Final = "self"
SUBMITTER: Final = "submitter"
SCOPES: Final = (AREA, DISTRICT, UNIT, WORKER_GRIDS, SELF, SUBMITTER)

#: Every permission a route may declare, with what it covers (the routes of README's API table).
PERMISSIONS: Final[dict[str, str]] = {
    "account:read": "one's own account: who the credentials belong to, signing out",
    "grids:read": "point lookup, grids and their versions, the validation report",
    "grids:write": "import grids, redraw or draw a grid",
    "cases:intake": "submit a case (POST /cases, Open311 POST requests)",
    "cases:read": "list and read cases and their history (citizens' contact masked without personal:read)",
    "cases:act": "every workflow action on a case (file, dispatch, close, supervise, callback, move, ...)",
    "cases:handle": "a handling unit's actions on a case: accept, finish, return, extend",
    "stats:read": "case statistics, overdue lists, hotspots",
    "registry:read": "responsible units, dispatch rules, event and component classes",
    "registry:write": "create, change and delete units, rules and event classes",
    "components:read": "city components (部件)",
    "components:write": "create and change components",
    "calendar:read": "the working-day calendar",
    "calendar:write": "change a day of the working-day calendar",
    "workers:read": "gridworkers: names, grids, duty hours",
    "workers:write": "create, change and delete gridworkers; issue and rotate their device secrets",
    "tracks:read": "live positions, tracks, patrol metrics, who was in a grid (personal data)",
    "tracks:write": "send GPS fixes (a device for its own worker; admins import batches)",
    "personal:read": "citizens' names and phone numbers unmasked",
    "users:admin": "users, their roles and areas, API keys",
    "audit:read": "the audit trail",
}

_READ_ALL = {
    "grids:read": AREA,
    "cases:read": AREA,
    "stats:read": AREA,
    "registry:read": AREA,
    "components:read": AREA,
    "calendar:read": AREA,
    "workers:read": AREA,
}

#: role -> permission -> scope. ``docs/access.md`` is written from this table.
ROLES: Final[dict[str, dict[str, str]]] = {
    "admin": dict.fromkeys(PERMISSIONS, AREA),
    "grid_admin": {
        **_READ_ALL,
        "grids:write": AREA,
        "components:write": AREA,
        "workers:write": AREA,
        "tracks:read": AREA,
        "tracks:write": AREA,
    },
    "dispatcher": {
        **_READ_ALL,
        "cases:intake": AREA,
        "cases:act": AREA,
        "cases:handle": AREA,
        "tracks:read": AREA,
        "personal:read": AREA,
        "registry:write": DISTRICT,
        "calendar:write": DISTRICT,
    },
    "unit_staff": {
        "grids:read": AREA,
        "cases:read": UNIT,
        "cases:handle": UNIT,
        "personal:read": UNIT,
        "components:read": UNIT,
        "registry:read": AREA,
        "calendar:read": AREA,
    },
    "gridworker": {
        "grids:read": AREA,
        "cases:intake": AREA,
        "cases:read": WORKER_GRIDS,
        "workers:read": SELF,
        "tracks:read": SELF,
        "registry:read": AREA,
        "calendar:read": AREA,
    },
    "planner": {p: s for p, s in _READ_ALL.items() if p != "workers:read"},  # no worker names
    "viewer": dict(_READ_ALL),
    "reporter": {
        "cases:intake": AREA,
        "cases:read": SUBMITTER,
        "registry:read": AREA,
    },
}

for _perms in ROLES.values():
    _perms.setdefault("account:read", AREA)

#: What a device (a gridworker's phone, signed in by its secret) may do: report its own worker's fixes.
DEVICE: Final[dict[str, str]] = {"tracks:write": SELF}

#: The workflow actions a ``cases:handle`` holder may take; every other action needs ``cases:act``.
HANDLING_ACTIONS: Final = frozenset({"accept", "finish", "return", "extend"})

#: Roles that only make sense on a person with a worker row.
NEEDS_WORKER: Final = frozenset({"gridworker"})
#: Roles that need a responsible unit.
NEEDS_UNIT: Final = frozenset({"unit_staff"})


def action_permission(action: str) -> str:
    """The permission a workflow action needs.

    >>> action_permission("accept"), action_permission("dispatch")
    ('cases:handle', 'cases:act')
    """
    return "cases:handle" if action in HANDLING_ACTIONS else "cases:act"


def check_table() -> None:
    """Raise if the table names an unknown permission or scope (run by the tests)."""
    for role, perms in {**ROLES, "device": DEVICE}.items():
        for perm, scope in perms.items():
            if perm not in PERMISSIONS:
                raise ValueError(f"role {role} names unknown permission {perm}")
            if scope not in SCOPES:
                raise ValueError(f"role {role} gives {perm} the unknown scope {scope}")
