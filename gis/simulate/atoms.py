"""Atoms: the indivisible pieces a plan is built from, their sizes and their adjacency graph.

Units of a level are redrawn from the units one level down (communities from grids, streets from
communities): those are the atoms. Grids, the finest units, are redrawn from *enclosures*: their
land cut along the city's roads and barriers (``gis.simulate.enclosures``), so new grid lines follow
roads, rivers and railways; a building polygon such a line would cut locks its pieces together.
Each atom's households and residents are counted from the
buildings whose representative point lies in it (spatially, not from declared codes, so a plan
counts every household exactly once). Two atoms are neighbours when they share a boundary of
positive length (rook contiguity); the shared length weights the edge.

An estate (小区) is never split: atoms of one unit that hold buildings of the same estate and are
neighbours are locked into one *block*, and plans move whole blocks. Estate names repeat (many
cities have several 铁路新村), so an estate is a name within one unit and one connected group of
atoms; an estate already divided between two units is reported (``estates_split``), not forced
together.

Examples
--------
>>> from gis.synth import synth
>>> city, _ = synth(60, seed=1)
>>> street = city["streets"]["code"].iloc[0]
>>> a = atoms(city, "communities", parent=street)
>>> a.child, int(a.frame["households"].sum()) == int(a.frame["households"].sum())
('grids', True)
>>> bool((a.length > 0).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.errors import InputError
from gis.model import LEVELS, PARENT, City
from gis.simulate.enclosures import enclosures


class PlanError(InputError):
    """A plan that cannot be made: unknown unit or level, no atoms (CLI exit 2)."""


def child_level(level: str) -> str:
    """The level whose units are the atoms of ``level`` (``communities`` → ``grids``)."""
    if level not in LEVELS[:-1]:
        raise PlanError(f"cannot redraw {level!r} from atoms; levels with a level below: {', '.join(LEVELS[:-1])}")
    return LEVELS[LEVELS.index(level) + 1]


def adjacency(geoms, min_length: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs ``i < j`` of polygons sharing a boundary longer than ``min_length`` and its length.

    One STRtree query and one vectorised intersection of boundaries; corners touching at a point
    are not neighbours.

    >>> from shapely import box
    >>> i, j, length = adjacency([box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 1, 3, 2)])
    >>> i.tolist(), j.tolist(), length.tolist()
    ([0], [1], [1.0])
    """
    geoms = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    bounds = shapely.boundary(geoms)
    length = shapely.length(shapely.intersection(bounds[a], bounds[b]))
    keep = length > min_length
    return a[keep], b[keep], length[keep]


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected-component label of each of ``n`` nodes of the graph with edges (i, j)."""
    g = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(g, directed=False)[1]


@dataclass(eq=False)
class Atoms:
    """The atoms of some units of ``level`` (metric CRS) and their graph.

    ``frame`` has one row per atom: ``code``, ``unit`` (the unit of ``level`` it belongs to now),
    ``households``, ``residents``, ``buildings``, ``facilities`` (of its own unit, inside it),
    ``block`` (estate lock group, see the module docstring) and the geometry. ``i``, ``j``, ``length`` are the neighbour pairs (positions in
    ``frame``) and their shared boundary in metres.
    """

    level: str
    child: str
    parent: str | None
    frame: gpd.GeoDataFrame
    i: np.ndarray
    j: np.ndarray
    length: np.ndarray
    estates_split: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        return {m: self.frame[m].to_numpy(np.int64) for m in ("households", "residents")}

    def is_coverage(self) -> bool:
        """True when the atoms form a valid polygonal coverage (shared edges match exactly)."""
        return bool(shapely.coverage_is_valid(self.frame.geometry.values))

    def union(self, mask: np.ndarray) -> shapely.Geometry:
        """The union of the atoms selected by ``mask`` (GEOS coverage union when they tile exactly)."""
        g = np.asarray(self.frame.geometry.values)[mask]
        return shapely.coverage_union_all(g) if self._coverage else shapely.union_all(g)

    @cached_property
    def _coverage(self) -> bool:
        return self.is_coverage()

    def connected(self, mask: np.ndarray) -> bool:
        """Whether the atoms selected by ``mask`` form one connected piece of the atom graph."""
        idx = np.flatnonzero(mask)
        if len(idx) <= 1:
            return len(idx) == 1
        pos = np.full(len(self.frame), -1)
        pos[idx] = np.arange(len(idx))
        keep = mask[self.i] & mask[self.j]
        return components(len(idx), pos[self.i[keep]], pos[self.j[keep]]).max() == 0


def atoms(city: City, level: str = "communities", *, parent: str | None = None,
          units: list[str] | None = None, exclude=()) -> Atoms:
    """The atoms of the units of ``level`` under ``parent`` (a code of the level above), or of the
    units whose codes are listed in ``units``, or of the whole level; units in ``exclude`` left out.

    Membership comes from the atoms' declared parent codes (``grids.community_code``; for
    enclosures, the grid they were cut from); sizes from the buildings inside each atom.
    """
    finest = level == LEVELS[-1]
    child = "enclosures" if finest else child_level(level)
    if level not in city or not finest and child not in city:
        raise PlanError(f"the city has no {level} or no {child} layer")
    mine = city.metric(level)
    if parent is not None:
        up_col = PARENT.get(level, (None, None))[1]
        if up_col is None or up_col not in mine:
            raise PlanError(f"{level} have no parent column to select {parent!r} by")
        if parent not in set(city[PARENT[level][0]]["code"]):
            raise PlanError(f"no {PARENT[level][0]} with code {parent!r}")
        codes = mine.loc[mine[up_col] == parent, "code"]
    elif units is not None:
        unknown = sorted(set(units) - set(mine["code"]))
        if unknown:
            raise PlanError(f"no {level} with code(s) {', '.join(map(str, unknown))}")
        codes = pd.Series(units)
    else:
        codes = mine["code"]
    codes = codes[~codes.isin(set(exclude))]
    if finest:
        lines = [np.asarray(city.metric(k).geometry.values) for k in ("roads", "barriers") if k in city]
        if not lines:
            raise PlanError(f"{level} are the finest units: redrawing them needs a roads or barriers layer "
                            f"to cut new lines along")
        sel = enclosures(mine[mine["code"].isin(set(codes))].reset_index(drop=True), np.concatenate(lines))
        col = "unit"
    else:
        col = PARENT[child][1]
        kids = city.metric(child)
        if col not in kids:
            raise PlanError(f"{child} have no {col} column")
        sel = kids[kids[col].isin(set(codes))].reset_index(drop=True)
    if not len(sel):
        raise PlanError(f"no {child} inside the selected {level}")
    geoms = np.asarray(sel.geometry.values)
    frame = gpd.GeoDataFrame({"code": sel["code"].to_numpy(object), "unit": sel[col].to_numpy(object)},
                             geometry=geoms, crs=city.metric_crs)
    hh = np.zeros(len(sel), np.int64)
    res = np.zeros(len(sel), np.int64)
    nb = np.zeros(len(sel), np.int64)
    owner = np.zeros(0, np.int64)
    b = None
    if "buildings" in city and len(city["buildings"]):
        b = city.metric("buildings")
        pts = shapely.point_on_surface(np.asarray(b.geometry.values))
        bi, ai = shapely.STRtree(geoms).query(pts, predicate="intersects")
        first = np.r_[True, bi[1:] != bi[:-1]] if len(bi) else np.zeros(0, bool)  # one atom per building
        bi, ai = bi[first], ai[first]
        owner = np.full(len(b), -1)
        owner[bi] = ai
        hh = np.bincount(ai, b["households"].to_numpy(np.int64)[bi], len(sel)).astype(np.int64)
        if "residents" in b:
            res = np.bincount(ai, b["residents"].to_numpy(np.int64)[bi], len(sel)).astype(np.int64)
        nb = np.bincount(ai, minlength=len(sel))
    frame["households"], frame["residents"], frame["buildings"] = hh, res, nb
    frame["facilities"] = _own_facilities(city, level, frame)
    i, j, length = adjacency(geoms)
    block, split = _blocks(frame, i, j, b, owner, _straddled(geoms, b) if finest and b is not None else None)
    frame["block"] = block
    frame = frame[["code", "unit", "households", "residents", "buildings", "facilities", "block", "geometry"]]
    return Atoms(level, child, parent, frame, i, j, length, split)


def _own_facilities(city: City, level: str, frame: gpd.GeoDataFrame) -> np.ndarray:
    """Per atom: facilities inside it (representative point) that belong to the atom's own unit
    (``facilities.community_code`` when redrawing communities; 0 at other levels, where facilities
    name no unit of the level)."""
    out = np.zeros(len(frame), np.int64)
    col = PARENT["facilities"][1]
    if "facilities" not in city or PARENT["facilities"][0] != level or not len(city["facilities"]):
        return out
    f = city.metric("facilities")
    if col not in f:
        return out
    fi, ai = shapely.STRtree(np.asarray(frame.geometry.values)).query(
        shapely.point_on_surface(np.asarray(f.geometry.values)), predicate="intersects")
    own = f[col].to_numpy(object)[fi] == frame["unit"].to_numpy(object)[ai]
    return np.bincount(ai[own], minlength=len(frame)).astype(np.int64)


def _straddled(geoms, buildings, share: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of atoms that one building polygon straddles (more than ``share`` of its area on each
    side): a line must not cut through it, so they move together."""
    bg = np.asarray(buildings.geometry.values)
    bi, ai = shapely.STRtree(geoms).query(bg, predicate="intersects")
    area = shapely.area(bg[bi])
    keep = shapely.area(shapely.intersection(bg[bi], geoms[ai])) > share * np.where(area > 0, area, np.inf)
    bi, ai = bi[keep], ai[keep]
    first = np.r_[True, bi[1:] != bi[:-1]] if len(bi) else np.zeros(0, bool)
    head = ai[first][np.cumsum(first) - 1]  # the first atom of the same building
    pair = ai != head
    return head[pair], ai[pair]


def _blocks(frame, i, j, buildings, owner, straddled=None) -> tuple[np.ndarray, pd.DataFrame]:
    """Estate lock groups of atoms (and of atoms a building straddles), and the estates already
    divided between units."""
    n = len(frame)
    empty = pd.DataFrame(columns=["estate", "units", "atoms"])
    unit = frame["unit"].to_numpy(object)
    si, sj = straddled if straddled is not None else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    same_s = unit[si] == unit[sj]
    si, sj = si[same_s], sj[same_s]
    if buildings is None or "estate" not in buildings or not (owner >= 0).any():
        return np.unique(components(n, si, sj), return_inverse=True)[1], empty
    inside = owner >= 0
    est = buildings["estate"].to_numpy(object)[inside]
    pairs = pd.DataFrame({"atom": owner[inside], "estate": est}).dropna()
    pairs = pairs[pairs["estate"].astype(str).str.strip() != ""].drop_duplicates()
    by_atom = pairs.groupby("atom")["estate"].agg(set)
    sets = [by_atom.get(k, set()) for k in range(n)]
    shared = np.array([bool(sets[a] & sets[b]) for a, b in zip(i, j)], dtype=bool)  # per edge: few
    same = unit[i] == unit[j]
    lock = shared & same
    block = components(n, np.r_[i[lock], si], np.r_[j[lock], sj])
    cross = shared & ~same
    rows = [{"estate": e, "units": sorted({unit[a], unit[b]}), "atoms": sorted({frame["code"].iat[a],
                                                                                frame["code"].iat[b]})}
            for a, b in zip(i[cross], j[cross]) for e in sorted(sets[a] & sets[b])]
    return np.unique(block, return_inverse=True)[1], pd.DataFrame(rows, columns=empty.columns)
