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
import logging
import math
from datetime import date, datetime
from typing import Any

from pygeofilter import ast, values

from gis.errors import InvalidInput
from gis.ogc.collections import Collection
from gis.ogc.crs import OutputCrs
from gis.settings import STORAGE_SRID

# (pygeofilter builds its text parser with lark's debug on: a bad filter would log the parser state)
logging.getLogger("lark").setLevel(logging.WARNING)

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
#: how deep a filter may nest (a deeper one is refused, never a RecursionError)
MAX_DEPTH = 60


def _box(values_: list[Any]) -> dict[str, Any]:
    """A CQL2 bbox literal (4 numbers, or 6 with heights) as a GeoJSON Polygon, its axes as given."""
    try:
        v = [float(x) for x in values_]
    except (TypeError, ValueError):
        v = []
    if len(v) == 6:
        v = [v[0], v[1], v[3], v[4]]
    if len(v) != 4 or not all(math.isfinite(x) for x in v):
        raise InvalidInput("a bbox literal is four numbers", field="filter", allowed="BBOX(minx, miny, maxx, maxy)")
    a, b, c, d = v
    return {"type": "Polygon", "coordinates": [[[a, b], [c, b], [c, d], [a, d], [a, b]]]}


def _normalise(node: Any, depth: int = 0) -> Any:
    """CQL2 JSON as pygeofilter reads it: a ``bbox`` literal as a polygon (pygeofilter would read
    its four numbers in the wrong order), ``between`` with its two bounds as the standard writes
    them (``[property, low, high]``)."""
    if depth > MAX_DEPTH:
        raise InvalidInput(f"the filter nests deeper than {MAX_DEPTH}", field="filter")
    if isinstance(node, list):
        return [_normalise(n, depth + 1) for n in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"bbox"}:
        return _box(node["bbox"] if isinstance(node["bbox"], list) else [])
    out = {k: _normalise(v, depth + 1) for k, v in node.items()}
    if out.get("op") == "between" and isinstance(out.get("args"), list) and len(out["args"]) == 3:
        out["args"] = [out["args"][0], [out["args"][1], out["args"][2]]]
    return out


def parse(text: str, language: str | None) -> Any:
    """The syntax tree of a filter in ``cql2-text`` (default) or ``cql2-json``."""
    language = language or "cql2-text"
    if language not in LANGUAGES:
        raise InvalidInput(f"unknown filter-lang {language!r}", field="filter-lang", allowed=list(LANGUAGES))
    try:
        if language == "cql2-json":
            from pygeofilter.parsers.cql2_json import parse as parse_json

            return parse_json(_normalise(json.loads(text)))
        from pygeofilter.parsers.cql2_text import parse as parse_text

        return parse_text(text)
    except InvalidInput:
        raise
    except RecursionError:
        raise InvalidInput(f"the filter nests deeper than {MAX_DEPTH}", field="filter") from None
    except Exception as exc:  # (lark's and the JSON parser's errors: the message says where)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"the filter is not valid {language}: {first}", field="filter") from None


class Translator:
    """One filter's translation: the SQL text and its bound values (named ``f0``, ``f1``, …)."""

    def __init__(
        self, collection: Collection, filter_crs: OutputCrs, hidden: frozenset[str] = frozenset(),
        expressions: dict[str, str] | None = None,
    ):  # fmt: skip
        self.c = collection
        self.crs = filter_crs
        self.hidden = hidden  # queryables the caller may not filter on (personal data)
        self.expressions = expressions or {}  # queryables read through another expression
        self.params: dict[str, Any] = {}
        self.depth = 0

    def bind(self, value: Any) -> str:
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput("the filter holds a NUL character", field="filter")
        name = f"f{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS {_CAST[type(value)]})" if type(value) in _CAST else f":{name}"

    def _nested(self, walk: Any, node: Any) -> str:
        """``walk(node)`` one level deeper; a filter nested deeper than MAX_DEPTH is refused."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidInput(f"the filter nests deeper than {MAX_DEPTH}", field="filter")
        try:
            return walk(node)
        finally:
            self.depth -= 1

    def sql(self, node: Any) -> str:
        return self._nested(self._sql, node)

    def _sql(self, node: Any) -> str:
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
            # CQL2's wildcards are SQL's, % and _, with \\ escaping (pygeofilter's JSON reader
            # reports "." as the single-character wildcard; CQL2 has none such)
            pattern, nocase = node.pattern, node.nocase
            if (
                isinstance(pattern, ast.Function)
                and pattern.name.lower() in ("lower", "casei")
                and len(pattern.arguments) == 1
            ):
                pattern, nocase = pattern.arguments[0], True
            if not isinstance(pattern, str):
                raise InvalidInput("LIKE takes a text pattern", field="filter")
            like = "ILIKE" if nocase else "LIKE"
            neg = "NOT " if node.not_ else ""
            return f"(CAST({self.value(node.lhs)} AS text) {neg}{like} {self.bind(pattern)})"
        if isinstance(node, ast.In):
            if not node.sub_nodes:
                raise InvalidInput("IN needs at least one value", field="filter")
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
        return self._nested(self._value, node)

    def _value(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            return self.attribute(node.name)
        if isinstance(node, ast.Function):
            if node.name.lower() in ("casei", "lower") and len(node.arguments) == 1:
                return f"lower(CAST({self.value(node.arguments[0])} AS text))"
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
        return self.expressions.get(name, prop.sql)

    def geometry(self, node: Any) -> str:
        if isinstance(node, ast.Attribute):
            if node.name.lower() not in GEOMETRY_NAMES:
                raise InvalidInput(f"{node.name!r} is not a geometry", field="filter", allowed=["geometry"])
            return self.c.geometry
        if isinstance(node, ast.Function) and node.name.lower() == "bbox":
            node = values.Geometry(_box(node.arguments))
        if isinstance(node, values.Envelope):
            x1, x2, y1, y2 = node.x1, node.x2, node.y1, node.y2
            if self.crs.swap:  # (an envelope in a latitude-first CRS gives latitude first)
                x1, y1, x2, y2 = y1, x1, y2, x2
            box = f"ST_MakeEnvelope({self.bind(float(x1))}, {self.bind(float(y1))}, {self.bind(float(x2))}, {self.bind(float(y2))}, {self.crs.srid})"
            return box if self.crs.srid == STORAGE_SRID else f"ST_Transform({box}, {STORAGE_SRID})"
        if isinstance(node, values.Geometry):
            try:  # (PostGIS would fail on a malformed one: a 400 here instead)
                import shapely.geometry

                shapely.geometry.shape(node.geometry)
                ok = True
            except Exception:
                ok = False
            if not ok or not _finite(node.geometry.get("coordinates")):
                raise InvalidInput("a geometry literal is not valid GeoJSON or WKT", field="filter")
            geo = self.bind(json.dumps(node.geometry))
            g = f"ST_SetSRID(ST_GeomFromGeoJSON({geo}), {self.crs.srid})"
            if self.crs.swap:
                g = f"ST_FlipCoordinates({g})"
            return g if self.crs.srid == STORAGE_SRID else f"ST_Transform({g}, {STORAGE_SRID})"
        raise InvalidInput("a spatial function takes the geometry and a geometry literal", field="filter")


_CAST = {str: "text", int: "bigint", float: "double precision", bool: "boolean", datetime: "timestamptz", date: "date"}


def _finite(coords: Any) -> bool:
    if isinstance(coords, list | tuple):
        return all(_finite(c) for c in coords)
    return isinstance(coords, int | float) and math.isfinite(coords)


def condition(
    collection: Collection,
    text: str,
    language: str | None,
    filter_crs: OutputCrs,
    hidden: frozenset[str] = frozenset(),
    expressions: dict[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The filter as a SQL condition on the collection's rows, and its bound values. ``hidden``:
    queryables the caller may not name; ``expressions``: queryables read through another SQL
    expression (personal fields: null where the caller may not read them)."""
    tree = parse(text, language)
    t = Translator(collection, filter_crs, hidden, expressions)
    try:
        return t.sql(tree), t.params
    except RecursionError:
        raise InvalidInput(f"the filter nests deeper than {MAX_DEPTH}", field="filter") from None
