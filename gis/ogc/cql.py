"""CQL2 (OGC API – Features Part 3) to a SQL condition with bound values.

``pygeofilter`` parses CQL2 text and CQL2 JSON into one syntax tree; this module walks it. Only the
collection's queryables may be named (each maps to its SQL expression), every literal is a bound
value, and geometry literals are read in ``filter-crs`` (CRS84 by default) and brought to the
storage CRS. Supported: the basic CQL2 comparisons (=, <>, <, <=, >, >=, IS NULL), AND, OR, NOT,
LIKE, BETWEEN, IN, CASEI, and the spatial functions S_INTERSECTS, S_DISJOINT, S_CONTAINS,
S_WITHIN, S_TOUCHES, S_CROSSES, S_OVERLAPS, S_EQUALS with geometry literals (WKT, GeoJSON,
BBOX / ENVELOPE).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pygeofilter import ast, values

from gis.errors import InvalidInput
from gis.ogc.collections import Collection
from gis.ogc.crs import OutputCrs
from gis.settings import STORAGE_SRID

LANGUAGES = ("cql2-text", "cql2-json")
_COMPARE = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}
GEOMETRY_NAMES = ("geometry", "geom", "the_geom", "shape")


def parse(text: str, language: str | None) -> Any:
    """The syntax tree of a filter in ``cql2-text`` (default) or ``cql2-json``."""
    language = language or "cql2-text"
    if language not in LANGUAGES:
        raise InvalidInput(f"unknown filter-lang {language!r}", field="filter-lang", allowed=list(LANGUAGES))
    try:
        if language == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse as parse_json

            return parse_json(json.loads(text))
        from pygeofilter.parsers.cql2_text import parse as parse_text

        return parse_text(text)
    except InvalidInput:
        raise
    except Exception as exc:  # (lark's and the JSON parser's errors: the message says where)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"the filter is not valid {language}: {first}", field="filter") from None


class Translator:
    """One filter's translation: the SQL text and its bound values (named ``f0``, ``f1``, …)."""

    def __init__(self, collection: Collection, filter_crs: OutputCrs, hidden: frozenset[str] = frozenset()):
        self.c = collection
        self.crs = filter_crs
        self.hidden = hidden  # queryables the caller may not filter on (personal data)
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def sql(self, node: Any) -> str:
        if isinstance(node, ast.And | ast.Or):
            op = " AND " if isinstance(node, ast.And) else " OR "
            return "(" + self.sql(node.lhs) + op + self.sql(node.rhs) + ")"
        if isinstance(node, ast.Not):
            return f"(NOT {self.sql(node.sub_node)})"
        if type(node) in _COMPARE:
            return f"({self.value(node.lhs)} {_COMPARE[type(node)]} {self.value(node.rhs)})"
        if isinstance(node, ast.Between):
            neg = "NOT " if node.not_ else ""
            return f"({self.value(node.lhs)} {neg}BETWEEN {self.value(node.low)} AND {self.value(node.high)})"
        if isinstance(node, ast.Like):
            pattern = node.pattern
            if not isinstance(pattern, str):
                raise InvalidInput("LIKE takes a text pattern", field="filter")
            # CQL2's wildcards are SQL's: % and _ (pygeofilter reports them as given)
            if node.wildcard != "%" or node.singlechar != "_":
                pattern = pattern.replace(node.wildcard, "%").replace(node.singlechar, "_")
            like = "ILIKE" if node.nocase else "LIKE"
            neg = "NOT " if node.not_ else ""
            return f"({self.value(node.lhs)}::text {neg}{like} {self.bind(pattern)})"
        if isinstance(node, ast.In):
            items = ", ".join(self.value(v) for v in node.sub_nodes)
            return f"({self.value(node.lhs)} {'NOT ' if node.not_ else ''}IN ({items}))"
        if isinstance(node, ast.IsNull):
            return f"({self.value(node.lhs)} IS {'NOT ' if node.not_ else ''}NULL)"
        if type(node) in _SPATIAL:
            return f"{_SPATIAL[type(node)]}({self.geometry(node.lhs)}, {self.geometry(node.rhs)})"
        if isinstance(node, ast.BBox):
            box = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
            return f"ST_Intersects({self.geometry(node.lhs)}, {self.geometry(box)})"
        if isinstance(node, ast.Include):
            return "FALSE" if node.not_ else "TRUE"
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        raise InvalidInput(
            f"the filter uses {type(node).__name__}, which this service does not support",
            field="filter",
            allowed="comparisons, LIKE, BETWEEN, IN, IS NULL, CASEI, AND/OR/NOT, S_INTERSECTS and the other S_ functions",
        )

    def value(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            return self.attribute(node.name)
        if isinstance(node, ast.Function):
            if node.name.lower() in ("casei", "lower") and len(node.arguments) == 1:
                return f"lower({self.value(node.arguments[0])}::text)"
            if node.name.lower() in ("accenti",) and len(node.arguments) == 1:
                return self.value(node.arguments[0])
            raise InvalidInput(f"unknown function {node.name!r}", field="filter", allowed=["CASEI"])
        if isinstance(node, ast.Arithmetic):
            op = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}[type(node)]
            return f"({self.value(node.lhs)} {op} {self.value(node.rhs)})"
        if isinstance(node, bool | int | float | str | datetime | date):
            return self.bind(node)
        if isinstance(node, values.Geometry | values.Envelope):
            return self.geometry(node)
        raise InvalidInput(f"unexpected {type(node).__name__} in the filter", field="filter")

    def attribute(self, name: str) -> str:
        if name.lower() in GEOMETRY_NAMES:
            return self.c.geometry
        prop = self.c.prop(name)
        if prop is None or name in self.hidden:
            allowed = [p.name for p in self.c.props if p.name not in self.hidden] + ["geometry"]
            raise InvalidInput(f"{name!r} is not a queryable of {self.c.id}", field="filter", allowed=allowed)
        return prop.sql

    def geometry(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            if node.name.lower() not in GEOMETRY_NAMES:
                raise InvalidInput(f"{node.name!r} is not a geometry", field="filter", allowed=["geometry"])
            return self.c.geometry
        if isinstance(node, ast.Function) and node.name.lower() in ("bbox", "envelope") and len(node.arguments) == 4:
            node = values.Envelope(*(float(a) for a in node.arguments[::2]), *(float(a) for a in node.arguments[1::2]))
            node = values.Envelope(node.x1, node.y1, node.x2, node.y2)
        if isinstance(node, values.Envelope):
            x1, x2, y1, y2 = node.x1, node.x2, node.y1, node.y2
            if self.crs.swap:  # (an envelope in a latitude-first CRS gives latitude first)
                x1, y1, x2, y2 = y1, x1, y2, x2
            box = f"ST_MakeEnvelope({self.bind(float(x1))}, {self.bind(float(y1))}, {self.bind(float(x2))}, {self.bind(float(y2))}, {self.crs.srid})"
            return box if self.crs.srid == STORAGE_SRID else f"ST_Transform({box}, {STORAGE_SRID})"
        if isinstance(node, values.Geometry):
            geo = self.bind(json.dumps(node.geometry))
            g = f"ST_SetSRID(ST_GeomFromGeoJSON({geo}), {self.crs.srid})"
            if self.crs.swap:
                g = f"ST_FlipCoordinates({g})"
            return g if self.crs.srid == STORAGE_SRID else f"ST_Transform({g}, {STORAGE_SRID})"
        raise InvalidInput("a spatial function takes the geometry and a geometry literal", field="filter")


def condition(
    collection: Collection, text: str, language: str | None, filter_crs: OutputCrs, hidden: frozenset[str] = frozenset()
) -> tuple[str, dict[str, Any]]:
    """The filter as a SQL condition on the collection's rows, and its bound values."""
    tree = parse(text, language)
    t = Translator(collection, filter_crs, hidden)
    return t.sql(tree), t.params
