"""Vector tiles of the stored city, for cities too large for GeoJSON.

``GET /collections/{layer}/tiles/{z}/{x}/{y}``: a Mapbox Vector Tile (``application/vnd.mapbox-vector-tile``)
of the tile ``z/x/y`` of WebMercatorQuad (EPSG:3857, zoom 0–24, ``y`` counted from the top, as
XYZ/slippy-map URLs: ``…/tiles/{z}/{x}/{y}`` in MapLibre or OpenLayers). One layer in the tile, named
after the collection; extent 4096, buffer 64. The features are those whose geometry intersects the
tile; their properties are ``code``, ``name`` and the counts (``households``, ``residents``) the layer
has, their id the stored ``fid``.

- A tile with no features is **204 No Content** (no body), as the map clients expect for empty tiles.
- Each answer has an ``ETag`` naming the city version and the reader's scope (``Cache-Control:
  private, no-cache``): a client that sends it back in ``If-None-Match`` gets **304 Not Modified**
  without the tile being made again, until the city changes.
- ``z``, ``x`` or ``y`` not a tile of WebMercatorQuad: 400; an unknown layer: 404.
- The same access as ``/collections/{layer}/items``: a token (or ``settings.public_read``), and a
  street's staff get only their street's features.
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from api.auth import User, reader, scope_of
from api.settings import Settings
from api.store.tiles import MAX_ZOOM

MVT = "application/vnd.mapbox-vector-tile"


def router(settings: Settings) -> APIRouter:
    api = APIRouter(tags=["tiles"])

    @api.get("/collections/{layer}/tiles/{z}/{x}/{y}",
             summary="A vector tile of a layer (Mapbox Vector Tile, WebMercatorQuad)",
             response_class=Response,
             responses={200: {"content": {MVT: {}}, "description": "the tile"},
                        204: {"description": "no feature in this tile"}})
    def tile(request: Request, layer: str,
             z: Annotated[int, Path(description=f"zoom level, 0–{MAX_ZOOM}")],
             x: Annotated[int, Path(description="column, 0 – 2^z − 1 (from the west)")],
             y: Annotated[int, Path(description="row, 0 – 2^z − 1 (from the north)")],
             user: User | None = Depends(reader)):
        store = request.app.state.store
        scope = scope_of(request, user)
        # read before the tile is made: a tile is never older than its tag
        tag = f'W/"{store.version()}-{scope.street if scope is not None else "city"}"'
        headers = {"ETag": tag, "Cache-Control": "private, no-cache"}
        if tag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
            return Response(status_code=304, headers=headers)
        data = store.tile(layer, z, x, y, scope=scope)
        if not data:
            return Response(status_code=204, headers=headers)
        return Response(data, media_type=MVT, headers=headers)

    return api
