"""City components (部件, GB/T 30428.2): stored with their grid chain and their owning, managing
and maintaining units; listed as GeoJSON built in SQL."""

from __future__ import annotations

import json
import re
from typing import Any

import shapely
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gis.crs import geoms_to_storage, parse_crs
from gis.errors import Conflict, InvalidInput, NotFound
from gis.grids.hierarchy import CHAIN_COLUMN, check_area
from gis.grids.lookup import lookup_points
from gis.registry.changes import only_editable
from gis.statements import UNSCOPED, Scope, feature_page


# --- components -------------------------------------------------------------------------------
def create_component(
    conn: Connection,
    *,
    code: str,
    geometry: dict[str, Any],
    crs: str = "EPSG:4490",
    name: str = "",
    owner_unit: str | None = None,
    manager_unit: str | None = None,
    maintainer_unit: str | None = None,
    state: str = "normal",
    attrs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a component (GB/T 30428.2 code: 6 county + 2 major + 2 minor + 6 serial) with its grid chain."""
    if not re.match(r"^[0-9]{16}$", code or ""):
        raise InvalidInput(f"bad component code {code!r}", field="code", allowed="16 digits")
    if conn.execute(text("SELECT 1 FROM component_class WHERE code = :c"), {"c": code[6:10]}).scalar() is None:
        allowed = list(conn.execute(text("SELECT code FROM component_class ORDER BY code")).scalars())
        raise InvalidInput(f"unknown component class {code[6:10]!r} in the code", field="code", allowed=allowed)
    for field, unit in (
        ("owner_unit", owner_unit),
        ("manager_unit", manager_unit),
        ("maintainer_unit", maintainer_unit),
    ):
        if (
            unit is not None
            and conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None
        ):
            raise InvalidInput(f"unknown unit {unit!r}", field=field)
    try:
        geom = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError):
        raise InvalidInput("geometry is not GeoJSON", field="geometry") from None
    if geom.is_empty or not geom.is_valid:
        raise InvalidInput(f"invalid geometry: {shapely.is_valid_reason(geom)}", field="geometry")
    geom = geoms_to_storage([geom], parse_crs(crs))[0]
    anchor = geom if geom.geom_type == "Point" else shapely.point_on_surface(geom)
    hit = lookup_points(conn, [anchor.x], [anchor.y])[0]
    chain = {lv: (hit[lv]["code"] if hit[lv] else None) for lv in ("district", "street", "community", "unit_grid")}
    try:
        with conn.begin_nested():
            conn.execute(
                text(
                    """INSERT INTO component (code, class_code, name, geom, owner_unit, manager_unit, maintainer_unit,
                                          state, district_code, street_code, community_code, unit_grid_code, attrs)
                   VALUES (:code, :cls, :name, ST_GeomFromWKB(:wkb, 4490), :o, :m, :mt, :s, :d, :st, :c, :g,
                           CAST(:attrs AS jsonb))"""
                ),
                {
                    "code": code,
                    "cls": code[6:10],
                    "name": name,
                    "wkb": shapely.to_wkb(geom),
                    "o": owner_unit,
                    "m": manager_unit,
                    "mt": maintainer_unit,
                    "s": state,
                    "d": chain["district"],
                    "st": chain["street"],
                    "c": chain["community"],
                    "g": chain["unit_grid"],
                    "attrs": json.dumps(attrs or {}, ensure_ascii=False),
                },
            )
    except IntegrityError:
        raise Conflict(f"component {code} exists", field="code") from None
    return get_component(conn, code)


#: what a grant reaches on a component: its grids, and for a unit's staff its owner, manager or maintainer
COMPONENT_SCOPE = {
    6: "c.district_code",
    9: "c.street_code",
    12: "c.community_code",
    15: "c.unit_grid_code",
    "unit": ("c.owner_unit", "c.manager_unit", "c.maintainer_unit"),
}


def get_component(conn: Connection, code: str, scope: Scope = UNSCOPED) -> dict[str, Any]:
    """One component; one outside ``scope`` is missing (404), as an unknown code."""
    row = (
        conn.execute(
            text(
                f"""SELECT code, class_code, name, ST_AsGeoJSON(geom, 7, 0)::json AS geometry, owner_unit, manager_unit,
                  maintainer_unit, state, recorded_at, changed_at, district_code, street_code, community_code,
                  unit_grid_code, attrs FROM component c WHERE code = :c AND {scope[0]}"""
            ),
            {"c": code, **scope[1]},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"no component {code}", field="code")
    return dict(row)


COMPONENT_EDITABLE = ("name", "owner_unit", "manager_unit", "maintainer_unit", "state", "attrs")


def update_component(conn: Connection, code: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a component's name, units, state or attributes; ``changed_at`` records when. A case
    about it from now on goes to its new owner (or maintainer). Does not commit."""
    get_component(conn, code)
    only_editable(changes, COMPONENT_EDITABLE)
    for field in ("owner_unit", "manager_unit", "maintainer_unit"):
        unit = changes.get(field)
        if (
            unit is not None
            and conn.execute(text("SELECT 1 FROM resp_unit WHERE code = :u"), {"u": unit}).scalar() is None
        ):
            raise InvalidInput(f"unknown unit {unit!r}", field=field)
    if "state" in changes and not (changes["state"] or "").strip():
        raise InvalidInput("state must not be empty", field="state")
    values = dict(changes)
    if "attrs" in values:
        if not isinstance(values["attrs"], dict):
            raise InvalidInput("attrs must be an object", field="attrs")
        values["attrs"] = json.dumps(values["attrs"], ensure_ascii=False)
    sets = [f"{c} = CAST(:{c} AS jsonb)" if c == "attrs" else f"{c} = :{c}" for c in values]
    conn.execute(
        text(f"UPDATE component SET {', '.join(sets + ['changed_at = now()'])} WHERE code = :code_"),
        {**values, "code_": code},
    )
    return get_component(conn, code)


# --- listing ------------------------------------------------------------------------------------
FEATURE = """json_build_object(
    'type', 'Feature', 'id', c.code,
    'geometry', ST_AsGeoJSON(c.geom, 7, 0)::json,
    'properties', json_build_object(
        'code', c.code, 'class_code', c.class_code, 'major_name', k.major_name, 'minor_name', k.minor_name,
        'name', c.name, 'owner_unit', c.owner_unit, 'manager_unit', c.manager_unit,
        'maintainer_unit', c.maintainer_unit, 'state', c.state, 'recorded_at', c.recorded_at,
        'changed_at', c.changed_at, 'district_code', c.district_code, 'street_code', c.street_code,
        'community_code', c.community_code, 'unit_grid_code', c.unit_grid_code, 'attrs', c.attrs))::text"""

#: the chain column that holds an area code of each length


def build_list_query(
    *,
    class_code: str | None,
    area: str | None,
    resp_unit: str | None,
    state: str | None,
    bbox: tuple[float, float, float, float] | None,
    scope: str = "TRUE",
) -> tuple[str, str]:
    """The WHERE clause and the page query of a component listing; values bound by the caller.

    ``class_code``: a minor class (4 digits) or a major class (2); ``area``: a grid code at any
    level; ``resp_unit``: the owner, manager or maintainer.

    >>> build_list_query(class_code="01", area="110108001", resp_unit=None, state=None, bbox=None)[0]
    'left(c.class_code, 2) = :class_code AND c.street_code = :area'
    """
    where = []
    if class_code is not None:
        if not class_code.isdigit() or len(class_code) not in (2, 4):
            raise InvalidInput(f"bad class {class_code!r}", field="class", allowed="2 digits (major) or 4 (minor)")
        where.append("c.class_code = :class_code" if len(class_code) == 4 else "left(c.class_code, 2) = :class_code")
    if check_area(area, "area"):  # an empty area is no filter
        where.append(f"c.{CHAIN_COLUMN[len(area)]} = :area")
    if resp_unit is not None:
        where.append(":resp_unit IN (c.owner_unit, c.manager_unit, c.maintainer_unit)")
    if state is not None:
        where.append("c.state = :state")
    if bbox is not None:
        where.append("c.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490)")
    if scope != "TRUE":
        where.append(scope)
    w = " AND ".join(where) or "true"
    query = (
        f"SELECT {FEATURE} FROM component c JOIN component_class k ON k.code = c.class_code "
        f"WHERE {w} ORDER BY c.code LIMIT :limit OFFSET :offset"
    )
    return w, query


def list_component_features(
    conn: Connection,
    *,
    class_code: str | None = None,
    area: str | None = None,
    resp_unit: str | None = None,
    state: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
    scope: Scope = UNSCOPED,
) -> tuple[str, int, int]:
    """Comma-joined GeoJSON features, the number matched and the number returned (inside ``scope``)."""
    where, query = build_list_query(
        class_code=class_code, area=area, resp_unit=resp_unit, state=state, bbox=bbox, scope=scope[0]
    )
    params: dict[str, Any] = {
        **scope[1],
        "class_code": class_code,
        "area": area,
        "resp_unit": resp_unit,
        "state": state,
        "limit": limit,
        "offset": offset,
    }
    return feature_page(conn, "component c", where, query, params, bbox)
