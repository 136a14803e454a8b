"""The import core: read → convert CRS → check → report → write, all in one transaction.

Any rejected row fails the whole import and nothing is written; the report lists every reason
found, so one run tells the administrator everything to fix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
import shapely.ops
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, RootTransaction

from gis.access.principal import inside
from gis.crs import (
    Crs,
    crs_from_pyproj,
    describe_unplausible,
    geoms_to_storage,
    parse_crs,
    plausible_lonlat,
)
from gis.errors import Conflict, ImportRejected, InvalidInput, NotFound
from gis.grids import neighbours, simple, versions
from gis.grids.hierarchy import CODE_LENGTH, LEVEL_NAMES, normalize_code
from gis.grids.validate import validate
from gis.progress import Progress, quiet
from gis.text import check_json
from importers.readers import read_frame

CODE_FIELDS = ("code", "adcode", "grid_code", "CODE", "ADCODE", "编码", "代码")
NAME_FIELDS = ("name", "NAME", "Name", "grid_name", "名称")
RESP_FIELDS = ("resp_unit_name", "resp_person", "resp_phone")
#: older files name the responsible unit's column resp_unit
RESP_ALIASES = {"resp_unit": "resp_unit_name"}


@dataclass
class GridImportOptions:
    level: int
    layer: str | None = None
    code_field: str | None = None
    name_field: str | None = None
    parent_field: str | None = None
    wkt_field: str | None = None
    crs: str | None = None
    fix_invalid: bool = False
    dry_run: bool = False
    valid_from: datetime | None = None
    tolerance_m: float = 10.0
    #: the areas the importing user may write (grid codes); None: everywhere
    within: list[str] | None = None
    #: grids whose current versions close when this import's open, with no successor (a merge)
    retire: tuple[str, ...] = ()
    #: codes this import gives for the first time (a split's pieces, a new grid): refused if taken
    new_codes: tuple[str, ...] = ()


@dataclass
class ImportReport:
    source: str
    level: str
    crs: str = ""
    read: int = 0
    written: int = 0
    unchanged: int = 0
    closed: int = 0
    repaired: int = 0
    generated_codes: int = 0
    retired: int = 0
    #: the codes of the grids written (a split's new pieces, a new grid's code)
    codes: list[str] = field(default_factory=list)
    #: the validation's findings about the grids written, each with its geometry (GeoJSON)
    findings: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    committed: bool = False
    import_id: int | None = None
    valid_from: str = ""
    seconds: float = 0.0

    def reject(self, row: int, reason: str, code: str | None = None, **extra: Any) -> None:
        self.rejected.append({"row": row, "code": code, "reason": reason, **extra})

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rejected_count"] = len(self.rejected)
        return d


@contextmanager
def all_or_nothing(engine: Engine) -> Iterator[tuple[Connection, RootTransaction]]:
    """One connection and transaction; any error rolls it back. The caller commits (or, for a
    dry run or a refused import, rolls back) explicitly."""
    with engine.connect() as conn:
        trans = conn.begin()
        try:
            yield conn, trans
        except BaseException:
            if trans.is_active:
                trans.rollback()
            raise


def _pick_field(frame: gpd.GeoDataFrame, given: str | None, candidates: tuple[str, ...], flag: str) -> str | None:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if given is not None:
        if given not in columns:
            raise InvalidInput(f"field {given!r} not in the file", field=flag, allowed=columns)
        return given
    return next((c for c in candidates if c in columns), None)


def resolve_crs(frame: gpd.GeoDataFrame, override: str | None) -> Crs:
    """The CRS to read the file in: ``--crs`` wins, then the file's; refuse implausible lon/lat."""
    bounds = tuple(float(v) for v in frame.total_bounds) if len(frame) else (0.0, 0.0, 0.0, 0.0)
    if override:
        crs = parse_crs(override)
    else:
        crs = crs_from_pyproj(frame.crs)
        if crs is None:
            if not plausible_lonlat(bounds):
                raise InvalidInput(describe_unplausible(bounds), field="crs")
            return Crs(epsg=4326)
    if crs.is_geographic and len(frame) and not plausible_lonlat(bounds):
        raise InvalidInput(
            f"{crs} is lon/lat but "
            + describe_unplausible(bounds).split("(", 1)[1].rstrip(")").replace("this looks", "the numbers look"),
            field="crs",
        )
    return crs


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry | None:
    """Keep the polygonal part of a repaired geometry."""
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    if geom.geom_type == "GeometryCollection":
        polys = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
        if polys:
            return shapely.union_all(polys)
    return None


def import_grids(
    engine: Engine,
    path: str | Path,
    opts: GridImportOptions,
    *,
    source: str | None = None,
    progress: Progress = quiet,
) -> ImportReport:
    """Read ``path`` and import it. ``source`` is what the import run records and the report and
    messages name (default: the path as given; an upload gives its own file name, not where the
    server keeps it)."""
    with progress("reading") as phase:
        frame = read_frame(path, opts.layer, opts.wkt_field)
        phase.update(len(frame))
    return import_grid_frame(engine, frame, opts, source=str(path) if source is None else source, progress=progress)


def import_grid_frame(
    engine: Engine, frame: gpd.GeoDataFrame, opts: GridImportOptions, *, source: str, progress: Progress = quiet
) -> ImportReport:
    t0 = time.perf_counter()
    level = opts.level
    report = ImportReport(source=source, level=LEVEL_NAMES[level], dry_run=opts.dry_run)
    valid_from = opts.valid_from or datetime.now(UTC)
    if valid_from.tzinfo is None:
        valid_from = valid_from.replace(tzinfo=UTC)
    report.valid_from = valid_from.isoformat()
    report.read = len(frame)
    if not len(frame):
        raise InvalidInput(f"{source}: no features to import", field="file")

    code_col = _pick_field(frame, opts.code_field, CODE_FIELDS, "code_field")
    name_col = _pick_field(frame, opts.name_field, NAME_FIELDS, "name_field")
    parent_col = _pick_field(frame, opts.parent_field, ("parent_code",), "parent_field")
    if code_col is None and level != 4:
        raise InvalidInput(
            f"no code field found (tried {', '.join(CODE_FIELDS)}); name it with --code-field",
            field="code_field",
            allowed=[c for c in frame.columns if c != frame.geometry.name],
        )
    crs = resolve_crs(frame, opts.crs)
    report.crs = str(crs)

    with progress("checking", report.read) as bar:
        geoms = geoms_to_storage(frame.geometry.to_numpy(), crs)
        valid = shapely.is_valid(geoms)
        reasons = shapely.is_valid_reason(geoms)
        mapped = {c for c in (code_col, name_col, parent_col) if c} | {frame.geometry.name}
        frame = frame.rename(
            columns={a: f for a, f in RESP_ALIASES.items() if a in frame.columns and f not in frame.columns}
        )
        extra_cols = [c for c in frame.columns if c not in mapped and c not in RESP_FIELDS]
        resp_cols = [c for c in RESP_FIELDS if c in frame.columns]
        records = frame.drop(columns=frame.geometry.name).to_dict("records")

        staged: list[versions.StagedRow] = []
        seen: dict[str, int] = {}
        for i, rec in enumerate(records):
            row = i + 1
            bar.update(1)
            code = normalize_code(rec[code_col]) if code_col else None
            geom = geoms[i]
            if geom is None or shapely.is_empty(geom):
                report.reject(row, "empty or missing geometry", code)
                continue
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                report.reject(row, f"expected Polygon or MultiPolygon, got {geom.geom_type}", code)
                continue
            if not valid[i]:
                if not opts.fix_invalid:
                    report.reject(row, f"invalid geometry: {reasons[i]} (use --fix-invalid to repair)", code)
                    continue
                fixed = _polygonal(shapely.make_valid(geom))
                if fixed is None or fixed.is_empty:
                    report.reject(row, f"invalid geometry that cannot be repaired: {reasons[i]}", code)
                    continue
                geom = fixed
                report.repaired += 1
            if code_col:
                if code is None:
                    report.reject(row, "missing code", code)
                    continue
                if not (code.isdigit() and len(code) == CODE_LENGTH[level]):
                    report.reject(
                        row, f"a {LEVEL_NAMES[level]} code has {CODE_LENGTH[level]} digits, got {code!r}", code
                    )
                    continue
                if code in seen:
                    report.reject(row, f"duplicate code (also row {seen[code]})", code)
                    continue
                seen[code] = row
            parent = None
            if level > 1:
                if parent_col:
                    parent = normalize_code(rec[parent_col])
                    if parent is None or len(parent) != CODE_LENGTH[level - 1]:
                        report.reject(
                            row, f"parent code must have {CODE_LENGTH[level - 1]} digits, got {parent!r}", code
                        )
                        continue
                    if code and not code.startswith(parent):
                        report.reject(row, f"code {code} is not under its parent's code {parent}", code)
                        continue
                elif code:
                    parent = code[: CODE_LENGTH[level - 1]]
            name = rec[name_col] if name_col else ""
            item = versions.StagedRow(
                row=row,
                code=code,
                name="" if name is None else str(name),
                parent_code=parent,
                geom=geom,
                # an empty cell is no attribute (a file's column spans every row)
                attrs={c: v for c in extra_cols if (v := versions.json_safe(rec[c])) is not None},
                **{c: (None if (v := versions.json_safe(rec[c])) is None else str(v)) for c in resp_cols},
            )
            if not inside(code or parent, opts.within):
                report.reject(row, f"{code or parent} lies outside the areas you may change", code)
                continue
            try:
                check_json([item.name, item.resp_unit_name, item.resp_person, item.resp_phone], "name")
                check_json(item.attrs, "attrs")
            except InvalidInput as exc:
                report.reject(row, exc.message, code)
                continue
            staged.append(item)

    with progress("writing", len(staged)) as bar, all_or_nothing(engine) as (conn, trans):
        versions.stage_rows(conn, staged)
        if level > 1:
            for r in versions.find_missing_parents(conn, level, valid_from):
                report.reject(
                    r["row_no"],
                    f"parent {r['parent_code']} not found among the {LEVEL_NAMES[level - 1]} grids",
                    r["code"],
                )
            for row in versions.assign_spatial_parents(conn, level, valid_from):
                report.reject(row, f"no {LEVEL_NAMES[level - 1]} grid overlaps it")
            if code_col is None:
                left = versions.generate_unit_codes(conn)
                for r in left:
                    report.reject(r["row_no"], f"more than 999 unit grids in community {r['parent_code']}")
                report.generated_codes = len(staged) - len(left)
            for r in versions.find_outside_parent(conn, valid_from, opts.tolerance_m):
                report.reject(
                    r["row_no"],
                    f"{float(r['outside_m2']):.0f} m² lies outside parent "
                    f"{r['parent_code']} (tolerance {opts.tolerance_m:g} m)",
                    r["code"],
                    outside_m2=float(r["outside_m2"]),
                )
        if opts.within is not None:
            for r in versions.find_outside_areas(conn, opts.within):
                report.reject(
                    r["row_no"], f"{float(r['outside_m2']):.0f} m² lies outside the areas you may change", r["code"]
                )
        for code in versions.taken_codes(conn, list(opts.new_codes)):
            report.reject(0, f"{code} was given meanwhile: try again", code)
        versions.compare_versions(conn)
        for code, reason in versions.check_retired(conn, list(opts.retire), valid_from):
            report.reject(0, reason, code)
        for r in versions.find_bad_versions(conn, valid_from):
            report.reject(
                r["row_no"],
                f"current version starts {r['valid_from'].isoformat()}, not before valid_from",
                r["code"],
            )
        report.rejected.sort(key=lambda r: r["row"])
        if report.rejected:
            trans.rollback()
            report.seconds = round(time.perf_counter() - t0, 3)
            raise ImportRejected(
                f"{len(report.rejected)} of {report.read} rows rejected; nothing was written",
                details=report.to_dict(),
            )
        import_id = versions.new_import_run(conn, "grids", level, source)
        counts = versions.write_versions(conn, level, valid_from, import_id)
        report.retired = versions.retire(conn, list(opts.retire), valid_from)
        simple.simplify_after_write(conn, level, import_id, list(opts.retire))
        neighbours.store(conn, import_id)
        report.codes = sorted(r.code for r in staged if r.code)
        findings = _findings(conn, level, valid_from, import_id, opts.tolerance_m)
        report.warnings += [f["message"] for f in findings]
        report.findings = findings
        bar.update(len(staged))
        report.written, report.closed, report.unchanged = counts["written"], counts["closed"], counts["unchanged"]
        report.seconds = round(time.perf_counter() - t0, 3)
        if opts.dry_run:
            trans.rollback()
        else:
            report.import_id = import_id
            versions.finish_import_run(conn, import_id, report.to_dict())
            trans.commit()
            report.committed = True
    return report


def _findings(conn: Connection, level: int, at: datetime, import_id: int, tolerance_m: float) -> list[dict[str, Any]]:
    """What ``wangge validate`` would now say about the grids just written, with the geometry of
    each finding (an editor draws them): an overlap with a sibling, a child left outside a changed
    parent, a gap left in their parent. Written anyway (inside the transaction, so a dry run says
    it too); the validation is where they are followed up."""
    codes = list(conn.execute(text("SELECT code FROM grid WHERE import_id = :i"), {"i": import_id}).scalars())
    if not codes:
        return []
    found = validate(
        conn,
        levels=[level, level + 1] if level < 4 else [level],
        at=at,
        tolerance_m=tolerance_m,
        kinds=("outside", "overlap", "gap"),
        codes=codes,
    )
    return found["findings"]


#: properties of a grid's GeoJSON answer that a redraw ignores (derived or set by the platform)
READ_ONLY = ("level", "parent_code", "area_m2", "valid_from", "valid_to")
GEOMETRY_TYPES = ("Polygon", "MultiPolygon")


def redraw_grid(
    engine: Engine,
    code: str,
    feature: dict[str, Any],
    *,
    crs: str | None = None,
    fix_invalid: bool = False,
    dry_run: bool = False,
    valid_from: datetime | None = None,
    tolerance_m: float = 10.0,
    within: list[str] | None = None,
) -> ImportReport:
    """Redraw one grid (or draw a new one) from a GeoJSON Feature, as a boundary editor sends it.

    The same checks, versioning and report as a file import of one row: the current version is
    closed and a new one opened. Properties left out keep their current values, so a client may
    send the feature it read back with only the geometry changed.
    """
    return redraw_grids(
        engine, [(code, feature)], crs=crs, fix_invalid=fix_invalid, dry_run=dry_run, valid_from=valid_from,
        tolerance_m=tolerance_m, within=within,
    )  # fmt: skip


def redraw_grids(
    engine: Engine,
    features: list[tuple[str, dict[str, Any]]],
    *,
    crs: str | None = None,
    fix_invalid: bool = False,
    dry_run: bool = False,
    valid_from: datetime | None = None,
    tolerance_m: float = 10.0,
    within: list[str] | None = None,
    new_codes: tuple[str, ...] = (),
) -> ImportReport:
    """Redraw several grids of one level together (a shared edge moved in both): one import of
    a row per grid, all or nothing. ``features``: (code, GeoJSON Feature or geometry);
    ``within``: the writer's areas (every grid must lie inside them)."""
    if not features:
        raise InvalidInput("no grids to redraw", field="features")
    codes = [code for code, _ in features]
    levels = {next((lv for lv, n in CODE_LENGTH.items() if n == len(c)), None) for c in codes}
    if None in levels or not all(c.isdigit() for c in codes):
        raise InvalidInput(f"bad grid code in {codes!r}", field="code", allowed="6, 9, 12 or 15 digits")
    if len(levels) > 1:
        raise InvalidInput("grids redrawn together are of one level", field="features")
    if len(set(codes)) < len(codes):
        raise InvalidInput("a grid is given twice", field="features")
    rows, geoms = [], []
    for code, feature in features:
        if not isinstance(feature, dict) or feature.get("type") not in ("Feature", *GEOMETRY_TYPES):
            raise InvalidInput("the body must be a GeoJSON Feature (or geometry)", field="body")
        geometry = feature.get("geometry") if feature["type"] == "Feature" else feature
        props = feature.get("properties") or {} if feature["type"] == "Feature" else {}
        if not isinstance(props, dict):
            raise InvalidInput("properties must be an object", field="properties")
        props = dict(props)
        if props.get("code", code) != code:
            raise InvalidInput(f"the feature's code {props['code']!r} is not {code}", field="properties.code")
        try:
            geoms.append(shapely.geometry.shape(geometry))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            raise InvalidInput("geometry is not GeoJSON", field="geometry") from None
        with engine.connect() as conn:
            current = (
                conn.execute(
                    text(
                        "SELECT name, resp_unit_name, resp_person, resp_phone, attrs FROM grid "
                        "WHERE code = :c AND valid_to IS NULL"
                    ),
                    {"c": code},
                )
                .mappings()
                .first()
            )
        row: dict[str, Any] = dict(current or {"name": "", "attrs": {}})
        kept_attrs = row.pop("attrs") or {}
        new_attrs = props.pop("attrs", None)
        for key in ("code", "geometry", *READ_ONLY):
            props.pop(key, None)
        # free attributes travel as extra columns, as in a file; sent ones replace the stored ones
        row.update(new_attrs if isinstance(new_attrs, dict) else kept_attrs)
        row.update(props)
        row["code"] = code
        rows.append(row)
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=None)
    opts = GridImportOptions(
        level=levels.pop(),
        code_field="code",
        name_field="name",
        crs=crs or "EPSG:4490",
        fix_invalid=fix_invalid,
        dry_run=dry_run,
        valid_from=valid_from,
        tolerance_m=tolerance_m,
        within=within,
        new_codes=tuple(new_codes),
    )
    return import_grid_frame(engine, frame, opts, source="redraw of " + ", ".join(codes))


def _current_grid(engine: Engine, code: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT code, level, name, parent_code, resp_unit_name, resp_person, resp_phone, attrs, "
                    "ST_AsBinary(geom) AS wkb FROM grid WHERE code = :c AND valid_to IS NULL"
                ),
                {"c": code},
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"no current grid {code}", field="code")
    out = dict(row)
    out["geom"] = shapely.from_wkb(bytes(out.pop("wkb")))
    return out


def _edit_frame(rows: list[dict[str, Any]]) -> gpd.GeoDataFrame:
    """Rows for :func:`import_grid_frame`: code, name, the responsible fields and the free
    attributes as columns (a file's layout), geometry in the storage CRS."""
    records = []
    for r in rows:
        rec = dict(r.get("attrs") or {})  # the free attributes, then the fields they may not replace
        rec.update({k: r.get(k) for k in ("code", "name", *RESP_FIELDS)})
        records.append(rec)
    return gpd.GeoDataFrame(records, geometry=[r["geom"] for r in rows], crs=None)


def _line(feature: dict[str, Any], crs: str | None) -> shapely.LineString:
    geometry = feature.get("geometry") if isinstance(feature, dict) and feature.get("type") == "Feature" else feature
    try:
        line = shapely.geometry.shape(geometry)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        raise InvalidInput("the line is not GeoJSON", field="line") from None
    if line.geom_type != "LineString" or len(line.coords) < 2:
        raise InvalidInput(f"expected a LineString, got {line.geom_type}", field="line", allowed=["LineString"])
    return geoms_to_storage(np.array([line]), parse_crs(crs or "EPSG:4490"))[0]


def split_grid(
    engine: Engine,
    code: str,
    line: dict[str, Any],
    *,
    crs: str | None = None,
    dry_run: bool = False,
    valid_from: datetime | None = None,
    tolerance_m: float = 10.0,
    within: list[str] | None = None,
) -> ImportReport:
    """Split a grid by a line drawn across it: the largest piece keeps the code (and the workers
    and rules that name it), the others get the next free codes under the same parent; each new
    piece records ``split_from``. One versioned import: all or nothing, with its checks."""
    grid = _current_grid(engine, code)
    if grid["level"] == 1:
        raise InvalidInput("districts are administrative divisions: redraw them, do not split", field="code")
    cut = _line(line, crs)
    with engine.connect() as conn:
        children = conn.execute(
            text("SELECT count(*) FROM grid WHERE parent_code = :c AND valid_to IS NULL"), {"c": code}
        ).scalar_one()
        if children:
            raise Conflict(f"{code} has {children} current child grids: split them first", field="code")
        # only the parts of the grid the line crosses are cut; the others stay with the code
        pieces, kept = [], []
        for part in shapely.get_parts(grid["geom"]):
            cut_part = [p for p in shapely.get_parts(shapely.ops.split(part, cut)) if p.geom_type == "Polygon"]
            (pieces.extend(cut_part) if len(cut_part) > 1 else kept.append(part))
        if not pieces:
            raise InvalidInput("the line must cross the grid from one edge to another", field="line")
        pieces.sort(key=lambda p: -p.area)
        new = versions.next_codes(conn, grid["parent_code"], len(pieces) - 1)
    rows = [{**grid, "geom": shapely.MultiPolygon([pieces[0], *kept])}]
    for piece, piece_code in zip(pieces[1:], new, strict=True):
        attrs = {**(grid["attrs"] or {}), "split_from": code}
        rows.append({**grid, "code": piece_code, "geom": shapely.MultiPolygon([piece]), "attrs": attrs})
    opts = GridImportOptions(
        level=grid["level"], code_field="code", name_field="name", dry_run=dry_run, valid_from=valid_from,
        tolerance_m=tolerance_m, within=within, new_codes=tuple(new),
    )  # fmt: skip
    return import_grid_frame(engine, _edit_frame(rows), opts, source=f"split of {code}")


def merge_grids(
    engine: Engine,
    code: str,
    other: str,
    *,
    dry_run: bool = False,
    valid_from: datetime | None = None,
    tolerance_m: float = 10.0,
    within: list[str] | None = None,
) -> ImportReport:
    """Merge ``other`` into ``code``: neighbours of one parent sharing an edge. ``code`` keeps its
    code with the union as a new version (``merged_from``: the codes merged in, comma-separated);
    ``other`` is retired."""
    if other == code:
        raise InvalidInput("a grid cannot be merged with itself", field="with")
    a, b = _current_grid(engine, code), _current_grid(engine, other)
    if a["level"] != b["level"] or a["parent_code"] != b["parent_code"]:
        raise InvalidInput(f"{other} is not a sibling of {code} (same level and parent)", field="with")
    union = shapely.union(a["geom"], b["geom"])
    shared = shapely.length(shapely.intersection(shapely.boundary(a["geom"]), shapely.boundary(b["geom"])))
    if union.geom_type != "Polygon" and not (union.geom_type == "MultiPolygon" and len(union.geoms) == 1):
        raise InvalidInput(f"{code} and {other} do not share an edge", field="with")
    if shared <= 0:
        raise InvalidInput(f"{code} and {other} do not share an edge", field="with")
    # attributes are a file's columns: the lineage as a comma-separated list
    before = [c for c in str((a["attrs"] or {}).get("merged_from", "")).split(",") if c]
    merged = ",".join(dict.fromkeys([*before, other]))
    rows = [
        {
            **a,
            "geom": shapely.MultiPolygon([shapely.get_parts(union)[0]]),
            "attrs": {**(a["attrs"] or {}), "merged_from": merged},
        }
    ]
    opts = GridImportOptions(
        level=a["level"], code_field="code", name_field="name", dry_run=dry_run, valid_from=valid_from,
        tolerance_m=tolerance_m, within=within, retire=(other,),
    )  # fmt: skip
    report = import_grid_frame(engine, _edit_frame(rows), opts, source=f"merge of {other} into {code}")
    with engine.connect() as conn:  # what still names the retired grid: to be moved by hand
        report.warnings += versions.references(conn, other)
    return report


def add_grid(
    engine: Engine,
    parent: str,
    feature: dict[str, Any],
    *,
    crs: str | None = None,
    dry_run: bool = False,
    valid_from: datetime | None = None,
    tolerance_m: float = 10.0,
    within: list[str] | None = None,
) -> ImportReport:
    """Draw a new grid under ``parent`` with the next free code by the standard numbering."""
    level = next((lv for lv, n in CODE_LENGTH.items() if n == len(parent)), None)
    if level is None or level == 4 or not parent.isdigit():
        raise InvalidInput(f"bad parent code {parent!r}", field="parent", allowed="6, 9 or 12 digits")
    _current_grid(engine, parent)
    with engine.connect() as conn:
        code = versions.next_codes(conn, parent, 1)[0]
    body = feature if isinstance(feature, dict) else {}
    props = body.get("properties") or {} if body.get("type") == "Feature" else {}
    if not isinstance(props, dict):
        raise InvalidInput("properties must be an object", field="properties")
    props = dict(props)
    props.pop("code", None)
    props["code"] = code
    geometry = body.get("geometry") if body.get("type") == "Feature" else body
    return redraw_grids(
        engine, [(code, {"type": "Feature", "properties": props, "geometry": geometry})], crs=crs, dry_run=dry_run,
        valid_from=valid_from, tolerance_m=tolerance_m, within=within, new_codes=(code,),
    )  # fmt: skip
