"""Grids redrawn along real roads: atoms cut by the roads layer (gis.simulate.enclosures).

A hand-built street: community C1 holds grid G1 (south, 200 households) and G2 (north, 600 —
over the national 100–500); community C2 holds G3 to the east. A road runs east–west at y = 150
through G2 and G3, so G2's south strip (200 households) can move to G1 along the road, ending on
G3's edge. Expectations are computed from the geometry by hand, not from the plan.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, box
from typer.testing import CliRunner

from gis import check
from gis.cli.main import app
from gis.io import write_city
from gis.model import City
from gis.simulate import atoms, redraw, split
from gis.simulate.atoms import PlanError

CRS = 4548  # CGCS2000 Gauss–Krüger, metres
X0, Y0 = 500_000, 3_000_000


def at(g):
    return shapely.affinity.translate(g, X0, Y0)


def gdf(geoms, **cols):
    return gpd.GeoDataFrame(cols, geometry=[at(g) for g in geoms], crs=CRS)


def street(straddle=False, roads=True):
    """The street of the module docstring; ``straddle`` adds a building across the road."""
    houses = [(box(20 + 30 * i, 20, 40 + 30 * i, 40), "G1", 40) for i in range(5)]  # G1: 200
    houses += [(box(20 + 30 * i, 110, 40 + 30 * i, 130), "G2", 40) for i in range(5)]  # G2 south strip: 200
    houses += [(box(20 + 30 * i, 170, 40 + 30 * i, 190), "G2", 80) for i in range(5)]  # G2 north: 400
    houses += [(box(220, 20, 240, 40), "G3", 300)]
    if straddle:
        houses += [(box(170, 140, 190, 160), "G2", 0)]  # across the road at y = 150
    b = gdf([h[0] for h in houses], code=[f"B{i + 1}" for i in range(len(houses))], grid_code=[h[1] for h in houses],
            households=[h[2] for h in houses], residents=[3 * h[2] for h in houses])
    layers = {
        "streets": gdf([box(0, 0, 300, 200)], code=["S1"], name=["江滨街道"], households=[1100], residents=[3300]),
        "communities": gdf([box(0, 0, 200, 200), box(200, 0, 300, 200)], code=["C1", "C2"], name=["东湖社区", "西湖社区"],
                           street_code=["S1", "S1"], households=[800, 300], residents=[2400, 900]),
        "grids": gdf([box(0, 0, 200, 100), box(0, 100, 200, 200), box(200, 0, 300, 200)], code=["G1", "G2", "G3"],
                     name=["一网格", "二网格", "三网格"], community_code=["C1", "C1", "C2"],
                     households=[200, 600, 300], residents=[600, 1800, 900]),
        "buildings": b,
    }
    if roads:
        layers["roads"] = gdf([LineString([(-50, 150), (350, 150)]), LineString([(250, 150), (250, 120)])],
                              code=["R1", "R2"], name=["滨江路", "断头路"], kind=["residential", "service"])
    return City(layers)


def test_enclosure_atoms_follow_the_road():
    a = atoms(street(), "grids", parent="C1")
    assert a.child == "enclosures"
    got = {c: round(g.area) for c, g in zip(a.frame["code"], a.frame.geometry)}
    assert got == {"G1/1": 20_000, "G2/1": 10_000, "G2/2": 10_000}  # G1 uncut; G2 in two strips at y = 150
    hh = dict(zip(a.frame["code"], a.frame["households"]))
    assert sorted(hh.values()) == [200, 200, 400] and sum(hh.values()) == 800
    assert a.is_coverage()


def test_grids_redrawn_along_the_road():
    city = street()
    plan = redraw(city, "C1", level="grids", rules="national")
    assert plan.feasible, plan.summary["causes"]
    assert plan.summary["households_moved"] == 200  # the south strip of G2, the only move within bounds
    new = plan.apply(city)
    g = new["grids"].set_index("code")
    assert g.loc["G1"].geometry.symmetric_difference(at(box(0, 0, 200, 150))).area < 1e-6
    assert g.loc["G2"].geometry.symmetric_difference(at(box(0, 150, 200, 200))).area < 1e-6
    shared = g.loc["G1"].geometry.intersection(g.loc["G2"].geometry)
    assert shared.length == pytest.approx(200) and shared.distance(at(LineString([(0, 150), (200, 150)]))) == 0
    # the new line ends on G3 (another community's grid): G3 gains that vertex, not area
    assert g.loc["G3"].geometry.area == pytest.approx(20_000)
    assert (np.abs(shapely.get_coordinates(g.loc["G3"].geometry) - [X0 + 200, Y0 + 150]).sum(1) < 1e-6).any()
    assert shapely.coverage_is_valid(np.asarray(new["grids"].geometry.values))
    # every building of the strip now in G1, counted once, by an independent spatial join
    b = new["buildings"]
    pts = gpd.GeoDataFrame(b[["households", "grid_code"]], geometry=b.representative_point(), crs=b.crs)
    j = gpd.sjoin(pts, new["grids"][["code", "geometry"]], predicate="within")
    assert not j.index.duplicated().any() and len(j) == len(b)
    assert (j["code"] == j["grid_code"]).all()
    assert j.groupby("code")["households"].sum().to_dict() == {"G1": 400, "G2": 400, "G3": 300}
    before = {(f.code, f.layer) for f in check(city, rules="national").itertuples()}
    after = {(f.code, f.layer) for f in check(new, rules="national").itertuples()}
    assert after - before == set()


def test_a_building_across_the_road_is_not_cut():
    plan = redraw(street(straddle=True), "C1", level="grids", rules="national")
    assert not plan.feasible
    assert plan.summary["households_moved"] == 0
    assert any("600" in c and "超过上限" in c for c in plan.summary["causes"]), plan.summary["causes"]


def test_split_a_grid_along_the_road():
    city = street()
    plan = split(city, "G2", level="grids", rules="national")
    assert plan.feasible and plan.summary["units_after"] == 2
    new = plan.apply(city)
    g2 = new["grids"][new["grids"]["community_code"] == "C1"]
    assert sorted(round(a) for a in g2.area) == [10_000, 10_000, 20_000]
    assert shapely.coverage_is_valid(np.asarray(new["grids"].geometry.values))


def test_grids_need_lines_to_be_redrawn():
    with pytest.raises(PlanError, match="roads or barriers"):
        redraw(street(roads=False), "C1", level="grids", rules="national")


def test_redraw_grids_cli(tmp_path):
    write_city(street(), tmp_path / "city.gpkg")
    run = CliRunner().invoke(app, ["simulate", "redraw", str(tmp_path / "city.gpkg"), "C1", "--level", "grids",
                                   "-r", "national", "--apply", str(tmp_path / "new.gpkg")])
    assert run.exit_code == 0, run.output
    from gis import read_city

    g = read_city(tmp_path / "new.gpkg")["grids"].set_index("code")
    assert g.loc["G1"].geometry.area == pytest.approx(30_000)
    assert g.loc["G1", "name"] == "一网格"
