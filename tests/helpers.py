"""Small builders for test cities: axis-aligned squares whose shared edges are exactly equal."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely
from shapely.geometry import box

from importers.core import GridImportOptions, import_grid_frame

X0, Y0 = 116.30, 39.90  # a corner in Beijing
STEP = 0.004  # unit grid side in degrees (~340 m × 445 m)


def square_city() -> dict[int, gpd.GeoDataFrame]:
    """1 district (8×8 units) → 2 streets (left/right halves) → 4 communities → 64 unit grids.

    Edge coordinates are computed once per grid line, so neighbours share them bit for bit.
    """
    xs = [X0 + i * STEP for i in range(9)]
    ys = [Y0 + j * STEP for j in range(9)]
    district = gpd.GeoDataFrame(
        {"code": ["110108"], "name": ["测试区"]}, geometry=[box(xs[0], ys[0], xs[8], ys[8])], crs="EPSG:4490"
    )
    streets = gpd.GeoDataFrame(
        {"code": ["110108001", "110108002"], "name": ["西街道", "东街道"]},
        geometry=[box(xs[0], ys[0], xs[4], ys[8]), box(xs[4], ys[0], xs[8], ys[8])],
        crs="EPSG:4490",
    )
    comms, units = [], []
    for s, (sx0, sx1) in enumerate(((0, 4), (4, 8))):
        for c, (cy0, cy1) in enumerate(((4, 8), (0, 4))):  # north community first
            ccode = f"11010800{s + 1}00{c + 1}"
            comms.append(
                {"code": ccode, "name": f"社区{s + 1}{c + 1}", "geometry": box(xs[sx0], ys[cy0], xs[sx1], ys[cy1])}
            )
            n = 0
            for j in range(cy1 - 1, cy0 - 1, -1):  # north → south
                for i in range(sx0, sx1):  # west → east
                    n += 1
                    units.append(
                        {
                            "code": f"{ccode}{n:03d}",
                            "name": f"网格{n}",
                            "geometry": box(xs[i], ys[j], xs[i + 1], ys[j + 1]),
                        }
                    )
    return {
        1: district,
        2: streets,
        3: gpd.GeoDataFrame(comms, geometry="geometry", crs="EPSG:4490"),
        4: gpd.GeoDataFrame(units, geometry="geometry", crs="EPSG:4490"),
    }


def load_city(engine, city: dict[int, gpd.GeoDataFrame], upto: int = 4, **opts) -> None:
    for level in range(1, upto + 1):
        import_grid_frame(engine, city[level], GridImportOptions(level=level, **opts), source=f"test:{level}")


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> Path:
    frame.to_file(path, driver="GeoJSON")
    return path


def shapes(frame: gpd.GeoDataFrame) -> list[shapely.Geometry]:
    return list(frame.geometry)


def dense_square_city(per_edge: int = 40) -> dict[int, gpd.GeoDataFrame]:
    """The square city with every edge cut into ``per_edge`` segments: unit grids of 4 × ``per_edge``
    vertices, more than the 128 of a lookup piece, so ``ST_Subdivide`` cuts every grid. Vertices
    come from one shared list per axis, so neighbours still share them bit for bit."""
    fx = [X0 + k * STEP / per_edge for k in range(8 * per_edge + 1)]
    fy = [Y0 + k * STEP / per_edge for k in range(8 * per_edge + 1)]

    def dense(cell: shapely.Geometry) -> shapely.Polygon:
        x0, y0, x1, y1 = (round((v - o) / STEP) * per_edge for v, o in zip(cell.bounds, (X0, Y0, X0, Y0), strict=True))
        ring = (
            [(fx[k], fy[y0]) for k in range(x0, x1)]
            + [(fx[x1], fy[k]) for k in range(y0, y1)]
            + [(fx[k], fy[y1]) for k in range(x1, x0, -1)]
            + [(fx[x0], fy[k]) for k in range(y1, y0, -1)]
        )
        return shapely.Polygon(ring)

    city = square_city()
    return {level: frame.set_geometry([dense(g) for g in frame.geometry]) for level, frame in city.items()}


def voronoi_city(seed: int = 3) -> dict[int, gpd.GeoDataFrame]:
    """:func:`square_city` with each community cut into 16 plain Voronoi cells (slanted shared
    edges, vertices where three grids meet) instead of squares."""
    import numpy as np

    city = square_city()
    rng = np.random.default_rng(seed)
    units = []
    for comm in city[3].itertuples():
        minx, miny, maxx, maxy = comm.geometry.bounds
        seeds = shapely.multipoints(rng.uniform((minx, miny), (maxx, maxy), size=(16, 2)))
        cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=comm.geometry))
        cells = sorted(shapely.intersection(cells, comm.geometry), key=lambda g: (-g.centroid.y, g.centroid.x))
        for n, cell in enumerate(cells, 1):
            units.append({"code": f"{comm.code}{n:03d}", "name": f"网格{n}", "geometry": cell})
    city[4] = gpd.GeoDataFrame(units, geometry="geometry", crs="EPSG:4490")
    return city
