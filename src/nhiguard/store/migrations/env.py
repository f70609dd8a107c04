"""Alembic environment for the nhiguard store.

At run time `nhiguard.store.migrate` hands us an open connection (inside its transaction)
through `config.attributes["connection"]`. From the `alembic` command line (developers,
with `store/alembic.ini`) the store is named by `-x url=...`, `sqlalchemy.url` or the
NHIGUARD_STORE environment variable, and opened the same way nhiguard opens it.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from nhiguard.store.alchemy import make_engine
from nhiguard.store.database import parse_url
from nhiguard.store.schema import VERSION_TABLE, metadata

config = context.config
target_metadata = metadata

if config.config_file_name is not None and "connection" not in config.attributes:
    from logging.config import fileConfig

    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("NHIGUARD_STORE")
    )
    if not url:
        raise SystemExit("name the store: alembic -x url=PATH_OR_URL ... (or set NHIGUARD_STORE)")
    return url


def _configure(**kwargs: object) -> None:
    context.configure(
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        compare_type=True,
        # Both SQLite and PostgreSQL run DDL inside transactions: a failed migration
        # leaves the store as it was.
        transactional_ddl=True,
        **kwargs,  # type: ignore[arg-type]
    )


def _run_with(connection: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    _configure(url=parse_url(_url()).sqlalchemy_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as conn:
            _run_with(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
