from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field

from api.access import CasesHandle, CasesIntake, CasesRead, StatsRead
from api.deps import AutocommitDep, TransactionDep
from api.params import BBoxDep, GridCodeDep, GridFilterDep, Months, PageDep
from api.responses import json_response
from api.schemas import Body, Instant
from api.schemas.cases import Case, CaseEvent, CaseStatistics, HeatAnswer, HeatSeries, LiveCases, OverdueGroup
from api.schemas.paging import Page
from gis.access import personal
from gis.access.principal import Principal
from gis.cases import heat, intake, query, statistics, workflow
from gis.errors import NotFound

router = APIRouter(tags=["cases"])
Channel = Literal["hotline", "app", "wechat", "patrol", "video", "other"]
Action = Literal[tuple(workflow.ACTIONS)]  # type: ignore[valid-type]


class ContactIn(Body):
    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, pattern=personal.PHONE.pattern, examples=["13812345678"])
    email: str | None = Field(default=None, max_length=254, pattern=personal.EMAIL.pattern)


class CaseIn(Body):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: str = "EPSG:4490"
    class_code: str = Field(alias="class", pattern=r"^\d{4}$", description="event class, e.g. 0402")
    description: str = ""
    channel: Channel
    reported_at: Instant | None = None
    component_code: str | None = Field(default=None, pattern=r"^\d{16}$")
    idempotency_key: str | None = Field(default=None, max_length=200)
    contact: ContactIn | None = Field(default=None, description="the citizen's contact (personal data)")


# Every case answer goes out through orjson, its schema documented and held by the tests, not checked
# at run time: measured, validating and dumping a case through its model costs 7 µs against 0.7 µs
# (70 ms against 7 ms for a page of 10,000); one serialiser keeps the answers alike (the intake's
# times say +00:00, as clients read them).
@router.post(
    "/cases",
    status_code=201,
    response_class=JSONResponse,
    responses={201: {"model": Case}, 200: {"model": Case, "description": "a retry: the case stored first"}},
)
async def create_case(
    body: CaseIn,
    autocommit: AutocommitDep,
    who: CasesIntake,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """Take in a case: stored with its grid chain as of ``reported_at``, its responsible unit,
    gridworker(s), deadline and the ``why`` of its assignment. A retry with the same idempotency
    key (body field or ``Idempotency-Key`` header) returns the first case with status 200."""
    case, created = await autocommit(
        intake.intake,
        lon=body.lon,
        lat=body.lat,
        crs=body.crs,
        class_code=body.class_code,
        description=body.description,
        channel=body.channel,
        reported_at=body.reported_at,
        component_code=body.component_code,
        idempotency_key=body.idempotency_key or idempotency_key,
        who=who,
        contact=body.contact.model_dump() if body.contact else None,
    )
    return json_response(case, 201 if created else 200)


@router.get("/cases", response_class=JSONResponse, responses={200: {"model": Page[Case]}})
async def list_cases(
    autocommit: AutocommitDep,
    who: CasesRead,
    page: PageDep,
    bbox: BBoxDep,
    grid: GridFilterDep,
    state: str | None = None,
    resp_unit: Annotated[str | None, Query(description="the responsible unit's code")] = None,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    channel: str | None = None,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
) -> Response:
    """Cases, newest first, with the total: by state, responsible unit, grid (any level), class
    (``NN00`` for a major class), channel, report time and bounding box."""
    found = await autocommit(
        query.list_cases,
        state=state,
        resp_unit=resp_unit,
        grid=grid,
        class_code=class_code,
        channel=channel,
        start=from_,
        end=to,
        bbox=bbox,
        limit=page.limit,
        offset=page.offset,
        who=who,
    )
    found["items"] = found.pop("cases")
    return json_response(found)


@router.get("/cases/{case_id}", response_class=JSONResponse, responses={200: {"model": Case}})
async def read_case(case_id: int, autocommit: AutocommitDep, who: CasesRead) -> Response:
    """One case; a case outside the caller's reach answers 404, as an unknown id."""
    return json_response(await autocommit(intake.get_case, case_id, who))


class ActionIn(Body):
    action: Action
    actor: str | None = Field(
        default=None, max_length=200, description="ignored: the trail records the signed-in caller"
    )
    note: str = ""
    resp_unit: str | None = Field(default=None, description="dispatch: the responsible unit's code")
    hours: float | None = None
    satisfaction: Literal["satisfied", "basically_satisfied", "dissatisfied"] | None = None
    lon: float | None = Field(default=None, ge=-180, le=180)
    lat: float | None = Field(default=None, ge=-90, le=90)
    crs: str = "EPSG:4490"
    class_code: str | None = Field(default=None, pattern=r"^\d{4}$")


@router.post("/cases/{case_id}/actions", response_class=JSONResponse, responses={200: {"model": Case}})
async def case_action(case_id: int, body: ActionIn, transaction: TransactionDep, who: CasesHandle) -> Response:
    """One step of the closed loop; a step the case's state does not allow answers 409 and changes
    nothing. Accept, finish, return and extend need ``cases:handle``, every other step ``cases:act``;
    the trail records the signed-in caller, whatever ``actor`` says."""
    data = body.model_dump(exclude={"action", "actor", "note"}, exclude_none=True)
    return json_response(await transaction(workflow.act, case_id, body.action, note=body.note, data=data, who=who))


@router.get("/cases/{case_id}/history", response_class=JSONResponse, responses={200: {"model": list[CaseEvent]}})
async def case_history(case_id: int, autocommit: AutocommitDep, who: CasesRead) -> Response:
    """Every change of the case, append-only: who, when, from, to, note."""
    return json_response(await autocommit(workflow.history, case_id, who))


@router.get("/cases-live", response_class=JSONResponse, responses={200: {"model": LiveCases}})
async def live_cases(autocommit: AutocommitDep, who: CasesRead, since: Instant | None = None) -> Response:
    """For a live map: every open case as a light row (no ``since``), or every case changed after
    ``since`` (closed ones too, to take off the map); ask next with the answer's ``next_since``."""
    return json_response(await autocommit(query.live_cases, since=since, who=who))


def _period(from_: Any, to: Any) -> tuple[Any, Any]:
    since, until = heat.default_period(datetime.now(UTC))
    return from_ or since, to or until


@router.get("/cases-heat", response_model=HeatAnswer)
async def cases_heat(
    autocommit: AutocommitDep,
    who: StatsRead,
    level: Literal["district", "street", "community", "unit_grid"] = "street",
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    months: Months = None,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    state: Literal["open", "closed"] | None = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,3}$")] = None,
    compare: Literal["yoy", "prev"] | None = None,
) -> dict[str, Any]:
    """Case counts per grid of ``level`` (default the last twelve months), for the heatmap; with
    ``compare`` also the counts of a year earlier (``yoy``, 同比) or of the period just before
    (``prev``, 环比). ``breaks``: the fixed class breaks (counts, or differences)."""
    since, until = _period(from_, to)
    return await autocommit(
        heat.heat, level=level, since=since, until=until, months=months, class_code=class_code,
        channel=channel, state=state, region=region, compare=compare, who=who,
    )  # fmt: skip


def _series(conn: Any, who: Principal, code: str, **kw: Any) -> dict[str, Any]:
    if not who.covers("stats:read", code):  # another area's grid: as one that does not exist
        raise NotFound(f"no grid {code}", field="code")
    return heat.grid_series(conn, code, who=who, **kw)


@router.get("/cases-heat/{code}", response_model=HeatSeries)
async def cases_heat_series(
    code: GridCodeDep,
    autocommit: AutocommitDep,
    who: StatsRead,
    from_: Annotated[Instant | None, Query(alias="from")] = None,
    to: Instant | None = None,
    months: Months = None,
    class_code: Annotated[str | None, Query(alias="class", pattern=r"^\d{4}$")] = None,
    channel: Annotated[str | None, Query(max_length=20)] = None,
    state: Literal["open", "closed"] | None = None,
) -> dict[str, Any]:
    """One grid's cases per month and its top event classes, under the heatmap's filters."""
    since, until = _period(from_, to)
    return await autocommit(
        _series, who, code, since=since, until=until, months=months, class_code=class_code,
        channel=channel, state=state,
    )  # fmt: skip


@router.get("/cases-overdue", response_model=list[OverdueGroup])
async def overdue_cases(
    autocommit: AutocommitDep,
    who: StatsRead,
    by: Literal["resp_unit", "unit_grid"] = "resp_unit",
    at: Instant | None = None,
) -> list[dict[str, Any]]:
    """Open cases past their deadline, by responsible unit or by unit grid."""
    return await autocommit(statistics.overdue, by=by, at=at, who=who)


@router.get("/cases-statistics", response_model=list[CaseStatistics])
async def case_statistics(
    autocommit: AutocommitDep,
    who: StatsRead,
    by: Literal["unit_grid", "community", "street", "district", "resp_unit"],
    from_: Annotated[Instant, Query(alias="from")],
    to: Instant,
) -> list[dict[str, Any]]:
    """Per group over a period: counts by state and class, 结案率 (closure_rate), 按期结案率 (on_time_rate),
    返工率 (rework_rate) and the average handling time in hours."""
    return await autocommit(statistics.statistics, by=by, start=from_, end=to, who=who)
