"""Who is responsible here: for a point, the responsible unit of every event class, as the intake
would dispatch a case of that class there now (the same rule, :func:`gis.cases.intake.assignment`,
once per class), for a hotline operator before dispatching."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.cases.intake import assignment
from gis.grids.lookup import to_storage_points


def responsible_here(
    conn: Connection, lon: float, lat: float, *, crs: str = "EPSG:4490", at: datetime | None = None
) -> dict[str, Any]:
    """The grid chain of the point and, per event class, the unit a case there would go to and why."""
    at = at or datetime.now(UTC)
    xs, ys = to_storage_points([lon], [lat], crs)
    x, y = float(xs[0]), float(ys[0])
    units = dict(conn.execute(text("SELECT code, name FROM resp_unit")).all())
    classes = conn.execute(text("SELECT code, major_name, minor_name FROM event_class ORDER BY code")).all()
    chain, out = None, []
    for code, major, minor in classes:
        found = assignment(conn, x, y, at, code, None)
        chain = found["chain"]
        unit = found["resp_unit"]
        out.append(
            {
                "class": code,
                "major_name": major,
                "minor_name": minor,
                "resp_unit": unit,
                "unit_name": units.get(unit),
                "why": found["why"].get("message", ""),
                "reason": {k: v for k, v in found["why"].items() if k != "warnings"},
            }
        )
    return {"chain": chain or dict.fromkeys(("district", "street", "community", "unit_grid")), "classes": out}
