"""Every path to the point-in-grid rule (single and batch lookup, the intake's assignment, the bulk
assignment of a table and of a CSV, the per-point rule for points in no unit grid, the GPS ingest)
gives the same chain, on grids of more than 128 vertices, which the lookup pieces cut
(``ST_Subdivide``): a point on a cut line is inside its grid, never "on the boundary"."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import text

from gis.cases import intake
from gis.grids.bulk import assign_codes
from gis.grids.lookup import lookup_points
from gis.tracks import ingest, workers
from tests.helpers import STEP, X0, Y0, dense_square_city, load_city

PER_EDGE = 40
LEVELS = ("district", "street", "community", "unit_grid")


def _cut_points(conn, level: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The middle of every line along which ``ST_Subdivide`` cut a grid of ``level``, with the grid's code."""
    rows = conn.execute(
        text(
            """SELECT ST_X(m), ST_Y(m), a.code FROM grid_piece a JOIN grid_piece b
                 ON a.grid_id = b.grid_id AND a.id < b.id AND ST_Touches(a.geom, b.geom)
               CROSS JOIN LATERAL ST_LineInterpolatePoint(
                   ST_LineMerge(ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 2)), 0.5) m
               WHERE a.level = :level AND a.valid_to IS NULL
                 AND ST_Dimension(ST_Intersection(a.geom, b.geom)) = 1
                 AND GeometryType(ST_LineMerge(ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 2)))
                     = 'LINESTRING'
               ORDER BY a.code, a.id, b.id"""
        ),
        {"level": level},
    ).all()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), [r[2] for r in rows]


def _edge_points(per_edge: int = PER_EDGE) -> tuple[np.ndarray, np.ndarray]:
    """Every grid corner and points on every shared edge, on the dense city's own vertices."""
    k = np.arange(0, 8 * per_edge + 1, per_edge // 4)
    line = np.arange(9) * per_edge
    fx = X0 + k * STEP / per_edge
    fy = Y0 + k * STEP / per_edge
    vx = X0 + line * STEP / per_edge
    vy = Y0 + line * STEP / per_edge
    on_v = np.array([(x, y) for x in vx for y in fy])
    on_h = np.array([(x, y) for x in fx for y in vy])
    pts = np.vstack([on_v, on_h])
    return pts[:, 0], pts[:, 1]


@pytest.fixture
def dense(db):
    load_city(db, dense_square_city(PER_EDGE))
    with db.connect() as conn:
        pieces = conn.execute(text("SELECT count(*) FROM grid_piece WHERE level = 4")).scalar_one()
    assert pieces > 64, "the unit grids should have been cut into pieces"
    return db


def _chain(r: dict) -> tuple:
    return tuple(r[level]["code"] if r[level] else None for level in LEVELS)


def test_a_point_on_a_cut_line_is_inside_its_grid(dense):
    with dense.connect() as conn:
        x, y, codes = _cut_points(conn, 4)
        assert len(codes) >= 64
        found = lookup_points(conn, x, y)
        edge_m = conn.execute(
            text(
                """SELECT ST_Distance(ST_Boundary(g.geom)::geography, ST_SetSRID(ST_MakePoint(x, y), 4490)::geography)
                   FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:c AS text[])) WITH ORDINALITY t(x, y, c, n)
                   JOIN grid g ON g.code = t.c AND g.valid_to IS NULL ORDER BY n"""
            ),
            {"x": x.tolist(), "y": y.tolist(), "c": codes},
        ).scalars()
        for r, code, d in zip(found, codes, edge_m, strict=True):
            assert r["unit_grid"]["code"] == code
            assert r["on_boundary"] is False, r
            assert d > 50 and r["boundary_distance_m"] == pytest.approx(d, abs=0.01)
            # and the intake's one-statement assignment agrees, with no near-edge warning
            a = intake.assignment(conn, r["lon"], r["lat"], datetime.now(UTC), "0102", None)
            assert tuple(a["chain"].values()) == _chain(r)
            assert a["why"]["warnings"] == []


def test_every_path_gives_the_same_chain(dense):
    with dense.connect() as conn:
        cx, cy, _ = _cut_points(conn, 4)
        ex, ey = _edge_points()
        x, y = np.r_[cx, ex, 100.0], np.r_[cy, ey, 30.0]
        now = datetime.now(UTC)
        single = [_chain(r) for r in lookup_points(conn, x, y, at=now)]
        for xi, yi, expected in zip(x, y, single, strict=True):
            a = intake.assignment(conn, float(xi), float(yi), now, "0102", None)
            assert tuple(a["chain"].values()) == expected, (xi, yi)
    # points on a shared edge or corner get the lowest code of the unit grids touching them
    on_edges = single[len(cx) : -1]
    assert all(c[3] is not None for c in on_edges) and single[-1] == (None, None, None, None)
    with dense.connect() as conn, conn.begin():
        cols = assign_codes(conn, x, y, now)
    assert list(zip(*[c.to_pylist() for c in cols], strict=True)) == single


def test_the_table_assignment_keeps_one_row_per_point(dense):
    from gis.grids.assign import assign_unit_grids

    with dense.connect() as conn, conn.begin():
        cx, cy, codes = _cut_points(conn, 4)
        ex, ey = _edge_points()
        x, y = np.r_[cx, ex], np.r_[cy, ey]
        expected = {i: _chain(r)[3] for i, r in enumerate(lookup_points(conn, x, y))}
        conn.execute(
            text(
                "CREATE TEMP TABLE pts ON COMMIT DROP AS SELECT (n - 1)::int AS id, "
                "ST_SetSRID(ST_MakePoint(x, y), 4490) AS geom "
                "FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) WITH ORDINALITY t(x, y, n)"
            ),
            {"x": x.tolist(), "y": y.tolist()},
        )
        conn.execute(text("CREATE INDEX ON pts USING gist (geom)"))
        stats = assign_unit_grids(conn, "pts", "pts_assigned", with_code=True)
        rows = conn.execute(text("SELECT id, code FROM pts_assigned ORDER BY id")).all()
        conn.execute(text("DROP TABLE pts_assigned"))
    assert [r[0] for r in rows] == sorted(expected), "one row per point"
    assert dict(rows) == expected
    assert stats["assigned"] == len(expected) and stats["on_edges"] == len(x)


def test_points_in_no_unit_grid_get_the_upper_levels_by_the_same_rule(db):
    load_city(db, dense_square_city(PER_EDGE), upto=3)  # communities, no unit grids yet
    with db.connect() as conn:
        cx, cy, codes = _cut_points(conn, 3)
        ex, ey = _edge_points()
        x, y = np.r_[cx, ex], np.r_[cy, ey]
        now = datetime.now(UTC)
        single = [_chain(r) for r in lookup_points(conn, x, y, at=now)]
    assert [c[2] for c in single[: len(codes)]] == codes
    with db.connect() as conn, conn.begin():
        cols = assign_codes(conn, x, y, now)
    assert list(zip(*[c.to_pylist() for c in cols], strict=True)) == single


def test_a_gridworker_on_a_cut_line_is_placed_in_its_grid(dense):
    with dense.begin() as conn:
        x, y, codes = _cut_points(conn, 4)
        workers.create_worker(conn, worker_id="w1", name="网格员")
        res = ingest.ingest(
            conn,
            [
                {
                    "worker_id": "w1",
                    "fix_time": datetime.now(UTC).isoformat(),
                    "lon": x[0],
                    "lat": y[0],
                    "crs": "EPSG:4490",
                }
            ],
        )
        assert res.accepted == 1
        stored = conn.execute(
            text("SELECT district_code, street_code, community_code, unit_grid_code FROM worker_position")
        ).one()
        expected = _chain(lookup_points(conn, x[:1], y[:1])[0])
    assert expected[3] is not None
    assert tuple(stored) == expected and stored[3] == codes[0]
