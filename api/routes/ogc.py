"""OGC API – Features, Parts 1 (Core, GeoJSON, HTML, OpenAPI 3.0), 2 (CRS by reference) and 3
(Filtering, CQL2 text and JSON), under ``/ogc``: QGIS, ArcGIS and GDAL read wangge as standard
clients.

Built here rather than mounting tipg or pygeoapi (issue 16): tipg has no Part 2 and does not list
the CQL2 conformance classes QGIS needs before it filters on the server; pygeoapi brings its own
configuration and provider model, with no place for wangge's per-caller area scope, personal-data
masking or versioned boundaries. The collections (gis/ogc/collections.py), CRS handling
(gis/ogc/crs.py), CQL2 translation (gis/ogc/cql.py, parsed by pygeofilter) and keyset pages
(gis/ogc/items.py) live in gis; this module is the protocol: links, formats, parameters.

Access: the same accounts (a bearer token or API key; GDAL sends it with ``GDAL_HTTP_AUTH=BEARER``
and ``GDAL_HTTP_BEARER`` or a header file — its OAPIF driver replaces ``GDAL_HTTP_HEADERS`` —,
QGIS through an authentication configuration); anonymous clients see only the collections
``WANGGE_OGC_PUBLIC`` names. A caller sees the collections their roles read, only the rows inside
their areas; no bbox, filter or parameter widens that.
"""

from __future__ import annotations

import html
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.access import Caller, Permission, credentials
from api.deps import AutocommitDep
from gis.dates import parse_at
from gis.errors import InvalidInput, NotFound, Unauthorized
from gis.ogc import crs as ogc_crs
from gis.ogc import items as ogc_items
from gis.ogc.collections import COLLECTIONS, Collection
from gis.ogc.cql import LANGUAGES

router = APIRouter(prefix="/ogc", tags=["ogc"], include_in_schema=False)

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
]
GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
#: the query parameters each kind of request knows (anything else is a 400, as the OGC test suite asks)
_COMMON = {"f"}
_ITEMS = _COMMON | {"bbox", "bbox-crs", "crs", "datetime", "limit", "cursor", "filter", "filter-lang", "filter-crs"}
_ITEM = _COMMON | {"crs", "datetime"}


class OgcReader(Permission):
    """The OGC routes' dependency: the caller if credentials came (their roles decide per
    collection), else None — an anonymous client, who sees the public collections only."""

    def __init__(self) -> None:
        super().__init__("account:read")

    async def __call__(self, request: Request) -> Caller | None:  # type: ignore[override]
        found = credentials(request)
        if found is None:
            return None
        return await super().__call__(request)


Reader = Annotated[Caller | None, Depends(OgcReader())]


def _public(request: Request) -> set[str]:
    value = request.app.state.settings.ogc_public
    return {c for c in value.split(",") if c}


def _check_params(request: Request, known: set[str], collection: Collection | None = None) -> None:
    names = {p.name for p in collection.props} if collection else set()
    unknown = [k for k in request.query_params if k not in known and k not in names]
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}", field=unknown[0], allowed=sorted(known | names))


def _wants_html(request: Request) -> bool:
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "html", "geojson"):
            raise InvalidInput(f"unknown format {f!r}", field="f", allowed=["json", "geojson", "html"])
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(body: Any, media: str = JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type=media, headers=headers)


def _readable(request: Request, who: Any) -> list[Collection]:
    """The collections the caller may read (anonymous: the public ones)."""
    if who is None:
        return [c for c in COLLECTIONS.values() if c.id in _public(request)]
    return [c for c in COLLECTIONS.values() if who.can(c.permission)]


def _collection(request: Request, collection_id: str, who: Any) -> Collection:
    """The collection, if the caller may read it: unknown or not theirs is a 404 (anonymous: 401,
    so a client knows to send credentials)."""
    c = COLLECTIONS.get(collection_id)
    if who is None:
        if c is None or c.id not in _public(request):
            raise Unauthorized(
                "sign in or send an API key (Authorization: Bearer …) to read this collection",
                field="authorization",
            )
        return c
    if c is None or not who.can(c.permission):
        raise NotFound(f"no collection {collection_id!r}", field="collectionId")
    return c


async def _within(autocommit: Any, reader: Caller | None, request: Request, collection_id: str, fn: Any) -> Any:
    """One hop to the database: the caller resolved, the collection found (404, or 401 for an
    anonymous client), then ``fn(conn, collection, who)``; returns (collection, who, its answer)."""

    def work(conn: Any, who: Any) -> Any:
        c = _collection(request, collection_id, who)
        return c, who, fn(conn, c, who)

    return await autocommit(work, reader)


async def _principal(autocommit: Any, reader: Caller | None) -> Any:
    """The resolved caller (None: anonymous); bad credentials are a 401."""
    if reader is None:
        return None
    return await autocommit(lambda conn, who: who, reader)


# --- landing page, conformance, API description ----------------------------------------------------


@router.api_route("", methods=["GET", "HEAD"])
async def landing(request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    """The landing page: links to the API description, its documentation, conformance and data."""
    _check_params(request, _COMMON)
    await _principal(autocommit, reader)
    base = _base(request)
    body = {
        "title": "wangge 网格 — OGC API – Features",
        "description": "City grids (GB/T 30428), components and cases, within the caller's areas.",
        "links": [
            {"href": base, "rel": "self", "type": JSON, "title": "this document"},
            {"href": f"{base}?f=html", "rel": "alternate", "type": "text/html", "title": "this document as HTML"},
            {
                "href": f"{base}/api",
                "rel": "service-desc",
                "type": OPENAPI,
                "title": "the API definition (OpenAPI 3.0)",
            },
            {"href": f"{base}/api?f=html", "rel": "service-doc", "type": "text/html", "title": "the API documentation"},
            {"href": f"{base}/conformance", "rel": "conformance", "type": JSON, "title": "conformance classes"},
            {"href": f"{base}/collections", "rel": "data", "type": JSON, "title": "the collections"},
        ],
    }
    if _wants_html(request):
        return _page(body["title"], body["description"], body["links"])
    return _json(body)


@router.api_route("/conformance", methods=["GET", "HEAD"])
async def conformance(request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    _check_params(request, _COMMON)
    await _principal(autocommit, reader)
    if _wants_html(request):
        return _page("Conformance", "", [{"href": c, "rel": "conformance", "title": c} for c in CONFORMANCE])
    return _json({"conformsTo": CONFORMANCE})


@router.api_route("/api", methods=["GET", "HEAD"])
async def service_description(request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    """The OpenAPI 3.0 definition of ``/ogc``: every collection's paths (``/collections`` says
    which of them the caller may read)."""
    _check_params(request, _COMMON)
    await _principal(autocommit, reader)
    doc = _openapi(_base(request), list(COLLECTIONS.values()))
    if _wants_html(request):
        rows = "".join(
            f"<li><code>GET {html.escape(p)}</code> — {html.escape(op['get'].get('summary', ''))}</li>"
            for p, op in doc["paths"].items()
        )
        return HTMLResponse(_html_doc("API", f"<ul>{rows}</ul><p><a href='api'>OpenAPI 3.0 (JSON)</a></p>"))
    return _json(doc, OPENAPI)


# --- collections ------------------------------------------------------------------------------------


def _collection_doc(base: str, c: Collection, extent: list[float] | None) -> dict[str, Any]:
    href = f"{base}/collections/{c.id}"
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": ogc_crs.uris(),
        "storageCrs": ogc_crs.STORAGE_URI,
        # (the city's: its districts in force; China's when none is loaded yet)
        "extent": {"spatial": {"bbox": [extent or [73.0, 3.0, 136.0, 54.0]], "crs": ogc_crs.CRS84}},
        "links": [
            {"href": href, "rel": "self", "type": JSON, "title": c.title},
            {"href": f"{href}?f=html", "rel": "alternate", "type": "text/html", "title": c.title},
            {"href": f"{href}/items", "rel": "items", "type": GEOJSON, "title": "the features"},
            {"href": f"{href}/items?f=html", "rel": "items", "type": "text/html", "title": "the features as HTML"},
            {"href": f"{href}/queryables", "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
             "type": SCHEMA, "title": "what a filter may name"},
        ],
    }  # fmt: skip


@router.api_route("/collections", methods=["GET", "HEAD"])
async def collections(request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    _check_params(request, _COMMON)
    who, extent = await autocommit(lambda conn, who: (who, ogc_items.extent(conn)), reader)
    base = _base(request)
    body = {
        "links": [
            {"href": f"{base}/collections", "rel": "self", "type": JSON, "title": "the collections"},
            {"href": f"{base}/collections?f=html", "rel": "alternate", "type": "text/html", "title": "as HTML"},
        ],
        "collections": [_collection_doc(base, c, extent) for c in _readable(request, who)],
    }
    if _wants_html(request):
        links = [
            {"href": f"{base}/collections/{c['id']}?f=html", "title": c["title"], "rel": c["id"]}
            for c in body["collections"]
        ]
        return _page("Collections", "", links)
    return _json(body)


@router.api_route("/collections/{collection_id}", methods=["GET", "HEAD"])
async def collection(collection_id: str, request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    _check_params(request, _COMMON)
    c, _, extent = await _within(
        autocommit, reader, request, collection_id, lambda conn, c, who: ogc_items.extent(conn)
    )
    body = _collection_doc(_base(request), c, extent)
    if _wants_html(request):
        return _page(c.title, c.description, body["links"])
    return _json(body)


@router.api_route("/collections/{collection_id}/queryables", methods=["GET", "HEAD"])
async def queryables(collection_id: str, request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    """The properties a filter (or a query parameter) may name, as a JSON Schema."""
    _check_params(request, _COMMON)
    c, who, _ = await _within(autocommit, reader, request, collection_id, lambda conn, c, who: None)
    hidden = set() if who is None or who.can("personal:read") else set(c.personal)
    props: dict[str, Any] = {
        "geometry": {"$ref": "https://geojson.org/schema/Geometry.json", "x-ogc-role": "primary-geometry"}
    }
    for p in c.props:
        if p.name in hidden or (who is None and p.name in c.personal):
            continue
        schema: dict[str, Any] = {"title": p.title or p.name, "type": p.type}
        if p.format:
            schema["format"] = p.format
        props[p.name] = schema
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_base(request)}/collections/{c.id}/queryables",
        "type": "object",
        "title": c.title,
        "properties": props,
        "additionalProperties": False,
    }
    if _wants_html(request):
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v.get('type', 'geometry')))}</td></tr>"
            for k, v in props.items()
        )
        return HTMLResponse(_html_doc(c.title, f"<table><tr><th>queryable</th><th>type</th></tr>{rows}</table>"))
    return _json(body, SCHEMA)


# --- features ---------------------------------------------------------------------------------------


def _instant(value: str, field: str) -> datetime:
    return parse_at(value, field)  # (the one parser of users' dates: gis/dates.py)


def _datetime(value: str | None) -> tuple[datetime | None, tuple[datetime | None, datetime | None] | None]:
    if value is None:
        return None, None
    if "/" not in value:
        return _instant(value, "datetime"), None
    a, _, b = value.partition("/")
    start = None if a in ("", "..") else _instant(a, "datetime")
    end = None if b in ("", "..") else _instant(b, "datetime")
    if start is None and end is None and a != ".." and b != "..":
        raise InvalidInput("datetime: an interval needs at least one end", field="datetime")
    if start and end and end < start:
        raise InvalidInput("datetime: the interval ends before it starts", field="datetime")
    return None, (start, end)


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        numbers = [float(v) for v in value.split(",")]
    except ValueError:
        numbers = []
    if len(numbers) == 6:  # (with heights: the 2D box)
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise InvalidInput("bbox is four numbers", field="bbox", allowed="minx,miny,maxx,maxy (in bbox-crs axis order)")
    return numbers[0], numbers[1], numbers[2], numbers[3]


def _limit(value: str | None) -> int:
    if value is None:
        return 10
    if not re.fullmatch(r"[0-9]+", value) or int(value[:9]) < 1:
        raise InvalidInput("limit is a whole number from 1", field="limit", allowed=f"1-{ogc_items.MAX_LIMIT}")
    return min(int(value[:9]), ogc_items.MAX_LIMIT)  # (more than the maximum: the maximum, as Part 1 allows)


def _query(request: Request, c: Collection) -> tuple[ogc_items.Query, str | None]:
    q = request.query_params
    instant, interval = _datetime(q.get("datetime"))
    text_filter = q.get("filter")
    lang = q.get("filter-lang")
    if lang is not None and lang not in LANGUAGES:
        raise InvalidInput(f"unknown filter-lang {lang!r}", field="filter-lang", allowed=list(LANGUAGES))
    query = ogc_items.Query(
        crs=ogc_crs.parse(q.get("crs"), "crs"),
        bbox=_bbox(q.get("bbox")),
        bbox_crs=ogc_crs.parse(q.get("bbox-crs"), "bbox-crs") if "bbox-crs" in q else None,
        instant=instant,
        interval=interval,
        filter=text_filter,
        filter_lang=lang,
        filter_crs=ogc_crs.parse(q.get("filter-crs"), "filter-crs") if "filter-crs" in q else None,
        limit=_limit(q.get("limit")),
        cursor=q.get("cursor"),
        # queryables as query parameters (Part 3): each an equality, all of them and the filter apply
        equal=tuple((p.name, q[p.name]) for p in c.props if p.name in q),
    )
    return query, q.get("datetime")


@router.api_route("/collections/{collection_id}/items", methods=["GET", "HEAD"])
async def get_items(collection_id: str, request: Request, reader: Reader, autocommit: AutocommitDep) -> Response:
    """A page of features: GeoJSON (or HTML), with ``numberMatched``, ``numberReturned``,
    ``timeStamp`` and a ``next`` link while more remain."""

    def read(conn: Any, c: Collection, who: Any) -> Any:
        _check_params(request, _ITEMS, c)
        query, _ = _query(request, c)
        return query, ogc_items.items(conn, c, query, who)

    c, _, (query, page) = await _within(autocommit, reader, request, collection_id, read)
    base = _base(request)
    href = f"{base}/collections/{c.id}/items"
    params = dict(request.query_params)
    self_params = urlencode(params)
    links = [
        {
            "href": f"{href}?{self_params}" if self_params else href,
            "rel": "self",
            "type": GEOJSON,
            "title": "this page",
        },
        {
            "href": f"{href}?{urlencode({**params, 'f': 'html'})}",
            "rel": "alternate",
            "type": "text/html",
            "title": "as HTML",
        },
        {"href": f"{base}/collections/{c.id}", "rel": "collection", "type": JSON, "title": c.title},
    ]
    if page["next"] is not None:
        nxt = {**params, "cursor": page["next"]}  # (the same request, the page after this one)
        if page["at"] is not None:  # (pinned: the next pages read the same boundary version)
            nxt["datetime"] = page["at"].astimezone(UTC).isoformat().replace("+00:00", "Z")
        nxt.pop("f", None) if params.get("f") == "html" else None
        links.append({"href": f"{href}?{urlencode(nxt)}", "rel": "next", "type": GEOJSON, "title": "the next page"})
    headers = {"Content-Crs": query.crs.header}
    if _wants_html(request):
        return _items_html(c, page, links, headers)
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    head = orjson.dumps(
        {"type": "FeatureCollection", "timeStamp": stamp, "numberMatched": page["matched"],
         "numberReturned": len(page["features"]), "links": links}
    )  # fmt: skip
    body = head[:-1] + b',"features":[' + b",".join(page["features"]) + b"]}"
    return Response(body, media_type=GEOJSON, headers=headers)


@router.api_route("/collections/{collection_id}/items/{feature_id}", methods=["GET", "HEAD"])
async def get_item(
    collection_id: str, feature_id: str, request: Request, reader: Reader, autocommit: AutocommitDep
) -> Response:
    """One feature: a grid by its code (the version in force now, or at ``datetime``), a component
    by its code, a case by its number."""
    _check_params(request, _ITEM)
    instant, interval = _datetime(request.query_params.get("datetime"))
    if interval is not None:
        raise InvalidInput("datetime: one feature is read at an instant", field="datetime")
    out = ogc_crs.parse(request.query_params.get("crs"), "crs")
    query = ogc_items.Query(crs=out, instant=instant)
    c, _, feature = await _within(
        autocommit, reader, request, collection_id, lambda conn, c, who: ogc_items.item(conn, c, feature_id, query, who)
    )
    headers = {"Content-Crs": out.header}
    base = _base(request)
    links = [
        {
            "href": f"{base}/collections/{c.id}/items/{feature_id}",
            "rel": "self",
            "type": GEOJSON,
            "title": "this feature",
        },
        {"href": f"{base}/collections/{c.id}", "rel": "collection", "type": JSON, "title": c.title},
    ]
    if _wants_html(request):
        page = {"features": [feature], "matched": 1}
        return _items_html(c, page, links, headers)
    return Response(feature[:-1] + b',"links":' + orjson.dumps(links) + b"}", media_type=GEOJSON, headers=headers)


# --- HTML -------------------------------------------------------------------------------------------


def _html_doc(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='zh'><head><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif;margin:2em;color:#1d2733}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccd;padding:.25em .5em;font-size:.9em}"
        "th{background:#eef2f7}</style></head><body><h1>" + html.escape(title) + "</h1>" + body + "</body></html>"
    )


def _page(title: str, description: str, links: list[dict[str, Any]]) -> HTMLResponse:
    items = "".join(
        f"<li><a href='{html.escape(link['href'])}'>{html.escape(link.get('title') or link['href'])}</a>"
        f" <small>{html.escape(link.get('rel', ''))}</small></li>"
        for link in links
    )
    return HTMLResponse(_html_doc(title, f"<p>{html.escape(description)}</p><ul>{items}</ul>"))


def _items_html(
    c: Collection, page: dict[str, Any], links: list[dict[str, Any]], headers: dict[str, str]
) -> HTMLResponse:
    features = [orjson.loads(f) for f in page["features"]]
    names = [p.name for p in c.props]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["id", *names])
    rows = "".join(
        "<tr>" + "".join(
            f"<td>{html.escape('' if v is None else str(v))}</td>"
            for v in [f["id"], *(f["properties"].get(n) for n in names)]
        ) + "</tr>"
        for f in features
    )  # fmt: skip
    nav = " · ".join(
        f"<a href='{html.escape(link['href'])}'>{html.escape(link['title'])}</a>"
        for link in links
        if link["rel"] in ("next", "collection")
    )
    body = f"<p>{page['matched']} matched · {len(features)} shown · {nav}</p><table><tr>{head}</tr>{rows}</table>"
    return HTMLResponse(_html_doc(c.title, body), headers=headers)


# --- OpenAPI 3.0 ------------------------------------------------------------------------------------


def _param(name: str, description: str, schema: dict[str, Any], where: str = "query", required: bool = False) -> dict:
    p = {"name": name, "in": where, "description": description, "required": required, "schema": schema}
    if where == "query":
        p["style"], p["explode"] = "form", False
    return p


def _openapi(base: str, collections: list[Collection]) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of the service, the paths of each collection (so clients see
    each one's queryables as parameters)."""
    f = _param("f", "the format", {"type": "string", "enum": ["json", "html"]})
    crs = _param(
        "crs",
        "the CRS of the answer's geometries (Part 2)",
        {"type": "string", "format": "uri", "enum": ogc_crs.uris()},
    )
    paths: dict[str, Any] = {
        "/": {"get": {"summary": "the landing page", "operationId": "getLandingPage", "parameters": [f],
                      "responses": {"200": {"description": "links"}}}},
        "/conformance": {"get": {"summary": "the conformance classes", "operationId": "getConformance", "parameters": [f],
                                 "responses": {"200": {"description": "conformsTo"}}}},
        "/api": {"get": {"summary": "this definition", "operationId": "getApi", "parameters": [f],
                         "responses": {"200": {"description": "OpenAPI 3.0"}}}},
        "/collections": {"get": {"summary": "the collections", "operationId": "getCollections", "parameters": [f],
                                 "responses": {"200": {"description": "collections"}}}},
    }  # fmt: skip
    for c in collections:
        props = [
            _param(
                p.name,
                f"features whose {p.name} equals this",
                {"type": p.type, **({"format": p.format} if p.format else {})},
            )
            for p in c.props
        ]
        items = [
            f, crs,
            _param("bbox", "minx,miny,maxx,maxy in bbox-crs (axis order of that CRS)",
                   {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}}),
            _param("bbox-crs", "the CRS of bbox", {"type": "string", "format": "uri", "enum": ogc_crs.uris()}),
            _param("datetime", "an instant or an interval (a/b, .. for an open end)", {"type": "string"}),
            _param("limit", "features per page", {"type": "integer", "minimum": 1, "maximum": ogc_items.MAX_LIMIT, "default": 10}),
            _param("cursor", "the page after this key (from a next link)", {"type": "string"}),
            _param("filter", "a CQL2 filter", {"type": "string"}),
            _param("filter-lang", "the filter's language", {"type": "string", "enum": list(LANGUAGES), "default": "cql2-text"}),
            _param("filter-crs", "the CRS of the filter's geometries", {"type": "string", "format": "uri", "enum": ogc_crs.uris()}),
            *props,
        ]  # fmt: skip
        feature_id = _param(
            "featureId", "a grid's code, a component's code, a case's number", {"type": "string"}, "path", True
        )
        paths[f"/collections/{c.id}"] = {
            "get": {
                "summary": c.title,
                "operationId": f"describe-{c.id}",
                "parameters": [f],
                "responses": {"200": {"description": "the collection"}},
            }
        }
        paths[f"/collections/{c.id}/queryables"] = {
            "get": {
                "summary": f"queryables of {c.id}",
                "operationId": f"queryables-{c.id}",
                "parameters": [f],
                "responses": {"200": {"description": "JSON Schema"}},
            }
        }
        paths[f"/collections/{c.id}/items"] = {
            "get": {
                "summary": f"features of {c.id}",
                "operationId": f"items-{c.id}",
                "parameters": items,
                "responses": {
                    "200": {
                        "description": "GeoJSON FeatureCollection",
                        "content": {GEOJSON: {"schema": {"type": "object"}}},
                    },
                    "400": {"description": "a bad parameter"},
                },
            }
        }
        paths[f"/collections/{c.id}/items/{{featureId}}"] = {"get": {"summary": f"one feature of {c.id}",
                                                                      "operationId": f"item-{c.id}",
                                                                      "parameters": [feature_id, f, crs],
                                                                      "responses": {"200": {"description": "GeoJSON Feature"},
                                                                                    "404": {"description": "none"}}}}  # fmt: skip
    return {
        "openapi": "3.0.3",
        "info": {"title": "wangge — OGC API – Features", "version": "1.0.0",
                 "description": "Grids, components and cases within the caller's areas."},
        "servers": [{"url": base}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}, {}],
        "paths": paths,
    }  # fmt: skip
