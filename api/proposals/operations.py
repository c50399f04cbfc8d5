"""Proposals made by ``gis.simulate``: rebalance, merge or split, as a street's new units."""

from __future__ import annotations

import geopandas as gpd

from api.errors import ProposalError
from gis.edit import in_street
from gis.model import City


def from_operation(city: City, street: str, op: dict, rules: str) -> tuple[str, gpd.GeoDataFrame]:
    """The level and the street's new units that ``gis.simulate`` proposes for ``op``."""
    from gis.simulate import PlanError, merge, rebalance, split

    kind = op["operation"]
    code = op.get("parent") if kind == "rebalance" else op.get("unit")
    if not code:
        raise ProposalError(f"{kind} needs {'parent' if kind == 'rebalance' else 'unit'}: a code of the street")
    comms = city["communities"]
    mine_c = set(comms.loc[comms["street_code"] == street, "code"])
    mine_g = set(city["grids"].loc[city["grids"]["community_code"].isin(mine_c), "code"])
    try:
        if kind == "rebalance":
            if code == street:
                level = "communities"
            elif code in mine_c:
                level = "grids"
            else:
                raise ProposalError(f"rebalance parent {code!r} is neither street {street} nor one of its communities")
            plan = rebalance(city, code, level=level, rules=rules)
        else:
            level = "communities" if code in mine_c else "grids" if code in mine_g else None
            if level is None:
                raise ProposalError(f"{kind} unit {code!r} is not a community or grid of street {street}")
            plan = merge(city, code, level=level, rules=rules) if kind == "merge" else \
                split(city, code, op.get("k"), level=level, rules=rules)
    except PlanError as e:
        raise ProposalError(f"{kind} {code}: {e}") from None
    new = plan.apply(city)
    return level, new[level][in_street(new, level, street)][["code", "name", new[level].geometry.name]]
