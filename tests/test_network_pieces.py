"""coverage on a road network in three unconnected pieces, read as real data comes (files + mapping).

The city (metres east/north of ``X0, Y0`` in EPSG:4548; roads and facilities written as WGS84
GeoJSON, buildings and communities as GeoPackages with Chinese column names):

- main piece (3,800 m): a loop R01 R03 R07 R09 with the cross road R05; a 社区综合服务中心 and a
  社区养老服务站 at (500, 300); buildings B01 B02 B03 (50, 70, 30 households);
- north of a river with no bridge (1,200 m): R02 R06 R08; no facility; B04 B05 B06 (40, 60, 80);
- a stub cut off at the edge of the extract (500 m): R04 R10; its own 社区养老服务站 at (1400, 250);
  B07 B08 (25, 35).

Roads are listed interleaved (a piece's roads are not neighbours in the file). Expected figures
are worked out by hand below, not read back from the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely import LineString, Point, box
from typer.testing import CliRunner

from gis.cli.main import app
from gis.coverage import coverage
from gis.errors import InputError
from gis.io import read_city

X0, Y0 = 392_000.0, 3_176_000.0  # EPSG:4548 near Nanchang
GK = "EPSG:4548"

MAIN = [LineString([(0, 0), (1000, 0)]), LineString([(0, 0), (0, 600)]), LineString([(500, 0), (500, 600)]),
        LineString([(1000, 0), (1000, 600)]), LineString([(0, 600), (1000, 600)])]
NORTH = [LineString([(0, 900), (600, 900)]), LineString([(300, 900), (300, 1200)]),
         LineString([(600, 900), (600, 1200)])]
STUB = [LineString([(1400, 100), (1400, 400)]), LineString([(1400, 400), (1600, 400)])]
# file order: M N M S M N M N M S -> codes R01..R10
ROADS = [MAIN[0], NORTH[0], MAIN[1], STUB[0], MAIN[2], NORTH[1], MAIN[3], NORTH[2], MAIN[4], STUB[1]]
ROAD_CODES = [f"R{i:02d}" for i in range(1, 11)]
BUILDINGS = {  # code: (centre, households)
    "B01": ((100, 10), 50), "B02": ((480, 300), 70), "B03": ((900, 590), 30),
    "B04": ((150, 910), 40), "B05": ((310, 1100), 60), "B06": ((590, 1150), 80),
    "B07": ((1410, 200), 25), "B08": ((1590, 410), 35),
}
FACILITIES = [("F1", "service_centre", (500, 300)), ("F2", "elderly_station", (500, 300)),
              ("F3", "elderly_station", (1400, 250))]


def shift(g):
    return shapely.transform(g, lambda c: c + [X0, Y0])


def write_city(tmp_path: Path, road_codes: bool = True) -> Path:
    roads = gpd.GeoDataFrame({"道路编码": ROAD_CODES, "名称": [f"路{i}" for i in range(10)]},
                             geometry=[shift(g) for g in ROADS], crs=GK)
    if not road_codes:  # no code and no name (a layer of names only takes its names as codes)
        roads = roads.drop(columns=["道路编码", "名称"])
    roads.to_crs(4326).to_file(tmp_path / "roads.geojson", engine="pyogrio")
    gpd.GeoDataFrame({"建筑编码": list(BUILDINGS), "户数": [h for _, h in BUILDINGS.values()]},
                     geometry=[shift(box(x - 5, y - 5, x + 5, y + 5)) for (x, y), _ in BUILDINGS.values()],
                     crs=GK).to_file(tmp_path / "buildings.gpkg", engine="pyogrio")
    gpd.GeoDataFrame({"编号": [c for c, _, _ in FACILITIES], "类型": [k for _, k, _ in FACILITIES]},
                     geometry=[shift(Point(xy)) for _, _, xy in FACILITIES],
                     crs=GK).to_crs(4326).to_file(tmp_path / "facilities.geojson", engine="pyogrio")
    gpd.GeoDataFrame({"社区编码": ["360102001001"], "社区名称": ["朝阳社区"]},
                     geometry=[shift(box(-100, -100, 1700, 1300))], crs=GK).to_file(tmp_path / "c.gpkg",
                                                                                     engine="pyogrio")
    roads_map = 'code = "道路编码"\nname = "名称"\n' if road_codes else ""
    mapping = tmp_path / "city.toml"
    mapping.write_text(f"""[layers.roads]
source = "roads.geojson"
{roads_map}
[layers.buildings]
source = "buildings.gpkg"
code = "建筑编码"
households = "户数"

[layers.facilities]
source = "facilities.geojson"
code = "编号"
kind = "类型"

[layers.communities]
source = "c.gpkg"
code = "社区编码"
name = "社区名称"
""", encoding="utf-8")
    return mapping


# Worked out by hand: the pieces in order of road length (north 1,200 m, stub 500 m), their roads in
# file order, the households of the buildings beside them, their length.
PIECES = [(["R02", "R06", "R08"], 40 + 60 + 80, 1200.0), (["R04", "R10"], 25 + 35, 500.0)]
MESSAGES = ["道路网第 2 块与主网不相连：3 条道路，3 栋建筑，180 户",
            "道路网第 3 块与主网不相连：2 条道路，2 栋建筑，60 户"]
# walking metres (access included): service centre reached only on the main piece; the stub's own
# elderly station covers B07 (10 + 50 m) but not B08 (10 + 190 + 150 m); main: B02 is 20 m from F2,
# B01 and B03 710 m (10 + 400 + 300)
WALK = {"service_centre": {"B01": 710, "B02": 20, "B03": 710},
        "elderly_station": {"B02": 20, "B07": 60}}  # the rest: beyond the distance (B08: 350 > 300 m)
UNCOVERED = {"service_centre": ["B04", "B05", "B06", "B07", "B08"],
             "elderly_station": ["B01", "B03", "B04", "B05", "B06", "B08"]}


@pytest.fixture(scope="module")
def mapping(tmp_path_factory) -> Path:
    return write_city(tmp_path_factory.mktemp("pieces"))


@pytest.fixture(scope="module")
def cov(mapping):
    return coverage(read_city(mapping))


def test_each_cut_off_piece_is_one_warning(cov):
    cut = cov.findings[cov.findings["code"] == "network_piece"]
    assert cut["ids"].tolist() == [ids for ids, _, _ in PIECES]
    assert cut["value"].tolist() == [hh for _, hh, _ in PIECES]
    assert cut["message"].tolist() == MESSAGES
    assert (cut["severity"] == "warning").all() and (cut["layer"] == "roads").all()
    assert (cut["rule"] == "人无遗漏").all() and (cut["source"] == "002").all()
    assert cut.geom_type.tolist() == ["MultiLineString"] * 2
    metres = cut.to_crs(GK).geometry
    assert metres.length.tolist() == pytest.approx([m for _, _, m in PIECES], abs=0.01)
    north = shapely.union_all([shift(g) for g in NORTH])
    assert metres.iloc[0].buffer(0.01).contains(north) and metres.iloc[0].difference(north.buffer(0.01)).is_empty
    assert cov.findings.attrs["summary"]["layers"]["roads"] == {"features": 10, "errors": 0, "warnings": 2}


def test_buildings_off_the_main_piece_reach_only_their_own_facilities(cov):
    d = cov.distance.set_index("code")
    for kind, walks in WALK.items():
        reached = d[kind][np.isfinite(d[kind])]
        assert reached.to_dict() == pytest.approx(walks, abs=0.01), kind
    uncovered = cov.findings[cov.findings["code"] == "uncovered"]
    got = {k: sorted(ids[0] for ids in uncovered.loc[uncovered["message"].str.contains(name), "ids"])
           for k, name in (("service_centre", "社区综合服务中心"), ("elderly_station", "社区养老服务站"))}
    assert got == UNCOVERED
    s = cov.summary
    assert s.loc["service_centre", "covered_households"] == 50 + 70 + 30
    assert s.loc["elderly_station", "covered_households"] == 70 + 25
    # as the crow flies B04 is 703 m from the service centre: only the missing bridge leaves it out
    assert np.hypot(500 - 150, 300 - 910) < cov.radius["service_centre"]


def test_roads_without_codes_are_named_by_row(tmp_path):
    found = coverage(read_city(write_city(tmp_path, road_codes=False)), kinds=["service_centre"]).findings
    cut = found[found["code"] == "network_piece"]
    assert cut["ids"].tolist() == [["1", "5", "7"], ["3", "9"]]  # rows from 0, as in the file


def test_strict_refuses_with_the_cut_roads(mapping):
    with pytest.raises(InputError, match="city.toml, layer roads: the road network falls apart in 3 unconnected "
                                         "pieces; roads of the smaller pieces: R02, R04, R06, R08, R10 "):
        coverage(read_city(mapping), connected=True)


def test_map_draws_the_pieces(mapping, cov):
    import folium

    from gis.maps import coverage_map

    m = coverage_map(read_city(mapping), cov)
    layers = [x for x in m._children.values() if isinstance(x, folium.GeoJson)]
    cut = next(x for x in layers if x.layer_name == "不相连的道路块 (2)")
    assert [f["properties"]["tip"] for f in cut.data["features"]] == MESSAGES


def test_cli_table_counts_the_pieces(mapping):
    r = CliRunner().invoke(app, ["coverage", str(mapping)], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert "network_piece · 人无遗漏: 2" in r.output
    assert f"{MESSAGES[0]}（R02, R06, R08）" in r.output and f"{MESSAGES[1]}（R04, R10）" in r.output


# --- the installed command, as a user runs it ------------------------------------------------------

def wangge(*args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "wangge"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from gis.cli.main import app; app()"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, encoding="utf-8", timeout=120,
                          env={**os.environ, "COLUMNS": "80"})


def test_wangge_coverage_json(mapping):
    proc = wangge("coverage", mapping, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    cut = [f for f in out["findings"] if f["code"] == "network_piece"]
    assert [(f["ids"], f["value"], f["message"], f["severity"], f["geometry"]["type"]) for f in cut] == \
        [(ids, hh, msg, "warning", "MultiLineString") for (ids, hh, _), msg in zip(PIECES, MESSAGES)]
    uncovered = [f["ids"][0] for f in out["findings"] if f["code"] == "uncovered" and "综合服务" in f["message"]]
    assert sorted(uncovered) == UNCOVERED["service_centre"]
    assert {s["kind"]: s["covered_households"] for s in out["coverage"]} == {"elderly_station": 95,
                                                                             "service_centre": 150}


def test_wangge_coverage_strict_network_exits_2(mapping):
    proc = wangge("coverage", mapping, "--strict-network")
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:")
    assert proc.stderr.count("error:") == 1
    text = "".join(proc.stderr.split())
    assert "layerroads:theroadnetworkfallsapartin3unconnectedpieces;roadsofthesmallerpieces:" \
           "R02,R04,R06,R08,R10(" in text
    assert "city.toml" in text
