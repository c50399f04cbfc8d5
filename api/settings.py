"""Settings of the store and the service, from ``WANGGE_*`` environment variables.

Password hashes cost what argon2-cffi recommends, RFC 9106's low-memory profile (3 passes over
64 MiB, 4 lanes: about 0.2 s a hash on two cores), unless ``WANGGE_PASSWORD_TIME_COST``,
``WANGGE_PASSWORD_MEMORY_KIB`` and ``WANGGE_PASSWORD_PARALLELISM`` say otherwise.

>>> Settings(database_url="sqlite:///city.sqlite").max_limit
10000
"""

from __future__ import annotations

import os
from pathlib import Path

from argon2.profiles import RFC_9106_LOW_MEMORY
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.store.tiles import TILE_CACHE_FEATURES

ROOT = Path(__file__).resolve().parents[1]


def default_database_url() -> str:
    """The embedded store: a SQLite file under ``$XDG_DATA_HOME/wangge`` (``~/.local/share/wangge``)."""
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{data / 'wangge' / 'wangge.sqlite'}"


class Settings(BaseSettings):
    """``WANGGE_DATABASE_URL`` names a PostGIS database (``postgresql+psycopg://user:pw@host/db``) or a
    SQLite file (``sqlite:///path``); unset, the embedded SQLite store is used."""

    model_config = SettingsConfigDict(env_prefix="WANGGE_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    title: str = "wangge (网格)"
    default_limit: int = Field(100, ge=1)
    max_limit: int = Field(10000, ge=1)
    default_rules: str = "national"
    sample: Path = ROOT / "data" / "sample.gpkg"
    findings_cache: int = Field(8, ge=1, description="findings kept per (city version, rule set)")
    tiles_url: str | None = Field(None, description="base-map tile URL template for the viewer; none: a plain "
                                                    "background (street offices' intranets have no internet)")
    tiles_attribution: str = ""
    secret_key: SecretStr | None = Field(None, description="HS256 key signing the access tokens; unset: one is "
                                                          "generated once and kept in the store")
    token_minutes: int = Field(480, ge=1, description="lifetime of an access token")
    password_time_cost: int = Field(RFC_9106_LOW_MEMORY.time_cost, ge=1,
                                    description="argon2id passes over the memory per password hash")
    password_memory_kib: int = Field(RFC_9106_LOW_MEMORY.memory_cost, ge=8,
                                     description="argon2id memory per password hash, KiB (at least 8 per lane)")
    password_parallelism: int = Field(RFC_9106_LOW_MEMORY.parallelism, ge=1, description="argon2id lanes")
    public_read: bool = Field(False, description="read endpoints (collections, findings, history) answer "
                                                "requests without a token (the whole city)")
    tile_cache_features: int = Field(TILE_CACHE_FEATURES, ge=0, description="embedded store: layers of up to this many "
                                     "features are kept in memory for vector tiles (per process; ~2 KB a feature)")
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="largest request body accepted (413 above)")
    test_apply_delay: float = Field(0.0, ge=0, description="tests only: seconds to wait inside the transaction "
                                                          "that applies a proposal (api.testing.apply_delay)")

    @model_validator(mode="after")
    def _argon2_memory(self) -> Settings:
        if self.password_memory_kib < 8 * self.password_parallelism:
            raise ValueError(f"password_memory_kib (WANGGE_PASSWORD_MEMORY_KIB) must be at least 8 per lane: "
                             f"{8 * self.password_parallelism} "
                             f"for password_parallelism {self.password_parallelism}")
        return self
