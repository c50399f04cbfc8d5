"""Vector tiles (``/collections/{layer}/tiles/{z}/{x}/{y}``) on both backends: the features of a tile are
those intersecting its envelope (computed here, independently, with geopandas in EPSG:3857), with their
Chinese names, in the tile where they are, only a street's with a street token; 400 for bad tiles."""

import math

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from test_auth import OTHER, STREET, Env, open_store

MVT = "application/vnd.mapbox-vector-tile"
WORLD = 20037508.342789244  # half the width of EPSG:3857's square world


def envelope(z, x, y):
    size = 2 * WORLD / 2 ** z
    return shapely.box(-WORLD + x * size, WORLD - (y + 1) * size, -WORLD + (x + 1) * size, WORLD - y * size)


def tile_at(lon, lat, z):
    """The XYZ tile holding a WGS84 point (the slippy-map formula)."""
    n = 2 ** z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


@pytest.fixture(scope="module", params=["sqlite", "sqlite-rtree", "postgis"])
def env(request, tmp_path_factory, sample):
    """The sample on each store: the embedded one with its layers in memory for tiles, and read for
    each tile through the R*Tree (``tile_cache=0``, as for layers too large to hold)."""
    url, ctx = open_store(request.param.removesuffix("-rtree"), tmp_path_factory.mktemp("tiles"))
    e = Env(url, sample)
    if request.param == "sqlite-rtree":
        e.store.tile_cache = 0
    e.public = TestClient(create_app(Settings(database_url=url, public_read=True), store=e.store),
                          raise_server_exceptions=False)
    yield e
    e.store.close()
    if ctx is not None:
        ctx.__exit__(None, None, None)


@pytest.fixture(scope="module")
def web(sample):
    """The sample's layers in EPSG:3857."""
    return {name: gdf.to_crs(3857) for name, gdf in sample.layers.items()}


def border_tile(sample, z):
    """A tile on the boundary between the streets STREET and OTHER."""
    streets = sample["streets"].set_index("code").geometry
    shared = shapely.intersection(streets[STREET].boundary, streets[OTHER].boundary)
    assert not shared.is_empty
    import geopandas as gpd

    point = gpd.GeoSeries([shapely.line_interpolate_point(shapely.line_merge(shared), 0.5, normalized=True)
                           if shared.geom_type.endswith("LineString") else shared.representative_point()],
                          crs=sample.crs).to_crs(4326).iloc[0]
    return tile_at(point.x, point.y, z)


def tiles_to_test(sample):
    lon0, lat0, lon1, lat1 = sample["grids"].to_crs(4326).total_bounds
    centre = ((lon0 + lon1) / 2, (lat0 + lat1) / 2)
    return [tile_at(*centre, 13), tile_at(*centre, 15), tile_at(lon0 + (lon1 - lon0) * 0.2, lat0 + (lat1 - lat0) * 0.7, 16),
            border_tile(sample, 15)]


def get_tile(client, layer, tile, headers=None):
    r = client.get(f"/collections/{layer}/tiles/{tile[0]}/{tile[1]}/{tile[2]}", headers=headers)
    if r.status_code == 204:
        assert r.content == b""
        return []
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == MVT
    layers = mapbox_vector_tile.decode(r.content)
    assert list(layers) == [layer] and layers[layer]["extent"] == 4096
    return layers[layer]["features"]


def expected(web, layer, tile, keep=None):
    gdf = web[layer] if keep is None else web[layer][keep]
    return sorted(gdf["code"][gdf.intersects(envelope(*tile))])


def specks(web, layer, tile):
    """Lines and polygons of ``layer`` in the tile smaller than a tile unit (1/4096 of its side): they
    collapse to nothing in a vector tile, and may be absent."""
    box = envelope(*tile)
    unit = (box.bounds[2] - box.bounds[0]) / 4096
    gdf = web[layer][web[layer].intersects(box) & ~web[layer].geom_type.str.endswith("Point")]
    b = gdf.bounds
    return set(gdf["code"][np.hypot(b.maxx - b.minx, b.maxy - b.miny) < unit])


@pytest.mark.parametrize("layer", ["streets", "communities", "grids", "buildings", "facilities", "roads"])
def test_a_tile_has_the_features_intersecting_its_envelope(env, sample, web, layer):
    seen = 0
    for tile in tiles_to_test(sample):
        want = expected(web, layer, tile)
        got = sorted(f["properties"]["code"] for f in get_tile(env.public, layer, tile))
        tiny = specks(web, layer, tile)
        assert [c for c in got if c not in tiny] == [c for c in want if c not in tiny], (layer, tile)
        assert set(got) <= set(want), (layer, tile)
        if layer in ("streets", "communities", "grids"):
            assert not tiny and got == want
        seen += len(want)
    assert seen > 0  # the tiles are not all empty


def test_properties_are_code_chinese_name_and_counts(env, sample):
    tile = tiles_to_test(sample)[1]
    features = get_tile(env.public, "communities", tile)
    communities = sample["communities"].set_index("code")
    assert features
    for f in features:
        row = communities.loc[f["properties"]["code"]]
        props = f["properties"]
        assert props["name"] == row["name"] and "社区" in props["name"]
        assert set(props) == {"code", "name", "households", "residents"}
        assert props["households"] == row["households"] and props["residents"] == row["residents"]
    buildings = get_tile(env.public, "buildings", tile)
    assert buildings and all(set(f["properties"]) <= {"code", "households", "residents"} for f in buildings)


def test_geometries_are_where_the_features_are(env, sample, web):
    """Back from tile coordinates (4096 per side, y up), each grid is within a pixel or two of its
    part inside the tile."""
    tile = tiles_to_test(sample)[1]
    env3857 = envelope(*tile)
    minx, miny, maxx, maxy = env3857.bounds
    pixel = (maxx - minx) / 4096
    grids = web["grids"].set_index("code").geometry
    features = get_tile(env.public, "grids", tile)
    assert features
    for f in features:
        got = shapely.geometry.shape(f["geometry"])
        got = shapely.transform(got, lambda xy: np.column_stack([minx + xy[:, 0] * pixel, miny + xy[:, 1] * pixel]))
        want = grids[f["properties"]["code"]].intersection(env3857)
        got = got.intersection(env3857)
        if want.area > 100 * pixel ** 2:
            assert shapely.hausdorff_distance(got, want) < 2 * pixel, f["properties"]["code"]


def test_a_street_token_gets_only_its_street(env, sample, web):
    tile = border_tile(sample, 15)
    communities = set(sample["communities"]["code"][sample["communities"]["street_code"] == STREET])
    mine = web["grids"]["community_code"].isin(communities)
    public = {f["properties"]["code"] for f in get_tile(env.public, "grids", tile)}
    staff = sorted(f["properties"]["code"] for f in get_tile(env.client, "grids", tile, env.headers["staff"]))
    assert staff == expected(web, "grids", tile, mine)
    assert staff and public - set(staff)  # the tile has grids of the other street too; staff do not get them
    planner = {f["properties"]["code"] for f in get_tile(env.client, "grids", tile, env.headers["planner"])}
    assert planner == public

    # buildings: by the street's area (eroded by 1 m, as the items endpoint)
    street = sample["streets"].geometry[sample["streets"]["code"] == STREET].iloc[0].buffer(-1)
    inside = sample["buildings"].intersects(street)
    staff = sorted(f["properties"]["code"] for f in get_tile(env.client, "buildings", tile, env.headers["staff"]))
    public = {f["properties"]["code"] for f in get_tile(env.public, "buildings", tile)}
    assert staff == expected(web, "buildings", tile, inside.to_numpy())
    assert staff and public - set(staff)
    other = {f["properties"]["code"] for f in get_tile(env.client, "grids", tile, env.headers["staff2"])}
    assert other and not other & set(staff)


def test_tiles_need_a_token_without_public_read(env, sample):
    tile = tiles_to_test(sample)[0]
    r = env.client.get(f"/collections/grids/tiles/{tile[0]}/{tile[1]}/{tile[2]}")
    assert r.status_code == 401 and "sign in" in r.json()["description"]


def test_an_empty_tile_is_204(env):
    r = env.public.get("/collections/grids/tiles/14/0/0")
    assert r.status_code == 204 and r.content == b""


@pytest.mark.parametrize("path, words", [
    ("25/0/0", "zoom is 0–24"), ("-1/0/0", "zoom"), ("3/8/0", "x and y are 0–7"), ("3/0/8", "x and y are 0–7"),
    ("3/-1/0", "x and y"), ("0/0/1", "x and y are 0–0"), ("a/0/0", "z"), ("3/0/1.5", "y"),
])
def test_bad_tiles_are_400(env, path, words):
    r = env.public.get(f"/collections/grids/tiles/{path}")
    assert r.status_code == 400, r.text
    assert words in r.json()["description"]


def test_an_unknown_layer_is_404(env):
    r = env.public.get("/collections/nope/tiles/3/0/0")
    assert r.status_code == 404 and "nope" in r.json()["description"]


def test_a_tile_shows_the_newest_version(env):
    """A change committed to the store is in the next tile (a layer held in memory is made again), and a
    tile kept by a client is revalidated by its ETag (304 until the city changes)."""
    version, city = env.store.snapshot()
    grids = city["grids"]
    tile = tiles_to_test(city)[1]
    before = {f["properties"]["code"]: f["properties"]["name"] for f in get_tile(env.public, "grids", tile)}
    buildings = get_tile(env.public, "buildings", tile)
    held = dict(env.store._tile_layers)  # SQLite: the layers in memory (none on the other paths)
    code = sorted(before)[0]
    renamed = grids.assign(name=np.where(grids["code"] == code, "新网格·改名", grids["name"]))
    env.store.commit({"grids": renamed}, base_version=version, action="test")
    try:
        after = {f["properties"]["code"]: f["properties"]["name"] for f in get_tile(env.public, "grids", tile)}
        assert after == {**before, code: "新网格·改名"}
        assert get_tile(env.public, "buildings", tile) == buildings
        # the buildings did not change: the same layer in memory serves them (grids are made again)
        assert [v for k, v in env.store._tile_layers.items() if k[0] == "buildings"] == \
            [v for k, v in held.items() if k[0] == "buildings"]
        assert ("grids", version + 1) in env.store._tile_layers or not held
        # a client that kept the tile revalidates it: 304 while the city is unchanged, the new tile after
        path = "/collections/grids/tiles/{}/{}/{}".format(*tile)
        first = env.public.get(path)
        assert first.status_code == 200 and first.headers["cache-control"] == "private, no-cache"
        again = env.public.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
        staff = env.client.get(path, headers={**env.headers["staff"], "If-None-Match": first.headers["etag"]})
        assert staff.status_code == 200 and staff.headers["etag"] != first.headers["etag"]  # another scope
    finally:
        env.store.commit({"grids": grids}, base_version=version + 1, action="test: undo")
    changed = env.public.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    assert {f["properties"]["code"]: f["properties"]["name"] for f in get_tile(env.public, "grids", tile)} == before
