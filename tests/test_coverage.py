"""coverage: walking distances on hand-built networks, standards arithmetic, siting against brute force,
camera view-sheds, bad input and the CLI."""

import itertools
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy import sparse
from scipy.sparse import csgraph
from shapely import LineString, Point, box
from typer.testing import CliRunner

from gis.cli.main import app
from gis.coverage import attach, build_network, cameras, coverage, siting, standards, walk
from gis.errors import InputError
from gis.io import write_city
from gis.model import City
from gis.rules import load_rules

CRS = 4548  # CGCS2000 Gauss–Krüger, metres


def gdf(geoms, crs=CRS, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


def city(roads, buildings, facilities, households=None, **layers):
    hh = households or [100] * len(buildings)
    return City({"roads": gdf(roads, code=[f"R{i + 1}" for i in range(len(roads))]),
                 "buildings": gdf(buildings, code=[f"B{i + 1}" for i in range(len(buildings))], households=hh,
                                  residents=[3 * h for h in hh]),
                 "facilities": gdf([g for g, _ in facilities], code=[f"F{i + 1}" for i in range(len(facilities))],
                                   kind=[k for _, k in facilities]), **layers})


# --- walking distance ----------------------------------------------------------------------------

def test_499_m_is_covered_501_m_is_not():
    c = city([LineString([(0, 0), (1000, 0)])], [Point(499, 0), Point(501, 0), Point(300, 199), Point(300, 201)],
             [(Point(0, 0), "elderly_station")])
    cov = coverage(c, kinds=["elderly_station"], minutes=10)
    assert cov.radius == {"elderly_station": 500.0}
    d = cov.distance["elderly_station"].to_numpy()
    assert d[[0, 2]].tolist() == pytest.approx([499.0, 499.0])  # access distance is walked too
    assert np.isinf(d[[1, 3]]).all()
    assert sorted(i for ids in cov.findings["ids"] for i in ids) == ["B2", "B4"]
    assert cov.summary.loc["elderly_station", "covered_households"] == 200


def test_river_without_bridge_leaves_near_building_uncovered():
    south, north = LineString([(0, 0), (2000, 0)]), LineString([(0, 100), (2000, 100)])
    around = LineString([(0, 0), (0, 100)])  # the only crossing, 1 km away
    b, f = [Point(1000, 110)], [(Point(1000, -5), "shelter")]
    cov = coverage(city([south, north, around], b, f), kinds=["shelter"], minutes=15)
    assert shapely.distance(b[0], f[0][0]) == 115  # as the crow flies: near
    assert np.isinf(cov.distance["shelter"].iloc[0]) and len(cov.findings) == 1
    bridge = LineString([(1000, 0), (1000, 100)])
    cov = coverage(city([south, north, around, bridge], b, f), kinds=["shelter"], minutes=15)
    assert cov.distance["shelter"].iloc[0] == pytest.approx(115.0)


def test_crossing_roads_are_noded_into_intersections():
    # the two roads share no vertex; the walk turns at their crossing
    roads = [LineString([(0, 0), (400, 0)]), LineString([(200, -300), (200, 300)])]
    c = city(roads, [Point(200, 250)], [(Point(0, 0), "elderly_station")])
    assert coverage(c, kinds=["elderly_station"], minutes=10).distance["elderly_station"].iloc[0] == \
        pytest.approx(450.0)


def overpass(**deck):
    """A street (R1, y = 0) under a bridge (R2, x = 200) whose ramps land on two parallel streets (R3,
    R4, y = ±200), joined to R1 by a street along x = 0 (R5); ``deck``: R2's columns."""
    roads = gdf([LineString([(0, 0), (400, 0)]), LineString([(200, -200), (200, 200)]),
                 LineString([(0, -200), (400, -200)]), LineString([(0, 200), (400, 200)]),
                 LineString([(0, -200), (0, 200)])], code=["R1", "R2", "R3", "R4", "R5"],
                **{k: [None, v, None, None, None] for k, v in deck.items()})
    c = city([], [Point(210, -3), Point(203, 10)], [(Point(0, 0), "shelter")])
    c.layers["roads"] = roads
    return c


@pytest.mark.parametrize("deck", [{"bridge": "yes"}, {"layer": 1}, {"tunnel": "yes"},
                                  {"bridge": "viaduct", "layer": 2}])
def test_a_bridge_does_not_meet_the_street_it_crosses(deck):
    # B1 (3 m from the street, under the deck) walks along the street only; B2 (3 m from the deck) is
    # reached from the street by the far ramp: up R5 200, along R4 200, down the deck 190, then 3
    d = coverage(overpass(**deck), kinds=["shelter"], minutes=15).distance["shelter"].to_numpy()
    assert d.tolist() == pytest.approx([213.0, 593.0])
    net = build_network(overpass(**deck)["roads"])
    assert (net.degree >= 3).sum() == 3  # the ramps' two landings and R1 meeting R5: not the crossing


@pytest.mark.parametrize("deck", [{}, {"bridge": "no"}, {"layer": 0}, {"bridge": None}])
def test_the_same_roads_at_grade_meet_at_the_crossing(deck):
    # B2 walks along the street 200, up the crossing road 10, then 3
    d = coverage(overpass(**deck), kinds=["shelter"], minutes=15).distance["shelter"].to_numpy()
    assert d.tolist() == pytest.approx([213.0, 213.0])
    assert (build_network(overpass(**deck)["roads"]).degree >= 3).sum() == 4


def riverside(**river):
    """Two streets 60 m apart with a river between them (y = 50) and a bridge at x = 0; a building 10 m
    from the river on the south bank, a shelter 5 m south of the south street."""
    return city([LineString([(0, 0), (400, 0)]), LineString([(0, 60), (400, 60)]), LineString([(0, 0), (0, 60)])],
                [Point(200, 40)], [(Point(200, -5), "shelter")],
                barriers=gdf([LineString([(-50, 50), (450, 50)])], kind=["river"], **river))


def test_a_building_beside_a_river_reaches_a_road_on_its_own_bank():
    cov = coverage(riverside(), kinds=["shelter"], minutes=10)
    assert cov.distance["shelter"].iloc[0] == pytest.approx(40 + 5)  # not 20 m over the water
    without = riverside()
    del without.layers["barriers"]
    # the north street is nearer (20 m): then round by the bridge, 200 + 60 + 200, and 5
    assert coverage(without, kinds=["shelter"], minutes=10).distance["shelter"].iloc[0] == pytest.approx(485)
    # a river in a culvert is no barrier
    assert coverage(riverside(tunnel=["culvert"]), kinds=["shelter"], minutes=10).distance["shelter"].iloc[0] == \
        pytest.approx(485)


def test_attach_looks_past_the_nearest_edges_for_one_on_this_side():
    # a comb of streets north of a river (every 50 m, from 10 m off it), one street far south of it
    roads = gdf([LineString([(0, -300), (1000, -300)])] +
                [LineString([(x, 10), (x, 200)]) for x in range(0, 1000, 50)] + [LineString([(0, 200), (1000, 200)])])
    net = build_network(roads, connected=False)
    river = [LineString([(-10, 0), (1010, 0)])]
    a = attach(net, [Point(500, -5), Point(500, 5)], river)
    # south of the river: past the comb (15 m and more, over the water) to the far street
    assert a.access.tolist() == pytest.approx([295.0, 5.0])
    assert net.road[a.edge].tolist() == [0, 11]


def lattice(n, step, rng):
    """A jittered n×n grid of streets with a few random streets removed (still connected)."""
    xs = np.arange(n) * step
    lines = [LineString([(x, y), (x + step, y + rng.normal(0, 5))]) for x in xs[:-1] for y in xs] + \
            [LineString([(x, y), (x, y + step)]) for x in xs for y in xs[:-1]]
    lines = [ln for ln in lines if rng.random() > 0.15]
    roads = gpd.GeoDataFrame(geometry=lines, crs=CRS)
    return roads, build_network(roads, connected=False)


def geos_graph(lines, snap=0.01):
    """Oracle: the lines noded by GEOS (``shapely.node``), every segment an edge, points within ``snap``
    one node; returns the node coordinates and the symmetric sparse graph."""
    parts = shapely.get_parts(shapely.node(shapely.GeometryCollection(list(lines))))
    xy, line = shapely.get_coordinates(parts, return_index=True)
    s = np.flatnonzero(line[1:] == line[:-1])
    keys, node = np.unique(np.round(np.r_[xy[s], xy[s + 1]] / snap).astype(np.int64), axis=0, return_inverse=True)
    u, v = node.ravel()[:len(s)], node.ravel()[len(s):]
    w = np.linalg.norm(xy[s + 1] - xy[s], axis=1)
    g = sparse.lil_matrix((len(keys), len(keys)))
    for a, b, x in zip(u, v, w):  # the shortest of parallel segments
        if a != b and (g[a, b] == 0 or x < g[a, b]):
            g[a, b] = g[b, a] = x
    return keys * snap, g.tocsr()


@pytest.mark.parametrize("seed", range(4))
def test_distances_match_an_explicit_graph(seed):
    """Oracle: access lines drawn as roads, noded by GEOS, then a plain all-pairs Dijkstra between the points."""
    rng = np.random.default_rng(seed)
    roads, net = lattice(6, 100, rng)
    pts = shapely.points(rng.uniform(-20, 520, (40, 2)))
    src, tgt = pts[:6], pts[6:]
    s_att, t_att = attach(net, src), attach(net, tgt)
    on_road = shapely.line_interpolate_point(net.geoms[np.r_[s_att.edge, t_att.edge]], np.r_[s_att.along, t_att.along])
    a, b = shapely.get_coordinates(pts), shapely.get_coordinates(on_road)
    long = np.linalg.norm(b - a, axis=1) > 1e-6
    b = b + (b - a) * (1e-3 / np.maximum(np.linalg.norm(b - a, axis=1), 1e-6))[:, None]  # cross the road: noded
    access = shapely.linestrings(np.stack([a, b], 1))[long]
    xy, graph = geos_graph(np.r_[np.asarray(roads.geometry.values), access])
    node = np.argmin(np.linalg.norm(xy[None, :, :] - a[:, None, :], axis=2), 1)
    full = csgraph.dijkstra(graph, directed=False, indices=node[:6])[:, node[6:]]
    d = walk.nearest(net, s_att, t_att)
    assert np.isfinite(d).sum() > 20
    assert d == pytest.approx(full.min(axis=0), abs=3e-3)
    assert walk.nearest(net, s_att, t_att, 250) == pytest.approx(np.where(full.min(axis=0) <= 250, d, np.inf))
    reach = walk.reach(net, s_att, t_att, 250).toarray()
    assert (reach == (full <= 250)).all()


# --- standards -----------------------------------------------------------------------------------

def communities(households):
    return gdf([box(i * 1000, 0, i * 1000 + 900, 900) for i in range(len(households))],
               code=[f"C{i + 1}" for i in range(len(households))], name=[f"第{i + 1}社区" for i in range(len(households))],
               households=households, street_code="S1")


def facilities(rows):
    return gdf([Point(c * 1000 + 10, 10) for c, _, _ in rows], kind=[k for _, k, _ in rows],
               floor_area_m2=[a for _, _, a in rows], community_code=[f"C{c + 1}" for c, _, _ in rows])


def test_tiemenguan_per_100_households_and_centre_size():
    """002: ≥ 30 m² per 100 households, a new centre ≥ 1,000 m² (two centres add up for the first)."""
    units = communities([1500, 1000, 2000])
    fac = facilities([(0, "service_centre", 420.0), (1, "service_centre", 1000.0), (2, "service_centre", 500.0),
                      (2, "service_centre", 550.0), (2, "elderly_station", 900.0)])
    rows = standards.shortfalls(load_rules("tiemenguan-2018"), units, fac)
    got = {(r["ids"][0], r["rule"]): (r["value"], r["limit"]) for r in rows}
    assert got == {("C1", "社区综合服务中心面积"): (420.0, 1000.0), ("C1", "每百户服务设施面积"): (420.0, 450.0),
                   ("C3", "社区综合服务中心面积"): (550.0, 1000.0)}  # C3: 1,050 m² ≥ 600 m² per households
    assert all(r["code"] == "facility_shortfall" and r["source"] == "002" and r["parent"] == "S1" for r in rows)
    assert "缺口 30.0 m²" in next(r["message"] for r in rows if r["rule"] == "每百户服务设施面积")


def test_nanchang_estate_rooms_and_police():
    """003 §17: 150 m² up to 20,000 m² of estate, +50 m² per further 10,000 m²; §29 one police room."""
    units = communities([1200, 1200])
    b = gdf([Point(100, 100), Point(200, 100), Point(300, 300), Point(1100, 100)], households=[100] * 4,
            estate=["甲", "甲", "乙", "丙"], floor_area_m2=[15000.0, 16000.0, 8000.0, 19000.0])
    fac = facilities([(0, "service_centre", 300.0), (0, "police_room", 40.0), (1, "service_centre", 150.0)])
    rows = standards.shortfalls(load_rules("nanchang-2002"), units, fac, b)
    got = {(r["ids"][0], r["rule"]): (r["value"], r["limit"]) for r in rows}
    # C1: estate 甲 31,000 m² → 200 m², 乙 8,000 m² → 150 m²: 350 m² due, 300 m² there
    assert got == {("C1", "居委会办公和服务用房"): (300.0, 350.0), ("C2", "社区民警"): (0.0, 1.0)}


def test_households_from_buildings_when_not_declared():
    units = communities([1000]).drop(columns="households")
    b = gdf([Point(100, 100), Point(500, 500), Point(5000, 0)], households=[700, 800, 9999])
    assert standards.households(units, b).tolist() == [1500.0]


# --- siting --------------------------------------------------------------------------------------

def brute_force(reach, w, k):
    best = max((w[reach[list(c)].any(axis=0)].sum(), c) for c in itertools.combinations(range(len(reach)), k))
    return best[0]


@pytest.mark.parametrize("seed", range(6))
def test_siting_exact_is_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    reach = rng.random((9, 25)) < 0.2
    w = rng.integers(1, 100, 25).astype(float)
    for k in (1, 2, 3):
        sites, gains = siting.exact(reach, w, k)
        assert sum(gains) == brute_force(reach, w, k)
        assert w[reach[sites].any(axis=0)].sum() == sum(gains)
        g_sites, g_gains = siting.greedy(reach, w, k)
        assert sum(g_gains) >= (1 - 1 / np.e) * brute_force(reach, w, k)
        assert w[reach[g_sites].any(axis=0)].sum() == sum(g_gains)
    reachable = reach.any(axis=0)
    fewest = next(k for k in range(1, 10) if brute_force(reach, w, k) == w[reachable].sum())
    sites, _ = siting.exact(reach, w, None)
    assert len(sites) == fewest and reach[sites].any(axis=0)[reachable].all()
    g_sites, _ = siting.greedy(reach, w, None)
    assert reach[g_sites].any(axis=0)[reachable].all()


def test_greedy_lazy_gains_equal_plain_greedy():
    rng = np.random.default_rng(7)
    reach = rng.random((40, 300)) < 0.05
    w = rng.integers(1, 50, 300).astype(float)
    left, plain = w.copy(), []
    for _ in range(8):
        gain = reach.astype(float) @ left
        c = int(np.argmax(gain))
        plain.append(gain[c])
        left[reach[c]] = 0
    assert siting.greedy(reach, w, 8)[1] == pytest.approx(plain)


def test_coverage_sites_cover_the_far_buildings():
    c = city([LineString([(0, 0), (3000, 0)])], [Point(100, 5), Point(1500, 5), Point(1700, 5), Point(2900, 5)],
             [(Point(0, 0), "elderly_station")], households=[10, 50, 60, 30])
    cov = coverage(c, kinds=["elderly_station"], site=2)
    assert cov.sites["households_gained"].tolist() == [110.0, 30.0]
    assert cov.sites["residents_gained"].tolist() == [330.0, 90.0]
    site = cov.sites.geometry.iloc[0]
    assert 1400 <= site.x <= 1800


# --- cameras -------------------------------------------------------------------------------------

def test_cameras_see_intersections_in_their_view_only():
    roads = gdf([LineString([(0, 0), (400, 0)]), LineString([(100, -100), (100, 100)]),
                 LineString([(300, -100), (300, 100)])], code=["R1", "R2", "R3"])
    net = build_network(roads)
    # one camera looks east at the crossing at x = 100; one looks west, away from the crossing at x = 300
    cams = gdf([Point(60, 0), Point(320, 0)], direction=[90.0, 90.0], angle=[60.0, 60.0])
    rows, summary = cameras.camera_findings(net, cams, 50, np.array([], dtype=int), roads["code"].to_numpy())
    assert summary["intersections"] == 2 and summary["intersections_seen"] == 1
    assert [r["ids"] for r in rows] == [["R1", "R3"]]
    seen = cameras.view_sheds(cams.drop(columns=["direction", "angle"]), 50)
    assert cameras.intersections_seen(net, seen).all()  # discs see all around


def test_residential_road_partly_seen():
    roads = gdf([LineString([(0, 0), (200, 0)])], code=["R1"])
    net = build_network(roads)
    cams = gdf([Point(0, 0)])
    rows, summary = cameras.camera_findings(net, cams, 50, np.array([0]), roads["code"].to_numpy())
    assert summary["residential_road_seen_m"] == pytest.approx(50.0)
    assert rows[0]["value"] == pytest.approx(0.25) and "150 m" in rows[0]["message"]


# --- bad input -----------------------------------------------------------------------------------

def test_no_roads():
    c = city([], [Point(0, 0)], [])
    with pytest.raises(InputError, match="needs a non-empty roads layer"):
        coverage(c)


def test_unknown_facility_kind():
    c = city([LineString([(0, 0), (10, 0)])], [Point(0, 0)], [(Point(1, 1), "kindergarden")])
    with pytest.raises(InputError, match="feature F1: unknown facility kind 'kindergarden'"):
        coverage(c)


def test_disconnected_network_is_refused_only_when_strict():
    c = city([LineString([(0, 0), (10, 0)]), LineString([(0, 50), (10, 50)])], [Point(0, 0)], [])
    with pytest.raises(InputError, match="falls apart in 2 unconnected pieces; roads of the smaller pieces: R2"):
        coverage(c, connected=True)
    found = coverage(c).findings  # tests/test_network_pieces.py: the pieces as findings
    assert found.loc[found["code"] == "network_piece", "ids"].tolist() == [["R2"]]


def test_minutes_not_in_rule_set():
    c = city([LineString([(0, 0), (10, 0)])], [Point(0, 0)], [])
    with pytest.raises(InputError, match="no walking distance for 7 minutes"):
        coverage(c, minutes=7)


def test_facility_rule_with_unknown_minutes(tmp_path):
    p = tmp_path / "r.toml"
    p.write_text('extends = "national"\n[[facilities]]\nkind = "shelter"\nwalk_minutes = 20\n', encoding="utf-8")
    with pytest.raises(InputError, match="walk_minutes = 20 is not in"):
        load_rules(p)


# --- CLI -----------------------------------------------------------------------------------------

@pytest.fixture
def gpkg(tmp_path):
    roads = [LineString([(0, 0), (1000, 0)]), LineString([(500, 0), (500, 600)])]
    c = city(roads, [Point(100, 5), Point(900, 5), Point(505, 550)], [(Point(0, 0), "elderly_station"),
                                                                       (Point(500, 0), "service_centre")],
             communities=communities([300]).set_geometry([box(-50, -50, 1050, 650)]))
    path = tmp_path / "c.gpkg"
    write_city(c, path)
    return path


def test_cli_json_and_map(gpkg, tmp_path):
    out = tmp_path / "m.html"
    r = CliRunner().invoke(app, ["coverage", str(gpkg), "-f", "json", "--site", "1", "--map", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    share = {s["kind"]: s["share"] for s in data["coverage"]}
    assert share == {"elderly_station": round(100 / 300, 4), "service_centre": 1.0}
    assert [s["kind"] for s in data["sites"]] == ["elderly_station"]
    assert data["sites"][0]["households_gained"] == 100
    assert {f["ids"][0] for f in data["findings"] if f["code"] == "uncovered"} == {"B2", "B3"}
    html = out.read_text(encoding="utf-8")
    assert "社区养老服务站" in html and "建议新址" in html and "cdn" not in html


def test_cli_bad_kind_exits_2(gpkg):
    r = CliRunner().invoke(app, ["coverage", str(gpkg), "--kind", "school"])
    assert r.exit_code == 2 and "unknown facility kind 'school'" in r.output


def test_cli_table(gpkg):
    r = CliRunner().invoke(app, ["coverage", str(gpkg), "--minutes", "15", "-k", "elderly_station"],
                           env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "社区养老服务站" in r.output and "1,000" in r.output and "66.7%" in r.output  # B3 walks 1,055 m


def test_a_mapping_file_renames_the_bridge_column(tmp_path):
    """A source's own column (桥梁) mapped to ``bridge``: the crossing is no junction."""
    from gis import read_city

    gdf([box(0, 0, 1000, 1000)], c=["S1"]).to_file(tmp_path / "s.gpkg")
    gdf([LineString([(0, 500), (1000, 500)]), LineString([(500, 0), (500, 1000)])], 编号=["R1", "R2"],
        桥梁=["是", None]).to_file(tmp_path / "r.gpkg")
    (tmp_path / "m.toml").write_text('[layers.streets]\nsource = "s.gpkg"\ncode = "c"\n[layers.roads]\n'
                                     'source = "r.gpkg"\ncode = "编号"\nbridge = "桥梁"\n', encoding="utf-8")
    c = read_city(tmp_path / "m.toml")
    assert c["roads"]["bridge"].tolist() == ["是", None]
    assert len(build_network(c.metric("roads"), connected=False).xy) == 4  # four ends, no crossing node
    assert len(build_network(c.metric("roads").drop(columns="bridge"), connected=False).xy) == 5
