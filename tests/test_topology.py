"""Property tests of the topology checks on random tessellations (hypothesis)."""

import geopandas as gpd
import numpy as np
import shapely
from hypothesis import assume, given, settings, strategies as st
from shapely import box

from gis import check
from gis.model import City

EXTENT = box(0, 0, 1000, 1000)
CRS = "EPSG:4548"

points = st.lists(st.tuples(st.integers(50, 950), st.integers(50, 950)), min_size=4, max_size=40, unique=True)


def tessellation(pts) -> np.ndarray:
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(pts), extend_to=EXTENT))
    return shapely.intersection(cells, EXTENT)


def city_of(cells) -> City:
    streets = gpd.GeoDataFrame({"code": ["S1"], "name": ["豫章街道"]}, geometry=[EXTENT], crs=CRS)
    comms = gpd.GeoDataFrame({"code": ["S1-1"], "name": ["朝阳社区"], "street_code": ["S1"]}, geometry=[EXTENT], crs=CRS)
    grids = gpd.GeoDataFrame({"code": [f"S1-1-{i}" for i in range(len(cells))], "community_code": "S1-1"},
                             geometry=list(cells), crs=CRS)
    return City({"streets": streets, "communities": comms, "grids": grids})


def neighbours(cells):
    """Two cells sharing an edge at least 20 m long, and the midpoint of that edge."""
    tree = shapely.STRtree(cells)
    for i, j in zip(*tree.query(cells, predicate="intersects")):
        if i < j:
            edge = shapely.line_merge(shapely.intersection(cells[i], cells[j]))
            if shapely.get_type_id(edge) == 1 and shapely.length(edge) >= 20:
                return i, j, shapely.line_interpolate_point(edge, 0.5, normalized=True)
    return None


@settings(max_examples=25, deadline=None)
@given(points)
def test_valid_tessellation_has_no_findings(pts):
    found = check(city_of(tessellation(pts)))
    assert len(found) == 0, found[["code", "ids", "message"]].to_string()


@settings(max_examples=25, deadline=None)
@given(points, st.floats(3, 8))
def test_planted_overlap_is_reported_with_its_area(pts, radius):
    cells = tessellation(pts)
    pair = neighbours(cells)
    assume(pair is not None)
    i, j, mid = pair
    disk = shapely.intersection(shapely.buffer(mid, radius), EXTENT)
    expected = {tuple(sorted([f"S1-1-{i}", f"S1-1-{k}"])): shapely.area(shapely.intersection(disk, cells[k]))
                for k in range(len(cells)) if k != i}
    expected = {ids: a for ids, a in expected.items() if a > 1.0}
    cells[i] = shapely.union(cells[i], disk)
    found = check(city_of(cells))
    over = found[found["code"].isin(["overlap", "sliver"])]
    got = {tuple(sorted(ids)): a for ids, a in zip(over["ids"], over["area_m2"])}
    assert got.keys() == expected.keys(), found[["code", "ids", "message"]].to_string()
    for ids, a in expected.items():
        assert abs(got[ids] - a) <= 1e-6 * a + 1e-6
    assert set(found["code"]) <= {"overlap", "sliver", "unmatched_edges"}


@settings(max_examples=25, deadline=None)
@given(points, st.floats(2, 30), st.data())
def test_planted_gap_is_reported_with_its_area(pts, radius, data):
    cells = tessellation(pts)
    k = data.draw(st.integers(0, len(cells) - 1))
    hole = shapely.buffer(shapely.point_on_surface(cells[k]), radius)
    hole = shapely.intersection(hole, cells[k])
    cells = shapely.difference(cells, hole)
    area = shapely.area(hole)
    found = check(city_of(cells))
    gaps = found[found["code"].isin(["gap", "sliver"])]
    if area <= 1.0:
        assert len(gaps) == 0
        return
    assert abs(gaps["area_m2"].sum() - area) <= 1e-6 * area + 1e-6
    assert set(gaps["parent"]) == {"S1-1"}
    assert set(found["code"]) <= {"gap", "sliver", "multipart"}
