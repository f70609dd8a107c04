"""Connecting to a store: URL or path parsing, the SQLite file's permissions and pragmas,
and the dialect-aware insert constructs (insert-or-ignore, upsert) the writer uses.

A store is named by an SQLite file path (the default) or an SQLAlchemy URL; SQLite and
PostgreSQL (`postgresql+psycopg://...`) are supported. The SQLite file holds fingerprints,
previews, paths and commit metadata — not secrets, but still an inventory of where secrets
are — so it is created owner-only (0600) in an owner-only directory (0700) when we create it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import StaticPool

SUPPORTED_DIALECTS = ("sqlite", "postgresql")


class StoreError(Exception):
    """The store cannot be opened or used; the message is safe to show."""


def to_url(url_or_path: str | os.PathLike[str]) -> URL:
    """An SQLAlchemy URL for a URL string or a plain filesystem path (an SQLite file)."""
    text = os.fspath(url_or_path)
    if "://" in text:
        try:
            url = make_url(text)
        except Exception as exc:  # ArgumentError; the message may echo the URL, so keep ours
            raise StoreError("cannot parse the store URL") from exc
    else:
        url = URL.create("sqlite", database=text)
    if url.get_backend_name() not in SUPPORTED_DIALECTS:
        raise StoreError(
            f"unsupported store backend {url.get_backend_name()!r}; "
            "use an SQLite file path or a postgresql+psycopg:// URL"
        )
    return url


def sqlite_path(url: URL) -> Path | None:
    """The file behind an SQLite URL, or None for an in-memory database."""
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser()


def _make_private_dirs(directory: Path) -> None:
    """Create `directory` and any missing parents as 0700; leave existing ones alone."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass


def prepare_sqlite_file(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it (SQLite would use 0644).

    SQLite gives its -wal and -shm files the main file's mode, so they are private too.
    An existing file keeps its mode: the user may have chosen it.
    """
    _make_private_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    else:
        os.close(fd)


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Python's sqlite3 module opens transactions only before DML, so DDL (migrations) would
    # run outside them. Take transaction control away from it; _sqlite_on_begin emits BEGIN
    # whenever SQLAlchemy starts a transaction (SQLAlchemy's documented recipe).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        # First, so that every later statement waits for other scans instead of failing.
        cur.execute("PRAGMA busy_timeout=120000")
        # WAL: readers (reports, the web UI) do not block the single writer, and vice versa.
        # Switching needs the database to itself, so only a new store asks for it.
        if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
            cur.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache: index inserts and lookups of a large scan stay in memory.
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
    finally:
        cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE: a transaction takes the write lock when it starts, waiting for it under the
    # busy timeout. A deferred one that reads and then writes cannot wait (SQLite fails it at
    # once with "database is locked" when another scan wrote meanwhile), which is what made
    # scans sharing one store fail; migrations of a new store serialise the same way.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url_or_path: str | os.PathLike[str], *, read_only: bool = False, **kwargs: Any) -> Engine:
    """An Engine for the store, with the SQLite file prepared and pragmas set per connection.

    `read_only` opens an existing SQLite file without writing to it (no file created, no
    journal mode switched, deferred transactions): what a report needs, and all a
    read-only file allows."""
    url = to_url(url_or_path)
    if url.get_backend_name() == "sqlite":
        path = sqlite_path(url)
        if read_only:
            if path is None or not path.is_file():
                raise StoreError(f"no store at {url_or_path}")
            uri = f"file:{quote(str(path.resolve()))}?mode=ro"
            engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
                uri, uri=True, timeout=120, check_same_thread=False), **kwargs)
            event.listen(engine, "connect", _sqlite_on_connect_read_only)
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
            return engine
        if path is not None:
            prepare_sqlite_file(path)
            url = url.set(database=str(path))
            # several scans may share one store: wait for the writer instead of failing
            kwargs.setdefault("connect_args", {"timeout": 120})
        else:
            # One shared connection, or every connection would see its own empty database.
            kwargs.setdefault("poolclass", StaticPool)
            kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    else:
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        try:
            engine = create_engine(url, **kwargs)
        except ModuleNotFoundError as exc:  # the driver is an extra
            raise StoreError(f"the database driver {exc.name!r} is not installed; for PostgreSQL: "
                             "pip install 'nhiguard[postgres]'") from None
    return engine


def _sqlite_on_connect_read_only(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # transactions as in _sqlite_on_connect
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=120000")
        cur.execute("PRAGMA query_only=ON")
    finally:
        cur.close()


def insert(engine_or_dialect_name: Engine | str, table: Table) -> Any:
    """The dialect's INSERT construct, which has `on_conflict_do_nothing` / `_do_update`.

    SQLite (>= 3.24) and PostgreSQL share the ON CONFLICT syntax and SQLAlchemy gives both
    the same API, so callers write one statement for both.
    """
    name = (
        engine_or_dialect_name
        if isinstance(engine_or_dialect_name, str)
        else engine_or_dialect_name.dialect.name
    )
    # imported by name: an SQLite store never loads the PostgreSQL dialect, and vice versa
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    raise StoreError(f"unsupported store backend {name!r}")
