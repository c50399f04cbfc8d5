"""What one street's staff may see of the stored city: :class:`Scope`.

Examples
--------
>>> import geopandas as gpd, shapely
>>> street = gpd.GeoDataFrame({"code": ["S1"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=4548)
>>> scope = Scope.of("S1", street, {"C1"}, street.crs)
>>> grids = gpd.GeoDataFrame({"community_code": ["C1", "C2"]}, geometry=[None, None], crs=4548)
>>> scope.mask("grids", grids).tolist(), scope.area.bounds
([True, False], (1.0, 1.0, 99.0, 99.0))
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from api.store.projection import eroded


@dataclass
class Scope:
    """What one street's staff may see: its units by code, other features by the street's area.

    ``codes``: per unit layer, the column and the values allowed (streets by code, communities by
    street code, grids by community code); ``area``: the street's polygon in the city's CRS, eroded by
    1 m so that features of the neighbouring streets that only touch its boundary stay out.
    """

    street: str
    codes: dict
    area: object

    @classmethod
    def of(cls, code: str, street: gpd.GeoDataFrame, communities: set, crs) -> Scope:
        """The scope of the street ``code``: ``street``, its features, and the codes of its
        ``communities``, in the city's ``crs`` (see the module's example)."""
        return cls(code, {"streets": ("code", {code}), "communities": ("street_code", {code}),
                          "grids": ("community_code", communities)},
                   eroded(shapely.union_all(np.asarray(street.geometry.values, dtype=object)), crs))

    def mask(self, layer: str, frame: gpd.GeoDataFrame) -> np.ndarray:
        """Which rows of ``frame`` (a frame of ``layer``) are in scope."""
        if layer in self.codes:
            col, allowed = self.codes[layer]
            if col not in frame:
                return np.zeros(len(frame), bool)
            return frame[col].isin(allowed).to_numpy()
        geoms = np.asarray(frame.geometry.values, dtype=object)
        return np.asarray(shapely.intersects(geoms, self.area), bool) & ~shapely.is_missing(geoms)
