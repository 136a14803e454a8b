"""The dispatch rule as SQL functions: the one definition the intake and the bulk import of cases
both use (docs/cases.md), as migration 0009 did for the point-in-grid rule.

* ``wangge_local_time(at)``: the time of day in China Standard Time, the clock of the rules' daily
  windows (as ``gis.dates.CHINA`` is Python's).
* ``wangge_rule_applies(rule, class, district, street, community, unit_grid, at)``: a rule takes a
  case of ``class`` (or its major class ``NN00``) in one of the case's four grids, in force at
  ``at``, inside its daily window when it has one (a window may run past midnight: 22:00-06:00).
* ``wangge_rule_rank(rule, class)``: sorts the rules that apply, first one wins: the most specific
  area, an exact class before its major class, a window before none, the oldest rule.
* ``wangge_why_*``: the ``why`` of each way a case is dispatched, the texts users read.

All are plain SQL functions, inlined by PostgreSQL into the calling query.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FUNCTIONS = """
CREATE OR REPLACE FUNCTION wangge_local_time(at timestamptz) RETURNS time
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (at AT TIME ZONE 'Asia/Shanghai')::time
$$;

CREATE OR REPLACE FUNCTION wangge_rule_applies(r dispatch_rule, cls text, district text, street text,
                                               community text, unit_grid text, at timestamptz)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT r.class_code IN (cls, left(cls, 2) || '00')
       AND r.area_code IN (unit_grid, community, street, district)
       AND wangge_valid(r.valid_from, r.valid_to, at)
       AND (r.start_time IS NULL
            OR CASE WHEN r.start_time <= r.end_time
                    THEN wangge_local_time(at) BETWEEN r.start_time AND r.end_time
                    ELSE wangge_local_time(at) >= r.start_time OR wangge_local_time(at) <= r.end_time END)
$$;

CREATE OR REPLACE FUNCTION wangge_rule_rank(r dispatch_rule, cls text) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY[-length(r.area_code), (r.class_code <> cls)::int, (r.start_time IS NULL)::int, r.id]
$$;

CREATE OR REPLACE FUNCTION wangge_why_rule(rule_id bigint, area text, class text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'decided_by', 'rule', 'rule_id', rule_id, 'area', area, 'class', class,
        'message', format('dispatch rule %s for class %s in area %s', rule_id, class, area))
$$;

CREATE OR REPLACE FUNCTION wangge_why_government(kind text, area text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'decided_by', 'fallback', 'area', area,
        'message', format('no rule or component: the %s government of %s (属地兜底)', split_part(kind, '_', 1), area))
$$;

CREATE OR REPLACE FUNCTION wangge_why_component(code text, minor_name text, responsible text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'decided_by', 'component', 'component', code, 'role', responsible,
        'message', format('%s %s: its %s is responsible', minor_name, code, responsible))
$$;

CREATE OR REPLACE FUNCTION wangge_why_none(outside boolean) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN outside THEN jsonb_build_object(
                    'decided_by', 'none', 'queue', 'unassigned',
                    'message', 'the point lies outside every grid: no responsible unit found for this place and class')
                ELSE jsonb_build_object(
                    'decided_by', 'none', 'message', 'no responsible unit found for this place and class') END
$$;
"""


def upgrade() -> None:
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(
        """DROP FUNCTION IF EXISTS wangge_why_none(boolean), wangge_why_component(text, text, text),
             wangge_why_government(text, text), wangge_why_rule(bigint, text, text),
             wangge_rule_rank(dispatch_rule, text),
             wangge_rule_applies(dispatch_rule, text, text, text, text, text, timestamptz),
             wangge_local_time(timestamptz)"""
    )
