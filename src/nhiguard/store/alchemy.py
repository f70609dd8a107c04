"""An SQLAlchemy Engine on a store, for schema work only: creating a new store from
`schema.py`, Alembic migrations, and tests that inspect the schema.

Scans and reports never import this module (see database.py): SQLAlchemy's import costs as
much as a rescan. The Engine connects the way database.py does (same file permissions,
pragmas and IMMEDIATE transactions on SQLite), so migrations behave as the runtime does.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

from nhiguard.store.database import (
    Database,
    StoreError,
    _sqlite_pragmas,
    parse_url,
    prepare_sqlite_file,
)


def engine_for(db: Database) -> tuple[Engine, bool]:
    """An Engine on the same store as `db`, and whether to dispose of it after use. An
    in-memory SQLite database exists only on its one connection, so that connection is
    lent to the Engine (and must not be closed by it); other stores get their own."""
    loc = db.location
    if loc.dialect == "sqlite" and loc.path is None:
        engine = create_engine("sqlite://", creator=lambda: db.raw, poolclass=StaticPool)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine, False
    return make_engine(loc.path if loc.dialect == "sqlite" else loc.sqlalchemy_url()), True


def make_engine(url_or_path: str | os.PathLike[str], **kwargs: Any) -> Engine:
    """An Engine for the store named by a path or URL (see database.parse_url)."""
    loc = parse_url(url_or_path)
    if loc.dialect == "sqlite":
        if loc.path is not None:
            prepare_sqlite_file(loc.path)
            target, uri = str(loc.path), False
        else:
            target, uri = ":memory:", False
            # One shared connection, or every connection would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(target, uri=uri, timeout=120, isolation_level=None,
                                   check_same_thread=False)
            _sqlite_pragmas(conn, read_only=False)
            return conn

        engine = create_engine("sqlite://", creator=connect, **kwargs)
        # SQLAlchemy's documented recipe for transactional DDL on SQLite: the driver opens
        # no transactions itself (isolation_level None), and each one SQLAlchemy begins is
        # an IMMEDIATE one, as in database.Database.transaction
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    try:
        return create_engine(loc.sqlalchemy_url(), **kwargs)
    except ModuleNotFoundError as exc:  # the driver is an extra
        raise StoreError(f"the database driver {exc.name!r} is not installed; for PostgreSQL: "
                         "pip install 'nhiguard[postgres]'") from None


def version_table() -> Any:
    """Alembic's bookkeeping table, declared as Alembic itself creates it."""
    from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table

    from nhiguard.store.migrate import VERSION_TABLE

    return Table(
        VERSION_TABLE,
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"),
    )


def render_ddl(dialect: str) -> str:
    """The statements `metadata.create_all` runs on an empty database of `dialect`, and the
    version table's, as SQL text: what `store/ddl/<dialect>.sql` holds (a test keeps the two
    equal; `python -m nhiguard.store.alchemy` writes the files again after a schema change)."""
    from sqlalchemy import create_mock_engine

    from nhiguard.store.schema import metadata

    statements: list[str] = []

    def executor(sql: Any, *_: Any, **__: Any) -> None:
        statements.append(str(sql.compile(dialect=engine.dialect)).strip())

    url = "sqlite://" if dialect == "sqlite" else "postgresql+psycopg://"
    engine = create_mock_engine(url, executor)
    metadata.create_all(engine, checkfirst=False)
    version_table().create(engine, checkfirst=False)
    # a table's indexes come from a set, in an order that changes from run to run
    ordered: list[str] = []
    for s in statements:
        j = len(ordered)
        if s.startswith("CREATE INDEX"):
            while j > 0 and ordered[j - 1].startswith("CREATE INDEX") and ordered[j - 1] > s:
                j -= 1
        ordered.insert(j, s)
    return "".join(f"{s};\n\n" for s in ordered)


def ddl_path(dialect: str) -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent / "ddl" / f"{dialect}.sql"


if __name__ == "__main__":
    for name in ("sqlite", "postgresql"):
        ddl_path(name).write_text(render_ddl(name), encoding="utf-8")
        print(f"wrote {ddl_path(name)}")
