"""Assign 4,000,000 case points to their unit grids inside PostGIS.

Baseline (same data, same run): ``UPDATE cases SET grid = g.code FROM grid g WHERE
ST_Contains(g.geom, cases.geom)``, the statement everyone writes first.
"""

from __future__ import annotations

import json
import os
import time

from sqlalchemy import text

from bench.common import big_city_engine
from bench.points import city_outline, clustered_points, load_cases
from gis.grids.assign import assign_unit_grids

N = int(os.environ.get("BENCH_POINTS", "4000000"))


def naive_update(conn, table: str) -> float:
    """The statement everyone writes first; seconds."""
    t = time.perf_counter()
    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN grid bigint"))
    conn.execute(
        text(
            f"UPDATE {table} c SET grid = g.id FROM grid g "
            "WHERE g.level = 4 AND g.valid_to IS NULL AND ST_Contains(g.geom, c.geom)"
        )
    )
    return round(time.perf_counter() - t, 2)


def join_counted(conn, table: str) -> float:
    """The floor of any polygon-driven join: wangge's join counted, nothing written, no edge rule; seconds."""
    conn.execute(text("SET LOCAL min_parallel_table_scan_size = 0"))
    t = time.perf_counter()
    conn.execute(
        text(
            f"SELECT count(*) FROM grid_piece p JOIN {table} c ON ST_Intersects(p.geom, c.geom) "
            "WHERE p.level = 4 AND p.valid_to IS NULL"
        )
    ).scalar_one()
    return round(time.perf_counter() - t, 2)


def point_index_join(conn, table: str) -> dict:
    """A layout tried for the floor: the points as PostgreSQL ``point`` in a GiST index that includes
    the id, so the join reads the index only (in any heap order), against each unit grid's box."""
    out: dict = {}
    t = time.perf_counter()
    conn.execute(text(f"CREATE TABLE {table}_pt AS SELECT id, point(ST_X(geom), ST_Y(geom)) AS pt FROM {table}"))
    conn.execute(text(f"CREATE INDEX ON {table}_pt USING gist (pt) INCLUDE (id)"))
    conn.execute(text(f"VACUUM ANALYZE {table}_pt"))
    conn.execute(
        text(
            f"""CREATE TABLE {table}_box AS SELECT grid_id, geom,
              box(point(ST_XMin(geom), ST_YMin(geom)), point(ST_XMax(geom), ST_YMax(geom))) AS b
            FROM grid_piece WHERE level = 4 AND valid_to IS NULL"""
        )
    )
    conn.execute(text(f"ANALYZE {table}_box"))
    out["build_s"] = round(time.perf_counter() - t, 2)
    conn.execute(text("SET min_parallel_table_scan_size = 0"))
    join = (
        f"FROM {table}_box p JOIN {table}_pt c ON c.pt <@ p.b "
        "AND ST_Intersects(p.geom, ST_SetSRID(c.pt::geometry, 4490))"
    )
    t = time.perf_counter()
    conn.execute(text(f"SELECT count(*) {join}")).scalar_one()
    out["join_counted_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    conn.execute(text(f"CREATE TABLE {table}_pt_assigned AS SELECT c.id, p.grid_id {join}"))
    out["join_written_no_edge_rule_s"] = round(time.perf_counter() - t, 2)
    conn.execute(text(f"RESET min_parallel_table_scan_size; DROP TABLE {table}_pt, {table}_box, {table}_pt_assigned"))
    return out


def main() -> dict:
    _, engine = big_city_engine()
    res: dict = {"points": N}
    with engine.connect() as conn, conn.begin():
        x, y = clustered_points(city_outline(conn), N)
        res["load_copy_index_s"] = round(load_cases(conn, "bench_cases", x, y), 2)
        conn.execute(text("CREATE TABLE bench_cases_naive AS SELECT * FROM bench_cases"))
        conn.execute(text("CREATE INDEX ON bench_cases_naive USING gist (geom)"))
        conn.execute(text("ANALYZE bench_cases_naive"))
        # the same table as a real cases table has it: with a primary key
        conn.execute(text("CREATE TABLE bench_cases_naive_pk AS SELECT * FROM bench_cases"))
        conn.execute(text("ALTER TABLE bench_cases_naive_pk ADD PRIMARY KEY (id)"))
        conn.execute(text("CREATE INDEX ON bench_cases_naive_pk USING gist (geom)"))
        conn.execute(text("ANALYZE bench_cases_naive_pk"))
    with engine.connect() as conn, conn.begin():
        conn.execute(text("DROP TABLE IF EXISTS bench_assigned"))
        t = time.perf_counter()
        stats = assign_unit_grids(conn, "bench_cases", "bench_assigned")
        res["wangge_s"] = round(time.perf_counter() - t, 2)
        res["wangge_assigned"] = stats["assigned"]
    with engine.connect() as conn, conn.begin():
        res["floor_join_counted_s"] = join_counted(conn, "bench_cases")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:  # for VACUUM
        res["point_index_layout"] = point_index_join(conn, "bench_cases")
    with engine.connect() as conn, conn.begin():
        res["naive_update_s"] = naive_update(conn, "bench_cases_naive")
        res["mismatches"] = conn.execute(
            text(
                "SELECT count(*) FROM bench_cases_naive n FULL JOIN bench_assigned a USING (id) "
                "WHERE n.grid IS DISTINCT FROM a.grid_id"
            )
        ).scalar_one()
        conn.execute(text("DROP TABLE bench_cases_naive"))
    with engine.connect() as conn, conn.begin():
        res["naive_update_with_primary_key_s"] = naive_update(conn, "bench_cases_naive_pk")
        conn.execute(text("DROP TABLE bench_cases_naive_pk"))
    with engine.connect() as conn, conn.begin():
        t = time.perf_counter()
        conn.execute(text("CLUSTER bench_cases USING bench_cases_geom"))
        conn.execute(text("ANALYZE bench_cases"))
        res["cluster_s"] = round(time.perf_counter() - t, 2)
        conn.execute(text("DROP TABLE bench_assigned"))
        t = time.perf_counter()
        assign_unit_grids(conn, "bench_cases", "bench_assigned")
        res["wangge_clustered_s"] = round(time.perf_counter() - t, 2)
        res["floor_join_counted_clustered_s"] = join_counted(conn, "bench_cases")
        conn.execute(text("DROP TABLE bench_assigned"))
    res["ratio_naive_over_wangge"] = round(res["naive_update_s"] / res["wangge_s"], 1)
    res["ratio_naive_over_wangge_clustered"] = round(res["naive_update_s"] / res["wangge_clustered_s"], 1)
    res["ratio_naive_pk_over_wangge"] = round(res["naive_update_with_primary_key_s"] / res["wangge_s"], 1)
    res["ratio_naive_pk_over_wangge_clustered"] = round(
        res["naive_update_with_primary_key_s"] / res["wangge_clustered_s"], 1
    )
    res["wangge_points_per_s"] = round(N / res["wangge_s"])
    return res


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
