"""Refused GPS reports from unknown devices: a count per device and a few recent samples, bounded.

``device_reject`` kept every refused report in full, so a phone left reporting with an unknown id
(or a flood of made-up ids) grew it without end. It becomes one row per device id: how often, when
first and last, the reason, and at most a few recent payloads (``samples``: newest first, each
``{"at": ..., "payload": ...}``); ``gis/tracks.py`` keeps the samples within a retention period and
the rows within a cap on distinct devices as part of each write. The old rows are folded in.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE device_reject RENAME TO device_reject_0003;
        CREATE TABLE device_reject (
            device_id text PRIMARY KEY,
            reason text NOT NULL,
            first_seen timestamptz NOT NULL,
            last_seen timestamptz NOT NULL,
            count bigint NOT NULL CHECK (count > 0),
            samples jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(samples) = 'array'),
            oldest_sample timestamptz  -- the last sample's time: what retention prunes by
        );
        -- eviction of the least recently seen devices, and pruning of samples past retention
        CREATE INDEX device_reject_last_seen ON device_reject (last_seen, device_id);
        CREATE INDEX device_reject_oldest_sample ON device_reject (oldest_sample) WHERE oldest_sample IS NOT NULL;

        INSERT INTO device_reject (device_id, reason, first_seen, last_seen, count, samples, oldest_sample)
        SELECT device_id, reason, first_seen, last_seen, count, samples, (samples->-1->>'at')::timestamptz
        FROM (
            SELECT left(coalesce(r.device_id, ''), 128) AS device_id, max(r.reason) AS reason,
                   min(r.at) AS first_seen, max(r.at) AS last_seen, count(*) AS count,
                   coalesce(jsonb_agg(jsonb_build_object('at', r.at, 'payload', r.payload) ORDER BY r.at DESC, r.id DESC)
                            FILTER (WHERE r.n <= 5 AND r.at > now() - interval '7 days'), '[]') AS samples
            FROM (SELECT *, row_number() OVER (PARTITION BY left(coalesce(device_id, ''), 128)
                                               ORDER BY at DESC, id DESC) AS n
                  FROM device_reject_0003) r
            GROUP BY 1
            ORDER BY max(r.at) DESC
            LIMIT 10000
        ) old;
        DROP TABLE device_reject_0003;
        """
    )


def downgrade() -> None:
    # the samples come back as rows; the counts of reports not sampled are lost
    op.execute(
        """
        ALTER TABLE device_reject RENAME TO device_reject_0009;
        CREATE TABLE device_reject (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT now(),
            device_id text,
            reason text NOT NULL,
            payload jsonb NOT NULL DEFAULT '{}'
        );
        INSERT INTO device_reject (at, device_id, reason, payload)
        SELECT (s->>'at')::timestamptz, nullif(r.device_id, ''), r.reason, s->'payload'
        FROM device_reject_0009 r, jsonb_array_elements(r.samples) WITH ORDINALITY e(s, n)
        ORDER BY 1, r.device_id, n DESC;
        DROP TABLE device_reject_0009;
        """
    )
