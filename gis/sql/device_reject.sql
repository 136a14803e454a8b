-- One batch's reports from unknown devices, in one statement: a count per device id and its few
-- newest payloads (device_reject.samples, newest first), samples past retention pruned, and the
-- distinct devices kept within a cap by forgetting the least recently seen.
-- :p jsonb array of the refused points; :now, :reason; :samples, :retention_s, :devices, :max_bytes.
WITH b AS (
    SELECT left(coalesce(p->>'device_id', p->>'worker_id', ''), 128) AS device_id, n,
           CASE WHEN octet_length(p::text) <= :max_bytes THEN p
                ELSE jsonb_build_object('truncated_bytes', octet_length(p::text)) END AS p
    FROM jsonb_array_elements(CAST(:p AS jsonb)) WITH ORDINALITY e(p, n)
), g AS (
    -- a batch naming more devices than the cap keeps its last ones (the rest would be evicted at once)
    SELECT device_id, count(*) AS c,
           coalesce(jsonb_agg(jsonb_build_object('at', CAST(:now AS timestamptz), 'payload', p) ORDER BY n DESC)
                    FILTER (WHERE r <= :samples), '[]') AS samples
    FROM (SELECT *, row_number() OVER (PARTITION BY device_id ORDER BY n DESC) AS r FROM b) x
    GROUP BY device_id
    ORDER BY max(n) DESC
    LIMIT :devices
), up AS (
    -- rows are locked in device id order, so concurrent batches naming the same devices never deadlock
    INSERT INTO device_reject AS d (device_id, reason, first_seen, last_seen, count, samples, oldest_sample)
    SELECT device_id, :reason, :now, :now, c, samples,
           CASE WHEN jsonb_array_length(samples) > 0 THEN CAST(:now AS timestamptz) END
    FROM g ORDER BY device_id
    ON CONFLICT (device_id) DO UPDATE SET
        reason = EXCLUDED.reason,
        last_seen = greatest(d.last_seen, EXCLUDED.last_seen),
        count = d.count + EXCLUDED.count,
        (samples, oldest_sample) = (
            SELECT coalesce(jsonb_agg(s ORDER BY k), '[]'), min(CAST(s->>'at' AS timestamptz))
            FROM (SELECT s, k FROM jsonb_array_elements(EXCLUDED.samples || d.samples) WITH ORDINALITY e(s, k)
                  WHERE CAST(s->>'at' AS timestamptz) > CAST(:now AS timestamptz) - make_interval(secs => :retention_s)
                  ORDER BY k LIMIT :samples) kept
        )
    RETURNING 1
), done AS (
    -- the maintenance below runs once the upsert is complete (this InitPlan forces it) and skips
    -- rows another batch holds: it never waits, so it cannot take part in a deadlock
    SELECT count(*) AS n FROM up
), doomed AS (
    -- the devices beyond the cap, least recently seen: read without locks, so the offset rows stay free
    SELECT device_id FROM device_reject WHERE device_id NOT IN (SELECT device_id FROM g)
    ORDER BY last_seen DESC, device_id DESC
    OFFSET greatest(:devices - (SELECT count(*) FROM g), 0)
), pruned AS (
    UPDATE device_reject d SET
        (samples, oldest_sample) = (
            SELECT coalesce(jsonb_agg(s ORDER BY k), '[]'), min(CAST(s->>'at' AS timestamptz))
            FROM jsonb_array_elements(d.samples) WITH ORDINALITY e(s, k)
            WHERE CAST(s->>'at' AS timestamptz) > CAST(:now AS timestamptz) - make_interval(secs => :retention_s)
        )
    WHERE d.device_id IN (
        SELECT device_id FROM device_reject
        WHERE oldest_sample <= CAST(:now AS timestamptz) - make_interval(secs => :retention_s)
          AND device_id NOT IN (SELECT device_id FROM g) AND device_id NOT IN (SELECT device_id FROM doomed)
          AND (SELECT n FROM done) >= 0
        ORDER BY oldest_sample LIMIT 100  -- a few per write: cheap, and writes come often enough
        FOR UPDATE SKIP LOCKED)
    RETURNING 1
), evicted AS (
    DELETE FROM device_reject
    WHERE device_id IN (
        SELECT device_id FROM device_reject
        WHERE device_id IN (SELECT device_id FROM doomed) AND (SELECT n FROM done) >= 0
        FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT (SELECT n FROM done), (SELECT count(*) FROM pruned), (SELECT count(*) FROM evicted)
