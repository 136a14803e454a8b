-- Every grid piece that intersects (contains or touches) each query point, at every level, valid at :at.
-- One GiST scan per point; the rule that picks one grid per level runs in gis/lookup.py.
WITH pts AS (
    SELECT t.i, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS g
    FROM unnest(CAST(:ids AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS t(i, x, y)
)
SELECT pts.i, p.level, p.code, p.grid_id, ST_Contains(p.geom, pts.g) AS inside
FROM pts
JOIN grid_piece p
  ON ST_Intersects(p.geom, pts.g)
 AND p.valid_from <= :at AND (p.valid_to IS NULL OR p.valid_to > :at)
