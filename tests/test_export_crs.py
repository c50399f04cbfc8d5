"""``wangge export OUT --crs``: a stored city written for a Chinese web map (GCJ-02, BD-09) or in any CRS."""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod
from typer.testing import CliRunner

from api.store import Store
from gis.chinacrs import gcj02_to_bd09, to_wgs84, wgs84_to_gcj02
from gis.cli.main import app
from gis.io import write_city
from gis.synth import synth

runner = CliRunner()
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """The URL of an embedded store holding a small synthetic city (Nanchang, EPSG:4548), and that city
    as stored, in WGS84."""
    folder = tmp_path_factory.mktemp("export_crs")
    city, _ = synth(12, seed=1)
    write_city(city, folder / "city.gpkg")
    url = f"sqlite:///{folder / 'store.sqlite'}"
    r = runner.invoke(app, ["load", str(folder / "city.gpkg"), "--db", url])
    assert r.exit_code == 0, r.output
    _, snapshot = Store(url).snapshot()
    return url, {name: gdf.to_crs("EPSG:4326") for name, gdf in snapshot.layers.items()}


def _export(tmp_path, url, crs) -> tuple[object, dict[str, gpd.GeoDataFrame]]:
    out = tmp_path / "城市.gpkg"
    r = runner.invoke(app, ["export", str(out), "--crs", crs, "--db", url])
    assert r.exit_code == 0, r.output
    return r, {name: gpd.read_file(out, layer=name) for name in gpd.list_layers(out)["name"]}


@pytest.mark.parametrize("crs", ["GCJ-02", "bd09"])
def test_export_for_a_web_map_shifts_every_vertex_by_the_forward_transform(stored, tmp_path, crs):
    url, wgs84 = stored
    r, written = _export(tmp_path, url, crs)
    assert f"in {crs}" in " ".join(r.output.split()) and sorted(written) == sorted(wgs84)
    for name, gdf in wgs84.items():
        out = written[name]
        assert out.crs == "EPSG:4326" and len(out) == len(gdf)
        columns = [c for c in gdf.columns if c != "geometry"]
        pd.testing.assert_frame_equal(pd.DataFrame(out[columns]), pd.DataFrame(gdf[columns]).reset_index(drop=True),
                                      check_dtype=False)
        xy = shapely.get_coordinates(gdf.geometry.values)
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        if crs == "bd09":
            lon, lat = gcj02_to_bd09(lon, lat)
        written_xy = shapely.get_coordinates(out.geometry.values)
        assert np.allclose(written_xy, np.column_stack([lon, lat]), rtol=0, atol=1e-12)
        back = shapely.get_coordinates(to_wgs84(out, crs).geometry.values)
        moved = GEOD.inv(xy[:, 0], xy[:, 1], lon, lat)[2]
        error = GEOD.inv(xy[:, 0], xy[:, 1], back[:, 0], back[:, 1])[2]
        assert moved.min() > 100 and error.max() < 0.1


def test_export_in_a_crs_pyproj_knows(stored, tmp_path):
    url, wgs84 = stored
    _, written = _export(tmp_path, url, "EPSG:4547")
    for name, gdf in wgs84.items():
        assert written[name].crs == "EPSG:4547"
        assert np.allclose(shapely.get_coordinates(written[name].geometry.values),
                           shapely.get_coordinates(gdf.to_crs("EPSG:4547").geometry.values), rtol=0, atol=1e-6)


@pytest.mark.parametrize("crs", ["EPSG:999999", "GCJ-03", "Mars"])
def test_an_unknown_crs_exits_2_with_one_message_and_writes_nothing(stored, tmp_path, crs):
    url, _ = stored
    out = tmp_path / "out.gpkg"
    r = runner.invoke(app, ["export", str(out), "--crs", crs, "--db", url])
    assert r.exit_code == 2 and "Traceback" not in r.output
    message = " ".join(r.output.split())
    assert message.count("error:") == 1 and f"unknown CRS {crs!r}" in message and "GCJ-02, BD-09" in message
    assert not out.exists() and list(tmp_path.iterdir()) == []
