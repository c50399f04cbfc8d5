"""``wangge load`` and ``wangge export`` on both backends, bad settings; exit codes and messages."""

import pytest
from typer.testing import CliRunner

from gis import read_city
from gis.cli import app
from test_store import assert_same_city, url  # noqa: F401  (fixture over both backends)

runner = CliRunner()


def test_load_then_export_round_trip(url, root, tmp_path):  # noqa: F811
    sample = root / "data" / "sample.gpkg"
    r = runner.invoke(app, ["load", str(sample), "--db", url])
    assert r.exit_code == 0, r.output
    assert "version 1" in r.output and "grids 119" in r.output
    r = runner.invoke(app, ["load", str(root / "data" / "sample.gpkg"), "--db", url])
    assert r.exit_code == 0 and "version 2" in r.output
    out = tmp_path / "城市.gpkg"
    r = runner.invoke(app, ["export", str(out), "--db", url])
    assert r.exit_code == 0, r.output
    assert_same_city(read_city(sample), read_city(out))


def test_database_from_the_environment(root, tmp_path, monkeypatch):
    monkeypatch.setenv("WANGGE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert runner.invoke(app, ["load", str(root / "data" / "sample.gpkg")]).exit_code == 0
    assert (tmp_path / "env.sqlite").exists()


@pytest.mark.parametrize("args, words", [
    (["load", "nothere.gpkg"], "file not found"),
    (["export", "out.gpkg"], "no city loaded"),
    (["load", "data/sample.gpkg", "--db", "postgresql+psycopg://u:secret@127.0.0.1:1/x"], "cannot open the database"),
])
def test_errors_exit_2_with_a_message(args, words, tmp_path, root, monkeypatch):
    monkeypatch.chdir(root)
    monkeypatch.setenv("WANGGE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    r = runner.invoke(app, args)
    assert r.exit_code == 2 and words in r.output and "Traceback" not in r.output and "secret" not in r.output
    assert not (tmp_path / "out.gpkg").exists()


def test_bad_password_costs_exit_2_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("WANGGE_PASSWORD_PARALLELISM", "4")
    monkeypatch.setenv("WANGGE_PASSWORD_MEMORY_KIB", "16")
    r = runner.invoke(app, ["users", "list", "--db", f"sqlite:///{tmp_path / 's.sqlite'}"])
    assert r.exit_code == 2 and "at least 8 per lane" in r.output and "Traceback" not in r.output
