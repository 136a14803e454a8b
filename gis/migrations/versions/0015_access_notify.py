"""Tell the API processes when who may do what changes: a row written to the tables a caller is
verified from (users, grants, keys, sessions ended, device secrets, workers' grids) sends a
notification on channel ``wangge_access``, and each process forgets the callers it verified
(api/principals.py), so it can keep them in memory between such changes and still honour a
revocation at once. New rows that cannot be in any process's memory yet (a new key, a new session),
a key's ``last_used_at`` and the sweep of sessions that ended long ago send nothing.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: table -> the row events that change who may do what (and a condition on the old row)
TABLES = {
    "app_user": ("INSERT OR UPDATE OR DELETE", ""),
    "access_grant": ("INSERT OR UPDATE OR DELETE", ""),
    "api_key": ("UPDATE OF secret_hash, revoked_at OR DELETE", ""),  # not the last_used_at each use moves
    # a live session ended; not the sweep of sessions long expired that each sign-in makes
    "auth_session": ("UPDATE OR DELETE", "WHEN (OLD.revoked_at IS NULL AND OLD.expires_at > now())"),
    "device_secret": ("INSERT OR UPDATE OR DELETE", ""),
    "worker_grid": ("INSERT OR UPDATE OR DELETE", ""),
}


def upgrade() -> None:
    op.execute(
        """CREATE FUNCTION wangge_access_changed() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN
               -- one notification per table and transaction: PostgreSQL folds identical ones
               PERFORM pg_notify('wangge_access', TG_TABLE_NAME);
               RETURN NULL;
           END $$"""
    )
    for table, (events, when) in TABLES.items():
        op.execute(
            f"CREATE TRIGGER access_changed AFTER {events} ON {table} "
            f"FOR EACH ROW {when} EXECUTE FUNCTION wangge_access_changed()"
        )
        op.execute(
            f"CREATE TRIGGER access_truncated AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wangge_access_changed()"
        )


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER access_changed ON {table}")
        op.execute(f"DROP TRIGGER access_truncated ON {table}")
    op.execute("DROP FUNCTION wangge_access_changed()")
