-- The assignment of one case, as CTEs ending in `a` (one row): the grid chain of the point
-- (:x, :y, storage CRS) as of :at by the lookup rule (wangge_grid_chain), the responsible unit by the
-- precedence of docs/cases.md, and the `why` of it. gis/cases.py puts it in front of the intake's
-- INSERT (one statement, one round trip per case) or of a plain SELECT (a moved pin).
pt AS (
    SELECT ST_SetSRID(ST_MakePoint(CAST(:x AS float8), CAST(:y AS float8)), 4490) AS g
), chain AS (
    SELECT c.district, c.street, c.community, c.unit_grid,
           -- metres to the unit grid's edge, only when it can be within :near_m: a planar test in
           -- degrees first (3 µs), as the geodesic distance to a whole boundary costs about 80 µs
           (SELECT ST_Distance(ST_Boundary(g.geom)::geography, pt.g::geography)
            FROM grid g
            WHERE g.id = c.unit_grid_id
              AND ST_DWithin(ST_Boundary(g.geom), pt.g,
                             CAST(:near_m AS float8) / (110000 * cos(radians(least(abs(ST_Y(pt.g)), 89)))))) AS edge_m
    FROM pt CROSS JOIN LATERAL wangge_grid_chain(pt.g, CAST(:at AS timestamptz)) c
), comp AS (
    SELECT c.code, k.responsible, k.minor_name,
           CASE WHEN k.responsible = 'owner' THEN c.owner_unit ELSE c.maintainer_unit END AS resp_unit
    FROM component c JOIN component_class k ON k.code = c.class_code
    WHERE c.code = CAST(:comp AS text)
), rule AS (
    -- the most specific area; an exact class before its major class; a time window before none
    SELECT r.id, r.resp_unit, r.area_code, r.class_code
    FROM dispatch_rule r, chain
    WHERE r.class_code IN (CAST(:cls AS text), left(CAST(:cls AS text), 2) || '00')
      AND r.area_code IN (chain.unit_grid, chain.community, chain.street, chain.district)
      AND wangge_valid(r.valid_from, r.valid_to, CAST(:at AS timestamptz))
      AND (r.start_time IS NULL OR CASE WHEN r.start_time <= r.end_time
             THEN (CAST(:at AS timestamptz) AT TIME ZONE 'Asia/Shanghai')::time BETWEEN r.start_time AND r.end_time
             ELSE (CAST(:at AS timestamptz) AT TIME ZONE 'Asia/Shanghai')::time >= r.start_time
               OR (CAST(:at AS timestamptz) AT TIME ZONE 'Asia/Shanghai')::time <= r.end_time END)
    ORDER BY length(r.area_code) DESC, r.class_code = CAST(:cls AS text) DESC, r.start_time IS NOT NULL DESC, r.id
    LIMIT 1
), gov AS (
    -- 属地兜底: the street government, else the district government
    SELECT u.code, u.area_code, u.kind FROM resp_unit u, chain
    WHERE (u.kind = 'street_government' AND u.area_code = chain.street)
       OR (u.kind = 'district_government' AND u.area_code = chain.district)
    ORDER BY u.kind = 'street_government' DESC, u.code LIMIT 1
), decided AS (
    SELECT chain.*,
           chain.district IS NULL AND chain.street IS NULL AND chain.community IS NULL AND chain.unit_grid IS NULL
               AS outside,
           CASE WHEN comp.resp_unit IS NOT NULL THEN comp.resp_unit
                WHEN chain.district IS NULL AND chain.street IS NULL AND chain.community IS NULL
                     AND chain.unit_grid IS NULL THEN NULL
                ELSE coalesce(rule.resp_unit, gov.code) END AS resp_unit,
           CASE
             WHEN comp.resp_unit IS NOT NULL THEN jsonb_build_object(
               'decided_by', 'component', 'component', comp.code, 'role', comp.responsible,
               'message', format('%s %s: its %s is responsible', comp.minor_name, comp.code, comp.responsible))
             WHEN chain.district IS NULL AND chain.street IS NULL AND chain.community IS NULL
                  AND chain.unit_grid IS NULL THEN jsonb_build_object(
               'decided_by', 'none', 'message', 'no responsible unit found for this place and class')
             WHEN rule.resp_unit IS NOT NULL THEN jsonb_build_object(
               'decided_by', 'rule', 'rule_id', rule.id, 'area', rule.area_code, 'class', rule.class_code,
               'message', format('dispatch rule %s for class %s in area %s', rule.id, rule.class_code, rule.area_code))
             WHEN gov.code IS NOT NULL THEN jsonb_build_object(
               'decided_by', 'fallback', 'area', gov.area_code,
               'message', format('no rule or component: the %s government of %s (属地兜底)',
                                 split_part(gov.kind, '_', 1), gov.area_code))
             ELSE jsonb_build_object('decided_by', 'none', 'message', 'no responsible unit found for this place and class')
           END AS why,
           (SELECT count(*) FROM comp) AS component_found
    FROM chain LEFT JOIN comp ON true LEFT JOIN rule ON true LEFT JOIN gov ON true
), a AS (
    SELECT d.district, d.street, d.community, d.unit_grid, d.resp_unit, d.outside, d.component_found,
           CASE WHEN d.outside THEN d.why || jsonb_build_object(
                    'queue', 'unassigned', 'message', 'the point lies outside every grid: ' || (d.why ->> 'message'))
                ELSE d.why END
           || jsonb_build_object('warnings', CASE
                WHEN d.unit_grid IS NOT NULL AND round(d.edge_m::numeric, 3) <= CAST(:near_m AS float8) THEN
                  jsonb_build_array(jsonb_build_object(
                    'near_boundary', true, 'distance_m', round(d.edge_m::numeric, 3),
                    'message', format('the point is %s m from the edge of unit grid %s',
                                      round(d.edge_m::numeric, 1), d.unit_grid)))
                ELSE '[]'::jsonb END) AS why
    FROM decided d
)
