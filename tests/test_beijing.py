"""The real Beijing street/town boundaries (343 polygons, WGS84): real overlaps, holes, unmatched edges.

The oracle is independent of ``check``: geopandas overlay for overlaps, the holes of a plain union for gaps.
"""

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis import check, read_city

from conftest import BEIJING, ROOT

pytestmark = pytest.mark.skipif(not BEIJING.exists(), reason="shared/data/beijing-subdistricts not present")


@pytest.fixture(scope="module")
def beijing():
    city = read_city(ROOT / "data" / "beijing.toml")
    return city, check(city)


def test_reads_all_343_units_with_chinese_names_and_exact_codes(beijing):
    city, _ = beijing
    streets = city["streets"]
    assert len(streets) == 343
    assert streets["code"].str.fullmatch(r"11\d{10}").all()
    assert "东华门街道" in set(streets["name"])
    assert city.metric_crs.to_epsg() == 4548  # CGCS2000 3-degree GK, CM 117E


def test_every_real_overlap_is_reported_with_its_area(beijing):
    city, found = beijing
    s = city.metric("streets")[["code", "geometry"]]
    pairs = gpd.overlay(s, s, how="intersection", keep_geom_type=True)
    pairs = pairs[pairs["code_1"] < pairs["code_2"]]
    pairs = pairs.assign(area=pairs.area)
    expected = {(a, b): area for a, b, area in zip(pairs["code_1"], pairs["code_2"], pairs["area"]) if area > 1.0}
    over = found[found["rule"].eq("不交叉") & found["code"].isin(["overlap", "sliver"])]
    got = {tuple(sorted(ids)): a for ids, a in zip(over["ids"], over["area_m2"])}
    assert got.keys() == expected.keys()
    assert all(abs(got[k] - expected[k]) < 1e-3 * expected[k] for k in expected)
    assert (over["code"] == "overlap").sum() >= 5  # real overlaps, not only thin mismatches


def test_every_hole_inside_the_city_outline_is_reported(beijing):
    city, found = beijing
    union = shapely.union_all(city.metric("streets").geometry.values)
    holes = np.array([shapely.area(shapely.Polygon(r)) for p in shapely.get_parts(union) for r in p.interiors])
    holes = holes[holes > 1.0]
    gaps = found[found["rule"].eq("地无空白")]
    assert len(gaps) == len(holes) > 0
    assert gaps["area_m2"].sum() == pytest.approx(holes.sum(), rel=1e-6)


def test_findings_name_their_units_and_sources(beijing):
    _, found = beijing
    assert found.summary["layers"]["streets"]["features"] == 343
    assert found["source"].isin(["002", "OGC 06-103r4"]).all()
    big = found[found["code"] == "overlap"].sort_values("area_m2").iloc[-1]
    assert "重叠" in big["message"] and all(code in big["message"] for code in big["ids"])
