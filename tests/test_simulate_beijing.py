"""repair on the real Beijing streets (343 polygons with real overlaps, gaps and unmatched edges).

Area tolerance, derived rather than tuned: a unit may lose at most the overlaps it is part of and
gain at most those overlaps plus the enclosed gaps it borders; on top, vertex snapping may shift
its boundary by at most 1 cm (GEOS's automatic snapping distance is ~1e-9 of the extent, ~0.2 mm
here), i.e. 0.01 m × perimeter. Overlaps come from check's findings, gaps from the holes of a
plain union (independent of the cleaner).
"""

import numpy as np
import pytest
import shapely

from gis import check, read_city
from gis.simulate import repair

from conftest import BEIJING, ROOT

pytestmark = pytest.mark.skipif(not BEIJING.exists(), reason="shared/data/beijing-subdistricts not present")
SNAP_SHIFT_M = 0.01


@pytest.fixture(scope="module")
def repaired():
    city = read_city(ROOT / "data" / "beijing.toml")
    return city, check(city), repair(city, "streets")


def test_repaired_layer_is_a_valid_coverage_without_topology_errors(repaired):
    city, before, plan = repaired
    assert not shapely.coverage_is_valid(city.metric("streets").geometry.values)
    assert plan.summary["coverage_valid"] and plan.feasible
    new = plan.apply(city)
    assert shapely.coverage_is_valid(new.metric("streets").geometry.values)  # also after projecting back
    found = check(new)
    assert not (found["severity"] == "error").any()
    assert not found["code"].isin(["overlap", "gap", "sliver", "unmatched_edges"]).any()
    assert (before["code"] == "overlap").any() and plan.summary["gaps_before"] > 0
    assert plan.summary["gaps_after"] == 0


def test_no_unit_changes_more_than_its_overlaps_gaps_and_snapping(repaired):
    city, before, plan = repaired
    s = city.metric("streets")
    codes = s["code"].to_numpy(object)
    over = before[before["rule"].eq("不交叉") & before["code"].isin(["overlap", "sliver"])]
    over_area = {c: 0.0 for c in codes}
    for ids, a in zip(over["ids"], over["area_m2"]):
        for c in ids:
            over_area[c] += a
    union = shapely.union_all(s.geometry.values)
    holes = shapely.polygons([r for p in shapely.get_parts(union) for r in p.interiors])
    hi, ui = shapely.STRtree(s.geometry.values).query(holes, predicate="dwithin", distance=1.0)
    gap_area = np.bincount(ui, shapely.area(holes)[hi], len(s))
    ch = plan.changes
    gained = ch[ch["change"] == "gained"].groupby("unit")["area_m2"].sum().reindex(codes).fillna(0).to_numpy()
    lost = ch[ch["change"] == "lost"].groupby("unit")["area_m2"].sum().reindex(codes).fillna(0).to_numpy()
    ov = np.array([over_area[c] for c in codes])
    slack = SNAP_SHIFT_M * s.length.to_numpy() + 1.0  # + the 1 m² noise tolerance of the diff
    assert (lost <= ov + slack).all(), codes[lost > ov + slack]
    assert (gained <= ov + gap_area + slack).all(), codes[gained > ov + gap_area + slack]
    assert gained.sum() >= shapely.area(holes).sum() - 1.0  # every hole went to some unit
    sizes = plan.sizes
    assert len(sizes) == 343 and sizes["area_change_m2"].abs().max() == plan.summary["max_area_change_m2"]
