"""Reading and writing cities: GeoPackage standard layout, mapping files, Shapefiles in UTF-8 and GBK.

Every city here is a handful of boxes built in code, in EPSG:4548 (CGCS2000 / 3-degree GK CM 117E,
the metric CRS of Nanchang) or in lon/lat near 115.9°E 28.7°N.
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import pytest
from geopandas.testing import assert_geodataframe_equal
from shapely import box

from gis.errors import OutputError
from gis.io import read_city, write_city
from gis.model import City

X0, Y0 = 392_000.0, 3_176_000.0  # about 115.87°E 28.70°N in EPSG:4548
GK = "EPSG:4548"


def km(x0, y0, x1, y1):
    """A box in EPSG:4548 given in kilometres from (X0, Y0)."""
    return box(X0 + x0 * 1000, Y0 + y0 * 1000, X0 + x1 * 1000, Y0 + y1 * 1000)


def standard_layers(crs=GK) -> dict[str, gpd.GeoDataFrame]:
    """Two streets, two communities, four grids and three buildings, nested, with Chinese names."""
    streets = gpd.GeoDataFrame(
        {"code": ["360102001", "360102002"], "name": ["豫章街道", "滕王阁街道"], "households": [1200, 900]},
        geometry=[km(0, 0, 1, 1), km(1, 0, 2, 1)], crs=GK)
    communities = gpd.GeoDataFrame(
        {"code": ["360102001001", "360102002001"], "name": ["朝阳社区", "青山湖社区"],
         "street_code": ["360102001", "360102002"], "kind": ["地缘型", "单元型"], "households": [1200, 900]},
        geometry=[km(0, 0, 1, 1), km(1, 0, 2, 1)], crs=GK)
    grids = gpd.GeoDataFrame(
        {"code": ["360102001001001", "360102001001002", "360102002001001", "360102002001002"],
         "name": ["第1网格", "第2网格", "第1网格", "第2网格"],
         "community_code": ["360102001001", "360102001001", "360102002001", "360102002001"],
         "households": [600, 600, 450, 450]},
        geometry=[km(0, 0, 1, .5), km(0, .5, 1, 1), km(1, 0, 2, .5), km(1, .5, 2, 1)], crs=GK)
    buildings = gpd.GeoDataFrame(
        {"code": ["B1", "B2", "B3"], "households": [40, 0, 25], "estate": ["阳光小区", None, "阳光小区"],
         "grid_code": ["360102001001001", "360102001001002", "360102002001001"]},
        geometry=[km(.1, .1, .15, .15), km(.1, .6, .15, .65), km(1.1, .1, 1.15, .15)], crs=GK)
    layers = {"streets": streets, "communities": communities, "grids": grids, "buildings": buildings}
    return {k: v.to_crs(crs) for k, v in layers.items()}


def write_gpkg(path, layers: dict[str, gpd.GeoDataFrame]):
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return path


def write_toml(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def assert_same_city(a: City, b: City):
    assert list(a.layers) == list(b.layers)
    for name in a.layers:
        assert_geodataframe_equal(a[name], b[name], check_like=True, check_less_precise=True)


# --------------------------------------------------------------------------------------------
# 1. round trips with Chinese text intact
# --------------------------------------------------------------------------------------------

def test_gpkg_round_trip(tmp_path):
    src = standard_layers()
    city = read_city(write_gpkg(tmp_path / "城市.gpkg", src))
    assert city.levels == ["streets", "communities", "grids"]
    assert list(city.layers) == ["streets", "communities", "grids", "buildings"]
    assert city.crs.equals(pyproj.CRS(GK)) and city.metric_crs.equals(pyproj.CRS(GK))
    for name, gdf in src.items():
        got = city[name]
        assert got["code"].tolist() == gdf["code"].tolist()
        assert got["households"].dtype == np.int64
        assert got["households"].tolist() == gdf["households"].tolist()
        assert got.geometry.geom_equals(gdf.geometry).all()
        if "name" in gdf:
            assert got["name"].tolist() == gdf["name"].tolist()
    assert city["grids"]["name"].tolist() == ["第1网格", "第2网格", "第1网格", "第2网格"]
    assert city["buildings"]["estate"].tolist() == ["阳光小区", None, "阳光小区"]

    out = write_city(city, tmp_path / "副本.gpkg")
    assert out == tmp_path / "副本.gpkg"
    again = read_city(out)
    assert_same_city(city, again)
    assert again["streets"]["households"].dtype == np.int64
    assert again["communities"]["name"].tolist() == ["朝阳社区", "青山湖社区"]


def test_geojson_via_mapping_round_trip(tmp_path):
    src = standard_layers("EPSG:4326")
    streets = src["streets"].rename(columns={"code": "街道编码", "name": "街道名称", "households": "户数"})
    communities = src["communities"].rename(columns={"code": "社区编码", "name": "社区名称",
                                                     "street_code": "所属街道", "households": "户数"})
    streets.to_file(tmp_path / "街道.geojson", engine="pyogrio")
    communities.to_file(tmp_path / "社区.geojson", engine="pyogrio")
    mapping = write_toml(tmp_path / "city.toml", """
[layers.streets]
source = "街道.geojson"
code = "街道编码"
name = "街道名称"
households = "户数"

[layers.communities]
source = "社区.geojson"
code = "社区编码"
name = "社区名称"
street_code = "所属街道"
households = "户数"
""")
    city = read_city(mapping)
    assert city.crs.to_epsg() == 4326
    assert city["streets"]["name"].tolist() == ["豫章街道", "滕王阁街道"]
    assert city["communities"]["name"].tolist() == ["朝阳社区", "青山湖社区"]
    assert city["communities"]["street_code"].tolist() == ["360102001", "360102002"]
    assert city["streets"]["households"].dtype == np.int64
    assert set(city["communities"].columns) == {"code", "name", "street_code", "kind", "households", "geometry"}
    # kept extra column ("kind" was not mapped but is already a standard name) and geometry intact
    assert city["communities"].geometry.geom_equals_exact(src["communities"].geometry, 1e-9).all()

    again = read_city(write_city(city, tmp_path / "out.gpkg"))
    assert_same_city(city, again)


def test_shapefile_utf8_with_cpg(tmp_path):
    grids = standard_layers()["grids"].rename(columns={"code": "编码", "name": "名称", "households": "户数",
                                                       "community_code": "社区"})
    grids.to_file(tmp_path / "网格.shp", engine="pyogrio")  # UTF-8, writes a .cpg
    assert (tmp_path / "网格.cpg").exists()
    mapping = write_toml(tmp_path / "m.toml", """
[layers.grids]
source = "网格.shp"
code = "编码"
name = "名称"
households = "户数"
community_code = "社区"
""")
    city = read_city(mapping)
    assert city["grids"]["name"].tolist() == ["第1网格", "第2网格", "第1网格", "第2网格"]
    assert city["grids"]["community_code"].tolist()[0] == "360102001001"
    assert city["grids"]["households"].dtype == np.int64
    assert_same_city(city, read_city(write_city(city, tmp_path / "out.gpkg")))


def test_gbk_shapefile_without_cpg_with_encoding(tmp_path):
    streets = standard_layers()["streets"].rename(columns={"code": "街道编码", "name": "街道名称"})
    streets.to_file(tmp_path / "jd.shp", engine="pyogrio", encoding="gbk")
    (tmp_path / "jd.cpg").unlink()
    assert "豫章街道".encode("gbk") in (tmp_path / "jd.dbf").read_bytes()
    mapping = write_toml(tmp_path / "m.toml", """
[layers.streets]
source = "jd.shp"
encoding = "gbk"
code = "街道编码"
name = "街道名称"
""")
    city = read_city(mapping)
    assert city["streets"]["name"].tolist() == ["豫章街道", "滕王阁街道"]
    assert city["streets"]["code"].tolist() == ["360102001", "360102002"]
    assert city["streets"]["households"].tolist() == [1200, 900]
    again = read_city(write_city(city, tmp_path / "out.gpkg"))
    assert again["streets"]["name"].tolist() == ["豫章街道", "滕王阁街道"]


@pytest.mark.parametrize("fmt", ["gpkg", "geojson", "shp"])
def test_twelve_digit_integer_code_is_exact_text(tmp_path, fmt):
    comm = standard_layers()["communities"]
    comm["code"] = np.array([360102001003, 360102002001], dtype="int64")
    comm["street_code"] = np.array([360102001, 360102002], dtype="int64")
    if fmt == "gpkg":
        city = read_city(write_gpkg(tmp_path / "c.gpkg", {"communities": comm}))
    else:
        comm = comm.rename(columns={"street_code": "jd"})  # shapefile field names are at most 10 bytes
        comm.to_file(tmp_path / f"c.{fmt}", engine="pyogrio")
        city = read_city(write_toml(tmp_path / "m.toml",
                                    f'[layers.communities]\nsource = "c.{fmt}"\nstreet_code = "jd"\n'))
    assert city["communities"]["code"].tolist() == ["360102001003", "360102002001"]
    assert city["communities"]["street_code"].tolist() == ["360102001", "360102002"]


def test_integer_code_with_a_gap_is_exact_text(tmp_path):
    """A null makes the code column float on reading; it still comes back without '.0' (and the
    blank code is a ``missing_code`` finding, kept as its row: ``gis.reading``)."""
    comm = standard_layers()["communities"]
    comm["code"] = pd.array([360102001003, None], dtype="Int64")
    comm.to_file(tmp_path / "c.geojson", engine="pyogrio")
    city = read_city(write_toml(tmp_path / "m.toml", '[layers.communities]\nsource = "c.geojson"\n'))
    assert city["communities"]["code"].tolist() == ["360102001003", "row-2"]
    assert [r["code"] for r in city.defects] == ["missing_code"]


# --------------------------------------------------------------------------------------------
# 2. mapping features
# --------------------------------------------------------------------------------------------

def test_mapped_column_replaces_a_source_column_of_the_same_standard_name(tmp_path):
    streets = standard_layers()["streets"].rename(columns={"code": "街道编码"})
    streets["code"] = ["旧1", "旧2"]  # an unrelated column that happens to be called "code"
    streets.to_file(tmp_path / "s.geojson", engine="pyogrio")
    city = read_city(write_toml(tmp_path / "m.toml", '[layers.streets]\nsource = "s.geojson"\ncode = "街道编码"\n'))
    assert city["streets"]["code"].tolist() == ["360102001", "360102002"]
    assert "街道编码" not in city["streets"].columns


def test_gpkg_layer_source(tmp_path):
    layers = standard_layers()
    write_gpkg(tmp_path / "源数据.gpkg", {"街道图层": layers["streets"].rename(columns={"name": "名称"}),
                                         "其他": layers["grids"]})
    city = read_city(write_toml(tmp_path / "m.toml", """
[layers.streets]
source = "源数据.gpkg:街道图层"
name = "名称"
"""))
    assert list(city.layers) == ["streets"]
    assert city["streets"]["name"].tolist() == ["豫章街道", "滕王阁街道"]


def test_gpkg_layer_option(tmp_path):
    write_gpkg(tmp_path / "src.gpkg", {"jd": standard_layers()["streets"]})
    city = read_city(write_toml(tmp_path / "m.toml", '[layers.streets]\nsource = "src.gpkg"\nlayer = "jd"\n'))
    assert city["streets"]["code"].tolist() == ["360102001", "360102002"]


def test_glob_source_concatenates_files(tmp_path):
    grids = standard_layers()["grids"].rename(columns={"code": "网格编码"})
    (tmp_path / "data").mkdir()
    grids.iloc[:2].to_file(tmp_path / "data" / "grids-东湖区.geojson", engine="pyogrio")
    grids.iloc[2:].to_crs(4326).to_file(tmp_path / "data" / "grids-西湖区.geojson", engine="pyogrio")
    (tmp_path / "data" / "other.geojson").write_text("not read", encoding="utf-8")
    city = read_city(write_toml(tmp_path / "m.toml", """
[layers.grids]
source = "data/grids-*.geojson"
code = "网格编码"
"""))
    got = city["grids"]
    assert len(got) == 4
    assert sorted(got["code"]) == sorted(grids["网格编码"])
    assert got.crs.equals(pyproj.CRS(GK))  # second file reprojected to the first file's CRS
    assert list(got.index) == [0, 1, 2, 3]
    expected = grids.set_index("网格编码").geometry
    for code, geom in zip(got["code"], got.geometry):
        assert geom.equals_exact(expected[code], 1e-3)


def test_glob_matching_nothing(tmp_path):
    from gis.errors import InputError
    mapping = write_toml(tmp_path / "m.toml", '[layers.grids]\nsource = "grids-*.geojson"\n')
    with pytest.raises(InputError, match=r"m\.toml.*grids-\*\.geojson.*matches no file"):
        read_city(mapping)


def test_parent_code_inferred_by_largest_overlap(tmp_path):
    layers = standard_layers()
    communities = gpd.GeoDataFrame(
        {"code": ["C1", "C2", "C3"], "name": ["朝阳社区", "青山湖社区", "飞地社区"]},
        # C1 straddles: 1.0 km² in 豫章街道 (S1), 0.3 km² in 滕王阁街道 (S2); C3 is outside both
        geometry=[km(0, 0, 1.3, 1), km(1.3, 0, 2, 1), km(5, 5, 6, 6)], crs=GK)
    grids = gpd.GeoDataFrame({"code": ["G1", "G2"]}, geometry=[km(0, 0, .5, .5), km(1.2, 0, 1.8, .5)], crs=GK)
    write_gpkg(tmp_path / "c.gpkg", {"streets": layers["streets"], "communities": communities, "grids": grids})
    city = read_city(tmp_path / "c.gpkg")
    assert city["communities"]["street_code"].tolist() == ["360102001", "360102002", None]
    # grids: G2 has 0.1×0.5 in C1 and 0.5×0.5 in C2
    assert city["grids"]["community_code"].tolist() == ["C1", "C2"]
    assert_same_city(city, read_city(write_city(city, tmp_path / "out.gpkg")))


def test_parent_code_inferred_in_a_geographic_mapping(tmp_path):
    layers = standard_layers("EPSG:4326")
    layers["streets"].to_file(tmp_path / "s.geojson", engine="pyogrio")
    comm = gpd.GeoDataFrame({"社区编码": ["C1"]}, geometry=[km(.8, .1, 1.9, .9)], crs=GK).to_crs(4326)
    comm.to_file(tmp_path / "c.geojson", engine="pyogrio")
    city = read_city(write_toml(tmp_path / "m.toml", """
[layers.streets]
source = "s.geojson"
[layers.communities]
source = "c.geojson"
code = "社区编码"
"""))
    assert city["communities"]["street_code"].tolist() == ["360102002"]
    assert city["communities"].crs.to_epsg() == 4326  # stored in the source CRS, measured in metres


def test_geographic_input_is_measured_in_cgcs2000_gk(tmp_path):
    lonlat = box(115.90, 28.70, 115.91, 28.71)
    gpd.GeoDataFrame({"code": ["S1"], "name": ["豫章街道"]}, geometry=[lonlat], crs=4326).to_file(
        tmp_path / "s.geojson", engine="pyogrio")
    city = read_city(write_toml(tmp_path / "m.toml", '[layers.streets]\nsource = "s.geojson"\n'))
    assert city.crs.to_epsg() == 4326
    assert city.metric_crs.is_projected
    assert city.metric_crs.to_epsg() == 4548
    assert "Gauss-Kruger CM 117E" in city.metric_crs.name
    area = float(city.metric("streets").area.iloc[0])
    geodesic, _ = pyproj.Geod(ellps="GRS80").geometry_area_perimeter(lonlat)
    assert abs(geodesic) > 1e6  # ~1.08 km²
    assert area == pytest.approx(abs(geodesic), rel=0.005)


def test_mapping_crs_used_when_source_has_none(tmp_path):
    streets = standard_layers()["streets"]
    streets.to_file(tmp_path / "s.shp", engine="pyogrio")
    (tmp_path / "s.prj").unlink()
    city = read_city(write_toml(tmp_path / "m.toml", 'crs = "EPSG:4548"\n[layers.streets]\nsource = "s.shp"\n'))
    assert city.crs.equals(pyproj.CRS(GK))
    assert city.metric("streets").area.tolist() == pytest.approx([1e6, 1e6])


# --------------------------------------------------------------------------------------------
# 4. write_city is all or nothing
# --------------------------------------------------------------------------------------------

def _bad_second_layer_city() -> City:
    layers = standard_layers()
    layers["communities"]["weird"] = np.array([1 + 2j, 3 + 4j])  # no GeoPackage field type for complex
    return City(layers)


def _listing(d):
    return sorted(os.listdir(d))


def test_write_city_failure_keeps_existing_file(tmp_path):
    target = tmp_path / "city.gpkg"
    write_gpkg(target, {"streets": standard_layers()["streets"].iloc[:1]})
    before, listing = target.read_bytes(), _listing(tmp_path)
    with pytest.raises(OutputError, match="city.gpkg: could not write"):
        write_city(_bad_second_layer_city(), target)
    assert target.read_bytes() == before
    assert _listing(tmp_path) == listing  # no temporary file left behind
    assert len(read_city(target)["streets"]) == 1


def test_write_city_failure_creates_no_file(tmp_path):
    target = tmp_path / "new.gpkg"
    with pytest.raises(OutputError, match="new.gpkg"):
        write_city(_bad_second_layer_city(), target)
    assert not target.exists()
    assert _listing(tmp_path) == []


def test_write_city_failure_on_second_layer_monkeypatched(tmp_path, monkeypatch):
    target = tmp_path / "city.gpkg"
    target.write_bytes(b"previous content")
    calls = []
    real = gpd.GeoDataFrame.to_file

    def flaky(self, *args, **kwargs):
        calls.append(kwargs.get("layer"))
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(gpd.GeoDataFrame, "to_file", flaky)
    with pytest.raises(OutputError, match="city.gpkg: could not write: disk full"):
        write_city(City(standard_layers()), target)
    assert calls == ["streets", "communities"]
    assert target.read_bytes() == b"previous content"
    assert _listing(tmp_path) == ["city.gpkg"]


def test_write_city_replaces_whole_file(tmp_path):
    target = tmp_path / "city.gpkg"
    write_gpkg(target, {"old": standard_layers()["streets"], "streets": standard_layers()["streets"].iloc[:1]})
    write_city(City(standard_layers()), target)
    assert [n for n, _ in pyogrio.list_layers(target)] == ["streets", "communities", "grids", "buildings"]
    assert len(read_city(target)["streets"]) == 2
    assert _listing(tmp_path) == ["city.gpkg"]


def test_write_city_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_city(City(standard_layers()), "rel.gpkg")
    assert read_city("rel.gpkg")["grids"]["name"].iloc[0] == "第1网格"
