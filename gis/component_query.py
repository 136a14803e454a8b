"""Listing city components (部件) as GeoJSON, built in SQL like the grid listing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from gis.errors import InvalidInput
from gis.sqlutil import feature_page

FEATURE = """json_build_object(
    'type', 'Feature', 'id', c.code,
    'geometry', ST_AsGeoJSON(c.geom, 7, 0)::json,
    'properties', json_build_object(
        'code', c.code, 'class_code', c.class_code, 'major_name', k.major_name, 'minor_name', k.minor_name,
        'name', c.name, 'owner_unit', c.owner_unit, 'manager_unit', c.manager_unit,
        'maintainer_unit', c.maintainer_unit, 'state', c.state, 'recorded_at', c.recorded_at,
        'changed_at', c.changed_at, 'district_code', c.district_code, 'street_code', c.street_code,
        'community_code', c.community_code, 'grid_code', c.grid_code, 'attrs', c.attrs))::text"""

#: the chain column that holds an area code of each length
AREA_COLUMN = {6: "district_code", 9: "street_code", 12: "community_code", 15: "grid_code"}


def build_list_query(
    *,
    class_code: str | None,
    area: str | None,
    unit: str | None,
    state: str | None,
    bbox: tuple[float, float, float, float] | None,
) -> tuple[str, str]:
    """The WHERE clause and the page query of a component listing; values bound by the caller.

    ``class_code``: a minor class (4 digits) or a major class (2); ``area``: a grid code at any
    level; ``unit``: owner, manager or maintainer.

    >>> build_list_query(class_code="01", area="110108001", unit=None, state=None, bbox=None)[0]
    'left(c.class_code, 2) = :class_code AND c.street_code = :area'
    """
    where = []
    if class_code is not None:
        if not class_code.isdigit() or len(class_code) not in (2, 4):
            raise InvalidInput(f"bad class {class_code!r}", field="class", allowed="2 digits (major) or 4 (minor)")
        where.append("c.class_code = :class_code" if len(class_code) == 4 else "left(c.class_code, 2) = :class_code")
    if area is not None:
        if not area.isdigit() or len(area) not in AREA_COLUMN:
            raise InvalidInput(f"bad area code {area!r}", field="area", allowed="a grid code of 6, 9, 12 or 15 digits")
        where.append(f"c.{AREA_COLUMN[len(area)]} = :area")
    if unit is not None:
        where.append(":unit IN (c.owner_unit, c.manager_unit, c.maintainer_unit)")
    if state is not None:
        where.append("c.state = :state")
    if bbox is not None:
        where.append("c.geom && ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, 4490)")
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
    unit: str | None = None,
    state: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[str, int, int]:
    """Comma-joined GeoJSON features, the number matched and the number returned."""
    where, query = build_list_query(class_code=class_code, area=area, unit=unit, state=state, bbox=bbox)
    params: dict[str, Any] = {
        "class_code": class_code,
        "area": area,
        "unit": unit,
        "state": state,
        "limit": limit,
        "offset": offset,
    }
    return feature_page(conn, "component c", where, query, params, bbox)
