"""The citizen's contact on a case: name, phone and e-mail, as the 12345 hotline records them and
GeoReport v2 takes them (``first_name``, ``last_name``, ``phone``, ``email``). Personal data: the API
masks them for callers without ``personal:read`` on the case (gis/access/personal.py); statistics,
hotspots and Open311's answers never carry them.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """ALTER TABLE "case"
             ADD COLUMN contact_name text CHECK (length(contact_name) <= 64),
             ADD COLUMN contact_phone text CHECK (contact_phone ~ '^[0-9+() -]{3,32}$'),
             ADD COLUMN contact_email text CHECK (length(contact_email) <= 254 AND contact_email LIKE '%_@_%')"""
    )


def downgrade() -> None:
    op.execute('ALTER TABLE "case" DROP COLUMN contact_name, DROP COLUMN contact_phone, DROP COLUMN contact_email')
