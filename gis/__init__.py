"""wangge (网格): check, simulate and plan the boundaries of streets, communities and grids.

The functions a notebook starts from are here; the rest of the library is in its modules,
``gis.coverage``, ``gis.simulate``, ``gis.maps``, ``gis.review``, ``gis.reading``, each loaded
when first used:

>>> from gis import read_city, check, coverage, simulate, maps
>>> city = read_city("data/sample.gpkg")
>>> found = check(city)
>>> found.summary["layers"]["grids"]["features"] > 0
True
>>> callable(coverage.coverage) and callable(simulate.redraw) and callable(maps.findings_map)
True
"""

import importlib

from gis.check import Findings, check
from gis.errors import InputError, WanggeError
from gis.io import read_city, write_city
from gis.rules import DEFAULT_RULES, load_rules

#: Modules loaded on first use (numba, scipy and folium are not needed to read and check a city).
MODULES = ("coverage", "simulate", "maps", "review", "reading", "synth")

__all__ = ["read_city", "write_city", "check", "Findings", "load_rules", "DEFAULT_RULES", "InputError",
           "WanggeError", *MODULES]


def __getattr__(name: str):
    if name in MODULES:
        return importlib.import_module(f"gis.{name}")
    raise AttributeError(f"module 'gis' has no attribute {name!r}")
