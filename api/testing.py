"""Helpers for testing code that uses a store: the PostGIS of the test run and scratch schemas in it.

``scripts/test`` runs ``scripts/postgis.sh`` (installs and starts PostgreSQL 15 + PostGIS 3 when
missing) and exports its URL as ``WANGGE_TEST_POSTGIS_URL``.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import sqlalchemy as sa

ENV = "WANGGE_TEST_POSTGIS_URL"


def postgis_url() -> str | None:
    """The PostGIS URL of the test run, or None when there is none."""
    return os.environ.get(ENV) or None


@contextmanager
def scratch_schema(url: str):
    """A new empty schema in the PostGIS database ``url``; yields a URL whose search path starts there
    (so each test has a store of its own, also under pytest-xdist). Dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"create schema {name}"))
    try:
        yield sa.engine.make_url(url).update_query_dict({"options": f"-csearch_path={name},public"}) \
            .render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"drop schema {name} cascade"))
        engine.dispose()
