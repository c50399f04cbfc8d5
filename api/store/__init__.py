"""The store: a city in a database, PostGIS or the embedded SQLite default, behind one interface.

``Store(url)`` opens (and migrates, with alembic) the database named by ``url``:
``postgresql+psycopg://…`` for PostGIS, ``sqlite:///path`` for the embedded store, which needs no
server (this Python's sqlite3 cannot load SpatiaLite: geometry is WKB with bounding-box columns, an
R*Tree narrows spatial queries and shapely decides them). Both answer the same questions the same way.

- :meth:`Store.load` replaces the stored city with a :class:`gis.model.City` in one transaction (all
  or nothing) and appends a row to the history; its number is the new city version.
- :meth:`Store.city` reads the stored city back as a ``City`` (``gis.io.write_city`` exports it).
- :meth:`Store.features` pages through a layer, optionally the features intersecting a WGS84 bbox;
  :meth:`Store.features_geojson` answers the same page as GeoJSON text (written by PostGIS, or all
  at once by shapely on the embedded store); :meth:`Store.feature` finds one by code.
- :meth:`Store.transaction` runs SQL on the tables kept beside the city (users, proposals).

The modules: :mod:`~api.store.store` (versions, load, commit, snapshot, history, pages, tiles),
:mod:`~api.store.backend` with :mod:`~api.store.sqlite` and :mod:`~api.store.postgis` (what each
database does its own way), :mod:`~api.store.rows` (a layer as rows and back),
:mod:`~api.store.geojson` (features as GeoJSON text), :mod:`~api.store.tiles` (vector tile bounds),
:mod:`~api.store.projection` (boxes between CRSs), :mod:`~api.store.scope` (a street's scope).

Examples
--------
>>> from gis import read_city
>>> store = Store("sqlite://")                        # in memory; a file: sqlite:///city.sqlite
>>> store.load(read_city("data/sample.gpkg"), source="sample.gpkg")
1
>>> store.history()[0]["source"], store.features("streets", limit=1).matched
('sample.gpkg', 2)
"""

from api.errors import ConflictError, EmptyStoreError, NotFoundError, StaleError, StoreError
from api.store.geojson import DECIMALS, GeoJSONPage, frame_geojson, geojson_features, json_value
from api.store.scope import Scope
from api.store.store import MIGRATIONS, Page, Store
from api.store.tiles import MAX_ZOOM, TILE_CACHE_FEATURES

__all__ = ["DECIMALS", "MAX_ZOOM", "MIGRATIONS", "TILE_CACHE_FEATURES", "ConflictError", "EmptyStoreError",
           "GeoJSONPage", "NotFoundError", "Page", "Scope", "StaleError", "Store", "StoreError", "frame_geojson",
           "geojson_features", "json_value"]
