"""Facility kinds: their Chinese names, and the check that every facility has a known kind.

Examples
--------
>>> import geopandas as gpd
>>> from shapely import Point
>>> from gis.rules import load_rules
>>> f = gpd.GeoDataFrame({"code": ["F1", "F2"], "kind": ["shelter", "kindergarden"]}, geometry=[Point(0, 0)] * 2)
>>> known_kinds(f, load_rules())
Traceback (most recent call last):
...
gis.errors.InputError: layer facilities, feature F2: unknown facility kind 'kindergarden' (known: camera, elderly_station, fire_station, police_room, service_centre, shelter)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from gis.errors import InputError
from gis.rules import RuleSet

#: Chinese names of the facility kinds of DESIGN.md.
KINDS: dict[str, str] = {
    "service_centre": "社区综合服务中心", "elderly_station": "社区养老服务站", "police_room": "社区警务室",
    "shelter": "应急避难场所", "fire_station": "微型消防站", "camera": "视频监控",
}


def label(kind: str) -> str:
    """The Chinese name of ``kind`` (the kind itself when it has none)."""
    return KINDS.get(kind, kind)


def known_kinds(facilities: gpd.GeoDataFrame, rules: RuleSet) -> np.ndarray:
    """The ``kind`` of each facility, checked against ``KINDS`` and the kinds the rule set names."""
    if "kind" not in facilities:
        raise InputError("facilities have no 'kind' column", layer="facilities")
    known = set(KINDS) | {k for f in rules.facilities for k in f.kinds}
    kind = facilities["kind"].astype(object).to_numpy()
    bad = np.flatnonzero(~np.isin(kind, list(known)))
    if len(bad):
        i = bad[0]
        feature = facilities["code"].iloc[i] if "code" in facilities else i
        more = f" ({len(bad) - 1} more facilities too)" if len(bad) > 1 else ""
        raise InputError(f"unknown facility kind {kind[i]!r}{more} (known: {', '.join(sorted(known))})",
                         layer="facilities", feature=feature)
    return kind
