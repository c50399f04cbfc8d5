"""Where to put new facilities: maximal covering (k sites, most households) and set covering.

Both work on a boolean ``reach`` matrix (candidate sites × demand points, from
:func:`gis.coverage.walk.reach`) and demand weights (households not yet covered).

* ``greedy`` — the classic greedy of the maximal covering location problem (Church & ReVelle 1974)
  with lazy gains (Minoux 1978): a candidate's gain can only shrink, so a stale gain on top of the
  heap that is still the largest once refreshed is the true best. Within 1 − 1/e of the optimum,
  usually within a percent. With ``k=None`` it adds sites until every reachable household is
  covered: the greedy set cover.
* ``exact`` — the same two problems as integer programs solved by ``scipy.optimize.milp`` (HiGHS);
  for small instances.

Examples
--------
>>> import numpy as np
>>> from scipy import sparse
>>> reach = sparse.csr_matrix(np.array([[1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1]], dtype=bool))
>>> w = np.array([10.0, 1.0, 1.0, 10.0])
>>> greedy(reach, w, 2)
([0, 2], [11.0, 11.0])
>>> exact(reach, w, 1), exact(reach, w, None)
(([0], [11.0]), ([0, 2], [11.0, 11.0]))
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy import optimize, sparse


def greedy(reach: sparse.csr_matrix, weight: np.ndarray, k: int | None) -> tuple[list[int], list[float]]:
    """Up to ``k`` sites chosen one at a time for the most newly covered weight (lazy gains).

    Parameters
    ----------
    reach : sparse matrix of bool, (candidates × demand)
    weight : ndarray of float, (demand,)
        Households of each demand point; 0 for those already covered.
    k : int or None
        Number of sites; ``None``: as many as needed to cover every reachable demand point.

    Returns
    -------
    sites : list of int (candidate indices, in order of choice), gains : list of float
        The weight each site newly covers. Sites that would add nothing are not returned.
    """
    reach = sparse.csr_matrix(reach)
    left = np.asarray(weight, dtype=float).copy()
    gains = reach @ left
    heap = [(-g, c) for c, g in enumerate(gains) if g > 0]
    heapq.heapify(heap)
    sites, gained = [], []
    while heap and (k is None or len(sites) < k):
        _, c = heapq.heappop(heap)
        cols = reach.indices[reach.indptr[c]:reach.indptr[c + 1]]
        fresh = left[cols].sum()
        if fresh <= 0:
            continue
        if heap and -heap[0][0] > fresh:
            heapq.heappush(heap, (-fresh, c))
            continue
        sites.append(c), gained.append(float(fresh))
        left[cols] = 0
    return sites, gained


def exact(reach: sparse.csr_matrix, weight: np.ndarray, k: int | None,
          time_limit: float = 60.0) -> tuple[list[int], list[float]]:
    """The optimum of the same problem by integer programming (``scipy.optimize.milp``).

    With ``k``: maximal covering — at most ``k`` sites, most weight covered. With ``k=None``:
    set covering — fewest sites covering every reachable demand point of positive weight.
    Gains are reported in greedy order over the chosen sites.
    """
    reach = sparse.csr_matrix(reach, dtype=float)
    weight = np.asarray(weight, dtype=float)
    need = np.flatnonzero((weight > 0) & (np.asarray(reach.sum(axis=0)).ravel() > 0))
    a = reach[:, need].T.tocsr()  # demand × candidates
    if a.shape[0] == 0:
        return [], []
    # demand points reached by the same candidates are one point with their weights summed
    a.sort_indices()
    keys = [a.indices[a.indptr[i]:a.indptr[i + 1]].tobytes() for i in range(a.shape[0])]
    _, first, group = np.unique(keys, return_index=True, return_inverse=True)
    a, w = a[first], np.bincount(group.ravel(), weights=weight[need])
    nd, nc = a.shape
    options = {"time_limit": time_limit}
    if k is None:
        res = optimize.milp(np.ones(nc), integrality=np.ones(nc), bounds=optimize.Bounds(0, 1),
                            constraints=optimize.LinearConstraint(a, lb=1), options=options)
    else:
        # variables: x (candidates, binary) then y (demand, covered share in [0, 1]); max w·y
        cover = sparse.hstack([-a, sparse.eye(nd)]).tocsr()        # y_i − Σ a_ij x_j ≤ 0
        count = sparse.hstack([sparse.csr_matrix(np.ones((1, nc))), sparse.csr_matrix((1, nd))])
        res = optimize.milp(np.r_[np.zeros(nc), -w], integrality=np.r_[np.ones(nc), np.zeros(nd)],
                            bounds=optimize.Bounds(0, 1),
                            constraints=[optimize.LinearConstraint(cover, ub=0),
                                         optimize.LinearConstraint(count, ub=k)], options=options)
    if res.x is None:
        raise RuntimeError(f"milp found no solution: {res.message}")
    chosen = np.flatnonzero(res.x[:nc] > 0.5)
    order, gains = greedy(reach[chosen].astype(bool), weight, None)
    return [int(chosen[i]) for i in order], gains
