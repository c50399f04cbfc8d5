"""Rebalance the units of one parent: move whole estate blocks between neighbours until each is
within its bounds (a greedy local search).

Examples
--------
>>> from gis.synth import synth
>>> city, _ = synth(300, seed=1)
>>> plan = rebalance(city, "360102002000", rules="nanchang-2002")
>>> plan.operation, plan.summary["units_before"] == plan.summary["units_after"]
('rebalance', True)
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from gis.model import LABELS, City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules
from gis.simulate.atoms import atoms
from gis.simulate.bounds import violation
from gis.simulate.context import KEEP_KINDS, Context, held
from gis.simulate.plan import Plan


def rebalance(city: City, parent: str, *, level: str = "communities", rules: str | RuleSet = DEFAULT_RULES,
              fixed: Collection[str] = (), keep_kinds: Collection[str] = KEEP_KINDS, max_moves: int = 500) -> Plan:
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

    Parameters
    ----------
    city : City
        The city.
    parent : str
        Code of the parent (a street for communities, a community for grids).
    level, rules, fixed, keep_kinds
        The keywords every operation shares (:mod:`gis.simulate.context`).
    max_moves : int
        Most block moves (default 500).

    Returns
    -------
    Plan
        Every unit of ``parent`` counts for its bounds (``scope="all"``); ``summary["steps"]``.

    Examples
    --------
    >>> from gis.synth import synth
    >>> city, _ = synth(300, seed=1, plant={"size_above": 1})
    >>> plan = rebalance(city, "360102001000", rules="nanchang-2002", max_moves=3)
    >>> plan.summary["steps"] <= 3, plan.summary["fixed"]
    (True, ['360102001017'])
    """
    rules = load_rules(rules)
    keep = held(city, level, parent, fixed, keep_kinds)
    a = atoms(city, level, parent=parent, exclude=keep)
    ctx = Context(city, a, level, rules)
    lo, hi = np.array(ctx.lo, float), np.array(ctx.hi, float)
    blocks = [np.flatnonzero(ctx.block == b) for b in range(ctx.block.max() + 1)]
    label, steps = greedy_moves(ctx, ctx.label0.copy(), lo, hi, max_moves)
    causes = []
    size = ctx.sizes(label)
    for k in np.flatnonzero(violation(size, lo, hi) > 0):
        code = ctx.codes[k]
        big = [b for b in blocks if label[b[0]] == k and ctx.w[b].sum() > hi[k]]
        if big:
            causes.append(f"{ctx.label(code)}：{LABELS[a.child]} {', '.join(a.frame['code'].iloc[big[0]])} 单独就有 "
                          f"{ctx.w[big[0]].sum():,.0f} {ctx.word}，超过上限 {hi[k]:,.0f}")
        else:
            causes.append(f"{ctx.label(code)} 有 {size[k]:,.0f} {ctx.word}：相邻{LABELS[ctx.level]}之间没有能减少超限的整块调整")
    return ctx.plan("rebalance", label, causes, {"steps": steps, "max_moves": max_moves, "fixed": keep}, scope="all")


def greedy_moves(ctx: Context, label: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 max_moves: int) -> tuple[np.ndarray, int]:
    """Rebalance's greedy search from ``label`` (see :func:`rebalance`); redraw starts from it too.

    Parameters
    ----------
    ctx : Context
        The units and atoms.
    label : numpy.ndarray
        Unit number of each atom to start from; changed in place.
    lo, hi : numpy.ndarray
        Bounds of each unit.
    max_moves : int
        Most block moves.

    Returns
    -------
    tuple of (numpy.ndarray, int)
        The labels after the moves and the number of steps taken.

    Examples
    --------
    >>> from gis.rules import load_rules
    >>> from gis.synth import synth
    >>> from gis.simulate.atoms import atoms
    >>> city, _ = synth(300, seed=1, plant={"size_above": 1})
    >>> ctx = Context(city, atoms(city, "communities", parent="360102001000"), "communities",
    ...               load_rules("nanchang-2002"))
    >>> label, steps = greedy_moves(ctx, ctx.label0.copy(), np.array(ctx.lo), np.array(ctx.hi), 500)
    >>> bool(violation(ctx.sizes(label), ctx.lo, ctx.hi).sum() <= violation(ctx.before_size, ctx.lo, ctx.hi).sum())
    True
    """
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


__all__ = ["greedy_moves", "rebalance"]
