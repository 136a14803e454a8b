"""Importers for responsible units, dispatch rules (CSV) and components (any vector format).

Same contract as the grid importer: every row is checked, every reason reported, and one bad row
means nothing is written.
"""

from __future__ import annotations

import json
import time
from datetime import time as dtime
from pathlib import Path
from typing import Any

import pandas as pd
import shapely
from sqlalchemy.engine import Engine

from gis.dates import parse_at
from gis.errors import ImportRejected, InvalidInput, WanggeError
from gis.progress import Progress, quiet
from gis.registry import components, rules, units
from gis.text import check_json
from importers.core import all_or_nothing, resolve_crs
from importers.readers import read_frame, read_text_csv

UNIT_COLUMNS = ("code", "name", "kind")
RULE_COLUMNS = ("class_code", "area_code", "resp_unit")
COMPONENT_UNIT_FIELDS = ("owner_unit", "manager_unit", "maintainer_unit")


def _read_csv(path: Path, required: tuple[str, ...], aliases: dict[str, str] | None = None) -> pd.DataFrame:
    if not path.exists():
        raise InvalidInput(f"no such file: {path}", field="file")
    frame = read_text_csv(path)
    frame = frame.rename(columns={a: c for a, c in (aliases or {}).items() if a in frame and c not in frame})
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{path.name} lacks column(s) {', '.join(missing)}", field="file", allowed=list(required))
    return frame


def _time(value: str) -> dtime | None:
    return dtime.fromisoformat(value) if value else None


def _run(
    engine: Engine,
    source: str,
    kind: str,
    rows: list[tuple[int, Any]],
    write,
    dry_run: bool,
    progress: Progress = quiet,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "source": source,
        "kind": kind,
        "read": len(rows),
        "written": 0,
        "rejected": [],
        "dry_run": dry_run,
    }
    with progress("storing", len(rows)) as phase, all_or_nothing(engine) as (conn, trans):
        for row_no, rec in rows:
            phase.update(1)
            try:
                if isinstance(rec, dict):
                    for name, value in rec.items():
                        check_json(value, name)
                with conn.begin_nested():
                    write(conn, rec)
                report["written"] += 1
            except (WanggeError, ValueError) as exc:
                msg = exc.message if isinstance(exc, WanggeError) else str(exc)
                field = getattr(exc, "field", None)
                report["rejected"].append({"row": row_no, "field": field, "reason": msg})
        report["seconds"] = round(time.perf_counter() - t0, 3)
        if report["rejected"]:
            trans.rollback()
            report["written"] = 0
            raise ImportRejected(
                f"{len(report['rejected'])} of {len(rows)} rows rejected; nothing was written", details=report
            )
        if dry_run:
            trans.rollback()
        else:
            trans.commit()
    report["committed"] = not dry_run
    return report


def import_units(
    engine: Engine, path: str | Path, *, dry_run: bool = False, progress: Progress = quiet
) -> dict[str, Any]:
    """CSV with ``code,name,kind[,area_code]``."""
    frame = _read_csv(Path(path), UNIT_COLUMNS)
    rows = [(i + 1, r) for i, r in enumerate(frame.to_dict("records"))]  # data rows from 1, as every importer
    return _run(
        engine,
        str(path),
        "units",
        rows,
        lambda conn, r: units.create_unit(
            conn, code=r["code"], name=r["name"], kind=r["kind"], area_code=r.get("area_code") or None
        ),
        dry_run,
        progress,
    )


def import_calendar(
    engine: Engine, path: str | Path, *, dry_run: bool = False, progress: Progress = quiet
) -> dict[str, Any]:
    """CSV with ``day,workday[,name]``: the public holidays (workday false) and the weekend days
    worked in their place (workday true) of a year, as the State Council publishes them."""
    from gis.cases import calendar

    frame = _read_csv(Path(path), ("day", "workday"))
    rows = [(i + 1, r) for i, r in enumerate(frame.to_dict("records"))]
    return _run(
        engine,
        str(path),
        "calendar",
        rows,
        lambda conn, r: calendar.set_calendar_day(conn, r["day"], r["workday"], r.get("name") or ""),
        dry_run,
        progress,
    )


def import_rules(
    engine: Engine, path: str | Path, *, dry_run: bool = False, progress: Progress = quiet
) -> dict[str, Any]:
    """CSV with ``class_code,area_code,resp_unit[,start_time,end_time,valid_from]`` (``unit_code`` is read as
    ``resp_unit``, as older files name it)."""
    frame = _read_csv(Path(path), RULE_COLUMNS, {"unit_code": "resp_unit"})
    rows = [(i + 1, r) for i, r in enumerate(frame.to_dict("records"))]
    return _run(
        engine,
        str(path),
        "rules",
        rows,
        lambda conn, r: rules.create_rule(
            conn,
            class_code=r["class_code"],
            area_code=r["area_code"],
            resp_unit=r["resp_unit"],
            start_time=_time(r.get("start_time", "")),
            end_time=_time(r.get("end_time", "")),
            valid_from=parse_at(r.get("valid_from") or None, "valid_from"),
        ),
        dry_run,
        progress,
    )


def import_components(
    engine: Engine,
    path: str | Path,
    *,
    layer: str | None = None,
    code_field: str = "code",
    crs: str | None = None,
    dry_run: bool = False,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Components from GeoJSON, Shapefile, GeoPackage, KML or CSV (WKT), in any supported CRS."""
    with progress("reading") as phase:
        frame = read_frame(path, layer)
        phase.update(len(frame))
    if code_field not in frame.columns:
        raise InvalidInput(
            f"no field {code_field!r}",
            field="code_field",
            allowed=[c for c in frame.columns if c != frame.geometry.name],
        )
    crs_obj = resolve_crs(frame, crs)
    props = frame.drop(columns=frame.geometry.name).to_dict("records")
    rows = []
    for i, (rec, geom) in enumerate(zip(props, frame.geometry.to_numpy(), strict=True)):
        rows.append((i + 1, (rec, geom)))

    def write(conn, item):
        rec, geom = item
        for name, value in rec.items():
            check_json(value, name)
        if geom is None or shapely.is_empty(geom):
            raise InvalidInput("empty or missing geometry", field="geometry")
        units = {f: (str(rec[f]) if rec.get(f) not in (None, "") else None) for f in COMPONENT_UNIT_FIELDS}
        extra = {k: v for k, v in rec.items() if k not in (code_field, "name", "state", *COMPONENT_UNIT_FIELDS)}
        components.create_component(
            conn,
            code=str(rec[code_field]),
            geometry=shapely.geometry.mapping(geom),
            crs=str(crs_obj),
            name=str(rec.get("name") or ""),
            state=str(rec.get("state") or "normal"),
            attrs=json.loads(json.dumps(extra, default=str)),
            **units,
        )

    return _run(engine, str(path), "components", rows, write, dry_run, progress)
