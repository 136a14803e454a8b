"""Emerging hot spots: space-time Gi* per grid and step, the Mann-Kendall trend of each grid's
z-scores and counts, and ArcGIS's 17 categories (8 hot, 8 cold, no pattern).

Steps are months, quarters or years, or the same season across years (``seasonal``: the summers
of 2019-2026 as eight steps). Space-time neighbours of a grid at a step are its queen neighbours
and itself at that step and at the ``k`` steps before it (ArcGIS's neighbourhood time step).
Each rule, as ArcGIS Pro's Emerging Hot Spot Analysis publishes it, is in ``docs/analytics.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis.access.principal import Principal
from gis.analytics.counts import SEASONS, lattice, level_number
from gis.analytics.hotspots import _PAIRS, bins, p_two_sided
from gis.analytics.relocate import apply, relocated
from gis.cases.counts import CHINA, count, month_number, month_start
from gis.errors import InvalidInput
from gis.grids.hierarchy import CODE_LENGTH, check_area

STEPS = {"month": 1, "quarter": 3, "year": 12}
#: a trend is significant below this two-sided Mann-Kendall p-value
TREND_P = 0.05
#: "90 % of the steps"
MOST = 0.9
HOT = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating", "historical")
CATEGORIES = (*(f"{c}_hot" for c in HOT), *(f"{c}_cold" for c in HOT), "no_pattern")


def mann_kendall(series: Sequence[float]) -> tuple[float, float, float]:
    """Kendall's tau, the normal-approximation z with continuity correction and its two-sided p
    (ties corrected): the trend test of ArcGIS's emerging hot spots."""
    x = np.asarray(series, dtype=float)
    n = len(x)
    if n < 3:
        return 0.0, 0.0, 1.0
    diff = np.sign(x[None, :] - x[:, None])
    s = float(np.triu(diff, 1).sum())
    _, ties = np.unique(x, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - float((ties * (ties - 1) * (2 * ties + 5)).sum())) / 18.0
    z = 0.0 if var <= 0 or s == 0 else (s - math.copysign(1.0, s)) / math.sqrt(var)
    tau = s / (n * (n - 1) / 2)
    return tau, z, math.erfc(abs(z) / math.sqrt(2.0))


def category(bins_: Sequence[int], z: Sequence[float]) -> str:
    """The category of one grid from its bins (−3…3, significant when non-zero) and z-scores over
    the steps, oldest first (``docs/analytics.md`` states each rule)."""
    b = np.sign(np.asarray(bins_, dtype=int))
    for sign, kind in ((1, "hot"), (-1, "cold")):
        found = _one_side(b, sign, np.asarray(z, dtype=float) * sign)
        if found:
            return f"{found}_{kind}"
    return "no_pattern"


def _one_side(b: np.ndarray, sign: int, z: np.ndarray) -> str | None:
    n = len(b)
    this = b == sign  # significant on this side (hot, or cold)
    other = b == -sign
    share = this.mean() if n else 0.0
    last = bool(this[-1]) if n else False
    if not last:
        return "historical" if share >= MOST else None
    if share >= MOST:
        tau, _, p = mann_kendall(z)
        if p < TREND_P and tau > 0:
            return "intensifying"
        if p < TREND_P and tau < 0:
            return "diminishing"
        return "persistent"
    if this.sum() == 1:
        return "new"
    # the final run of this side, and what came before it
    run = 0
    while run < n and this[n - 1 - run]:
        run += 1
    before = this[: n - run]
    if run >= 2 and not before.any():
        return "consecutive"
    if other.any():
        return "oscillating"
    return "sporadic"


def steps_of(step: str, since: datetime, until: datetime, season: str | None = None) -> list[tuple[str, list[int]]]:
    """The steps of the period as (label, month numbers): months, quarters or years from
    ``since`` (a month's start) to ``until``; or with ``season`` the season of each year (a winter
    in the year of its January)."""
    m0, m1 = month_number(since), month_number(until)
    if season is not None:
        if season not in SEASONS:
            raise InvalidInput(f"unknown season {season!r}", field="season", allowed=list(SEASONS))
        out = []
        for year in range(since.astimezone(CHINA).year, until.astimezone(CHINA).year + 1):
            months = [(year - (m == 12 and season == "winter")) * 12 + m - 1 for m in SEASONS[season]]
            if months[0] >= m0 and months[-1] < m1:
                out.append((f"{year}-{season}", months))
        return out
    if step not in STEPS:
        raise InvalidInput(f"unknown step {step!r}", field="step", allowed=[*STEPS, "season"])
    size = STEPS[step]
    out = []
    for start in range(m0, m1, size):
        months = list(range(start, min(start + size, m1)))
        if len(months) == size:
            y, m = divmod(start, 12)
            label = {"month": f"{y}-{m + 1:02d}", "quarter": f"{y}-Q{m // 3 + 1}", "year": f"{y}"}[step]
            out.append((label, months))
    return out


def space_time_gi(x: np.ndarray, i: np.ndarray, j: np.ndarray, k: int = 1) -> np.ndarray:
    """Gi* z-scores of a (steps × grids) array: each cell's neighbourhood is its spatial
    neighbours and itself at its step and at the ``k`` steps before (fewer at the start)."""
    t, n = x.shape
    spatial = x.copy()
    np.add.at(spatial.T, i, x.T[j])  # each step's sum over self and spatial neighbours
    size = np.ones(n)
    np.add.at(size, i, 1.0)
    lag = np.zeros_like(x)
    w = np.zeros_like(x)
    for s in range(t):
        lo = max(0, s - k)
        lag[s] = spatial[lo : s + 1].sum(axis=0)
        w[s] = size * (s + 1 - lo)
    total = x.size
    mean = x.mean()
    sd = math.sqrt(max((x * x).mean() - mean * mean, 0.0))
    var = (total * w - w * w) / (total - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (lag - mean * w) / (sd * np.sqrt(var))
    return np.where(np.isfinite(z), z, 0.0)


def emerging(
    conn: Connection,
    *,
    level: str,
    since: datetime,
    until: datetime,
    step: str = "month",
    season: str | None = None,
    k: int = 1,
    class_code: str | None = None,
    channel: str | None = None,
    region: str | None = None,
    fdr: bool = True,
    who: Principal | None = None,
) -> dict[str, Any]:
    """Per grid of ``level`` (in force at the period's end): ``category``, the Mann-Kendall trend
    of its Gi* z-scores (``trend_tau``, ``trend_p``) and of its counts (``count_tau``,
    ``count_p``), and its series (``counts``, ``z``, ``bins`` per step)."""
    n_level = level_number(level)
    if region:
        check_area(region, "region")
    if not 0 <= k <= 12:
        raise InvalidInput("k is 0 to 12 steps", field="k", allowed="0-12")
    steps = steps_of(step, since, until, season)
    if len(steps) < 2:
        raise InvalidInput("the period holds fewer than two whole steps", field="from")
    where, params = lattice(n_level, region, until, who)
    grids = conn.execute(text(f"SELECT g.id, g.code, g.name FROM grid g WHERE {where} ORDER BY g.code"), params).all()
    ids = [g[0] for g in grids]
    index = {gid: c for c, gid in enumerate(ids)}
    pairs = conn.execute(text(_PAIRS), {"ids": ids}).all() if ids else []
    i = np.array([index[a] for a, _ in pairs], dtype=int)
    j = np.array([index[b] for _, b in pairs], dtype=int)
    x = _counts(conn, n_level, steps, [g[1] for g in grids], class_code, channel, region, who)
    moved = relocated(
        conn, level=n_level, at=params["at"], since=since, until=until, by_month=True, who=who,
        class_code=class_code, channel=channel, grid=region,
    )  # fmt: skip
    step_of = {m: s for s, (_, ms) in enumerate(steps) for m in ms}
    col = {g[1]: c for c, g in enumerate(grids)}
    delta: dict = {}
    apply(delta, moved["moves"])  # (taken from the stored grid, given where it lies)
    for (code, month), n in delta.items():
        if code in col and month in step_of:
            x[step_of[month], col[code]] += n
    z = space_time_gi(x, i, j, k) if len(ids) > 1 else np.zeros_like(x)
    p = p_two_sided(z.ravel()).reshape(z.shape)
    b = bins(z.ravel(), p.ravel(), fdr).reshape(z.shape)
    rows = []
    for c, (_, code, name) in enumerate(grids):
        tau, _, tp = mann_kendall(z[:, c])
        ctau, _, cp = mann_kendall(x[:, c])
        rows.append({
            "code": code, "name": name, "category": category(b[:, c], z[:, c]),
            "trend_tau": round(tau, 4), "trend_p": float(f"{tp:.6g}"), "count_tau": round(ctau, 4),
            "count_p": float(f"{cp:.6g}"), "counts": [int(v) for v in x[:, c]], "z": [round(float(v), 4) for v in z[:, c]],
            "bins": [int(v) for v in b[:, c]],
        })  # fmt: skip
    summary = {cat: 0 for cat in CATEGORIES}
    for r in rows:
        summary[r["category"]] += 1
    return {
        "level": level, "region": region, "from": since, "to": until, "step": "season" if season else step, "season": season, "k": k, "fdr": fdr,
        "steps": [label for label, _ in steps], "categories": summary, "grids": rows,
        "boundaries_at": params["at"], "reassigned": {k: moved[k] for k in ("from", "cases", "unplaced")},
    }  # fmt: skip


def _counts(conn, level, steps, codes, class_code, channel, region, who) -> np.ndarray:
    """Cases per step (rows) and grid (columns): each whole month one period of the kept counts
    (:func:`gis.cases.counts.count`, one statement for all of them), added into its step."""
    months = sorted({m for _, ms in steps for m in ms})
    per_month = count(
        conn, by=str(CODE_LENGTH[level]), periods=[(month_start(m), month_start(m + 1)) for m in months],
        class_code=class_code, channel=channel, region=region, who=who,
    )  # fmt: skip
    step_of = {m: s for s, (_, ms) in enumerate(steps) for m in ms}
    col = {code: c for c, code in enumerate(codes)}
    x = np.zeros((len(steps), len(codes)))
    for month, found in zip(months, per_month, strict=True):
        for code, n in found.items():
            if code in col:
                x[step_of[month], col[code]] += n
    return x
