"""Alembic environment: migrate the connection the store hands over, or ``WANGGE_DATABASE_URL``."""

from alembic import context
from sqlalchemy import create_engine

from api.models import metadata

config = context.config


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from api.settings import Settings

    with create_engine(Settings().database_url).connect() as conn:
        _run(conn)
