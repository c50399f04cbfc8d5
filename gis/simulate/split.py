"""Split an over-sized unit into contiguous parts within bounds, by recursive cuts of random
spanning trees of its block graph (after GerryChain's ``recursive_tree_part``).

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

from collections.abc import Collection

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, minimum_spanning_tree

from gis.model import LABELS, PARENT, City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules
from gis.simulate.atoms import PlanError, atoms
from gis.simulate.bounds import subset_fits, violation
from gis.simulate.context import KEEP_KINDS, Context, held
from gis.simulate.measures import polsby_popper
from gis.simulate.plan import Plan


def split(city: City, unit: str, k: int | None = None, *, level: str = "communities",
          rules: str | RuleSet = DEFAULT_RULES, fixed: Collection[str] = (), keep_kinds: Collection[str] = KEEP_KINDS,
          seed: int = 0, tries: int = 300) -> Plan:
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

    Split changes ``unit`` alone, so ``fixed`` and ``keep_kinds`` only guard it: naming a ``fixed``
    unit is an error (and every code in ``fixed`` must be a unit of the same parent, as for the
    other operations); a unit of a kind in ``keep_kinds`` is split all the same, since naming it
    is on purpose (as in :func:`~gis.simulate.merge.merge`).

    Parameters
    ----------
    city : City
        The city.
    unit : str
        Code of the unit to split.
    k : int, optional
        Number of parts (positional too, as callers pass it).
    level, rules, fixed, keep_kinds
        The keywords every operation shares (:mod:`gis.simulate.context`).
    seed : int
        Seed of the random spanning trees.
    tries : int
        Spanning trees drawn (default 300).

    Returns
    -------
    Plan
        The largest part keeps ``unit``'s code; ``summary["partitions_seen"]``.

    Raises
    ------
    PlanError
        An unknown unit or one both split and fixed.

    Examples
    --------
    >>> from gis.synth import synth
    >>> city, _ = synth(300, seed=2, plant={"size_above": 1})
    >>> split(city, "360102003001", 3, rules="nanchang-2002", tries=20).summary["units_after"]
    3
    >>> split(city, "360102003001", fixed=["360102003001"])
    Traceback (most recent call last):
    gis.simulate.atoms.PlanError: 360102003001 cannot be both split and fixed
    >>> split(city, "360102003001", fixed=["360102001001"])  # a unit of another street
    Traceback (most recent call last):
    gis.simulate.atoms.PlanError: fixed communities not found in 360102003000: 360102001001
    """
    rules = load_rules(rules)
    units_l = city.metric(level)
    if unit not in set(units_l["code"]):
        raise PlanError(f"no {level} with code {unit!r}")
    if unit in set(fixed):
        raise PlanError(f"{unit} cannot be both split and fixed")
    up_col = PARENT[level][1]
    held(city, level, units_l.loc[units_l["code"] == unit, up_col].iloc[0] if up_col in units_l else None, fixed,
         keep_kinds)
    a = atoms(city, level, units=[unit])
    ctx = Context(city, a, level, rules)
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
        causes.append(f"{LABELS[a.child]} {names} 单独就有 {wb[b]:,.0f} {ctx.word}，超过上限 {hi:,.0f}；"
                      f"网格（及小区）不可拆分")
    if np.isfinite(lo) and total < k * lo:
        causes.append(f"{ctx.label(unit)} 共 {total:,.0f} {ctx.word}，不足以分成 {k} 个各不少于 {lo:,.0f} 的{LABELS[ctx.level]}")
    if k > nb:
        causes.append(f"{ctx.label(unit)} 只有 {nb} 个不可分的地块，无法分成 {k} 个")
        k = nb
    if not a.connected(np.ones(len(a), bool)):
        causes.append(f"{ctx.label(unit)} 本身不连通，先修复再拆分")
        return ctx.plan("split", ctx.label0.copy(), causes, {"k": k, "tries": 0})
    if k <= 1:
        return ctx.plan("split", ctx.label0.copy(), causes or [], {"k": 1, "tries": 0})
    bi, bj, blen = ctx.block_edges()
    rng = np.random.default_rng(seed)
    seen, scored = set(), []
    for _ in range(tries):
        part = tree_partition(nb, bi, bj, wb, k, lo, hi, rng)
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
    if viol > 0 and not causes and not subset_fits(wb, lo, hi, total, k):
        causes.append(f"{ctx.label(unit)} 由 {nb} 个不可分的地块组成（{', '.join(f'{x:,.0f}' for x in sorted(wb))} "
                      f"{ctx.word}），任何组合都不能使每部分在 {lo:,.0f}–{hi:,.0f} {ctx.word} 之间；"
                      f"可改用 rebalance 把地块调给相邻{LABELS[ctx.level]}")
    elif viol > 0 and not causes:
        causes.append(f"{tries} 棵随机生成树中没有找到各部分都在 {lo:,.0f}–{hi:,.0f} {ctx.word} 之间的连通划分")
    return ctx.plan("split", label, causes, {"k": k, "tries": tries, "partitions_seen": len(seen), "seed": seed})


def tree_partition(n, ei, ej, w, k, lo, hi, rng) -> np.ndarray:
    """One recursive spanning-tree partition of a connected graph into ``k`` connected parts.

    At each of ``k - 1`` steps: the minimum spanning tree of random edge weights on the nodes
    left, cut at the edge whose subtree best fits [lo, hi] while the rest can still make the
    remaining parts (then balance, then chance).

    Parameters
    ----------
    n : int
        Number of nodes.
    ei, ej : numpy.ndarray
        Edges.
    w : numpy.ndarray
        Node weights.
    k : int
        Number of parts.
    lo, hi : float
        Bounds of one part.
    rng : numpy.random.Generator
        The draws.

    Returns
    -------
    numpy.ndarray
        The part (0..k-1) of each node.

    Examples
    --------
    >>> path = np.arange(5)  # 0 - 1 - 2 - 3 - 4 - 5
    >>> tree_partition(6, path, path + 1, np.ones(6), 2, 3, 3, np.random.default_rng(0)).tolist()
    [0, 0, 0, 1, 1, 1]
    """
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


__all__ = ["split", "tree_partition"]
