"""The offline page every map is drawn on: folium with the vendored Leaflet inlined.

The saved file is self-contained: Leaflet 1.9.4 (``gis/static/leaflet``) is inlined, folium's CDN
scripts and styles (jQuery, Bootstrap, Font Awesome, awesome-markers) are left out, and nothing
is loaded from a URL unless a base map ``tiles`` template is given.  Only folium features that
need Leaflet alone are used (GeoJson, GeoJsonTooltip, CircleMarker, LayerControl; no popups,
which need jQuery). A map starts as :func:`base_map`, gets its layers
(:mod:`gis.maps.layers`), then its title and legend boxes (:func:`finish_page`), and is written
by :func:`save_map` or shown in a notebook by :func:`show`.

Examples
--------
>>> html = to_html(finish_page(base_map(), "<b>标题</b>", "<b>图例</b>"))
>>> "cdn.jsdelivr" in html, '<div class="gis-box gis-title"><b>标题</b></div>' in html
(False, True)
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

from gis.atomic import replacing
from gis.maps.style import SEVERITY_COLORS

_BACKGROUND = "#f4f3ef"


def base_map(**options) -> folium.Map:
    """An empty map on a plain background (no base map), with a scale bar and Leaflet's plain
    attribution.

    Parameters
    ----------
    **options
        Passed to ``folium.Map`` (``prefer_canvas``…).

    Returns
    -------
    folium.Map

    Examples
    --------
    >>> "L.tileLayer(" in base_map().get_root().render()
    False
    """
    m = folium.Map(tiles=None, control_scale=True, zoom_snap=0.25, **options)
    _PlainAttribution().add_to(m)
    return m


class _PlainAttribution(MacroElement):
    """Leaflet's attribution prefix without its default flag icon."""

    _template = Template("{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.attributionControl"
                         ".setPrefix('<a href=\"https://leafletjs.com\">Leaflet</a>');{% endmacro %}")


def save_map(m: folium.Map, path) -> Path:
    """Write ``m`` as one self-contained, offline HTML file (UTF-8, written atomically).

    Every JavaScript/CSS resource folium would link from a CDN is dropped and the vendored
    Leaflet (``gis/static/leaflet``) is inlined in its place, its CSS images as data URIs.
    The map object is not changed. Resources of other folium elements (plugins) are dropped too,
    with a warning, as the page could not load them offline anyway.

    Parameters
    ----------
    m : folium.Map
        Typically from ``findings_map``, ``coverage_map`` or ``plan_map``; use no folium feature
        that needs jQuery or Bootstrap (popups, awesome markers, plugins).
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
    """The map as one self-contained offline HTML document (what ``save_map`` writes).

    Examples
    --------
    >>> to_html(base_map()).startswith("<!DOCTYPE html>")
    True
    """
    return _inline_leaflet(_unescape_non_ascii(m.get_root().render()))


def show(m: folium.Map, height: int = 600):
    """Display the map in a notebook, offline: an iframe whose document is ``to_html(m)``.

    Folium's own notebook display loads Leaflet from a CDN; this one loads nothing.

    Examples
    --------
    >>> show(base_map(), height=300).data.startswith('<iframe srcdoc="&lt;!DOCTYPE html&gt;')
    True
    """
    from IPython.display import HTML

    doc = _html.escape(to_html(m), quote=True)
    return HTML(f'<iframe srcdoc="{doc}" style="width:100%;height:{height}px;border:0"></iframe>')


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


def finish_page(m: folium.Map, title: str, legend: str, bounds=None) -> folium.Map:
    """Add the layer control, the page's style, a title box and a legend box to ``m`` and fit it
    to ``bounds``; the same frame on every map.

    Parameters
    ----------
    m : folium.Map
        The map, its layers added.
    title, legend : str
        Inner HTML of the title box (top centre) and of the legend (bottom right).
    bounds : sequence of float, optional
        (min lon, min lat, max lon, max lat) to show; None leaves the view as it is.

    Returns
    -------
    folium.Map
        ``m``.

    Examples
    --------
    >>> m = finish_page(base_map(), "<b>检查</b>", "<b>图例</b>", bounds=(115.9, 28.6, 116.0, 28.7))
    >>> "gis-legend" in to_html(m), "fitBounds" in to_html(m)
    (True, True)
    """
    folium.LayerControl(collapsed=False).add_to(m)
    root = m.get_root()
    root.header.add_child(folium.Element(_CSS))
    root.html.add_child(folium.Element(f'<div class="gis-box gis-title">{title}</div>'))
    root.html.add_child(folium.Element(f'<div class="gis-box gis-legend">{legend}</div>'))
    if bounds is not None:
        minx, miny, maxx, maxy = bounds
        m.fit_bounds([[miny, minx], [maxy, maxx]], padding=(20, 20))
    return m


__all__ = ["base_map", "finish_page", "save_map", "show", "to_html"]
