"""The units of one plan as numbers (:class:`Context`), and which units a plan must leave alone.

Every operation (merge, split, rebalance, redraw) selects atoms, labels each with a unit, and asks
its ``Context`` for the plan. Units in ``fixed`` and of a kind in ``keep_kinds`` (``held``) are left
out of the atoms, so no operation moves them.

The operations share one signature, ``op(city, target, *, level, rules, fixed, keep_kinds, ...)``:
the target (the parent or the unit acted on) positional, then these keywords, then the operation's
own (``k``, ``seed``, ``tries``, ``max_moves``, ``parent``; split also takes ``k`` positionally):

``level`` : str
    The level of the units changed (default ``communities``).
``rules`` : str or RuleSet
    The rule set, or its name or path (default :data:`gis.rules.DEFAULT_RULES`).
``fixed`` : collection of str
    Codes of units of the same parent to leave exactly as they are (default none).
``keep_kinds`` : collection of str
    Kinds of unit to leave as they are unless named as the target (default :data:`KEEP_KINDS`).

``repair`` and ``fit_parent`` act on a whole level (``repair(city, level, rules)``): they clean
topology rather than move atoms between units, so they have no target, ``fixed`` or ``keep_kinds``.

Examples
--------
>>> from gis.synth import synth
>>> city, _ = synth(60, seed=1)
>>> held(city, "communities", "360102001000")  # 008 is a work-unit community
['360102001008']
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.model import LABELS, PARENT, City
from gis.noding import node_neighbours
from gis.rules import RuleSet
from gis.simulate.atoms import Atoms, PlanError
from gis.simulate.bounds import unit_bounds, violation
from gis.simulate.plan import Plan, build

#: Attributes a new unit inherits from the unit it comes from.
INHERIT = ("kind", "has_committee", "district_code", "basis")
#: Kinds of unit a plan leaves whole unless told otherwise: a work-unit community (单位型社区) is its
#: enterprise's or institution's, not land to share out.
KEEP_KINDS = ("work_unit",)


def held(city: City, level: str, parent: str | None, fixed=(), keep_kinds=KEEP_KINDS) -> list[str]:
    """Codes of the units of ``level`` under ``parent`` a plan must leave exactly as they are: those
    in ``fixed`` and those whose ``kind`` is in ``keep_kinds``.

    Parameters
    ----------
    city : City
        The city.
    level : str
        The level of the units.
    parent : str or None
        Code of their parent (None: the whole level).
    fixed : collection of str
        Codes to leave as they are; each must be a unit of ``level`` under ``parent``.
    keep_kinds : collection of str
        Kinds of unit to leave as they are (default :data:`KEEP_KINDS`).

    Returns
    -------
    list of str
        Sorted codes.

    Raises
    ------
    PlanError
        A code in ``fixed`` is not a unit of ``level`` under ``parent``.

    Examples
    --------
    >>> from gis.synth import synth
    >>> city, _ = synth(60, seed=1)
    >>> held(city, "communities", "360102001000", fixed=["360102001002"])  # 008 is a work-unit community
    ['360102001002', '360102001008']
    """
    units_l = city[level]
    up_col = PARENT[level][1]
    mine = units_l[units_l[up_col] == parent] if parent is not None and up_col in units_l else units_l
    unknown = sorted(set(fixed) - set(mine["code"]))
    if unknown:
        where = f" in {parent}" if parent is not None else ""
        raise PlanError(f"fixed {level} not found{where}: {', '.join(map(str, unknown))}")
    kind = mine["kind"].isin(set(keep_kinds)).to_numpy() if "kind" in mine else np.zeros(len(mine), bool)
    return sorted(set(fixed) | set(mine["code"].to_numpy(object)[kind]))


class Context:
    """The units of one plan as numbers: every operation relabels atoms and hands the labels here.

    Units are numbered ``0..n-1`` in ``codes`` (``index`` maps back); a labelling gives each atom
    (row of ``atoms.frame``) the number of its unit. ``label0`` is the current one; ``lo``, ``hi``
    and ``measure`` the bounds of each unit (:func:`gis.simulate.bounds.unit_bounds`), ``w`` the
    atoms' weights in the measure of the first unit, ``block`` each atom's estate block.
    :meth:`add_unit` appends a new unit like an existing one; :meth:`plan` turns a labelling into
    a :class:`~gis.simulate.plan.Plan`.

    Parameters
    ----------
    city : City
        The city.
    a : Atoms
        The atoms of the units to redraw (:func:`gis.simulate.atoms.atoms`).
    level : str
        Their level.
    rules : RuleSet
        The rule set the bounds and findings come from.

    Examples
    --------
    >>> from gis.rules import load_rules
    >>> from gis.synth import synth
    >>> from gis.simulate.atoms import atoms
    >>> city, _ = synth(60, seed=1)
    >>> a = atoms(city, "communities", parent="360102001000")
    >>> ctx = Context(city, a, "communities", load_rules("nanchang-2002"))
    >>> ctx.codes[:2], ctx.word, int(ctx.sizes(ctx.label0)[0])
    (['360102001001', '360102001002'], '户', 1258)
    >>> plan = ctx.plan("rebalance", ctx.label0.copy(), [], {})  # every atom where it is
    >>> plan.summary["households_moved"], plan.summary["units_after"] == len(ctx.codes)
    (0, True)
    """

    def __init__(self, city: City, a: Atoms, level: str, rules: RuleSet):
        self.city, self.atoms, self.level, self.rules = city, a, level, rules
        units_l = city.metric(level)
        self.before = units_l[units_l["code"].isin(set(a.frame["unit"]))].reset_index(drop=True)
        self.codes = list(self.before["code"])
        self.label0_codes = list(self.codes)
        self.index = {c: i for i, c in enumerate(self.codes)}
        self.meta = {c: {} for c in self.codes}
        bd = unit_bounds(self.before, level, rules)
        self.measure = bd["measure"].to_numpy(object)
        self.lo = list(bd["min"].to_numpy(float))
        self.hi = list(bd["max"].to_numpy(float))
        m = self.measure[0] if len(self.measure) else "households"
        self.m = m
        self.w = a.weights[m].astype(float)
        self.block = a.frame["block"].to_numpy()
        self.label0 = np.array([self.index[u] for u in a.frame["unit"]], dtype=np.int64)
        self.before_size = self.sizes(self.label0)

    @property
    def word(self) -> str:
        """The measure's word in messages: 户 (households) or 人 (residents)."""
        return "户" if self.m == "households" else "人"

    def label(self, code) -> str:
        """'社区 name(code)' of a unit before the plan, for messages."""
        row = self.before[self.before["code"] == code]
        name = row["name"].iloc[0] if len(row) and "name" in row and isinstance(row["name"].iloc[0], str) else ""
        return f"{LABELS[self.level]} {name}({code})" if name else f"{LABELS[self.level]} {code}"

    def sizes(self, label) -> np.ndarray:
        """Weight of each unit under ``label``."""
        return np.bincount(label, self.w, len(self.codes))

    def violation_of(self, label, units: set) -> float:
        """Total size violation of ``units`` under ``label``."""
        idx = sorted(units)
        size = self.sizes(label)[idx]
        return float(violation(size, np.array(self.lo)[idx], np.array(self.hi)[idx]).sum())

    def touching(self, label, mask, exclude=None) -> dict[int, float]:
        """Units (other than those in ``mask``) adjacent to the atoms of ``mask``, with shared length."""
        a = self.atoms
        out: dict[int, float] = {}
        for x, y in ((a.i, a.j), (a.j, a.i)):
            hit = mask[x] & ~mask[y]
            for v, length in zip(label[y[hit]], a.length[hit]):
                if v != exclude:
                    out[int(v)] = out.get(int(v), 0.0) + float(length)
        return out

    def shared_with(self, label, k) -> dict[int, float]:
        """Units adjacent to unit ``k`` under ``label``, with shared length."""
        return self.touching(label, label == k, exclude=k)

    def new_codes(self, like: str, n: int) -> list[str]:
        """``n`` unused codes for units like ``like``: the next numbers of its series, else ``like-2``…"""
        taken = set(self.city[self.level]["code"].astype(str))
        out = []
        siblings = [c for c in self.codes if isinstance(c, str) and c.isdigit() and len(c) == len(like)]
        if like.isdigit() and siblings:
            nxt = max(int(c) for c in taken if c.isdigit() and len(c) == len(like) and c[:-3] == like[:-3]) + 1
            while len(out) < n:
                c = str(nxt).zfill(len(like))
                if c not in taken and c[:-3] == like[:-3]:
                    out.append(c)
                    taken.add(c)
                nxt += 1
                if c[:-3] != like[:-3]:
                    break
        i = 2
        while len(out) < n:
            c = f"{like}-{i}"
            if c not in taken:
                out.append(c)
                taken.add(c)
            i += 1
        return out

    def add_unit(self, code: str, like: str, suffix: str) -> int:
        """Append unit ``code`` with the bounds of ``like`` (named like it plus ``suffix``); its number."""
        self.codes.append(code)
        self.index[code] = len(self.codes) - 1
        self.meta[code] = {"like": like, "suffix": suffix}
        k = self.index[like]
        self.lo.append(self.lo[k])
        self.hi.append(self.hi[k])
        self.measure = np.append(self.measure, self.measure[k])
        return self.index[code]

    def block_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs ``i < j`` of neighbouring estate blocks and the length of their shared border."""
        a = self.atoms
        bi, bj = self.block[a.i], self.block[a.j]
        keep = bi != bj
        lo_, hi_ = np.minimum(bi, bj)[keep], np.maximum(bi, bj)[keep]
        df = pd.DataFrame({"i": lo_, "j": hi_, "length": a.length[keep]}).groupby(["i", "j"], as_index=False).sum()
        return df["i"].to_numpy(), df["j"].to_numpy(), df["length"].to_numpy()

    def _leftovers(self, label: np.ndarray, src: gpd.GeoDataFrame) -> dict[int, list]:
        """Land of the units before that none of their atoms covers (a gap the city already had at
        the atom level), piece by piece, given to the unit now holding the atom it borders longest:
        so a plan moves atoms and never turns an existing gap below into a new one at this level."""
        a = self.atoms
        out: dict[int, list] = {}
        geoms = np.asarray(a.frame.geometry.values)
        tree = shapely.STRtree(geoms)
        for k, code in enumerate(self.label0_codes):
            rest = shapely.difference(src.loc[code].geometry, a.union(self.label0 == k))
            for piece in shapely.get_parts(rest):
                if shapely.get_type_id(piece) != 3 or shapely.area(piece) <= self.rules.area_tolerance:
                    continue
                near = tree.query(piece, predicate="intersects")
                if not len(near):
                    continue
                shared = shapely.length(shapely.intersection(shapely.boundary(geoms[near]), piece.boundary))
                out.setdefault(int(label[near[np.argmax(shared)]]), []).append(piece)
        return out

    def _noded(self, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
        """Units of the level this plan does not redraw, with the vertices where new lines end on
        their edges inserted (:func:`gis.noding.node_neighbours`); None when no unit needs one."""
        redrawn = units[units["status"].isin(["changed", "new"])]
        if not len(redrawn):
            return None
        lay = self.city.metric(self.level)
        others = lay[~lay["code"].isin(set(redrawn["code"]))]
        og = np.asarray(others.geometry.values)
        near = np.unique(shapely.STRtree(og).query(np.asarray(redrawn.geometry.values), predicate="intersects")[1])
        out = node_neighbours(np.asarray(redrawn.geometry.values), og[near])
        grew = shapely.get_num_coordinates(out) != shapely.get_num_coordinates(og[near])
        if not grew.any():
            return None
        return gpd.GeoDataFrame({"code": others["code"].to_numpy(object)[near][grew]}, geometry=out[grew],
                                crs=units.crs)

    def plan(self, operation: str, label: np.ndarray, causes: list[str], extra: dict,
             scope: str = "changed") -> Plan:
        """The plan that gives each atom the unit ``label`` names (:func:`gis.simulate.plan.build`):
        ``causes`` what the operation could not do, ``extra`` its own summary entries, ``scope``
        whose bounds count (``changed`` units or ``all``)."""
        a, crs = self.atoms, self.atoms.frame.crs
        fr = a.frame
        up_col = PARENT[self.level][1]
        before = self.before.copy()
        hh0 = np.bincount(self.label0, fr["households"], len(self.codes)).astype(np.int64)
        res0 = np.bincount(self.label0, fr["residents"], len(self.codes)).astype(np.int64)
        n0 = len(self.label0_codes)
        before["households"], before["residents"] = hh0[:n0], res0[:n0]
        before["status"] = "before"
        hh = np.bincount(label, fr["households"], len(self.codes)).astype(np.int64)
        res = np.bincount(label, fr["residents"], len(self.codes)).astype(np.int64)
        rows, geoms = [], []
        src = before.set_index("code")
        leftover = self._leftovers(label, src)
        for i, code in enumerate(self.codes):
            mine, was = label == i, self.label0 == i
            like = self.meta[code].get("like", code)
            base = src.loc[like]
            row = {"code": code, "households": hh[i], "residents": res[i]}
            for c in ("name", up_col, *INHERIT):
                if c in src.columns:
                    row[c] = base[c]
            if code != like:
                row["name"] = f"{base['name']}{self.meta[code]['suffix']}" if isinstance(base.get("name"), str) else None
            if not mine.any():
                row["status"], g = "removed", shapely.Polygon()
            elif (mine == was).all():
                row["status"], g = "kept", src.loc[code].geometry
            else:
                row["status"] = "new" if i >= n0 else "changed"
                g = shapely.union_all([a.union(mine), *leftover.get(i, [])])
            rows.append(row)
            geoms.append(g)
        units = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=crs)
        moved = label != self.label0
        codes = np.array(self.codes, dtype=object)
        moves = gpd.GeoDataFrame({"code": fr["code"].to_numpy(object)[moved],
                                  "from": codes[self.label0[moved]], "to": codes[label[moved]],
                                  "households": fr["households"].to_numpy()[moved],
                                  "residents": fr["residents"].to_numpy()[moved]},
                                 geometry=np.asarray(fr.geometry.values)[moved], crs=crs)
        bounds = pd.DataFrame({"measure": self.measure, "min": self.lo, "max": self.hi},
                              index=pd.Index(self.codes, name="code"))
        contiguous = all(a.connected(label == i) for i in range(len(self.codes)) if (label == i).any())
        summary = {**extra, "causes": list(causes), "contiguous": contiguous,
                   "estates_already_split": a.estates_split.to_dict("records")}
        noded = self._noded(units) if a.child == "enclosures" else None
        plan = build(operation, self.level, a.parent or _parent_of(self.before, up_col), self.rules, self.city,
                     before, units, moves, bounds, summary, scope, noded)
        if plan.summary["out_of_bounds"] and not causes:
            plan.summary["causes"] = [f"{self.label(c)} 超出规模范围" for c in plan.summary["out_of_bounds"]]
        return plan


def _parent_of(units, col):
    vals = set(units[col]) if col in units else set()
    return vals.pop() if len(vals) == 1 else None


__all__ = ["INHERIT", "KEEP_KINDS", "Context", "held"]
