"""The city: one table per layer, spatial indexes, the append-only history of versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op

from api.models import Geom

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

#: The standard columns of each layer when this revision was written (gis.model.SCHEMA).
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


def _has_rtree(bind) -> bool:
    try:
        bind.exec_driver_sql("create virtual table temp._probe_rtree using rtree(id, minx, maxx, miny, maxy)")
        bind.exec_driver_sql("drop table temp._probe_rtree")
        return True
    except sa.exc.OperationalError:
        return False


def upgrade() -> None:
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    rtree = not postgres and _has_rtree(bind)
    for name, columns in LAYERS.items():
        op.create_table(
            name,
            sa.Column("fid", sa.Integer, primary_key=True, autoincrement=False),
            *(sa.Column(col, TYPES[kind]) for col, kind in columns.items()),
            sa.Column("extra", sa.JSON),
            *(sa.Column(c, sa.Float) for c in ("minx", "miny", "maxx", "maxy")),
            sa.Column("geom", Geom),
        )
        op.create_index(f"ix_{name}_code", name, ["code"])
        if postgres:
            op.create_index(f"ix_{name}_geom", name, ["geom"], postgresql_using="gist")
        elif rtree:
            op.execute(f"create virtual table {name}_rtree using rtree(id, minx, maxx, miny, maxy)")
            op.execute(f"create trigger {name}_rtree_insert after insert on {name} begin "
                       f"insert into {name}_rtree values (new.fid, new.minx, new.maxx, new.miny, new.maxy); end")
            op.execute(f"create trigger {name}_rtree_delete after delete on {name} begin "
                       f"delete from {name}_rtree where id = old.fid; end")
            op.execute(f"create trigger {name}_rtree_update after update on {name} begin "
                       f"delete from {name}_rtree where id = old.fid; "
                       f"insert into {name}_rtree values (new.fid, new.minx, new.maxx, new.miny, new.maxy); end")
    op.create_table(
        "versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("crs", sa.Text, nullable=False),
        sa.Column("srid", sa.Integer, nullable=False),
        sa.Column("layers", sa.JSON, nullable=False),
    )
    if postgres:  # history is append-only: refuse updates and deletes in the database itself
        op.execute("create function versions_append_only() returns trigger language plpgsql as "
                   "$$ begin raise exception 'versions is append-only'; end $$")
        op.execute("create trigger versions_append_only before update or delete on versions "
                   "for each row execute function versions_append_only()")
    else:
        for event in ("update", "delete"):
            op.execute(f"create trigger versions_no_{event} before {event} on versions "
                       "begin select raise(abort, 'versions is append-only'); end")


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_table("versions")
    if bind.dialect.name == "postgresql":
        op.execute("drop function if exists versions_append_only()")
    for name in LAYERS:
        if bind.dialect.name != "postgresql":
            op.execute(f"drop table if exists {name}_rtree")
        op.drop_table(name)
