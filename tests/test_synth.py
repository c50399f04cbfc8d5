"""The synthetic city generator: clean cities are exact coverages, planted errors are where the manifest says."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.synth import PLANT_ALL, synth


@pytest.fixture(scope="module", params=[(60, 0), (300, 1), (2000, 2)], ids=lambda p: f"{p[0]}grids-seed{p[1]}")
def clean(request):
    n, seed = request.param
    city, manifest = synth(n, seed=seed)
    return n, city, manifest


@pytest.fixture(scope="module", params=[(300, 3), (2000, 4)], ids=lambda p: f"{p[0]}grids-seed{p[1]}")
def planted(request):
    n, seed = request.param
    city, manifest = synth(n, seed=seed, plant=PLANT_ALL)
    return city, manifest


def _by_code(df):
    return df.set_index("code").geometry


# ---- clean cities ------------------------------------------------------------------------------

def test_clean_layers_and_manifest(clean):
    n, city, manifest = clean
    assert sorted(city.layers) == ["buildings", "communities", "facilities", "grids", "roads", "streets"]
    assert city.crs.to_epsg() == 4548 and city.metric_crs.to_epsg() == 4548
    assert len(city["grids"]) == n
    assert len(manifest) == 0 and list(manifest.columns) == ["code", "layer", "ids", "area_m2", "x", "y"]
    for layer in ("streets", "communities", "grids", "buildings", "facilities", "roads"):
        assert city[layer]["code"].is_unique


def test_clean_coverages_nest_exactly(clean):
    _, city, _ = clean
    S, C, G = city["streets"], city["communities"], city["grids"]
    for df in (S, C, G):
        assert shapely.coverage_is_valid(df.geometry.values)
        assert (df.geom_type == "Polygon").all() and df.is_valid.all()
    for child, parent, col in ((G, C, "community_code"), (C, S, "street_code")):
        assert child[col].isin(parent["code"]).all()
        union = child.groupby(col).geometry.apply(lambda s: shapely.coverage_union_all(s.values))
        pg = _by_code(parent)[union.index].values
        rel = shapely.area(shapely.symmetric_difference(pg, union.values)) / shapely.area(pg)
        assert rel.max() < 1e-6
        assert set(union.index) == set(parent["code"])
        # every child lies within its parent
        inside = shapely.area(shapely.difference(child.geometry.values, _by_code(parent)[child[col]].values))
        assert inside.max() < 1e-6
    # the grids tile the city: union of grids = union of streets
    assert abs(shapely.coverage_union_all(G.geometry.values).area - S.area.sum()) < 1e-3


def test_clean_buildings_and_declared_sums(clean):
    _, city, _ = clean
    G, C, S, B = city["grids"], city["communities"], city["streets"], city["buildings"]
    j = gpd.sjoin(B, G[["code", "community_code", "geometry"]].rename(columns={"code": "in_grid"}),
                  predicate="within", how="left")
    assert j.index.is_unique and j["in_grid"].notna().all()  # in exactly one grid
    assert (j["in_grid"] == j["grid_code"]).all()
    # at least ~8 m from the grid boundary
    d = shapely.distance(B.geometry.values, shapely.boundary(_by_code(G)[B["grid_code"]].values))
    assert d.min() >= 7.9
    # no two buildings overlap, and nearly all stand 6 m apart (GB 50016)
    tree = shapely.STRtree(B.geometry.values)
    left, right = tree.query(B.geometry.values, predicate="intersects")
    assert (left == right).all()
    left, right = tree.query(B.geometry.values, predicate="dwithin", distance=5.99)
    assert (left != right).sum() / 2 < 0.03 * len(B)
    assert np.median(B.area) > 100
    hh = j.groupby("community_code")["households"].sum()
    res = j.groupby("community_code")["residents"].sum()
    c = C.set_index("code")
    assert (c["households"] == hh[c.index]).all() and (c["residents"] == res[c.index]).all()
    s = S.set_index("code")
    assert (s["households"] == c.groupby("street_code")["households"].sum()[s.index]).all()
    assert (s["residents"] == c.groupby("street_code")["residents"].sum()[s.index]).all()
    assert B["code"].str.fullmatch(r"B\d{6,}").all()
    assert (B["residents"] >= B["households"]).all()


def test_clean_sizes(clean):
    n, city, _ = clean
    G, C, S, B = city["grids"], city["communities"], city["streets"], city["buildings"]
    grid_hh = B.groupby("grid_code")["households"].sum()
    assert grid_hh.between(120, 480).all() and len(grid_hh) == n
    assert C["households"].between(1100, 1900).all()
    assert G.groupby("community_code").size().min() >= 3
    assert S["residents"].between(40000, 60000).all()  # every size test passes under nanchang-2002
    ratio = S["residents"] / S["households"]
    assert ratio.between(2.0, 4.0).all()


def test_clean_codes_and_chinese_names(clean):
    _, city, _ = clean
    S, C, G = city["streets"], city["communities"], city["grids"]
    assert S["code"].str.fullmatch(r"360102\d{3}000").all() and (S["district_code"] == "360102").all()
    assert S["name"].str.endswith("街道").all()
    assert C["code"].str.fullmatch(r"\d{12}").all() and C["name"].str.endswith("社区").all()
    assert (C["code"].str[:9] == C["street_code"].str[:9]).all()
    assert C["kind"].isin(["territorial", "unit", "work_unit"]).all() and C["has_committee"].all()
    assert G["code"].str.fullmatch(r"\d{12}-\d{2}").all()
    assert (G["code"].str[:12] == G["community_code"]).all()
    assert G["name"].str.fullmatch(r"第\d+网格").all()
    assert G["basis"].isin(["居民区", "楼宇", "街区", "企事业单位", "专业性市场"]).all()
    assert city["buildings"]["estate"].str.len().min() >= 2


def test_roads_connected_and_facilities(clean):
    _, city, _ = clean
    R, F, C = city["roads"], city["facilities"], city["communities"]
    assert set(R["kind"]) == {"主干道", "支路"}
    merged = shapely.line_merge(shapely.union_all(R.geometry.values))
    # the network is connected: its union polygonizes into faces equal in number to the grids
    faces = shapely.get_parts(shapely.polygonize([merged]))
    assert len(faces) == len(city["grids"])
    assert abs(shapely.area(faces).sum() - city["streets"].area.sum()) < 1e-3
    sc = F[F["kind"] == "service_centre"]
    assert sorted(sc["community_code"]) == sorted(C["code"])
    assert F["community_code"].isin(C["code"]).all()
    inside = gpd.sjoin(F, C[["code", "geometry"]].rename(columns={"code": "in_comm"}), predicate="within")
    assert (inside["in_comm"] == inside["community_code"]).all() and len(inside) == len(F)
    assert {"camera", "police_room", "elderly_station", "shelter", "fire_station"} <= set(F["kind"])


def test_deterministic():
    a, ma = synth(120, seed=7, plant={"gap": 1, "overlap": 1})
    b, mb = synth(120, seed=7, plant={"gap": 1, "overlap": 1})
    for layer in a.layers:
        pd.testing.assert_frame_equal(pd.DataFrame(a[layer].drop(columns="geometry")),
                                      pd.DataFrame(b[layer].drop(columns="geometry")))
        assert (shapely.to_wkb(a[layer].geometry.values) == shapely.to_wkb(b[layer].geometry.values)).all()
    pd.testing.assert_frame_equal(ma, mb)
    c, _ = synth(120, seed=8)
    assert not c["grids"].geometry.geom_equals(a["grids"].geometry).all()


def test_point_buildings():
    city, _ = synth(200, seed=5, buildings_per_grid=4, building_shape="point")
    B, G = city["buildings"], city["grids"]
    assert (B.geom_type == "Point").all()
    assert shapely.contains(_by_code(G)[B["grid_code"]].values, B.geometry.values).all()
    assert B.groupby("grid_code")["households"].sum().between(120, 480).all()


# ---- planted errors ----------------------------------------------------------------------------

def _polygonal(g):
    parts = shapely.get_parts(g)
    return shapely.union_all(parts[np.isin(shapely.get_type_id(parts), [3, 6])])


def _rows(manifest, code, layer=None):
    m = manifest[(manifest["code"] == code) & ((manifest["layer"] == layer) if layer else True)]
    return m


def test_manifest_one_row_per_code(planted):
    _, manifest = planted
    counts = manifest.groupby(["code", "layer"]).size().to_dict()
    expected = {(k, "grids") for k in ("invalid_geometry", "duplicate_id", "orphan", "overlap", "gap",
                                       "outside_parent", "unmatched_edges", "sliver", "multipart")}
    expected |= {("gap", "communities"), ("gap", "streets"), ("households_mismatch", "communities"),
                 ("size_above", "communities"), ("size_below", "communities"), ("merge_candidate", "streets")}
    expected |= {(k, "buildings") for k in ("unassigned_building", "multi_assigned_building",
                                            "misassigned_building")}
    assert set(counts) == expected and set(counts.values()) == {1}
    assert manifest["ids"].map(lambda t: isinstance(t, tuple) and list(t) == sorted(t)).all()
    area_codes = {"overlap", "gap", "outside_parent", "sliver"}
    assert manifest.loc[manifest["code"].isin(area_codes), "area_m2"].gt(1).all()
    assert manifest.loc[~manifest["code"].isin(area_codes), "area_m2"].isna().all()
    assert manifest[["x", "y"]].notna().all().all()


def test_planted_geometry(planted):
    city, m = planted
    G, C, S, B = city["grids"], city["communities"], city["streets"], city["buildings"]
    g = G.groupby("code").geometry.agg(list)

    def one(code):
        geoms = g[code]
        assert len(geoms) == 1
        return geoms[0]

    def pt(row):
        return shapely.Point(row["x"], row["y"])

    # invalid geometry: invalid, and make_valid gives back the clean area
    r = _rows(m, "invalid_geometry").iloc[0]
    bad = one(r["ids"][0])
    assert not bad.is_valid
    fixed = shapely.make_valid(bad, method="structure")
    assert fixed.geom_type == "Polygon" and abs(fixed.area - bad.area) < 1e-6
    assert bad.buffer(0.01).contains(pt(r))
    # every other grid is valid
    assert G[G["code"] != r["ids"][0]].is_valid.all()

    # duplicate id: exactly two grids share it, no other code repeats
    r = _rows(m, "duplicate_id").iloc[0]
    dup = G["code"].value_counts()
    assert dup[r["ids"][0]] == 2 and (dup.drop(r["ids"][0]) == 1).all()

    # orphan: community code exists nowhere
    r = _rows(m, "orphan").iloc[0]
    orphan = G.loc[G["code"] == r["ids"][0], "community_code"].iloc[0]
    assert orphan not in set(C["code"])
    assert G["community_code"].isin(C["code"]).sum() == len(G) - 1

    # overlap: A ∩ B has the manifest's area and contains the multi-assigned building
    r = _rows(m, "overlap").iloc[0]
    a, b = one(r["ids"][0]), one(r["ids"][1])
    inter = _polygonal(shapely.intersection(a, b))
    assert abs(inter.area - r["area_m2"]) < 1e-6 and 100 < r["area_m2"] < 1100
    assert inter.contains(pt(r))
    rb = _rows(m, "multi_assigned_building").iloc[0]
    mb = B.loc[B["code"] == rb["ids"][0]].geometry.iloc[0]
    assert inter.contains(mb)
    hits = G.geometry.intersects(mb)
    assert hits.sum() == 2
    # no other building is in more than one grid or in none, except the planted ones
    j = gpd.sjoin(B, G[["code", "geometry"]].rename(columns={"code": "in_grid"}), predicate="within", how="left")
    per = j.groupby(level=0)["in_grid"].count()
    ru = _rows(m, "unassigned_building").iloc[0]
    planted_codes = {rb["ids"][0], ru["ids"][0]}
    other = ~B["code"].isin(planted_codes)
    assert (per[other.to_numpy()] == 1).all()
    assert per[(B["code"] == ru["ids"][0]).to_numpy()].iloc[0] == 0

    # gap (grids): a hole in one grid, inside its community
    r = _rows(m, "gap", "grids").iloc[0]
    grid = one(r["ids"][0])
    assert len(grid.interiors) == 1
    hole = shapely.Polygon(grid.interiors[0])
    assert abs(hole.area - r["area_m2"]) < 1e-6 and hole.contains(pt(r))
    assert not G.geometry.intersects(hole.buffer(-0.01)).any()
    assert C.geometry.contains(hole).sum() == 1
    # gap (communities): the hole is in a community and its grid, not in its street
    r = _rows(m, "gap", "communities").iloc[0]
    comm = _by_code(C)[r["ids"][0]]
    assert len(comm.interiors) == 1
    hole = shapely.Polygon(comm.interiors[0])
    assert abs(hole.area - r["area_m2"]) < 1e-6
    assert not G.geometry.intersects(hole.buffer(-0.01)).any()
    assert S.geometry.contains(hole).sum() == 1
    # gap (streets): the hole is in no unit at all
    r = _rows(m, "gap", "streets").iloc[0]
    street = _by_code(S)[r["ids"][0]]
    assert len(street.interiors) == 1
    hole = shapely.Polygon(street.interiors[0])
    assert abs(hole.area - r["area_m2"]) < 1e-6
    for df in (G, C, S):
        assert not df.geometry.intersects(hole.buffer(-0.01)).any()
    # the communities and streets levels are still exact coverages
    assert shapely.coverage_is_valid(C.geometry.values) and shapely.coverage_is_valid(S.geometry.values)

    # outside parent: the part outside its community has the manifest's area
    r = _rows(m, "outside_parent").iloc[0]
    grid = one(r["ids"][0])
    parent = _by_code(C)[G.loc[G["code"] == r["ids"][0], "community_code"].iloc[0]]
    out = shapely.difference(grid, parent)
    assert abs(out.area - r["area_m2"]) < 1e-3 and out.contains(pt(r))
    assert grid.geom_type == "Polygon"

    # unmatched edges: flagged by coverage validation, no overlap between A and B
    r = _rows(m, "unmatched_edges").iloc[0]
    a, b = one(r["ids"][0]), one(r["ids"][1])
    assert not shapely.coverage_is_valid([a, b])
    edges = shapely.coverage_invalid_edges([a, b])
    assert not shapely.is_empty(edges).any()
    assert shapely.intersection(a, b).area < 1e-6
    assert edges[0].distance(pt(r)) < 1e-6

    # sliver: a thin triangle of A in B with the manifest's area
    r = _rows(m, "sliver").iloc[0]
    a, b = one(r["ids"][0]), one(r["ids"][1])
    tri = _polygonal(shapely.intersection(a, b))
    assert abs(tri.area - r["area_m2"]) < 1e-6 and tri.area > 1
    assert 2 * tri.area / tri.length < 1.0  # thinner than the sliver width
    assert tri.contains(pt(r))

    # multipart: one unit with two disjoint parts
    r = _rows(m, "multipart").iloc[0]
    grid = one(r["ids"][0])
    assert grid.geom_type == "MultiPolygon" and len(grid.geoms) == 2
    assert grid.geoms[0].distance(grid.geoms[1]) > 0
    assert (G.geom_type != "MultiPolygon").sum() == len(G) - 1

    # the remaining grid level is a valid coverage apart from the planted sites
    sites = set().union(*m.loc[m["layer"] == "grids", "ids"])
    rest = G[~G["code"].isin(sites)]
    assert shapely.coverage_is_valid(rest.geometry.values)

    # unassigned building: 50–200 m outside the city
    city_area = shapely.coverage_union_all(S.geometry.values)
    ub = B.loc[B["code"] == ru["ids"][0]].geometry.iloc[0]
    assert 45 <= city_area.distance(ub) <= 260

    # misassigned building: declares an existing grid that does not contain it
    r = _rows(m, "misassigned_building").iloc[0]
    row = B.loc[B["code"] == r["ids"][0]].iloc[0]
    assert row["grid_code"] in set(G["code"])
    assert not one(row["grid_code"]).contains(row.geometry)
    # all other buildings declare the grid containing them
    j1 = j[j["in_grid"].notna() & ~j["code"].isin({r["ids"][0], rb["ids"][0]})]
    assert (j1["in_grid"] == j1["grid_code"]).all()


def test_planted_sums_and_sizes(planted):
    city, m = planted
    G, C, S, B = city["grids"], city["communities"], city["streets"], city["buildings"]
    j = gpd.sjoin(B, C[["code", "geometry"]].rename(columns={"code": "in_comm"}), predicate="within")
    hh = j.groupby("in_comm")["households"].sum()
    c = C.set_index("code")
    diff = c["households"] - hh[c.index]
    mismatch = _rows(m, "households_mismatch").iloc[0]["ids"][0]
    assert diff[mismatch] == 37 and (diff.drop(mismatch) == 0).all()
    above = _rows(m, "size_above").iloc[0]["ids"][0]
    below = _rows(m, "size_below").iloc[0]["ids"][0]
    assert 2000 < c.loc[above, "households"] <= 2600 and c.loc[above, "kind"] != "work_unit"
    assert c.loc[below, "households"] == 600
    others = c.drop([above, below, mismatch])
    assert others["households"].between(1000, 2000).all()
    small = _rows(m, "merge_candidate").iloc[0]["ids"][0]
    s = S.set_index("code")
    assert s.loc[small, "residents"] < 30000
    assert s.drop(small)["residents"].between(40000, 60000).all()
    assert (s["residents"] == c.groupby("street_code")["residents"].sum()[s.index]).all()
    # grids (spatially and by declared code) stay within 100–500 households
    jg = gpd.sjoin(B, G[["code", "geometry"]].rename(columns={"code": "in_grid"}), predicate="within")
    assert jg.groupby("in_grid")["households"].sum().between(100, 500).all()
    assert B.groupby("grid_code")["households"].sum().between(100, 500).all()


def test_small_city_with_size_codes_lists_natural_streets():
    city, m = synth(30, seed=0, plant={"size_below": 1})
    res = city["streets"].set_index("code")["residents"]
    listed = set(m.loc[m["layer"] == "streets", "ids"].map(lambda t: t[0]))
    assert listed == set(res[(res < 40000) | (res > 60000)].index)


def test_unknown_plant_key():
    with pytest.raises(ValueError):
        synth(60, plant={"nonsense": 1})


def test_plant_all_on_small_city():
    _, m = synth(60, seed=0, plant=PLANT_ALL)
    assert len(m) >= len(PLANT_ALL) - 2  # gap@… are listed under "gap"
