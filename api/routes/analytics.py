"""Planners' analytics: case counts per grid by season and region, time series, seasonal profiles.

Every answer counts only the cases the caller reaches; numbers, never a case's personal data.
``season`` with ``year`` (winter 2024: December 2023 to February 2024), or ``from``/``to`` with
an optional ``months`` (a season as months, e.g. the typhoon season 6-10); default the last twelve
months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.access import StatsRead
from api.deps import AutocommitDep
from api.params import Months
from api.schemas import Instant
from gis.analytics import cache, counts, emerging, features, hotspots, tables
from gis.cases.counts import CHINA
from gis.cases.heat import default_period
from gis.errors import InvalidInput

router = APIRouter(tags=["analytics"])
Level = Literal["district", "street", "community", "unit_grid", "unit"]


@dataclass(frozen=True)
class Filters:
    since: datetime
    until: datetime
    months: list[int] | None
    class_code: str | None
    channel: str | None
    state: str | None
    region: str | None

    def kw(self) -> dict[str, Any]:
        return {
            "since": self.since, "until": self.until, "months": self.months, "class_code": self.class_code,
            "channel": self.channel, "state": self.state, "region": self.region,
        }  # fmt: skip


async def get_filters(
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    season: Annotated[Literal["spring", "summer", "autumn", "winter"] | None, Query()] = None,
    year: Annotated[
        int | None, Query(ge=1900, le=2200, description="the season's year (a winter's: its January's)")
    ] = None,
    months: Months = None,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    state: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,3}$", description="a grid code of any level")] = None,
) -> Filters:
    """The period (``season`` + ``year``, or ``from``/``to``) and the case list's filters."""
    if season is not None or year is not None:
        if season is None or year is None:
            raise InvalidInput("season and year go together", field="season" if season is None else "year")
        if from_ or to or months:
            raise InvalidInput("give a season or a period with months, not both", field="season")
        since, until, months = counts.season_period(season, year)
    else:
        a, b = default_period(datetime.now(UTC))
        since, until = from_ or a, to or b
    return Filters(since, until, months, class_code, channel, state, region)


FiltersDep = Annotated[Filters, Depends(get_filters)]


class GridCount(BaseModel):
    code: str
    name: str
    count: int
    area_km2: float
    per_km2: float | None
    share: float
    rank: int = Field(description="1 the most; ties share a rank (1, 2, 2, 4)")
    base: int | None = None
    change: int | None = None
    change_pct: float | None = Field(None, description="None when the earlier count was 0")


class GridCounts(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    level: str
    region: str | None
    from_: datetime = Field(alias="from")
    to: datetime
    months: list[int] | None
    total: int
    compare: str | None = None
    base_from: datetime | None = None
    base_to: datetime | None = None
    base_total: int | None = None
    grids: list[GridCount]


def _csv(rows: Any, fields: tuple[str, ...]) -> Response:
    # (a byte-order mark: Excel then reads the file as UTF-8)
    return Response("\ufeff" + tables.csv_text(rows, fields), media_type="text/csv; charset=utf-8")


@router.get("/analytics/counts", response_model=GridCounts, responses={200: {"content": {"text/csv": {}}}})
async def analytics_counts(
    autocommit: AutocommitDep,
    who: StatsRead,
    filters: FiltersDep,
    level: Level = "street",
    compare: Literal["yoy", "prev"] | None = None,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Cases per grid of ``level`` in ``region``: count, per km², share, rank; with ``compare``
    (``yoy`` 同比, ``prev`` 环比) the earlier count, the change and the % change. ``format=csv``
    for a spreadsheet."""
    found = await autocommit(counts.grid_counts, level=level, compare=compare, who=who, **filters.kw())
    if format == "csv":
        return _csv(found["grids"], tables.COMPARED if compare else tables.COUNTS)
    return found


class SeriesStep(BaseModel):
    period: str
    count: int


@router.get("/analytics/series", response_model=list[SeriesStep])
async def analytics_series(
    autocommit: AutocommitDep,
    who: StatsRead,
    filters: FiltersDep,
    step: Literal["day", "week", "month"] = "month",
) -> Any:
    """Cases per day, ISO week or month (China time) in ``region`` (default the caller's whole
    reach) under the filters, every step of the period listed."""
    return await autocommit(counts.series, step=step, who=who, **filters.kw())


@router.get("/analytics/profile", response_model=list[dict[str, int]])
async def analytics_profile(
    autocommit: AutocommitDep,
    who: StatsRead,
    filters: FiltersDep,
    by: Literal["month", "weekday", "hour"] = "month",
) -> Any:
    """The seasonal profile: cases per month of the year, day of the week (1 Monday) or hour of
    the day (China time), every bucket listed."""
    return await autocommit(counts.profile, by=by, who=who, **filters.kw())


@router.get(
    "/analytics/hotspots",
    responses={200: {"content": {"application/geo+json": {}, "application/geopackage+sqlite3": {}, "text/csv": {}}}},
)
async def analytics_hotspots(
    autocommit: AutocommitDep,
    who: StatsRead,
    filters: FiltersDep,
    level: Level = "unit_grid",
    fdr: Annotated[bool, Query(description="Benjamini-Hochberg correction of the bins (ArcGIS's FDR)")] = True,
    permutations: Annotated[
        int,
        Query(
            ge=0,
            le=hotspots.MAX_PERMUTATIONS,
            description=f"0: the analytic p-value; or {hotspots.MIN_PERMUTATIONS}+ conditional permutations",
        ),
    ] = 0,
    seed: Annotated[int | None, Query(ge=0, le=2**32 - 1, description="the permutations' random seed")] = None,
    format: Literal["geojson", "gpkg", "csv", "json"] = "geojson",
) -> Any:
    """Hot and cold spots (Getis-Ord Gi*): per grid of ``level`` in force at the period's end,
    ``count``, ``gi_z``, ``gi_p``, ``gi_bin`` (−3…3: cold/hot at 99/95/90 %, 0 not significant)
    and ``neighbours`` (queen contiguity, stored with the boundaries); ``islands`` got their
    nearest grid. A GeoJSON FeatureCollection, or a GeoPackage (``format=gpkg``, layer
    ``hotspots``, EPSG:4490); ``format=csv`` or ``json`` (for a map drawing the grid tiles) without
    the geometries."""

    def work(conn: Any, principal: Any) -> Any:  # (the caller resolved on this connection)
        options = {"level": level, "fdr": fdr, "permutations": permutations, "seed": seed}
        key = ("hotspots", cache.frozen(options), cache.frozen(filters.kw()), cache.reach_key(principal))
        found = cache.results.get(conn, key, lambda: hotspots.hotspots(conn, who=principal, **options, **filters.kw()))
        if format in ("geojson", "gpkg"):
            return features.as_geojson(conn, found)
        return {**found, "grids": [{k: v for k, v in g.items() if k != "id"} for g in found["grids"]]}

    found = await autocommit(work, who)
    if format == "csv":
        return _csv(found["grids"], tables.HOTSPOTS)
    if format == "gpkg":
        return _gpkg(await run_in_threadpool(features.geopackage, found, "hotspots"), "hotspots")
    media = "application/geo+json" if format == "geojson" else "application/json"
    return Response(orjson.dumps(found), media_type=media)


def _gpkg(data: bytes, name: str) -> Response:
    return Response(
        data, media_type="application/geopackage+sqlite3",
        headers={"Content-Disposition": f'attachment; filename="{name}.gpkg"'},
    )  # fmt: skip


@router.get("/analytics/emerging")
async def analytics_emerging(
    autocommit: AutocommitDep,
    who: StatsRead,
    level: Level = "community",
    from_: Annotated[Instant | None, Query(alias="from", description="default: 36 months before this month")] = None,
    to: Annotated[Instant | None, Query(description="default: the start of this month")] = None,
    step: Literal["month", "quarter", "year", "season"] = "month",
    season: Literal["spring", "summer", "autumn", "winter"] | None = None,
    k: Annotated[int, Query(ge=0, le=12, description="space-time neighbours: this step and the k before")] = 1,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,3}$")] = None,
    fdr: bool = True,
    format: Literal["json", "geojson", "gpkg", "csv"] = "json",
) -> Any:
    """Emerging hot spots: per grid its category (``new_hot`` … ``historical_cold``,
    ``no_pattern``), the Mann-Kendall trend of its space-time Gi* z-scores and of its counts, and
    its series. ``step=season`` with ``season``: the same season of every year of the period.
    ``format``: JSON, GeoJSON or a GeoPackage (layer ``emerging``, EPSG:4490; a series as its
    values joined by commas) with the grids' boundaries, or CSV without the series."""
    if step == "season" and season is None:
        raise InvalidInput(
            "step=season needs a season", field="season", allowed=["spring", "summer", "autumn", "winter"]
        )
    now = datetime.now(CHINA)
    this_month = datetime(now.year, now.month, 1, tzinfo=CHINA)
    until = to or this_month
    since = from_ or datetime(this_month.year - 3, this_month.month, 1, tzinfo=CHINA)
    kw = {
        "level": level, "since": since, "until": until, "step": step, "season": season if step == "season" else None,
        "k": k, "class_code": class_code, "channel": channel, "region": region, "fdr": fdr,
    }  # fmt: skip

    def work(conn: Any, principal: Any) -> Any:
        key = ("emerging", cache.frozen(kw), cache.reach_key(principal))
        found = cache.results.get(conn, key, lambda: emerging.emerging(conn, who=principal, **kw))
        return features.as_geojson(conn, found) if format in ("geojson", "gpkg") else found

    found = await autocommit(work, who)
    if format == "csv":
        return _csv(found["grids"], tables.EMERGING)
    if format == "gpkg":
        return _gpkg(await run_in_threadpool(features.geopackage, found, "emerging"), "emerging")
    if format == "geojson":
        return Response(orjson.dumps(found), media_type="application/geo+json")
    return found
