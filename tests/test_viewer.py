"""The viewer in real headless Chromium (Debian's, driven by playwright), with the network cut off:
everything it loads comes from the app itself. Screenshots go to test-artifacts/viewer/."""

import shutil
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.settings import Settings
from api.store import Store
from gis import read_city

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
    for label in ("街道 (2)", "社区 (25)", "网格 (119)", "建筑 (4710)", "检查结果"):
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


def test_staff_propose_reviewer_approves_and_applies(server, page, accounts):
    """Street staff move a grid to the next community and submit; a reviewer approves and applies;
    the map shows the new lines (the grid now lies in the other community)."""
    log_in(page, server, "staff", "街道工作人员-口令2026")
    assert "街道工作人员" in page.inner_text("#user")
    messages = lambda: sorted(f["message"] for f in httpx.get(server + "/findings", trust_env=False).json()["findings"])
    initial = messages()
    # a grid of the street with a neighbouring community in the same street
    grid, target = page.evaluate("""() => {
      const comms = city.units.communities.features;
      for (const g of city.units.grids.features) {
        const street = comms.find((c) => c.id === g.properties.community_code).properties.street_code;
        for (const c of comms) {
          if (c.id !== g.properties.community_code && c.properties.street_code === street &&
              turf.booleanIntersects(turf.feature(c.geometry), turf.feature(g.geometry))) return [g.id, c.id];
        }
      }
    }""")
    page.evaluate(f"pickGrid(city.units.grids.features.find((g) => g.id === '{grid}'))")
    page.select_option("#edit-target", target)
    page.click("#edit-move")
    assert grid in page.inner_text("#draft-moves")
    page.fill("#draft-title", "调整网格归属")
    page.click("#draft-save")
    page.wait_for_selector("#proposal-list li[data-state=draft]", timeout=60_000)
    page.screenshot(path=SHOTS / "4-staff-draft.png")
    draft = page.locator("#proposal-list li[data-state=draft]").first
    assert "新增错误 0" in draft.inner_text()
    draft.locator("button", has_text="提交").click()
    page.wait_for_selector("#proposal-list li[data-state=submitted]", timeout=60_000)
    assert page.outside == [] and page.errors == []

    page.evaluate("sessionStorage.clear()")  # sign out
    log_in(page, server, "reviewer", "审核人员-口令2026")
    item = page.locator("#proposal-list li[data-state=submitted]").first
    item.locator("button", has_text="批准").click()
    page.wait_for_selector("#proposal-list li[data-state=approved]", timeout=60_000)
    page.locator("#proposal-list li[data-state=approved] button", has_text="应用").click()
    page.wait_for_selector("#proposal-list li[data-state=applied]", timeout=90_000)
    page.wait_for_function("document.querySelector('#status').textContent.includes('城市版本 2')", timeout=90_000)
    page.screenshot(path=SHOTS / "5-reviewer-applied.png")
    moved = page.evaluate(f"city.units.grids.features.find((g) => g.id === '{grid}').properties.community_code")
    assert moved == target
    # the new lines meet the untouched ones exactly: the same findings as before, no new warnings
    assert messages() == initial
    assert page.locator("#findings li").count() == len(initial)
    assert page.outside == [] and page.errors == []
