"""A plan's impact (gis.impact) on the sample, against a hand count of seed 003's numbers."""

import geopandas as gpd
import pytest

from gis import read_city
from gis.impact import describe, impact
from gis.simulate import split

from conftest import ROOT


@pytest.fixture(scope="module")
def planned():
    city = read_city(ROOT / "data" / "sample.gpkg")
    sizes = city["buildings"].groupby("grid_code")["households"].sum()
    per_comm = city["grids"].assign(hh=city["grids"]["code"].map(sizes).fillna(0)).groupby("community_code")["hh"].sum()
    big = per_comm.idxmax()  # the sample's over-sized community (2,350 households)
    assert per_comm[big] > 2000
    return city, big, split(city, big, rules="nanchang-2002")


def test_a_split_adds_one_committee_with_its_posts_police_and_budget(planned):
    city, big, plan = planned
    assert plan.summary["units_after"] == plan.summary["units_before"] + 1
    out = impact(plan, city)
    kind = city["communities"].set_index("code").loc[big, "kind"]
    residential = kind not in ("work_unit", "单位型")
    # seed 003: §10 主任 1、副主任 3 per committee; §29 one police officer per community; §13 36,000 yuan
    assert out["change"] == {"communities": 1, "committees": 1, "director_posts": 1, "deputy_posts": 3,
                             "police_officers": 1, "budget_yuan": 36000 if residential else 0}
    assert len(out["created"]) == 1 and out["abolished"] == [] and out["missing"] == []
    assert sum(out["budget_parts"].values()) == 36000
    assert out["sources"]["budget"][0] == "003"


def test_facilities_that_change_community_are_those_on_moved_land(planned):
    city, _, plan = planned
    out = impact(plan, city)
    fac = city["facilities"].to_crs(plan.moves.crs)
    joined = gpd.sjoin(fac.set_geometry(fac.geometry.representative_point()), plan.moves[["from", "to", "geometry"]],
                       predicate="intersects")
    want = sorted(zip(joined["code"], joined["from"], joined["to"]))
    assert want  # a camera stands on a grid the split moves
    assert sorted((f["code"], f["from"], f["to"]) for f in out["facilities"]) == want
    assert len(describe(out)) >= 6 + len(want)


def test_a_rule_set_without_the_numbers_says_so(planned):
    city, _, plan = planned
    out = impact(plan, city, "national")
    assert out["missing"] == ["committee", "police", "budget"]
    assert out["change"]["communities"] == 1 and out["change"]["budget_yuan"] == 0
    assert "未给出" in describe(out)[-1]
