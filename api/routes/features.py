"""OGC API – Features (Part 1: Core, GeoJSON, OpenAPI 3) read endpoints over the stored city.

``/`` landing page, ``/conformance``, ``/collections``, ``/collections/{layer}``,
``/collections/{layer}/items`` (GeoJSON in WGS84, coordinates to 9 decimals, about 0.1 mm; ``bbox``,
``limit``, ``offset``; ``next`` links) and ``/collections/{layer}/items/{code}``. The features come
from the store as JSON text and are joined into the answer, not parsed and dumped again.

Reads need a token unless ``settings.public_read``; a street's staff see only their street (items
of other streets are filtered out, one of another street is 404). ``?version=N`` reads the city as
of version N (see ``/history``).
"""

import json
import math
from typing import Annotated

import geopandas as gpd
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.auth import User, reader, scope_of
from api.errors import InvalidParameterError, NotFoundError
from api.routes import viewer
from api.routes.responses import json_response
from api.settings import Settings
from api.store import Store, frame_geojson
from gis.model import LABELS, SCHEMA

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """``minx,miny,maxx,maxy`` (or with z: 6 numbers) in WGS84 lon/lat, checked.

    >>> parse_bbox("115.8,28.6,115.9,28.7")
    (115.8, 28.6, 115.9, 28.7)
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise InvalidParameterError(f"bbox must be 4 comma-separated numbers minx,miny,maxx,maxy; got {text!r}") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(math.isfinite(n) for n in nums):
        raise InvalidParameterError(f"bbox must be 4 comma-separated numbers minx,miny,maxx,maxy; got {text!r}")
    minx, miny, maxx, maxy = nums
    if not (-180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise InvalidParameterError(f"bbox is longitude/latitude (WGS84): -180..180, -90..90; got {text!r}")
    if minx > maxx or miny > maxy:
        raise InvalidParameterError(f"bbox needs minx ≤ maxx and miny ≤ maxy (boxes across the antimeridian "
                                    f"are not supported); got {text!r}")
    return minx, miny, maxx, maxy


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def router(settings: Settings) -> APIRouter:
    """The read endpoints; ``limit`` bounds come from ``settings``."""
    api = APIRouter()

    def store(request: Request) -> Store:
        return request.app.state.store

    def collection(request: Request, layer: str, info: dict, user: User | None) -> dict:
        """A layer's metadata; street staff see their street's extent and no city-wide count."""
        base = _base(request)
        scope = scope_of(request, user)
        if scope is None:
            extent, count = store(request).extent(layer), f"{info['count']} features; "
        else:
            area = gpd.GeoSeries([scope.area], crs=store(request).crs()).to_crs(4326)
            extent, count = (None if area.is_empty.iloc[0] else tuple(area.total_bounds)), ""
        c = {"id": layer, "title": f"{LABELS.get(layer, layer)} ({layer})",
             "description": f"{count}columns: {', '.join(info['columns'])}",
             "itemType": "feature", "crs": [CRS84],
             "links": [{"href": f"{base}/collections/{layer}", "rel": "self", "type": "application/json"},
                       {"href": f"{base}/collections/{layer}/items", "rel": "items", "type": GEOJSON,
                        "title": f"{layer} as GeoJSON"}]}
        if extent is not None:
            c["extent"] = {"spatial": {"bbox": [list(extent)], "crs": CRS84}}
        return c

    def layer_info(request: Request, layer: str) -> dict:
        layers = store(request).layers()
        if layer not in layers:
            known = ", ".join(layers) or "none: no city loaded"
            raise NotFoundError(f"no collection {layer!r} (collections: {known})")
        return layers[layer]

    @api.get("/", summary="Landing page (browsers asking for HTML get the viewer)")
    def landing(request: Request):
        if viewer.wants_html(request):
            return viewer.page()
        base = _base(request)
        return json_response({
            "title": settings.title,
            "description": "Streets, communities, grids, buildings and facilities of the stored city "
                           "(OGC API – Features), and its findings (/findings).",
            "links": [
                {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
                {"href": f"{base}/openapi.json", "rel": "service-desc",
                 "type": "application/vnd.oai.openapi+json;version=3.0", "title": "the API definition"},
                {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html", "title": "the API documentation"},
                {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
                {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
                {"href": f"{base}/findings", "rel": "related", "type": "application/json",
                 "title": "findings of the stored city (wangge check)"},
            ]})

    @api.get("/conformance", summary="Conformance classes")
    def conformance():
        return json_response({"conformsTo": CONFORMANCE})

    @api.get("/collections", summary="The layers of the stored city")
    def collections(request: Request, user: User | None = Depends(reader)):
        base = _base(request)
        cols = [collection(request, layer, info, user) for layer, info in store(request).layers().items()]
        return json_response({"collections": cols,
                      "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}]})

    @api.get("/collections/{layer}", summary="One layer")
    def one_collection(request: Request, layer: Annotated[str, Path(description=f"one of {', '.join(SCHEMA)}")],
                       user: User | None = Depends(reader)):
        return json_response(collection(request, layer, layer_info(request, layer), user))

    @api.get("/collections/{layer}/items", summary="Features of a layer (GeoJSON, WGS84)",
             response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
    def items(
        request: Request,
        layer: str,
        bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in WGS84 longitude/latitude: "
                                                       "the features intersecting this box")] = None,
        limit: Annotated[int, Query(ge=1, le=settings.max_limit, description="features per page")]
        = settings.default_limit,
        offset: Annotated[int, Query(ge=0, description="features to skip (see the next link)")] = 0,
        version: Annotated[int | None, Query(ge=1, description="the city as of this version (/history)")] = None,
        user: User | None = Depends(reader),
    ):
        if version is None:
            layer_info(request, layer)
        box = parse_bbox(bbox)
        page = store(request).features_geojson(layer, bbox=box, limit=limit, offset=offset, version=version,
                                               scope=scope_of(request, user, version))
        url = request.url
        links = [{"href": str(url), "rel": "self", "type": GEOJSON},
                 {"href": f"{_base(request)}/collections/{layer}", "rel": "collection", "type": "application/json"}]
        if offset + page.returned < page.matched:
            links.append({"href": str(url.include_query_params(offset=offset + limit, limit=limit)),
                          "rel": "next", "type": GEOJSON})
        if offset > 0:
            links.append({"href": str(url.include_query_params(offset=max(offset - limit, 0), limit=limit)),
                          "rel": "prev", "type": GEOJSON})
        body = (f'{{"type":"FeatureCollection","features":[{page.features}],"numberMatched":{page.matched},'
                f'"numberReturned":{page.returned},"links":{json.dumps(links, ensure_ascii=False)}}}')
        return Response(body.encode(), media_type=GEOJSON)

    @api.get("/collections/{layer}/items/{code}", summary="One feature by its code (GeoJSON, WGS84)",
             response_class=Response, responses={200: {"content": {GEOJSON: {}}}})
    def item(request: Request, layer: str, code: str,
             version: Annotated[int | None, Query(ge=1, description="the city as of this version")] = None,
             user: User | None = Depends(reader)):
        if version is None:
            layer_info(request, layer)
        feature = frame_geojson(store(request).feature(layer, code, version=version,
                                                       scope=scope_of(request, user, version)))[0]
        links = [{"href": str(request.url), "rel": "self", "type": GEOJSON},
                 {"href": f"{_base(request)}/collections/{layer}", "rel": "collection", "type": "application/json"}]
        return Response(f'{feature[:-1]},"links":{json.dumps(links, ensure_ascii=False)}}}'.encode(), media_type=GEOJSON)

    return api
