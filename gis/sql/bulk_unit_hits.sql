-- Polygon-driven join of the staged points (temp table bulk_pts: i, g) to the unit grids whose
-- interior contains them. A plain join lets PostgreSQL run it in parallel; points on an edge or
-- vertex match nothing here and are settled by the tie rule afterwards.
SELECT t.i, p.code::bigint AS code
FROM bulk_pts t
JOIN grid_piece p
  ON ST_Contains(p.geom, t.g)
 AND p.level = 4
 AND p.valid_from <= :at AND (p.valid_to IS NULL OR p.valid_to > :at)
