"""Users gain ``token_generation``: a counter a password change raises, carried by every token as the
claim ``gen``, so that the tokens issued before the change stop working (existing rows: 0, the
generation of the tokens issued before this revision, which carry no claim).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("users", "token_generation")
