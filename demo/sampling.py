"""Random points inside a polygon, for the demo's synthetic boundaries and cases."""

from __future__ import annotations

import numpy as np
import shapely


def sample_inside(geom: shapely.Geometry, n: int, rng: np.random.Generator) -> np.ndarray:
    minx, miny, maxx, maxy = geom.bounds
    shapely.prepare(geom)
    pts = np.empty((0, 2))
    while len(pts) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(max(4 * n, 64), 2))
        keep = shapely.contains_xy(geom, cand[:, 0], cand[:, 1])
        pts = np.vstack([pts, cand[keep]])
    return pts[:n]
