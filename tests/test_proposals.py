"""Redraw proposals on both backends: review before approval, the workflow and its roles, bad input,
atomic apply with history, and a server killed in the middle of applying."""

import dataclasses
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
import sqlalchemy as sa

from api.store import Store
from gis import check
from gis.findings import key
from test_auth import OTHER, STREET, Env, error, open_store
from test_store import assert_same_city

A, B, GRID = "360102001001", "360102001002", "360102001001-02"  # GRID lies in A and borders B


@pytest.fixture(params=["sqlite", "postgis"])
def env(request, tmp_path, sample):
    url, ctx = open_store(request.param, tmp_path)
    e = Env(url, sample, max_upload_bytes=200_000)
    yield e
    e.store.close()
    if ctx is not None:
        ctx.__exit__(None, None, None)


def street_units(env, headers="staff", level="communities"):
    return env.client.get(f"/collections/{level}/items?limit=1000", headers=env.headers[headers]).json()


def fc(features):
    return {"type": "FeatureCollection", "features": features}


def moved_grid(env, sample):
    """The street's communities with GRID moved from A to B (WGS84, as a viewer would send them)."""
    units = street_units(env)["features"]
    grid = sample["grids"].to_crs(4326).set_index("code").geometry[GRID]
    for f in units:
        g = shapely.geometry.shape(f["geometry"])
        if f["id"] == A:
            f["geometry"] = shapely.geometry.mapping(g.difference(grid))
        elif f["id"] == B:
            f["geometry"] = shapely.geometry.mapping(g.union(grid))
    return fc(units)


def propose(env, units, who="staff", title="move a grid", **extra):
    body = {"street_code": STREET, "level": "communities", "title": title, "reason": "balance households",
            "base_version": env.store.version(), "units": units, **extra}
    return env.client.post("/proposals", json=body, headers=env.headers[who])


def to_approved(env, pid, author="staff"):
    assert env.client.post(f"/proposals/{pid}/submit", headers=env.headers[author]).json()["state"] == "submitted"
    r = env.client.post(f"/proposals/{pid}/approve", headers=env.headers["reviewer"], json={"why": "ok"})
    assert r.status_code == 200, r.text
    return r.json()


def test_review_before_approval_and_apply_with_history(env, sample):
    r = propose(env, moved_grid(env, sample))
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["state"] == "draft" and p["author"] == "staff" and p["base_version"] == 1 and p["level"] == "communities"
    assert [e["state"] for e in p["events"]] == ["draft"] and p["events"][0]["by"] == "staff"
    b = sample["buildings"]
    grid = sample["grids"].set_index("code").geometry[GRID]
    moved = int(b.loc[b.representative_point().within(grid), "households"].sum())
    assert moved > 0
    sizes = {s["code"]: s for s in p["sizes"]}
    assert sizes[A]["households_before"] - sizes[A]["households_after"] == moved
    assert sizes[B]["households_after"] - sizes[B]["households_before"] == moved
    assert {s["code"] for s in p["sizes"]} == set(sample["communities"].query("street_code == @STREET")["code"])
    assert p["summary"]["new_errors"] == 0 and set(p["summary"]["changed"]) == {A, B}
    assert p["findings"]["findings"] and p["findings"]["summary"]["street"] == STREET
    # workflow up to applied; the city moves by one version, all layers at once
    to_approved(env, p["id"])
    r = env.client.post(f"/proposals/{p['id']}/apply", headers={**env.headers["reviewer"], "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "applied" and done["applied_version"] == 2
    assert [e["state"] for e in done["events"]] == ["draft", "submitted", "approved", "applied"]
    assert env.store.version() == 2
    city = env.store.city()
    g = city["grids"].set_index("code")
    assert g.at[GRID, "community_code"] == B  # the child follows its new parent
    c = city["communities"].set_index("code")
    assert c.geometry[B].contains(grid.representative_point()) and not c.geometry[A].intersection(grid).area > 1
    assert c.at[B, "households"] == sizes[B]["households_after"]
    found = check(city, "national")
    before = check(sample, "national")
    assert (found["severity"] == "error").sum() <= (before["severity"] == "error").sum()
    # history: who, why, which proposal; the old city still readable
    h = env.client.get("/history", headers=env.headers["staff"]).json()["versions"]
    assert [v["version"] for v in h] == [1, 2]
    assert h[1]["by"] == "reviewer" and h[1]["proposal_id"] == p["id"] and "move a grid" in h[1]["why"]
    old = env.client.get(f"/collections/grids/items/{GRID}?version=1", headers=env.headers["planner"]).json()
    new = env.client.get(f"/collections/grids/items/{GRID}", headers=env.headers["planner"]).json()
    assert (old["properties"]["community_code"], new["properties"]["community_code"]) == (A, B)
    v1 = env.client.get("/collections/communities/items?version=1&limit=100", headers=env.headers["planner"]).json()
    wgs = sample["communities"].to_crs(4326)
    assert [f["id"] for f in v1["features"]] == wgs["code"].tolist()
    assert all(shapely.equals_exact(shapely.geometry.shape(f["geometry"]), g, 1e-9)
               for f, g in zip(v1["features"], wgs.geometry))
    _, city1 = env.store.snapshot(1)
    assert_same_city(sample, city1)
    assert "no version 7" in error(env.client.get("/collections/grids/items?version=7", headers=env.headers["planner"]), 404)
    # applied versions are append-only
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with env.store.engine.begin() as conn:
            conn.execute(sa.text("delete from communities_history"))
    # applying again: not approved any more
    assert "applied" in error(env.client.post(f"/proposals/{p['id']}/apply", headers=env.headers["reviewer"],
                                              json={"base_version": 1}), 409)


def test_an_operation_makes_the_units(env, sample):
    from gis.simulate import merge

    r = env.client.post("/proposals", headers=env.headers["planner"], json={
        "street_code": STREET, "operation": "merge", "unit": A, "title": "merge A", "reason": "small",
        "base_version": 1})
    assert r.status_code == 201, r.text
    p = r.json()
    plan = merge(sample, A, level="communities", rules="national")
    want = plan.apply(sample)["communities"].query("street_code == @STREET")["code"].tolist()
    assert [f["properties"]["code"] for f in p["units"]["features"]] == want and A not in want
    assert p["operation"]["operation"] == "merge" and p["level"] == "communities"
    assert p["summary"]["units_after"] == p["summary"]["units_before"] - 1
    assert "not a community or grid" in error(env.client.post("/proposals", headers=env.headers["planner"], json={
        "street_code": STREET, "operation": "split", "unit": "360102002001", "title": "t", "base_version": 1}), 400)


def test_gaps_and_overlaps_are_findings_and_block_approval(env, sample):
    units = street_units(env)["features"]
    grid = sample["grids"].to_crs(4326).set_index("code").geometry[GRID]
    gap = [dict(f, geometry=shapely.geometry.mapping(shapely.geometry.shape(f["geometry"]).difference(grid)))
           if f["id"] == A else f for f in units]
    overlap = [dict(f, geometry=shapely.geometry.mapping(shapely.geometry.shape(f["geometry"]).union(grid)))
               if f["id"] == B else f for f in units]
    for units, code in ((gap, "gap"), (overlap, "overlap")):
        p = propose(env, fc(units)).json()
        assert p["summary"]["new_errors"] > 0 and code in p["summary"]["new_error_codes"], p["summary"]
        assert any(f["code"] == code for f in p["findings"]["findings"])
        env.client.post(f"/proposals/{p['id']}/submit", headers=env.headers["staff"])
        assert "adds" in error(env.client.post(f"/proposals/{p['id']}/approve", headers=env.headers["reviewer"]), 409)
        assert "approved" in error(env.client.post(f"/proposals/{p['id']}/apply", headers=env.headers["reviewer"],
                                                   json={"base_version": 1}), 409)
    assert env.store.version() == 1


def _bowtie(env):
    units = street_units(env)["features"]
    x, y = shapely.geometry.shape(units[0]["geometry"]).representative_point().coords[0]
    d = 0.001
    units[0]["geometry"] = {"type": "Polygon", "coordinates": [[[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]]}
    return fc(units)


def _shifted(env):
    units = street_units(env)["features"]
    units[0]["geometry"] = shapely.geometry.mapping(shapely.affinity.translate(
        shapely.geometry.shape(units[0]["geometry"]), xoff=0.05))
    return fc(units)


def _other_street_code(env):
    units = street_units(env)["features"]
    units[0]["properties"]["code"] = "360102002001"
    return fc(units)


@pytest.mark.parametrize("make, status, words", [
    (_bowtie, 400, "Self-intersection"),
    (_shifted, 400, "outside street"),
    (_other_street_code, 400, "belong to another street"),
    (lambda env: {**fc(street_units(env)["features"]), "crs": {"type": "name", "properties": {"name": "EPSG:4548"}}},
     400, "WGS84"),
    (lambda env: fc([{**f, "properties": {"code": "X"}} for f in street_units(env)["features"][:2]]), 400, "more than one"),
    (lambda env: fc([{"type": "Feature", "properties": {"code": "X"}, "geometry": {"type": "Point", "coordinates": [0, 0]}}]),
     400, "Polygon"),
    (lambda env: fc([]), 400, "empty"),
    (lambda env: {"type": "Feature"}, 400, "FeatureCollection"),
    (lambda env: fc([{"type": "Feature", "properties": {"code": "X"},
                      "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]] * 20000]}}]), 413, "larger"),
])
def test_bad_input_is_refused_and_changes_nothing(env, make, status, words):
    before = env.client.get("/proposals", headers=env.headers["planner"]).json()["proposals"]
    assert words in error(propose(env, make(env)), status)
    assert env.client.get("/proposals", headers=env.headers["planner"]).json()["proposals"] == before
    assert env.store.version() == 1 and env.store.history()[-1]["action"] == "load"


def test_injection_in_text_round_trips_harmlessly(env, sample):
    nasty, script = "'); DROP TABLE grids;--", "<script>alert('x')</script>"
    units = street_units(env)["features"]
    units[0]["properties"]["name"] = nasty + script
    r = propose(env, fc(units), title=nasty, reason=script)
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/json")
    p = env.client.get(f"/proposals/{r.json()['id']}", headers=env.headers["staff"]).json()
    assert (p["title"], p["reason"]) == (nasty, script)
    assert p["units"]["features"][0]["properties"]["name"] == nasty + script
    to_approved(env, p["id"])
    assert env.client.post(f"/proposals/{p['id']}/apply", headers=env.headers["admin"],
                           json={"base_version": 1}).status_code == 200
    code = units[0]["properties"]["code"]
    got = env.client.get(f"/collections/communities/items/{code}", headers=env.headers["staff"])
    assert got.json()["properties"]["name"] == nasty + script and "<script>" not in got.headers["content-type"]
    assert len(env.store.city()["grids"]) == len(sample["grids"])  # the table is still there, whole
    assert sa.inspect(env.store.engine).has_table("grids")


def test_roles_and_streets(env, sample):
    units = street_units(env)["features"]
    assert "street" in error(env.client.post("/proposals", headers=env.headers["staff2"], json={
        "street_code": STREET, "level": "communities", "title": "t", "base_version": 1, "units": fc(units)}), 403)
    error(propose(env, fc(units), who="reviewer"), 403)
    theirs = street_units(env, "staff2")["features"]
    r = env.client.post("/proposals", headers=env.headers["planner"], json={
        "street_code": OTHER, "level": "communities", "title": "other street", "base_version": 1, "units": fc(theirs)})
    assert r.status_code == 201, r.text
    other_id = r.json()["id"]
    mine = propose(env, fc(units)).json()["id"]
    error(env.client.get(f"/proposals/{other_id}", headers=env.headers["staff"]), 404)
    error(env.client.post(f"/proposals/{other_id}/submit", headers=env.headers["staff"]), 404)
    assert [p["id"] for p in env.client.get("/proposals", headers=env.headers["staff"]).json()["proposals"]] == [mine]
    assert {p["id"] for p in env.client.get("/proposals", headers=env.headers["reviewer"]).json()["proposals"]} == \
        {mine, other_id}
    error(env.client.get("/proposals/9999", headers=env.headers["reviewer"]), 404)
    assert "author" in error(env.client.post(f"/proposals/{mine}/submit", headers=env.headers["planner"]), 403)
    error(env.client.post(f"/proposals/{mine}/approve", headers=env.headers["staff"]), 403)
    # the author changes a draft, then it is locked
    r = env.client.put(f"/proposals/{mine}", headers=env.headers["staff"], json={"title": "better title",
                                                                                 "units": moved_grid(env, sample)})
    assert r.status_code == 200 and r.json()["title"] == "better title" and set(r.json()["summary"]["changed"]) == {A, B}
    env.client.post(f"/proposals/{mine}/submit", headers=env.headers["staff"])
    assert "draft" in error(env.client.put(f"/proposals/{mine}", headers=env.headers["staff"], json={"title": "x"}), 409)
    error(env.client.post(f"/proposals/{mine}/approve", headers=env.headers["planner"]), 403)
    assert "why" in error(env.client.post(f"/proposals/{mine}/reject", headers=env.headers["reviewer"], json={}), 400)
    r = env.client.post(f"/proposals/{mine}/reject", headers=env.headers["reviewer"], json={"why": "not now"})
    assert r.json()["state"] == "rejected" and r.json()["events"][-1] == {**r.json()["events"][-1], "by": "reviewer",
                                                                           "why": "not now"}
    assert [p["id"] for p in env.client.get("/proposals?state=rejected", headers=env.headers["staff"]).json()["proposals"]] == [mine]
    assert env.store.version() == 1


def test_apply_needs_the_version_and_refuses_stale_proposals(env, sample):
    first = propose(env, moved_grid(env, sample)).json()["id"]
    units = street_units(env)["features"]
    units[1]["properties"]["name"] = "新名字"
    second = propose(env, fc(units), title="rename").json()["id"]
    for pid in (first, second):
        to_approved(env, pid)
    assert "If-Match" in error(env.client.post(f"/proposals/{first}/apply", headers=env.headers["reviewer"]), 400)
    assert "version 1" in error(env.client.post(f"/proposals/{first}/apply", headers={
        **env.headers["reviewer"], "If-Match": "5"}), 409)
    error(env.client.post(f"/proposals/{first}/apply", headers=env.headers["planner"], json={"base_version": 1}), 403)
    assert env.client.post(f"/proposals/{first}/apply", headers=env.headers["reviewer"],
                           json={"base_version": 1}).status_code == 200
    city = env.store.city()
    assert "version 2" in error(env.client.post(f"/proposals/{second}/apply", headers=env.headers["reviewer"],
                                                json={"base_version": 1}), 409)
    assert env.store.version() == 2 and env.client.get(f"/proposals/{second}", headers=env.headers["staff"]).json()["state"] == "approved"
    assert_same_city(city, env.store.city())
    assert "version 2" in error(propose(env, fc(units), title="late", base_version=1), 409)  # made on an old version


def test_a_failing_apply_changes_nothing(env, sample, monkeypatch):
    pid = propose(env, moved_grid(env, sample)).json()["id"]
    to_approved(env, pid)
    real = Store._insert

    def failing(self, conn, name, records):
        if name == "grids":  # communities went in already
            raise sa.exc.OperationalError("insert", {}, Exception("disk full"))
        real(self, conn, name, records)

    monkeypatch.setattr(Store, "_insert", failing)
    assert "internal error" in error(env.client.post(f"/proposals/{pid}/apply", headers=env.headers["reviewer"],
                                                     json={"base_version": 1}), 500)
    monkeypatch.setattr(Store, "_insert", real)
    assert env.store.version() == 1 and len(env.store.history()) == 1
    assert_same_city(sample, env.store.city())
    p = env.client.get(f"/proposals/{pid}", headers=env.headers["staff"]).json()
    assert p["state"] == "approved" and p["applied_version"] is None
    with env.store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from communities_history")).scalar() == 0



# ---- drawn areas and previews: the editor's operations, computed and checked on the server ----------

FROM, TO = "360102001009-01", "360102001009-02"  # neighbouring grids of one community of STREET


def lonlat(geom, sample) -> dict:
    """A geometry in the sample's CRS as GeoJSON in WGS84, as the viewer sends a drawn area."""
    return shapely.geometry.mapping(gpd.GeoSeries([geom], crs=sample.crs).to_crs(4326).iloc[0])


def strip(sample, width=60):
    """A band along the line between FROM and TO: mostly FROM's land next to TO, some of TO's."""
    g = sample["grids"].set_index("code").geometry
    return shapely.intersection(g[FROM].boundary, g[TO].boundary).buffer(width, quad_segs=1)


def drawing(env, area, to=TO, level="grids", who="staff", **extra):
    body = {"street_code": STREET, "level": level, "base_version": env.store.version(), "area": area, "to": to,
            **extra}
    return env.client.post("/proposals/draw", json=body, headers=env.headers[who])


def households(city, grid) -> int:
    b = city["buildings"]
    return int(b.loc[b["grid_code"] == grid, "households"].sum())


def test_a_drawn_area_moves_land_and_households_to_the_neighbour(env, sample):
    r = drawing(env, lonlat(strip(sample), sample))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["to"] == TO and d["level"] == "grids" and env.client.get(
        "/proposals", headers=env.headers["staff"]).json()["proposals"] == []  # nothing saved
    taken = {t["code"]: t["area_m2"] for t in d["taken"]}
    assert taken[FROM] > 5000 and TO not in taken
    sizes = {s["code"]: s for s in d["sizes"]}
    moved = sizes[FROM]["households_before"] - sizes[FROM]["households_after"]
    assert moved > 0 and sizes[TO]["households_after"] - sizes[TO]["households_before"] == moved
    assert sum(s["households_after"] for s in d["sizes"]) == sum(s["households_before"] for s in d["sizes"])
    assert {s["code"] for s in d["sizes"] if s["status"] == "changed"} == set(d["summary"]["changed"]) >= {FROM, TO}
    assert d["summary"]["new_errors"] == 0 and not [f for f in d["findings"]["findings"] if f.get("new")]
    # the street's grids, Chinese names kept; buildings whole: none lies in two grids
    stored = sample["grids"].set_index("code")
    units = {f["properties"]["code"]: f for f in d["units"]["features"]}
    assert set(units) == set(sample["grids"].query("community_code.str.startswith('360102001')")["code"])
    assert units[FROM]["properties"]["name"] == stored.at[FROM, "name"] == "第1网格"
    new = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in units.values()], crs=4326).to_crs(sample.crs)
    b = sample["buildings"]
    near = b[b.intersects(shapely.union_all([new.iloc[list(units).index(c)] for c in (FROM, TO)]))]
    for geom in near.geometry:
        assert sum(shapely.area(shapely.intersection(geom, g)) > 1 for g in new) == 1
    # saved, approved and applied: the households follow the land, check finds nothing new
    r = propose(env, d["units"], level="grids", title="第9社区网格调整")
    assert r.status_code == 201 and r.json()["summary"]["new_errors"] == 0, r.text
    pid = r.json()["id"]
    to_approved(env, pid)
    assert env.client.post(f"/proposals/{pid}/apply", headers=env.headers["reviewer"],
                           json={"base_version": 1}).status_code == 200
    city = env.store.city()
    assert [households(city, g) for g in (FROM, TO)] == [sizes[g]["households_after"] for g in (FROM, TO)]
    assert {key(*f) for f in check(city, "national")[["code", "layer", "ids"]].itertuples(index=False)} <= \
        {key(*f) for f in check(sample, "national")[["code", "layer", "ids"]].itertuples(index=False)}


def test_drawn_areas_compose_into_one_draft(env, sample):
    first = drawing(env, lonlat(strip(sample), sample)).json()
    now = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in first["units"]["features"]],
                        index=[f["id"] for f in first["units"]["features"]], crs=4326).to_crs(sample.crs)
    gained = shapely.difference(now[TO], sample["grids"].set_index("code").geometry[TO])  # what FROM gave
    back = drawing(env, lonlat(gained, sample), to=FROM, units=first["units"])
    assert back.status_code == 200, back.text
    sizes = {s["code"]: s for s in back.json()["sizes"]}
    assert sizes[FROM]["households_after"] == sizes[FROM]["households_before"]  # all came back
    assert {t["code"] for t in back.json()["taken"]} >= {TO}


def test_a_drawn_area_is_clipped_to_the_parent_of_the_unit_that_takes_it(env, sample):
    """Land outside the street, or (for a grid) outside its community, is clipped off and reported."""
    x0, y0, x1, y1 = sample["streets"].total_bounds
    far = shapely.box(x1 + 500, y0, x1 + 900, y0 + 400)
    area = shapely.union(strip(sample), far)
    d = drawing(env, lonlat(area, sample)).json()
    assert d["clipped_m2"] >= far.area - 1 and d["summary"]["new_errors"] == 0
    comms = sample["communities"].set_index("code").geometry
    units = gpd.GeoSeries([shapely.geometry.shape(f["geometry"]) for f in d["units"]["features"]],
                          index=[f["id"] for f in d["units"]["features"]], crs=4326).to_crs(sample.crs)
    assert units[TO].difference(comms["360102001009"]).area < 1
    # reaching into the neighbouring communities: that part is clipped, their grids keep their lines
    grids = sample["grids"].set_index("code")
    d = drawing(env, lonlat(shapely.union(strip(sample), grids.geometry[TO].buffer(40)), sample)).json()
    assert d["clipped_m2"] > 1000 and d["summary"]["new_errors"] == 0, d
    now = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in d["units"]["features"]}
    for f in street_units(env, level="grids")["features"]:
        if grids.at[f["id"], "community_code"] != "360102001009":  # (a vertex may be added where the new line ends)
            assert shapely.hausdorff_distance(shapely.geometry.shape(f["geometry"]), now[f["id"]]) < 1e-8, f["id"]


def _far(g, s):
    """A square east of every street."""
    x0, y0, x1, y1 = s["streets"].total_bounds
    return shapely.box(x1 + 500, y0, x1 + 900, y0 + 400)


@pytest.mark.parametrize("area, to, words", [
    (lambda g, s: g[FROM].buffer(1), TO, "would empty " + FROM),  # FROM would be left with nothing
    (lambda g, s: g[FROM].representative_point().buffer(10), TO, "multipart"),  # TO in two pieces
    (_far, TO, "outside"),
    (lambda g, s: strip(s), "360102002001-01", "不是本街道"),  # a grid of another street
    (lambda g, s: strip(s), "360102001009", "不是本街道"),  # a community, not a grid
    (lambda g, s: strip(s).centroid.buffer(0.1), TO, "no area"),
])
def test_drawn_areas_that_break_the_coverage_are_refused(env, sample, area, to, words):
    g = sample["grids"].set_index("code").geometry
    msg = error(drawing(env, lonlat(area(g, sample), sample), to=to), 400)
    assert words in msg and any("\u4e00" <= ch <= "\u9fff" for ch in msg)  # Chinese first, English after
    assert env.store.version() == 1


def test_drawing_needs_the_street_role_and_version(env, sample):
    area = lonlat(strip(sample), sample)
    assert "street" in error(drawing(env, area, who="staff2"), 403)
    error(drawing(env, area, who="reviewer"), 403)
    assert "version" in error(drawing(env, area, base_version=7), 409)
    assert "Polygon" in error(drawing(env, {"type": "Point", "coordinates": [115.9, 28.7]}), 400)
    assert drawing(env, area, who="planner").status_code == 200


def test_an_estate_moves_whole_to_the_neighbouring_grid(env, sample):
    """划转小区: the land of an estate's buildings in one grid (made by the server) goes to the grid
    next to it: all of its buildings and households, no other building, none split, nothing new found."""
    b = sample["buildings"]
    ours = b[(b["grid_code"] == FROM) & (b["estate"] == "明珠家园")]
    r = drawing(env, None, estate="明珠家园", grid=FROM)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["estate"] == {"name": "明珠家园", "grid": FROM, "with": []}  # the sample's buildings stand apart
    assert [t["code"] for t in d["taken"]] == [FROM]
    ours = b[(b["grid_code"] == FROM) & ((b["estate"] == "明珠家园") | b["code"].isin(d["estate"]["with"]))]
    sizes = {s["code"]: s for s in d["sizes"]}
    hh = int(ours["households"].sum())
    assert sizes[FROM]["households_before"] - sizes[FROM]["households_after"] == hh > 0
    assert sizes[TO]["households_after"] - sizes[TO]["households_before"] == hh
    assert d["summary"]["new_errors"] == 0 and not [f for f in d["findings"]["findings"] if f.get("new")]
    units = {f["id"]: shapely.geometry.shape(f["geometry"]) for f in d["units"]["features"]}
    new = gpd.GeoSeries(list(units.values()), index=list(units), crs=4326).to_crs(sample.crs)
    near = b[b.intersects(shapely.union(new[FROM], new[TO]))]
    for code, geom, estate, was in near[["code", "geometry", "estate", "grid_code"]].itertuples(index=False):
        inside = [c for c, g in new.items() if shapely.area(shapely.intersection(geom, g)) > 1]
        assert inside == [TO if code in set(ours["code"]) else was], (code, estate)  # whole, only these
    # the estate's buildings of the draft so far; one too far from the receiving grid: a clear 400
    back = drawing(env, None, estate="明珠家园", grid=TO, to=FROM, units=d["units"])
    assert back.status_code == 200 and {s["code"]: s["households_after"] for s in back.json()["sizes"]}[FROM] == \
        sizes[FROM]["households_before"], back.text
    msg = error(drawing(env, None, estate="凤凰苑", grid=TO, to=FROM), 400)
    assert "不相邻" in msg and "does not border" in msg
    assert "没有小区" in error(drawing(env, None, estate="明珠家园", grid=TO, to=FROM), 400)
    assert "either area" in error(drawing(env, lonlat(strip(sample), sample), estate="明珠家园", grid=FROM), 400)
    assert env.store.version() == 1


def test_an_estate_takes_the_buildings_that_overlap_it(tmp_path, sample):
    """Buildings that overlap are not parted: one of 天赐新村 moved onto a building of 明珠家园 goes
    with the estate, and is named in ``with``."""
    b = sample["buildings"].copy()
    ours = b.index[(b["grid_code"] == FROM) & (b["estate"] == "明珠家园")]
    other = b.index[(b["grid_code"] == FROM) & (b["estate"] == "天赐新村")][0]
    target = b.geometry[ours[0]]
    b.loc[other, "geometry"] = shapely.affinity.translate(
        b.geometry[other], target.centroid.x - b.geometry[other].centroid.x + 3,
        target.centroid.y - b.geometry[other].centroid.y)
    url, _ = open_store("sqlite", tmp_path)
    e = Env(url, dataclasses.replace(sample, layers={**sample.layers, "buildings": b}))
    try:
        r = drawing(e, None, estate="明珠家园", grid=FROM)
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["estate"]["with"] == [b.at[other, "code"]]
        sizes = {s["code"]: s for s in d["sizes"]}
        hh = int(b.loc[ours, "households"].sum() + b.at[other, "households"])
        assert sizes[TO]["households_after"] - sizes[TO]["households_before"] == hh
    finally:
        e.store.close()


def test_communities_take_whole_grids(env, sample):
    g = sample["grids"].set_index("code").geometry
    d = drawing(env, lonlat(g[GRID].buffer(-5), sample), to=B, level="communities").json()
    assert d["taken"] == [{"code": A, "area_m2": round(g[GRID].area, 1), "grid": GRID}]
    assert set(d["summary"]["changed"]) == {A, B} and d["summary"]["new_errors"] == 0
    assert "一半" in error(drawing(env, lonlat(g[GRID].centroid.buffer(30), sample), to=B, level="communities"), 400)
    p = propose(env, d["units"]).json()
    to_approved(env, p["id"])
    env.client.post(f"/proposals/{p['id']}/apply", headers=env.headers["reviewer"], json={"base_version": 1})
    assert env.store.city()["grids"].set_index("code").at[GRID, "community_code"] == B


def test_a_preview_reviews_without_saving(env, sample):
    units = street_units(env)["features"]
    grid = sample["grids"].to_crs(4326).set_index("code").geometry[GRID]
    gap = [dict(f, geometry=shapely.geometry.mapping(shapely.geometry.shape(f["geometry"]).difference(grid)))
           if f["id"] == A else f for f in units]
    body = {"street_code": STREET, "level": "communities", "base_version": 1, "units": fc(gap)}
    r = env.client.post("/proposals/preview", json=body, headers=env.headers["staff"])
    assert r.status_code == 200, r.text
    p = r.json()
    assert "gap" in p["summary"]["new_error_codes"] and p["level"] == "communities"
    assert "gap" in [f["code"] for f in p["findings"]["findings"] if f.get("new")]
    assert {s["code"]: s["status"] for s in p["sizes"]}[A] == "changed"
    assert env.client.get("/proposals", headers=env.headers["staff"]).json()["proposals"] == []
    assert "street" in error(env.client.post("/proposals/preview", json={**body, "street_code": OTHER},
                                             headers=env.headers["staff"]), 403)


# ---- a server killed while it applies --------------------------------------------------------------

def _serve(url, port, log: Path, root, **env):
    wangge = Path(sys.executable).parent / "wangge"
    with open(log, "a") as out:
        proc = subprocess.Popen([str(wangge), "serve", "--host", "127.0.0.1", "--port", str(port), "--db", url],
                                stdout=out, stderr=subprocess.STDOUT, cwd=root, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/conformance", timeout=2, trust_env=False)
            return proc, base
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"wangge serve did not start:\n{log.read_text()}")
            time.sleep(0.1)


@pytest.fixture(params=["sqlite", "postgis"])
def served_url(request, tmp_path):
    url, ctx = open_store(request.param, tmp_path)
    yield url
    if ctx is not None:
        ctx.__exit__(None, None, None)


def test_a_server_killed_while_applying_leaves_the_old_city(served_url, tmp_path, root, sample):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "serve.log"
    proc, base = _serve(served_url, port, log, root, WANGGE_TEST_APPLY_DELAY="60", NO_PROXY="127.0.0.1")
    try:
        users = dict(re.findall(r"username=(\S+) role=\S+(?: street=\S+)? password=(\S+)", log.read_text()))
        assert set(users) == {"staff", "planner", "reviewer", "admin"}, log.read_text()
        assert re.search(rf"username=staff role=street_staff street={STREET}", log.read_text())
        http = httpx.Client(base_url=base, trust_env=False, timeout=60)

        def login(name):
            token = http.post("/auth/token", json={"username": name, "password": users[name]}).json()["access_token"]
            return {"Authorization": f"Bearer {token}"}

        staff, reviewer = login("staff"), login("reviewer")
        # a proposal that rewrites two layers: a grid moves to the next community (communities and
        # grids change), and every community of the street is renamed
        units = http.get("/collections/communities/items?limit=1000", headers=staff).json()["features"]
        grid = sample["grids"].to_crs(4326).set_index("code").geometry[GRID]
        for f in units:
            g = shapely.geometry.shape(f["geometry"])
            if f["id"] in (A, B):
                f["geometry"] = shapely.geometry.mapping(g.difference(grid) if f["id"] == A else g.union(grid))
            f["properties"]["name"] = f["properties"]["name"] + "（新）"
        r = http.post("/proposals", headers=staff, json={"street_code": STREET, "level": "communities",
                                                         "title": "big", "reason": "", "base_version": 1,
                                                         "units": fc(units)})
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        http.post(f"/proposals/{pid}/submit", headers=staff)
        approved = http.post(f"/proposals/{pid}/approve", headers=reviewer)
        assert approved.status_code == 200, (approved.text, r.json()["summary"])
        def apply():
            try:
                httpx.post(f"{base}/proposals/{pid}/apply", headers=reviewer, json={"base_version": 1},
                           trust_env=False, timeout=90)
            except httpx.HTTPError:
                pass  # the server is killed before it answers

        threading.Thread(target=apply, daemon=True).start()
        deadline = time.monotonic() + 30
        while "test apply delay" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # inside the transaction: every layer written, nothing committed
        proc.wait(10)
        proc, base = _serve(served_url, port, log, root, NO_PROXY="127.0.0.1")
        store = Store(served_url)
        assert store.version() == 1 and [h["action"] for h in store.history()] == ["load"]
        assert_same_city(sample, store.city())
        http = httpx.Client(base_url=base, trust_env=False, timeout=60)
        findings = http.get("/findings", headers=login("planner")).json()
        assert findings["version"] == 1 and findings["summary"] == check(sample, "national").attrs["summary"]
        assert http.get(f"/proposals/{pid}", headers=reviewer).json()["state"] == "approved"
        # and then applied for real: the new city, whole
        r = http.post(f"/proposals/{pid}/apply", headers=reviewer, json={"base_version": 1})
        assert r.status_code == 200, r.text
        assert store.version() == 2
        new = store.city()
        assert new["grids"].set_index("code").at[GRID, "community_code"] == B
        assert new["communities"]["name"].str.endswith("（新）").sum() == len(units)
        before = {(f["code"], tuple(f["ids"])) for f in findings["findings"] if f["severity"] == "error"}
        after = http.get("/findings", headers=login("planner")).json()
        assert after["version"] == 2
        assert {(f["code"], tuple(f["ids"])) for f in after["findings"] if f["severity"] == "error"} <= before
        store.close()
    finally:
        proc.kill()
        proc.wait(10)


def test_noding_drops_specks_that_would_break_a_unit():
    """A hole of no area (overlay noise where pieces rejoin) and a part of no area are dropped, so
    noding cannot turn the unit into a bare ring or make it multipart."""
    from gis.noding import no_specks as _no_specks

    shell = [(0, 0), (100, 0), (100, 100), (0, 100)]
    speck_hole = shapely.Polygon(shell, [[(50, 50), (50.00001, 50), (50, 50.00001)]])
    flat_part = shapely.MultiPolygon([shapely.Polygon(shell), shapely.Polygon([(200, 0), (300, 0), (300, 1e-7)])])
    out = _no_specks(np.array([speck_hole, flat_part, shapely.box(0, 0, 1, 1)], dtype=object))
    assert [g.geom_type for g in out] == ["Polygon", "Polygon", "Polygon"]  # one part left: a Polygon
    assert len(out[0].interiors) == 0 and out[0].is_valid and out[0].area == 10_000
    assert out[1].area == pytest.approx(10_000) and out[2].equals(shapely.box(0, 0, 1, 1))
