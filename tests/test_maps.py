"""The findings map: a self-contained HTML file that loads nothing from the network."""

from __future__ import annotations

import doctest
import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
from shapely import box

import gis.maps
from gis.findings import findings
from gis.maps import findings_map, save_map
from gis.model import City

CRS = "EPSG:4548"  # CGCS2000 / 3-degree GK CM 117E: the layers are reprojected for display
X0, Y0, D = 115.90, 28.67, 0.01

#: Hosts that may appear in the file: none of them is loaded (a link in Leaflet's attribution,
#: SVG namespace URIs, comments in leaflet.css).
ALLOWED_HOSTS = {"leafletjs.com", "www.w3.org", "bugs.chromium.org", "bugzilla.mozilla.org"}


def tiny_city() -> tuple[City, gpd.GeoDataFrame]:
    def frame(data, geoms):
        return gpd.GeoDataFrame(data, geometry=geoms, crs=4326).to_crs(CRS)

    streets = frame({"code": ["360102001"], "name": ["东湖街道"]}, [box(X0, Y0, X0 + 2 * D, Y0 + D)])
    communities = frame({"code": ["360102001003", "360102001004"], "name": ["滕王阁社区", "百花洲社区"],
                         "street_code": ["360102001"] * 2},
                        [box(X0, Y0, X0 + D, Y0 + D), box(X0 + D, Y0, X0 + 2 * D, Y0 + D)])
    half = D / 2
    grids = frame({"code": ["360102001003-01", "360102001003-02", "360102001004-01", "360102001004-02"],
                   "name": ["第1网格", "第2网格", "第一网格", "第二网格"],
                   "community_code": ["360102001003"] * 2 + ["360102001004"] * 2},
                  [box(X0, Y0, X0 + D, Y0 + half), box(X0, Y0 + half, X0 + D, Y0 + D),
                   box(X0 + D, Y0, X0 + 2 * D, Y0 + half), box(X0 + D, Y0 + half, X0 + 2 * D, Y0 + D)])
    buildings = frame({"code": ["B1", "B2", "B3"], "households": [40, 60, 24]},
                      [box(X0 + .002, Y0 + .002, X0 + .0024, Y0 + .0023),
                       box(X0 + .013, Y0 + .007, X0 + .0134, Y0 + .0073),
                       box(X0 + .016, Y0 + .002, X0 + .0164, Y0 + .0023)])
    city = City({"streets": streets, "communities": communities, "grids": grids, "buildings": buildings},
                source="data/东湖区.gpkg")
    rows = [
        {"code": "gap", "layer": "grids", "ids": ["360102001003-02"], "area_m2": 5430.25,
         "message": "网格间空白 5430.3 m²，未划入任何网格", "geometry": box(X0 + .004, Y0 + .004, X0 + .008, Y0 + .006)},
        {"code": "size_below", "layer": "grids", "ids": ["360102001004-02"], "value": 180, "limit": 300,
         "message": "网格 360102001004-02 户数 180 少于 300 户", "geometry": grids.to_crs(4326).geometry[3]},
        {"code": "unassigned_building", "layer": "buildings", "ids": ["B3"],
         "message": "建筑 B3 未归属任何网格", "geometry": buildings.to_crs(4326).geometry[2]},
        {"code": "households_mismatch", "layer": "communities", "ids": ["360102001003"],
         "message": "社区户数与建筑合计不符", "geometry": None},
    ]
    found = findings(gpd.GeoDataFrame(rows, geometry="geometry", crs=4326).to_crs(CRS), crs=CRS)
    return city, found


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    city, found = tiny_city()
    return save_map(findings_map(city, found), tmp_path_factory.mktemp("map") / "findings.html")


def assert_offline(text: str):
    """Nothing in ``text`` is fetched: no linked resources, no URL but the allowed, unloaded ones."""
    assert not re.search(r"<script\b[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"@import", text, re.I)
    for m in re.finditer(r"<(\w+)\b[^<>]*?\b(?:src|href)\s*=\s*[\"']?([^\"'\s>]*)", text, re.I):
        tag, value = m.group(1).lower(), m.group(2)
        if re.match(r"(?:[a-z][\w+.-]*:)?//|[a-z][\w+.-]*:", value, re.I) and not value.startswith("data:"):
            assert tag == "a", f"<{tag}> loads {value}"  # only Leaflet's attribution link, clicked not loaded
    for url in re.findall(r"url\(\s*['\"]?([^)'\"]*)", text):
        assert url.startswith(("data:", "#")), url
    hosts = set(re.findall(r"(?:https?:)?//([a-z0-9-]+(?:\.[a-z0-9-]+)+)", text, re.I))
    assert hosts <= ALLOWED_HOSTS, hosts - ALLOWED_HOSTS
    for cdn in ("cdn.jsdelivr", "jquery", "bootstrap", "cloudflare", "fontawesome", "$.ajax"):
        assert cdn not in text.lower(), cdn


def test_self_contained_offline(saved):
    text = saved.read_text(encoding="utf-8")
    assert_offline(text)
    leaflet = (Path(gis.maps.__file__).parents[1] / "static" / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    assert leaflet.splitlines()[0] in text and 't.version="1.9.4"' in text  # Leaflet inlined
    assert text.count("<script>") >= 2 and "<style>" in text
    assert "sourceMappingURL" not in text
    assert text.index("charset=UTF-8") < 1024  # browsers find the charset before the inlined Leaflet


def test_chinese_names_and_messages(saved):
    text = saved.read_text(encoding="utf-8")
    for s in ("东湖街道", "滕王阁社区", "百花洲社区", "第2网格", "第二网格",  # unit names (tooltips)
              "网格 360102001003-02 第2网格", "社区 360102001004 百花洲社区",
              "网格间空白 5430.3 m²，未划入任何网格", "建筑 B3 未归属任何网格",  # finding messages
              "面积 5430.2 m²", "unassigned_building",
              "错误 3", "警告 1", "无几何 1", "东湖区.gpkg 网格检查结果",  # title
              "图例", "街道", "社区", "网格", "建筑"):  # legend and layers
        assert s in text, s
    assert "\\u7f51" not in text  # 网 not JSON-escaped


def test_layers_and_points(saved):
    text = saved.read_text(encoding="utf-8")
    for name in ("街道 (1)", "社区 (2)", "网格 (4)", "建筑 (3)", "错误 (3)", "警告 (1)"):
        assert f'"{name}"' in text, name  # LayerControl entries
    assert "L.circleMarker" in text or "new L.CircleMarker" in text  # the building finding as a point
    assert "fitBounds" in text
    assert "L.tileLayer" not in text  # no base map by default


def test_no_findings_and_tiles(tmp_path):
    city, _ = tiny_city()
    text = save_map(findings_map(city), tmp_path / "m.html").read_text(encoding="utf-8")
    assert_offline(text)
    assert "网格单元" in text and "错误" not in text
    url = "http://intranet.example/tiles/{z}/{x}/{y}.png"
    text = save_map(findings_map(city, tiles=url, attribution="内网底图"), tmp_path / "t.html").read_text("utf-8")
    assert url in text and "内网底图" in text and not re.search(r"(src|href)\s*=\s*\"http://intranet", text)


def test_buildings_sampled(tmp_path, monkeypatch):
    monkeypatch.setattr(gis.maps.findings, "MAX_BUILDINGS", 2)
    city, found = tiny_city()
    text = save_map(findings_map(city, found), tmp_path / "m.html").read_text(encoding="utf-8")
    assert "建筑 (抽样 2/3)" in text and "建筑 3" in text


def test_written_atomically(tmp_path):
    city, found = tiny_city()
    path = tmp_path / "m.html"
    path.write_text("old", encoding="utf-8")
    assert save_map(findings_map(city, found), path) == path
    assert [p.name for p in tmp_path.iterdir()] == ["m.html"]
    assert path.stat().st_mode & 0o644 == 0o644  # readable by others, unlike a bare mkstemp file
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_doctests():
    assert doctest.testmod(gis.maps).failed == 0


# --- rendering in a real browser with the network blocked -----------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
           "--virtual-time-budget=3000", "--window-size=1000,800"]


def chromium(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *OFFLINE, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_renders_offline_in_chromium(saved, tmp_path):
    url = saved.resolve().as_uri()
    # the page ran: Leaflet drew the SVG paths, the layer control and the boxes
    dom = chromium("--dump-dom", url, cwd=tmp_path).stdout
    paths = re.findall(r'<path class="leaflet-interactive"', dom)
    assert len(paths) >= 1 + 2 + 4 + 3 + 2, len(paths)  # units, buildings, polygon findings
    assert "leaflet-control-layers" in dom and "网格 (4)" in dom and "错误 (3)" in dom
    assert 'class="gis-box gis-legend"' in dom
    # nothing was requested from the network by the page
    net = tmp_path / "net.json"
    shot = tmp_path / "map.png"
    chromium(f"--log-net-log={net}", f"--screenshot={shot}", url, cwd=tmp_path)
    urls = set(re.findall(r'"url":"([^"]+)"', net.read_text(errors="replace"))) if net.exists() else set()
    browser = r"https?://([^/]+\.)?(google|googleapis|gvt1|gstatic|googleusercontent)\.com/"  # chromium's own
    page = {u for u in urls if not re.match(browser, u) and not u.startswith(("file:", "data:"))}
    assert not page, page
    # the screenshot is not blank: far larger than one of an empty page of the same colour
    blank_html = tmp_path / "blank.html"
    blank_html.write_text('<html><body style="margin:0;background:#f4f3ef"></body></html>', encoding="utf-8")
    blank = tmp_path / "blank.png"
    chromium(f"--screenshot={blank}", blank_html.as_uri(), cwd=tmp_path)
    assert shot.stat().st_size > max(3 * blank.stat().st_size, 10_000), (shot.stat().st_size, blank.stat().st_size)
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(shot) as im:
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colors is None or len(colors) > 20
    reds = sum(n for n, (r, g, b) in colors or [] if r > 180 and g < 120 and b < 120)
    assert colors is None or reds > 50  # the error polygon is drawn
