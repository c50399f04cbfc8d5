"""Vector tiles of the WebMercatorQuad tile matrix set: tile bounds, and where a layer can be in one.

A tile ``z/x/y`` (y from the top) covers :func:`tile_envelope` in EPSG:3857; its features are
clipped to it plus a buffer of :data:`TILE_BUFFER` of its :data:`TILE_EXTENT` units a side. Only the
part of a tile near a layer (:func:`near_tile`) is searched, in the layer's CRS (:func:`search_bounds`).

Examples
--------
>>> tile_envelope(0, 0, 0) == (-WORLD, -WORLD, WORLD, WORLD)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from api.errors import InvalidParameterError
from api.store.projection import projected_box, transformer

#: Half the width of the WebMercatorQuad world (EPSG:3857 metres).
WORLD = 20037508.342789244
#: Tile coordinates per side of a vector tile, and the buffer around it (in those units).
TILE_EXTENT, TILE_BUFFER = 4096, 64
MAX_ZOOM = 24
#: Properties of a vector tile's features (those of them the layer has).
TILE_PROPERTIES = ("code", "name", "households", "residents")
#: Columns a street's scope selects units by (:class:`api.store.scope.Scope`).
SCOPE_COLUMNS = ("code", "street_code", "community_code")
#: Largest layer the embedded store keeps in memory for tiles (features; ~2 KB each).
TILE_CACHE_FEATURES = 500_000


@dataclass(frozen=True)
class HeldLayer:
    """A layer in memory for tiles: fids (sorted), geometries in the city's CRS and in EPSG:3857, the
    tile and scope columns, and an STRtree of the EPSG:3857 geometries."""

    fid: np.ndarray
    geom: np.ndarray
    web: np.ndarray
    columns: dict
    tree: shapely.STRtree


def check_tile(z: int, x: int, y: int) -> None:
    """InvalidParameterError unless ``z/x/y`` is a tile of WebMercatorQuad (zoom 0–24).

    >>> check_tile(1, 1, 1)
    >>> try:
    ...     check_tile(1, 2, 0)
    ... except InvalidParameterError as e:
    ...     print(e)
    tile 1/2/0: at zoom 1, x and y are 0–1
    """
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidParameterError(f"tile {z}/{x}/{y}: the zoom is 0–{MAX_ZOOM}")
    if not (0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise InvalidParameterError(f"tile {z}/{x}/{y}: at zoom {z}, x and y are 0–{2 ** z - 1}")


def tile_envelope(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """Bounds (EPSG:3857) of the WebMercatorQuad tile ``z/x/y`` (as PostGIS ``ST_TileEnvelope``).

    >>> tile_envelope(1, 0, 0) == (-WORLD, 0.0, 0.0, WORLD)
    True
    """
    size = 2 * WORLD / 2 ** z
    minx, maxy = -WORLD + x * size, WORLD - y * size
    return minx, maxy - size, minx + size, maxy


def to_web(geoms: np.ndarray, crs: str) -> np.ndarray:
    """Geometries in CRS ``crs`` (WKT or a name) in EPSG:3857.

    >>> to_web(np.array([shapely.Point(180, 0)]), "EPSG:4326")[0].x
    20037508.342789244
    """
    web = transformer(crs, "EPSG:3857")
    return shapely.transform(geoms, lambda xy: np.column_stack(web.transform(xy[:, 0], xy[:, 1])))


def near_tile(env, extent):
    """The part of the EPSG:3857 box ``env`` near ``extent`` (the WGS84 bounds of a layer; None: it has
    no geometry), or None when no part is: only there can the layer's features be, and only there
    does the layer's CRS project well (a whole-world tile comes out of a Gauss–Krüger zone as a tangle).

    >>> near_tile(tile_envelope(0, 0, 0), (115.8, 28.6, 115.9, 28.7))  # doctest: +ELLIPSIS
    (12890...)
    >>> near_tile(tile_envelope(1, 0, 0), (115.8, 28.6, 115.9, 28.7)) is None
    True
    """
    if extent is None:
        return None
    lat = np.clip([extent[1], extent[3]], -85.06, 85.06)
    x, y = transformer("EPSG:4326", "EPSG:3857").transform([extent[0], extent[2]], lat)
    dx, dy = (x[1] - x[0]) * 0.01 + 1, (y[1] - y[0]) * 0.01 + 1
    near = max(env[0], x[0] - dx), max(env[1], y[0] - dy), min(env[2], x[1] + dx), min(env[3], y[1] + dy)
    return near if near[0] <= near[2] and near[1] <= near[3] else None


def search_bounds(env, crs: str):
    """Bounds in ``crs`` (WKT) covering the EPSG:3857 box ``env`` (with a margin), for an index; None when
    it cannot be projected there: search everything.

    >>> [round(v) for v in search_bounds((0, 0, 1000, 1000), "EPSG:3857")]
    [-10, -10, 1010, 1010]
    """
    box = projected_box(env, "EPSG:3857", crs)
    if box is None:
        return None
    b = shapely.bounds(box)
    dx, dy = (b[2] - b[0]) * 0.01, (b[3] - b[1]) * 0.01
    return b[0] - dx, b[1] - dy, b[2] + dx, b[3] + dy
