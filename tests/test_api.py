"""The HTTP API (TestClient) on both backends: OGC API – Features reads, findings, errors, offline docs."""

import re

import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.store import Store
from api.testing import scratch_schema
from gis import check
from gis.findings import to_json
from conftest import ROOT
from test_store import _postgis_or_skip

GEOJSON = "application/geo+json"


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def loaded(request, tmp_path_factory, sample):
    """A store holding the sample, and a client of the app over it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'store.sqlite'}"
        ctx = None
    else:
        ctx = scratch_schema(_postgis_or_skip())
        url = ctx.__enter__()
    store = Store(url)
    store.load(sample, source="sample.gpkg")
    client = TestClient(create_app(Settings(database_url=url, public_read=True), store=store), raise_server_exceptions=False)
    yield store, client
    store.close()
    if ctx is not None:
        ctx.__exit__(None, None, None)


@pytest.fixture
def client(loaded):
    return loaded[1]


def _error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "description"} and body["description"]
    assert "Traceback" not in r.text
    return body["description"]


def test_landing_and_conformance(client):
    links = {link["rel"]: link["href"] for link in client.get("/").json()["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(links)
    for rel in ("service-desc", "conformance", "data"):
        assert client.get(links[rel]).status_code == 200
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in client.get("/conformance").json()["conformsTo"]


def test_collections(client, sample):
    cols = {c["id"]: c for c in client.get("/collections").json()["collections"]}
    assert list(cols) == list(sample.layers)
    grids = client.get("/collections/grids").json()
    assert grids["title"] == "网格 (grids)" and grids["description"].startswith(f"{len(sample['grids'])} features")
    minx, miny, maxx, maxy = grids["extent"]["spatial"]["bbox"][0]
    tb = sample["grids"].to_crs(4326).total_bounds
    assert minx <= tb[0] and miny <= tb[1] and maxx >= tb[2] and maxy >= tb[3]


def test_items_page_with_next_links_through_the_whole_layer(client, sample):
    r = client.get("/collections/buildings/items")
    assert r.status_code == 200 and r.headers["content-type"] == GEOJSON
    body = r.json()
    assert body["numberMatched"] == len(sample["buildings"]) and body["numberReturned"] == 100 == len(body["features"])
    codes, url = [], "/collections/buildings/items?limit=1000"
    while url:
        body = client.get(url).json()
        codes += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    assert codes == sample["buildings"]["code"].tolist()


def test_items_are_wgs84_geojson_with_chinese_properties(client, sample):
    body = client.get("/collections/grids/items?limit=3&offset=2").json()
    wgs = sample["grids"].to_crs(4326)
    for i, f in enumerate(body["features"], start=2):
        assert f["id"] == f["properties"]["code"] == sample["grids"]["code"].iloc[i]
        assert f["properties"]["name"] == sample["grids"]["name"].iloc[i]
        assert shapely.equals_exact(shapely.geometry.shape(f["geometry"]), wgs.geometry.iloc[i], tolerance=1e-9)
    assert any(link["rel"] == "prev" for link in body["links"])


def test_bbox(client, loaded, sample):
    minx, miny, maxx, maxy = sample["grids"].to_crs(4326).total_bounds
    bbox = (minx, miny, (minx + maxx) / 2, (miny + maxy) / 2)
    body = client.get("/collections/grids/items", params={"bbox": ",".join(map(str, bbox)), "limit": 500}).json()
    wgs = sample["grids"].to_crs(4326)
    expected = wgs["code"][wgs.intersects(shapely.box(*bbox))].tolist()
    assert 0 < body["numberMatched"] == len(expected) < len(wgs)
    assert [f["id"] for f in body["features"]] == expected


def test_one_item(client, sample):
    code = sample["communities"]["code"].iloc[3]
    f = client.get(f"/collections/communities/items/{code}").json()
    assert f["id"] == code and f["properties"]["name"] == sample["communities"]["name"].iloc[3]
    assert "nope" in _error(client.get("/collections/communities/items/nope"), 404)


@pytest.mark.parametrize("query, words", [
    ("bbox=1,2,3", "4 comma-separated numbers"), ("bbox=a,b,c,d", "4 comma-separated numbers"),
    ("bbox=10,10,0,0", "minx ≤ maxx"), ("bbox=0,-100,1,1", "longitude/latitude"), ("bbox=nan,0,1,1", "numbers"),
    ("limit=0", "limit"), ("limit=10001", "limit"), ("limit=abc", "limit"), ("offset=-1", "offset"),
])
def test_bad_parameters_are_400_with_a_message(client, query, words):
    assert words in _error(client.get(f"/collections/grids/items?{query}"), 400)


def test_unknown_collection_is_404(client):
    assert "parks" in _error(client.get("/collections/parks/items"), 404)
    assert "parks" in _error(client.get("/collections/parks"), 404)
    _error(client.get("/no/such/page"), 404)


def test_findings_are_those_of_check_and_cached_per_version(loaded, sample, monkeypatch):
    store, client = loaded
    for rules in ("national", "nanchang-2002"):
        body = client.get("/findings", params={"rules": rules}).json()
        expected = to_json(check(sample, rules))
        assert body["summary"] == expected["summary"] and body["version"] == store.version()
        assert [(f["code"], f["ids"], f["message"]) for f in body["findings"]] == \
            [(f["code"], f["ids"], f["message"]) for f in expected["findings"]]
    import api.routes.findings as routes

    calls = []
    monkeypatch.setattr(routes, "check", lambda city, rules: calls.append(rules) or check(city, rules))
    client.get("/findings?rules=national")
    assert calls == []  # cached
    assert "bundled" in _error(client.get("/findings?rules=/etc/passwd"), 400)


def test_a_new_version_is_checked_again(tmp_path, sample):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite'}")
    client = TestClient(create_app(Settings(database_url=store.url, public_read=True), store=store), raise_server_exceptions=False)
    assert client.get("/collections").json()["collections"] == []
    assert "wangge load" in _error(client.get("/findings"), 404)
    store.load(sample)
    first = client.get("/findings").json()
    grids = sample["grids"].drop(index=[0, 1])  # leaves a gap
    from gis.model import City
    store.load(City({"streets": sample["streets"], "communities": sample["communities"], "grids": grids}))
    second = client.get("/findings").json()
    assert (first["version"], second["version"]) == (1, 2)
    assert second["summary"]["layers"]["grids"]["features"] == len(sample["grids"]) - 2
    assert "buildings" not in second["summary"]["layers"]


def test_unexpected_errors_are_500_without_a_traceback(loaded, monkeypatch):
    store, client = loaded
    monkeypatch.setattr(store, "features_geojson", lambda *a, **k: 1 / 0)
    assert "internal error" in _error(client.get("/collections/grids/items"), 500)


def test_docs_work_offline(client):
    html = client.get("/docs").text
    assert "swagger-ui-bundle.js" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/") for a in assets), assets  # nothing from another host
    for a in assets:
        r = client.get(a)
        assert r.status_code == 200 and len(r.content) > 500, a
    assert "cdn" not in html and "http" not in html.replace("http-equiv", "")
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/collections/{layer}/items"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 10000


def test_the_viewer_draws_levels_in_the_colours_of_the_offline_maps(client):
    from gis.maps.style import LEVEL_COLOURS, SEVERITY_COLORS

    body = client.get("/viewer/config").json()
    assert body["level_colours"] == LEVEL_COLOURS and body["severity_colours"] == SEVERITY_COLORS
    script = (ROOT / "api" / "static" / "viewer" / "viewer.js").read_text(encoding="utf-8")
    assert not set(re.findall(r"#[0-9a-fA-F]{6}", script)) & {*LEVEL_COLOURS.values(), *SEVERITY_COLORS.values()}
