-- Case statistics for cases reported in [:from, :to), one row per group ({group} is a column
-- expression chosen from a fixed list in gis/cases/statistics.py, never user text; {scope} the caller's
-- reach, built by gis.access.principal.area_condition with bound values).
--   结案率 closed / total; 按期结案率 closed on time / due; 返工率 reworked / due to close.
WITH c AS (
    SELECT c.id, c.state, c.class_code, c.reported_at, c.deadline, {group} AS grp,
           e.closed_at, coalesce(e.reworked, false) AS reworked
    FROM "case" c
    LEFT JOIN LATERAL (
        SELECT max(at) FILTER (WHERE action = 'close') AS closed_at, bool_or(action = 'rework') AS reworked
        FROM case_event WHERE case_id = c.id
    ) e ON true
    WHERE c.reported_at >= :from AND c.reported_at < :to AND {scope}
)
SELECT grp,
       count(*) AS total,
       count(*) FILTER (WHERE state = 'closed') AS closed,
       count(*) FILTER (WHERE deadline < :to OR state = 'closed') AS due,
       count(*) FILTER (WHERE state = 'closed' AND closed_at <= deadline) AS closed_on_time,
       count(*) FILTER (WHERE reworked) AS reworked,
       count(*) FILTER (WHERE state <> 'closed' AND deadline < now()) AS overdue_open,
       round((avg(extract(epoch FROM closed_at - reported_at) / 3600.0)
              FILTER (WHERE state = 'closed'))::numeric, 2) AS avg_handling_hours,
       (SELECT jsonb_object_agg(state, n) FROM (SELECT state, count(*) n FROM c c2
         WHERE c2.grp IS NOT DISTINCT FROM c.grp GROUP BY state) s) AS by_state,
       (SELECT jsonb_object_agg(class_code, n) FROM (SELECT class_code, count(*) n FROM c c2
         WHERE c2.grp IS NOT DISTINCT FROM c.grp GROUP BY class_code) s) AS by_class
FROM c
GROUP BY grp
ORDER BY grp NULLS LAST;
