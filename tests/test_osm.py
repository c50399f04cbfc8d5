"""Roads and barriers from an OpenStreetMap extract, through a mapping file, into coverage."""

import shutil

import geopandas as gpd
import numpy as np
import pytest
from shapely import box

from gis import read_city
from gis.coverage import build_network

from conftest import ROOT

OSM = ROOT / "tests" / "data" / "nanchang-tiny.osm"


@pytest.fixture
def city(tmp_path):
    shutil.copy(OSM, tmp_path / "extract.osm")
    streets = gpd.GeoDataFrame({"街道编码": ["360102001000"], "街道": ["豫章街道"]},
                               geometry=[box(115.885, 28.672, 115.9, 28.69)], crs=4326)
    streets.to_file(tmp_path / "streets.geojson")
    (tmp_path / "city.toml").write_text(
        '[layers.streets]\nsource = "streets.geojson"\ncode = "街道编码"\nname = "街道"\n'
        '[layers.roads]\nsource = "extract.osm"\n[layers.barriers]\nsource = "extract.osm"\n', encoding="utf-8")
    return read_city(tmp_path / "city.toml")


def test_ways_tagged_highway_are_roads_and_rivers_barriers(city):
    roads, barriers = city["roads"], city["barriers"]
    assert roads[["code", "name", "kind"]].values.tolist() == [["10", "豫章路", "residential"]]
    assert barriers[["code", "name", "kind"]].values.tolist() == [["11", "抚河", "river"]]
    assert roads.crs.to_epsg() == 4326


def test_osm_roads_make_a_walking_network(city):
    net = build_network(city.metric("roads"))
    # one way of three nodes: 115.890→115.895 along 28.680 (~489 m), then north to 28.684 (~444 m)
    assert len(net.xy) == 2  # the two ends: the bend is no intersection
    assert net.length.sum() == pytest.approx(489 + 444, rel=0.02)
    assert np.isfinite(net.length).all()
