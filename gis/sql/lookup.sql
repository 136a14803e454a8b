-- The four grids of each query point valid at :at, by the lookup rule (wangge_grid_chain, migration
-- 0009), with their names and, for the unit grid, the distance in metres from the point to its
-- boundary. One statement, one round trip.
WITH pts AS (
    SELECT t.i, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS g
    FROM unnest(CAST(:ids AS int[]), CAST(:xs AS float8[]), CAST(:ys AS float8[])) AS t(i, x, y)
)
SELECT pts.i, c.district, d.name, c.street, s.name, c.community, m.name, c.unit_grid, u.name, c.unit_grid_inside,
       ST_Distance(ST_Boundary(u.geom)::geography, pts.g::geography) AS distance_m
FROM pts
CROSS JOIN LATERAL wangge_grid_chain(pts.g, CAST(:at AS timestamptz)) c
LEFT JOIN grid d ON d.id = c.district_id
LEFT JOIN grid s ON s.id = c.street_id
LEFT JOIN grid m ON m.id = c.community_id
LEFT JOIN grid u ON u.id = c.unit_grid_id
