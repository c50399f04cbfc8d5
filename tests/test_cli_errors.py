"""Bad input stops with one clear message naming file, layer, feature and problem.

Each case builds a small broken city in ``tmp_path`` and is checked twice: ``read_city`` raises
:class:`InputError` with the expected parts, and ``wangge check`` exits 2 with that message on stderr
and no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
from shapely import Point, Polygon, box
from typer.testing import CliRunner

from gis.cli import common
from gis.cli.main import app
from gis.errors import EXIT_CODES, InputError, OutputError, RuleSetError, WanggeError, exit_code
from gis.io import read_city
from gis.simulate import PlanError

X0, Y0 = 392_000.0, 3_176_000.0  # EPSG:4548 near Nanchang
GK = "EPSG:4548"


def streets(**columns) -> gpd.GeoDataFrame:
    data = {"code": ["360102001", "360102002"], "name": ["豫章街道", "滕王阁街道"], "households": [1200, 900]}
    geometry = columns.pop("geometry", [box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)])
    crs = columns.pop("crs", GK)
    return gpd.GeoDataFrame({**data, **columns}, geometry=geometry, crs=crs)


def communities(**columns) -> gpd.GeoDataFrame:
    data = {"code": ["360102001001", "360102002001"], "name": ["朝阳社区", "青山湖社区"],
            "street_code": ["360102001", "360102002"], "households": [1200, 900]}
    return gpd.GeoDataFrame({**data, **columns}, geometry=streets().geometry, crs=GK)


def gpkg(path: Path, **layers) -> Path:
    for name, gdf in layers.items():
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
    return path


def toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# Each case: build(tmp_path) -> path given to read_city / wangge check; then the parts the message must contain.

def missing_file(d):
    return d / "不存在.gpkg"


def mapping_source_missing(d):
    return toml(d / "m.toml", '[layers.streets]\nsource = "街道.geojson"\n')


def mapping_source_missing_in_gpkg(d):
    return toml(d / "m.toml", '[layers.streets]\nsource = "城市.gpkg:街道"\n')


def gpkg_layer_missing(d):
    gpkg(d / "src.gpkg", jd=streets())
    return toml(d / "m.toml", '[layers.streets]\nsource = "src.gpkg:街道"\n')


def gpkg_no_unit_layer(d):
    return gpkg(d / "城市.gpkg", jd=streets())


def missing_mapped_column(d):
    streets().rename(columns={"code": "街道编码", "name": "街道名称"}).to_file(d / "s.geojson", engine="pyogrio")
    return toml(d / "m.toml", '[layers.streets]\nsource = "s.geojson"\ncode = "街道代码"\n')


def required_column_missing(d):
    streets().rename(columns={"code": "街道编码", "name": "街道名称"}).to_file(d / "s.geojson", engine="pyogrio")
    return toml(d / "m.toml", '[layers.streets]\nsource = "s.geojson"\n')


def no_crs(d):
    streets().to_file(d / "s.shp", engine="pyogrio")
    (d / "s.prj").unlink()
    return toml(d / "m.toml", '[layers.streets]\nsource = "s.shp"\n')


def bad_mapping_crs(d):
    streets().to_file(d / "s.shp", engine="pyogrio")
    (d / "s.prj").unlink()
    return toml(d / "m.toml", 'crs = "EPSG:不存在"\n[layers.streets]\nsource = "s.shp"\n')


def gbk_without_cpg(d):
    streets().rename(columns={"name": "街道名称"}).to_file(d / "jd.shp", engine="pyogrio", encoding="gbk")
    (d / "jd.cpg").unlink()
    return toml(d / "m.toml", '[layers.streets]\nsource = "jd.shp"\nname = "街道名称"\n')


def unknown_encoding(d):
    streets().to_file(d / "jd.shp", engine="pyogrio")
    return toml(d / "m.toml", '[layers.streets]\nsource = "jd.shp"\nencoding = "gbkk"\n')


def unknown_layer(d):
    streets().to_file(d / "s.geojson", engine="pyogrio")
    return toml(d / "m.toml", '[layers.street]\nsource = "s.geojson"\n')


def unknown_column(d):
    streets().to_file(d / "s.geojson", engine="pyogrio")
    return toml(d / "m.toml", '[layers.streets]\nsource = "s.geojson"\nnmae = "街道名称"\n')


def no_source(d):
    return toml(d / "m.toml", '[layers.streets]\ncode = "街道编码"\n')


def no_layers(d):
    return toml(d / "m.toml", 'crs = "EPSG:4326"\n')


def layer_not_a_table(d):
    return toml(d / "m.toml", '[layers]\nstreets = "s.geojson"\n')


def no_unit_layer_in_mapping(d):
    gpd.GeoDataFrame({"name": ["八一大道"]}, geometry=[box(X0, Y0, X0 + 1, Y0 + 1000).exterior],
                     crs=GK).to_file(d / "r.geojson", engine="pyogrio")
    return toml(d / "m.toml", '[layers.roads]\nsource = "r.geojson"\n')


def invalid_toml(d):
    return toml(d / "m.toml", '[layers.streets\nsource = "s.geojson"\n')


def text_file(d):
    (d / "city.txt").write_text("豫章街道", encoding="utf-8")
    return d / "city.txt"


def corrupt_gpkg(d):
    (d / "坏.gpkg").write_bytes(os.urandom(4096))
    return d / "坏.gpkg"


def corrupt_shp(d):
    (d / "s.shp").write_bytes(os.urandom(1024))
    return toml(d / "m.toml", '[layers.streets]\nsource = "s.shp"\n')


def empty_geographic_layer(d):
    return gpkg(d / "城市.gpkg", streets=streets(crs=4326).iloc[:0])


#: case -> (build, parts of the message).
CASES = {
    "missing_file": (missing_file, ["不存在.gpkg", "file not found"]),
    "mapping_source_missing": (mapping_source_missing, ["街道.geojson", "layer streets", "file not found"]),
    "mapping_source_missing_in_gpkg": (mapping_source_missing_in_gpkg, ["城市.gpkg", "layer 街道", "file not found"]),
    "gpkg_layer_missing": (gpkg_layer_missing, ["src.gpkg", "layer 街道", "no layer '街道'", "jd"]),
    "gpkg_no_unit_layer": (gpkg_no_unit_layer, ["城市.gpkg", "no unit layer", "streets", "jd"]),
    "missing_mapped_column": (missing_mapped_column,
                              ["s.geojson", "layer streets", "街道代码", "not in the source", "街道编码"]),
    "required_column_missing": (required_column_missing, ["s.geojson", "layer streets", "required column 'code'"]),
    "no_crs": (no_crs, ["s.shp", "layer streets", "no CRS"]),
    "bad_mapping_crs": (bad_mapping_crs, ["m.toml", "EPSG:不存在"]),
    "gbk_without_cpg": (gbk_without_cpg, ["jd.shp", "layer streets", "not utf-8", 'encoding = "gbk"']),
    "unknown_encoding": (unknown_encoding, ["jd.shp", "layer streets", "unknown encoding", "gbkk"]),
    "unknown_layer": (unknown_layer, ["m.toml", "unknown layer", "[layers.street]", "streets, communities"]),
    "unknown_column": (unknown_column, ["m.toml", "[layers.streets]", "unknown column", "nmae", "name"]),
    "no_source": (no_source, ["m.toml", "[layers.streets]", "no source"]),
    "no_layers": (no_layers, ["m.toml", "[layers.NAME]"]),
    "layer_not_a_table": (layer_not_a_table, ["m.toml", "layers.streets must be a table"]),
    "no_unit_layer_in_mapping": (no_unit_layer_in_mapping, ["m.toml", "no unit layer", "streets"]),
    "invalid_toml": (invalid_toml, ["m.toml", "not a valid TOML"]),
    "text_file": (text_file, ["city.txt", "expected a GeoPackage", ".toml"]),
    "corrupt_gpkg": (corrupt_gpkg, ["坏.gpkg", "cannot open"]),
    "corrupt_shp": (corrupt_shp, ["s.shp", "layer streets", "cannot read"]),
    "empty_geographic_layer": (empty_geographic_layer, ["城市.gpkg", "no features", "streets"]),
}

def squash(text: str) -> str:
    """Text without whitespace: the CLI wraps long messages to the terminal width."""
    return "".join(text.split())


@pytest.mark.parametrize("case", list(CASES))
def test_read_city_names_the_problem(tmp_path, case):
    build, parts = CASES[case]
    with pytest.raises(InputError) as info:
        read_city(build(tmp_path))
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    assert "\n" not in message  # one line
    assert exit_code(info.value) == 2


runner = CliRunner()


@pytest.mark.parametrize("case", list(CASES))
def test_cli_check_exits_2_with_the_message(tmp_path, case):
    build, parts = CASES[case]
    path = build(tmp_path)
    with pytest.raises(InputError) as info:
        read_city(path)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error:")
    assert squash(str(info.value)) in squash(result.stderr)
    for part in parts:
        assert squash(part) in squash(result.stderr)


#: Each error class of ``gis.errors.EXIT_CODES`` (and PlanError, which takes InputError's), the code
#: it exits with, and a command that stops with it (paths relative to the repository).
EXITS = [
    (WanggeError, 2, ["users", "update", "li", "--db", "sqlite://"]),  # nothing to change
    (InputError, 2, ["check", "不存在.gpkg"]),
    (RuleSetError, 2, ["rules", "nope"]),
    (PlanError, 2, ["simulate", "split", "data/sample.gpkg", "NOPE"]),
    (OutputError, 3, ["check", "data/sample.gpkg", "--out", "no/such/folder/findings.gpkg"]),
]


def test_every_class_of_the_table_has_a_command():
    assert set(EXIT_CODES) <= {cls for cls, _, _ in EXITS}


@pytest.mark.parametrize("cls, code, args", EXITS, ids=[cls.__name__ for cls, _, _ in EXITS])
def test_each_error_class_exits_with_its_code(cls, code, args, root, monkeypatch):
    monkeypatch.chdir(root)
    stopped = []  # the class of the error each command stopped with
    monkeypatch.setattr(common, "exit_code", lambda e: stopped.append(type(e)) or exit_code(e))
    result = runner.invoke(app, args)
    assert stopped == [cls], result.output
    assert result.exit_code == code and exit_code(cls("a problem")) == code, result.output
    assert result.stderr.startswith("error:") and "Traceback" not in result.output


def _wangge() -> list[str]:
    exe = Path(sys.executable).parent / "wangge"
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from gis.cli.main import app; app()"]


@pytest.mark.parametrize("case", ["gbk_without_cpg"])
def test_wangge_check_subprocess(tmp_path, case):
    build, parts = CASES[case]
    proc = subprocess.run([*_wangge(), "check", str(build(tmp_path))], capture_output=True, text=True,
                          encoding="utf-8", timeout=60, env={**os.environ, "COLUMNS": "60"})
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error:")
    for part in parts:
        assert squash(part) in squash(proc.stderr)
