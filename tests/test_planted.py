"""`check` finds exactly the errors the synthetic city generator planted: every one, nothing else."""

import numpy as np
import pytest

from gis import check
from gis.synth import PLANT_ALL, synth


def keyed(found):
    return {(c, l, tuple(sorted(i))): a for c, l, i, a in zip(found["code"], found["layer"], found["ids"], found["area_m2"])}


@pytest.mark.parametrize("grids, seed", [(60, 0), (60, 7), (300, 1), (300, 5), (2000, 2)])
def test_every_planted_error_found_and_nothing_else(grids, seed):
    city, manifest = synth(grids, seed, PLANT_ALL)
    found = keyed(check(city, "nanchang-2002"))
    expected = {(c, l, tuple(i)): a for c, l, i, a in zip(manifest["code"], manifest["layer"], manifest["ids"],
                                                           manifest["area_m2"])}
    assert found.keys() - expected.keys() == set(), "flagged but not planted"
    assert expected.keys() - found.keys() == set(), "planted but not found"
    for key, area in expected.items():
        if not np.isnan(area):
            assert found[key] == pytest.approx(area, rel=1e-6), key


@pytest.mark.parametrize("grids, seed", [(60, 3), (1000, 4)])
def test_clean_city_has_no_findings(grids, seed):
    city, manifest = synth(grids, seed)
    assert len(manifest) == 0
    found = check(city, "nanchang-2002")
    assert len(found) == 0, found[["code", "ids", "message"]].to_string()


@pytest.mark.parametrize("code", sorted(k for k in PLANT_ALL if k != "multi_assigned_building"))
def test_each_plant_alone_gives_its_own_finding(code):
    city, manifest = synth(120, 11, {code: 1})
    found = check(city, "nanchang-2002")
    assert sorted(found["code"]) == sorted(manifest["code"])


def test_point_buildings_and_json_round_trip():
    from gis.findings import to_json

    city, manifest = synth(200, 9, PLANT_ALL, building_shape="point", buildings_per_grid=6)
    found = check(city, "nanchang-2002")
    assert set(found["code"]) == set(manifest["code"])
    doc = to_json(found)
    assert doc["summary"]["errors"] == int((found["severity"] == "error").sum())
    polygon = next(f["geometry"] for f in doc["findings"] if f["geometry"]["type"] == "Polygon")
    lon, lat = polygon["coordinates"][0][0]
    assert 113 < lon < 119 and 26 < lat < 31  # GeoJSON in WGS84, near Nanchang
