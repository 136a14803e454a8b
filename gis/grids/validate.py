"""Hierarchy validation: children outside parents, sibling overlaps, gaps, orphans, code mismatches."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.grids.hierarchy import LEVEL_NAMES
from gis.progress import Progress, quiet
from gis.statements import named

#: Precision grid of the validation overlays, in degrees (about 1 cm).
OVERLAY_GRID_DEG = 1e-7
KINDS = ("outside", "overlap", "gap", "orphan", "code_mismatch")
MESSAGES = {
    "outside": "{code} extends {area:.0f} m² outside its parent {other}",
    "overlap": "{code} and {other} overlap by {area:.0f} m²",
    "gap": "{area:.0f} m² of {code} is covered by none of its children",
    "orphan": "{code} has no parent {other}",
    "code_mismatch": "{code} lies mostly in {other}, not in the parent its code names",
}


def validate(
    conn: Connection,
    *,
    levels: list[int] | None = None,
    at: datetime | None = None,
    tolerance_m: float = 10.0,
    min_area_m2: float = 1.0,
    min_width_m: float = 0.1,
    kinds: tuple[str, ...] = KINDS,
    codes: list[str] | None = None,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Run the checks; each finding carries its geometry as GeoJSON. ``codes``: only the findings
    about these grids (a child outside, or an overlap, where one side is among them). ``progress``
    gets a phase per kind of check, over the grids checked."""
    params = {
        "levels": levels or [1, 2, 3, 4],
        "at": at or datetime.now(UTC),
        "tol": tolerance_m,
        "min_area": min_area_m2,
        "grid": OVERLAY_GRID_DEG,
        "min_width": min_width_m,
        "codes": codes,
    }
    findings: list[dict[str, Any]] = []
    grids = None
    if progress is not quiet:
        grids = conn.execute(
            text(
                "SELECT count(*) FROM grid g WHERE g.level = ANY(:levels) AND wangge_valid(g.valid_from, g.valid_to, :at)"
            ),
            params,
        ).scalar_one()
    for kind in kinds:
        with progress(kind, grids) as phase:
            rows = conn.execute(text(named("validate")[kind]), params).mappings().all()
            phase.update(grids)
        for row in rows:
            area = row["area_m2"]
            findings.append(
                {
                    "kind": kind,
                    "level": LEVEL_NAMES[row["level"]],
                    "code": row["code"],
                    "other_code": row["other_code"],
                    "area_m2": None if area is None else round(float(area), 1),
                    "message": MESSAGES[kind].format(code=row["code"], other=row["other_code"], area=area or 0),
                    "geometry": json.loads(row["geometry"]) if row["geometry"] else None,
                }
            )
    counts = {k: sum(1 for f in findings if f["kind"] == k) for k in kinds}
    return {
        "ok": not findings,
        "counts": counts,
        "findings": findings,
        "tolerance_m": tolerance_m,
        "min_area_m2": min_area_m2,
        "min_width_m": min_width_m,
    }
