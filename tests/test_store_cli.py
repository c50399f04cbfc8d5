"""``wangge load``, ``wangge export`` and ``wangge users`` on both backends; exit codes and messages."""

import pytest
from typer.testing import CliRunner

from api.auth import authenticate, issue_token, list_users, user_of_token
from api.errors import AuthenticationError
from api.store import Store
from gis import read_city
from gis.cli.main import app
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


def test_users_are_added_changed_and_deleted(url, root):  # noqa: F811
    street, other = "360102001000", "360102002000"
    assert runner.invoke(app, ["load", str(root / "data" / "sample.gpkg"), "--db", url]).exit_code == 0

    def users(*args, **kw):
        r = runner.invoke(app, ["users", *args, "--db", url], **kw)
        assert "Traceback" not in r.output
        return r

    assert users("add", "boss", "--role", "admin", "--password", "boss-password").exit_code == 0
    r = users("add", "li", "--role", "street_staff", "--street", street, "--password", "li-password")
    assert r.exit_code == 0 and f"street_staff for street {street}" in r.output
    r = users("update", "li", "--street", other)
    assert r.exit_code == 0 and f"li is now street_staff for street {other}" in r.output
    r = users("update", "li", "--role", "planner")
    assert r.exit_code == 0 and "li is now planner" in r.output and "street" not in r.output
    store = Store(url)
    before = issue_token(authenticate(store, "li", "li-password"), "k" * 32, 5)
    r = users("password", "li", "--password", "new-li-password")
    assert r.exit_code == 0 and "new-li-password" not in r.output
    assert authenticate(store, "li", "new-li-password").role == "planner"
    with pytest.raises(AuthenticationError):
        authenticate(store, "li", "li-password")
    with pytest.raises(AuthenticationError, match="password was changed after this token was issued"):
        user_of_token(store, "k" * 32, before)
    after = issue_token(authenticate(store, "li", "new-li-password"), "k" * 32, 5)
    assert user_of_token(store, "k" * 32, after).username == "li"
    assert users("password", "li", input="prompted-password\nprompted-password\n").exit_code == 0
    assert authenticate(store, "li", "prompted-password").username == "li"
    assert users("list").output.splitlines() == ["boss\tadmin\t", "li\tplanner\t"]
    r = users("delete", "li")
    assert r.exit_code == 0 and "deleted li" in r.output
    assert [u.username for u in list_users(store)] == ["boss"]
    store.close()
    for args, words in [(["update", "nope", "--role", "planner"], "no user 'nope'"),
                        (["password", "nope", "--password", "whatever-pass"], "no user 'nope'"),
                        (["delete", "nope"], "no user 'nope'"),
                        (["update", "boss"], "nothing to change"),
                        (["update", "boss", "--role", "king"], "role must be one of"),
                        (["update", "boss", "--role", "reviewer"], "only admin"),
                        (["delete", "boss"], "only admin"),
                        (["password", "boss", "--password", "short"], "at least 8")]:
        r = users(*args)
        assert r.exit_code == 2 and words in r.output, (args, r.output)


def test_bad_password_costs_exit_2_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("WANGGE_PASSWORD_PARALLELISM", "4")
    monkeypatch.setenv("WANGGE_PASSWORD_MEMORY_KIB", "16")
    r = runner.invoke(app, ["users", "list", "--db", f"sqlite:///{tmp_path / 's.sqlite'}"])
    assert r.exit_code == 2 and "at least 8 per lane" in r.output and "Traceback" not in r.output
