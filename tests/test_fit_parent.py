"""``repair --fit-parent``: grids digitised 3 m east of their communities, fitted back to them.

The city is built the way real exports look: one street, four communities, nine grids digitised
apart from the communities (every grid vertex 3 m east: each grid on a community's east line
crosses it by a 3 m strip, each community has a 3 m strip on its west line no grid covers), one
grid (G11) that also reaches 40 m into the community north of it (a real error), a building
straddling community C3's east line (held by G33, so G33's strip holds part of it) and one
straddling the inner edge of G12's strip in C2 (held by G22). Streets, communities and buildings
are GeoJSON in lon/lat, the grids a GeoPackage in the metric CRS, all with Chinese column names
read through a mapping file. The same city is also turned by 27° (oblique lines everywhere).

The expectations are derived from the construction, not from the code: after the fit every grid
line on a community line lies on it and every other grid line stays where it was digitised (3 m
east); G11 keeps its 40 m part and G33 its strip (it holds part of a building G33 holds). Areas and
households are measured on the result with shapely and a spatial join.
"""

from __future__ import annotations

import json
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import box
from shapely.affinity import rotate, translate
from typer.testing import CliRunner

from gis import check, read_city
from gis.cli.main import app
from gis.model import City
from gis.rules import load_rules
from gis.simulate import PlanError, load_plan
from gis.simulate.repair import fit_parent

X0, Y0 = 392_000.0, 3_176_000.0  # about 115.87°E 28.70°N in EPSG:4548 (Nanchang's metric CRS)
GK = "EPSG:4548"
SHIFT = 3.0  # how far east the grids were digitised
SLIVER = 5.0  # the rule set's sliver_width_m: a 3 m strip is a sliver, the 40 m part is not
COMMUNITIES = {"C1": (0, 0, 400, 200), "C2": (400, 0, 800, 200), "C3": (0, 200, 400, 400), "C4": (400, 200, 800, 400)}
GRIDS = {"G11": ("C1", (0, 0, 200, 200)), "G12": ("C1", (200, 0, 400, 200)),
         "G21": ("C2", (400, 0, 800, 100)), "G22": ("C2", (400, 100, 800, 200)),
         "G31": ("C3", (0, 200, 150, 400)), "G32": ("C3", (150, 200, 400, 300)), "G33": ("C3", (150, 300, 400, 400)),
         "G41": ("C4", (400, 200, 600, 400)), "G42": ("C4", (600, 200, 800, 400))}
BULGE = (50, 200, 150, 240)  # G11's real error: 40 m into C3
STRADDLING = {"B_keep": ((390, 350, 402, 360), 30),  # crosses C3's east line; in G33 and G33's strip
              "B_fill": ((401, 150, 411, 160), 20)}  # in C2's uncovered strip (under G12's) and in G22
MAPPING = """
[layers.streets]
source = "街道.geojson"
code = "街道编码"
name = "街道名称"

[layers.communities]
source = "社区.geojson"
code = "社区编码"
name = "社区名称"
street_code = "所属街道"

[layers.grids]
source = "网格.gpkg:wangge"
code = "网格编码"
name = "网格名称"
community_code = "所属社区"

[layers.buildings]
source = "建筑.geojson"
code = "建筑编码"
households = "户数"
"""


class Frame:
    """Local metres (x east, y north from the city's corner) to EPSG:4548, turned by ``angle``°."""

    def __init__(self, angle: float):
        self.angle = angle

    def __call__(self, geom):
        return rotate(translate(geom, X0, Y0), self.angle, origin=(X0, Y0))

    def box(self, bounds):
        return self(box(*bounds))


def digitised(code: str):
    """Grid ``code`` as digitised, in local metres: 3 m east of where it belongs (G11 with its 40 m part)."""
    g = box(*GRIDS[code][1])
    return translate(shapely.union(g, box(*BULGE)) if code == "G11" else g, SHIFT, 0)


def fitted(code: str):
    """Grid ``code`` as the fit should leave it, in local metres: its edges on its community's west
    and east lines moved onto them, its inner edges where they were digitised; G11 keeps its part
    in C3, G33 its strip in C4 (it holds part of B_keep, which G33 holds), so G41 does not get
    that stretch of C4's strip."""
    community, (x0, y0, x1, y1) = GRIDS[code]
    cx0, _, cx1, _ = COMMUNITIES[community]
    west = x0 if x0 == cx0 else x0 + SHIFT
    east = x1 if x1 == cx1 and code != "G33" else x1 + SHIFT
    g = box(west, y0, east, y1)
    if code == "G11":
        return shapely.union(g, translate(box(*BULGE), SHIFT, 0))
    return shapely.difference(g, box(400, 300, 400 + SHIFT, 400)) if code == "G41" else g


def write_city(folder, frame: Frame, grids=digitised, straddling=STRADDLING):
    """The city's files (GeoJSON in lon/lat, grids in a GeoPackage in EPSG:4548), its mapping file
    and a rule set with ``sliver_width_m = 5``; returns the mapping's path."""
    folder.mkdir(parents=True, exist_ok=True)
    streets = gpd.GeoDataFrame({"街道编码": ["360102001"], "街道名称": ["豫章街道"]},
                               geometry=[frame.box((0, 0, 800, 400))], crs=GK)
    communities = gpd.GeoDataFrame({"社区编码": list(COMMUNITIES), "社区名称": [f"{c}社区" for c in COMMUNITIES],
                                    "所属街道": "360102001"},
                                   geometry=[frame.box(b) for b in COMMUNITIES.values()], crs=GK)
    g = gpd.GeoDataFrame({"网格编码": list(GRIDS), "网格名称": [f"第{c[-1]}网格" for c in GRIDS],
                          "所属社区": [c for c, _ in GRIDS.values()]},
                         geometry=[frame(grids(code)) for code in GRIDS], crs=GK)
    inner = {f"B{code}": (box(x0 + 50, y0 + 60, x0 + 70, y0 + 80), 150 + 10 * i)
             for i, (code, (_, (x0, y0, _, _))) in enumerate(GRIDS.items())}
    both = {**inner, **{k: (box(*b), hh) for k, (b, hh) in straddling.items()}}
    buildings = gpd.GeoDataFrame({"建筑编码": list(both), "户数": [hh for _, hh in both.values()]},
                                 geometry=[frame(b) for b, _ in both.values()], crs=GK)
    streets.to_crs(4326).to_file(folder / "街道.geojson", engine="pyogrio")
    communities.to_crs(4326).to_file(folder / "社区.geojson", engine="pyogrio")
    g.to_file(folder / "网格.gpkg", layer="wangge", driver="GPKG", engine="pyogrio")
    buildings.to_crs(4326).to_file(folder / "建筑.geojson", engine="pyogrio")
    (folder / "rules.toml").write_text(f'name = "fit"\nextends = "national"\n[tolerance]\nsliver_width_m = {SLIVER}\n',
                                       encoding="utf-8")
    (folder / "city.toml").write_text(MAPPING, encoding="utf-8")
    return folder / "city.toml"


@pytest.fixture(scope="module", params=[0.0, 27.0], ids=["north-up", "turned-27"])
def fit(request, tmp_path_factory):
    """(frame, input city, rules path, plan from Python, city written by the CLI's --apply, CLI run)."""
    frame = Frame(request.param)
    folder = tmp_path_factory.mktemp("fit")
    mapping = write_city(folder, frame)
    rules = folder / "rules.toml"
    city = read_city(mapping)
    plan = fit_parent(city, "grids", rules)
    run = CliRunner().invoke(app, ["simulate", "repair", str(mapping), "--level", "grids", "--fit-parent",
                                   "-r", str(rules), "--out", str(folder / "plan"), "--apply", str(folder / "new.gpkg"),
                                   "--json"])
    return frame, city, rules, plan, read_city(folder / "new.gpkg"), run, folder


def grid_geoms(city: City) -> dict:
    g = city.metric("grids")
    return dict(zip(g["code"], g.geometry.values))


def test_the_input_is_digitised_apart(fit):
    frame, city, rules, *_ = fit
    found = check(city, rules)
    grids = found[found["layer"] == "grids"]
    strips = grids[(grids["code"] == "sliver") & grids["ids"].map(len).eq(1)]
    assert set(strips["ids"].str[0]) == {"G12", "G21", "G22", "G32", "G33", "G42"}  # 3 m over the east lines
    assert np.allclose(strips["area_m2"], [SHIFT * 200 if c in ("G12", "G42") else SHIFT * 100
                                           for c in strips["ids"].str[0]], atol=0.5)
    two = found[found["code"] == "multi_assigned_building"]
    assert two["ids"].map(list).tolist() == [["B_fill"]]  # in G22 and G12's strip


def test_cli_and_python_make_the_same_fit(fit):
    frame, city, rules, plan, new, run, folder = fit
    assert run.exit_code == 1, run.output  # G11's part and G33's strip are left: not feasible
    assert json.loads(run.stdout)["summary"]["left"] == plan.summary["left"]
    saved = load_plan(folder / "plan.json")
    assert saved.summary["fit_parent"] and saved.operation == "repair"
    ours, theirs = grid_geoms(plan.apply(city)), grid_geoms(new)
    assert all(shapely.equals_exact(ours[c], theirs[c], tolerance=1e-6) for c in GRIDS)
    assert grid_geoms(saved.apply(city)).keys() == theirs.keys()


@pytest.mark.parametrize("code", list(GRIDS))
def test_each_grid_is_fitted_to_its_community(fit, code):
    frame, city, rules, plan, new, *_ = fit
    got = grid_geoms(new)[code]
    want = frame(fitted(code))
    assert shapely.is_valid(got) and shapely.get_num_geometries(got) == 1
    # overlay rounding (1 µm) and merging vertices closer than 1 mm move lines by at most 1 mm
    assert shapely.area(shapely.symmetric_difference(got, want)) < 1e-3 * shapely.length(want), code
    change = shapely.area(want) - shapely.area(frame(digitised(code)))
    assert plan.sizes.loc[code, "area_change_m2"] == pytest.approx(change, abs=0.2)


def test_the_result_checks_clean_but_for_the_real_errors(fit):
    frame, city, rules, plan, new, *_ = fit
    found = check(new, rules)
    below = found[found["layer"].isin(["grids", "buildings"])]
    topology = below[below["rule"].isin(["不交叉", "不跨社区", "地无空白", "人无遗漏"])]
    left = {(c, tuple(i)) for c, i in zip(topology["code"], topology["ids"])}
    # no gap, no sliver but G33's, no building in two grids (B_fill was); unmatched edges only where
    # G11's 40 m part overlaps C3's grids
    assert {k for k in left if k[0] != "unmatched_edges"} == {
        ("outside_parent", ("G11",)), ("overlap", ("G11", "G31")), ("sliver", ("G33",))}
    assert all("G11" in ids or set(ids) == {"G31", "G32"} for c, ids in left if c == "unmatched_edges")
    part = topology[topology["code"] == "outside_parent"]
    assert part["area_m2"].iloc[0] == pytest.approx(4000, abs=1)
    others = [grid_geoms(new)[c] for c in GRIDS if c != "G11"]
    assert shapely.coverage_is_valid(others)  # 不交叉, shared edges matched vertex for vertex
    comm = new.metric("communities").set_index("code").geometry
    for c in COMMUNITIES:  # 地无空白: each community's grids cover it, but for G33's strip in C4
        mine = shapely.union_all([grid_geoms(new)[g] for g, (cc, _) in GRIDS.items() if cc == c])
        uncovered = SHIFT * 100 if c == "C4" else 0.0
        assert shapely.area(shapely.difference(comm[c], mine)) == pytest.approx(uncovered, abs=0.5), c


def test_parts_left_alone_are_listed(fit):
    frame, city, rules, plan, *_ = fit
    left = {(r["what"], r["unit"]): r for r in plan.summary["left"]}
    assert set(left) == {("outside_parent", "G11"), ("kept_for_building", "G33")}
    assert left["outside_parent", "G11"]["area_m2"] == pytest.approx(4000, abs=1)
    assert left["kept_for_building", "G33"]["area_m2"] == pytest.approx(300, abs=1)
    assert left["kept_for_building", "G33"]["width_m"] < SLIVER <= left["outside_parent", "G11"]["width_m"]
    assert any("G11" in c for c in plan.summary["causes"]) and any("G33" in c for c in plan.summary["causes"])
    assert not plan.feasible
    assert plan.summary["trimmed"] == 5 and plan.summary["trimmed_m2"] == pytest.approx(2100, abs=1)
    assert plan.summary["filled_m2"] == pytest.approx(2100, abs=1)  # what left a community came into another
    found = plan.findings
    assert ((found["code"] == "outside_parent") & found["ids"].map(lambda i: list(i) == ["G11"])).sum() == 1


def test_buildings_stay_whole_and_households_are_conserved(fit):
    frame, city, rules, plan, new, *_ = fit
    b = new.metric("buildings")
    grids = new.metric("grids")
    share = gpd.overlay(b[["code", "geometry"]], grids[["code", "geometry"]].rename(columns={"code": "grid"}),
                        keep_geom_type=True)
    share["area"] = share.area
    big = share[share["area"] > 0.01]
    assert not big["code"].duplicated().any(), big[big["code"].duplicated(keep=False)]  # each in one grid
    whole = big.set_index("code")["area"] / b.set_index("code").area
    assert (whole.reindex(b["code"]) > 1 - 1e-6).all()  # and all of it there
    grid_of = big.set_index("code")["grid"]
    assert grid_of["B_keep"] == "G33" and grid_of["B_fill"] == "G22"

    def households(c: City):
        pts = gpd.GeoDataFrame(c.metric("buildings")[["households"]],
                               geometry=c.metric("buildings").representative_point())
        j = gpd.sjoin(pts, c.metric("grids")[["code", "geometry"]], predicate="within")
        assert not j.index.duplicated().any()
        return j.groupby("code")["households"].sum()

    before, after = households(city), households(new)
    assert before.sum() == after.sum() == int(city["buildings"]["households"].sum())
    assert before.equals(after)
    assert (plan.sizes["households_before"] == plan.sizes["households_after"]).all()
    assert plan.sizes["households_after"].to_dict() == after.to_dict()


def test_a_sliver_holding_part_of_a_building_goes_whole_to_the_grid_holding_it(tmp_path):
    """B_cross lies mostly in G22, a little in G21 (it is in two grids already) and across the line
    where G21 and G22 meet on C2's uncovered strip: the strip is not cut there but goes whole to G22."""
    cross = {"B_cross": ((401, 97, 410, 110), 15)}
    city = read_city(write_city(tmp_path, Frame(0.0), straddling={**STRADDLING, **cross}))
    plan = fit_parent(city, "grids", tmp_path / "rules.toml")
    got = grid_geoms(plan.apply(city))
    want = {"G21": box(403, 0, 800, 100), "G22": shapely.union(box(400, 100, 800, 200), box(400, 0, 403, 100))}
    for code, geom in want.items():
        assert shapely.area(shapely.symmetric_difference(got[code], Frame(0.0)(geom))) < 1.0, code
    b = city.metric("buildings").set_index("code").geometry["B_cross"]
    inside = {c: shapely.area(shapely.intersection(b, g)) for c, g in got.items()}
    in_g21 = 7 * 3  # [403, 410] × [97, 100], as digitised
    assert inside["G21"] == pytest.approx(in_g21, abs=0.01) and inside["G12"] == 0
    assert inside["G22"] == pytest.approx(shapely.area(b) - in_g21, abs=0.01)  # the rest, strip and all


def test_a_fitted_city_is_left_as_it_is(tmp_path):
    city = read_city(write_city(tmp_path, Frame(0.0), grids=lambda code: box(*GRIDS[code][1])))
    plan = fit_parent(city, "grids", tmp_path / "rules.toml")
    assert plan.summary["units_changed"] == 0 and plan.summary["left"] == [] and plan.feasible
    assert (plan.units["status"] == "kept").all() and not len(plan.changes)


def test_misuse_is_a_clear_error(tmp_path):
    mapping = write_city(tmp_path, Frame(0.0))
    top = CliRunner().invoke(app, ["simulate", "repair", str(mapping), "--level", "streets", "--fit-parent"])
    assert top.exit_code == 2 and "streets has no level above it" in top.output
    both = CliRunner().invoke(app, ["simulate", "repair", str(mapping), "--level", "grids", "--fit-parent",
                                    "--gap-width", "3"])
    assert both.exit_code == 2 and "--gap-width" in both.output
    city = read_city(mapping)
    with pytest.raises(PlanError, match="streets has no level above it"):
        fit_parent(city, "streets")
    with pytest.raises(PlanError, match="no communities layer"):
        fit_parent(City({"grids": city["grids"]}), "grids", replace(load_rules(), sliver_width=SLIVER))
