"""The map of a plan (:func:`plan_map`): old lines, new lines, moved atoms and changed areas shaded.

Examples
--------
>>> import folium
>>> from gis.synth import synth
>>> from gis.simulate import merge
>>> city, _ = synth(300, seed=1, plant={"size_below": 1})
>>> m = plan_map(merge(city, "360102001005"))
>>> sorted(c.layer_name for c in m._children.values() if isinstance(c, folium.GeoJson))[:2]
['方案前 社区 (18)', '方案后 社区 (17)']
"""

from __future__ import annotations

import html as _html

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from gis.maps.layers import geojson_layer, html_text, wgs84
from gis.maps.page import base_map, finish_page
from gis.maps.style import LEVEL_COLOURS, LEVEL_STYLES, SEVERITY_COLORS
from gis.model import LABELS

OPERATIONS = {"repair": "修复", "merge": "合并", "split": "拆分", "rebalance": "调整", "redraw": "重划"}
GAINED, LOST, MOVED = "#2ca02c", "#d62728", "#ff7f0e"


def plan_map(plan) -> folium.Map:
    """A folium map of ``plan``: units before (grey dashed) and after (the level's colour, tooltip
    with sizes and status), moved atoms (orange, tooltip from → to and households), areas gained
    (green) and lost (red), and the findings of the result."""
    m = base_map()
    lab = LABELS.get(plan.level, plan.level)
    sizes = plan.sizes
    before = wgs84(_solid(plan.before))
    if len(before):
        tip = (f"方案前 {lab} " + html_text(before["code"]) + " · " + before["households"].map("{:,}".format) + " 户")
        geojson_layer(before.assign(tip=tip)[["tip", "geometry"]], f"方案前 {lab} ({len(before)})",
                 {"color": "#555555", "weight": 2, "opacity": 0.8, "dashArray": "6 5", "fill": True,
                  "fillOpacity": 0.0}).add_to(m)
    after = wgs84(_solid(plan.units[plan.units["status"] != "removed"]))
    if len(after):
        status = after["status"].map({"kept": "不变", "changed": "调整", "new": "新设"}).fillna("")
        ok = after["code"].map(sizes["ok"]).fillna(True) if "ok" in sizes else pd.Series(True, after.index)
        tip = ("<b>方案后 " + lab + " " + html_text(after["code"]) + " " + html_text(after.get("name", pd.Series("", after.index)))
               + "</b><br>" + after["households"].map("{:,}".format) + " 户 · " + status
               + np.where(ok, "", " · <b>仍超出规模</b>"))
        style = {**LEVEL_STYLES.get(plan.level, {"color": LEVEL_COLOURS["communities"], "weight": 2.5}), "fill": True,
                 "fillOpacity": 0.0}
        geojson_layer(after.assign(tip=tip)[["tip", "geometry"]], f"方案后 {lab} ({len(after)})", style).add_to(m)
    if len(plan.moves):
        mv = wgs84(plan.moves)
        tip = (LABELS.get(_child(plan.level), "") + " " + html_text(mv["code"]) + "：" + html_text(mv["from"]) + " → "
               + html_text(mv["to"]) + "，" + mv["households"].astype(int).map("{:,}".format) + " 户")
        geojson_layer(mv.assign(tip=tip)[["tip", "geometry"]], f"调整的单元 ({len(mv)})",
                 {"color": MOVED, "weight": 1, "fillColor": MOVED, "fillOpacity": 0.45}).add_to(m)
    elif len(plan.changes):
        for change, color, word in (("gained", GAINED, "增加"), ("lost", LOST, "减少")):
            ch = plan.changes[plan.changes["change"] == change]
            if len(ch):
                ch = wgs84(ch)
                tip = html_text(ch["unit"]) + f" {word} " + ch["area_m2"].map("{:,.1f}".format) + " m²"
                geojson_layer(ch.assign(tip=tip)[["tip", "geometry"]], f"面积{word} ({len(ch)})",
                         {"color": color, "weight": 2, "fillColor": color, "fillOpacity": 0.5}).add_to(m)
    found = plan.findings
    if len(found):
        shown = _solid(found)
        for sev, color in SEVERITY_COLORS.items():
            sub = shown[shown["severity"] == sev]
            if len(sub):
                sub = wgs84(sub)
                geojson_layer(sub.assign(tip=html_text(sub["message"]))[["tip", "geometry"]], f"方案结果 {sev} ({len(sub)})",
                         {"color": color, "weight": 2.5, "fillColor": color, "fillOpacity": 0.2}, radius=6).add_to(m)
    s = plan.summary
    verdict = "可行" if s.get("feasible") else "不可行：" + "；".join(map(str, s.get("causes", [])))
    title = (f'<b>{OPERATIONS.get(plan.operation, plan.operation)}方案 · '
             f'{_html.escape(str(plan.parent or "全部"))}</b><br>{lab} {s.get("units_before")} → {s.get("units_after")}'
             f' · 调整 {s.get("households_moved", 0):,} 户<br>{_html.escape(verdict)}')
    legend = ('<b>图例</b>'
              '<div><i style="border-top:2px dashed #555"></i>方案前边界</div>'
              f'<div><i style="border-top:3px solid {LEVEL_COLOURS.get(plan.level, LEVEL_COLOURS["communities"])}"></i>方案后边界</div>'
              f'<div><i class="sq" style="background:{MOVED}88"></i>调整的单元</div>'
              f'<div><i class="sq" style="background:{GAINED}88"></i>面积增加</div>'
              f'<div><i class="sq" style="background:{LOST}88"></i>面积减少</div>')
    frames = [_solid(g) for g in (plan.before, plan.units) if len(_solid(g))]
    bounds = wgs84(gpd.GeoDataFrame(geometry=pd.concat([f.geometry for f in frames]).values,
                                    crs=plan.units.crs)).total_bounds if frames else None
    return finish_page(m, title, legend, bounds)


def _solid(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Rows with a non-empty geometry."""
    g = gdf.geometry
    return gdf[~(g.isna().to_numpy() | g.is_empty.to_numpy())]


def _child(level: str) -> str:
    from gis.model import LEVELS

    i = LEVELS.index(level)
    return LEVELS[i + 1] if i + 1 < len(LEVELS) else level


__all__ = ["plan_map"]
