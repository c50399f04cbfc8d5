from pathlib import Path

import pytest
from argon2.profiles import CHEAPEST

ROOT = Path(__file__).resolve().parents[1]
BEIJING = ROOT.parent / "shared" / "data" / "beijing-subdistricts"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample():
    """The bundled sample city, read once per test process (tests must not change it)."""
    from gis import read_city

    return read_city(ROOT / "data" / "sample.gpkg")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """argon2id at argon2-cffi's cheapest costs in the tests (the service's default costs ~0.2 s a hash
    and the tests sign in hundreds of times); the servers the tests start inherit it. Hashes keep
    their costs, so test_auth also checks hashes made at the default costs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANGGE_PASSWORD_TIME_COST", str(CHEAPEST.time_cost))
        mp.setenv("WANGGE_PASSWORD_MEMORY_KIB", str(CHEAPEST.memory_cost))
        mp.setenv("WANGGE_PASSWORD_PARALLELISM", str(CHEAPEST.parallelism))
        yield
