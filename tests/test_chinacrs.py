"""gis.chinacrs: GCJ-02 and BD-09 against published vectors; round trips measured in metres; geometries."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod

from gis.chinacrs import (DATUMS, bd09_to_gcj02, datum, from_wgs84, gcj02_to_bd09, gcj02_to_wgs84, to_crs,
                          to_wgs84, wgs84_to_gcj02)
from gis.errors import InputError

GEOD = Geod(ellps="WGS84")

# Published vectors, (lon, lat) in → (lon, lat) out.
# wandergis/coordtransform, README.md and test/app.js ("//result" of each function on (116.404, 39.915)):
#   wgs84togcj02: [116.41024449916938, 39.91640428150164]   gcj02tobd09: [116.41036949371029, 39.92133699351021]
#   gcj02towgs84: [116.39775550083061, 39.91359571849836]   bd09togcj02: [116.39762729119315, 39.90865673957631]
#   (the last two are its one-step approximate inverses).
# googollee/eviltransform, go/transform_test.go and python/test.py, TESTS (wgsLat, wgsLng, gcjLat, gcjLng):
#   (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),   # shanghai
#   (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),   # shenzhen
#   (39.911954, 116.377817, 39.91334545536069, 116.38404722455657)    # beijing
#   whose gcj2wgs_exact must come within 0.5 m of the WGS84 point.
WGS_GCJ = [
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),  # wandergis
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),  # eviltransform, Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),  # eviltransform, Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),  # eviltransform, Beijing
]
GCJ_BD = [((116.404, 39.915), (116.41036949371029, 39.92133699351021))]  # wandergis
ONE_STEP = [  # wandergis's approximate inverses: (function, GCJ-02 or BD-09 in, its approximation out)
    (gcj02_to_wgs84, (116.404, 39.915), (116.39775550083061, 39.91359571849836)),
    (bd09_to_gcj02, (116.404, 39.915), (116.39762729119315, 39.90865673957631)),
]
PARIS, NEW_YORK, SYDNEY = (2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688)


def metres(a, b) -> np.ndarray:
    """Geodesic distances (m) between the corresponding vertices of geometries ``a`` and ``b``."""
    pa, pb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    return GEOD.inv(pa[:, 0], pa[:, 1], pb[:, 0], pb[:, 1])[2]


@pytest.mark.parametrize("forward, given, published", [(wgs84_to_gcj02, *v) for v in WGS_GCJ]
                         + [(gcj02_to_bd09, *v) for v in GCJ_BD])
def test_forward_transforms_give_the_published_vectors(forward, given, published):
    assert np.allclose(forward(*given), published, rtol=0, atol=1e-12)


@pytest.mark.parametrize("wgs, gcj", WGS_GCJ)
def test_gcj02_to_wgs84_recovers_the_published_points_to_a_millimetre(wgs, gcj):
    assert metres(shapely.points(gcj02_to_wgs84(*gcj)), shapely.Point(wgs)) < 0.001  # eviltransform asks 0.5 m


@pytest.mark.parametrize("inverse, given, approximation", ONE_STEP)
def test_inverses_are_exact_where_the_published_one_step_ones_are_not(inverse, given, approximation):
    forward = {gcj02_to_wgs84: wgs84_to_gcj02, bd09_to_gcj02: gcj02_to_bd09}[inverse]
    exact = inverse(*given)
    assert metres(shapely.points(forward(*exact)), shapely.Point(given)) < 1e-4
    assert metres(shapely.points(forward(*approximation)), shapely.Point(given)) > 0.01  # centimetres off
    assert metres(shapely.points(exact), shapely.Point(approximation)) < 0.1  # the same point to 0.1 m


@pytest.mark.parametrize("name", DATUMS)
def test_random_points_in_china_round_trip_within_a_millimetre(name):
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73.5, 135.0, 20_000), rng.uniform(18.0, 53.5, 20_000)
    lon[:3] = 105.0  # where the offset's √|lon − 105| has its kink
    points = shapely.points(lon, lat)
    shifted = from_wgs84(points, name)
    assert 1 < metres(points, shifted).min() and metres(points, shifted).max() < 1_500  # every point moves
    assert metres(points, to_wgs84(shifted, name)).max() < 0.001
    assert metres(points, from_wgs84(to_wgs84(points, name), name)).max() < 0.001


def _city() -> gpd.GeoDataFrame:
    """A block with a courtyard near Tiananmen (Beijing), a two-part estate and a road in Shanghai."""
    beijing = shapely.Polygon([(116.391, 39.903), (116.401, 39.903), (116.401, 39.909), (116.391, 39.909)],
                              [[(116.394, 39.905), (116.397, 39.905), (116.397, 39.907), (116.394, 39.907)]])
    shanghai = shapely.MultiPolygon([shapely.box(121.470, 31.230, 121.478, 31.236),
                                     shapely.box(121.480, 31.230, 121.486, 31.238)])
    road = shapely.LineString([(121.46, 31.22), (121.47, 31.229), (121.49, 31.24)])
    return gpd.GeoDataFrame({"code": ["110101001001", "310101001001", "R000001"]},
                            geometry=[beijing, shanghai, road], index=[10, 20, 30], crs="EPSG:4326")


@pytest.mark.parametrize("name", DATUMS)
def test_polygons_in_beijing_and_shanghai_move_vertex_by_vertex_and_back(name):
    city = _city()
    shifted = from_wgs84(city, name)
    assert shifted.crs == "EPSG:4326" and list(shifted.index) == [10, 20, 30]
    assert list(shifted["code"]) == list(city["code"]) and list(shifted.geom_type) == list(city.geom_type)
    counts = shapely.get_num_coordinates
    assert (counts(shifted.geometry.values) == counts(city.geometry.values)).all()
    xy = shapely.get_coordinates(city.geometry.values)
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    if name == "BD-09":
        lon, lat = gcj02_to_bd09(lon, lat)
    assert np.array_equal(shapely.get_coordinates(shifted.geometry.values), np.column_stack([lon, lat]))
    moved = metres(city.geometry, shifted.geometry)
    assert 100 < moved.min() and moved.max() < {"GCJ-02": 700, "BD-09": 1_500}[name]
    back = to_wgs84(shifted, name)
    assert metres(city.geometry, back.geometry).max() < 0.001
    assert back.is_valid.all() and np.allclose(shapely.area(back.geometry.values), shapely.area(city.geometry.values),
                                               rtol=1e-6, atol=0)


@pytest.mark.parametrize("name", DATUMS)
@pytest.mark.parametrize("lonlat", [PARIS, NEW_YORK, SYDNEY, (0.0, 0.0)])
def test_outside_china_nothing_moves(name, lonlat):
    point = shapely.Point(lonlat)
    assert from_wgs84(point, name).equals_exact(point, 0) and to_wgs84(point, name).equals_exact(point, 0)


@pytest.mark.parametrize("name", DATUMS)
def test_empty_geometries_none_and_z_are_kept(name):
    geoms = gpd.GeoSeries([None, shapely.Point(), shapely.Polygon(), shapely.Point(116.4, 39.9, 43.5)],
                          crs="EPSG:4326", name="geom")
    for moved in (from_wgs84(geoms, name), to_wgs84(geoms, name)):
        assert moved.name == "geom" and moved[0] is None
        assert moved[1].is_empty and moved[1].geom_type == "Point" and moved[2].is_empty
        assert moved[3].has_z and moved[3].z == 43.5 and moved[3].x != 116.4


def test_from_wgs84_reprojects_first_and_arrays_stay_arrays():
    city = _city()
    direct = from_wgs84(city, "GCJ-02")
    via_gk = from_wgs84(city.to_crs("EPSG:4547"), "gcj02")
    assert metres(direct.geometry, via_gk.geometry).max() < 0.001
    moved = from_wgs84(list(city.geometry), "GCJ02")
    assert isinstance(moved, np.ndarray) and shapely.equals_exact(moved, direct.geometry.values, 0).all()


@pytest.mark.parametrize("name, known", [
    ("GCJ-02", "GCJ-02"), ("gcj02", "GCJ-02"), ("GCJ02", "GCJ-02"), ("gcj_02", "GCJ-02"), (" gcj02ll ", "GCJ-02"),
    ("BD-09", "BD-09"), ("bd09", "BD-09"), ("BD09LL", "BD-09"),
    ("EPSG:4326", None), ("WGS84", None), ("bd09mc", None), ("", None), (None, None), (4326, None),
])
def test_datum_recognises_the_declared_names(name, known):
    assert datum(name) == known


def test_bad_requests_are_refused():
    with pytest.raises(ValueError, match="not a Chinese web-map datum"):
        to_wgs84(_city(), "EPSG:4326")
    with pytest.raises(InputError, match="projected CRS"):
        to_wgs84(_city().to_crs("EPSG:4547"), "GCJ-02")
    with pytest.raises(InputError, match="unknown CRS 'EPSG:999999'"):
        to_crs(_city(), "EPSG:999999")
    assert to_crs(_city(), "EPSG:4547").crs == "EPSG:4547"
