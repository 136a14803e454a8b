-- Slivers thinner than :min_width metres on average (2·area/perimeter) are not findings.
-- Overlays run on a 1e-7° (≈1 cm) grid: without it, float slivers along shared edges get a
-- non-zero geodesic area (a long planar edge and its geodesic differ by centimetres).

-- name: outside
-- Children lying outside their parent by more than :tol metres (average band along their edge).
SELECT 'outside' AS kind, c.level, c.code, c.parent_code AS other_code,
       ST_Area(ST_Difference(c.geom, p.geom, :grid)::geography) AS area_m2,
       ST_AsGeoJSON(ST_Difference(c.geom, p.geom, :grid), 7, 0) AS geometry
FROM grid c JOIN grid p ON p.code = c.parent_code AND wangge_valid(p.valid_from, p.valid_to, :at)
WHERE wangge_valid(c.valid_from, c.valid_to, :at) AND c.level = ANY(:levels)
  AND (CAST(:codes AS text[]) IS NULL OR c.code = ANY(CAST(:codes AS text[])) OR p.code = ANY(CAST(:codes AS text[])))
  AND NOT ST_CoveredBy(c.geom, p.geom)
  -- inside the parent grown by the tolerance (narrower than :tol metres east-west: 1° of longitude
  -- is under 111.32 km): passed over without the overlay; most children whose shared edge differs
  -- from the parent's by rounding alone
  AND NOT ST_CoveredBy(c.geom, ST_Buffer(p.geom, :tol / 111320.0, 'join=mitre'))
  AND ST_Area(ST_Difference(c.geom, p.geom, :grid)::geography) > :tol * ST_Perimeter(c.geom::geography);

-- name: overlap
-- Siblings (same parent, or both top level) whose areas overlap by more than :min_area m².
SELECT 'overlap' AS kind, a.level, a.code, b.code AS other_code,
       ST_Area(ST_Intersection(a.geom, b.geom, :grid)::geography) AS area_m2,
       ST_AsGeoJSON(ST_CollectionExtract(ST_Intersection(a.geom, b.geom, :grid), 3), 7, 0) AS geometry
FROM grid a JOIN grid b
  ON a.level = b.level AND a.code < b.code AND a.parent_code IS NOT DISTINCT FROM b.parent_code
 AND ST_Intersects(a.geom, b.geom)
 AND wangge_valid(b.valid_from, b.valid_to, :at)
WHERE wangge_valid(a.valid_from, a.valid_to, :at) AND a.level = ANY(:levels)
  AND (CAST(:codes AS text[]) IS NULL OR a.code = ANY(CAST(:codes AS text[])) OR b.code = ANY(CAST(:codes AS text[])))
  AND ST_Overlaps(a.geom, b.geom)
  AND ST_Area(ST_Intersection(a.geom, b.geom, :grid)::geography) > :min_area
  AND 2 * ST_Area(ST_Intersection(a.geom, b.geom, :grid)::geography)
      / nullif(ST_Perimeter(ST_Intersection(a.geom, b.geom, :grid)::geography), 0) > :min_width;

-- name: gap
-- Parts of a parent no child covers, piece by piece, each over :min_area m².
WITH kids AS (
    SELECT c.parent_code, c.level, ST_Union(c.geom, :grid) AS geom
    FROM grid c
    WHERE wangge_valid(c.valid_from, c.valid_to, :at) AND c.level = ANY(:levels)
      AND c.parent_code IS NOT NULL
      -- with :codes, the parents of those grids (and those grids as parents)
      AND (CAST(:codes AS text[]) IS NULL OR c.parent_code = ANY(CAST(:codes AS text[]))
           OR c.parent_code IN (SELECT g.parent_code FROM grid g
                                WHERE g.code = ANY(CAST(:codes AS text[])) AND wangge_valid(g.valid_from, g.valid_to, :at)))
    GROUP BY c.parent_code, c.level
), holes AS (
    SELECT k.level, k.parent_code, (ST_Dump(ST_Difference(p.geom, k.geom, :grid))).geom AS geom
    FROM kids k JOIN grid p ON p.code = k.parent_code AND wangge_valid(p.valid_from, p.valid_to, :at)
)
SELECT 'gap' AS kind, level, parent_code AS code, NULL AS other_code,
       ST_Area(geom::geography) AS area_m2, ST_AsGeoJSON(geom, 7, 0) AS geometry
FROM holes WHERE ST_Area(geom::geography) > :min_area
  AND 2 * ST_Area(geom::geography) / nullif(ST_Perimeter(geom::geography), 0) > :min_width;

-- name: orphan
-- Grids below the top level whose parent does not exist at :at.
SELECT 'orphan' AS kind, c.level, c.code, c.parent_code AS other_code, c.area_m2,
       ST_AsGeoJSON(c.geom, 7, 0) AS geometry
FROM grid c
WHERE wangge_valid(c.valid_from, c.valid_to, :at) AND c.level = ANY(:levels) AND c.level > 1
  AND NOT EXISTS (SELECT 1 FROM grid p WHERE p.code = c.parent_code AND p.level = c.level - 1
                  AND wangge_valid(p.valid_from, p.valid_to, :at));

-- name: code_mismatch
-- Grids whose code names one parent while most of their area lies in another.
WITH best AS (
    SELECT DISTINCT ON (c.id) c.id, c.level, c.code, c.parent_code, p.code AS spatial_parent, c.geom
    FROM grid c JOIN grid_piece p
      ON p.level = c.level - 1 AND ST_Intersects(p.geom, c.geom)
     AND wangge_valid(p.valid_from, p.valid_to, :at)
    WHERE wangge_valid(c.valid_from, c.valid_to, :at) AND c.level = ANY(:levels) AND c.level > 1
    GROUP BY c.id, p.code
    ORDER BY c.id, sum(ST_Area(ST_Intersection(p.geom, c.geom))) DESC
)
SELECT 'code_mismatch' AS kind, level, code, spatial_parent AS other_code, NULL::float8 AS area_m2,
       ST_AsGeoJSON(geom, 7, 0) AS geometry
FROM best WHERE parent_code IS DISTINCT FROM spatial_parent OR left(code, length(spatial_parent)) <> spatial_parent;
