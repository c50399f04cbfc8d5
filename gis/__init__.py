"""wangge (网格): check, simulate and plan the boundaries of streets, communities and grids.

>>> from gis import read_city, check
>>> found = check(read_city("data/sample.gpkg"))
>>> found.summary["layers"]["grids"]["features"] > 0
True
"""

from gis.check import Findings, check
from gis.errors import InputError, WanggeError
from gis.io import read_city, write_city
from gis.rules import load_rules

__all__ = ["read_city", "write_city", "check", "Findings", "load_rules", "InputError", "WanggeError"]
