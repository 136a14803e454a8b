"""Accounts, roles on areas, sessions, API keys, device secrets, failed sign-ins and the audit trail.

- ``app_user``: people who sign in (``user`` is a reserved word). ``password_hash`` is Argon2 (pwdlib);
  NULL means the account cannot sign in until a password is set. ``worker_id`` links a gridworker's
  account to their worker row.
- ``api_key``: machine clients; only the SHA-256 of the secret is kept (see ``gis/access/accounts.py``).
- ``access_grant``: a role on an area (a grid code of any level; NULL = the whole city), held by a
  user or by a key; a unit_staff grant names its unit.
- ``auth_session``: one row per sign-in; a token names its session, so sign-out revokes at once.
- ``login_attempt``: failed and successful sign-ins in the limiting window, per login and address.
- ``device_secret``: the hash of each worker's device secret (what the phone sends as its id).
- ``access_secret``: the token signing key when the settings give none (generated once).
- ``audit_log``: append-only, like ``case_event``.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE app_user (
            id bigserial PRIMARY KEY,
            login text NOT NULL UNIQUE CHECK (login ~ '^[A-Za-z0-9_.@-]{1,64}$'),
            display_name text NOT NULL,
            phone text,
            active boolean NOT NULL DEFAULT true,
            password_hash text,
            password_changed_at timestamptz,
            worker_id text UNIQUE REFERENCES worker(id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE api_key (
            id bigserial PRIMARY KEY,
            name text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
            secret_hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            last_used_at timestamptz
        );
        -- one live key per name; revoked ones stay for the trail
        CREATE UNIQUE INDEX api_key_live_name ON api_key (name) WHERE revoked_at IS NULL;

        CREATE TABLE access_grant (
            id bigserial PRIMARY KEY,
            user_id bigint REFERENCES app_user(id) ON DELETE CASCADE,
            key_id bigint REFERENCES api_key(id) ON DELETE CASCADE,
            role text NOT NULL CHECK (role IN ('admin', 'grid_admin', 'dispatcher', 'unit_staff', 'gridworker',
                                               'planner', 'viewer', 'reporter')),
            area_code text CHECK (area_code ~ '^[0-9]{6}([0-9]{3}){0,3}$'),
            resp_unit text REFERENCES resp_unit(code),
            created_at timestamptz NOT NULL DEFAULT now(),
            CHECK ((user_id IS NULL) <> (key_id IS NULL)),
            CHECK ((role = 'unit_staff') = (resp_unit IS NOT NULL)),
            UNIQUE NULLS NOT DISTINCT (user_id, key_id, role, area_code, resp_unit)
        );
        CREATE INDEX access_grant_user ON access_grant (user_id) WHERE user_id IS NOT NULL;
        CREATE INDEX access_grant_key ON access_grant (key_id) WHERE key_id IS NOT NULL;

        CREATE TABLE auth_session (
            id text PRIMARY KEY,
            user_id bigint NOT NULL REFERENCES app_user(id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            revoked_at timestamptz,
            client_addr text
        );
        CREATE INDEX auth_session_user ON auth_session (user_id) WHERE revoked_at IS NULL;
        CREATE INDEX auth_session_expires ON auth_session (expires_at);

        CREATE TABLE login_attempt (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            login text NOT NULL,
            client_addr text NOT NULL,
            ok boolean NOT NULL
        );
        CREATE INDEX login_attempt_login ON login_attempt (login, at);
        CREATE INDEX login_attempt_addr ON login_attempt (client_addr, at) WHERE NOT ok;
        CREATE INDEX login_attempt_at ON login_attempt (at);

        CREATE TABLE device_secret (
            worker_id text PRIMARY KEY REFERENCES worker(id) ON DELETE CASCADE,
            secret_hash bytea NOT NULL UNIQUE,
            issued_at timestamptz NOT NULL DEFAULT now(),
            issued_by text NOT NULL
        );

        CREATE TABLE access_secret (
            name text PRIMARY KEY,
            value bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE audit_log (
            id bigserial PRIMARY KEY,
            at timestamptz NOT NULL DEFAULT clock_timestamp(),
            actor_kind text NOT NULL CHECK (actor_kind IN ('user', 'key', 'device', 'operator', 'anonymous')),
            actor_id text NOT NULL,
            action text NOT NULL,
            object_type text NOT NULL,
            object_id text,
            details jsonb NOT NULL DEFAULT '{}',
            client_addr text,
            request_id text
        );
        CREATE INDEX audit_log_at ON audit_log (at);
        CREATE INDEX audit_log_actor ON audit_log (actor_kind, actor_id, at);
        CREATE INDEX audit_log_object ON audit_log (object_type, object_id, at);
        CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_log is append-only';
        END $$;
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE IF EXISTS audit_log, access_secret, device_secret, login_attempt, auth_session, access_grant,
            api_key, app_user;
        DROP FUNCTION IF EXISTS audit_log_append_only();
        """
    )
