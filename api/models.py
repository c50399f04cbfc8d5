"""SQLAlchemy 2 models of a stored city: one table per layer of ``gis.model.SCHEMA`` and ``versions``.

The same tables serve both backends:

- **PostGIS**: ``geom`` is a geoalchemy2 ``geometry`` column (any type, the SRID of the city's CRS)
  with a GiST index; spatial filters run in the database.
- **SQLite** (the embedded default; this Python cannot load SpatiaLite): ``geom`` is WKB in a BLOB,
  and a built-in R*Tree (``<layer>_rtree``, kept in step by triggers) indexes the bounding box
  columns; exact spatial tests run in shapely.

Every layer table has ``fid`` (the feature's position in its source, 1-based), the standard columns
of its layer, ``extra`` (the source's other columns, as a JSON object), the bounding box
``minx, miny, maxx, maxy`` (in the city's CRS) and ``geom``. ``versions`` is the append-only
history: one row per load, with the city's CRS and the columns of each layer.

Examples
--------
>>> sorted(c.name for c in TABLES["grids"].columns)[:5]
['basis', 'code', 'community_code', 'extra', 'fid']
"""

from __future__ import annotations

import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.types import TypeDecorator

from gis.model import SCHEMA

#: The layers a store holds, in the order of ``gis.model.SCHEMA``.
LAYERS: tuple[str, ...] = tuple(SCHEMA)

#: Column types of the standard columns.
TYPES = {"str": sa.Text, "int": sa.BigInteger, "float": sa.Float, "bool": sa.Boolean}


class Geom(TypeDecorator):
    """A shapely geometry: PostGIS ``geometry`` on PostgreSQL, WKB in a BLOB elsewhere.

    Values are bound as (E)WKB and read back as shapely geometries; on PostgreSQL the SRID travels
    inside the EWKB (``shapely.set_srid`` before binding).
    """

    impl = sa.LargeBinary
    cache_ok = True
    spatial_index = False  # asked by geoalchemy2's DDL hooks: the migration creates the indexes
    use_N_D_index = False

    def load_dialect_impl(self, dialect):
        # geoalchemy2's DDL hooks ask with no dialect: a plain BLOB keeps them (and SpatiaLite) out
        if dialect is None:
            return sa.LargeBinary()
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Geometry("GEOMETRY", srid=-1, spatial_index=False))
        return dialect.type_descriptor(sa.LargeBinary())

    def bind_expression(self, bindvalue):
        return bindvalue  # no ST_GeomFromEWKT: PostGIS parses hex EWKB text itself

    def column_expression(self, col):
        return col  # PostGIS returns hex EWKB text, SQLite the WKB bytes

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "postgresql":
            return shapely.to_wkb(value, hex=True, include_srid=True)
        return shapely.to_wkb(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        data = getattr(value, "data", value)  # geoalchemy2 wraps PostGIS's hex EWKB in a WKBElement
        return shapely.from_wkb(bytes(data) if isinstance(data, memoryview) else data)


metadata = sa.MetaData()


def _layer_table(name: str) -> sa.Table:
    index = [sa.Index(f"ix_{name}_code", "code")] if "code" in SCHEMA[name] else []
    return sa.Table(
        name, metadata,
        sa.Column("fid", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(col, TYPES[kind]) for col, kind in SCHEMA[name].items()),
        sa.Column("extra", sa.JSON),
        *(sa.Column(c, sa.Float) for c in ("minx", "miny", "maxx", "maxy")),
        sa.Column("geom", Geom),
        sa.Column("version_from", sa.Integer, nullable=False, server_default="0"),
        *index,
    )


def _history_table(name: str) -> sa.Table:
    return sa.Table(
        f"{name}_history", metadata,
        sa.Column("fid", sa.Integer, primary_key=True, autoincrement=False),
        *(sa.Column(col, TYPES[kind]) for col, kind in SCHEMA[name].items()),
        sa.Column("extra", sa.JSON),
        *(sa.Column(c, sa.Float) for c in ("minx", "miny", "maxx", "maxy")),
        sa.Column("geom", Geom),
        sa.Column("version_from", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version_to", sa.Integer, nullable=False),
        sa.Index(f"ix_{name}_history_versions", "version_from", "version_to"),
    )


#: The table of each layer.
TABLES: dict[str, sa.Table] = {name: _layer_table(name) for name in LAYERS}

#: The closed rows of each layer (rows replaced by a later version).
HISTORY: dict[str, sa.Table] = {name: _history_table(name) for name in LAYERS}

#: Append-only history of the stored city: one row per change (a load), the newest is the city.
versions = sa.Table(
    "versions", metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("source", sa.Text),
    sa.Column("crs", sa.Text, nullable=False),
    sa.Column("srid", sa.Integer, nullable=False),
    sa.Column("layers", sa.JSON, nullable=False),  # {layer: {"columns": [...], "count": n, "changed": v}}
    sa.Column("author", sa.Text),
    sa.Column("why", sa.Text),
    sa.Column("proposal_id", sa.Integer),
    sa.Column("street_code", sa.Text),  # the street an applied proposal changed (None: the whole city)
)

#: Who may use the service: ``role`` is street_staff (with ``street_code``), planner, reviewer or admin;
#: ``token_generation`` counts the password changes (the tokens of an earlier one are refused).
users = sa.Table(
    "users", metadata,
    sa.Column("username", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id, never the password
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("street_code", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("token_generation", sa.Integer, nullable=False, server_default="0"),
)

#: Values the service generates once and keeps (the token signing secret when none is configured).
config = sa.Table(
    "config", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Redraw proposals of one street's communities or grids: the units proposed (GeoJSON, WGS84) and
#: their review (sizes, findings and summary of the city with the proposal applied).
proposals = sa.Table(
    "proposals", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("street_code", sa.Text, nullable=False),
    sa.Column("level", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("base_version", sa.Integer, nullable=False),
    sa.Column("author", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("operation", sa.JSON),  # the gis.simulate request that made the units, if one did
    sa.Column("rules", sa.Text, nullable=False),
    sa.Column("units", sa.JSON, nullable=False),
    sa.Column("review", sa.JSON, nullable=False),  # {"sizes", "findings", "summary"}
    sa.Column("applied_version", sa.Integer),
    sa.Index("ix_proposals_street_state", "street_code", "state"),
)

#: Every change of state of a proposal (append-only): who, when, why.
proposal_events = sa.Table(
    "proposal_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("proposal_id", sa.Integer, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("why", sa.Text),
    sa.Index("ix_proposal_events_proposal", "proposal_id"),
)
