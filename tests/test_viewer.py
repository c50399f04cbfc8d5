"""The viewer in real headless Chromium (Debian's, driven by playwright), with the network cut off:
everything it loads comes from the app itself. The proposal editor is driven with the mouse (a
polygon clicked on the map, a vertex dragged) through review and apply. Screenshots go to
test-artifacts/viewer/."""

import shutil
import socket
import threading
import time

import geopandas as gpd
import httpx
import numpy as np
import pytest
import shapely
import uvicorn

from api.app import create_app
from api.settings import Settings
from api.store import Store
from gis import read_city
from gis.model import LABELS

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = ROOT / "test-artifacts" / "viewer"
SERVERS: dict[str, str] = {}  # base URL → store URL


def server_store_url(base: str) -> str:
    return SERVERS[base]
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (bash scripts/test installs it)")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app on the embedded store with the sample city, on a free port of 127.0.0.1."""
    db = tmp_path_factory.mktemp("viewer") / "store.sqlite"
    store = Store(f"sqlite:///{db}")
    store.load(read_city(ROOT / "data" / "sample.gpkg"), source="sample.gpkg")
    app = create_app(Settings(database_url=f"sqlite:///{db}", public_read=True), store=store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(base + "/conformance", timeout=1, trust_env=False)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    SERVERS[base] = f"sqlite:///{db}"
    yield base
    srv.should_exit = True
    thread.join(10)


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--no-first-run", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1280, "height": 860})
        pg.outside, pg.errors = [], []

        def only_local(route):  # the network is cut off: only the app itself answers
            if route.request.url.startswith(server):
                route.continue_()
            else:
                pg.outside.append(route.request.url)
                route.abort()

        pg.route("**/*", only_local)
        pg.on("console", lambda msg: msg.type == "error" and pg.errors.append(msg.text))
        pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
        pg.on("requestfailed", lambda req: pg.errors.append(f"failed: {req.url}"))
        yield pg
        browser.close()


def test_street_staff_see_the_map_and_the_findings_offline(server, page):
    expected = httpx.get(server + "/findings?rules=national", trust_env=False).json()
    page.goto(server + "/")
    page.wait_for_selector("#findings li", timeout=90_000)
    page.screenshot(path=SHOTS / "1-map-and-findings.png")
    items = page.locator("#findings li")
    assert items.count() == len(expected["findings"]) > 0
    assert items.first.inner_text().startswith(expected["findings"][0]["message"])
    assert page.inner_text("#counts") == f"错误 {expected['summary']['errors']} · 警告 {expected['summary']['warnings']}"
    layers = page.inner_text(".leaflet-control-layers")
    sample = read_city(ROOT / "data" / "sample.gpkg")
    for label in (*(f"{LABELS[k]} ({len(sample[k])})" for k in ("streets", "communities", "grids", "buildings")),
                  "检查结果"):
        assert label in layers
    assert page.locator(".legend").inner_text().startswith("每栋户数")
    assert page.outside == [] and page.errors == []


def test_a_finding_zooms_the_map_to_it(server, page):
    page.goto(server + "/")
    page.wait_for_selector("#findings li", timeout=90_000)
    before = page.evaluate("map.getZoom()")
    gap = page.locator("#findings li", has_text="空白").first
    gap.click()
    page.wait_for_function(f"map.getZoom() > {before}")
    centre = page.evaluate("[map.getCenter().lat, map.getCenter().lng]")
    page.screenshot(path=SHOTS / "2-zoomed-to-gap.png")
    finding = next(f for f in httpx.get(server + "/findings", trust_env=False).json()["findings"] if f["code"] == "gap")
    ring = finding["geometry"]["coordinates"][0]
    lngs, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert min(lats) - 1e-3 <= centre[0] <= max(lats) + 1e-3 and min(lngs) - 1e-3 <= centre[1] <= max(lngs) + 1e-3
    assert "active" in gap.get_attribute("class")
    assert page.outside == [] and page.errors == []


def test_another_rule_set_rechecks(server, page):
    page.goto(server + "/")
    page.wait_for_selector("#findings li", timeout=90_000)
    page.select_option("#rules", "nanchang-2002")
    page.wait_for_function("document.querySelector('#status').textContent.startsWith('规则集 nanchang-2002')", timeout=90_000)
    assert page.locator("#findings li", has_text="高于上限").count() == 1  # the over-sized community
    page.screenshot(path=SHOTS / "3-nanchang-2002.png")
    assert page.outside == [] and page.errors == []


@pytest.fixture(scope="module")
def accounts(server):
    """A street-staff user for the sample's first street, and a reviewer."""
    from api.auth import add_user

    store = Store(server_store_url(server))
    street = read_city(ROOT / "data" / "sample.gpkg")["streets"]["code"].iloc[0]
    add_user(store, "staff", "街道工作人员-口令2026", "street_staff", street)
    add_user(store, "reviewer", "审核人员-口令2026", "reviewer")
    return street


def log_in(page, base, username, password):
    page.goto(base + "/")
    page.locator("#user button", has_text="登录").click(timeout=60_000)  # public reading: sign in to propose
    page.wait_for_selector("#login[open]", timeout=30_000)
    page.fill("#login-user", username)
    page.fill("#login-password", password)
    page.click("#login button[type=submit]")
    # signed in: the street's view is reloaded, then the proposals panel opens
    page.wait_for_selector("#proposals:not([hidden])", timeout=90_000)
    page.wait_for_selector("#findings li", timeout=90_000)


def sign_out(page):
    page.evaluate("sessionStorage.clear()")


def stored(server):
    """(version, city) of the server's store."""
    store = Store(server_store_url(server))
    try:
        return store.snapshot()
    finally:
        store.close()


def messages(server) -> list[str]:
    """The messages of the city's findings, as the viewer lists them."""
    return sorted(f["message"] for f in httpx.get(server + "/findings", trust_env=False).json()["findings"])


def bearer(server, name):
    """The Authorization header of one of the test's accounts."""
    password = {"staff": "街道工作人员-口令2026", "reviewer": "审核人员-口令2026"}[name]
    token = httpx.post(server + "/auth/token", json={"username": name, "password": password}, trust_env=False).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def on_map(page, lon, lat):
    """Page coordinates of a longitude/latitude on the map."""
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate(f"(() => {{ const p = map.latLngToContainerPoint([{lat}, {lon}]); return [p.x, p.y]; }})()")
    return box["x"] + x, box["y"] + y


def fit(page, geom):
    """Zoom the map to a WGS84 geometry and wait until it stands still."""
    x0, y0, x1, y1 = geom.bounds
    page.evaluate(f"""new Promise((done) => {{ map.once("moveend", () => done());
      map.fitBounds([[{y0}, {x0}], [{y1}, {x1}]], {{ padding: [60, 60], animate: false }}); }})""")


def review_rows(page) -> dict:
    """The draft's sizes in the side panel: code → (households before, after, residents before, after)."""
    return page.evaluate("""Object.fromEntries([...document.querySelectorAll('#draft-sizes tr[data-code]')]
      .map((tr) => [tr.dataset.code, ['hh-before', 'hh-after', 'res-before', 'res-after']
        .map((c) => Number(tr.querySelector('.' + c).textContent))]))""")


def review_as_reviewer(page, server, shot):
    """The reviewer signs in, approves and applies the submitted proposal; the map reloads."""
    version = stored(server)[0]
    sign_out(page)
    log_in(page, server, "reviewer", "审核人员-口令2026")
    page.locator("#proposal-list li[data-state=submitted] button", has_text="批准").first.click()
    page.wait_for_selector("#proposal-list li[data-state=approved]", timeout=60_000)
    page.locator("#proposal-list li[data-state=approved] button", has_text="应用").click()
    page.wait_for_selector("#proposal-list li[data-state=applied]", timeout=90_000)
    page.wait_for_function(f"document.querySelector('#status').textContent.includes('城市版本 {version + 1}')",
                           timeout=90_000)
    page.screenshot(path=SHOTS / shot)


GRID, A, B = "360102001001-02", "360102001001", "360102001002"  # GRID lies in community A and borders B
FROM, TO = "360102001009-01", "360102001009-02"  # neighbouring grids of one community


def test_signing_in_while_the_public_view_still_loads(server, page, accounts):
    """A user who signs in before the anonymous view has loaded gets the signed-in view and one
    editor: the late public findings neither replace the street's nor restart the draft."""
    page.add_init_script("""{
      const fetch0 = window.fetch;  // the anonymous findings answer 3 s late
      window.fetch = (url, options) => {
        const late = String(url).includes("findings") && !(options && options.headers && options.headers.Authorization);
        return late ? new Promise((done) => setTimeout(done, 3000)).then(() => fetch0(url, options)) : fetch0(url, options);
      };
    }""")
    expected = httpx.get(server + "/findings", headers=bearer(server, "staff"), trust_env=False).json()["findings"]
    assert len(expected) < len(messages(server))  # the street's findings are not the city's
    log_in(page, server, "staff", "街道工作人员-口令2026")
    page.select_option("#edit-level", "communities")
    page.evaluate(f"pickGrid(city.units.grids.features.find((g) => g.id === '{GRID}'))")
    page.wait_for_timeout(4000)  # the anonymous findings have come in by now
    assert page.is_visible("#edit-form")
    assert page.locator("#findings li").count() == len(expected)
    assert page.outside == [] and page.errors == []


def test_staff_move_a_grid_to_the_next_community(server, page, accounts):
    """Communities change by whole grids: street staff click a grid, pick the community next to it,
    see the sizes, save and submit; a reviewer approves and applies; the map shows the new lines."""
    initial = messages(server)
    log_in(page, server, "staff", "街道工作人员-口令2026")
    assert "街道工作人员" in page.inner_text("#user")
    page.select_option("#edit-level", "communities")
    page.evaluate(f"pickGrid(city.units.grids.features.find((g) => g.id === '{GRID}'))")
    assert A in page.inner_text("#edit-grid")
    page.select_option("#edit-target", B)
    page.click("#edit-move")
    page.wait_for_selector("#draft-review:not([hidden])", timeout=60_000)
    rows = review_rows(page)
    assert set(rows) == {A, B} and rows[A][0] - rows[A][1] == rows[B][1] - rows[B][0] > 0
    assert page.inner_text("#draft-summary").startswith("新增错误 0")
    assert GRID in page.inner_text("#draft-moves")
    page.fill("#draft-title", "调整网格归属")
    page.click("#draft-save")
    page.wait_for_selector("#proposal-list li[data-state=draft]", timeout=60_000)
    page.screenshot(path=SHOTS / "4-staff-grid-to-community.png")
    draft = page.locator("#proposal-list li[data-state=draft]").first
    assert "调整网格归属" in draft.inner_text() and "新增错误 0" in draft.inner_text()
    draft.locator("button", has_text="提交").click()
    page.wait_for_selector("#proposal-list li[data-state=submitted]", timeout=60_000)
    assert page.outside == [] and page.errors == []

    review_as_reviewer(page, server, "5-reviewer-applied.png")
    moved = page.evaluate(f"city.units.grids.features.find((g) => g.id === '{GRID}').properties.community_code")
    assert moved == B
    # the new lines meet the untouched ones exactly: the same findings as before, no new warnings
    assert messages(server) == initial and page.locator("#findings li").count() == len(initial)
    assert page.outside == [] and page.errors == []


def test_staff_draw_an_area_into_the_neighbouring_grid(server, page, accounts):
    """Street staff draw a polygon over part of one grid, give it to its neighbour, see the
    households move in the side panel, save and submit; the reviewer applies it; the new lines are
    on the map and check finds nothing new in the stored city."""
    _, before = stored(server)
    initial = messages(server)
    grids = before["grids"].set_index("code")
    band = shapely.intersection(grids.geometry[FROM].boundary, grids.geometry[TO].boundary).buffer(60, quad_segs=1)
    ring = gpd.GeoSeries([band], crs=before.crs).to_crs(4326).iloc[0].exterior.coords[:-1]
    log_in(page, server, "staff", "街道工作人员-口令2026")
    assert page.input_value("#edit-level") == "grids"
    page.click("#tool-draw")
    fit(page, shapely.Polygon(ring))
    for lon, lat in ring:
        page.mouse.click(*on_map(page, lon, lat))
    page.select_option("#draw-to", TO)
    page.screenshot(path=SHOTS / "6-staff-drawing.png")
    page.mouse.dblclick(*on_map(page, *ring[-1]))  # double-click: the polygon is finished
    page.wait_for_selector("#draft-review:not([hidden])", timeout=60_000)
    page.screenshot(path=SHOTS / "7-draw-sizes.png")
    rows = review_rows(page)
    moved = rows[FROM][0] - rows[FROM][1]
    assert moved > 0 and rows[TO][1] - rows[TO][0] == moved
    assert rows[FROM][2] > rows[FROM][3] and rows[TO][3] > rows[TO][2]  # residents too
    assert page.inner_text("#draft-summary").startswith("新增错误 0")
    assert not page.locator("#draft-findings li.new").count()
    page.fill("#draft-title", "第9社区网格边界调整")
    page.click("#draft-save")
    page.wait_for_selector("#proposal-list li[data-state=draft]", timeout=60_000)
    page.locator("#proposal-list li[data-state=draft] button", has_text="提交").click()
    page.wait_for_selector("#proposal-list li[data-state=submitted]", timeout=60_000)
    assert page.outside == [] and page.errors == []

    review_as_reviewer(page, server, "8-draw-applied.png")
    _, after = stored(server)
    assert messages(server) == initial and page.locator("#findings li").count() == len(initial)
    b = after["buildings"]
    assert b.loc[b["grid_code"] == TO, "households"].sum() == rows[TO][1]
    assert b.loc[b["grid_code"] == FROM, "households"].sum() == rows[FROM][1]
    # the map draws the stored new lines: TO now holds the land it was given
    shown = shapely.geometry.shape(page.evaluate(f"city.units.grids.features.find((g) => g.id === '{TO}').geometry"))
    new_to = gpd.GeoSeries([after["grids"].set_index("code").geometry[TO]], crs=after.crs).to_crs(4326).iloc[0]
    assert shapely.hausdorff_distance(shown, new_to) < 1e-7 and shown.area > 1.2 * gpd.GeoSeries(
        [grids.geometry[TO]], crs=before.crs).to_crs(4326).iloc[0].area
    listed = httpx.get(server + "/proposals", trust_env=False, headers=bearer(server, "reviewer")).json()
    assert "第9社区网格边界调整" in [p["title"] for p in listed["proposals"]]
    assert page.outside == [] and page.errors == []


def movable_vertex(city, street, step=8.0):
    """A vertex shared by two or more of the street's grids, inside their community, and a point
    ``step`` m away it can move to without the grids crossing a building or their community."""
    comms = city["communities"].set_index("code")
    grids = city["grids"][city["grids"]["community_code"].isin(comms.index[comms["street_code"] == street])]
    owners = {}
    for code, geom in zip(grids["code"], grids.geometry):
        for xy in map(tuple, shapely.get_coordinates(geom)[:-1]):
            owners.setdefault(xy, []).append(code)
    buildings = shapely.STRtree(city["buildings"].geometry.values)
    by_code = grids.set_index("code")
    for xy, codes in owners.items():
        parent = comms.geometry[by_code.at[codes[0], "community_code"]]
        if len(set(codes)) < 2 or parent.boundary.distance(shapely.Point(xy)) < 1:
            continue
        for angle in np.radians(np.arange(0, 360, 45)):
            to = (xy[0] + step * np.cos(angle), xy[1] + step * np.sin(angle))
            moved = [shapely.transform(by_code.geometry[c], lambda a: np.where((a == xy).all(axis=1)[:, None], to, a))
                     for c in set(codes)]
            swept = shapely.union_all([shapely.symmetric_difference(by_code.geometry[c], m)
                                       for c, m in zip(set(codes), moved)])
            if all(m.is_valid and m.difference(parent).area < 0.01 for m in moved) and \
                    not len(buildings.query(swept.buffer(2), predicate="intersects")):
                return xy, to, set(codes)
    raise AssertionError("no movable vertex")


def test_staff_drag_a_shared_vertex(server, page, accounts):
    """Dragging a vertex shared by neighbouring grids moves it in every one of them: no gap, no
    overlap; the draft is checked, saved and submitted, then applied."""
    version, before = stored(server)
    initial = messages(server)
    xy, to, codes = movable_vertex(before, accounts)
    (lon, lat), (lon2, lat2) = gpd.GeoSeries([shapely.Point(xy), shapely.Point(to)], crs=before.crs).to_crs(4326) \
        .map(lambda p: p.coords[0])
    log_in(page, server, "staff", "街道工作人员-口令2026")
    page.click("#tool-vertex")
    page.evaluate(f"void map.setView([{lat}, {lon}], 19, {{ animate: false }})")
    page.wait_for_selector(".vertex-handle", timeout=30_000)
    at = page.evaluate(f"""edit.handles.getLayers().map((m) => m.getLatLng())
      .map((p) => [Math.hypot(p.lng - {lon}, p.lat - {lat}), p.lng, p.lat]).sort((a, b) => a[0] - b[0])[0]""")
    assert at[0] < 1e-7, "no handle on the shared vertex"
    page.mouse.move(*on_map(page, at[1], at[2]))
    page.mouse.down()
    page.mouse.move(*on_map(page, lon2, lat2), steps=12)
    page.mouse.up()
    page.wait_for_selector("#draft-review:not([hidden])", timeout=60_000)
    page.screenshot(path=SHOTS / "9-vertex-dragged.png")
    assert page.inner_text("#draft-summary").startswith("新增错误 0")
    # every grid that had the vertex has it at the new place; none keeps the old one
    near = page.evaluate(f"""edit.units.features.filter((f) => rings(f.geometry).flat()
      .some((c) => Math.hypot(c[0] - {lon2}, c[1] - {lat2}) < 2e-5)).map((f) => f.properties.code)""")
    assert set(near) == codes and not page.evaluate(f"""edit.units.features.some((f) => rings(f.geometry).flat()
      .some((c) => Math.hypot(c[0] - {lon}, c[1] - {lat}) < 1e-8))""")
    # an edge's middle handle adds a vertex to both grids along it
    mid = page.evaluate(f"""edit.handles.getLayers().filter((m) => m.getElement().classList.contains('mid'))
      .map((m) => m.getLatLng()).map((p) => [Math.hypot(p.lng - {lon2}, p.lat - {lat2}), p.lng, p.lat])
      .sort((a, b) => a[0] - b[0])[0]""")
    page.evaluate(f"void map.setView([{mid[2]}, {mid[1]}], 19, {{ animate: false }})")
    counts = page.evaluate("edit.units.features.map((f) => rings(f.geometry).flat().length)")
    x, y = on_map(page, mid[1], mid[2])
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 3, y + 2, steps=4)
    page.mouse.up()
    page.wait_for_function(f"edit.notes.length === 2", timeout=60_000)
    grown = page.evaluate("edit.units.features.map((f) => rings(f.geometry).flat().length)")
    assert sorted(b - a for a, b in zip(counts, grown) if b != a) == [1, 1]
    assert page.inner_text("#draft-summary").startswith("新增错误 0")
    page.fill("#draft-title", "拖动共用顶点")
    page.click("#draft-save")
    page.wait_for_selector("#proposal-list li[data-state=draft]", timeout=60_000)
    page.locator("#proposal-list li[data-state=draft] button", has_text="提交").click()
    page.wait_for_selector("#proposal-list li[data-state=submitted]", timeout=60_000)
    assert page.outside == [] and page.errors == []
    pid = page.locator("#proposal-list li[data-state=submitted]").first.get_attribute("data-id")
    reviewer = bearer(server, "reviewer")
    assert httpx.post(f"{server}/proposals/{pid}/approve", headers=reviewer, trust_env=False).status_code == 200
    r = httpx.post(f"{server}/proposals/{pid}/apply", headers=reviewer, json={"base_version": version}, trust_env=False,
                   timeout=90)
    assert r.status_code == 200, r.text
    assert messages(server) == initial
    _, after = stored(server)
    grids = after["grids"].set_index("code").geometry
    for code in codes:
        xy_now = shapely.get_coordinates(grids[code])
        assert np.hypot(*(xy_now - to).T).min() < 1 and np.hypot(*(xy_now - xy).T).min() > 1


def test_staff_reassign_an_estate_to_the_neighbouring_grid(server, page, accounts):
    """划转小区: street staff click a building; its estate's buildings in that grid are highlighted;
    they pick the neighbouring grid and see the estate's households move in the side panel."""
    grid, estate, to = "360102001005-01", "玫瑰小区", "360102001005-02"
    _, city = stored(server)
    b = city["buildings"]
    ours = b[(b["grid_code"] == grid) & (b["estate"] == estate)].to_crs(4326)
    log_in(page, server, "staff", "街道工作人员-口令2026")
    page.click("#tool-estate")
    fit(page, shapely.union_all(ours.geometry.values))
    biggest = ours.geometry.iloc[int(np.argmax(ours.to_crs(city.crs).area.values))].representative_point()
    page.mouse.click(*on_map(page, biggest.x, biggest.y))
    page.wait_for_selector("#estate-form:not([hidden])", timeout=30_000)
    assert f"小区 {estate}（{len(ours)} 栋，现属 {grid}）" in page.inner_text("#estate-name")
    assert page.evaluate("edit.estate.layer.getLayers().length") == len(ours)
    page.select_option("#estate-to", to)
    page.screenshot(path=SHOTS / "10-estate-picked.png")
    page.click("#estate-move")
    page.wait_for_selector("#draft-review:not([hidden])", timeout=60_000)
    page.screenshot(path=SHOTS / "11-estate-sizes.png")
    rows = review_rows(page)
    along = page.evaluate("edit.review.estate.with")  # buildings overlapping the estate's go with it
    hh = int(ours["households"].sum() + b.loc[b["code"].isin(along), "households"].sum())
    assert rows[grid][0] - rows[grid][1] == rows[to][1] - rows[to][0] == hh > 0
    assert page.inner_text("#draft-summary").startswith("新增错误 0")
    assert f"划转小区 {estate}" in page.inner_text("#draft-moves")
    assert page.outside == [] and page.errors == []
