"""Size bounds as plans use them: each unit's bounds, how far a size is outside them, and whether
whole blocks can be grouped within them at all.

Examples
--------
>>> violation([800, 1500, 2300], 1000, 2000).tolist()
[200.0, 0.0, 300.0]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gis.review import size_table
from gis.rules import RuleSet


def unit_bounds(units: pd.DataFrame, level: str, rules: RuleSet) -> pd.DataFrame:
    """Per unit code: the ``measure``, ``min`` and ``max`` a plan balances.

    The unit's primary size rule (:func:`gis.review.size_table`); NaN bounds where no rule applies.

    Parameters
    ----------
    units : DataFrame
        Units of ``level`` with ``code`` and the columns the size rules select by (``kind``,
        ``has_committee``…).
    level : str
        Their level (``communities``…).
    rules : RuleSet
        The rule set.

    Returns
    -------
    DataFrame
        Indexed by code: ``measure`` (``households`` or ``residents``), ``min``, ``max``.

    Examples
    --------
    >>> from gis.rules import load_rules
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
    """How far each value is outside [lo, hi]: 0 inside; NaN bounds are open.

    Parameters
    ----------
    value, lo, hi : float or array_like
        Sizes and their bounds (broadcast together).

    Returns
    -------
    numpy.ndarray
        ``lo - value`` below, ``value - hi`` above, 0 within.

    Examples
    --------
    >>> violation([500, 2500], [1000, np.nan], [2000, np.nan]).tolist()
    [500.0, 0.0]
    """
    value = np.asarray(value, float)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    lo = np.where(np.isnan(lo), -np.inf, lo) if lo.ndim else (-np.inf if np.isnan(lo) else float(lo))
    hi = np.where(np.isnan(hi), np.inf, hi) if hi.ndim else (np.inf if np.isnan(hi) else float(hi))
    return np.maximum(lo - value, 0) + np.maximum(value - hi, 0)


def subset_fits(w, lo: float, hi: float, total: float, k: int) -> bool:
    """Whether some set of whole blocks can form one part in [lo, hi] leaving a remainder in
    [(k-1)·lo, (k-1)·hi], contiguity ignored: a necessary condition for a k-way partition.

    A subset-sum over the blocks' rounded weights (a bitset of reachable sums).

    Parameters
    ----------
    w : array_like
        Weights (households or residents) of the blocks.
    lo, hi : float
        Bounds of one part (an infinite bound is open).
    total : float
        Sum of ``w``.
    k : int
        Number of parts.

    Returns
    -------
    bool

    Examples
    --------
    >>> subset_fits([470] * 5, 1000, 2000, 2350, 2)  # no two parts of whole 470s both reach 1,000
    False
    >>> subset_fits([600] * 4, 1000, 2000, 2400, 2)
    True
    """
    w = np.round(np.asarray(w)).astype(np.int64)
    reach = np.zeros(int(w.sum()) + 1, bool)
    reach[0] = True
    for x in w:
        reach[x:] |= reach[: len(reach) - x].copy()
    sums = np.flatnonzero(reach)
    lo_ = -np.inf if not np.isfinite(lo) else lo
    ok = (violation(sums, lo_, hi) == 0) & (violation(total - sums, (k - 1) * lo_, (k - 1) * hi) == 0)
    return bool(ok.any())


__all__ = ["subset_fits", "unit_bounds", "violation"]
