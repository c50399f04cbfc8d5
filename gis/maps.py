"""Offline HTML maps of check findings over a city's units (folium + vendored Leaflet).

The saved file is self-contained: Leaflet 1.9.4 (``gis/static/leaflet``) is inlined, folium's CDN
scripts and styles (jQuery, Bootstrap, Font Awesome, awesome-markers) are left out, and nothing
is loaded from a URL unless a base map ``tiles`` template is given.  Only folium features that
need Leaflet alone are used (GeoJson, GeoJsonTooltip, CircleMarker, LayerControl; no popups,
which need jQuery).

Examples
--------
>>> import geopandas as gpd, tempfile, pathlib
>>> from shapely import box
>>> from gis.model import City
>>> from gis.findings import findings
>>> grids = gpd.GeoDataFrame({"code": ["G1", "G2"], "name": ["第1网格", "第2网格"]},
...                          geometry=[box(115.90, 28.67, 115.91, 28.68), box(115.91, 28.67, 115.92, 28.68)],
...                          crs="EPSG:4326")
>>> city = City({"grids": grids})
>>> found = findings([{"code": "gap", "layer": "grids", "ids": ["G1"], "message": "网格间空白 12 m²",
...                    "area_m2": 12.0, "geometry": box(115.9099, 28.67, 115.9101, 28.68)}], crs="EPSG:4326")
>>> path = save_map(findings_map(city, found), pathlib.Path(tempfile.mkdtemp()) / "findings.html")
>>> html = path.read_text(encoding="utf-8")
>>> "cdn.jsdelivr" in html, "第2网格" in html, "网格间空白" in html
(False, True, True)
"""

from __future__ import annotations

import base64
import html as _html
import re
import warnings
from importlib import resources
from pathlib import Path

import folium
from branca.element import MacroElement
from jinja2 import Template
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.atomic import replacing
from gis.model import LABELS

__all__ = ["base_map", "findings_map", "save_map", "to_html", "show", "MAX_BUILDINGS", "SEVERITY_COLORS", "LEVEL_STYLES"]

#: Buildings drawn at most; larger layers are sampled (the layer name says so).
MAX_BUILDINGS = 20_000

#: Above this many buildings shown, paths are drawn on a canvas instead of as SVG elements.
CANVAS_ABOVE = 5_000

#: Colours of findings by severity.
SEVERITY_COLORS: dict[str, str] = {"error": "#d62728", "warning": "#ff7f0e"}
SEVERITY_LABELS: dict[str, str] = {"error": "错误", "warning": "警告"}

#: Outline styles of the unit levels (Leaflet path options).
LEVEL_STYLES: dict[str, dict] = {
    "streets": {"color": "#1f3a93", "weight": 6, "opacity": 0.45},
    "communities": {"color": "#2e7d32", "weight": 2.5, "opacity": 0.9},
    "grids": {"color": "#7b4fa0", "weight": 1.2, "opacity": 0.9, "dashArray": "5 4"},
}
_BUILDING_STYLE = {"color": "#777777", "weight": 0.6, "fillColor": "#9e9e9e", "fillOpacity": 0.6, "opacity": 0.8}
_BACKGROUND = "#f4f3ef"
_POINT_LAYERS = ("buildings", "facilities")


def base_map(**options) -> folium.Map:
    """An empty map on a plain background (no base map), with a scale bar and Leaflet's plain
    attribution; ``options`` go to ``folium.Map``."""
    m = folium.Map(tiles=None, control_scale=True, zoom_snap=0.25, **options)
    _PlainAttribution().add_to(m)
    return m


class _PlainAttribution(MacroElement):
    """Leaflet's attribution prefix without its default flag icon."""

    _template = Template("{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.attributionControl"
                         ".setPrefix('<a href=\"https://leafletjs.com\">Leaflet</a>');{% endmacro %}")


def findings_map(city, found: gpd.GeoDataFrame | None = None, *, tiles: str | None = None,
                 attribution: str | None = None) -> folium.Map:
    """A folium map of ``found`` over the unit levels and buildings of ``city``.

    One toggleable layer per unit level present (streets 街道, communities 社区, grids 网格;
    outlines with tooltips like "网格 360102001003-02 第2网格"), buildings (grey; a sample of
    ``MAX_BUILDINGS`` when there are more, said in the layer name) and one layer per severity of
    findings (error red, warning orange; tooltip = message, code and area). Findings on
    buildings or facilities, and point findings, are drawn as circle markers. A legend and a
    title box with the counts are fixed on the page. Findings without geometry are counted but
    not drawn. With more than ``CANVAS_ABOVE`` buildings shown, paths are drawn on a canvas and
    the buildings layer starts switched off (tick it in the layer control).

    Parameters
    ----------
    city : gis.model.City
        The city; its layers may be in any CRS (shown in EPSG:4326).
    found : GeoDataFrame, optional
        Findings as made by ``gis.findings.findings`` (a ``None`` CRS is taken as the city's).
    tiles : str, optional
        A base-map URL template (``https://…/{z}/{x}/{y}.png``); by default none — boundaries on a
        plain light background, so the map needs no network.
    attribution : str, optional
        Attribution of ``tiles``.

    Returns
    -------
    folium.Map
        Write it with ``save_map`` for a file that works offline.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> from gis.model import City
    >>> city = City({"communities": gpd.GeoDataFrame({"code": ["C1"], "name": ["滕王阁社区"]},
    ...     geometry=[box(115.88, 28.68, 115.89, 28.69)], crs="EPSG:4326")})
    >>> m = findings_map(city)
    >>> sorted(c.layer_name for c in m._children.values() if isinstance(c, folium.GeoJson))
    ['社区 (1)']
    """
    buildings = _buildings(city)
    m = base_map(prefer_canvas=buildings is not None and len(buildings[0]) > CANVAS_ABOVE)
    if tiles:
        folium.TileLayer(tiles, attr=attribution or "底图", name="底图", overlay=False, control=False).add_to(m)

    counts = {}
    for level in city.levels:
        gdf = _wgs84(city[level])
        counts[level] = len(city[level])
        if not len(gdf):
            continue
        label = _label(level, gdf)
        style = {**LEVEL_STYLES[level], "fill": True, "fillOpacity": 0.0}
        _geojson(gdf.assign(tip=label)[["tip", "geometry"]], f"{LABELS[level]} ({len(gdf)})", style).add_to(m)

    if buildings is not None:
        gdf, total = buildings
        counts["buildings"] = total
        name = f"{LABELS['buildings']} ({total})" if len(gdf) == total else \
            f"{LABELS['buildings']} (抽样 {len(gdf)}/{total})"
        tip = LABELS["buildings"] + " " + _text(gdf["code"]) if "code" in gdf else pd.Series("建筑", gdf.index)
        _geojson(gdf.assign(tip=tip)[["tip", "geometry"]], name, _BUILDING_STYLE, radius=2,
                 show=len(gdf) <= CANVAS_ABOVE).add_to(m)

    severities = {}
    if found is not None:
        if found.crs is None:
            found = found.set_crs(city.crs)
        for sev in ("error", "warning"):
            sub = found[found["severity"] == sev]
            severities[sev] = len(sub)
            sub = sub[sub.geometry.notna() & ~sub.geometry.is_empty]
            if not len(sub):
                continue
            sub = _wgs84(sub)
            point = sub["layer"].isin(_POINT_LAYERS) | sub.geom_type.isin(["Point", "MultiPoint"])
            geom = sub.geometry.where(~point, sub.geometry.representative_point())
            color = SEVERITY_COLORS[sev]
            style = {"color": color, "weight": 2.5, "opacity": 0.95, "fillColor": color, "fillOpacity": 0.35}
            _geojson(gpd.GeoDataFrame({"tip": _finding_tip(sub)}, geometry=geom, crs=4326),
                     f"{SEVERITY_LABELS[sev]} ({len(found[found['severity'] == sev])})", style, radius=6).add_to(m)

    folium.LayerControl(collapsed=False).add_to(m)
    root = m.get_root()
    root.header.add_child(folium.Element(_CSS))
    root.html.add_child(folium.Element(_title_html(city, counts, severities, found)))
    root.html.add_child(folium.Element(_legend_html(city, counts, found is not None)))

    bounds = _bounds(city)
    if bounds is not None:
        m.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]], padding=(20, 20))
    return m


def save_map(m: folium.Map, path) -> Path:
    """Write ``m`` as one self-contained, offline HTML file (UTF-8, written atomically).

    Every JavaScript/CSS resource folium would link from a CDN is dropped and the vendored
    Leaflet (``gis/static/leaflet``) is inlined in its place, its CSS images as data URIs.
    The map object is not changed. Resources of other folium elements (plugins) are dropped too,
    with a warning, as the page could not load them offline anyway.

    Parameters
    ----------
    m : folium.Map
        Typically from ``findings_map``; use no folium feature that needs jQuery or Bootstrap
        (popups, awesome markers, plugins).
    path : str or Path
        The HTML file to write.

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = save_map(folium.Map(tiles=None), pathlib.Path(tempfile.mkdtemp()) / "m.html")
    >>> text = p.read_text(encoding="utf-8")
    >>> "<script src=" in text, "<link" in text, 'version="1.9.4"' in text
    (False, False, True)
    """
    path = Path(path)
    text = to_html(m)
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    return path


def to_html(m: folium.Map) -> str:
    """The map as one self-contained offline HTML document (what ``save_map`` writes)."""
    return _inline_leaflet(_unescape_non_ascii(m.get_root().render()))


def show(m: folium.Map, height: int = 600):
    """Display the map in a notebook, offline: an iframe whose document is ``to_html(m)``.

    Folium's own notebook display loads Leaflet from a CDN; this one loads nothing.
    """
    from IPython.display import HTML

    doc = _html.escape(to_html(m), quote=True)
    return HTML(f'<iframe srcdoc="{doc}" style="width:100%;height:{height}px;border:0"></iframe>')


# --- helpers -------------------------------------------------------------------------------------

_RESOURCE = re.compile(r"""<script\b[^>]*\bsrc\s*=[^>]*>\s*</script>|<link\b[^>]*\bhref\s*=[^>]*>""", re.I)


def _inline_leaflet(text: str) -> str:
    """Drop every linked script/style of ``text`` and inline the vendored Leaflet in their place."""
    known = {url for _, url in (*folium.Map.default_js, *folium.Map.default_css)}
    dropped = [m.group(0) for m in _RESOURCE.finditer(text)]
    unexpected = [d for d in dropped if not any(url in d for url in known)]
    if unexpected:
        warnings.warn(f"save_map: dropped resources that cannot load offline: {unexpected}", stacklevel=3)
    # first thing in <head>, so later styles override Leaflet's, but after the charset <meta>,
    # which browsers look for in the first 1024 bytes
    head = re.search(r"<head>\s*(<meta\b[^>]*charset[^>]*>)?", text, re.I)
    at = head.end() if head else 0
    js, css = _leaflet()
    inline = f"<style>\n{css}\n</style>\n<script>\n{js}\n</script>\n"
    return _RESOURCE.sub("", text[:at]) + inline + _RESOURCE.sub("", text[at:])


_U_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u(?:(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|([0-9a-f]{4}))", re.I)


def _unescape_non_ascii(text: str) -> str:
    r"""Turn folium's JSON ``\uXXXX`` escapes of non-ASCII characters back into the characters.

    Same JavaScript, but the file stays readable and searchable (Chinese names and messages
    appear as such). ASCII escapes (``\u003c`` for ``<`` etc.) and line separators are kept.
    """
    def repl(m):
        lead, hi, lo, one = m.groups()
        if hi:
            return lead + chr(0x10000 + ((int(hi, 16) - 0xD800) << 10) + int(lo, 16) - 0xDC00)
        c = int(one, 16)
        if c < 0x80 or 0xD800 <= c <= 0xDFFF or c in (0x2028, 0x2029):
            return m.group(0)
        return lead + chr(c)

    return _U_ESCAPE.sub(repl, text)


_LEAFLET: tuple[str, str] | None = None


def _leaflet() -> tuple[str, str]:
    """The vendored leaflet.js and leaflet.css ready for inlining (cached)."""
    global _LEAFLET
    if _LEAFLET is None:
        base = resources.files("gis") / "static" / "leaflet"
        js = (base / "leaflet.js").read_text(encoding="utf-8")
        js = re.sub(r"^//# sourceMappingURL=.*$", "", js, flags=re.M).replace("</script", "<\\/script")
        css = (base / "leaflet.css").read_text(encoding="utf-8")

        def data_uri(match):
            image = base / "images" / match.group(1)
            if not image.is_file():
                return "none"  # marker-icon.png: only for default markers, which are not used
            return "url(data:image/png;base64," + base64.b64encode(image.read_bytes()).decode() + ")"

        css = re.sub(r"url\(images/([\w.-]+)\)", data_uri, css)
        _LEAFLET = js, css
    return _LEAFLET


def _wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``gdf`` without empty geometries, in EPSG:4326, coordinates rounded to 1e-6° (~0.1 m)."""
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].reset_index(drop=True)
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    geom = shapely.transform(np.asarray(gdf.geometry.values, dtype=object), lambda c: np.round(c, 6))
    return gdf.set_geometry(gpd.GeoSeries(geom, index=gdf.index, crs=4326))


def _buildings(city):
    """(buildings to draw in EPSG:4326, total count), or None."""
    if "buildings" not in city or not len(city["buildings"]):
        return None
    b = city["buildings"]
    total = len(b)
    if total > MAX_BUILDINGS:
        b = b.sample(n=MAX_BUILDINGS, random_state=0).sort_index()
    cols = ["code"] if "code" in b else []
    return _wgs84(b[cols + [b.geometry.name]]), total


def _text(s: pd.Series) -> pd.Series:
    """Strings of ``s`` escaped for HTML, '' for missing values."""
    s = s.astype("string").fillna("")
    return s.str.replace("&", "&amp;").str.replace("<", "&lt;").str.replace(">", "&gt;")


def _label(level: str, gdf: gpd.GeoDataFrame) -> pd.Series:
    """'网格 360102001003-02 第2网格' per unit."""
    label = LABELS[level] + " " + _text(gdf["code"])
    if "name" in gdf:
        label = (label + " " + _text(gdf["name"])).str.rstrip()
    return label


def _finding_tip(sub: gpd.GeoDataFrame) -> pd.Series:
    """'<b>message</b><br>code · 面积 12.5 m²' per finding."""
    area = sub["area_m2"].astype(float)
    area_text = pd.Series(np.where(area.notna(), " · 面积 " + area.round(1).astype(str) + " m²", ""),
                          index=sub.index)
    return "<b>" + _text(sub["message"]) + "</b><br>" + _text(sub["code"]) + area_text


def _geojson(gdf: gpd.GeoDataFrame, name: str, style: dict, radius: float | None = None,
             show: bool = True) -> folium.GeoJson:
    """A GeoJson layer with a constant style and a per-feature HTML tooltip from column ``tip``."""
    marker = None
    if radius is not None and gdf.geom_type.isin(["Point", "MultiPoint"]).any():
        marker = folium.CircleMarker(radius=radius, fill=True)
    return folium.GeoJson(
        gdf.to_geo_dict(drop_id=False), name=name, show=show, marker=marker, style_function=lambda _f, s=style: s,
        tooltip=folium.GeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    )


def _bounds(city):
    boxes = [_total_bounds_wgs84(city[lv]) for lv in list(city.layers) if len(city[lv])]
    boxes = np.array([b for b in boxes if np.isfinite(b).all()])
    if not len(boxes):
        return None
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def _total_bounds_wgs84(gdf):
    if gdf.crs is None or gdf.crs.to_epsg() == 4326:
        return gdf.total_bounds
    minx, miny, maxx, maxy = gdf.total_bounds
    # densified envelope, so curved edges of a projected box are covered
    return np.array(gpd.GeoSeries([shapely.box(minx, miny, maxx, maxy)], crs=gdf.crs)
                    .segmentize((maxx - minx + maxy - miny) / 40 or 1).to_crs(4326).total_bounds)


_CSS = f"""<style>
.leaflet-container {{ background: {_BACKGROUND}; font-family: "Microsoft YaHei", "PingFang SC", "Noto Sans CJK SC",
  "WenQuanYi Micro Hei", sans-serif; }}
.gis-box {{ position: fixed; z-index: 1000; background: rgba(255,255,255,.93); border-radius: 6px;
  box-shadow: 0 1px 5px rgba(0,0,0,.35); padding: 8px 12px; font: 13px/1.5 "Microsoft YaHei", "PingFang SC",
  "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; color: #222; }}
.gis-title {{ top: 10px; left: 50%; transform: translateX(-50%); text-align: center; }}
.gis-title b {{ font-size: 15px; }}
.gis-legend {{ bottom: 28px; right: 10px; }}
.gis-legend div {{ display: flex; align-items: center; gap: 6px; }}
.gis-legend i {{ display: inline-block; width: 22px; height: 0; }}
.gis-legend i.sq {{ height: 12px; width: 16px; margin: 0 3px; }}
.gis-legend i.dot {{ height: 10px; width: 10px; border-radius: 50%; margin: 0 6px; }}
.gis-err {{ color: {SEVERITY_COLORS["error"]}; font-weight: bold; }}
.gis-warn {{ color: {SEVERITY_COLORS["warning"]}; font-weight: bold; }}
</style>"""


def _title_html(city, counts: dict, severities: dict, found) -> str:
    source = "" if city.source in ("<memory>", "", None) else Path(str(city.source)).name
    title = (_html.escape(source) + " " if source else "") + ("网格检查结果" if found is not None else "网格单元")
    units = " · ".join(f"{LABELS[k]} {v}" for k, v in counts.items())
    line = ""
    if found is not None:
        missing = int((found.geometry.isna() | found.geometry.is_empty).sum())
        line = (f'<br><span class="gis-err">错误 {severities.get("error", 0)}</span> · '
                f'<span class="gis-warn">警告 {severities.get("warning", 0)}</span>'
                + (f" · 无几何 {missing}" if missing else ""))
    return f'<div class="gis-box gis-title"><b>{title}</b><br>{units}{line}</div>'


def _legend_html(city, counts: dict, with_findings: bool) -> str:
    rows = ["<b>图例</b>"]
    for level in city.levels:
        s = LEVEL_STYLES[level]
        border = "dashed" if s.get("dashArray") else "solid"
        rows.append(f'<div><i style="border-top:{max(s["weight"], 1.5)}px {border} {s["color"]};opacity:{s["opacity"]}"></i>'
                    f'{LABELS[level]}</div>')
    if "buildings" in counts:
        rows.append(f'<div><i class="sq" style="background:{_BUILDING_STYLE["fillColor"]}"></i>'
                    f'{LABELS["buildings"]}</div>')
    if with_findings:
        for sev, color in SEVERITY_COLORS.items():
            rows.append(f'<div><i class="sq" style="background:{color}66;border:2px solid {color}"></i>'
                        f'{SEVERITY_LABELS[sev]}（区域）</div>')
            rows.append(f'<div><i class="dot" style="background:{color}66;border:2px solid {color}"></i>'
                        f'{SEVERITY_LABELS[sev]}（建筑/点）</div>')
    return '<div class="gis-box gis-legend">' + "".join(rows) + "</div>"


# --- coverage ------------------------------------------------------------------------------------

#: Colours of the facility kinds on coverage maps.
KIND_COLORS: dict[str, str] = {"service_centre": "#1f77b4", "elderly_station": "#2ca02c", "police_room": "#9467bd",
                               "shelter": "#8c564b", "fire_station": "#d62728", "camera": "#17becf"}


def _reached(net, node_distance, r: float) -> np.ndarray:
    """The road within ``r`` of a facility: whole edges, and straight pieces from each end of the rest."""
    du, dv = node_distance[net.u], node_distance[net.v]
    whole = (du <= r) & (dv <= r) | (r - du >= net.length) | (r - dv >= net.length)
    a = np.clip(r - du, 0, net.length)
    bb = np.clip(r - dv, 0, net.length)
    part_u, part_v = ~whole & (a > 0), ~whole & (bb > 0)
    ends = [(net.geoms[part_u], np.zeros(part_u.sum()), a[part_u]),
            (net.geoms[part_v], net.length[part_v] - bb[part_v], net.length[part_v])]
    pieces = [shapely.linestrings(np.stack([shapely.get_coordinates(shapely.line_interpolate_point(g, s)),
                                            shapely.get_coordinates(shapely.line_interpolate_point(g, e))], 1))
              for g, s, e in ends if len(g)]
    return np.concatenate([net.geoms[whole], *pieces])


def coverage_map(city, cov, kinds=None, *, area_width: float = 25.0) -> folium.Map:
    """A folium map of walking coverage (``gis.coverage.coverage``): one group of layers per kind.

    Per facility kind: its service area (the road pieces within the walking distance of a facility,
    widened by ``area_width`` metres), its facilities, the buildings beyond the distance
    (highlighted) and the suggested new sites with the households each would add. Communities are
    outlined, pieces of road cut off from the main network (``network_piece`` findings) drawn in
    orange; a legend names the kinds in Chinese. Save it with ``save_map`` (works offline).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> from gis.model import City
    >>> from gis.coverage import coverage
    >>> c = City({"roads": gpd.GeoDataFrame(geometry=[LineString([(0, 0), (900, 0)])], crs=4548),
    ...           "buildings": gpd.GeoDataFrame({"code": ["B1"], "households": [50]}, geometry=[Point(800, 5)], crs=4548),
    ...           "facilities": gpd.GeoDataFrame({"kind": ["elderly_station"]}, geometry=[Point(0, 0)], crs=4548)})
    >>> m = coverage_map(c, coverage(c, kinds=["elderly_station"], site=1))
    >>> sorted(x.layer_name for x in m._children.values() if isinstance(x, folium.GeoJson))
    ['社区养老服务站 建议新址 (1)', '社区养老服务站 未覆盖建筑 (1)', '社区养老服务站 步行300米覆盖范围', '社区养老服务站 现有设施 (1)']
    """
    from gis.coverage.kinds import label

    net = cov.network
    m = base_map()
    crs = city.metric_crs
    if "communities" in city and len(city["communities"]):
        gdf = _wgs84(city["communities"])
        _geojson(gdf.assign(tip=_label("communities", gdf))[["tip", "geometry"]], f"{LABELS['communities']}",
                 {**LEVEL_STYLES["communities"], "fill": True, "fillOpacity": 0.0}).add_to(m)
    fac = city.metric("facilities") if "facilities" in city else None
    b = city.metric("buildings")
    rows = []
    for k in (kinds or list(cov.radius)):
        r, color, name = cov.radius[k], KIND_COLORS.get(k, "#555555"), label(k)
        pieces = _reached(net, cov.node_distance[k], r)
        if len(pieces):
            area = shapely.buffer(shapely.union_all(pieces), area_width)
            _geojson(_wgs84(gpd.GeoDataFrame({"tip": [f"{name}：步行 {r:,.0f} m 可达"]}, geometry=[area], crs=crs)),
                     f"{name} 步行{r:,.0f}米覆盖范围",
                     {"color": color, "weight": 0, "fillColor": color, "fillOpacity": 0.25}).add_to(m)
        if fac is not None and (fac["kind"] == k).any():
            f = fac[fac["kind"] == k]
            tip = name + " " + (_text(f["name"]) if "name" in f else _text(f.get("code", pd.Series("", f.index))))
            _geojson(_wgs84(f.assign(tip=tip)[["tip", "geometry"]].set_geometry(f.representative_point())),
                     f"{name} 现有设施 ({len(f)})", {"color": "#000000", "weight": 1.5, "fillColor": color,
                                                   "fillOpacity": 1.0}, radius=7).add_to(m)
        far = cov.distance[k].to_numpy() > r
        far &= b["households"].fillna(0).to_numpy() > 0
        if far.any():
            u = b[far]
            tip = "未覆盖：建筑 " + _text(cov.distance["code"][far]) + "（" + u["households"].astype(int).astype(str) + " 户）"
            _geojson(_wgs84(u.assign(tip=tip)[["tip", "geometry"]].set_geometry(u.representative_point())),
                     f"{name} 未覆盖建筑 ({int(far.sum())})", {"color": "#d62728", "weight": 1, "fillColor": "#ff9896",
                                                             "fillOpacity": 0.9}, radius=3).add_to(m)
        s = cov.sites[cov.sites["kind"] == k]
        if len(s):
            tip = ("建议新址 #" + s["rank"].astype(int).astype(str) + "：新增覆盖 "
                   + s["households_gained"].round().astype(int).astype(str) + " 户")
            _geojson(_wgs84(s.assign(tip=tip)[["tip", "geometry"]]), f"{name} 建议新址 ({len(s)})",
                     {"color": color, "weight": 4, "fillColor": "#ffffff", "fillOpacity": 1.0}, radius=10).add_to(m)
        rows.append(f'<div><i class="sq" style="background:{color}40;border:2px solid {color}"></i>'
                    f'{name}（步行 {r:,.0f} m）</div>')
    rows += ['<div><i class="dot" style="background:#ff9896;border:2px solid #d62728"></i>未覆盖建筑</div>',
             '<div><i class="dot" style="background:#fff;border:3px solid #333"></i>建议新址</div>']
    cut = cov.findings[cov.findings["code"] == "network_piece"]
    if len(cut):
        color = SEVERITY_COLORS["warning"]
        _geojson(_wgs84(cut.assign(tip=cut["message"])[["tip", "geometry"]]), f"不相连的道路块 ({len(cut)})",
                 {"color": color, "weight": 5, "opacity": 0.9}).add_to(m)
        rows.append(f'<div><i class="sq" style="background:{color}"></i>不相连的道路块</div>')
    folium.LayerControl(collapsed=False).add_to(m)
    root = m.get_root()
    root.header.add_child(folium.Element(_CSS))
    root.html.add_child(folium.Element('<div class="gis-box gis-title"><b>设施步行覆盖</b><br>'
                                       + " · ".join(f"{label(k)} {share:.0%}" for k, share in
                                                    cov.summary["share"].fillna(0).items()) + "</div>"))
    root.html.add_child(folium.Element('<div class="gis-box gis-legend"><b>图例</b>' + "".join(rows) + "</div>"))
    minx, miny, maxx, maxy = _wgs84(city["roads"]).total_bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]], padding=(20, 20))
    return m
