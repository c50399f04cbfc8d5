"""Redraw all units of a level inside one parent afresh from their atoms (issue #4).

``redraw(city, street)`` draws the street's communities again from its grids: every new unit is a
connected union of whole estate blocks (estates are never split), the units exactly cover the
parent, households are conserved, every unit is within the rule set's bounds where that is
possible, and among such partitions the plan moves the fewest households relative to the current
lines, Polsby–Popper compactness second.

Method
------
Minimal change first. The starts are the current lines themselves (when ``k`` equals their
number and each is connected) and, for parents of at most ``REBALANCE_BLOCKS`` blocks, the result of
``rebalance``'s greedy search from them; each is polished by the local search (4). When a polished
start meets the bounds, that is the plan: a fresh partition shares the current lines only by chance
(on the benchmark street, 24 steered tree partitions polished the same way moved 3–15× as many
households as the polished current lines). Otherwise — or when ``tries`` is given — the split
machinery (recursive cuts of random spanning trees, after GerryChain's ``recursive_tree_part``)
draws partitions steered towards the current lines, which are relabelled and polished:

1. **Biased trees.** Each spanning tree is the minimum spanning tree of random edge weights in
   [1, 2), plus 2 on edges between atoms of different current units. The tree therefore spans each
   current (connected) unit by itself and joins the units by single edges, so cutting one of
   those edges separates whole current units. One tree in four is unbiased, for diversity.
2. **Cuts.** At each of the ``k - 1`` steps, among the tree edges whose cut leaves a part within
   [min, max] and a remainder that can still make the remaining parts, the cut whose part differs
   least from one current unit (households of the symmetric difference, counted on the tree) wins;
   then balance, then chance. Every cut of a tree leaves two connected sides: contiguity needs no
   repair.
3. **Relabelling.** New parts are matched to current units by the assignment that keeps the most
   households in place (``scipy.optimize.linear_sum_assignment`` on the k × n overlap matrix in
   households); a matched part takes the unit's code, an unmatched part a new code, an unmatched
   unit is removed. Households moved = total − matched overlap.
4. **Local search.** Single-block moves between adjacent parts that lower (size violation,
   households moved) lexicographically while the giving part stays connected (a breadth-first
   search inside the part, stopping once the block's neighbours there are joined), until none
   applies.

Candidates are ranked by total size violation, blocks holding a unit's facilities that left it (the
local search never moves such a block except back home), households moved and mean Polsby–Popper
(area and perimeter from the atoms: perimeter = Σ atom perimeters − 2 × shared edges inside the
part); the draws are seeded, so plans are reproducible. Fixed units and work-unit communities are
left out of the atoms; when they cut the rest in pieces, each piece is redrawn by itself with its own
units' count. Nothing loops unboundedly: ``TRIES`` draws (when none
meets the bounds, more up to ``MORE_TRIES``, stopping at the first that does; or exactly ``tries``)
of ``k - 1`` cuts each (at most 8 trees per cut), local-search passes that each move at least one
block (at most 50). When ``k`` is the current number of units the summary also gives
``households_moved_lower_bound``, what any partition within the bounds must move (max of the
current units' total excess over the maximum and total shortfall under the minimum), so a planner
sees how far the plan can be from the fewest possible.

``k`` (when not given) is the current number of units clamped to the range the bounds allow,
[⌈H / max⌉, ⌊H / min⌋] for H households in the parent: the fewest changes of count that the rule
needs. Bounds are those of the size rule matching most of the parent's current units.

Examples
--------
>>> from gis.synth import synth
>>> city, _ = synth(300, seed=1)
>>> plan = redraw(city, "360102001000", rules="nanchang-2002")
>>> plan.feasible, plan.summary["households_moved"]  # clean lines are kept
(True, 0)
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import depth_first_order, minimum_spanning_tree

from gis.model import LABELS, PARENT, City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules
from gis.simulate.atoms import PlanError, atoms, components
from gis.simulate.bounds import subset_fits, unit_bounds, violation
from gis.simulate.context import KEEP_KINDS, Context, held
from gis.simulate.measures import isoperimetric_quotient
from gis.simulate.plan import Plan
from gis.simulate.rebalance import greedy_moves


#: Up to this many blocks, rebalance's greedy search from the current lines is one more start.
REBALANCE_BLOCKS = 400
#: Tree partitions drawn when no start (the current lines, polished) meets the bounds; when none of
#: those does either, up to MORE_TRIES in all, stopping at the first that does.
TRIES = 24
MORE_TRIES = 300


def redraw(city: City, parent: str, *, level: str = "communities", rules: str | RuleSet = DEFAULT_RULES,
           fixed: Collection[str] = (), keep_kinds: Collection[str] = KEEP_KINDS, k: int | None = None,
           seed: int = 0, tries: int | None = None) -> Plan:
    """Draw all units of ``level`` inside ``parent`` afresh from their atoms (see the module docstring).

    Returns the best plan; when no partition meets the bounds it is the one with the smallest size
    violation, ``feasible`` False and its causes named (e.g. an atom alone over the maximum, too
    few households for ``k`` units, the parent not connected). Units in ``fixed`` or of a kind in
    ``keep_kinds`` (see :func:`gis.simulate.context.held`) stay exactly as they are; ``k`` counts the others.

    Parameters
    ----------
    city : City
        The city.
    parent : str
        Code of the parent whose units to redraw.
    level, rules, fixed, keep_kinds
        The keywords every operation shares (:mod:`gis.simulate.context`).
    k : int, optional
        Number of units (default: the current number clamped to what the bounds allow).
    seed : int
        Seed of the tree draws.
    tries : int, optional
        Tree partitions to draw (default: ``TRIES`` only when no start meets the bounds, up to
        ``MORE_TRIES``).

    Returns
    -------
    Plan
        Every unit of ``parent`` counts for its bounds; ``summary`` gives ``k``, ``k_rule``,
        ``households_moved_lower_bound`` and the search's counts.

    Examples
    --------
    >>> from gis.synth import synth
    >>> city, _ = synth(300, seed=1)
    >>> plan = redraw(city, "360102001000", rules="nanchang-2002", fixed=["360102001002"])
    >>> plan.summary["fixed"], plan.summary["households_moved"]
    (['360102001002', '360102001017'], 0)
    """
    rules = load_rules(rules)
    keep = held(city, level, parent, fixed, keep_kinds)
    a = atoms(city, level, parent=parent, exclude=keep)
    ctx = Context(city, a, level, rules)
    n_old = len(ctx.codes)
    m, lo, hi = common_bounds(ctx)
    total = float(ctx.w.sum())
    word = ctx.word
    who = f"{LABELS[PARENT[level][0]]} {parent}"
    unit = LABELS[level]
    causes: list[str] = []

    nb = int(ctx.block.max()) + 1
    wb = np.bincount(ctx.block, ctx.w, nb)
    old_b = np.zeros(nb, np.int64)
    old_b[ctx.block] = ctx.label0
    k_min, k_max = k_range(total, lo, hi, nb)
    if k is None:
        k = default_k(n_old, total, lo, hi, nb)
        k_rule = f"current {n_old} clamped to [{k_min}, {k_max}]"
    else:
        k_rule = "given"
    if k < 1:
        raise PlanError(f"k must be at least 1, got {k}")
    if k_min > k_max:
        causes.append(f"{who} 共 {total:,.0f} {word}，没有{unit}数能使每个都在 {lo:,.0f}–{hi:,.0f} {word} 之间")
    elif not k_min <= k <= k_max:
        causes.append(f"{who} 共 {total:,.0f} {word}，分成 {k} 个{unit}不能都在 {lo:,.0f}–{hi:,.0f} {word} 之间"
                      f"（可行的{unit}数为 {k_min}–{k_max}）")
    for b in np.flatnonzero(wb > hi):
        names = ", ".join(a.frame["code"][ctx.block == b])
        causes.append(f"{LABELS[a.child]} {names} 单独就有 {wb[b]:,.0f} {word}，超过上限 {hi:,.0f}；网格（及小区）不可拆分")
    if k > nb:
        causes.append(f"{who} 只有 {nb} 个不可分的地块，无法分成 {k} 个")
        k = nb
    extra = {"k": k, "k_rule": k_rule, "bounds": {"measure": m, "min": lo, "max": hi}, "seed": seed,
             "fixed": keep}
    bi, bj, blen = ctx.block_edges()
    piece = components(nb, bi, bj)
    if piece.max() > 0 and not keep:
        causes.append(f"{who} 的{LABELS[a.child]}本身不连通，先修复再重划")
        return ctx.plan("redraw", ctx.label0.copy(), causes, {**extra, "trees": 0}, scope="all")

    graph = block_graph(ctx)
    if piece.max() > 0:  # fixed units cut the rest in pieces: each is redrawn with its own units' count
        ks = [default_k(len(np.unique(old_b[piece == c])), wb[piece == c].sum(), lo, hi, int((piece == c).sum()))
              for c in range(piece.max() + 1)]
        if k_rule == "given" and sum(ks) != k:
            causes.append(f"{who} 除固定的{unit}（{', '.join(keep)}）外分成 {len(ks)} 片，各片按现有{unit}数重划，"
                          f"共 {sum(ks)} 个而非 {k} 个")
        k = sum(ks)
        extra.update({"k": k, "k_rule": f"per piece between the fixed units: {ks}"})
        stats = search_pieces(ctx, graph, piece, ks, lo, hi, tries=tries, seed=seed)
    else:
        stats = search(ctx, graph, k, lo, hi, tries=tries, seed=seed)
    part = stats["part"]
    extra.update({"partitions_tried": stats["tried"], "trees": stats["trees"], "polished_blocks": stats["polished"],
                  "households_moved_lower_bound": stats["moved_lower_bound"],
                  "facility_blocks_displaced": stats["displaced"]})

    # relabel: matched parts take their unit's index, the others new codes like their largest overlap
    label_b = np.empty(nb, np.int64)
    ov = overlap(part, old_b, wb, k, n_old)
    for p in range(k):
        mine = part == p
        if stats["match"][p] >= 0:
            label_b[mine] = stats["match"][p]
    unmatched = [p for p in range(k) if stats["match"][p] < 0]
    if unmatched:
        like = [ctx.codes[int(np.argmax(ov[p]))] for p in unmatched]
        codes = ctx.new_codes(like[0], len(unmatched))
        for n, (c, p, lk) in enumerate(zip(codes, unmatched, like), start=1):
            label_b[part == p] = ctx.add_unit(c, like=lk, suffix=f"（新划{n}）")
    label = label_b[ctx.block]
    viol = stats["violation"]
    if viol > 0 and not causes:
        if not subset_fits(wb, lo, hi, total, k):
            causes.append(f"{who} 的地块（{nb} 个）任何组合都不能使每个{unit}在 {lo:,.0f}–{hi:,.0f} {word} 之间")
        else:
            causes.append(f"{stats['trees']} 棵随机生成树中没有找到 {k} 个{unit}都在 {lo:,.0f}–{hi:,.0f} {word} 之间的连通划分")
    return ctx.plan("redraw", label, causes, extra, scope="all")


def common_bounds(ctx: Context) -> tuple[str, float, float]:
    """Measure, min and max of the size rule matching most of the units, set on every unit of ``ctx``."""
    bd = unit_bounds(ctx.before, ctx.level, ctx.rules)
    key = pd.Series([f"{a}|{b}|{c}" for a, b, c in zip(bd["measure"], bd["min"], bd["max"])])
    common = bd.iloc[int(np.flatnonzero((key == key.value_counts().index[0]).to_numpy())[0])]
    m, lo, hi = common["measure"], float(common["min"]), float(common["max"])
    n_old = len(ctx.codes)
    ctx.m, ctx.w = m, ctx.atoms.weights[m].astype(float)
    ctx.measure = np.array([m] * n_old, dtype=object)
    ctx.lo, ctx.hi = [lo] * n_old, [hi] * n_old
    return m, lo, hi


def k_range(total, lo, hi, nb) -> tuple[int, int]:
    """[⌈H / max⌉, ⌊H / min⌋]: the numbers of units the bounds allow (open bounds: 1 and ``nb``)."""
    k_min = max(1, int(np.ceil(total / hi))) if np.isfinite(hi) and hi > 0 else 1
    k_max = int(np.floor(total / lo)) if np.isfinite(lo) and lo > 0 else nb
    return k_min, k_max


def default_k(n_old, total, lo, hi, nb) -> int:
    """The current number of units clamped to ``k_range`` (``k_min`` when the range is empty)."""
    k_min, k_max = k_range(total, lo, hi, nb)
    return min(max(n_old, k_min), max(k_max, 1)) if k_min <= k_max else k_min


def block_graph(ctx: Context) -> "BlockGraph":
    """The block graph of ``ctx``'s atoms: weights, current units, areas, perimeters, shared edges."""
    a = ctx.atoms
    nb = int(ctx.block.max()) + 1
    old_b = np.zeros(nb, np.int64)
    old_b[ctx.block] = ctx.label0
    bi, bj, blen = ctx.block_edges()
    geoms = np.asarray(a.frame.geometry.values)
    inner = ctx.block[a.i] == ctx.block[a.j]
    area_b = np.bincount(ctx.block, shapely.area(geoms), nb)
    perim_b = np.bincount(ctx.block, shapely.length(geoms), nb) - 2 * np.bincount(ctx.block[a.i[inner]],
                                                                                 a.length[inner], nb)
    anchor = np.bincount(ctx.block, a.frame["facilities"].to_numpy(), nb) > 0
    return BlockGraph(bi, bj, blen, np.bincount(ctx.block, ctx.w, nb), old_b, len(ctx.codes), area_b, perim_b, anchor)


def search(ctx: Context, graph: "BlockGraph", k, lo, hi, *, tries=None, seed=0, starts_only=False):
    """``graph.best`` with the current lines after rebalance's greedy moves as one more start
    (when ``k`` is their number, each is connected and there are at most ``REBALANCE_BLOCKS`` blocks);
    ``starts_only``: those starts alone (block labels)."""
    n_old, starts = len(ctx.label0_codes), []
    if k == n_old and graph.n <= REBALANCE_BLOCKS and graph.each_connected(graph.old):
        moved_label, _ = greedy_moves(ctx, ctx.label0.copy(), np.array(ctx.lo), np.array(ctx.hi), 500)
        start = np.empty(graph.n, np.int64)
        start[ctx.block] = moved_label
        starts.append(start)
    return starts if starts_only else graph.best(k, lo, hi, tries=tries, seed=seed, starts=starts)


def search_pieces(ctx: Context, graph: "BlockGraph", piece, ks, lo, hi, *, tries=None, seed=0) -> dict:
    """``search`` on each connected piece of ``graph`` (``piece``: component per block) into
    ``ks[c]`` parts, combined: parts numbered piece by piece, matches mapped back to the units."""
    starts = search(ctx, graph, graph.n_old, lo, hi, tries=0, seed=seed, starts_only=True)
    part = np.empty(graph.n, np.int64)
    match, out, offset = [], {"violation": 0.0, "moved": 0.0, "tried": 0, "trees": 0, "polished": 0,
                              "displaced": 0, "moved_lower_bound": 0.0}, 0
    pp = 0.0
    for c, kc in enumerate(ks):
        nodes = np.flatnonzero(piece == c)
        sub, units = graph.subgraph(nodes)
        mine = [np.unique(x[nodes], return_inverse=True)[1] for x in starts]
        r = sub.best(kc, lo, hi, tries=tries, seed=seed + c, starts=[x for x in mine if x.max() + 1 == kc])
        part[nodes] = r["part"] + offset
        match += [int(units[x]) if x >= 0 else -1 for x in r["match"]]
        for key in ("violation", "moved", "tried", "trees", "polished", "displaced"):
            out[key] += r[key]
        lb = r["moved_lower_bound"]
        out["moved_lower_bound"] = None if lb is None or out["moved_lower_bound"] is None \
            else out["moved_lower_bound"] + lb
        pp += r["pp"] * kc
        offset += kc
    return {**out, "part": part, "match": np.array(match), "pp": pp / max(offset, 1)}


def redraw_graph(ctx: Context):
    """(block graph, default k, min, max) of a parent, as ``redraw`` sets them up (for benchmarks)."""
    m, lo, hi = common_bounds(ctx)
    graph = block_graph(ctx)
    return graph, default_k(len(ctx.codes), float(ctx.w.sum()), lo, hi, graph.n), lo, hi


def overlap(part, old, w, k, n_old) -> np.ndarray:
    """k × n_old matrix: weight of each new part inside each current unit."""
    return np.bincount(part * n_old + old, w, k * n_old).reshape(k, n_old)



def _subtree_sums(order, pred, w, hit) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Households, nodes, and households of the node's own current unit (summed only along edges
    ``hit``: child in the same unit as its parent) over each node's subtree of a spanning tree given
    in DFS preorder (parents first). One pass from the leaves up; plain Python lists, which beat any
    sparse or per-depth numpy formulation at these sizes (tens to a few thousand nodes)."""
    sub, cnt, same = w.tolist(), [1] * len(w), w.tolist()
    for v, p, h in zip(order[:0:-1].tolist(), pred[order[:0:-1]].tolist(), hit[order[:0:-1]].tolist()):
        sub[p] += sub[v]
        cnt[p] += cnt[v]
        if h:
            same[p] += same[v]
    return np.array(sub), np.array(cnt), np.array(same)


class BlockGraph:
    """The block graph of one parent: nodes (estate blocks) with weights, current unit, area,
    perimeter and whether they hold their unit's facilities (``anchor``); edges with shared lengths. ``best`` runs the redraw search on it (also used by
    ``benchmarks/simulate.py`` to time the partitioning alone)."""

    def __init__(self, ei, ej, elen, w, old, n_old, area=None, perim=None, anchor=None):
        self.ei, self.ej = np.asarray(ei, np.int64), np.asarray(ej, np.int64)
        self.elen = np.asarray(elen, float)
        self.w = np.asarray(w, float)
        self.old = np.asarray(old, np.int64)
        self.n, self.n_old = len(self.w), int(n_old)
        self.area = np.ones(self.n) if area is None else np.asarray(area, float)
        self.perim = np.ones(self.n) if perim is None else np.asarray(perim, float)
        self.anchor = np.zeros(self.n, bool) if anchor is None else np.asarray(anchor, bool)
        self.cross = self.old[self.ei] != self.old[self.ej]
        self.nbrs = [[] for _ in range(self.n)]
        for x, y in zip(self.ei.tolist(), self.ej.tolist()):
            self.nbrs[x].append(y)
            self.nbrs[y].append(x)

    # ---- one partition ---------------------------------------------------------------------------
    def cut(self, k, lo, hi, rng, biased=True, redraws=8) -> np.ndarray:
        """One recursive spanning-tree partition into ``k`` connected parts (labels 0..k-1)."""
        n, w, old = self.n, self.w, self.old
        part = np.full(n, k - 1)
        remaining = np.ones(n, bool)
        left = np.bincount(old, w, self.n_old)  # households of each current unit not yet taken
        taken = np.zeros(self.n_old, bool)  # current units already chosen as some part's target
        for p in range(k - 1):
            nodes = np.flatnonzero(remaining)
            m = len(nodes)
            pos = np.full(n, -1)
            pos[nodes] = np.arange(m)
            keep = remaining[self.ei] & remaining[self.ej]
            kk = k - p
            for attempt in range(redraws):  # GerryChain's retries: a new tree when no cut fits
                wt = rng.uniform(1, 2, keep.sum()) + (2.0 * self.cross[keep] if biased else 0.0)
                g = coo_matrix((wt, (pos[self.ei[keep]], pos[self.ej[keep]])), shape=(m, m))
                root = int(rng.integers(m))
                # DFS preorder: parents before children, and each subtree one contiguous run
                order, pred = depth_first_order(minimum_spanning_tree(g), root, directed=False,
                                                return_predecessors=True)
                lw, lold = w[nodes], old[nodes]
                child = order[1:]
                par = pred[child]
                hit = np.zeros(m, bool)
                hit[child] = lold[child] == lold[par]
                sub, cnt, same = _subtree_sums(order, pred, lw, hit)
                tot = sub[root]
                side = sub[child]
                score = violation(side, lo, hi) + violation(tot - side, (kk - 1) * lo, (kk - 1) * hi)
                short = m - cnt[child] < kk - 1  # the remainder must keep a block for each part still to make
                if (score[~short] == 0).any():
                    break
            u = lold[child]
            sym = np.where(taken[u], side, side + left[u] - 2 * same[child])
            balance = np.abs(side - tot / kk)
            at = 1 + np.lexsort((rng.random(len(child)), balance, sym, score, short))[0]
            chosen = nodes[order[at:at + cnt[order[at]]]]
            part[chosen] = p
            remaining[chosen] = False
            ovp = np.bincount(old[chosen], w[chosen], self.n_old)
            target = int(np.argmax(np.where(taken, -1, ovp)))
            if ovp[target] > 0 and not taken[target]:
                taken[target] = True
            left -= ovp
        return part

    # ---- scoring ---------------------------------------------------------------------------------
    def match(self, part, k):
        """Optimal matching of parts to current units: (match per part, -1 if none; households moved)."""
        ov = overlap(part, self.old, self.w, k, self.n_old)
        r, c = linear_sum_assignment(ov, maximize=True)
        match = np.full(k, -1)
        keep = ov[r, c] > 0
        match[r[keep]] = c[keep]
        return match, float(self.w.sum() - ov[r, c].sum())

    def compactness(self, part, k) -> float:
        """Mean Polsby–Popper of the parts, from block areas, perimeters and shared edge lengths."""
        same = part[self.ei] == part[self.ej]
        area = np.bincount(part, self.area, k)
        perim = np.bincount(part, self.perim, k) - 2 * np.bincount(part[self.ei[same]], self.elen[same], k)
        return float(np.mean(isoperimetric_quotient(area, perim)))

    def score(self, part, k, lo, hi):
        """(size violation, facilities displaced, households moved, −compactness) and the matching."""
        sizes = np.bincount(part, self.w, k)
        match, moved = self.match(part, k)
        return (float(violation(sizes, lo, hi).sum()), self.displaced(part, match), moved,
                -self.compactness(part, k)), match

    def displaced(self, part, match) -> int:
        """Blocks holding their unit's facilities that are not in the part matched to that unit."""
        home = np.full(self.n_old, -1)
        home[match[match >= 0]] = np.flatnonzero(match >= 0)
        return int((self.anchor & (part != home[self.old])).sum())

    def connected(self, mask) -> bool:
        idx = np.flatnonzero(mask)
        if len(idx) <= 1:
            return len(idx) == 1
        pos = np.full(self.n, -1)
        pos[idx] = np.arange(len(idx))
        keep = mask[self.ei] & mask[self.ej]
        return components(len(idx), pos[self.ei[keep]], pos[self.ej[keep]]).max() == 0

    def subgraph(self, nodes) -> tuple["BlockGraph", np.ndarray]:
        """The graph on ``nodes`` (its current units renumbered) and the units' indices here."""
        pos = np.full(self.n, -1)
        pos[nodes] = np.arange(len(nodes))
        keep = (pos[self.ei] >= 0) & (pos[self.ej] >= 0)
        units, old = np.unique(self.old[nodes], return_inverse=True)
        return BlockGraph(pos[self.ei[keep]], pos[self.ej[keep]], self.elen[keep], self.w[nodes], old, len(units),
                          self.area[nodes], self.perim[nodes], self.anchor[nodes]), units

    def each_connected(self, part) -> bool:
        """Whether every label of ``part`` makes one connected piece (one components pass)."""
        same = part[self.ei] == part[self.ej]
        comp = components(self.n, self.ei[same], self.ej[same])
        return len(np.unique(comp)) == len(np.unique(part))

    def stays_connected(self, part, b) -> bool:
        """Whether ``b``'s part stays connected without block ``b``: a breadth-first search inside the
        part from one of ``b``'s neighbours there, stopping once it has reached all the others."""
        p = part[b]
        near = [x for x in self.nbrs[b] if part[x] == p]
        if len(near) <= 1:
            return True
        todo, seen, queue = set(near[1:]), {b, near[0]}, [near[0]]
        while queue:
            for y in self.nbrs[queue.pop()]:
                if y not in seen and part[y] == p:
                    if y in todo:
                        todo.discard(y)
                        if not todo:
                            return True
                    seen.add(y)
                    queue.append(y)
        return False

    # ---- local search ------------------------------------------------------------------------------
    def improve(self, part, k, lo, hi, match, max_passes=50) -> tuple[np.ndarray, int]:
        """Single-block moves between adjacent parts that lower (size violation, facilities displaced,
        households moved) lexicographically, the giving part staying connected; a block holding its
        unit's facilities only moves back to that unit's part. Passes until none applies."""
        part = part.copy()
        w = self.w
        home = np.full(self.n_old, -1)
        home[match[match >= 0]] = np.flatnonzero(match >= 0)
        sizes = np.bincount(part, w, k)
        moves = 0

        def dv(p, q, x):
            return (violation(sizes[p] - x, lo, hi) + violation(sizes[q] + x, lo, hi)
                    - violation(sizes[p], lo, hi) - violation(sizes[q], lo, hi))

        for _ in range(max_passes):
            differ = part[self.ei] != part[self.ej]
            b = np.r_[self.ei[differ], self.ej[differ]]
            q = np.r_[part[self.ej[differ]], part[self.ei[differ]]]
            if not len(b):
                break
            pairs = np.unique(np.c_[b, q], axis=0)
            b, q = pairs[:, 0], pairs[:, 1]
            p = part[b]
            h = home[self.old[b]]
            dm = np.where(p == h, w[b], 0) - np.where(q == h, w[b], 0)
            d = dv(p, q, w[b])
            free = ~self.anchor[b] | (q == h)
            dd = np.where(self.anchor[b], -1, 0)  # an anchored block may only go home
            good = free & ((d < 0) | (d == 0) & ((dd < 0) | (dd == 0) & (dm < 0)))
            changed = False
            for i in np.flatnonzero(good)[np.lexsort((d[good], dm[good], dd[good]))]:
                bb, pp, qq = b[i], p[i], q[i]
                if part[bb] != pp or sizes[pp] <= w[bb]:
                    continue
                d1 = float(dv(pp, qq, w[bb]))
                hh = home[self.old[bb]]
                m1 = (w[bb] if pp == hh else 0) - (w[bb] if qq == hh else 0)
                if not (d1 < 0 or (d1 == 0 and (self.anchor[bb] or m1 < 0))):
                    continue
                if not self.stays_connected(part, bb):
                    continue
                part[bb] = qq
                sizes[pp] -= w[bb]
                sizes[qq] += w[bb]
                moves += 1
                changed = True
            if not changed:
                break
        return part, moves

    # ---- search ------------------------------------------------------------------------------------
    def best(self, k, lo, hi, *, tries=None, seed=0, starts=()) -> dict:
        """The best partition (``score``: violation, facilities displaced, households moved,
        −compactness) among the polished
        ``starts`` (and the current lines when they make ``k`` connected units) and ``tries``
        polished tree partitions; ``tries=None`` draws ``TRIES`` only when no start polishes into
        the bounds, and up to ``MORE_TRIES`` when none of those does either."""
        rng = np.random.default_rng(seed)
        if k <= 1:
            part = np.zeros(self.n, np.int64)
            (viol, _, moved, negpp), match = self.score(part, 1, lo, hi)
            return {"part": part, "violation": viol, "moved": moved, "pp": -negpp, "match": match, "tried": 0,
                    "trees": 0, "polished": 0, "moved_lower_bound": None, "displaced": 0}
        starts = [np.asarray(x, np.int64) for x in starts]
        if k == self.n_old and self.each_connected(self.old):
            starts.append(self.old.copy())  # the current lines themselves, repaired by local search
        best, tried, t = None, 0, 0
        auto, hunting = tries is None, False
        while True:
            if auto and t == len(starts):
                tries = 0 if best is not None and best[0][0] == 0 else TRIES
            if auto and not hunting and tries and t == len(starts) + tries and best[0][0] > 0:
                tries, hunting = MORE_TRIES, True  # none within bounds yet: keep drawing until one is
            if t >= len(starts) + (tries or 0) or hunting and best[0][0] == 0:
                break
            part = starts[t] if t < len(starts) else self.cut(k, lo, hi, rng, biased=t % 4 != 3)
            t += 1
            tried += 1
            key, match = self.score(part, k, lo, hi)
            part2, n_pol = self.improve(part, k, lo, hi, match)
            if n_pol:
                key2, match2 = self.score(part2, k, lo, hi)
                if key2 < key:
                    part, key, match = part2, key2, match2
                else:
                    n_pol = 0
            if best is None or key < best[0]:
                best = (key, part, match, n_pol)
            if key[:3] == (0, 0, 0):  # the current lines, within bounds: nothing can beat them
                break
        (viol, displaced, moved, negpp), part, match, n_pol = best
        return {"part": part, "violation": viol, "moved": moved, "pp": -negpp, "match": match, "tried": tried,
                "trees": max(t - len(starts), 0), "polished": n_pol, "displaced": displaced,
                "moved_lower_bound": self.moved_lower_bound(k, lo, hi)}

    def moved_lower_bound(self, k, lo, hi) -> float | None:
        """Households any partition into ``k == n_old`` parts within [lo, hi] must move (None for
        another ``k``): each current unit over the maximum loses its excess, each under the minimum
        is filled from others — max(Σ excess, Σ deficit)."""
        if k != self.n_old:
            return None
        sizes = np.bincount(self.old, self.w, self.n_old)
        return float(max(np.maximum(sizes - hi, 0).sum(), np.maximum(lo - sizes, 0).sum()))


__all__ = ["redraw", "BlockGraph", "block_graph", "common_bounds", "default_k", "redraw_graph", "search"]
