"""The collections of the OGC API: what each serves, from which table, to whom.

One definition per collection: its rows (a FROM with fixed conditions), the feature id, the key
pages are ordered by (so ``next`` links stay stable while rows are added), the properties (each a
SQL expression on the row, a JSON type; these are also the queryables CQL2 may name), the
permission that reads it and the columns its area scope applies to, and its temporal meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gis.grids.hierarchy import CHAIN_COLUMN
from gis.registry.components import COMPONENT_SCOPE


@dataclass(frozen=True)
class Prop:
    name: str
    sql: str
    type: str  # JSON Schema type: string, integer, number, boolean
    format: str | None = None  # date-time
    title: str = ""


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    source: str  # FROM … (alias as used by the expressions)
    conditions: tuple[str, ...]  # fixed conditions (bound values in ``params``)
    params: tuple[tuple[str, object], ...]
    id_sql: str  # the feature id (text)
    key_sql: str  # the paging key: unique, ordered
    key_type: str  # "text" or "bigint"
    geometry: str  # the geometry expression, in the storage CRS
    geometry_type: str  # GeoJSON type for the queryables
    permission: str
    scope: dict  # area_condition columns
    props: tuple[Prop, ...]
    temporal: str  # "validity" (grids: the version in force), "instant" (a time column), or "none"
    time_sql: str | None = None  # for "instant": the column; for "validity": unused
    personal: tuple[str, ...] = field(default=())  # properties shown only to who may read personal data

    def prop(self, name: str) -> Prop | None:
        return next((p for p in self.props if p.name == name), None)


LEVEL_NAMES = {1: "district", 2: "street", 3: "community", 4: "unit"}


def _chain(alias: str) -> tuple[Prop, ...]:
    """A row's grid chain as properties: ``district_code`` … ``unit_grid_code``."""
    names = {6: "district", 9: "street", 12: "community", 15: "unit_grid"}
    return tuple(Prop(f"{n}_code", f"{alias}.{CHAIN_COLUMN[k]}", "string") for k, n in names.items())


_LEVEL_TITLES = {1: "区/县", 2: "街道/镇", 3: "社区/村", 4: "单元网格"}


def _grids(level: int) -> Collection:
    return Collection(
        id=f"grids-{LEVEL_NAMES[level]}",
        title=f"{_LEVEL_TITLES[level]} ({LEVEL_NAMES[level]} grids)",
        description=(
            f"The {LEVEL_NAMES[level]} grids (GB/T 30428 codes) in force now, or the versions valid at "
            "`datetime` (an instant, or those valid at any time within an interval)."
        ),
        source="grid g",
        conditions=("g.level = :level",),
        params=(("level", level),),
        id_sql="g.code",
        key_sql="g.id",  # (a version's id: unique also when an interval brings several versions of a code)
        key_type="bigint",
        geometry="g.geom",
        geometry_type="MultiPolygon",
        permission="grids:read",
        scope={"code": "g.code"},
        props=(
            Prop("code", "g.code", "string", title="网格代码"),
            Prop("name", "g.name", "string", title="名称"),
            Prop("level", "g.level", "integer", title="层级 1-4"),
            Prop("parent_code", "g.parent_code", "string", title="上级代码"),
            Prop("area_m2", "g.area_m2", "number", title="面积（平方米）"),
            Prop("resp_unit_name", "g.resp_unit_name", "string", title="责任单位"),
            Prop("valid_from", "g.valid_from", "string", "date-time", title="生效"),
            Prop("valid_to", "g.valid_to", "string", "date-time", title="失效"),
        ),
        temporal="validity",
    )


COLLECTIONS: dict[str, Collection] = {c.id: c for c in (_grids(1), _grids(2), _grids(3), _grids(4))}
COLLECTIONS["components"] = Collection(
    id="components",
    title="部件 (city components)",
    description="City components (manhole covers, street lights, …) with their owner, manager and maintainer.",
    source="component c",
    conditions=(),
    params=(),
    id_sql="c.code",
    key_sql="c.code",
    key_type="text",
    geometry="c.geom",
    geometry_type="Geometry",
    permission="components:read",
    scope=COMPONENT_SCOPE,  # (the components list's: the grids, and a unit's own components)
    props=(
        Prop("code", "c.code", "string", title="部件编码"),
        Prop("class_code", "c.class_code", "string", title="部件小类"),
        Prop("name", "c.name", "string", title="名称"),
        Prop("state", "c.state", "string", title="状态"),
        Prop("owner_unit", "c.owner_unit", "string", title="权属单位"),
        Prop("manager_unit", "c.manager_unit", "string", title="主管单位"),
        Prop("maintainer_unit", "c.maintainer_unit", "string", title="养护单位"),
        *_chain("c"),
        Prop("recorded_at", "c.recorded_at", "string", "date-time", title="登记时间"),
    ),
    temporal="instant",
    time_sql="c.recorded_at",
)
COLLECTIONS["cases"] = Collection(
    id="cases",
    title="案件 (cases)",
    description=(
        "Cases (工单) with their grid chain, responsible unit and state; `datetime` filters the report "
        "time. The caller's contact fields only for those who may read personal data."
    ),
    source='"case" c',
    conditions=(),
    params=(),
    id_sql="c.id::text",
    key_sql="c.id",
    key_type="bigint",
    geometry="c.geom",
    geometry_type="Point",
    permission="cases:read",
    scope={},  # (the case scope: gis.cases.intake.CASE_SCOPE)
    props=(
        Prop("id", "c.id", "integer", title="案件号"),
        Prop("class_code", "c.class_code", "string", title="事件小类"),
        Prop("channel", "c.channel", "string", title="来源"),
        Prop("state", "c.state", "string", title="状态"),
        Prop("reported_at", "c.reported_at", "string", "date-time", title="上报时间"),
        Prop("deadline", "c.deadline", "string", "date-time", title="处置时限"),
        Prop("resp_unit", "c.resp_unit", "string", title="责任单位"),
        Prop("description", "c.description", "string", title="描述"),
        *_chain("c"),
        Prop("component_code", "c.component_code", "string", title="部件"),
        Prop("contact_name", "c.contact_name", "string", title="联系人"),
        Prop("contact_phone", "c.contact_phone", "string", title="联系电话"),
    ),
    temporal="instant",
    time_sql="c.reported_at",
    personal=("contact_name", "contact_phone"),
)
