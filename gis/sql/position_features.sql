-- Each worker's latest position as the text of a GeoJSON Feature, left open before its two
-- time-dependent properties (age_s, on_duty), which gis/positions.py appends for each answer;
-- with what it needs for them. Only the positions received after :since when it is given.
WITH p AS (
    SELECT * FROM worker_position p
    WHERE (CAST(:since AS timestamptz) IS NULL OR p.server_time > CAST(:since AS timestamptz)) /*scope*/
), own AS (
    SELECT g.worker_id, array_agg(g.grid_code ORDER BY g.grid_code) AS own
    FROM worker_grid g JOIN p ON p.worker_id = g.worker_id
    GROUP BY g.worker_id
)
SELECT p.worker_id,
       concat('{"type":"Feature","id":', to_json(p.worker_id),
              ',"geometry":', ST_AsGeoJSON(p.geom, 7, 0),
              ',"properties":{"worker_id":', to_json(p.worker_id), ',"name":', to_json(w.name),
              ',"fix_time":', to_json(p.fix_time),
              ',"accuracy":', coalesce(to_json(p.accuracy)::text, 'null'),
              ',"speed":', coalesce(to_json(p.speed)::text, 'null'),
              ',"attrs":', coalesce(p.attrs::text, '{}'),
              ',"chain":{"district":', coalesce(to_json(p.district_code)::text, 'null'),
              ',"street":', coalesce(to_json(p.street_code)::text, 'null'),
              ',"community":', coalesce(to_json(p.community_code)::text, 'null'),
              ',"unit_grid":', coalesce(to_json(p.unit_grid_code)::text, 'null'),
              '},"own_grids":', coalesce(to_json(o.own)::text, '[]'),
              ',"inside_own_grid":',
              CASE WHEN p.unit_grid_code = ANY(o.own) OR p.community_code = ANY(o.own) THEN 'true' ELSE 'false' END
       ) AS head,
       extract(epoch FROM p.fix_time)::float8 AS fix_epoch,
       -- duty days and hours as one short text: few distinct values, parsed once each
       concat_ws('|', array_to_string(w.duty_days, ','), extract(epoch FROM w.duty_start)::int,
                 extract(epoch FROM w.duty_end)::int) AS duty,
       (SELECT extract(epoch FROM statement_timestamp())::float8) AS read_at
FROM p JOIN worker w ON w.id = p.worker_id
LEFT JOIN own o ON o.worker_id = p.worker_id
