-- One batch of checked fixes (one array per column) into track_point, and each worker's newest clean
-- fix into worker_position with its grid chain. The chain search is skipped while the fix stays
-- strictly inside the lookup piece of the previous one (a gridworker mostly walks inside one grid);
-- otherwise the unit grid follows the lookup rule: interior first, then the lowest code.
WITH t AS (
    -- times come as epoch seconds
    SELECT t.w, to_timestamp(t.fix_s) AS fix, to_timestamp(t.dev_s) AS dev, t.x, t.y, t.acc, t.spd, t.crs_,
           t.attrs, t.flags, t.latest, t.piece, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS pt
    FROM unnest(CAST(:w AS text[]), CAST(:fix AS float8[]), CAST(:dev AS float8[]),
                CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:acc AS real[]), CAST(:spd AS real[]),
                CAST(:crs_ AS real[]), CAST(:attrs AS jsonb[]), CAST(:flags AS text[]),
                CAST(:latest AS boolean[]), CAST(:piece AS bigint[]))
         AS t(w, fix_s, dev_s, x, y, acc, spd, crs_, attrs, flags, latest, piece)
), ins AS (
    INSERT INTO track_point (worker_id, fix_time, device_time, geom, accuracy, speed, course, attrs, flags)
    SELECT w, fix, dev, pt, acc, spd, crs_, coalesce(attrs, '{}'), string_to_array(flags, ',') FROM t
    ON CONFLICT (worker_id, fix_time) DO NOTHING
    RETURNING 1
), pos AS (
    INSERT INTO worker_position AS p (worker_id, fix_time, server_time, geom, accuracy, speed, course, attrs,
                                      piece_id, grid_code, community_code, street_code, district_code)
    SELECT t.w, t.fix, now(), t.pt, t.acc, t.spd, t.crs_, coalesce(t.attrs, '{}'),
           u.id, u.code, left(u.code, 12), left(u.code, 9), left(u.code, 6)
    FROM t
    LEFT JOIN LATERAL (
        (SELECT s.id, s.code FROM grid_piece s
         WHERE s.id = t.piece AND s.valid_from <= t.fix AND (s.valid_to IS NULL OR s.valid_to > t.fix)
           AND ST_Contains(s.geom, t.pt))
        UNION ALL
        (SELECT g.id, g.code FROM grid_piece g
         WHERE g.level = 4 AND ST_Intersects(g.geom, t.pt)
           AND g.valid_from <= t.fix AND (g.valid_to IS NULL OR g.valid_to > t.fix)
         ORDER BY NOT ST_Contains(g.geom, t.pt), g.code LIMIT 1)
        LIMIT 1
    ) u ON true
    WHERE t.latest
    ON CONFLICT (worker_id) DO UPDATE SET fix_time = excluded.fix_time, server_time = excluded.server_time,
        geom = excluded.geom, accuracy = excluded.accuracy, speed = excluded.speed, course = excluded.course,
        attrs = excluded.attrs, piece_id = excluded.piece_id, grid_code = excluded.grid_code,
        community_code = excluded.community_code, street_code = excluded.street_code,
        district_code = excluded.district_code
    WHERE p.fix_time < excluded.fix_time
)
SELECT count(*) FROM ins
