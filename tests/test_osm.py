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


def mapped(folder):
    """A mapping file next to ``folder/extract.osm``: one street, roads and barriers from the extract."""
    streets = gpd.GeoDataFrame({"街道编码": ["360102001000"], "街道": ["豫章街道"]},
                               geometry=[box(115.885, 28.672, 115.9, 28.69)], crs=4326)
    streets.to_file(folder / "streets.geojson")
    (folder / "city.toml").write_text(
        '[layers.streets]\nsource = "streets.geojson"\ncode = "街道编码"\nname = "街道"\n'
        '[layers.roads]\nsource = "extract.osm"\n[layers.barriers]\nsource = "extract.osm"\n', encoding="utf-8")
    return read_city(folder / "city.toml")


@pytest.fixture
def city(tmp_path):
    shutil.copy(OSM, tmp_path / "extract.osm")
    return mapped(tmp_path)


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


def overpass_osm(deck: str) -> str:
    """A street (way 20) crossed by a primary road (way 21, ``deck``: its extra tags) with no shared
    node, and a railway in a tunnel (way 22)."""
    nodes = {1: (115.890, 28.680), 2: (115.898, 28.680), 3: (115.894, 28.676), 4: (115.894, 28.684),
             5: (115.890, 28.678), 6: (115.898, 28.678)}
    ways = {20: ([1, 2], '<tag k="highway" v="residential"/>'), 21: ([3, 4], '<tag k="highway" v="primary"/>' + deck),
            22: ([5, 6], '<tag k="railway" v="subway"/><tag k="tunnel" v="yes"/><tag k="layer" v="-2"/>')}
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="hand">\n'
            + "".join(f'<node id="{i}" lat="{y}" lon="{x}" version="1"/>\n' for i, (x, y) in nodes.items())
            + "".join(f'<way id="{w}" version="1">' + "".join(f'<nd ref="{n}"/>' for n in nd) + f"{tags}</way>\n"
                      for w, (nd, tags) in ways.items()) + "</osm>\n")


def test_bridge_tunnel_and_layer_tags_become_columns(tmp_path):
    (tmp_path / "extract.osm").write_text(overpass_osm('<tag k="bridge" v="yes"/><tag k="layer" v="1"/>'),
                                          encoding="utf-8")
    c = mapped(tmp_path)
    assert c["roads"][["code", "bridge", "tunnel", "layer"]].values.tolist() == \
        [["20", None, None, None], ["21", "yes", None, "1"]]
    assert c["barriers"][["code", "kind", "tunnel", "layer"]].values.tolist() == [["22", "subway", "yes", "-2"]]


@pytest.mark.parametrize(("deck", "nodes", "edges"), [
    ('<tag k="bridge" v="yes"/><tag k="layer" v="1"/>', 4, 2),  # the two ways stay apart
    ('<tag k="layer" v="1"/>', 4, 2),
    ('<tag k="tunnel" v="yes"/>', 4, 2),
    ("", 5, 4),  # at grade: one junction where they cross, four edges from it
])
def test_an_osm_bridge_does_not_meet_the_street_it_crosses(tmp_path, deck, nodes, edges):
    (tmp_path / "extract.osm").write_text(overpass_osm(deck), encoding="utf-8")
    net = build_network(mapped(tmp_path).metric("roads"), connected=False)
    assert (len(net.xy), len(net.u)) == (nodes, edges)
    assert net.degree.max() == (4 if edges == 4 else 1)
