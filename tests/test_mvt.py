"""The numpy MVT encoder (api.mvt) against mapbox_vector_tile, feature by feature."""

from __future__ import annotations

import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from shapely import LineString, MultiLineString, MultiPoint, Point, Polygon, box

from api.mvt import encode

EXTENT = 4096


def theirs(name, geoms, ids, props):
    feats = [{"geometry": g, "id": int(i), "properties": {k: v[n] for k, v in props.items() if v[n] is not None}}
             for n, (g, i) in enumerate(zip(geoms, ids))]
    return mapbox_vector_tile.encode([{"name": name, "features": feats}],
                                     default_options={"extents": EXTENT, "check_winding_order": False})


def random_geoms(rng, n):
    out = []
    for _ in range(n):
        kind = rng.integers(6)
        x, y = rng.integers(-200, EXTENT + 200, 2)
        w, h = rng.integers(1, 600, 2)
        if kind == 0:
            out.append(Point(x, y))
        elif kind == 1:
            out.append(MultiPoint(rng.integers(0, EXTENT, (rng.integers(2, 5), 2))))
        elif kind == 2:
            out.append(LineString(rng.integers(0, EXTENT, (rng.integers(2, 7), 2))))
        elif kind == 3:
            out.append(MultiLineString([rng.integers(0, EXTENT, (3, 2)), rng.integers(0, EXTENT, (2, 2))]))
        elif kind == 4:  # a polygon with a hole, some vertices repeated by snapping
            outer = box(x, y, x + w + 20, y + h + 20)
            hole = box(x + 5, y + 5, x + 10 + w // 2, y + 10 + h // 2)
            out.append(shapely.segmentize(outer.difference(hole), 100))
        else:
            out.append(shapely.union(box(x, y, x + w, y + h), box(x + w + 50, y, x + 2 * w + 50, y + h)))
    geoms = shapely.transform(np.array(out, dtype=object), np.rint)
    return shapely.orient_polygons(geoms, exterior_cw=True)


@pytest.mark.parametrize("seed", range(5))
def test_same_tile_as_mapbox_vector_tile(seed):
    rng = np.random.default_rng(seed)
    geoms = random_geoms(rng, 300)
    ids = rng.integers(0, 2 ** 40, len(geoms))
    props = {"code": [f"G{i}" for i in range(len(geoms))],
             "name": [None if i % 7 == 0 else f"第{i % 5}网格·东湖" for i in range(len(geoms))],
             "households": [int(v) for v in rng.integers(0, 3000, len(geoms))],
             "share": [float(v) for v in rng.random(len(geoms))]}
    ours = mapbox_vector_tile.decode(encode("grids", geoms, ids, props, EXTENT))
    ref = mapbox_vector_tile.decode(theirs("grids", geoms, ids, props))
    assert ours["grids"]["extent"] == ref["grids"]["extent"] == EXTENT
    assert len(ours["grids"]["features"]) == len(ref["grids"]["features"]) == len(geoms)
    for a, b in zip(ours["grids"]["features"], ref["grids"]["features"]):
        assert a == b


def test_degenerate_features_left_out_and_empty_is_empty():
    flat = Polygon([(10, 10), (20, 10), (10, 10)])  # no area at whole units: left out, as ST_AsMVTGeom does
    line = LineString([(5, 5), (5, 5)])  # one point: nothing to draw
    repeated = LineString([(0, 0), (0, 0), (9, 9), (9, 9), (3, 4)])
    sliver = Polygon([(0, 0), (50, 0.2), (100, 0.4), (0, 0)])  # rounds onto one line
    holed = Polygon(box(0, 0, 30, 30).exterior, [[(5, 5), (5.2, 5), (5, 5.2)]])  # the hole collapses, not the polygon
    geoms = [flat, line, box(0, 0, 10, 10), repeated, sliver, holed]
    props = {"code": list("abcdef")}
    ours = mapbox_vector_tile.decode(encode("roads", geoms, range(1, 7), props))["roads"]["features"]
    kept = shapely.orient_polygons([box(0, 0, 10, 10), repeated, box(0, 0, 30, 30)], exterior_cw=True)
    assert ours == mapbox_vector_tile.decode(theirs("roads", kept, [3, 4, 6], {"code": list("cdf")}))["roads"]["features"]
    assert encode("roads", [line, flat], [1, 2], {"code": ["a", "b"]}) == b""


def test_polygons_are_turned_as_the_spec_wants():
    """Rings given either way round give the tile of the same rings oriented (exterior clockwise on
    screen, holes counter-clockwise), for polygons and multipolygons with holes."""
    rng = np.random.default_rng(7)
    oriented = [g for g in random_geoms(rng, 200) if g.geom_type.endswith("Polygon")]
    turned = [shapely.orient_polygons(g, exterior_cw=bool(i % 2 == 0)) for i, g in enumerate(oriented)]
    turned = [shapely.reverse(g) if i % 3 == 0 else g for i, g in enumerate(turned)]
    ids, props = range(len(oriented)), {"code": [str(i) for i in range(len(oriented))]}
    assert encode("g", turned, ids, props) == encode("g", oriented, ids, props)
    assert mapbox_vector_tile.decode(encode("g", turned, ids, props)) == \
        mapbox_vector_tile.decode(theirs("g", oriented, ids, props))


def test_negative_and_boolean_values():
    data = encode("x", [Point(1, 1), Point(2, 2)], [1, 2], {"delta": [-5, 7], "ok": [True, False]})
    got = [f["properties"] for f in mapbox_vector_tile.decode(data)["x"]["features"]]
    assert got == [{"delta": -5, "ok": True}, {"delta": 7, "ok": False}]
