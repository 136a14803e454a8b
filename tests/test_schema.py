"""Migrations that change data, run down and up again."""

from __future__ import annotations

from gis.db import database_url


def test_migration_0010_folds_the_refused_reports_into_counts_per_device(settings, db):
    """Down to 0009 (a row per refused report) and up again: one row per device with its count,
    first and last time and newest samples; back down, the samples become rows again."""
    from alembic import command
    from sqlalchemy import text

    from gis.migrate import alembic_config, upgrade

    cfg = alembic_config(database_url(settings))
    command.downgrade(cfg, "0009")
    try:
        with db.begin() as conn:
            conn.execute(
                text(
                    """INSERT INTO device_reject (at, device_id, reason, payload)
                       SELECT now() - make_interval(mins => 10 - n), CASE WHEN n % 2 = 0 THEN 'a' END,
                              'unknown worker or device', jsonb_build_object('n', n)
                       FROM generate_series(1, 9) n"""
                )
            )
        upgrade(database_url(settings))
        with db.connect() as conn:
            rows = conn.execute(
                text("SELECT device_id, count, last_seen - first_seen, samples FROM device_reject ORDER BY 1")
            ).all()
        assert [(d, c, str(span)) for d, c, span, _ in rows] == [("", 5, "0:08:00"), ("a", 4, "0:06:00")]
        assert [[s["payload"]["n"] for s in r[3]] for r in rows] == [[9, 7, 5, 3, 1], [8, 6, 4, 2]]
        command.downgrade(cfg, "0009")
        with db.connect() as conn:
            back = conn.execute(text("SELECT device_id, payload->>'n' FROM device_reject ORDER BY at")).all()
        assert back == [(None if n % 2 else "a", str(n)) for n in range(1, 10)]
    finally:
        upgrade(database_url(settings))
        with db.begin() as conn:
            conn.execute(text("TRUNCATE device_reject"))
