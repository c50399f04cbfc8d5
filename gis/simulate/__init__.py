"""``simulate``: plans that merge, split, rebalance, redraw and repair units under the size rules (issue #4).

A plan (:class:`gis.simulate.plan.Plan`) is a value: the units before and after, the atoms that
move, sizes before/after, the diff, the findings of the result; save it, draw it, apply it.

>>> from gis.synth import synth
>>> from gis.simulate import split
>>> city, _ = synth(300, seed=2, plant={"size_above": 1})
>>> plan = split(city, "360102003001", rules="nanchang-2002")
>>> plan.feasible, plan.summary["result_errors"]
(True, 0)
"""

from gis.maps.plan import plan_map
from gis.simulate.atoms import Atoms, PlanError, adjacency, atoms
from gis.simulate.bounds import unit_bounds
from gis.simulate.measures import polsby_popper
from gis.simulate.merge import merge
from gis.simulate.plan import Plan, load_plan
from gis.simulate.rebalance import rebalance
from gis.simulate.redraw import redraw
from gis.simulate.repair import fit_parent, repair
from gis.simulate.split import split

__all__ = ["Atoms", "Plan", "PlanError", "adjacency", "atoms", "fit_parent", "load_plan", "merge", "plan_map",
           "polsby_popper", "rebalance", "redraw", "repair", "split", "unit_bounds"]
