"""Helpers for testing code that uses a store: the PostGIS of the test run and scratch schemas in it,
and a slow apply (:func:`apply_delay`) for a test that kills the server in the middle of one.

``scripts/test`` runs ``scripts/postgis.sh`` (installs and starts PostgreSQL 15 + PostGIS 3 when
missing) and exports its URL as ``WANGGE_TEST_POSTGIS_URL``.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager

import sqlalchemy as sa

ENV = "WANGGE_TEST_POSTGIS_URL"

#: Advisory lock between dropping a scratch schema and reading the whole catalog: a catalog scan
#: (e.g. alembic/geoalchemy2 reflection, which looks tables up by name in every schema) fails with
#: "could not open relation with OID" when another pytest-xdist worker drops its schema meanwhile.
CATALOG_LOCK = 7_391_825


def read_catalog(conn) -> None:
    """Within ``conn``'s transaction, keep scratch schemas from being dropped (shared lock)."""
    conn.execute(sa.text("select pg_advisory_xact_lock_shared(:k)"), {"k": CATALOG_LOCK})


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
            conn.execute(sa.text("select pg_advisory_xact_lock(:k)"), {"k": CATALOG_LOCK})
            conn.execute(sa.text(f"drop schema {name} cascade"))
        engine.dispose()


def apply_delay(seconds: float) -> Callable[[int, int], None] | None:
    """A hook for :func:`api.routes.proposals.router` (``on_apply``) that waits ``seconds`` inside the
    transaction applying a proposal, every layer written, before it commits; None for 0.

    ``create_app`` installs it when ``WANGGE_TEST_APPLY_DELAY`` is set, so that a test can kill the
    server while a proposal is half applied. It logs ``test apply delay`` when it starts waiting.

    >>> apply_delay(0) is None
    True
    >>> apply_delay(0.01)(7, 2)
    """
    if not seconds:
        return None

    def wait(pid: int, version: int) -> None:
        logging.getLogger("wangge.api").warning(
            "test apply delay: proposal %s, version %s written, sleeping %.1f s before commit", pid, version, seconds)
        time.sleep(seconds)

    return wait
