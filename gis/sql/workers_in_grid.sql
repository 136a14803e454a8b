-- Who was inside grid :c (any level; on its edge counts) between :s and :e, by the clean fixes
-- tested against the grid version in force at each fix's time. The btree on (cell, fix time)
-- finds the candidates: the 1/256° cells under the grid's bounding box, each for the time range;
-- the subdivided lookup pieces then test them exactly.
WITH g AS MATERIALIZED (
    SELECT id, geom, valid_from, valid_to FROM grid
    WHERE code = :c AND valid_from < :e AND (valid_to IS NULL OR valid_to > :s)
), cells AS MATERIALIZED (
    SELECT DISTINCT (i::bigint + 46080) * 65536 + (j::bigint + 32768) AS cell
    FROM g,
         generate_series(floor(ST_XMin(g.geom) * 256)::int, floor(ST_XMax(g.geom) * 256)::int) i,
         generate_series(floor(ST_YMin(g.geom) * 256)::int, floor(ST_YMax(g.geom) * 256)::int) j
), seen AS (
    SELECT t.worker_id, min(t.fix_time) AS first_seen, max(t.fix_time) AS last_seen, count(*) AS points
    FROM cells
    CROSS JOIN LATERAL (
        SELECT t.worker_id, t.fix_time, t.geom FROM track_point t
        WHERE wangge_cell(ST_X(t.geom), ST_Y(t.geom)) = cells.cell
          AND t.fix_time >= :s AND t.fix_time < :e AND t.flags = '{}'
        OFFSET 0  -- keep the per-cell index scan: the planner cannot count the cells beforehand
    ) t
    WHERE EXISTS (
        SELECT 1 FROM g JOIN grid_piece p ON p.grid_id = g.id
        WHERE wangge_valid(g.valid_from, g.valid_to, t.fix_time)
          AND ST_Intersects(p.geom, t.geom))
    GROUP BY t.worker_id
)
SELECT s.worker_id, w.name, s.first_seen, s.last_seen, s.points
FROM seen s JOIN worker w ON w.id = s.worker_id
ORDER BY s.worker_id
