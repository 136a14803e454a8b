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
from gis.analytics.relocate import apply, relocated
from gis.cases.counts import count
from gis.errors import InvalidInput
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


#: the permutations allowed: with 999 the smallest pseudo p-value is 1/1000, and after FDR over
#: 30,000 grids a grid at that floor passes at 95 % only when 600 or more share it, too coarse a
#: resolution (the issue's rule: 9,999 or more); at most 29,999 (30,000 grids: about 35 s of CPU)
MIN_PERMUTATIONS, MAX_PERMUTATIONS = 9_999, 29_999


def pseudo_p(
    x: np.ndarray, i: np.ndarray, j: np.ndarray, permutations: int, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional permutation inference for Gi* (as PySAL's ``esda.G_Local(star=True)`` and
    ArcGIS): each cell keeps its own value while the other n − 1 values are drawn, without
    replacement, into its k neighbour slots, ``permutations`` times; one set of draws is shared by
    all cells (esda's trick). With G the draws at least the observed neighbour sum and L those at
    most it (ties in both), the pseudo p-value is (1 + min(G, L)) / (permutations + 1) and the side
    +1 when G < L (a high value), −1 when L < G, 0 when equal. Counting ties on both sides matters
    for counts: a rural grid whose neighbours all have none ties with most draws and is not
    significant (counting only the draws strictly below it would call it a 99 % cold spot). A
    cell with no neighbour gets p = 1."""
    x = np.asarray(x, dtype=float)
    n = len(x)
    k = np.bincount(i, minlength=n)
    observed = np.zeros(n)
    np.add.at(observed, i, x[j])
    kmax = int(k.max()) if n else 0
    if kmax > n - 1:
        raise ValueError("a cell has more neighbour slots than there are other cells (repeated pairs?)")
    rng = np.random.default_rng(seed)
    if n - 1 <= 4 * kmax:  # a small lattice: shuffle the n − 1 others each time
        draws = rng.permuted(np.tile(np.arange(n - 1), (permutations, 1)), axis=1)[:, :kmax]
    else:  # redraw the rows that repeat an index (rare when kmax is small beside n)
        draws = rng.integers(0, n - 1, size=(permutations, kmax))
        while kmax > 1:
            ordered = np.sort(draws, axis=1)
            bad = np.nonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))[0]
            if not len(bad):
                break
            draws[bad] = rng.integers(0, n - 1, size=(len(bad), kmax))
    ge = np.full(n, float(permutations))
    le = np.full(n, float(permutations))
    for size in np.unique(k):
        if size == 0:
            continue
        cells = np.nonzero(k == size)[0]
        d = draws[:, :size]
        chunk = max(1, int(64e6 // (permutations * size * 8)))  # (about 64 MB of draws at a time)
        for start in range(0, len(cells), chunk):
            c = cells[start : start + chunk]
            picked = d[None, :, :] + (d[None, :, :] >= c[:, None, None])  # skip the cell itself
            sums = x[picked].sum(axis=2)
            ge[c] = (sums >= observed[c, None]).sum(axis=1)
            le[c] = (sums <= observed[c, None]).sum(axis=1)
    p = (np.minimum(ge, le) + 1) / (permutations + 1)
    p[k == 0] = 1.0
    return np.minimum(p, 1.0), np.sign(le - ge).astype(int)


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
    permutations: int = 0,
    seed: int | None = None,
    who: Principal | None = None,
) -> dict[str, Any]:
    """Gi* per grid of ``level``: ``count``, ``gi_z``, ``gi_p``, ``gi_bin``, ``neighbours`` (and its
    label point, ``lon``/``lat``); and
    which lattice was used (the grids in force at the period's end), the islands given their
    nearest grid, and the counts per bin."""
    n_level = level_number(level)
    if region:
        check_area(region, "region")
    if permutations and not MIN_PERMUTATIONS <= permutations <= MAX_PERMUTATIONS:
        raise InvalidInput(
            f"permutations: 0 for the analytic p-value, or {MIN_PERMUTATIONS} to {MAX_PERMUTATIONS}",
            field="permutations", allowed=f"0 or {MIN_PERMUTATIONS}-{MAX_PERMUTATIONS}",
        )  # fmt: skip
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
        # (two islands each other's nearest would give their pair twice)
        i, j = np.unique(np.column_stack([i, j]), axis=0).T if len(i) else (i, j)
    found = count(
        conn, by=str(CODE_LENGTH[n_level]), periods=[(since, until)], months=months, class_code=class_code,
        channel=channel, state=state, region=region, who=who,
    )[0]  # fmt: skip
    moved = relocated(
        conn, level=n_level, at=at, since=since, until=until, who=who, months=months, class_code=class_code,
        channel=channel, state=state, grid=region,
    )  # fmt: skip
    apply(found, moved["moves"])
    x = np.array([found.get(row[1], 0) for row in lattice], dtype=float)
    z = gi_star(x, i, j) if len(ids) > 1 else np.zeros(len(ids))
    if permutations and len(ids) > 1:
        p, side = pseudo_p(x, i, j, permutations, seed)
        b = bins(side.astype(float), p, fdr)
    else:
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
        "inference": f"{permutations} permutations" if permutations else "analytic", "boundaries_at": at, "total": int(x.sum()), "grids": grids,
        "reassigned": {k: moved[k] for k in ("from", "cases", "unplaced")},
        "islands": [{"code": by_code[a], "nearest": by_code.get(b)} for a, b in nearest.items()],
        "bins": {str(k): int((b == k).sum()) for k in range(-3, 4)},
    }  # fmt: skip
