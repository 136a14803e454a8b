"""The map pages (``/maps/...``) and the files they load (``/static/vendor``: the npm packages
``make`` installed; ``/static/maps``: wangge's own scripts). A page needs a signed-in user: without
a session it sends the browser to ``/login`` and back; it shows only the caller's areas (the tiles
and the API it calls filter by them)."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text
from sqlalchemy.engine import Connection

from api.access import Caller, Permission, ScopeOf, credentials
from api.deps import AutocommitDep
from api.pages import render, root
from api.routes.grids import GRID_SCOPE
from gis.access.roles import HANDLING_ACTIONS
from gis.analytics import report
from gis.analytics.counts import season_period
from gis.cases import heat as case_heat
from gis.cases import workflow
from gis.dates import CHINA as CHINA_TIME
from gis.errors import Forbidden, Unauthorized
from maps import assets, basemap
from maps import pages as builders

router = APIRouter(prefix="/maps", include_in_schema=False)
#: how often the live map asks what changed (the issue: at most 5 s)
LIVE_INTERVAL_MS = 3000


class PagePermission(Permission):
    """A page's permission: like the API's, but a browser without a session gets None (the page
    sends it to sign in) instead of a 401."""

    async def __call__(self, request: Request) -> Caller | None:  # type: ignore[override]
        if credentials(request) is None:
            return None
        return await super().__call__(request)


def install(app: FastAPI) -> None:
    """The static files of the pages."""
    for name, directory in assets.PACKAGES.items():
        path = assets.NODE_MODULES / directory
        if path.is_dir():
            app.mount(f"/static/vendor/{name}", StaticFiles(directory=path), name=f"vendor-{name}")
    app.mount("/static/maps", StaticFiles(directory=assets.STATIC), name="maps-static")
    app.include_router(router)


#: the area a page opens on: the caller's districts and streets (west, south, east, north)
_EXTENT = """SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
FROM (SELECT ST_Extent(g.geom) AS e FROM grid g WHERE g.level <= 2 AND g.valid_to IS NULL AND {where}) x"""
CHINA = (73.5, 18.0, 135.0, 53.5)


def _extent(conn: Connection, scope: tuple[str, dict]) -> tuple[float, float, float, float]:
    where, params = scope
    row = conn.execute(text(_EXTENT.format(where=where)), params).one()
    return CHINA if row[0] is None else tuple(float(v) for v in row)  # type: ignore[return-value]


def _sign_in(request: Request) -> Response:
    # the path already holds the root path (behind a proxy's prefix); next is relative to it
    path = request.url.path.removeprefix(root(request)) + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{root(request)}/login?next={quote(path)}", status_code=303)


def page(request: Request, html: str) -> HTMLResponse:
    """A folium page with its scripts allowed by a nonce, and nothing from anywhere but wangge and
    the configured base map."""
    nonce = secrets.token_urlsafe(16)
    html = re.sub(r"<script(?=[\s>])", f'<script nonce="{nonce}"', html)
    tiles = " ".join(basemap.hosts(request.app.state.settings))
    response = HTMLResponse(html)
    response.headers["Content-Security-Policy"] = (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data: blob: {tiles}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ).replace("  ", " ")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def _serve(request: Request, who: Caller | None, autocommit: Any, build: Any, *args: Any) -> Response:
    """The page ``build(settings, extent, label, *args)`` makes for the caller; or the sign-in (no
    session, or an ended one), or the page saying the caller's roles do not allow it."""
    if who is None:
        return _sign_in(request)
    try:
        extent = await autocommit(_extent, ScopeOf(who, "grids:read", GRID_SCOPE))
    except Unauthorized:
        return _sign_in(request)
    except Forbidden:
        return render(request, "denied.html", 403)
    principal = who.principal
    label = f"{principal.name} · {', '.join(principal.roles) or '—'}"
    return page(request, build(request.app.state.settings, extent, label, *args))


@router.get("/lookup", response_class=HTMLResponse)
async def lookup(
    request: Request, autocommit: AutocommitDep, who: Annotated[Caller | None, Depends(PagePermission("grids:read"))]
) -> Response:
    """谁负责这里: a hotline operator's card for any point of their area."""
    return await _serve(request, who, autocommit, builders.lookup_page)


@router.get("/live", response_class=HTMLResponse)
async def live(
    request: Request, autocommit: AutocommitDep, who: Annotated[Caller | None, Depends(PagePermission("cases:read"))]
) -> Response:
    """指挥大屏: the command hall's live map of gridworkers and open cases."""
    options = {
        "interval_ms": LIVE_INTERVAL_MS,
        "actions": {name: list(starts) for name, (starts, _) in workflow.ACTIONS.items()},
        "handling": sorted(HANDLING_ACTIONS),
    }
    return await _serve(request, who, autocommit, builders.live_page, options)


@router.get("/playback", response_class=HTMLResponse)
async def playback(
    request: Request,
    autocommit: AutocommitDep,
    who: Annotated[Caller | None, Depends(PagePermission("tracks:read"))],
    worker: Annotated[list[str], Query(max_length=64)] = [],  # noqa: B006 (FastAPI copies defaults)
    date_: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """轨迹回放: workers' tracks over a day, played back over time."""
    day = date_ or datetime.now(CHINA_TIME).date()
    options = {"workers": worker[:6], "day": day.isoformat()}
    return await _serve(request, who, autocommit, builders.playback_page, options)


@router.get("/heat", response_class=HTMLResponse)
async def heat(
    request: Request, autocommit: AutocommitDep, who: Annotated[Caller | None, Depends(PagePermission("stats:read"))]
) -> Response:
    """案件热力: the planners' map of case counts per grid."""
    return await _serve(request, who, autocommit, builders.heat_page, list(case_heat.BREAKS))


@router.get("/hotspots", response_class=HTMLResponse)
async def hotspots(
    request: Request, autocommit: AutocommitDep, who: Annotated[Caller | None, Depends(PagePermission("stats:read"))]
) -> Response:
    """热点分析: the planners' map of hot and cold spots (Getis-Ord Gi*)."""
    return await _serve(request, who, autocommit, builders.hotspots_page)


@router.get("/hotspots/report", response_class=HTMLResponse)
async def hotspots_report(
    request: Request,
    autocommit: AutocommitDep,
    who: Annotated[Caller | None, Depends(PagePermission("stats:read"))],
    year: Annotated[int, Query(ge=1900, le=2200)],
    season: Literal["spring", "summer", "autumn", "winter"] | None = None,
    level: Literal["street", "community", "unit_grid"] = "unit_grid",
    region: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,3}$")] = None,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    fdr: bool = True,
) -> Response:
    """热点分析报告: one printable A4 page for a season (or a year) and a region: the map of the
    hot and cold spots, the ten hottest grids with their counts and trends, the seasonal profile."""
    if who is None:
        return _sign_in(request)
    if season:
        since, until, months = season_period(season, year)
    else:
        since, until, months = (
            datetime(year, 1, 1, tzinfo=CHINA_TIME),
            datetime(year + 1, 1, 1, tzinfo=CHINA_TIME),
            None,
        )
    try:
        r = await autocommit(
            report.report, level=level, since=since, until=until, months=months, class_code=class_code, region=region,
            fdr=fdr, who=who,
        )  # fmt: skip
    except Unauthorized:
        return _sign_in(request)
    except Forbidden:
        return render(request, "denied.html", 403)
    names = {"spring": "春季", "summer": "夏季", "autumn": "秋季", "winter": "冬季（上年12月至2月）"}
    title = f"{year} 年{names[season] if season else '全年'}" + (f" · 区域 {region}" if region else "")
    levels = {"street": "街道/镇", "community": "社区/村", "unit_grid": "单元网格"}
    now = datetime.now(CHINA_TIME).strftime("%Y-%m-%d %H:%M")
    return render(
        request, "report.html", r=r, title=title, levelname=levels[level], now=now, bins=report.NAMES,
    )  # fmt: skip


@router.get("/editor", response_class=HTMLResponse)
async def editor(
    request: Request, autocommit: AutocommitDep, who: Annotated[Caller | None, Depends(PagePermission("grids:write"))]
) -> Response:
    """网格编辑: grid administrators redraw the grids of their areas."""
    return await _serve(request, who, autocommit, builders.editor_page)
