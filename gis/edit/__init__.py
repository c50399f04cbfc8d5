"""Edits of a city's units, as the proposal editor makes them, for notebooks too.

- :func:`draw` gives a drawn area to one unit of a street (:mod:`gis.edit.draw`);
  :func:`estate_area` is the land of an estate (小区) to give that way (:mod:`gis.edit.estates`).
- :func:`proposed_city` puts a street's new units into the city, with what hangs on them
  (:mod:`gis.edit.proposed`); :func:`onto_stored` snaps edited units back onto the stored lines
  after a round trip through WGS84 (:mod:`gis.edit.snap`).
- :func:`in_street`, :func:`containing` and :func:`totals`: a street's units, and what lies in them
  (:mod:`gis.edit.units`).

Refusals are :class:`gis.errors.EditError`.

Examples
--------
>>> from gis import read_city
>>> city = read_city("data/sample.gpkg")
>>> street, one, two = "360102001000", "360102001009-01", "360102001009-02"
>>> units = city["grids"][in_street(city, "grids", street)][["code", "name", "geometry"]]
>>> g = units.set_index("code").geometry
>>> new, info = draw(city, street, "grids", units, (g[one].boundary & g[two].boundary).buffer(60), to=two)
>>> after, layers = proposed_city(city, street, "grids", new)
>>> layers
['buildings', 'grids']
"""

from gis.edit.draw import draw
from gis.edit.estates import estate_area
from gis.edit.proposed import proposed_city
from gis.edit.snap import onto_stored
from gis.edit.units import OUTSIDE_TOLERANCE_M2, containing, in_street, totals

__all__ = ["OUTSIDE_TOLERANCE_M2", "containing", "draw", "estate_area", "in_street", "onto_stored",
           "proposed_city", "totals"]
