"""A printable A4 report of the hot spots of a season (or a year) and a region: the map of the
bins, the ten hottest grids with their counts and trends, the seasonal profile. Drawn as SVG on
the server (PostGIS's ``ST_AsSVG``), so it prints the same from any browser and needs no script."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.analytics import cache, counts, hotspots
from gis.analytics.emerging import mann_kendall

#: ArcGIS's colours of the bins −3…3
COLOURS = {-3: "#4575b5", -2: "#849eba", -1: "#c0ccbe", 0: "#ffffbf", 1: "#fab984", 2: "#ed7551", 3: "#d62f27"}
NAMES = {-3: "冷点 99%", -2: "冷点 95%", -1: "冷点 90%", 0: "不显著", 1: "热点 90%", 2: "热点 95%", 3: "热点 99%"}

# the grids as SVG paths (x = lon, y = −lat), simplified to about a thousandth of the extent
_SHAPES = """WITH g AS (SELECT id, geom FROM unnest(CAST(:ids AS bigint[])) AS u(id) JOIN grid USING (id)),
box AS (SELECT ST_Extent(geom) AS b FROM g)
SELECT g.id, ST_AsSVG(ST_SimplifyPreserveTopology(g.geom, greatest(ST_XMax(b) - ST_XMin(b), ST_YMax(b) - ST_YMin(b)) / 1000), 0, 6),
       ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b)
FROM g, box"""


def report(
    conn: Connection,
    *,
    level: str,
    since: datetime,
    until: datetime,
    months: list[int] | None = None,
    class_code: str | None = None,
    region: str | None = None,
    fdr: bool = True,
    who: Principal | None = None,
) -> dict[str, Any]:
    """What the A4 page shows: the bins as SVG paths with the view box, the ten hottest grids
    (by Gi* z) with their counts, bins and the Mann-Kendall trend of their monthly counts, the
    profile by month of the year, and the counts per bin."""
    kw = {"since": since, "until": until, "months": months, "class_code": class_code, "region": region}
    # the same key as the API's: the page's analysis, just viewed, is not computed again
    key = ("hotspots", level, fdr, cache.frozen({**kw, "channel": None, "state": None}), cache.reach_key(who))
    found = cache.results.get(conn, key, lambda: hotspots.hotspots(conn, level=level, fdr=fdr, who=who, **kw))
    ids = [g["id"] for g in found["grids"]]
    paths, box = {}, None
    for gid, svg, x0, y0, x1, y1 in conn.execute(text(_SHAPES), {"ids": ids}).all() if ids else []:
        paths[gid] = svg
        box = (x0, y0, x1, y1)
    shapes = [
        {"d": paths[g["id"]], "fill": COLOURS[g["gi_bin"]], "code": g["code"]}
        for g in found["grids"]
        if g["id"] in paths
    ]
    view = None
    if box:
        x0, y0, x1, y1 = box
        pad = max(x1 - x0, y1 - y0) * 0.02
        view = f"{x0 - pad} {-y1 - pad} {x1 - x0 + 2 * pad} {y1 - y0 + 2 * pad}"
    top = sorted(found["grids"], key=lambda g: -g["gi_z"])[:10]
    for g in top:
        series = counts.series(conn, step="month", since=since, until=until, who=who, months=months,
                               class_code=class_code, channel=None, state=None, region=g["code"])  # fmt: skip
        tau, _, p = mann_kendall([s["count"] for s in series])
        g["trend"] = "上升" if p < 0.05 and tau > 0 else "下降" if p < 0.05 and tau < 0 else "无显著趋势"
        g["trend_tau"] = round(tau, 2)
    profile = counts.profile(conn, by="month", since=since, until=until, who=who, months=months,
                             class_code=class_code, channel=None, state=None, region=region)  # fmt: skip
    peak = max((p["count"] for p in profile), default=0) or 1
    return {
        "level": level, "region": region, "from": since, "to": until, "months": months, "fdr": fdr,
        "total": found["total"], "grids": len(found["grids"]), "view": view, "shapes": shapes, "top": top,
        "profile": [{**p, "height": round(100 * p["count"] / peak, 1)} for p in profile],
        "bins": [{"bin": b, "name": NAMES[b], "colour": COLOURS[b], "n": found["bins"][str(b)]} for b in range(3, -4, -1)],
        "boundaries_at": found["boundaries_at"],
    }  # fmt: skip
