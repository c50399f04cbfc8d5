"""Roads and barriers gain the standard columns ``bridge``, ``tunnel`` and ``layer`` (text; see
``gis.model.SCHEMA``), in their tables and history tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("bridge", "tunnel", "layer")


def upgrade() -> None:
    for name in ("roads", "barriers"):
        for table in (name, f"{name}_history"):
            for col in COLUMNS:
                op.add_column(table, sa.Column(col, sa.Text))


def downgrade() -> None:
    for name in ("roads", "barriers"):
        for table in (name, f"{name}_history"):
            for col in COLUMNS:
                op.drop_column(table, col)
