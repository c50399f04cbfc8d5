"""The store on both backends: the embedded SQLite default and PostGIS (same tests, same answers)."""

import json
import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import sqlalchemy as sa

from api.store import DECIMALS, ConflictError, EmptyStoreError, NotFoundError, Store, StoreError
from api.testing import postgis_url, read_catalog, scratch_schema
from gis import read_city, write_city
from gis.errors import InputError
from gis.model import City

SAMPLE = "data/sample.gpkg"


def _postgis_or_skip() -> str:
    url = postgis_url()
    if url is None:
        message = "no PostGIS: WANGGE_TEST_POSTGIS_URL is unset (bash scripts/test sets it up)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgis"])
def url(request, tmp_path):
    """An empty store's URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
    else:
        with scratch_schema(_postgis_or_skip()) as u:
            yield u


@pytest.fixture
def store(url):
    s = Store(url)
    yield s
    s.close()


def assert_same_city(a: City, b: City) -> None:
    assert list(a.layers) == list(b.layers)
    assert a.crs.equals(b.crs)
    for name in a.layers:
        x, y = a[name], b[name]
        assert list(x.columns) == list(y.columns), name
        assert dict(x.dtypes.astype(str)) == dict(y.dtypes.astype(str)), name
        pd.testing.assert_frame_equal(pd.DataFrame(x.drop(columns="geometry")),
                                      pd.DataFrame(y.drop(columns="geometry")), obj=name)
        assert shapely.equals_exact(x.geometry.values, y.geometry.values, tolerance=0).all(), name


def test_round_trip_through_the_store_and_a_geopackage(store, sample, tmp_path):
    assert store.version() == 0
    assert store.load(sample, source=SAMPLE) == 1
    version, back = store.snapshot()
    assert version == 1
    assert_same_city(sample, back)
    assert back["grids"]["name"].iloc[0] == sample["grids"]["name"].iloc[0] and "网格" in back["grids"]["name"].iloc[0]
    out = write_city(back, tmp_path / "export.gpkg")
    layers = dict(pyogrio.list_layers(out))
    assert set(layers) == set(sample.layers)
    assert pyogrio.read_info(out, layer="grids")["crs"] == "EPSG:4548"
    assert_same_city(sample, read_city(out))


def test_other_columns_and_chinese_text_survive(store):
    grids = gpd.GeoDataFrame(
        {"code": ["G1", "G2"], "name": ["东湖区第1网格", None], "households": [120, 80],
         "备注": ["沿江", "新建小区"], "楼栋数": [12, 7]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs="EPSG:4548")
    store.load(City({"grids": grids}))
    back = store.city()["grids"]
    assert list(back.columns) == ["code", "name", "households", "备注", "楼栋数", "geometry"]
    assert back["备注"].tolist() == ["沿江", "新建小区"] and back["楼栋数"].tolist() == [12, 7]
    assert back["name"].tolist() == ["东湖区第1网格", None]
    assert back["households"].dtype == "int64"


def test_each_load_is_a_new_version_and_history_is_append_only(store, sample):
    store.load(sample, source="first")
    small = City({"streets": sample["streets"], "grids": sample["grids"].head(10)})
    assert store.load(small, source="second") == 2
    assert store.version() == 2
    assert [(h["version"], h["source"]) for h in store.history()] == [(1, "first"), (2, "second")]
    assert store.history()[1]["layers"]["grids"]["count"] == 10
    assert store.layers() == {"streets": {"columns": list(sample["streets"].columns[:-1]), "count": 2, "changed": 2},
                              "grids": {"columns": list(sample["grids"].columns[:-1]), "count": 10, "changed": 2}}
    with pytest.raises(NotFoundError, match="buildings"):
        store.features("buildings")
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(sa.text("update versions set source = 'rewritten'"))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with store.engine.begin() as conn:
            conn.execute(sa.text("delete from versions"))
    assert store.history()[0]["source"] == "first"


def test_a_failed_load_changes_nothing(store, sample, monkeypatch):
    store.load(sample)
    real = Store._insert

    def failing(self, conn, name, records):
        if name == "buildings":  # after streets, communities and grids went in
            raise sa.exc.OperationalError("insert", {}, Exception("disk full"))
        real(self, conn, name, records)

    monkeypatch.setattr(Store, "_insert", failing)
    other = City({"streets": sample["streets"].head(1), "grids": sample["grids"].head(3),
                  "buildings": sample["buildings"].head(5)})
    with pytest.raises(sa.exc.OperationalError):
        store.load(other)
    assert store.version() == 1
    assert_same_city(sample, store.city())
    assert store.features("grids", limit=1).matched == len(sample["grids"])


def test_empty_store(store):
    assert store.version() == 0 and store.layers() == {} and store.history() == []
    with pytest.raises(EmptyStoreError, match="wangge load"):
        store.city()


def test_bbox_matches_geopandas_and_pages_in_source_order(store, sample):
    store.load(sample)
    minx, miny, maxx, maxy = sample["grids"].to_crs(4326).total_bounds
    w, h = maxx - minx, maxy - miny
    bbox = (minx + 0.3 * w, miny + 0.25 * h, minx + 0.6 * w, miny + 0.5 * h)
    for layer in ("grids", "buildings", "roads"):
        wgs = sample[layer].to_crs(4326)
        expected = wgs.index[wgs.intersects(shapely.box(*bbox))].tolist()
        assert 0 < len(expected) < len(wgs), layer
        got, limit = [], len(expected) // 4 + 1  # a few pages
        page = store.features(layer, bbox=bbox, limit=limit)
        assert page.matched == len(expected), layer
        while len(got) < page.matched:
            page = store.features(layer, bbox=bbox, limit=limit, offset=len(got))
            assert len(page.frame) > 0
            got += page.frame["code"].tolist()
        assert got == sample[layer]["code"].iloc[expected].tolist(), layer
    assert store.features("grids", bbox=(0, 0, 1, 1)).matched == 0


def test_pages_without_bbox(store, sample):
    store.load(sample)
    n = len(sample["buildings"])
    page = store.features("buildings", limit=100, offset=n - 10)
    assert page.matched == n and len(page.frame) == 10
    assert page.frame["code"].tolist() == sample["buildings"]["code"].iloc[n - 10:].tolist()
    assert page.frame.crs.equals(sample.crs)


def _features(page) -> list[dict]:
    return json.loads(f"[{page.features}]")


def test_geojson_pages_carry_every_column_as_stored(store):
    """Typed and other columns, Chinese text, nulls, no code: the page written by PostGIS (or here)."""
    grids = gpd.GeoDataFrame(
        {"code": ["G1", None, "G3"], "name": ["东湖区第1网格", "第2网格", None], "households": [120, None, 80],
         "备注": ["沿江", None, '引号"与\\反斜杠'], "楼栋数": [12, 7, None], "是否新建": [True, False, None]},
        geometry=[shapely.box(500000, 3170000, 500100, 3170100), None,
                  shapely.Point(500123.456789, 3170456.123456)], crs="EPSG:4548")
    store.load(City({"grids": grids, "roads": grids[["geometry"]].iloc[[0]]}))
    page = store.features_geojson("grids", limit=2)
    assert (page.matched, page.returned) == (3, 2)
    got = _features(page) + _features(store.features_geojson("grids", offset=2))
    assert [f["properties"] for f in got] == [
        {"code": "G1", "name": "东湖区第1网格", "households": 120, "备注": "沿江", "楼栋数": 12, "是否新建": True},
        {"code": None, "name": "第2网格", "households": None, "备注": None, "楼栋数": 7, "是否新建": False},
        {"code": "G3", "name": None, "households": 80, "备注": '引号"与\\反斜杠', "楼栋数": None, "是否新建": None}]
    assert [f.get("id") for f in got] == ["G1", None, "G3"] and "id" not in got[1]
    assert got[1]["geometry"] is None and "东湖区" in page.features  # UTF-8, not \u escapes
    wgs = grids.to_crs(4326).geometry
    for f, want in zip([got[0], got[2]], [wgs.iloc[0], wgs.iloc[2]]):
        xy = shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))
        assert (np.round(xy, DECIMALS) == xy).all()  # 9 decimals: 0.1 mm
        np.testing.assert_allclose(xy, shapely.get_coordinates(want), rtol=0, atol=0.6 * 10.0 ** -DECIMALS)
    assert [f.get("id") for f in _features(store.features_geojson("roads"))] == [None]  # no code column


def test_bbox_around_the_world_a_point_and_far_away(store, sample):
    store.load(sample)
    everything = len(sample["grids"])
    for bbox in [(-180, -90, 180, 90), (0, -90, 180, 90)]:
        assert store.features("grids", bbox=bbox).matched == everything
        assert store.features_geojson("grids", bbox=bbox).matched == everything
    grid = sample["grids"].to_crs(4326).iloc[7]
    x, y = grid.geometry.representative_point().coords[0]
    assert store.features("grids", bbox=(x, y, x, y)).frame["code"].tolist() == [grid["code"]]
    line = store.features("grids", bbox=(x, y - 1e-5, x, y + 1e-5)).frame["code"].tolist()
    assert grid["code"] in line
    assert store.features_geojson("grids", bbox=(-75, 40, -73, 41)).matched == 0
    old = store.features("grids", bbox=(-180, -90, 180, 90), version=1)  # an older version: filtered here
    store.load(City({"grids": sample["grids"].head(3)}))
    assert store.features("grids", bbox=(-180, -90, 180, 90), version=1).matched == old.matched == everything


def test_low_zoom_tiles_hold_the_whole_city(store, sample):
    """The tile is cut to the part near the layer before it is projected into the city's Gauss–Krüger
    zone (a whole-world tile does not project there)."""
    import mapbox_vector_tile

    store.load(sample)
    lon, lat = shapely.centroid(sample["grids"].to_crs(4326).union_all()).coords[0]
    for z in (8, 10):
        n = 2 ** z
        x, y = int((lon + 180) / 360 * n), int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
        ids = {f["id"] for f in mapbox_vector_tile.decode(store.tile("grids", z, x, y))["grids"]["features"]}
        assert ids == set(range(1, len(sample["grids"]) + 1)), z
    assert store.tile("grids", 0, 0, 0) == b""  # the city is smaller than one tile unit


def test_a_street_scope_follows_the_versions(store, sample):
    store.load(sample)
    street = sample["streets"]["code"].iloc[0]
    first = store.scope(street)
    comms = sample["communities"]
    mine = comms[comms["street_code"] == street]
    assert first.codes["communities"] == ("street_code", {street})
    assert first.codes["grids"] == ("community_code", set(mine["code"]))
    store.load(City({"streets": sample["streets"], "communities": mine.head(2)}))
    assert store.scope(street).codes["grids"] == ("community_code", set(mine["code"].head(2)))
    assert store.scope(street, version=1).codes["grids"] == first.codes["grids"]
    with pytest.raises(NotFoundError, match="no street 'nope'"):
        store.scope("nope")


def test_feature_by_code(store, sample):
    grids = sample["grids"].copy()
    grids.loc[5, "code"] = grids.loc[4, "code"]
    store.load(City({"grids": grids}))
    one = store.feature("grids", grids.loc[0, "code"])
    assert len(one) == 1 and one["name"].iloc[0] == grids.loc[0, "name"]
    assert shapely.equals_exact(one.geometry.iloc[0], grids.geometry.iloc[0], tolerance=0)
    with pytest.raises(NotFoundError, match="no feature with code 'nope'"):
        store.feature("grids", "nope")
    with pytest.raises(ConflictError, match="not unique"):
        store.feature("grids", grids.loc[4, "code"])


def test_extent_is_wgs84(store, sample):
    store.load(sample)
    minx, miny, maxx, maxy = store.extent("grids")  # encloses the layer, a little larger (projected bbox)
    tminx, tminy, tmaxx, tmaxy = sample["grids"].to_crs(4326).total_bounds
    assert minx <= tminx and miny <= tminy and maxx >= tmaxx and maxy >= tmaxy
    np.testing.assert_allclose((minx, miny, maxx, maxy), (tminx, tminy, tmaxx, tmaxy), atol=5e-4)


def test_unknown_layers_are_refused(store, sample):
    with pytest.raises(InputError, match="unknown layer"):
        store.load(City({"grids": sample["grids"], "parks": sample["grids"]}))
    assert store.version() == 0


def test_migrations_match_the_models(store):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from api.models import metadata

    def ours(obj, name, type_, reflected, compare_to):
        if type_ == "index" and name.endswith("_geom"):
            return False  # the GiST index: made by the migration, PostGIS only
        return type_ != "table" or name in metadata.tables

    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            read_catalog(conn)  # no other test's schema is dropped while alembic reflects the catalog
        ctx = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": False})
        diff = compare_metadata(ctx, metadata)
    assert diff == []


def test_bad_urls():
    with pytest.raises(StoreError, match="unsupported database"):
        Store("mysql://localhost/x")
    with pytest.raises(StoreError, match="cannot open the database"):
        Store("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    try:
        Store("postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    except StoreError as e:
        assert "secret" not in str(e)
