"""Merge units below their minimum into their neighbours, whole or block by block.

Every result unit is a union of whole atoms (``gis.simulate.atoms``: new lines follow atom edges,
no building is cut), estate blocks move whole and households are conserved; bounds come from the
rule set (:func:`gis.simulate.bounds.unit_bounds`). When no merge meets the bounds the best one is
returned with ``feasible`` False and its causes named.

Examples
--------
>>> from gis.synth import synth
>>> city, _ = synth(300, seed=1, plant={"size_below": 1})
>>> plan = merge(city, "360102001005", rules="nanchang-2002")
>>> plan.feasible, plan.summary["units_before"] - plan.summary["units_after"]
(True, 1)
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from gis.model import LABELS, PARENT, City
from gis.rules import DEFAULT_RULES, RuleSet, load_rules
from gis.simulate.atoms import PlanError, atoms
from gis.simulate.bounds import violation
from gis.simulate.context import KEEP_KINDS, Context, held
from gis.simulate.plan import Plan


def merge(city: City, unit: str | list[str] | None = None, *, level: str = "communities",
          rules: str | RuleSet = DEFAULT_RULES, fixed: Collection[str] = (),
          keep_kinds: Collection[str] = KEEP_KINDS, parent: str | None = None) -> Plan:
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

    Parameters
    ----------
    city : City
        The city.
    unit : str or list of str, optional
        The unit(s) to merge away, all under one parent; None: every unit of ``parent`` below its
        minimum.
    level, rules, fixed, keep_kinds
        The keywords every operation shares (:mod:`gis.simulate.context`).
    parent : str, optional
        With no ``unit``: the parent whose small units to merge.

    Returns
    -------
    Plan
        ``summary["merged"]`` the units merged away, ``summary["fixed"]`` the units left alone.

    Raises
    ------
    PlanError
        An unknown unit, units of two parents, neither ``unit`` nor ``parent``, or a unit both
        merged and fixed.

    Examples
    --------
    >>> from gis.synth import synth
    >>> city, _ = synth(300, seed=1, plant={"size_below": 1})
    >>> merge(city, parent="360102002000", rules="nanchang-2002").summary["merged"]
    ['360102002005']
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
    ctx = Context(city, a, level, rules)
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
                          f"相邻{LABELS[ctx.level]}容量不足（合并后仍超出 {best[1]:,.0f} {ctx.word}）")
    return ctx.plan("merge", label, causes, {"merged": wanted, "fixed": keep})


def _merge_whole(ctx: Context, label: np.ndarray, k: int):
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


def _dissolve(ctx: Context, label: np.ndarray, k: int):
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


__all__ = ["merge"]
