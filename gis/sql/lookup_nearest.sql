-- For points in no unit grid: the distance in metres to the nearest unit grid valid at :at.
WITH pts AS (
    SELECT t.i, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS g
    FROM unnest(CAST(:ids AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS t(i, x, y)
)
SELECT pts.i,
       (SELECT ST_Distance(n.geom::geography, pts.g::geography)
        FROM grid_piece n
        WHERE n.level = 4 AND wangge_valid(n.valid_from, n.valid_to, CAST(:at AS timestamptz))
        ORDER BY n.geom <-> pts.g LIMIT 1) AS distance_m
FROM pts
