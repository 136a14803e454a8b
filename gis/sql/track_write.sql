-- One batch of checked fixes (one array per column) into track_point, and each worker's newest clean
-- fix into worker_position with its grid chain. The chain search is skipped while the fix stays
-- strictly inside the lookup piece of the previous one (a gridworker mostly walks inside one grid);
-- otherwise the chain is the lookup rule's (wangge_grid_chain).
WITH t AS (
    -- times come as epoch seconds
    SELECT t.w, to_timestamp(t.fix_s) AS fix, to_timestamp(t.dev_s) AS dev, t.x, t.y, t.acc, t.spd, t.course,
           t.attrs, t.flags, t.latest, t.piece, ST_SetSRID(ST_MakePoint(t.x, t.y), 4490) AS pt
    FROM unnest(CAST(:w AS text[]), CAST(:fix AS float8[]), CAST(:dev AS float8[]),
                CAST(:x AS float8[]), CAST(:y AS float8[]), CAST(:acc AS real[]), CAST(:spd AS real[]),
                CAST(:course AS real[]), CAST(:attrs AS jsonb[]), CAST(:flags AS text[]),
                CAST(:latest AS boolean[]), CAST(:piece AS bigint[]))
         AS t(w, fix_s, dev_s, x, y, acc, spd, course, attrs, flags, latest, piece)
), ins AS (
    INSERT INTO track_point (worker_id, fix_time, device_time, geom, accuracy, speed, course, attrs, flags)
    SELECT w, fix, dev, pt, acc, spd, course, coalesce(attrs, '{}'), string_to_array(flags, ',') FROM t
    ON CONFLICT (worker_id, fix_time) DO NOTHING
    RETURNING 1
), pos AS (
    INSERT INTO worker_position AS p (worker_id, fix_time, server_time, geom, accuracy, speed, course, attrs,
                                      piece_id, unit_grid_code, community_code, street_code, district_code)
    SELECT t.w, t.fix, now(), t.pt, t.acc, t.spd, t.course, coalesce(t.attrs, '{}'),
           u.piece_id, u.unit_grid, u.community, u.street, u.district
    FROM t
    LEFT JOIN LATERAL (
        (SELECT s.id AS piece_id, s.code AS unit_grid, left(s.code, 12) AS community, left(s.code, 9) AS street,
                left(s.code, 6) AS district
         FROM grid_piece s
         WHERE s.id = t.piece AND wangge_valid(s.valid_from, s.valid_to, t.fix) AND ST_Contains(s.geom, t.pt))
        UNION ALL
        (SELECT c.unit_grid_piece_id, c.unit_grid, c.community, c.street, c.district
         FROM wangge_grid_chain(t.pt, t.fix) c)
        LIMIT 1
    ) u ON true
    WHERE t.latest
    ON CONFLICT (worker_id) DO UPDATE SET fix_time = excluded.fix_time, server_time = excluded.server_time,
        geom = excluded.geom, accuracy = excluded.accuracy, speed = excluded.speed, course = excluded.course,
        attrs = excluded.attrs, piece_id = excluded.piece_id, unit_grid_code = excluded.unit_grid_code,
        community_code = excluded.community_code, street_code = excluded.street_code,
        district_code = excluded.district_code
    WHERE p.fix_time < excluded.fix_time
)
SELECT count(*) FROM ins
