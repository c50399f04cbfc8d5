"""Colours and line styles of the maps: one place for each, so every map (and the web viewer)
draws a level, a severity the same way.

Examples
--------
>>> LEVEL_COLOURS["communities"], LEVEL_STYLES["communities"]["color"]
('#2e7d32', '#2e7d32')
"""

from __future__ import annotations

#: Outline colour of each unit level.
LEVEL_COLOURS: dict[str, str] = {"streets": "#1f3a93", "communities": "#2e7d32", "grids": "#7b4fa0"}

#: Outline styles of the unit levels (Leaflet path options).
LEVEL_STYLES: dict[str, dict] = {
    "streets": {"color": LEVEL_COLOURS["streets"], "weight": 6, "opacity": 0.45},
    "communities": {"color": LEVEL_COLOURS["communities"], "weight": 2.5, "opacity": 0.9},
    "grids": {"color": LEVEL_COLOURS["grids"], "weight": 1.2, "opacity": 0.9, "dashArray": "5 4"},
}

#: Colours of findings by severity.
SEVERITY_COLORS: dict[str, str] = {"error": "#d62728", "warning": "#ff7f0e"}
#: Names of the severities on the maps.
SEVERITY_LABELS: dict[str, str] = {"error": "错误", "warning": "警告"}

__all__ = ["LEVEL_COLOURS", "LEVEL_STYLES", "SEVERITY_COLORS", "SEVERITY_LABELS"]
