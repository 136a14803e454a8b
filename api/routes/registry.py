from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import text
from sqlalchemy.engine import Connection

from api.access import (
    CalendarRead,
    CalendarWrite,
    ComponentsRead,
    ComponentsWrite,
    RegistryRead,
    RegistryWrite,
    ScopeOf,
)
from api.deps import AtDep, AutocommitDep, TransactionDep
from api.params import AreaDep, BBoxDep, PageDep
from api.responses import GeoJSONResponse, geojson_page, page_of
from api.schemas import Body, Instant
from api.schemas.cases import CalendarDay
from api.schemas.paging import Page
from api.schemas.registry import Component, ComponentClass, ComponentPage, EventClass, RespUnit, Rule
from gis.cases import calendar
from gis.registry import classes, components, rules, units
from gis.registry.components import list_component_features

router = APIRouter(tags=["units, rules, components"])


class UnitIn(Body):
    code: str
    name: str = Field(min_length=1)
    kind: str = Field(description=", ".join(units.UNIT_KINDS))
    area_code: str | None = None


@router.post("/resp-units", status_code=201, response_model=RespUnit)
async def create_unit(body: UnitIn, transaction: TransactionDep, who: RegistryWrite) -> dict[str, Any]:
    return await transaction(units.create_unit, **body.model_dump(), caller=who, audit=("unit.add", "unit", body.code))


@router.get("/resp-units", response_model=Page[RespUnit])
async def list_units(autocommit: AutocommitDep, page: PageDep, who: RegistryRead) -> dict[str, Any]:
    return page_of(await autocommit(units.list_units, caller=who), page)


@router.get("/resp-units/{code}", response_model=RespUnit)
async def get_unit(code: str, autocommit: AutocommitDep, who: RegistryRead) -> dict[str, Any]:
    return await autocommit(units.get_unit, code, caller=who)


class UnitChange(Body):
    model_config = {"extra": "forbid"}
    name: str | None = None
    kind: str | None = None
    area_code: str | None = None


@router.patch("/resp-units/{code}", response_model=RespUnit)
async def update_unit(code: str, body: UnitChange, transaction: TransactionDep, who: RegistryWrite) -> dict[str, Any]:
    """Change the fields given (``area_code: null`` clears the area of jurisdiction)."""
    changes = body.model_dump(exclude_unset=True)
    return await transaction(units.update_unit, code, changes, caller=who, audit=("unit.change", "unit", code))


@router.delete("/resp-units/{code}", status_code=204)
async def delete_unit(code: str, transaction: TransactionDep, who: RegistryWrite) -> Response:
    """Remove a unit nothing refers to; one named by a case, rule or component answers 409."""
    await transaction(units.delete_unit, code, caller=who, audit=("unit.delete", "unit", code))
    return Response(status_code=204)


class RuleIn(Body):
    class_code: str
    area_code: str
    resp_unit: str = Field(description="the responsible unit's code")
    start_time: time | None = None
    end_time: time | None = None
    valid_from: Instant | None = None


@router.post("/rules", status_code=201, response_model=Rule)
async def create_rule(body: RuleIn, transaction: TransactionDep, who: RegistryWrite) -> dict[str, Any]:
    return await transaction(rules.create_rule, **body.model_dump(), caller=who, audit=("rule.add", "rule", None))


@router.get("/rules", response_model=Page[Rule])
async def list_rules(autocommit: AutocommitDep, at: AtDep, page: PageDep, who: RegistryRead) -> dict[str, Any]:
    """The rules in force at ``at`` (default now), by id."""
    return page_of(await autocommit(rules.list_rules, at, caller=who), page)


@router.delete("/rules/{rule_id}", response_model=Rule)
async def retire_rule(rule_id: int, transaction: TransactionDep, who: RegistryWrite) -> dict[str, Any]:
    """Retire a rule: it stays on record, so past cases keep their explanation."""
    return await transaction(rules.retire_rule, rule_id, caller=who, audit=("rule.retire", "rule", rule_id))


@router.get("/event-classes", response_model=Page[EventClass])
async def event_classes(autocommit: AutocommitDep, page: PageDep, who: RegistryRead) -> dict[str, Any]:
    return page_of(
        await autocommit(
            lambda conn: [dict(r) for r in conn.execute(text("SELECT * FROM event_class ORDER BY code")).mappings()],
            caller=who,
        ),
        page,
    )


class EventClassIn(Body):
    code: str
    major_name: str
    minor_name: str
    time_limit: float = Field(gt=0)
    time_unit: str = Field(description=", ".join(classes.TIME_UNITS))
    urgency: str = Field(default="normal", description=", ".join(classes.URGENCIES))


class EventClassChange(Body):
    model_config = {"extra": "forbid"}
    major_name: str | None = None
    minor_name: str | None = None
    time_limit: float | None = Field(default=None, gt=0)
    time_unit: str | None = None
    urgency: str | None = None


@router.post("/event-classes", status_code=201, response_model=EventClass)
async def create_event_class(body: EventClassIn, transaction: TransactionDep, who: RegistryWrite) -> dict[str, Any]:
    return await transaction(
        classes.create_event_class, **body.model_dump(), caller=who, audit=("class.add", "event_class", body.code)
    )


@router.patch("/event-classes/{code}", response_model=EventClass)
async def update_event_class(
    code: str, body: EventClassChange, transaction: TransactionDep, who: RegistryWrite
) -> dict[str, Any]:
    """Change a class's names, time limit or urgency; cases taken in before keep their deadline."""
    changes = body.model_dump(exclude_unset=True)
    return await transaction(
        classes.update_event_class, code, changes, caller=who, audit=("class.change", "event_class", code)
    )


@router.get("/component-classes", response_model=Page[ComponentClass])
async def component_classes(autocommit: AutocommitDep, page: PageDep, who: RegistryRead) -> dict[str, Any]:
    return page_of(
        await autocommit(
            lambda conn: [
                dict(r) for r in conn.execute(text("SELECT * FROM component_class ORDER BY code")).mappings()
            ],
            caller=who,
        ),
        page,
    )


class ComponentIn(Body):
    code: str
    geometry: dict[str, Any]
    crs: str = "EPSG:4490"
    name: str = ""
    owner_unit: str | None = None
    manager_unit: str | None = None
    maintainer_unit: str | None = None
    state: str = "normal"
    attrs: dict[str, Any] = Field(default_factory=dict)


# Built in PostgreSQL as GeoJSON text, its schema documented, not checked at run time, as the grid
# pages (api.routes.grids: a model round trip measured at a quarter of the request's time).
@router.get("/components", response_class=GeoJSONResponse, responses={200: {"model": ComponentPage}})
async def list_components(
    request: Request,
    autocommit: AutocommitDep,
    who: ComponentsRead,
    page: PageDep,
    bbox: BBoxDep,
    area: AreaDep,
    class_code: Annotated[
        str | None, Query(alias="class", description="minor class (4 digits, e.g. 0101) or major class (2)")
    ] = None,
    resp_unit: Annotated[
        str | None, Query(description="a responsible unit that owns, manages or maintains them")
    ] = None,
    state: str | None = None,
) -> Response:
    """Components (部件) as a GeoJSON FeatureCollection, paged, ordered by code."""
    body, matched, returned = await autocommit(
        list_component_features,
        class_code=class_code,
        area=area,
        resp_unit=resp_unit,
        state=state,
        bbox=bbox,
        limit=page.limit,
        offset=page.offset,
        scope=ScopeOf(who, "components:read", components.COMPONENT_SCOPE),
    )
    return geojson_page(request, body, matched, returned, page)


@router.post("/components", status_code=201, response_model=Component)
async def create_component(body: ComponentIn, transaction: TransactionDep, who: ComponentsWrite) -> dict[str, Any]:
    """A component inside the caller's areas (one outside is refused as if its area did not exist)."""
    return await transaction(
        _create_component,
        ScopeOf(who, "components:write", components.COMPONENT_SCOPE),
        body.model_dump(),
        caller=who,
        audit=("component.add", "component", body.code),
    )


def _create_component(conn: Connection, scope: tuple, fields: dict[str, Any]) -> dict[str, Any]:
    created = components.create_component(conn, **fields)
    return components.get_component(conn, created["code"], scope)  # outside: NotFound, rolled back


@router.get("/components/{code}", response_model=Component)
async def get_component(code: str, autocommit: AutocommitDep, who: ComponentsRead) -> dict[str, Any]:
    return await autocommit(components.get_component, code, ScopeOf(who, "components:read", components.COMPONENT_SCOPE))


class ComponentChange(Body):
    model_config = {"extra": "forbid"}
    name: str | None = None
    owner_unit: str | None = None
    manager_unit: str | None = None
    maintainer_unit: str | None = None
    state: str | None = None
    attrs: dict[str, Any] | None = None


@router.patch("/components/{code}", response_model=Component)
async def update_component(
    code: str, body: ComponentChange, transaction: TransactionDep, who: ComponentsWrite
) -> dict[str, Any]:
    """Change a component's name, units, state or attributes (``changed_at`` records when); cases
    about it from then on go to its new owner or maintainer."""
    return await transaction(
        _update_component,
        code,
        body.model_dump(exclude_unset=True),
        ScopeOf(who, "components:write", components.COMPONENT_SCOPE),
        caller=who,
        audit=("component.change", "component", code),
    )


def _update_component(conn: Connection, code: str, changes: dict[str, Any], scope: tuple) -> dict[str, Any]:
    components.get_component(conn, code, scope)  # outside the caller's areas: NotFound
    return components.update_component(conn, code, changes)


@router.get("/calendar", response_model=Page[CalendarDay])
async def get_calendar(
    autocommit: AutocommitDep,
    page: PageDep,
    who: CalendarRead,
    year: Annotated[int | None, Query(ge=1900, le=2200)] = None,
) -> dict[str, Any]:
    """The working-day calendar's exceptions to Monday-Friday: public holidays (``workday``
    false) and the weekend days worked in their place (true)."""
    return page_of(await autocommit(calendar.calendar_days, year, caller=who), page)


class CalendarDayIn(Body):
    workday: bool
    name: str = ""


@router.put("/calendar/{day}", response_model=CalendarDay)
async def set_calendar_day(
    day: str, body: CalendarDayIn, transaction: TransactionDep, who: CalendarWrite
) -> dict[str, Any]:
    """Record a holiday or a weekend working day; deadlines of new cases follow it (other server
    processes within a minute)."""
    await transaction(
        calendar.set_calendar_day, day, body.workday, body.name, caller=who, audit=("calendar.set", "day", day)
    )
    return {"day": date.fromisoformat(day.strip()), "workday": body.workday, "name": body.name}
