from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from sqlalchemy import text

from api.deps import AtDep, AutocommitDep, SettingsDep, TransactionDep
from api.params import BBox, Limit, Offset, parse_bbox, parse_page_limit
from api.responses import GEOJSON, geojson_page
from api.schemas import Body, Instant
from gis.cases import calendar
from gis.registry import classes, components, rules, units
from gis.registry.components import list_component_features

router = APIRouter(tags=["units, rules, components"])


class UnitIn(Body):
    code: str
    name: str = Field(min_length=1)
    kind: str = Field(description=", ".join(units.UNIT_KINDS))
    area_code: str | None = None


@router.post("/resp-units", status_code=201)
async def create_unit(body: UnitIn, transaction: TransactionDep) -> dict[str, Any]:
    return await transaction(units.create_unit, **body.model_dump())


@router.get("/resp-units")
async def list_units(autocommit: AutocommitDep) -> list[dict[str, Any]]:
    return await autocommit(units.list_units)


@router.get("/resp-units/{code}")
async def get_unit(code: str, autocommit: AutocommitDep) -> dict[str, Any]:
    return await autocommit(units.get_unit, code)


class UnitChange(Body):
    model_config = {"extra": "forbid"}
    name: str | None = None
    kind: str | None = None
    area_code: str | None = None


@router.patch("/resp-units/{code}")
async def update_unit(code: str, body: UnitChange, transaction: TransactionDep) -> dict[str, Any]:
    """Change the fields given (``area_code: null`` clears the area of jurisdiction)."""
    return await transaction(units.update_unit, code, body.model_dump(exclude_unset=True))


@router.delete("/resp-units/{code}", status_code=204)
async def delete_unit(code: str, transaction: TransactionDep) -> Response:
    """Remove a unit nothing refers to; one named by a case, rule or component answers 409."""
    await transaction(units.delete_unit, code)
    return Response(status_code=204)


class RuleIn(Body):
    class_code: str
    area_code: str
    resp_unit: str = Field(description="the responsible unit's code")
    start_time: time | None = None
    end_time: time | None = None
    valid_from: Instant | None = None


@router.post("/rules", status_code=201)
async def create_rule(body: RuleIn, transaction: TransactionDep) -> dict[str, Any]:
    return await transaction(rules.create_rule, **body.model_dump())


@router.get("/rules")
async def list_rules(autocommit: AutocommitDep, at: AtDep) -> list[dict[str, Any]]:
    return await autocommit(rules.list_rules, at)


@router.delete("/rules/{rule_id}")
async def retire_rule(rule_id: int, transaction: TransactionDep) -> dict[str, Any]:
    """Retire a rule: it stays on record, so past cases keep their explanation."""
    return await transaction(rules.retire_rule, rule_id)


@router.get("/event-classes")
async def event_classes(autocommit: AutocommitDep) -> list[dict[str, Any]]:
    return await autocommit(
        lambda conn: [dict(r) for r in conn.execute(text("SELECT * FROM event_class ORDER BY code")).mappings()]
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


@router.post("/event-classes", status_code=201)
async def create_event_class(body: EventClassIn, transaction: TransactionDep) -> dict[str, Any]:
    return await transaction(classes.create_event_class, **body.model_dump())


@router.patch("/event-classes/{code}")
async def update_event_class(code: str, body: EventClassChange, transaction: TransactionDep) -> dict[str, Any]:
    """Change a class's names, time limit or urgency; cases taken in before keep their deadline."""
    return await transaction(classes.update_event_class, code, body.model_dump(exclude_unset=True))


@router.get("/component-classes")
async def component_classes(autocommit: AutocommitDep) -> list[dict[str, Any]]:
    return await autocommit(
        lambda conn: [dict(r) for r in conn.execute(text("SELECT * FROM component_class ORDER BY code")).mappings()]
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


@router.get("/components", response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
async def list_components(
    request: Request,
    autocommit: AutocommitDep,
    settings: SettingsDep,
    class_code: Annotated[
        str | None, Query(alias="class", description="minor class (4 digits, e.g. 0101) or major class (2)")
    ] = None,
    area: Annotated[str | None, Query(description="a grid code at any level: components inside it")] = None,
    resp_unit: Annotated[
        str | None, Query(description="a responsible unit that owns, manages or maintains them")
    ] = None,
    state: str | None = None,
    bbox: BBox = None,
    limit: Limit = None,
    offset: Offset = 0,
) -> Response:
    """Components (部件) as a GeoJSON FeatureCollection, paged, ordered by code."""
    limit = parse_page_limit(limit, settings)
    body, matched, returned = await autocommit(
        list_component_features,
        class_code=class_code,
        area=area,
        resp_unit=resp_unit,
        state=state,
        bbox=parse_bbox(bbox),
        limit=limit,
        offset=offset,
    )
    return geojson_page(request, body, matched, returned, offset, limit)


@router.post("/components", status_code=201)
async def create_component(body: ComponentIn, transaction: TransactionDep) -> dict[str, Any]:
    return await transaction(components.create_component, **body.model_dump())


@router.get("/components/{code}")
async def get_component(code: str, autocommit: AutocommitDep) -> dict[str, Any]:
    return await autocommit(components.get_component, code)


class ComponentChange(Body):
    model_config = {"extra": "forbid"}
    name: str | None = None
    owner_unit: str | None = None
    manager_unit: str | None = None
    maintainer_unit: str | None = None
    state: str | None = None
    attrs: dict[str, Any] | None = None


@router.patch("/components/{code}")
async def update_component(code: str, body: ComponentChange, transaction: TransactionDep) -> dict[str, Any]:
    """Change a component's name, units, state or attributes (``changed_at`` records when); cases
    about it from then on go to its new owner or maintainer."""
    return await transaction(components.update_component, code, body.model_dump(exclude_unset=True))


@router.get("/calendar")
async def get_calendar(
    autocommit: AutocommitDep, year: Annotated[int | None, Query(ge=1900, le=2200)] = None
) -> list[dict[str, Any]]:
    """The working-day calendar's exceptions to Monday-Friday: public holidays (``workday``
    false) and the weekend days worked in their place (true)."""
    return await autocommit(calendar.calendar_days, year)


class CalendarDayIn(Body):
    workday: bool
    name: str = ""


@router.put("/calendar/{day}")
async def set_calendar_day(day: str, body: CalendarDayIn, transaction: TransactionDep) -> dict[str, Any]:
    """Record a holiday or a weekend working day; deadlines of new cases follow it (other server
    processes within a minute)."""
    await transaction(calendar.set_calendar_day, day, body.workday, body.name)
    return {"day": day, "workday": body.workday, "name": body.name}
