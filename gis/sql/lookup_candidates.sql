-- Every grid piece that intersects (contains or touches) each query point, at every level, valid
-- at :at, with the grid's name and, for unit grids, the distance in metres from the point to the
-- grid's boundary. One statement, one round trip; the rule that picks one grid per level runs in
-- gis/lookup.py.
WITH pts AS (
    SELECT t.i, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS g
    FROM unnest(CAST(:ids AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS t(i, x, y)
), cand AS (
    SELECT pts.i, pts.g, p.level, p.code, p.grid_id, ST_Contains(p.geom, pts.g) AS inside
    FROM pts
    JOIN grid_piece p
      ON ST_Intersects(p.geom, pts.g)
     AND p.valid_from <= :at AND (p.valid_to IS NULL OR p.valid_to > :at)
)
SELECT c.i, c.level, c.code, c.grid_id, c.inside, g.name,
       CASE WHEN c.level = 4 THEN ST_Distance(ST_Boundary(g.geom)::geography, c.g::geography) END AS distance_m
FROM cand c JOIN grid g ON g.id = c.grid_id
