"""Synthetic case points for the benchmarks: clustered like real cases, over three years."""

from __future__ import annotations

import io
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from sqlalchemy import text


def city_outline(conn) -> shapely.Geometry:
    wkb = conn.execute(
        text("SELECT ST_AsBinary(ST_Union(geom)) FROM grid WHERE level = 1 AND valid_to IS NULL")
    ).scalar_one()
    return shapely.from_wkb(bytes(wkb))


def clustered_points(outline: shapely.Geometry, n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """80% of points around 3,000 hot spots (σ ≈ 1 km), 20% spread over the city."""
    rng = np.random.default_rng(seed)
    shapely.prepare(outline)
    minx, miny, maxx, maxy = outline.bounds

    def inside(k: int) -> np.ndarray:
        out = np.empty((0, 2))
        while len(out) < k:
            c = rng.uniform((minx, miny), (maxx, maxy), size=(2 * k, 2))
            out = np.vstack([out, c[shapely.contains_xy(outline, c[:, 0], c[:, 1])]])
        return out[:k]

    centres = inside(3000)
    weights = rng.pareto(1.5, 3000) + 1
    n_hot = int(n * 0.8)
    which = rng.choice(3000, size=n_hot, p=weights / weights.sum())
    hot = centres[which] + rng.normal(0, 0.01, size=(n_hot, 2))
    pts = np.vstack([hot, inside(n - n_hot)])
    rng.shuffle(pts)  # time order, not space order
    return pts[:, 0], pts[:, 1]


def load_cases(conn, table: str, x: np.ndarray, y: np.ndarray) -> float:
    """COPY points into ``table (id, reported_at, geom)`` in time order, with a GiST index."""
    t0 = time.perf_counter()
    n = len(x)
    start = np.datetime64("2022-01-01T00:00:00")
    secs = np.sort(np.random.default_rng(3).integers(0, 3 * 365 * 86400, n))
    conn.execute(text(f"DROP TABLE IF EXISTS {table}, {table}_raw"))
    conn.execute(text(f"CREATE UNLOGGED TABLE {table}_raw (id bigint, reported_at timestamp, x float8, y float8)"))
    buf = io.BytesIO()
    pacsv.write_csv(
        pa.table({"id": np.arange(n), "t": (start + secs.astype("timedelta64[s]")), "x": x, "y": y}),
        buf,
        pacsv.WriteOptions(include_header=False),
    )
    buf.seek(0)
    conn.connection.cursor().copy_expert(f"COPY {table}_raw FROM STDIN WITH (FORMAT csv)", buf)
    conn.execute(
        text(
            f"CREATE TABLE {table} AS SELECT id, reported_at,"
            f" ST_SetSRID(ST_MakePoint(x, y), 4490)::geometry(Point, 4490) AS geom FROM {table}_raw ORDER BY id"
        )
    )
    conn.execute(text(f"DROP TABLE {table}_raw"))
    conn.execute(text(f"CREATE INDEX {table}_geom ON {table} USING gist (geom)"))
    conn.execute(text(f"ANALYZE {table}"))
    return time.perf_counter() - t0
