"""Plans on synthetic cities with planted size_above / size_below communities.

Every property is checked against the applied city with independent means (shapely unions,
spatial joins of buildings, brute-force enumeration of partitions), not against the plan's own
bookkeeping.
"""

from __future__ import annotations

import itertools
import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from typer.testing import CliRunner

from conftest import ROOT
from gis import check, read_city
from gis.cli.main import app
from gis.io import write_city
from gis.maps import save_map
from gis.simulate import PlanError, atoms, load_plan, merge, plan_map, rebalance, redraw, split
from gis.synth import synth

SEEDS = [1, 2, 3, 4, 5, 6]
LO, HI = 1000, 2000
NC = "nanchang-2002"  # the community bounds (LO, HI) these plans are held to


@pytest.fixture(scope="module")
def cities():
    out = {}
    for seed in SEEDS:
        city, manifest = synth(300, seed, {"size_above": 1, "size_below": 1})
        ids = {c: i[0] for c, i in zip(manifest["code"], manifest["ids"]) if c in ("size_above", "size_below")}
        out[seed] = (city, ids)
    return out


def street_of(city, community):
    c = city["communities"]
    return c.loc[c["code"] == community, "street_code"].iloc[0]


def households_by_community(city):
    """Households per community by a spatial join of building points (independent of the plan)."""
    b = city["buildings"]
    pts = gpd.GeoDataFrame(b[["households"]], geometry=b.representative_point(), crs=b.crs)
    j = gpd.sjoin(pts, city["communities"][["code", "geometry"]], predicate="within")
    assert not j.index.duplicated().any()  # no building counted twice
    return j.groupby("code")["households"].sum(), len(j)


def estate_pairs(city, street):
    """Adjacent grids of one community sharing an estate name, in ``street``."""
    g = city["grids"]
    comms = set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])
    g = g[g["community_code"].isin(comms)].reset_index(drop=True)
    b = city["buildings"]
    names = b.groupby("grid_code")["estate"].agg(set)
    pairs = []
    for i, j in zip(*shapely.STRtree(g.geometry.values).query(g.geometry.values, predicate="touches")):
        if i < j and g["community_code"][i] == g["community_code"][j]:
            shared = g.geometry[i].boundary.intersection(g.geometry[j].boundary).length
            if shared > 0 and names.get(g["code"][i], set()) & names.get(g["code"][j], set()):
                pairs.append((g["code"][i], g["code"][j]))
    return pairs


def assert_sound(city, plan):
    """The invariants every applied plan must keep (不交叉、不跨社区、地无空白、人无遗漏 …)."""
    new = plan.apply(city)
    street = plan.parent
    s = new["streets"].set_index("code").geometry[street]
    comms = new["communities"][new["communities"]["street_code"] == street]
    geoms = comms.geometry.values
    assert shapely.coverage_is_valid(geoms)
    union = shapely.coverage_union_all(geoms)
    assert shapely.area(shapely.symmetric_difference(union, s)) < 1e-6 * s.area
    grids = new["grids"]
    for code, geom in zip(comms["code"], geoms):
        mine = grids[grids["community_code"] == code].geometry.values
        gu = shapely.union_all(mine)
        assert gu.geom_type == "Polygon", f"{code} is not contiguous"
        assert shapely.area(shapely.symmetric_difference(gu, geom)) < 1e-6 * geom.area
    before, n0 = households_by_community(city)
    after, n1 = households_by_community(new)
    assert n0 == n1 and after.sum() == before.sum()
    declared = new["communities"].set_index("code")["households"]
    assert (declared[after.index] == after).all()
    found = check(new, "nanchang-2002")
    assert not (found["severity"] == "error").any(), found[found["severity"] == "error"][["code", "ids"]]
    moved = set(plan.moves["code"])
    was = city["grids"].set_index("code")["community_code"]
    now = new["grids"].set_index("code")["community_code"]
    assert moved == set(now.index[now != was[now.index]])
    gh = city["buildings"].groupby("grid_code")["households"].sum()
    assert plan.summary["households_moved"] == int(gh.reindex(list(moved)).fillna(0).sum())
    for a, b in estate_pairs(city, street):
        assert now[a] == now[b], f"estate split between {a} and {b}"
    size_codes = found[found["code"].isin(["size_above", "size_below"]) & (found["layer"] == "communities")]
    scope = set(plan.units["code"]) if plan.operation in ("rebalance", "redraw") else \
        set(plan.units.loc[plan.units["status"].isin(["changed", "new"]), "code"])
    in_street = size_codes[size_codes["ids"].map(lambda ids: ids[0] in scope)]
    if plan.feasible:
        assert not len(in_street)
        assert not plan.summary["causes"]
    else:
        assert plan.summary["causes"]
    return new, in_street


@pytest.mark.parametrize("seed", SEEDS)
def test_merge_gives_the_small_community_to_a_neighbour(cities, seed):
    city, ids = cities[seed]
    small = ids["size_below"]
    plan = merge(city, small, rules=NC)
    new, _ = assert_sound(city, plan)
    assert small not in set(new["communities"]["code"])
    hh, _ = households_by_community(city)
    # a neighbour with room for all 600 households exists → the plan is feasible, whole, 600 moved
    c = city["communities"]
    me = c.set_index("code").geometry[small]
    nbrs = c[(c["street_code"] == street_of(city, small)) & (c["code"] != small)]
    nbrs = nbrs[nbrs.geometry.boundary.intersection(me.boundary).length > 0]
    room = (hh[nbrs["code"]] + hh[small]).between(LO, HI).any()
    if room:
        assert plan.feasible and plan.summary["households_moved"] == hh[small]
        assert plan.moves["to"].nunique() == 1


def connected_splits(city, unit):
    """Brute force: every 2-partition of the community's grids into connected sides that keeps
    estate pairs together → list of (side sizes)."""
    g = city["grids"][city["grids"]["community_code"] == unit].reset_index(drop=True)
    pairs = estate_pairs(city, street_of(city, unit))
    code = list(g["code"])
    hh = city["buildings"].groupby("grid_code")["households"].sum().reindex(code).fillna(0).to_numpy()
    out = []
    for r in range(1, len(g)):
        for side in itertools.combinations(range(len(g)), r):
            mask = np.isin(np.arange(len(g)), side)
            if any(mask[code.index(a)] != mask[code.index(b)] for a, b in pairs if a in code and b in code):
                continue
            if all(shapely.union_all(g.geometry.values[m]).geom_type == "Polygon" for m in (mask, ~mask)):
                out.append((hh[mask].sum(), hh[~mask].sum()))
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_split_matches_brute_force(cities, seed):
    city, ids = cities[seed]
    big = ids["size_above"]
    plan = split(city, big, rules=NC)
    assert_sound(city, plan)
    options = connected_splits(city, big)
    feasible = [(a, b) for a, b in options if LO <= a <= HI and LO <= b <= HI]
    assert plan.feasible == bool(feasible)
    assert plan.summary["units_after"] == 2
    if feasible:  # fewest households moved: the part keeping the code is as large as possible
        assert plan.summary["households_moved"] == min(min(a, b) for a, b in feasible)
    else:
        assert "不可分" in plan.summary["causes"][0]


def test_split_reports_an_atom_over_the_maximum(cities):
    city, ids = cities[3]
    big = ids["size_above"]
    g = city["grids"][city["grids"]["community_code"] == big]["code"].iloc[0]
    b = city["buildings"].copy()
    mine = b["grid_code"] == g
    b.loc[mine, "households"] = 2400 // mine.sum() + 1
    c = city["communities"].copy()
    city2 = type(city)({**city.layers, "buildings": b, "communities": c}, metric_crs=city.metric_crs)
    hh, _ = households_by_community(city2)
    c.loc[c["code"] == big, "households"] = hh[big]
    plan = split(city2, big, rules=NC)
    assert not plan.feasible
    assert any(g in cause and "超过上限" in cause for cause in plan.summary["causes"])
    assert not plan.findings[plan.findings["code"] == "size_above"].empty  # not silently violated


@pytest.mark.parametrize("seed", SEEDS)
def test_rebalance_only_moves_whole_grids_and_never_worsens(cities, seed):
    city, ids = cities[seed]
    street = street_of(city, ids["size_above"])
    plan = rebalance(city, street, rules=NC)
    new, left = assert_sound(city, plan)
    before = check(city, "nanchang-2002")
    comms = set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])
    was = before[before["code"].isin(["size_above", "size_below"]) & before["ids"].map(lambda i: i[0] in comms)]
    assert len(left) < len(was) or (plan.feasible and not len(left))


def test_plan_round_trip_map_and_cli(cities, tmp_path):
    city, ids = cities[2]
    plan = split(city, ids["size_above"], rules=NC)
    gpkg, js = plan.save(tmp_path / "plan")
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert doc["summary"]["households_moved"] == plan.summary["households_moved"]
    again = load_plan(gpkg)
    a, b = plan.apply(city)["communities"], again.apply(city)["communities"]
    assert list(a["code"]) == list(b["code"])
    assert shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=1e-6).all()
    html = save_map(plan_map(plan), tmp_path / "plan.html").read_text(encoding="utf-8")
    assert "cdn" not in html and ids["size_above"] in html and "方案后" in html
    write_city(city, tmp_path / "city.gpkg")
    run = CliRunner().invoke(app, ["simulate", "split", str(tmp_path / "city.gpkg"), ids["size_above"],
                                   "-r", NC, "--json", "--apply", str(tmp_path / "new.gpkg")])
    assert run.exit_code == (0 if plan.feasible else 1), run.output
    assert json.loads(run.stdout)["summary"]["households_moved"] == plan.summary["households_moved"]
    bad = CliRunner().invoke(app, ["simulate", "split", str(tmp_path / "city.gpkg"), "NOPE"])
    assert bad.exit_code == 2 and "NOPE" in bad.output


def test_atoms_adjacency_matches_shared_edges(cities):
    city, ids = cities[1]
    a = atoms(city, "communities", parent=street_of(city, ids["size_below"]))
    g = a.frame.geometry.values
    k = np.random.default_rng(0).integers(len(a.i), size=20)
    for i, j, length in zip(a.i[k], a.j[k], a.length[k]):
        assert length == pytest.approx(g[i].boundary.intersection(g[j].boundary).length)
    assert a.frame["households"].sum() == households_by_community(city)[0][list(set(a.frame["unit"]))].sum()


def test_existing_errors_are_not_the_plans_and_stay_where_they_were():
    """The sample's street 360102002000 has a hole in a grid and a grid crossing into the next
    community: a rebalance moves atoms around them without turning either into a new error."""
    city = read_city(ROOT / "data" / "sample.gpkg")
    plan = rebalance(city, "360102002000", rules="nanchang-2002")
    assert plan.summary["households_moved"] > 0
    assert plan.summary["result_errors"] == 0 and plan.feasible
    before = check(city, "nanchang-2002")
    after = check(plan.apply(city), "nanchang-2002")
    key = lambda f: {(c, tuple(sorted(i))) for c, i in zip(f["code"], f["ids"]) if c != "size_above"}
    assert key(after[after["severity"] == "error"]) == key(before[before["severity"] == "error"])


# ---- redraw ----------------------------------------------------------------------------------------

def units_of(new, street):
    """Communities of ``street`` in the applied city that hold at least one grid → {code: grid codes}."""
    comms = set(new["communities"].loc[new["communities"]["street_code"] == street, "code"])
    g = new["grids"][new["grids"]["community_code"].isin(comms)]
    return g.groupby("community_code")["code"].agg(set).to_dict()


def moved_households(city, label):
    """Households in grids whose community in ``label`` (grid code → community) differs from now."""
    was = city["grids"].set_index("code")["community_code"]
    gh = city["buildings"].groupby("grid_code")["households"].sum()
    moved = [g for g, c in label.items() if was[g] != c]
    return int(gh.reindex(moved).fillna(0).sum())


def plain_partition(city, street, k, seed):
    """A plain recursive spanning-tree partition (split's machinery, no steering, no relabelling):
    part p takes the p-th current community's code → grid code → community."""
    from gis.rules import load_rules
    from gis.simulate.context import Context
    from gis.simulate.split import tree_partition

    a = atoms(city, "communities", parent=street)
    ctx = Context(city, a, "communities", load_rules("nanchang-2002"))
    nb = ctx.block.max() + 1
    bi, bj, _ = ctx.block_edges()
    part = tree_partition(nb, bi, bj, np.bincount(ctx.block, ctx.w, nb), k, LO, HI,
                          np.random.default_rng(seed))[ctx.block]
    codes = sorted(set(a.frame["unit"]))
    return {g: codes[p] if p < len(codes) else f"new{p}" for g, p in zip(a.frame["code"], part)}


@pytest.mark.parametrize("seed", SEEDS)
def test_redraw_is_sound_within_bounds_and_moves_few(cities, seed):
    city, ids = cities[seed]
    street = street_of(city, ids["size_above"])
    plan = redraw(city, street, rules=NC)
    new, _ = assert_sound(city, plan)  # contiguity, exact cover, households conserved, estates whole
    k = plan.summary["k"]
    units = units_of(new, street)
    assert len(units) == k + len(plan.summary["fixed"]) and k == plan.summary["units_after"]  # + work units
    grids = city["grids"]
    mine = set(grids.loc[grids["community_code"].isin(set(city["communities"].loc[
        city["communities"]["street_code"] == street, "code"])), "code"])
    assert set().union(*units.values()) == mine and sum(map(len, units.values())) == len(mine)  # exact cover
    hh, _ = households_by_community(new)
    inside = hh[list(units)]
    # rebalance from the current lines is a witness of feasibility; redraw must then be feasible too
    # and move no more households than it
    reb = rebalance(city, street, rules=NC)
    if reb.feasible:
        assert plan.feasible
        assert plan.summary["households_moved"] <= reb.summary["households_moved"]
    # the lower bound holds for every plan within the bounds: this one, and rebalance's
    lb = plan.summary["households_moved_lower_bound"]
    if k == len(set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])):
        assert lb is not None and lb > 0  # a planted over-sized community must lose households
        for p in (plan, reb):
            if p.feasible:
                assert p.summary["households_moved"] >= lb
    if plan.feasible:
        assert inside.between(LO, HI).all(), inside[~inside.between(LO, HI)]
    now = new["grids"].set_index("code")["community_code"]
    assert plan.summary["households_moved"] == moved_households(city, now[list(mine)].to_dict())
    for s in range(3):
        assert plan.summary["households_moved"] <= moved_households(city, plain_partition(city, street, k, s))


@pytest.mark.parametrize("seed", [1, 4])
def test_redraw_keeps_clean_lines(seed):
    city, _ = synth(300, seed)
    for street in city["streets"]["code"]:
        plan = redraw(city, street, rules=NC)
        assert plan.feasible and plan.summary["households_moved"] == 0, (street, plan.summary["causes"])
        assert (plan.units["status"] == "kept").all()


def test_redraw_with_k_units(cities):
    city, ids = cities[2]
    street = street_of(city, ids["size_above"])
    n = int((city["communities"]["street_code"] == street).sum())
    plan = redraw(city, street, k=n - 1, rules=NC)
    new, _ = assert_sound(city, plan)
    assert len(units_of(new, street)) == n - 1 and plan.summary["units_after"] == n - 1
    removed = plan.units[plan.units["status"] == "removed"]
    assert len(removed) == 1
    plan = redraw(city, street, k=n + 1, rules=NC)
    new, _ = assert_sound(city, plan)
    assert len(units_of(new, street)) == n + 1
    assert (plan.units["status"] == "new").sum() == 1


def test_redraw_infeasible_names_its_cause(cities):
    city, ids = cities[3]
    street = street_of(city, ids["size_above"])
    hh, _ = households_by_community(city)
    comms = city["communities"].loc[city["communities"]["street_code"] == street, "code"]
    total = int(hh[list(comms)].sum())
    k = total // LO + 1  # one unit too many for the minimum
    plan = redraw(city, street, k=k, rules=NC)
    assert not plan.feasible and plan.summary["units_after"] == k
    assert any(f"分成 {k} 个社区" in c for c in plan.summary["causes"])
    assert_sound(city, plan)
    big = ids["size_above"]  # a grid alone over the maximum
    g = city["grids"][city["grids"]["community_code"] == big]["code"].iloc[0]
    b = city["buildings"].copy()
    b.loc[b["grid_code"] == g, "households"] = 2400 // (b["grid_code"] == g).sum() + 1
    city2 = type(city)({**city.layers, "buildings": b}, metric_crs=city.metric_crs)
    plan = redraw(city2, street, rules=NC)
    assert not plan.feasible and any(g in c and "超过上限" in c for c in plan.summary["causes"])


def test_redraw_cli(cities, tmp_path):
    city, ids = cities[2]
    street = street_of(city, ids["size_above"])
    plan = redraw(city, street, rules=NC)
    write_city(city, tmp_path / "city.gpkg")
    run = CliRunner().invoke(app, ["simulate", "redraw", str(tmp_path / "city.gpkg"), street, "--json",
                                   "-r", NC, "--apply", str(tmp_path / "new.gpkg"), "--out", str(tmp_path / "plan")])
    assert run.exit_code == (0 if plan.feasible else 1), run.output
    assert json.loads(run.stdout)["summary"]["households_moved"] == plan.summary["households_moved"]
    assert (tmp_path / "plan.json").exists() and (tmp_path / "new.gpkg").exists()
    new = read_city(tmp_path / "new.gpkg")
    assert len(units_of(new, street)) == plan.summary["k"]
    n = int((city["communities"]["street_code"] == street).sum())
    too_many = CliRunner().invoke(app, ["simulate", "redraw", str(tmp_path / "city.gpkg"), street, "--k", "99", "-r", NC])
    assert too_many.exit_code == 1 and "99" in too_many.output
    bad = CliRunner().invoke(app, ["simulate", "redraw", str(tmp_path / "city.gpkg"), "NOPE"])
    assert bad.exit_code == 2 and "NOPE" in bad.output
    assert n >= 8


# ---- constraints: fixed units, work-unit communities, facilities ---------------------------------

def facility_homes(city):
    """Community each facility lies in, by an independent spatial join of its representative point."""
    f = city["facilities"]
    pts = gpd.GeoDataFrame(f[["code"]], geometry=f.representative_point(), crs=f.crs)
    j = gpd.sjoin(pts, city["communities"][["code", "geometry"]].rename(columns={"code": "in"}), predicate="within")
    return dict(zip(j["code"], j["in"]))


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_plans_keep_facilities_work_units_and_fixed_units(cities, seed):
    city, ids = cities[seed]
    street = street_of(city, ids["size_above"])
    comms = city["communities"]
    mine = comms[comms["street_code"] == street]
    work = set(mine.loc[mine["kind"] == "work_unit", "code"])
    pinned = sorted(set(mine["code"]) - work - {ids["size_above"]})[:1]
    declared = dict(zip(city["facilities"]["code"], city["facilities"]["community_code"]))
    at_home = {f for f, c in facility_homes(city).items() if declared[f] == c}
    assert at_home, "the synthetic city has facilities inside their communities"
    for plan in (redraw(city, street, fixed=pinned, rules=NC), rebalance(city, street, fixed=pinned, rules=NC)):
        assert set(plan.summary["fixed"]) == work | set(pinned)
        new, _ = assert_sound(city, plan)
        old_g = city["communities"].set_index("code").geometry
        new_g = new["communities"].set_index("code").geometry
        grids_of = lambda c: set(c["grids"].loc[c["grids"]["community_code"].isin(work | set(pinned)), "code"])
        assert grids_of(new) == grids_of(city)
        for code in work | set(pinned):
            assert new_g[code].equals(old_g[code])
        homes = facility_homes(new)
        assert all(homes[f] == declared[f] for f in at_home), plan.operation  # every facility stays with its unit
        nf = dict(zip(new["facilities"]["code"], new["facilities"]["community_code"]))
        assert all(nf[f] == declared[f] for f in at_home)


def test_work_units_can_be_reshaped_on_request_and_fixed_must_exist(cities):
    city, ids = cities[1]
    street = street_of(city, ids["size_above"])
    plan = redraw(city, street, keep_kinds=(), rules=NC)
    assert plan.summary["fixed"] == []
    with pytest.raises(PlanError, match="fixed communities not found"):
        redraw(city, street, fixed=["NOPE"], rules=NC)
    with pytest.raises(PlanError, match="both merged and fixed"):
        merge(city, ids["size_below"], fixed=[ids["size_below"]], rules=NC)


def test_fixed_from_the_cli(cities, tmp_path):
    city, ids = cities[1]
    street = street_of(city, ids["size_above"])
    write_city(city, tmp_path / "city.gpkg")
    other = sorted(set(city["communities"].loc[city["communities"]["street_code"] == street, "code"])
                   - {ids["size_above"]})[0]
    run = CliRunner().invoke(app, ["simulate", "redraw", str(tmp_path / "city.gpkg"), street, "--json",
                                   "-r", NC, "--fixed", other, "--reshape-work-units"])
    assert run.exit_code in (0, 1), run.output
    assert json.loads(run.output)["summary"]["fixed"] == [other]
    bad = CliRunner().invoke(app, ["simulate", "rebalance", str(tmp_path / "city.gpkg"), street, "--fixed", "NOPE"])
    assert bad.exit_code == 2 and "NOPE" in bad.output and "Traceback" not in bad.output


def test_merge_follows_facilities(cities):
    city, ids = cities[1]
    small = ids["size_below"]
    new = merge(city, small, rules=NC).apply(city)
    theirs = set(city["facilities"].loc[city["facilities"]["community_code"] == small, "code"]) & \
        set(facility_homes(city))
    assert theirs, "the merged community had facilities"
    now = dict(zip(new["facilities"]["code"], new["facilities"]["community_code"]))
    homes = facility_homes(new)
    assert all(now[f] == homes[f] != small for f in theirs)  # they name the community they now lie in


def test_fixed_units_that_cut_the_street_in_pieces(cities):
    """Seed 1: fixing 360102002002 (with the work-unit communities) leaves the rest of street
    360102002000 in pieces; each piece is redrawn with its own units' count."""
    from gis.simulate.atoms import components

    city, _ = cities[1]
    street, pin = "360102002000", "360102002002"
    plan = redraw(city, street, fixed=[pin], rules=NC)
    a = atoms(city, "communities", parent=street, exclude=plan.summary["fixed"])
    pieces = components(len(a), a.i, a.j)
    assert pieces.max() > 0  # the premise: the rest is in more than one piece
    assert "per piece" in plan.summary["k_rule"]
    new, _ = assert_sound(city, plan)
    assert new["communities"].set_index("code").geometry[pin].equals(
        city["communities"].set_index("code").geometry[pin])
    now = new["grids"].set_index("code")["community_code"]
    for c in range(pieces.max() + 1):  # no unit spans two pieces, and each piece keeps its count
        grids = a.frame["code"][pieces == c]
        assert now[grids].nunique() == a.frame["unit"][pieces == c].nunique()
        assert not set(now[grids]) & set(now[a.frame["code"][pieces != c]])
