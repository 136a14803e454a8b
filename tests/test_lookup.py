from __future__ import annotations

import numpy as np
import shapely

from gis.grids.bulk import assign_codes
from gis.grids.lookup import lookup_point, lookup_points
from tests.helpers import STEP, X0, Y0, load_city, square_city, voronoi_city


def _sample() -> tuple[np.ndarray, np.ndarray]:
    """Random interior points plus every grid vertex and points exactly on every shared edge."""
    rng = np.random.default_rng(7)
    xs = X0 + np.arange(9) * STEP
    ys = Y0 + np.arange(9) * STEP
    rand = rng.uniform((xs[0], ys[0]), (xs[8], ys[8]), size=(2000, 2))
    vx, vy = np.meshgrid(xs, ys)
    vertices = np.column_stack([vx.ravel(), vy.ravel()])
    t = rng.uniform(0, 1, size=400)
    k = rng.integers(0, 9, size=400)
    on_vertical = np.column_stack([xs[k], ys[0] + t * (ys[8] - ys[0])])
    on_horizontal = np.column_stack([xs[0] + t * (xs[8] - xs[0]), ys[k]])
    pts = np.vstack([rand, vertices, on_vertical, on_horizontal])
    return pts[:, 0], pts[:, 1]


def test_every_point_falls_in_exactly_one_unit_grid(db):
    city = square_city()
    load_city(db, city)
    units = city[4]
    x, y = _sample()
    with db.connect() as conn:
        results = lookup_points(conn, x, y)
    geoms = units.geometry.to_numpy()
    codes = units["code"].to_numpy()
    for xi, yi, r in zip(x, y, results, strict=True):
        assert r["unit_grid"] is not None, (xi, yi)
        touching = codes[shapely.intersects_xy(geoms, xi, yi)]
        # never none, never two: one answer, and by the documented rule the lowest touching code
        assert r["unit_grid"]["code"] == min(touching)
        # the chain agrees with the unit grid's code
        assert r["community"]["code"] == r["unit_grid"]["code"][:12]
        assert r["street"]["code"] == r["unit_grid"]["code"][:9]
        assert r["district"]["code"] == "110108"
        assert r["on_boundary"] == (len(touching) > 1 or r["boundary_distance_m"] <= 0.01)
        # each point's own distance to its unit grid's edge (metres; a cell is about 340 m × 445 m)
        fx, fy = (xi - X0) / STEP % 1, (yi - Y0) / STEP % 1
        dx_m = min(fx, 1 - fx) * STEP * 111_320 * np.cos(np.radians(yi))
        dy_m = min(fy, 1 - fy) * STEP * 110_950
        assert abs(r["boundary_distance_m"] - min(dx_m, dy_m)) <= 0.01 * min(dx_m, dy_m) + 0.05, (xi, yi)


def test_on_edge_points_are_flagged_with_zero_distance(db):
    load_city(db, square_city())
    with db.connect() as conn:
        edge = lookup_point(conn, X0 + 4 * STEP, Y0 + 1.5 * STEP)  # street boundary
        inside = lookup_point(conn, X0 + 0.5 * STEP, Y0 + 0.5 * STEP)
    assert edge["on_boundary"] is True and edge["boundary_distance_m"] == 0
    assert edge["street"]["code"] == "110108001"  # the lower code of the two streets
    assert inside["on_boundary"] is False
    # centre of a ~340 m × 445 m cell: about 170 m from the nearest edge
    assert 160 < inside["boundary_distance_m"] < 180


def test_outside_and_partial_coverage(db):
    city = square_city()
    load_city(db, city, upto=2)  # no communities or unit grids yet
    with db.connect() as conn:
        far = lookup_point(conn, 100.0, 30.0)
        partial = lookup_point(conn, X0 + 0.5 * STEP, Y0 + 0.5 * STEP)
    assert far["outside"] is True and far["district"] is None and far["unit_grid"] is None
    assert partial["outside"] is False
    assert partial["district"]["code"] == "110108" and partial["street"]["code"] == "110108001"
    assert partial["community"] is None and partial["unit_grid"] is None


def test_bulk_assignment_equals_one_by_one(db):
    load_city(db, square_city())
    x, y = _sample()
    x = np.append(x, [100.0])  # one point outside everything
    y = np.append(y, [30.0])
    from datetime import UTC, datetime

    with db.connect() as conn:
        single = lookup_points(conn, x, y)
    with db.connect() as conn, conn.begin():
        cols = assign_codes(conn, x, y, datetime.now(UTC))
    bulk = list(zip(*[c.to_pylist() for c in cols], strict=True))
    for r, row in zip(single, bulk, strict=True):
        expected = [
            r[level]["code"] if r[level] else None for level in ("district", "street", "community", "unit_grid")
        ]
        assert list(row) == expected


def _voronoi_sample(units) -> tuple[np.ndarray, np.ndarray]:
    """Random points, every unit grid vertex and points along every unit grid's edges."""
    rng = np.random.default_rng(11)
    rand = rng.uniform((X0, Y0), (X0 + 8 * STEP, Y0 + 8 * STEP), size=(2000, 2))
    geoms = units.geometry.to_numpy()
    vertices = shapely.get_coordinates(geoms)
    rings = np.repeat(shapely.get_exterior_ring(geoms), 8)
    on_edges = shapely.get_coordinates(
        shapely.line_interpolate_point(rings, rng.uniform(0, 1, len(rings)), normalized=True)
    )
    pts = np.vstack([rand, vertices, on_edges])
    return pts[:, 0], pts[:, 1]


def test_bulk_assignment_on_a_voronoi_city_equals_one_by_one(db):
    """Slanted shared edges and vertices where three grids meet; both connections as the CLI uses them."""
    from datetime import UTC, datetime

    from gis.grids.bulk import share_snapshot

    city = voronoi_city()
    load_city(db, city)
    x, y = _voronoi_sample(city[4])
    with db.connect() as conn:
        single = lookup_points(conn, x, y)
    with db.connect() as conn, db.connect() as helper, conn.begin(), helper.begin():
        share_snapshot(conn, helper)
        cols = assign_codes(conn, x, y, datetime.now(UTC), helper=helper)
    bulk = list(zip(*[c.to_pylist() for c in cols], strict=True))
    for r, row in zip(single, bulk, strict=True):
        expected = [
            r[level]["code"] if r[level] else None for level in ("district", "street", "community", "unit_grid")
        ]
        assert list(row) == expected
    # a vertex several grids share goes to the lowest code of the grids that touch it
    geoms = city[4].geometry.to_numpy()
    codes = city[4]["code"].to_numpy()
    per_grid = [np.unique(shapely.get_coordinates(g), axis=0) for g in geoms]
    vertices, counts = np.unique(np.vstack(per_grid), axis=0, return_counts=True)
    shared = [(vx, vy) for (vx, vy), k in zip(vertices, counts, strict=True) if k > 1]
    got = {(xi, yi): row[3] for xi, yi, row in zip(x, y, bulk, strict=True)}
    assert len(shared) > 50
    bad = {v: got[v] for v in shared if got[v] != min(codes[shapely.intersects_xy(geoms, *v)])}
    assert not bad


def test_bulk_assignment_with_two_connections_equals_one_by_one(db):
    from datetime import UTC, datetime

    from gis.grids.bulk import share_snapshot

    load_city(db, square_city())
    x, y = _sample()
    with db.connect() as conn:
        single = lookup_points(conn, x, y)
    with db.connect() as conn, db.connect() as helper, conn.begin(), helper.begin():
        share_snapshot(conn, helper)
        cols = assign_codes(conn, x, y, datetime.now(UTC), helper=helper)
    bulk = list(zip(*[c.to_pylist() for c in cols], strict=True))
    for r, row in zip(single, bulk, strict=True):
        expected = [
            r[level]["code"] if r[level] else None for level in ("district", "street", "community", "unit_grid")
        ]
        assert list(row) == expected


def test_bulk_assignment_where_no_unit_grids_exist_yet(db):
    """Points in streets without unit grids get their upper levels by the per-point rule."""
    load_city(db, square_city(), upto=2)
    from datetime import UTC, datetime

    x, y = _sample()
    with db.connect() as conn:
        single = lookup_points(conn, x, y)
    with db.connect() as conn, conn.begin():
        cols = assign_codes(conn, x, y, datetime.now(UTC))
    bulk = list(zip(*[c.to_pylist() for c in cols], strict=True))
    assert any(row[1] for row in bulk) and not any(row[3] for row in bulk)
    for r, row in zip(single, bulk, strict=True):
        expected = [
            r[level]["code"] if r[level] else None for level in ("district", "street", "community", "unit_grid")
        ]
        assert list(row) == expected


def test_lookup_crs_offsets(db):
    load_city(db, square_city())
    from gis.crs import gcj02_to_bd09, wgs84_to_gcj02

    lon, lat = X0 + 2.5 * STEP, Y0 + 6.5 * STEP
    gx, gy = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    bx, by = gcj02_to_bd09(gx, gy)
    with db.connect() as conn:
        plain = lookup_point(conn, lon, lat)
        via_gcj = lookup_point(conn, float(gx[0]), float(gy[0]), crs="gcj02")
        via_bd = lookup_point(conn, float(bx[0]), float(by[0]), crs="bd09")
        raw_gcj = lookup_point(conn, float(gx[0]), float(gy[0]))
    assert plain["unit_grid"] == via_gcj["unit_grid"] == via_bd["unit_grid"]
    # read as if it were WGS-84, the GCJ-02 point lands in another grid hundreds of metres away
    assert raw_gcj["unit_grid"] != plain["unit_grid"]


def test_table_assignment_equals_one_by_one(db):
    from sqlalchemy import text

    from gis.grids.assign import assign_unit_grids

    load_city(db, square_city())
    x, y = _sample()
    with db.connect() as conn:
        single = lookup_points(conn, x, y)
    with db.connect() as conn, conn.begin():
        conn.execute(text("CREATE TEMP TABLE pts (id int, geom geometry(Point, 4490)) ON COMMIT DROP"))
        conn.execute(
            text(
                "INSERT INTO pts SELECT i - 1, ST_SetSRID(ST_MakePoint(x, y), 4490) FROM unnest(:x, :y) "
                "WITH ORDINALITY AS t(x, y, i)"
            ),
            {"x": x.tolist(), "y": y.tolist()},
        )
        conn.execute(text("CREATE INDEX ON pts USING gist (geom)"))
        stats = assign_unit_grids(conn, "pts", "pts_assigned")
        got = dict(conn.execute(text("SELECT a.id, g.code FROM pts_assigned a JOIN grid g ON g.id = a.grid_id")).all())
        conn.execute(text("DROP TABLE pts_assigned"))
    assert stats["assigned"] == len(x) and stats["on_edges"] > 0
    assert got == {i: r["unit_grid"]["code"] for i, r in enumerate(single)}


def test_case_assignment_statement_follows_the_lookup_rule(db):
    """The intake's one-statement assignment (gis/sql/case_assign.sql) picks the chain lookup_points picks,
    on vertices, on shared edges, inside, and outside every grid."""
    from datetime import UTC, datetime

    from gis.cases.intake import assignment

    load_city(db, square_city())
    x, y = _sample()
    keep = np.r_[0:150, 2000 : len(x) : 3]  # some interior points, every vertex, a third of the edge points
    # and points 4.9 m and 5.1 m west of a unit grid's east edge (the warning's threshold is 5 m)
    yc = Y0 + 7.5 * STEP
    near = [X0 + STEP - m / (111_320 * np.cos(np.radians(yc))) for m in (4.9, 5.1)]
    x, y = np.append(x[keep], [100.0, *near]), np.append(y[keep], [30.0, yc, yc])
    now = datetime.now(UTC)
    with db.connect() as conn:
        expected = lookup_points(conn, x, y, at=now)
        for xi, yi, r in zip(x, y, expected, strict=True):
            a = assignment(conn, float(xi), float(yi), now, "0102", None)
            levels = ("district", "street", "community", "unit_grid")
            assert a["chain"] == {lv: r[lv]["code"] if r[lv] else None for lv in levels}, (xi, yi)
            near = bool(r["unit_grid"]) and r["boundary_distance_m"] <= 5
            assert bool(a["why"]["warnings"]) == near, (xi, yi)
            assert (a["why"].get("queue") == "unassigned") == r["outside"]
        assert [round(r["boundary_distance_m"], 1) for r in expected[-2:]] == [4.9, 5.1]
