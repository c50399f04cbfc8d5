"""Where ``unit_bounds`` used to live, kept while ``api.proposals.review`` imports it from here.

The operations are now one module each (``merge``, ``rebalance``, ``split``, ``redraw``,
``repair``), their shared state in ``gis.simulate.context`` and the bounds in
``gis.simulate.bounds``; import ``unit_bounds`` from :mod:`gis.simulate`.

>>> from gis.simulate import unit_bounds as public
>>> unit_bounds is public
True
"""

from gis.simulate.bounds import unit_bounds

__all__ = ["unit_bounds"]
