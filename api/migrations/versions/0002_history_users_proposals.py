"""History of the features, users, the service's secret, redraw proposals.

- every layer table gains ``version_from`` (the version that wrote the row; existing rows: the
  newest version, since a load replaced everything) and a ``<layer>_history`` table for the rows
  later versions closed (``version_to``);
- ``versions`` gains who/why/which proposal/which street;
- ``users``, ``config``, ``proposals``, ``proposal_events``;
- the history tables and ``proposal_events`` are append-only, like ``versions``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from api.models import Geom

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: The standard columns of each layer when this revision was written (as in 0001).
LAYERS = {
    "streets": {"code": "str", "name": "str", "district_code": "str", "households": "int", "residents": "int"},
    "communities": {"code": "str", "name": "str", "street_code": "str", "kind": "str", "has_committee": "bool",
                    "households": "int", "residents": "int"},
    "grids": {"code": "str", "name": "str", "community_code": "str", "kind": "str", "basis": "str",
              "households": "int", "residents": "int"},
    "buildings": {"code": "str", "households": "int", "residents": "int", "floor_area_m2": "float",
                  "estate": "str", "grid_code": "str"},
    "facilities": {"code": "str", "name": "str", "kind": "str", "floor_area_m2": "float", "community_code": "str"},
    "roads": {"code": "str", "name": "str", "kind": "str"},
    "barriers": {"code": "str", "name": "str", "kind": "str"},
}
TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "bool": sa.Boolean}
APPEND_ONLY = [f"{name}_history" for name in LAYERS] + ["proposal_events"]


def _append_only(postgres: bool, table: str) -> None:
    if postgres:
        op.execute(f"create trigger {table}_append_only before update or delete on {table} "
                   "for each row execute function history_append_only()")
    else:
        for event in ("update", "delete"):
            op.execute(f"create trigger {table}_no_{event} before {event} on {table} "
                       f"begin select raise(abort, '{table} is append-only'); end")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("create function history_append_only() returns trigger language plpgsql as "
                   "$$ begin raise exception '% is append-only', TG_TABLE_NAME; end $$")
    for name, columns in LAYERS.items():
        op.add_column(name, sa.Column("version_from", sa.Integer, nullable=False, server_default="0"))
        op.execute(f"update {name} set version_from = (select coalesce(max(version), 0) from versions)")
        op.create_table(
            f"{name}_history",
            sa.Column("fid", sa.Integer, primary_key=True, autoincrement=False),
            *(sa.Column(col, TYPES[kind]) for col, kind in columns.items()),
            sa.Column("extra", sa.JSON),
            *(sa.Column(c, sa.Float) for c in ("minx", "miny", "maxx", "maxy")),
            sa.Column("geom", Geom),
            sa.Column("version_from", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("version_to", sa.Integer, nullable=False),
        )
        op.create_index(f"ix_{name}_history_versions", f"{name}_history", ["version_from", "version_to"])
    for col in ("author", "why", "street_code"):
        op.add_column("versions", sa.Column(col, sa.Text))
    op.add_column("versions", sa.Column("proposal_id", sa.Integer))
    op.create_table(
        "users",
        sa.Column("username", sa.Text, primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("street_code", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "config",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("street_code", sa.Text, nullable=False),
        sa.Column("level", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("author", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.JSON),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("units", sa.JSON, nullable=False),
        sa.Column("review", sa.JSON, nullable=False),
        sa.Column("applied_version", sa.Integer),
    )
    op.create_index("ix_proposals_street_state", "proposals", ["street_code", "state"])
    op.create_table(
        "proposal_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("proposal_id", sa.Integer, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("why", sa.Text),
    )
    op.create_index("ix_proposal_events_proposal", "proposal_events", ["proposal_id"])
    for table in APPEND_ONLY:
        _append_only(postgres, table)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in ("proposal_events", "proposals", "config", "users"):
        op.drop_table(table)
    with op.batch_alter_table("versions") as batch:
        for col in ("author", "why", "street_code", "proposal_id"):
            batch.drop_column(col)
    for name in LAYERS:
        op.drop_table(f"{name}_history")
        if postgres:
            op.drop_column(name, "version_from")
        else:
            op.execute(f"alter table {name} drop column version_from")
    if postgres:
        op.execute("drop function if exists history_append_only()")
