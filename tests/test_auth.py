"""Users, passwords, tokens and the street scope of every read, on both backends."""

import logging
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import add_user, authenticate, hash_password, issue_token, password_matches, update_user, user_of_token
from api.errors import AuthenticationError
from api.models import users
from api.settings import Settings
from api.store import Store
from api.testing import scratch_schema
from test_store import _postgis_or_skip

STREET, OTHER = "360102001000", "360102002000"
PASSWORD = "s3cret-pass"
ROLES = {"staff": ("street_staff", STREET), "staff2": ("street_staff", OTHER), "planner": ("planner", None),
         "reviewer": ("reviewer", None), "admin": ("admin", None)}


def open_store(kind: str, tmp: Path):
    """(url, context to close) of an empty store of this backend."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'store.sqlite'}", None
    ctx = scratch_schema(_postgis_or_skip())
    return ctx.__enter__(), ctx


def with_users(store: Store) -> None:
    for name, (role, street) in ROLES.items():
        add_user(store, name, PASSWORD, role, street)


class Env:
    """A store with the sample and one user per role, a client, and a token per user."""

    def __init__(self, url, sample, **settings):
        self.store = Store(url)
        self.store.load(sample, source="sample.gpkg")
        with_users(self.store)
        self.settings = Settings(database_url=url, **settings)
        self.client = TestClient(create_app(self.settings, store=self.store), raise_server_exceptions=False)
        self.headers = {name: self.login(name) for name in ROLES}

    def login(self, name, password=PASSWORD):
        r = self.client.post("/auth/token", json={"username": name, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module", params=["sqlite", "postgis"])
def env(request, tmp_path_factory, sample):
    url, ctx = open_store(request.param, tmp_path_factory.mktemp("auth"))
    e = Env(url, sample)
    yield e
    e.store.close()
    if ctx is not None:
        ctx.__exit__(None, None, None)


def error(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "description"} and body["description"]
    return body["description"]


def test_token_and_me(env):
    r = env.client.post("/auth/token", json={"username": "staff", "password": PASSWORD})
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 480 * 60
    assert body["user"] == {"username": "staff", "role": "street_staff", "street_code": STREET}
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "staff" and 0 < claims["exp"] - datetime.now(timezone.utc).timestamp() <= 480 * 60
    me = env.client.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert me == body["user"]


@pytest.mark.parametrize("name, password", [("staff", "wrong-password"), ("nobody", PASSWORD), ("staff", "")])
def test_wrong_credentials_are_401(env, name, password):
    r = env.client.post("/auth/token", json={"username": name, "password": password})
    assert "wrong username or password" in error(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"


def test_passwords_are_argon2_hashes_and_never_logged(env, caplog):
    with caplog.at_level(logging.DEBUG):
        env.login("planner")
        env.client.post("/auth/token", json={"username": "planner", "password": "not-" + PASSWORD})
    assert PASSWORD not in caplog.text
    with env.store.engine.connect() as conn:
        hashes = dict(conn.execute(sa.select(users.c.username, users.c.password_hash)).all())
    assert set(hashes) >= set(ROLES)
    assert all(h.startswith("$argon2id$") and PASSWORD not in h for h in hashes.values())
    assert len(set(hashes.values())) == len(hashes)  # salted: the same password, different hashes


@pytest.mark.parametrize("path", ["/collections", "/collections/grids/items", "/collections/grids/items/x",
                                  "/findings", "/history", "/proposals", "/auth/me", "/users"])
def test_protected_endpoints_need_a_token(env, path):
    assert "sign in" in error(env.client.get(path), 401)


def test_bad_tokens_are_401(env):
    key = env.client.app.state.signing_key
    now = datetime.now(timezone.utc)
    expired = jwt.encode({"sub": "planner", "iat": now - timedelta(hours=9), "exp": now - timedelta(hours=1)},
                         key, algorithm="HS256")
    forged = jwt.encode({"sub": "admin", "exp": now + timedelta(hours=1)}, "not the key", algorithm="HS256")
    unsigned = jwt.encode({"sub": "admin", "exp": now + timedelta(hours=1)}, None, algorithm="none")
    gone = jwt.encode({"sub": "deleted-user", "exp": now + timedelta(hours=1)}, key, algorithm="HS256")
    for token, words in [(expired, "expired"), (forged, "invalid"), (unsigned, "invalid"), ("garbage", "invalid"),
                         (gone, "no longer exists")]:
        assert words in error(env.client.get("/collections/grids/items",
                                             headers={"Authorization": f"Bearer {token}"}), 401)
    assert "Bearer" in error(env.client.get("/auth/me", headers={"Authorization": "Basic YTpi"}), 401)


def test_tokens_expire_after_the_configured_minutes(env, sample):
    settings = Settings(database_url=env.store.url, token_minutes=1)
    client = TestClient(create_app(settings, store=env.store))
    body = client.post("/auth/token", json={"username": "planner", "password": PASSWORD}).json()
    claims = jwt.decode(body["access_token"], client.app.state.signing_key, algorithms=["HS256"])
    assert body["expires_in"] == 60 and claims["exp"] - claims["iat"] == 60


def test_the_generated_key_is_kept_in_the_store_and_a_configured_one_wins(env):
    other = TestClient(create_app(Settings(database_url=env.store.url), store=env.store))
    assert other.get("/auth/me", headers=env.headers["planner"]).status_code == 200  # same key, from the store
    keyed = TestClient(create_app(Settings(database_url=env.store.url, secret_key="configured-" + "k" * 32),
                                  store=env.store))
    assert keyed.app.state.signing_key == "configured-" + "k" * 32
    assert "invalid" in error(keyed.get("/auth/me", headers=env.headers["planner"]), 401)


def test_admin_manages_users(env):
    new = {"username": "wang.li", "password": "long enough", "role": "street_staff", "street_code": OTHER}
    assert "admin" in error(env.client.post("/users", json=new, headers=env.headers["reviewer"]), 403)
    r = env.client.post("/users", json=new, headers=env.headers["admin"])
    assert r.status_code == 201 and r.json() == {"username": "wang.li", "role": "street_staff", "street_code": OTHER}
    assert "already" in error(env.client.post("/users", json=new, headers=env.headers["admin"]), 409)
    listed = env.client.get("/users", headers=env.headers["admin"]).json()["users"]
    assert {"username": "wang.li", "role": "street_staff", "street_code": OTHER} in listed
    assert all("password" not in str(u) for u in listed)
    assert env.login("wang.li", "long enough")
    for bad, words in [({**new, "username": "x1", "street_code": None}, "street_code"),
                       ({**new, "username": "x2", "street_code": "999"}, "no street"),
                       ({**new, "username": "x3", "password": "short"}, "at least"),
                       ({**new, "username": "x4", "role": "planner"}, "only street_staff"),
                       ({**new, "username": "x5", "role": "king"}, "role")]:
        assert words in error(env.client.post("/users", json=bad, headers=env.headers["admin"]), 400)
    assert error(env.client.get("/users", headers=env.headers["staff"]), 403)


def test_admin_changes_and_removes_users(env):
    c, admin = env.client, env.headers["admin"]
    new = {"username": "zhou", "password": "zhou-password", "role": "street_staff", "street_code": STREET}
    assert c.post("/users", json=new, headers=admin).status_code == 201
    zhou = env.login("zhou", "zhou-password")
    assert "admin" in error(c.patch("/users/zhou", json={"role": "planner"}, headers=env.headers["reviewer"]), 403)
    assert "admin" in error(c.delete("/users/zhou", headers=zhou), 403)
    # another street, then city-wide: the street goes; the token carries the new scope at once
    r = c.patch("/users/zhou", json={"street_code": OTHER}, headers=admin)
    assert r.status_code == 200 and r.json() == {"username": "zhou", "role": "street_staff", "street_code": OTHER}
    assert c.get("/auth/me", headers=zhou).json()["street_code"] == OTHER
    r = c.patch("/users/zhou", json={"role": "reviewer"}, headers=admin)
    assert r.json() == {"username": "zhou", "role": "reviewer", "street_code": None}
    assert c.get("/auth/me", headers=zhou).json() == r.json()
    for bad, status, words in [({"role": "street_staff"}, 400, "needs a street_code"),
                               ({"street_code": STREET}, 400, "only street_staff"),
                               ({"role": "street_staff", "street_code": "999"}, 400, "no street"),
                               ({"role": "king"}, 400, "role"), ({"password": "short"}, 400, "at least"),
                               ({}, 400, "nothing to change")]:
        assert words in error(c.patch("/users/zhou", json=bad, headers=admin), status), bad
    assert c.get("/auth/me", headers=zhou).json()["role"] == "reviewer"  # the bad changes changed nothing
    # a new password: the old one no longer signs in
    assert c.patch("/users/zhou", json={"password": "another-password"}, headers=admin).status_code == 200
    assert "wrong" in error(c.post("/auth/token", json={"username": "zhou", "password": "zhou-password"}), 401)
    env.login("zhou", "another-password")
    # removed: the token and the password stop working
    assert c.delete("/users/zhou", headers=admin).status_code == 204
    assert "no longer exists" in error(c.get("/auth/me", headers=zhou), 401)
    assert "wrong" in error(c.post("/auth/token", json={"username": "zhou", "password": "another-password"}), 401)
    assert "zhou" not in [u["username"] for u in c.get("/users", headers=admin).json()["users"]]
    for r in (c.delete("/users/zhou", headers=admin), c.patch("/users/zhou", json={"role": "planner"}, headers=admin)):
        assert "no user 'zhou'" in error(r, 404)


CHANGED = "the password was changed after this token was issued: sign in again"


def test_a_new_password_ends_the_tokens_issued_before_it(env):
    c, admin = env.client, env.headers["admin"]
    new = {"username": "sun", "password": "sun-password", "role": "street_staff", "street_code": STREET}
    assert c.post("/users", json=new, headers=admin).status_code == 201
    laptop, phone = env.login("sun", "sun-password"), env.login("sun", "sun-password")
    assert c.patch("/users/sun", json={"street_code": OTHER}, headers=admin).status_code == 200
    assert c.get("/auth/me", headers=laptop).json()["street_code"] == OTHER  # a new street: the token stays
    assert c.patch("/users/sun", json={"password": "sun-new-password"}, headers=admin).status_code == 200
    for old in (laptop, phone):  # every session of before the change, on any endpoint
        assert CHANGED in error(c.get("/auth/me", headers=old), 401)
        assert CHANGED in error(c.get("/collections/grids/items", headers=old), 401)
    after, other_session = env.login("sun", "sun-new-password"), env.login("sun", "sun-new-password")
    for h in (after, other_session):
        assert c.get("/auth/me", headers=h).json() == {"username": "sun", "role": "street_staff",
                                                       "street_code": OTHER}
    assert c.patch("/users/sun", json={"role": "planner"}, headers=admin).status_code == 200
    assert c.get("/auth/me", headers=after).json()["role"] == "planner"  # a role change keeps the tokens
    # the store's functions: the generation counts the password changes
    key = c.app.state.signing_key
    token = issue_token(authenticate(env.store, "sun", "sun-new-password"), key, 5)
    assert update_user(env.store, "sun", password="sun-third-password").generation == 2
    with pytest.raises(AuthenticationError, match=CHANGED):
        user_of_token(env.store, key, token)
    assert user_of_token(env.store, key, issue_token(authenticate(env.store, "sun", "sun-third-password"), key, 5)
                         ).username == "sun"
    assert c.get("/auth/me", headers=env.headers["planner"]).status_code == 200  # others' tokens stay
    assert c.delete("/users/sun", headers=admin).status_code == 204


DELETED = "this token belongs to an account that was deleted: sign in again"


def test_a_deleted_account_s_tokens_do_not_work_for_a_new_account_of_the_same_name(env):
    c, admin = env.client, env.headers["admin"]
    new = {"username": "li", "password": "li-password", "role": "planner"}
    assert c.post("/users", json=new, headers=admin).status_code == 201
    old = env.login("li", "li-password")
    key = c.app.state.signing_key
    old_token = issue_token(authenticate(env.store, "li", "li-password"), key, 5)
    assert c.get("/auth/me", headers=old).json()["username"] == "li"
    assert c.delete("/users/li", headers=admin).status_code == 204
    assert "no longer exists" in error(c.get("/auth/me", headers=old), 401)
    # the same name, password and role (and generation 0) again: another account
    assert c.post("/users", json=new, headers=admin).status_code == 201
    assert DELETED in error(c.get("/auth/me", headers=old), 401)
    assert DELETED in error(c.get("/collections/grids/items", headers=old), 401)
    with pytest.raises(AuthenticationError, match=DELETED):
        user_of_token(env.store, key, old_token)
    again = env.login("li", "li-password")
    assert c.get("/auth/me", headers=again).json() == {"username": "li", "role": "planner", "street_code": None}
    assert user_of_token(env.store, key, issue_token(authenticate(env.store, "li", "li-password"), key, 5)
                         ).username == "li"
    assert c.delete("/users/li", headers=admin).status_code == 204


@pytest.mark.parametrize("kind", ["sqlite", "postgis"])
def test_users_of_before_generations_keep_their_tokens_until_a_new_password(kind, tmp_path):
    """A store at revision 0003 gains ``token_generation`` 0 for its users; tokens without ``gen`` (issued
    before it) are of generation 0, and those without ``acct`` (of before accounts were told apart) name
    the user by name alone."""
    from alembic import command
    from alembic.config import Config

    from api.store import MIGRATIONS

    url, ctx = open_store(kind, tmp_path)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            conn.execute(sa.text("insert into users (username, password_hash, role, created_at) "
                                 "values ('qian', :h, 'planner', :t)"),
                         {"h": hash_password("qian-password"), "t": datetime.now(timezone.utc)})
        engine.dispose()
        store = Store(url)  # migrates to the newest revision
        assert authenticate(store, "qian", "qian-password").generation == 0
        now = datetime.now(timezone.utc)
        old = jwt.encode({"sub": "qian", "iat": now, "exp": now + timedelta(hours=1)}, "k" * 32, algorithm="HS256")
        assert user_of_token(store, "k" * 32, old).username == "qian"
        update_user(store, "qian", password="qian-new-password")
        with pytest.raises(AuthenticationError, match=CHANGED):
            user_of_token(store, "k" * 32, old)
        store.close()
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)


def test_the_last_admin_stays(env):
    c, admin = env.client, env.headers["admin"]
    assert "only admin" in error(c.delete("/users/admin", headers=admin), 409)
    assert "only admin" in error(c.patch("/users/admin", json={"role": "planner"}, headers=admin), 409)
    assert c.get("/auth/me", headers=admin).json()["role"] == "admin"
    assert c.post("/users", json={"username": "admin2", "password": "admin2-password", "role": "admin"},
                  headers=admin).status_code == 201
    assert c.patch("/users/admin2", json={"role": "planner"}, headers=admin).json()["role"] == "planner"
    assert c.delete("/users/admin2", headers=admin).status_code == 204


def test_hashes_of_other_costs_verify_and_are_remade_at_sign_in(env):
    """The default costs (RFC 9106 low memory) against the tests' cheapest, and back."""
    default = Settings(password_time_cost=3, password_memory_kib=65536, password_parallelism=4)
    hashed = hash_password("long-password", default)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and password_matches(hashed, "long-password")
    add_user(env.store, "wu", "placeholder", "planner")
    with env.store.engine.begin() as conn:
        conn.execute(sa.update(users).where(users.c.username == "wu").values(password_hash=hashed))

    def stored():
        with env.store.engine.connect() as conn:
            return conn.execute(sa.select(users.c.password_hash).where(users.c.username == "wu")).scalar()

    env.login("wu", "long-password")  # the app has the tests' cheapest costs (tests/conftest.py)
    assert stored().startswith("$argon2id$v=19$m=8,t=1,p=1$")
    other = Settings(password_time_cost=2, password_memory_kib=16, password_parallelism=2)
    assert authenticate(env.store, "wu", "long-password", other).username == "wu"
    assert stored().startswith("$argon2id$v=19$m=16,t=2,p=2$")
    again = stored()
    authenticate(env.store, "wu", "long-password", other)
    assert stored() == again  # the same costs: left as it is
    assert "wrong" in error(env.client.post("/auth/token", json={"username": "wu", "password": "wrong-password"}), 401)


def _street_area(sample, street):
    s = sample["streets"]
    return s.loc[s["code"] == street].geometry.iloc[0]


def test_street_staff_see_only_their_street(env, sample):
    c, h = env.client, env.headers["staff"]
    comms = sample["communities"]
    mine = comms.loc[comms["street_code"] == STREET, "code"].tolist()
    grids = sample["grids"]
    my_grids = grids.loc[grids["community_code"].isin(mine), "code"].tolist()
    got = c.get("/collections/communities/items?limit=1000", headers=h).json()
    assert [f["id"] for f in got["features"]] == mine and got["numberMatched"] == len(mine) < len(comms)
    got = c.get("/collections/grids/items?limit=1000", headers=h).json()
    assert [f["id"] for f in got["features"]] == my_grids
    assert [f["id"] for f in c.get("/collections/streets/items", headers=h).json()["features"]] == [STREET]
    # buildings: those inside the street (its area less 1 m), in source order, also through a bbox
    area = _street_area(sample, STREET).buffer(-1)
    b = sample["buildings"]
    inside = b["code"][b.intersects(area)].tolist()
    got = c.get("/collections/buildings/items?limit=10000", headers=h).json()
    assert [f["id"] for f in got["features"]] == inside and 0 < len(inside) < len(b)
    minx, miny, maxx, maxy = sample["buildings"].to_crs(4326).total_bounds
    bbox = (minx, miny, (minx + maxx) / 2, maxy)
    wgs = b.to_crs(4326)
    want = b["code"][b.intersects(area) & wgs.intersects(shapely.box(*bbox))].tolist()
    got = c.get("/collections/buildings/items", params={"bbox": ",".join(map(str, bbox)), "limit": 10000},
                headers=h).json()
    assert [f["id"] for f in got["features"]] == want and 0 < len(want) < len(inside)
    # the whole city for the planner
    assert c.get("/collections/grids/items?limit=1", headers=env.headers["planner"]).json()["numberMatched"] == len(grids)


def test_items_of_another_street_are_404_without_data(env, sample):
    comms = sample["communities"]
    theirs = comms.loc[comms["street_code"] == OTHER, "code"].iloc[0]
    ours = comms.loc[comms["street_code"] == STREET, "code"].iloc[0]
    h = env.headers["staff"]
    r = env.client.get(f"/collections/communities/items/{theirs}", headers=h)
    error(r, 404)
    assert "geometry" not in r.text
    assert env.client.get(f"/collections/communities/items/{ours}", headers=h).status_code == 200
    assert env.client.get(f"/collections/communities/items/{theirs}", headers=env.headers["staff2"]).status_code == 200
    grid = sample["grids"].loc[sample["grids"]["community_code"] == theirs, "code"].iloc[0]
    error(env.client.get(f"/collections/grids/items/{grid}", headers=h), 404)
    error(env.client.get(f"/collections/streets/items/{OTHER}", headers=h), 404)


def test_findings_of_street_staff_are_their_streets(env, sample):
    def keys(body):
        return {(f["code"], tuple(f["ids"])): f for f in body["findings"]}

    mine = keys(env.client.get("/findings", headers=env.headers["staff"]).json())
    everyone = keys(env.client.get("/findings", headers=env.headers["planner"]).json())
    assert mine and set(mine) < set(everyone)
    street = sample["streets"].to_crs(4326)
    street = street.loc[street["code"] == STREET].geometry.iloc[0]
    comms = sample["communities"]
    theirs = set(comms.loc[comms["street_code"] == OTHER, "code"])
    elsewhere = [k for k, f in everyone.items() if f["parent"] in theirs
                 and not shapely.geometry.shape(f["geometry"]).intersects(street)]
    assert elsewhere and not set(elsewhere) & set(mine)
    for k, f in mine.items():
        assert f["parent"] not in theirs or shapely.geometry.shape(f["geometry"]).intersects(street), k


def test_public_read_opens_reads_only(env, sample):
    client = TestClient(create_app(Settings(database_url=env.store.url, public_read=True), store=env.store),
                        raise_server_exceptions=False)
    assert client.get("/collections/grids/items?limit=1").json()["numberMatched"] == len(sample["grids"])
    assert client.get("/history").status_code == 200
    assert "invalid" in error(client.get("/collections", headers={"Authorization": "Bearer nonsense"}), 401)
    error(client.get("/proposals"), 401)
    error(client.post("/proposals", json={}), 401)


def test_cli_users_add(tmp_path, sample, root):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    Store(url).load(sample)
    wangge = Path(sys.executable).parent / "wangge"
    r = subprocess.run([str(wangge), "users", "add", "li", "--role", "street_staff", "--street", STREET,
                        "--password", "pass-word-1", "--db", url], capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    assert "pass-word-1" not in r.stdout + r.stderr
    r = subprocess.run([str(wangge), "users", "add", "li", "--role", "planner", "--password", "pass-word-1",
                        "--db", url], capture_output=True, text=True, cwd=root)
    assert r.returncode == 2 and "already" in r.stderr
    r = subprocess.run([str(wangge), "users", "add", "zhao", "--role", "reviewer", "--db", url],
                       input="pw-from-prompt\npw-from-prompt\n", capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stderr
    client = TestClient(create_app(Settings(database_url=url)))
    for name, pw, role in [("li", "pass-word-1", "street_staff"), ("zhao", "pw-from-prompt", "reviewer")]:
        body = client.post("/auth/token", json={"username": name, "password": pw}).json()
        assert body["user"]["role"] == role


def test_collections_show_street_staff_their_street_not_the_city(env, sample):
    streets = sample["streets"].to_crs(4326).set_index("code")
    mine = streets.loc[STREET].geometry.bounds
    for path in ("/collections", "/collections/grids"):
        body = env.client.get(path, headers=env.headers["staff"]).json()
        cols = body["collections"] if "collections" in body else [body]
        for c in cols:
            assert "features" not in c["description"]  # no city-wide counts
            bbox = c["extent"]["spatial"]["bbox"][0]
            assert all(abs(a - b) < 1e-4 for a, b in zip(bbox, mine))  # the street's extent (eroded 1 m)
    city = env.client.get("/collections/grids", headers=env.headers["planner"]).json()
    assert city["description"].startswith(f"{len(sample['grids'])} features")
