-- Names of the chosen grids and, for each point, the distance in metres to the boundary of its
-- unit grid (or, outside every unit grid, to the nearest one valid at :at).
WITH pts AS (
    SELECT t.i, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS g, t.unit_id
    FROM unnest(CAST(:ids AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[]),
                CAST(:unit_ids AS bigint[])) AS t(i, x, y, unit_id)
)
SELECT pts.i,
       CASE WHEN pts.unit_id IS NOT NULL
            THEN (SELECT ST_Distance(ST_Boundary(u.geom)::geography, pts.g::geography)
                  FROM grid u WHERE u.id = pts.unit_id)
            ELSE (SELECT ST_Distance(n.geom::geography, pts.g::geography)
                  FROM grid_piece n
                  WHERE n.level = 4 AND n.valid_from <= :at AND (n.valid_to IS NULL OR n.valid_to > :at)
                  ORDER BY n.geom <-> pts.g LIMIT 1)
       END AS distance_m
FROM pts
