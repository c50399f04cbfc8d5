"""Real district data as it comes (tests/exported.py): units in several features, defects of single
features as findings, name-only layers, parents by name or by place, GCJ-02 and BD-09 coordinates.

Expected values are worked out from the layout in tests/exported.py, not from ``check``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from shapely import Point, Polygon, box

import exported
from gis import check, read_city
from gis.chinacrs import from_wgs84

FUYUAN, DONGCHANG, JINGSHAN = "110101001001", "110101001002", "110101002001"


@pytest.fixture(scope="module")
def district(tmp_path_factory):
    path = exported.write(tmp_path_factory.mktemp("exported"))
    city = read_city(path)
    return path, city, check(city)


def of(found, code, layer=None):
    rows = found[found["code"].eq(code) & (found["layer"].eq(layer) if layer else True)]
    return {tuple(ids): r for ids, r in zip(rows["ids"], rows.to_dict("records"))}


def test_a_unit_stored_in_several_features_is_one_unit(district):
    _, city, found = district
    com = city["communities"].set_index("code")
    assert len(city["communities"]) == 5  # nine features: 府苑 in three, 东厂 twice, one empty
    fuyuan = city.metric("communities").set_index("code").geometry[FUYUAN]
    assert fuyuan.geom_type == "MultiPolygon" and len(fuyuan.geoms) == 2
    assert fuyuan.area == pytest.approx(500_000 + 500_000, rel=1e-6)
    assert com.loc[FUYUAN, "households"] == 400  # the same 户数 in each feature is taken once
    multi = of(found, "multipart", "communities")
    assert list(multi) == [(FUYUAN,)]
    assert "存储为 3 个要素" in multi[(FUYUAN,)]["message"] and "2 块" in multi[(FUYUAN,)]["message"]
    assert multi[(FUYUAN,)]["area_m2"] == pytest.approx(500_000, rel=1e-6)  # every piece but the largest
    # grid G2 lies in the exclave: inside its community, not outside it
    strays = found[found["code"].isin(["outside_parent", "sliver", "orphan"])]
    assert "1101010G2" not in {i for ids in strays["ids"] for i in ids}
    assert not of(found, "duplicate_id").keys() & {(FUYUAN,)}


def test_a_copy_and_one_code_on_two_names_are_duplicate_ids(district):
    _, city, found = district
    dup = of(found, "duplicate_id", "communities")
    assert set(dup) == {(DONGCHANG,), (JINGSHAN,)}
    assert "副本" in dup[(DONGCHANG,)]["message"] and dup[(DONGCHANG,)]["area_m2"] == pytest.approx(500_000, rel=1e-6)
    assert "景山社区" in dup[(JINGSHAN,)]["message"] and "黄化门社区" in dup[(JINGSHAN,)]["message"]
    assert sorted(city["communities"]["code"]).count(JINGSHAN) == 2  # two units: different names
    assert sorted(city["communities"]["code"]).count(DONGCHANG) == 1  # the copy is the same unit


def test_defects_of_single_features_are_findings_and_the_rest_is_checked(district):
    _, city, found = district
    empty = of(found, "empty_geometry")
    assert list(empty) == [("110101002004",)]
    assert "第 8 行" in empty[("110101002004",)]["message"] and empty[("110101002004",)]["severity"] == "error"
    missing = of(found, "missing_code")
    assert set(missing) == {("row-7",), ("row-6",)} and len(found[found["code"] == "missing_code"]) == 3
    assert {r["layer"] for r in found[found["code"] == "missing_code"].to_dict("records")} == {"communities", "grids"}
    assert "钟鼓社区" in missing[("row-7",)]["message"] or "第7网格" in missing[("row-7",)]["message"]
    ids = [i for row in found["ids"] for i in row]
    assert all(isinstance(i, str) and i.strip() for i in ids)  # no empty or null id anywhere
    assert "None" not in " ".join(found["message"]) and "（空）" not in " ".join(found["message"])
    assert found.summary["layers"]["grids"]["features"] == 7


def test_blank_parent_codes_are_placed_by_location(district):
    _, city, found = district
    inferred = of(found, "parent_inferred")
    assert set(inferred) == {("1101010G4",), ("row-7",)}
    assert inferred[("1101010G4",)]["parent"] == DONGCHANG and inferred[("1101010G4",)]["severity"] == "warning"
    grids = city["grids"].set_index("code")["community_code"]
    assert grids["1101010G4"] == DONGCHANG and grids["row-7"] == "row-7"
    assert not [ids for ids in of(found, "orphan") if ids != ("1101010G5",)]


def test_a_parent_code_that_exists_nowhere_names_where_the_unit_lies(district):
    _, _, found = district
    orphan = of(found, "orphan")[("1101010G5",)]
    assert orphan["lies_in"] == JINGSHAN and "110101002009" in orphan["message"] and "景山社区" in orphan["message"]


def test_a_unit_declared_in_one_parent_and_lying_in_another_says_so(district):
    _, _, found = district
    out = of(found, "outside_parent")
    assert list(out) == [("1101010G1",)]  # not G2, in 府苑's exclave
    row = out[("1101010G1",)]
    assert row["lies_in"] == FUYUAN and row["parent"] == DONGCHANG
    assert "声明属于" in row["message"] and "100% 位于" in row["message"] and "府苑社区" in row["message"]


def test_names_serve_as_codes_and_parents_are_found_by_name(district):
    _, city, _ = district
    assert city["streets"]["code"].tolist() == ["东华门街道", "景山街道"]
    assert city["streets"]["name"].tolist() == ["东华门街道", "景山街道"]
    assert set(city["communities"]["street_code"]) == {"东华门街道", "景山街道"}


def test_gcj02_buildings_are_shifted_back_into_their_grids(district):
    _, city, found = district
    assert not len(of(found, "misassigned_building")) and not len(of(found, "unassigned_building"))
    truth = gpd.GeoSeries([g.centroid for g in (exported.m(b[0] + 150, b[1] + 200, b[0] + 160, b[1] + 210)
                                                for b in exported.GRID_BOXES.values())], crs=exported.GK)
    got = city.metric("buildings").geometry.values
    assert shapely.distance(got, truth.values).max() < 0.1
    raw = gpd.read_file(district[0].parent / "楼栋.geojson").to_crs(exported.GK)
    assert shapely.distance(raw.geometry.values, truth.values).min() > 300  # as written they are hundreds of metres off


def test_cli_check_reports_instead_of_refusing(district):
    path = district[0]
    exe = Path(sys.executable).parent / "wangge"
    proc = subprocess.run([str(exe), "check", str(path), "--format", "json"], capture_output=True, text=True,
                          encoding="utf-8", timeout=120, env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 1, proc.stderr  # errors found, not 2: the input is readable
    out = json.loads(proc.stdout)
    codes = {f["code"] for f in out["findings"]}
    assert {"multipart", "duplicate_id", "empty_geometry", "missing_code", "parent_inferred", "orphan",
            "outside_parent"} <= codes
    lies = {tuple(f["ids"]): f["lies_in"] for f in out["findings"] if f["code"] == "outside_parent"}
    assert lies == {("1101010G1",): FUYUAN}
    assert "Traceback" not in proc.stderr


def test_export_writes_a_unit_in_several_features_as_one_multipolygon(district, tmp_path):
    from typer.testing import CliRunner

    from gis.cli.main import app

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    runner = CliRunner()
    r = runner.invoke(app, ["load", str(district[0]), "--db", url])
    assert r.exit_code == 0 and "1 features without a usable geometry left out" in r.output, r.output
    out = tmp_path / "out.gpkg"
    r = runner.invoke(app, ["export", str(out), "--db", url])
    assert r.exit_code == 0, r.output
    com = pyogrio.read_dataframe(out, layer="communities")
    fuyuan = com[com["code"] == FUYUAN]
    assert len(fuyuan) == 1 and fuyuan.geom_type.iloc[0] == "MultiPolygon"
    assert len(fuyuan.geometry.iloc[0].geoms) == 2


# --- smaller cases, each one export as it comes --------------------------------------------------

X0, Y0 = exported.X0, exported.Y0


def write(tmp_path, layers: dict[str, gpd.GeoDataFrame], mapping: str) -> Path:
    for name, gdf in layers.items():
        gdf.to_file(tmp_path / name, engine="pyogrio")
    (tmp_path / "m.toml").write_text(mapping, encoding="utf-8")
    return tmp_path / "m.toml"


def test_a_layer_of_names_only_takes_its_names_as_codes(tmp_path):
    g = gpd.GeoDataFrame({"MC": ["和平里街道", "安定门街道"]},
                         geometry=[box(X0, Y0, X0 + 900, Y0 + 900), box(X0 + 900, Y0, X0 + 1800, Y0 + 900)],
                         crs=exported.GK)
    path = write(tmp_path, {"jd.geojson": g}, '[layers.streets]\nsource = "jd.geojson"\nname = "MC"\n')
    city = read_city(path)
    assert city["streets"]["code"].tolist() == ["和平里街道", "安定门街道"]
    assert city["streets"]["name"].tolist() == ["和平里街道", "安定门街道"]


@pytest.mark.parametrize("geometry, code, words", [
    (None, "empty_geometry", "几何缺失"),
    (Polygon(), "empty_geometry", "几何为空"),
    (Point(X0, Y0), "invalid_geometry", "几何为 Point"),
])
def test_a_feature_without_a_usable_geometry_is_a_finding(tmp_path, geometry, code, words):
    g = gpd.GeoDataFrame({"BM": ["S1", "S2"], "MC": ["甲街道", "乙街道"]},
                         geometry=[box(X0, Y0, X0 + 900, Y0 + 900), geometry], crs=exported.GK)
    g.to_file(tmp_path / "jd.gpkg", layer="街道", engine="pyogrio")
    path = tmp_path / "m.toml"
    path.write_text('[layers.streets]\nsource = "jd.gpkg:街道"\ncode = "BM"\nname = "MC"\n', encoding="utf-8")
    city = read_city(path)
    assert city["streets"]["code"].tolist() == ["S1"]
    found = check(city)
    row = found[found["code"] == code].iloc[0]
    assert row["ids"] == ["S2"] and words in row["message"] and "乙街道" in row["message"]
    assert "jd.gpkg:街道 第 2 行" in row["message"]
    assert found.summary["errors"] == 1


def test_a_declared_bd09_mapping_shifts_every_layer_back(tmp_path):
    wgs = gpd.GeoSeries([box(116.30, 39.95, 116.31, 39.96)], crs=4326)
    bd = gpd.GeoDataFrame({"code": ["S1"]}, geometry=from_wgs84(wgs.values, "BD-09"), crs=4326)
    path = write(tmp_path, {"s.geojson": bd}, 'crs = "BD-09"\n[layers.streets]\nsource = "s.geojson"\n')
    city = read_city(path)
    assert city.crs.to_epsg() == 4326
    got = np.asarray(shapely.get_coordinates(city["streets"].geometry.values))
    want = np.asarray(shapely.get_coordinates(wgs.values))
    assert np.abs(got - want).max() < 1e-6  # about 0.1 m
    shifted = np.asarray(shapely.get_coordinates(bd.geometry.values))
    assert np.abs(shifted - want).max() > 5e-3  # the file itself is hundreds of metres off


def test_an_unknown_declared_crs_names_the_layer(tmp_path):
    from gis.errors import InputError

    g = gpd.GeoDataFrame({"code": ["S1"]}, geometry=[box(116.3, 39.9, 116.31, 39.91)], crs=4326)
    path = write(tmp_path, {"s.geojson": g}, '[layers.streets]\nsource = "s.geojson"\ncrs = "GCJ-03"\n')
    with pytest.raises(InputError, match=r"\[layers.streets\] crs = 'GCJ-03'"):
        read_city(path)


def test_the_bundled_export_is_this_district(district, root):
    found = check(read_city(root / "data" / "exported" / "exported.toml"))
    key = lambda f: sorted(zip(f["code"], f["layer"], map(tuple, f["ids"]), f["lies_in"].fillna("")))  # noqa: E731
    assert key(found) == key(district[2])


def test_counts_that_cannot_be_read_are_findings(tmp_path):
    """Blank, text and negative 户数: read as 0 with an invalid_value finding (blank a warning,
    the others errors); '1,200' is a number; no households_mismatch on the unreadable ones."""
    g = gpd.GeoDataFrame({"BM": ["C1", "C2", "C3", "C4"], "HS": ["1,200", "", "十二", "-3"]},
                         geometry=[box(X0 + i * 100, Y0, X0 + i * 100 + 100, Y0 + 100) for i in range(4)],
                         crs=exported.GK)
    b = gpd.GeoDataFrame({"HS": [1200, 5, 6, 7]},
                         geometry=[Point(X0 + i * 100 + 50, Y0 + 50) for i in range(4)], crs=exported.GK)
    path = write(tmp_path, {"c.geojson": g, "b.geojson": b},
                 '[layers.communities]\nsource = "c.geojson"\ncode = "BM"\nhouseholds = "HS"\n'
                 '[layers.buildings]\nsource = "b.geojson"\nhouseholds = "HS"\n')
    city = read_city(path)
    assert city["communities"]["households"].tolist() == [1200, 0, 0, 0]
    found = check(city)
    bad = {r["ids"][0]: r for r in found[found["code"] == "invalid_value"].to_dict("records")}
    assert {k: r["severity"] for k, r in bad.items()} == {"C2": "warning", "C3": "error", "C4": "error"}
    assert "户数为空" in bad["C2"]["message"] and "'十二'" in bad["C3"]["message"] and "c.geojson 第 4 行" in bad["C4"]["message"]
    assert not len(found[found["code"] == "households_mismatch"])
