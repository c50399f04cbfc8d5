"""A street's new units put into its city: :func:`proposed_city`.

What a redraw proposal does when it is applied: the street's units of one level replaced, and what
hangs on them (the level below, facilities, the declared counts) made to follow.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.edit.units import containing, in_street, totals
from gis.model import PARENT, SCHEMA, City

#: Coordinates (in the city's CRS) within this of the stored ones are the unit unchanged.
SAME_TOLERANCE = 1e-3


def proposed_city(city: City, street: str, level: str, units: gpd.GeoDataFrame) -> tuple[City, list[str]]:
    """``city`` with the street's units of ``level`` replaced by ``units``, and the layers that changed.

    Units whose code exists keep their other attributes, new codes take them from the old unit they
    overlap most; removed codes disappear. The units of the level below (grids of communities,
    buildings of grids) and the facilities whose containing unit changed get the code of the new one
    (by a point on their surface); the declared households and residents of changed units become the
    totals of their buildings.

    Parameters
    ----------
    city : gis.model.City
        The city as it is.
    street : str
        The street's code.
    level : {"communities", "grids"}
        The layer of ``units``.
    units : geopandas.GeoDataFrame
        The full new set of the street's units of ``level``: ``code``, ``name`` (None: keep the
        stored name), geometry.

    Returns
    -------
    city : gis.model.City
        The new city (``city`` itself is not changed).
    changed : list of str
        The layers that changed, sorted ([] when nothing did).

    Examples
    --------
    >>> from gis import read_city
    >>> city = read_city("data/sample.gpkg")
    >>> grids = city["grids"][in_street(city, "grids", "360102001000")][["code", "name", "geometry"]]
    >>> proposed_city(city, "360102001000", "grids", grids)[1]
    []
    >>> renamed = grids.assign(name=grids["name"] + "（新）")
    >>> new, changed = proposed_city(city, "360102001000", "grids", renamed)
    >>> changed, bool(new["grids"]["name"].str.endswith("（新）").sum() == len(grids))
    (['grids'], True)
    """
    layers = {k: v.copy() for k, v in city.layers.items()}
    lay = layers[level]
    geom = lay.geometry.name
    mine = in_street(city, level, street)
    old = lay[mine]
    old_by_code = old.drop_duplicates("code").set_index("code")
    units = units.to_crs(lay.crs)
    parent_col = PARENT[level][1]
    if level == "communities":
        parents = np.full(len(units), street, dtype=object)
    else:
        comms = city["communities"][city["communities"]["street_code"] == street]
        areas = {c: g for c, g in zip(comms["code"], comms.geometry.values)}
        parents = np.array([max(areas, key=lambda c: shapely.area(shapely.intersection(g, areas[c])))
                            if areas else None for g in units.geometry.values], dtype=object)
    new_rows, changed, renamed = {}, [], []
    for code, name, g, parent in zip(units["code"], units["name"], units.geometry.values, parents):
        if code in old_by_code.index:
            row = old_by_code.loc[code].to_dict()
            if not shapely.equals_exact(row[geom], g, tolerance=SAME_TOLERANCE):
                row[geom] = g
                row[parent_col] = parent
                changed.append(code)
        else:  # a new unit takes the attributes of the old unit it overlaps most
            overlap = shapely.area(shapely.intersection(np.asarray(old.geometry.values, dtype=object), g))
            src = old.iloc[int(np.argmax(overlap))].to_dict() if len(old) and overlap.max() > 0 else {}
            row = {c: src.get(c) for c in lay.columns if c not in ("code", "name", geom)}
            row.update({geom: g, parent_col: parent, "name": None})
            changed.append(code)
        row["code"] = code
        if name is not None:
            if name != row.get("name"):
                renamed.append(code)
            row["name"] = name
        new_rows[code] = row
    removed = [c for c in old["code"] if c not in new_rows]
    # the level: the street's units in place (kept order), removed dropped, new ones appended
    out_rows, seen = [], set()
    for i, (is_mine, code) in enumerate(zip(mine, lay["code"])):
        if not is_mine:
            out_rows.append(lay.iloc[i].to_dict())
        elif code in new_rows and code not in seen:
            out_rows.append(new_rows[code])
            seen.add(code)
    out_rows += [r for c, r in new_rows.items() if c not in seen]
    new_lay = gpd.GeoDataFrame(pd.DataFrame(out_rows, columns=list(lay.columns)), geometry=geom, crs=lay.crs)
    touched = set(changed) | set(removed)
    if not touched and not renamed:
        return City(layers, source=city.source, metric_crs=city.metric_crs), []
    changed_layers = [level]
    # children whose containing unit changed: the code of the new one
    child = "grids" if level == "communities" else "buildings"
    street_area = shapely.union_all(np.asarray(
        city["streets"].loc[city["streets"]["code"] == street].geometry.values, dtype=object))
    new_mine = new_lay[new_lay["code"].isin(new_rows.keys())]
    for name, col in ((child, PARENT[child][1]), ("facilities", "community_code")):
        if name not in layers or (name == "facilities" and level != "communities"):
            continue
        kids = layers[name]
        gs = np.asarray(kids.geometry.values, dtype=object)
        near = np.asarray(shapely.intersects(gs, street_area), bool) & ~shapely.is_missing(gs)
        if not near.any():
            continue
        before = containing(old, gs[near])
        after = containing(new_mine, gs[near])
        moved = np.array([a is not None and a != b for a, b in zip(after, before)], bool)
        if col not in kids.columns:
            kids[col] = None
        idx = kids.index[near][moved]
        if len(idx):
            kids[col] = kids[col].astype(object)
            kids.loc[idx, col] = after[moved]
            changed_layers.append(name)
    # declared households/residents of changed units: the totals of their buildings
    if touched and "buildings" in layers:
        sums = totals(new_lay[new_lay["code"].isin(changed)], layers["buildings"])
        for m in ("households", "residents"):
            if m in new_lay.columns:
                hit = new_lay["code"].isin(changed)
                new_lay[m] = new_lay[m].astype(object)
                new_lay.loc[hit, m] = new_lay.loc[hit, "code"].map(sums[m]).to_numpy()
    for name in set(changed_layers) | {level}:
        frame = new_lay if name == level else layers[name]
        for c, kind in SCHEMA[name].items():
            if c in frame.columns and kind == "int":
                frame[c] = pd.to_numeric(frame[c], errors="coerce").round().astype("Int64")
        layers[name] = frame
    return City(layers, source=city.source, metric_crs=city.metric_crs), sorted(set(changed_layers))
