"""Merge and split units of a level by reassigning their atoms (``gis.simulate.atoms``).

Every result unit is a union of whole atoms (so new lines follow atom edges: the roads between
grids; no building is cut), every estate block moves whole, each unit is one connected piece of
the atom graph, and households are conserved because each building is counted in exactly one atom.
Size bounds come from the rule set (the first size rule of the level matching each unit, as in
``check``). When no plan meets the bounds the best one is returned with ``summary["feasible"]``
False, the causes named in ``summary["causes"]`` and the remaining size findings in its findings.

Examples
--------
>>> from gis.synth import synth
>>> city, _ = synth(300, seed=2, plant={"size_above": 1})
>>> plan = split(city, "360102003001", rules="nanchang-2002")
>>> plan.summary["feasible"], plan.summary["units_after"]
(True, 2)
>>> city, _ = synth(300, seed=1, plant={"size_above": 1})  # five whole grids of 470: no 2 parts ≥ 1,000
>>> plan = split(city, "360102002016", rules="nanchang-2002")
>>> plan.feasible, "不可分" in plan.summary["causes"][0]
(False, True)
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

from gis.model import LABELS, PARENT, City
from gis.noding import node_neighbours
from gis.review import size_table
from gis.rules import DEFAULT_RULES, RuleSet, load_rules
from gis.simulate.atoms import Atoms, PlanError, atoms, components
from gis.simulate.measures import polsby_popper
from gis.simulate.plan import Plan, build

#: Attributes a new unit inherits from the unit it comes from.
INHERIT = ("kind", "has_committee", "district_code", "basis")
#: Kinds of unit a plan leaves whole unless told otherwise: a work-unit community (单位型社区) is its
#: enterprise's or institution's, not land to share out.
KEEP_KINDS = ("work_unit",)


def held(city: City, level: str, parent: str | None, fixed=(), keep_kinds=KEEP_KINDS) -> list[str]:
    """Codes of the units of ``level`` under ``parent`` a plan must leave exactly as they are: those
    in ``fixed`` and those whose ``kind`` is in ``keep_kinds``.

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


def unit_bounds(units: pd.DataFrame, level: str, rules: RuleSet) -> pd.DataFrame:
    """Per unit code: the ``measure``, ``min`` and ``max`` a plan balances — the unit's primary
    size rule (:func:`gis.review.size_table`; NaN bounds where no rule applies).

    >>> import pandas as pd
    >>> u = pd.DataFrame({"code": ["A", "B"], "kind": ["territorial", "work_unit"], "has_committee": [True, True]})
    >>> unit_bounds(u, "communities", load_rules("nanchang-2002"))[["min", "max"]].values.tolist()
    [[1000.0, 2000.0], [1000.0, nan]]
    """
    out = pd.DataFrame({"measure": "households", "min": np.nan, "max": np.nan},
                       index=pd.Index(units["code"].to_numpy(object), name="code"))
    table = size_table(units, level, rules)
    primary = table[table["primary"].astype(bool)]
    rows = primary.index.to_numpy()
    out.iloc[rows, 0] = primary["measure"].to_numpy()
    out.iloc[rows, 1] = primary["min"].to_numpy(float)
    out.iloc[rows, 2] = primary["max"].to_numpy(float)
    return out


def violation(value, lo, hi) -> np.ndarray:
    """How far each value is outside [lo, hi] (0 inside; NaN bounds are open)."""
    value = np.asarray(value, float)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    lo = np.where(np.isnan(lo), -np.inf, lo) if lo.ndim else (-np.inf if np.isnan(lo) else float(lo))
    hi = np.where(np.isnan(hi), np.inf, hi) if hi.ndim else (np.inf if np.isnan(hi) else float(hi))
    return np.maximum(lo - value, 0) + np.maximum(value - hi, 0)


# ---- merge ---------------------------------------------------------------------------------------

def merge(city: City, unit: str | list[str] | None = None, *, level: str = "communities",
          parent: str | None = None, rules: str | RuleSet = DEFAULT_RULES, fixed=(),
          keep_kinds=KEEP_KINDS) -> Plan:
    """Merge units below their minimum into neighbours of the same parent.

    Each unit (the given ones, else every unit of ``parent`` below its minimum, smallest first)
    goes whole to the neighbour that best fixes sizes: a result within bounds first, then the
    longest shared boundary, then the smallest result. When no neighbour can take it whole
    within bounds, the unit is dissolved: its estate blocks go one by one, each to an adjacent
    unit with room, longest shared edge first (every receiver stays connected, since it only
    gains blocks touching it). If neither works the variant with the smaller size violation is
    kept and the cause is named. Units in ``fixed`` or of a kind in ``keep_kinds`` (see ``held``)
    are neither merged away nor receive land — unless named in ``unit`` (a kind), which a planner
    does on purpose; naming a ``fixed`` unit is an error.
    """
    rules = load_rules(rules)
    units_l = city.metric(level)
    up_col = PARENT[level][1]
    if unit is not None:
        wanted = [unit] if isinstance(unit, str) else list(unit)
        unknown = sorted(set(wanted) - set(units_l["code"]))
        if unknown:
            raise PlanError(f"no {level} with code(s) {', '.join(unknown)}")
        parents = set(units_l.loc[units_l["code"].isin(wanted), up_col])
        if len(parents) != 1:
            raise PlanError(f"units to merge must share one parent; these have {sorted(map(str, parents))}")
        parent = parents.pop()
    elif parent is None:
        raise PlanError("name the unit(s) to merge or the parent whose small units to merge")
    clash = sorted(set(wanted if unit is not None else []) & set(fixed))
    if clash:
        raise PlanError(f"{', '.join(clash)} cannot be both merged and fixed")
    keep = [c for c in held(city, level, parent, fixed, keep_kinds) if unit is None or c not in wanted]
    a = atoms(city, level, parent=parent, exclude=keep)
    ctx = _Context(city, a, level, rules)
    label = ctx.label0.copy()
    if unit is None:
        small = ctx.before_size < np.nan_to_num(ctx.lo, nan=-np.inf)
        wanted = [ctx.codes[k] for k in np.argsort(ctx.before_size) if small[k]]
    causes: list[str] = []
    for u in wanted:
        k = ctx.index[u]
        if not (label == k).any():
            continue
        whole = _merge_whole(ctx, label, k)
        dissolved = _dissolve(ctx, label, k)
        options = [o for o in (whole, dissolved) if o is not None]
        if not options:
            also = f"（不计固定的{LABELS[ctx.level]} {', '.join(keep)}）" if keep else ""
            causes.append(f"{ctx.label(u)} 与同一上级内的其他{LABELS[ctx.level]}均不相邻{also}，无法合并")
            continue
        best = min(options, key=lambda o: (o[1], o is not whole))
        label = best[0]
        if best[1] > 0:
            causes.append(f"{ctx.label(u)} 无法在规模上限内并入相邻{LABELS[ctx.level]}："
                          f"相邻{LABELS[ctx.level]}容量不足（合并后仍超出 {best[1]:,.0f} {ctx.word(k)}）")
    return ctx.plan("merge", label, causes, {"merged": wanted, "fixed": keep})


def _merge_whole(ctx: "_Context", label: np.ndarray, k: int):
    """(labels, violation) of merging unit k whole into its best neighbour, or None."""
    shared = ctx.shared_with(label, k)
    if not shared:
        return None
    size = ctx.sizes(label)
    rows = []
    for v, length in shared.items():
        after = size[v] + size[k]
        rows.append((float(violation(after, ctx.lo[v], ctx.hi[v])), -length, after, v))
    viol, _, _, v = min(rows)
    out = label.copy()
    out[out == k] = v
    return out, viol


def _dissolve(ctx: "_Context", label: np.ndarray, k: int):
    """(labels, violation) of giving unit k's blocks one by one to adjacent units, or None."""
    out = label.copy()
    if not ctx.shared_with(out, k):
        return None
    size = ctx.sizes(out)
    while (out == k).any():
        best = None
        for b in np.unique(ctx.block[out == k]):
            mask = ctx.block == b
            for v, length in ctx.touching(out, mask, exclude=k).items():
                after = size[v] + ctx.w[mask].sum()
                key = (float(violation(after, ctx.lo[v], ctx.hi[v])), -length)
                if best is None or key < best[0]:
                    best = (key, mask, v)
        if best is None:  # the rest of k touches no other unit (an island)
            return None
        _, mask, v = best
        out[mask] = v
        size = ctx.sizes(out)
    receivers = set(out[label == k].tolist())
    return out, float(ctx.violation_of(out, receivers))


# ---- rebalance -----------------------------------------------------------------------------------

def rebalance(city: City, parent: str, *, level: str = "communities", rules: str | RuleSet = DEFAULT_RULES,
              max_moves: int = 500, fixed=(), keep_kinds=KEEP_KINDS) -> Plan:
    """Move whole estate blocks between neighbouring units of ``parent`` until all are within bounds.

    Greedy local search: at each step, among the moves of one block from its unit to an adjacent
    unit that keep the giving unit connected and strictly lower the total size violation
    (Σ distance outside [min, max]), take the one that clears a violation with the fewest
    households, else the one with the largest reduction per household moved, ties to the longest
    shared edge. The total violation falls at every step, so the search ends (at most
    ``max_moves`` steps); what is left is reported with its cause. Not optimal: chains of moves
    through a full neighbour are not searched (a later solver can take this plan's place).
    A block holding its unit's facilities (service centre, police room…) stays with the unit.
    Units in ``fixed`` or of a kind in ``keep_kinds`` neither give nor take blocks (see ``held``).
    """
    rules = load_rules(rules)
    keep = held(city, level, parent, fixed, keep_kinds)
    a = atoms(city, level, parent=parent, exclude=keep)
    ctx = _Context(city, a, level, rules)
    lo, hi = np.array(ctx.lo, float), np.array(ctx.hi, float)
    blocks = [np.flatnonzero(ctx.block == b) for b in range(ctx.block.max() + 1)]
    label, steps = _greedy_moves(ctx, ctx.label0.copy(), lo, hi, max_moves)
    causes = []
    size = ctx.sizes(label)
    for k in np.flatnonzero(violation(size, lo, hi) > 0):
        code = ctx.codes[k]
        big = [b for b in blocks if label[b[0]] == k and ctx.w[b].sum() > hi[k]]
        if big:
            causes.append(f"{ctx.label(code)}：{LABELS[a.child]} {', '.join(a.frame['code'].iloc[big[0]])} 单独就有 "
                          f"{ctx.w[big[0]].sum():,.0f} {ctx.word(k)}，超过上限 {hi[k]:,.0f}")
        else:
            causes.append(f"{ctx.label(code)} 有 {size[k]:,.0f} {ctx.word(k)}：相邻{LABELS[ctx.level]}之间没有能减少超限的整块调整")
    return ctx.plan("rebalance", label, causes, {"steps": steps, "max_moves": max_moves, "fixed": keep}, scope="all")


def _greedy_moves(ctx: "_Context", label: np.ndarray, lo: np.ndarray, hi: np.ndarray, max_moves: int):
    """Rebalance's search from ``label``: (labels, steps) — see ``rebalance``."""
    blocks = [np.flatnonzero(ctx.block == b) for b in range(ctx.block.max() + 1)]
    own = ctx.atoms.frame["facilities"].to_numpy()
    blocks = [m for m in blocks if not own[m].any()]  # a block holding its unit's facilities stays
    steps = 0
    for steps in range(max_moves):
        size = ctx.sizes(label)
        viol = violation(size, lo, hi)
        if viol.sum() == 0:
            break
        best = None
        for members in blocks:
            u = label[members[0]]
            w = ctx.w[members].sum()
            mask = np.zeros(len(label), bool)
            mask[members] = True
            near = ctx.touching(label, mask)
            if not near:
                continue
            if not ctx.atoms.connected((label == u) & ~mask):
                continue
            for v, length in near.items():
                if v == u:
                    continue
                du = violation(size[u] - w, lo[u], hi[u]) - viol[u]
                dv = violation(size[v] + w, lo[v], hi[v]) - viol[v]
                delta = float(du + dv)
                if delta >= 0:
                    continue
                clears = viol[u] > 0 and violation(size[u] - w, lo[u], hi[u]) == 0 or \
                    viol[v] > 0 and violation(size[v] + w, lo[v], hi[v]) == 0
                key = (not clears, w if clears else delta / max(w, 1), -length)
                if best is None or key < best[0]:
                    best = (key, members, v)
        if best is None:
            break
        label[best[1]] = best[2]
    return label, steps


# ---- split ---------------------------------------------------------------------------------------

def split(city: City, unit: str, k: int | None = None, *, level: str = "communities",
          rules: str | RuleSet = DEFAULT_RULES, seed: int = 0, tries: int = 300) -> Plan:
    """Split an over-sized unit into ``k`` contiguous parts within bounds.

    Method: recursive balanced bipartition on random spanning trees of the unit's block graph,
    after GerryChain's ``recursive_tree_part`` (DeFord, Duchin & Solomon 2021): draw a random
    spanning tree (minimum spanning tree of random edge weights), cut the edge whose subtree best
    fits one part while leaving a remainder that can still make ``k - 1`` parts, repeat on the
    remainder. Every cut of a spanning tree leaves two connected sides, so contiguity holds by
    construction, and whole blocks keep estates whole. ``tries`` trees are drawn (seeded, so the
    plan is reproducible); the distinct partitions are ranked by size violation, then households
    moved (the largest part keeps the old code), then mean Polsby–Popper. Chosen over greedy
    region growing because it samples many contiguous partitions cheaply on small graphs and
    needs no repair step for contiguity.

    ``k`` defaults to the fewest parts whose share fits under the maximum.
    """
    rules = load_rules(rules)
    units_l = city.metric(level)
    if unit not in set(units_l["code"]):
        raise PlanError(f"no {level} with code {unit!r}")
    a = atoms(city, level, units=[unit])
    ctx = _Context(city, a, level, rules)
    u = ctx.index[unit]
    lo, hi = ctx.lo[u], ctx.hi[u]
    total = ctx.w.sum()
    causes: list[str] = []
    if k is None:
        k = max(1, int(np.ceil(total / hi))) if np.isfinite(hi) else 1
    nb = ctx.block.max() + 1
    wb = np.bincount(ctx.block, ctx.w, nb)
    big = np.flatnonzero(wb > hi)
    for b in big:
        names = ", ".join(a.frame["code"][ctx.block == b])
        causes.append(f"{LABELS[a.child]} {names} 单独就有 {wb[b]:,.0f} {ctx.word(u)}，超过上限 {hi:,.0f}；"
                      f"网格（及小区）不可拆分")
    if np.isfinite(lo) and total < k * lo:
        causes.append(f"{ctx.label(unit)} 共 {total:,.0f} {ctx.word(u)}，不足以分成 {k} 个各不少于 {lo:,.0f} 的{LABELS[ctx.level]}")
    if k > nb:
        causes.append(f"{ctx.label(unit)} 只有 {nb} 个不可分的地块，无法分成 {k} 个")
        k = nb
    if not a.connected(np.ones(len(a), bool)):
        causes.append(f"{ctx.label(unit)} 本身不连通，先修复再拆分")
        return ctx.plan("split", ctx.label0.copy(), causes, {"k": k, "tries": 0})
    if k <= 1:
        return ctx.plan("split", ctx.label0.copy(), causes or [], {"k": 1, "tries": 0})
    bi, bj, blen = _block_edges(ctx)
    rng = np.random.default_rng(seed)
    seen, scored = set(), []
    for _ in range(tries):
        part = _tree_partition(nb, bi, bj, wb, k, lo, hi, rng)
        key = tuple(sorted(tuple(np.flatnonzero(part == p)) for p in range(k)))
        if key in seen:
            continue
        seen.add(key)
        sizes = np.bincount(part, wb, k)
        viol = float(violation(sizes, lo, hi).sum())
        moved = float(total - sizes.max())
        scored.append((viol, moved, part))
    best_viol = min(s[0] for s in scored)
    finalists = sorted((s for s in scored if s[0] == best_viol), key=lambda s: s[1])[:20]
    geoms = np.asarray(a.frame.geometry.values)
    ranked = []
    for viol, moved, part in finalists:
        parts = part[ctx.block]
        pp = polsby_popper([shapely.union_all(geoms[parts == p]) for p in range(k)])
        ranked.append((viol, moved, -float(np.mean(pp)), part))
    viol, moved, _, part = min(ranked, key=lambda r: r[:3])
    parts = part[ctx.block]
    keep = int(np.argmax(np.bincount(parts, ctx.w, k)))
    codes = ctx.new_codes(unit, k - 1)
    label = np.empty(len(a), np.int64)
    others = [p for p in range(k) if p != keep]
    label[parts == keep] = u
    for n, (c, p) in enumerate(zip(codes, others), start=2):
        label[parts == p] = ctx.add_unit(c, like=unit, suffix=f"（拆分{n}）")
    if viol > 0 and not causes and not _subset_fits(wb, lo, hi, total, k):
        causes.append(f"{ctx.label(unit)} 由 {nb} 个不可分的地块组成（{', '.join(f'{x:,.0f}' for x in sorted(wb))} "
                      f"{ctx.word(u)}），任何组合都不能使每部分在 {lo:,.0f}–{hi:,.0f} {ctx.word(u)} 之间；"
                      f"可改用 rebalance 把地块调给相邻{LABELS[ctx.level]}")
    elif viol > 0 and not causes:
        causes.append(f"{tries} 棵随机生成树中没有找到各部分都在 {lo:,.0f}–{hi:,.0f} {ctx.word(u)} 之间的连通划分")
    return ctx.plan("split", label, causes, {"k": k, "tries": tries, "partitions_seen": len(seen), "seed": seed})


def _subset_fits(w, lo, hi, total, k) -> bool:
    """Whether some set of whole blocks (contiguity ignored) can form one part in [lo, hi] leaving a
    remainder in [(k-1)·lo, (k-1)·hi]: a necessary condition for a k-way split (subset-sum bitset)."""
    w = np.round(np.asarray(w)).astype(np.int64)
    reach = np.zeros(int(w.sum()) + 1, bool)
    reach[0] = True
    for x in w:
        reach[x:] |= reach[: len(reach) - x].copy()
    sums = np.flatnonzero(reach)
    lo_ = -np.inf if not np.isfinite(lo) else lo
    ok = (violation(sums, lo_, hi) == 0) & (violation(total - sums, (k - 1) * lo_, (k - 1) * hi) == 0)
    return bool(ok.any())


def _block_edges(ctx: "_Context"):
    a = ctx.atoms
    bi, bj = ctx.block[a.i], ctx.block[a.j]
    keep = bi != bj
    lo_, hi_ = np.minimum(bi, bj)[keep], np.maximum(bi, bj)[keep]
    df = pd.DataFrame({"i": lo_, "j": hi_, "length": a.length[keep]}).groupby(["i", "j"], as_index=False).sum()
    return df["i"].to_numpy(), df["j"].to_numpy(), df["length"].to_numpy()


def _tree_partition(n, ei, ej, w, k, lo, hi, rng) -> np.ndarray:
    """One recursive spanning-tree partition of a connected graph into ``k`` connected parts."""
    part = np.full(n, k - 1)
    remaining = np.ones(n, bool)
    for p in range(k - 1):
        nodes = np.flatnonzero(remaining)
        pos = np.full(n, -1)
        pos[nodes] = np.arange(len(nodes))
        keep = remaining[ei] & remaining[ej]
        m = len(nodes)
        g = coo_matrix((rng.uniform(1, 2, keep.sum()), (pos[ei[keep]], pos[ej[keep]])), shape=(m, m))
        tree = minimum_spanning_tree(g)
        tree = tree + tree.T
        root = int(rng.integers(m))
        order, pred = breadth_first_order(tree, root, directed=False, return_predecessors=True)
        sub = w[nodes].astype(float).copy()
        for v in order[:0:-1]:
            sub[pred[v]] += sub[v]
        total, kk = sub[root], k - p
        cand = order[1:]
        side = sub[cand]
        score = violation(side, lo, hi) + violation(total - side, (kk - 1) * lo, (kk - 1) * hi)
        balance = np.abs(side - total / kk)
        v = cand[np.lexsort((rng.random(len(cand)), balance, score))[0]]
        mark = np.zeros(m, bool)
        for x in order:  # parents come before children in BFS order
            mark[x] = x == v or (pred[x] >= 0 and mark[pred[x]])
        chosen = nodes[mark]
        part[chosen] = p
        remaining[chosen] = False
    return part


# ---- shared state --------------------------------------------------------------------------------

class _Context:
    """Units of one plan: index ↔ code, bounds, atom weights, and turning labels into a Plan."""

    def __init__(self, city: City, a: Atoms, level: str, rules: RuleSet):
        self.city, self.atoms, self.level, self.rules = city, a, level, rules
        units_l = city.metric(level)
        self.before = units_l[units_l["code"].isin(set(a.frame["unit"]))].reset_index(drop=True)
        self.codes = list(self.before["code"])
        self.label0_codes = list(self.codes)
        self.index = {c: i for i, c in enumerate(self.codes)}
        self.meta = {c: {} for c in self.codes}
        bd = unit_bounds(self.before, level, rules)
        self.bounds = bd
        self.measure = bd["measure"].to_numpy(object)
        self.lo = list(bd["min"].to_numpy(float))
        self.hi = list(bd["max"].to_numpy(float))
        m = self.measure[0] if len(self.measure) else "households"
        self.m = m
        self.w = a.weights[m].astype(float)
        self.block = a.frame["block"].to_numpy()
        self.label0 = np.array([self.index[u] for u in a.frame["unit"]], dtype=np.int64)
        self.before_size = self.sizes(self.label0)

    def word(self, k) -> str:
        return "户" if self.m == "households" else "人"

    def label(self, code) -> str:
        row = self.before[self.before["code"] == code]
        name = row["name"].iloc[0] if len(row) and "name" in row and isinstance(row["name"].iloc[0], str) else ""
        return f"{LABELS[self.level]} {name}({code})" if name else f"{LABELS[self.level]} {code}"

    def sizes(self, label) -> np.ndarray:
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
        return self.touching(label, label == k, exclude=k)

    def new_codes(self, like: str, n: int) -> list[str]:
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
        self.codes.append(code)
        self.index[code] = len(self.codes) - 1
        self.meta[code] = {"like": like, "suffix": suffix}
        k = self.index[like]
        self.lo.append(self.lo[k])
        self.hi.append(self.hi[k])
        self.measure = np.append(self.measure, self.measure[k])
        return self.index[code]

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


__all__ = ["merge", "rebalance", "split", "held", "unit_bounds", "violation", "components", "KEEP_KINDS"]
