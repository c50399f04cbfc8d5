"""Shape measures of units: Polsby–Popper compactness, the one place its formula is written.

Examples
--------
>>> from shapely import box
>>> polsby_popper([box(0, 0, 1, 1), box(0, 0, 4, 1)]).round(3).tolist()
[0.785, 0.503]
"""

from __future__ import annotations

import numpy as np
import shapely


def isoperimetric_quotient(area, perimeter) -> np.ndarray:
    """Polsby–Popper compactness from areas and perimeters: 4πA/P², 0 where P is 0.

    For shapes known only by their measures, e.g. unions of atoms whose perimeter is the sum of
    the atoms' perimeters less twice their shared edges (``gis.simulate.redraw``).

    Parameters
    ----------
    area, perimeter : array_like
        Areas and perimeters, in matching units (m², m).

    Returns
    -------
    numpy.ndarray
        1 for a disc, towards 0 for long thin shapes.

    Examples
    --------
    >>> isoperimetric_quotient([1.0, 4.0, 0.0], [4.0, 10.0, 0.0]).round(3).tolist()
    [0.785, 0.503, 0.0]
    """
    area, perimeter = np.asarray(area, float), np.asarray(perimeter, float)
    return np.divide(4 * np.pi * area, perimeter ** 2, out=np.zeros(np.shape(area)), where=perimeter > 0)


def polsby_popper(geoms) -> np.ndarray:
    """Compactness 4πA/P² of each polygon (1 for a disc, → 0 for long thin shapes).

    Polsby & Popper (1991), "The third criterion: compactness as a procedural safeguard against
    partisan gerrymandering"; momepy's ``circular_compactness`` family.

    Parameters
    ----------
    geoms : array_like of shapely.Geometry
        Polygons in a metric CRS.

    Returns
    -------
    numpy.ndarray
        One value per geometry; 0 for an empty one.

    Examples
    --------
    >>> from shapely import box
    >>> polsby_popper([box(0, 0, 1, 1)]).round(3).tolist()
    [0.785]
    """
    return isoperimetric_quotient(shapely.area(geoms), shapely.length(geoms))


__all__ = ["isoperimetric_quotient", "polsby_popper"]
