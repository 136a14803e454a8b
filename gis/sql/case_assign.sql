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
    -- the dispatch rule (wangge_rule_applies, wangge_rule_rank: migration 0013)
    SELECT r.id, r.resp_unit, r.area_code, r.class_code
    FROM dispatch_rule r, chain
    WHERE wangge_rule_applies(r, CAST(:cls AS text), chain.district, chain.street, chain.community, chain.unit_grid,
                              CAST(:at AS timestamptz))
    ORDER BY wangge_rule_rank(r, CAST(:cls AS text))
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
           (SELECT count(*) FROM comp) AS component_found,
           comp.resp_unit AS comp_unit, comp.code AS comp_code, comp.minor_name, comp.responsible,
           rule.resp_unit AS rule_unit, rule.id AS rule_id, rule.area_code AS rule_area, rule.class_code AS rule_class,
           gov.code AS gov_unit, gov.kind AS gov_kind, gov.area_code AS gov_area
    FROM chain LEFT JOIN comp ON true LEFT JOIN rule ON true LEFT JOIN gov ON true
), a AS (
    -- a component's owner or maintainer, else (inside some grid) the rule, else the government
    SELECT d.district, d.street, d.community, d.unit_grid, d.outside, d.component_found,
           CASE WHEN d.comp_unit IS NOT NULL THEN d.comp_unit
                WHEN d.outside THEN NULL
                ELSE coalesce(d.rule_unit, d.gov_unit) END AS resp_unit,
           CASE WHEN d.comp_unit IS NOT NULL THEN wangge_why_component(d.comp_code, d.minor_name, d.responsible)
                WHEN d.outside THEN wangge_why_none(true)
                WHEN d.rule_unit IS NOT NULL THEN wangge_why_rule(d.rule_id, d.rule_area, d.rule_class)
                WHEN d.gov_unit IS NOT NULL THEN wangge_why_government(d.gov_kind, d.gov_area)
                ELSE wangge_why_none(false) END
           || jsonb_build_object('warnings', CASE
                WHEN d.unit_grid IS NOT NULL AND round(d.edge_m::numeric, 3) <= CAST(:near_m AS float8) THEN
                  jsonb_build_array(jsonb_build_object(
                    'near_boundary', true, 'distance_m', round(d.edge_m::numeric, 3),
                    'message', format('the point is %s m from the edge of unit grid %s',
                                      round(d.edge_m::numeric, 1), d.unit_grid)))
                ELSE '[]'::jsonb END) AS why
    FROM decided d
)
