"""Hot and cold spots of case counts: Getis-Ord Gi* on the grid lattice, with FDR.

The lattice is the grids of one level in force at the end of the period (inside the region and
the caller's reach); the weights are binary queen contiguity stored with the boundary versions
(:mod:`gis.grids.neighbours`), each grid its own neighbour too (Gi*, not Gi). A grid with no
neighbour gets its nearest grid and is reported. The z-score is the analytic one (Getis and Ord
1992, Ord and Getis 1995, as ArcGIS Pro's Hot Spot Analysis and PySAL's ``esda.G_Local(star=True)``
``Zs``), the p-value two-sided from the normal distribution. ``gi_bin`` is −3…3 as ArcGIS: hot
(positive) or cold at 99, 95 or 90 % confidence, 0 not significant; with ``fdr`` (the default) each
confidence level's threshold is corrected for the number of tests by Benjamini-Hochberg, as ArcGIS
does. Written with numpy (a sparse lag over the stored pairs): esda would add scipy and
scikit-learn for the same arithmetic, which ``tests/test_hotspots.py`` pins on a lattice computed
by hand.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.analytics.counts import lattice as lattice_condition
from gis.analytics.counts import level_number
from gis.cases.counts import count
from gis.grids.hierarchy import CODE_LENGTH, check_area

#: confidence levels of the bins: bin 3 at 99 %, 2 at 95 %, 1 at 90 %
LEVELS = ((3, 0.01), (2, 0.05), (1, 0.10))


def gi_star(x: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Gi* z-scores of the values ``x`` with binary weights: the pairs ``(i[k], j[k])`` (each
    pair in both directions) plus every cell itself.

    z_i = (Σ_j w_ij x_j − x̄ W_i) / (S √((n W_i − W_i²) / (n − 1))), W_i = Σ_j w_ij (binary: Σ w² = W),
    x̄ the mean and S = √(Σ x² / n − x̄²) over all n cells.
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    lag = x.copy()
    np.add.at(lag, i, x[j])
    w = np.ones(n)
    np.add.at(w, i, 1.0)
    mean = x.mean()
    s = math.sqrt(max((x * x).mean() - mean * mean, 0.0))
    var = (n * w - w * w) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * w) / (s * np.sqrt(var))
    return np.where(np.isfinite(z), z, 0.0)


def p_two_sided(z: np.ndarray) -> np.ndarray:
    erfc = np.vectorize(math.erfc, otypes=[float])
    return erfc(np.abs(z) / math.sqrt(2.0))


def bins(z: np.ndarray, p: np.ndarray, fdr: bool = True) -> np.ndarray:
    """−3…3 as ArcGIS: the highest confidence level whose (FDR-corrected) threshold the p-value
    passes, signed by z."""
    out = np.zeros(len(z), dtype=int)
    for level, alpha in sorted(LEVELS):  # 90 %, then 95 %, then 99 % overwrite
        cut = _bh_threshold(p, alpha) if fdr else alpha
        hit = p <= cut if fdr else p < alpha
        out[hit] = level
    return out * np.sign(z).astype(int)


def _bh_threshold(p: np.ndarray, alpha: float) -> float:
    """Benjamini-Hochberg: the largest p_(k) with p_(k) ≤ k α / m (−1 when none)."""
    m = len(p)
    ordered = np.sort(p)
    ok = np.nonzero(ordered <= alpha * np.arange(1, m + 1) / m)[0]
    return float(ordered[ok[-1]]) if len(ok) else -1.0


_LATTICE = """SELECT g.id, g.code, g.name, ST_X(g.label), ST_Y(g.label) FROM grid g WHERE {where} ORDER BY g.code"""
# (the ids as a joined set: ``= ANY`` over 30,000 bound ids costs 5 s here, the join 60 ms)
_PAIRS = """WITH lattice AS (SELECT unnest(CAST(:ids AS bigint[])) AS id)
SELECT n.grid_id, n.neighbour_id FROM grid_neighbour n
JOIN lattice a ON a.id = n.grid_id JOIN lattice b ON b.id = n.neighbour_id"""
# a grid with no neighbour in the lattice: its nearest one there
_NEAREST = """SELECT i.id, (SELECT o.id FROM grid o WHERE o.id = ANY(:ids) AND o.id <> i.id
                          ORDER BY o.geom <-> i.geom LIMIT 1)
FROM grid i WHERE i.id = ANY(:islands)"""


def hotspots(
    conn: Connection,
    *,
    level: str,
    since: datetime,
    until: datetime,
    months: list[int] | None = None,
    class_code: str | None = None,
    channel: str | None = None,
    state: str | None = None,
    region: str | None = None,
    fdr: bool = True,
    who: Principal | None = None,
) -> dict[str, Any]:
    """Gi* per grid of ``level``: ``count``, ``gi_z``, ``gi_p``, ``gi_bin``, ``neighbours`` (and its
    label point, ``lon``/``lat``); and
    which lattice was used (the grids in force at the period's end), the islands given their
    nearest grid, and the counts per bin."""
    n_level = level_number(level)
    if region:
        check_area(region, "region")
    where, params = lattice_condition(n_level, region, until, who)
    at = params["at"]
    lattice = conn.execute(text(_LATTICE.format(where=where)), params).all()
    ids = [r[0] for r in lattice]
    index = {gid: k for k, gid in enumerate(ids)}
    pairs = conn.execute(text(_PAIRS), {"ids": ids}).all() if ids else []
    i = np.array([index[a] for a, _ in pairs], dtype=int)
    j = np.array([index[b] for _, b in pairs], dtype=int)
    degree = np.bincount(i, minlength=len(ids)) if len(ids) else np.zeros(0, dtype=int)
    islands = [ids[k] for k in np.nonzero(degree == 0)[0]] if len(ids) > 1 else []
    nearest = dict(conn.execute(text(_NEAREST), {"ids": ids, "islands": islands}).all()) if islands else {}
    if nearest:
        extra = [(index[a], index[b]) for a, b in nearest.items() if b is not None]
        i = np.concatenate([i, [a for a, _ in extra], [b for _, b in extra]]).astype(int)
        j = np.concatenate([j, [b for _, b in extra], [a for a, _ in extra]]).astype(int)
    found = count(
        conn, by=str(CODE_LENGTH[n_level]), periods=[(since, until)], months=months, class_code=class_code,
        channel=channel, state=state, region=region, who=who,
    )[0]  # fmt: skip
    x = np.array([found.get(row[1], 0) for row in lattice], dtype=float)
    z = gi_star(x, i, j) if len(ids) > 1 else np.zeros(len(ids))
    p = p_two_sided(z)
    b = bins(z, p, fdr)
    neighbours = np.bincount(i, minlength=len(ids)) if len(ids) else np.zeros(0, dtype=int)
    grids = [
        {
            "id": gid,
            "code": code,
            "name": name,
            "count": int(x[k]),
            "gi_z": round(float(z[k]), 4),
            "gi_p": float(f"{p[k]:.6g}"),
            "gi_bin": int(b[k]),
            "neighbours": int(neighbours[k]),
            "lon": round(lon, 7),
            "lat": round(lat, 7),
        }
        for k, (gid, code, name, lon, lat) in enumerate(lattice)
    ]
    by_code = {row[0]: row[1] for row in lattice}
    return {
        "level": level, "region": region, "from": since, "to": until, "months": months, "fdr": fdr,
        "boundaries_at": at, "total": int(x.sum()), "grids": grids,
        "islands": [{"code": by_code[a], "nearest": by_code.get(b)} for a, b in nearest.items()],
        "bins": {str(k): int((b == k).sum()) for k in range(-3, 4)},
    }  # fmt: skip


def as_geojson(conn: Connection, result: dict[str, Any]) -> dict[str, Any]:
    """The answer as a GeoJSON FeatureCollection (the grids' boundaries in force at the end)."""
    ids = [g["id"] for g in result["grids"]]
    shapes = dict(
        conn.execute(
            text(
                "SELECT g.id, ST_AsGeoJSON(g.geom, 7)::json FROM unnest(CAST(:ids AS bigint[])) AS u(id) "
                "JOIN grid g ON g.id = u.id"
            ),
            {"ids": ids},
        ).all()
    )
    features = [
        {
            "type": "Feature",
            "id": g["code"],
            "geometry": shapes.get(g["id"]),
            "properties": {k: v for k, v in g.items() if k != "id"},
        }  # fmt: skip
        for g in result["grids"]
    ]
    meta = {k: v for k, v in result.items() if k != "grids"}
    return {"type": "FeatureCollection", "features": features, **meta}


def frame(collection: dict[str, Any]):
    """The GeoJSON answer as a GeoDataFrame in CGCS2000 (EPSG:4490), for a GeoPackage: the grids'
    properties as columns, the period and the lattice's date as each row's too."""
    import geopandas as gpd
    import shapely

    rows = [f["properties"] for f in collection["features"]]
    shapes = [shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in collection["features"]]
    out = gpd.GeoDataFrame(rows, geometry=shapes, crs="EPSG:4490")
    for key in ("from", "to", "boundaries_at"):
        out[key] = str(collection.get(key))
    return out
