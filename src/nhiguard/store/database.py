"""Connecting to a store: naming it (a path or a URL), the SQLite file's permissions and
pragmas, and one DB-API connection that hides the two backends' small differences.

A store is named by an SQLite file path (the default) or a URL: `sqlite:///relative.db`,
`sqlite:////absolute.db`, `postgresql://` or `postgresql+psycopg://user:pw@host:port/db`
(query parameters such as `sslmode` or `options` go to the driver as they are).

The runtime talks to the drivers directly (the standard library's sqlite3, psycopg for
PostgreSQL) with SQL written once for both: `?` placeholders, `ON CONFLICT`, `RETURNING`.
SQLAlchemy (schema.py, migrations) is imported only to create or migrate a store: its import
alone cost as much as a whole rescan of an unchanged repository.

The SQLite file holds fingerprints, previews, paths and commit metadata — not secrets, but
still an inventory of where secrets are — so it is created owner-only (0600) in an
owner-only directory (0700) when we create it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
_SCHEMES = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql",
            "postgresql+psycopg": "postgresql", "postgres": "postgresql"}
_SECRET_PARAMS = frozenset({"password", "passwd", "pwd", "sslpassword"})
_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # as SQLAlchemy wrote it, so older stores read the same


class StoreError(Exception):
    """The store cannot be opened or used; the message is safe to show."""


@dataclass(frozen=True)
class StoreURL:
    """Where a store is: the dialect, and the SQLite file or PostgreSQL connection keywords."""

    dialect: str
    path: Path | None = None  # SQLite file; None for an in-memory database
    params: dict[str, str] = field(default_factory=dict)  # psycopg connection keywords
    shown: str = ""  # safe to show: no password

    def sqlalchemy_url(self) -> str:
        """The same store as an SQLAlchemy URL (for migrations and schema creation)."""
        if self.dialect == "sqlite":
            if self.path is not None:
                return f"sqlite:///{self.path}"
            return "sqlite://"
        p = dict(self.params)
        auth = ""
        if "user" in p:
            auth = quote(p.pop("user"), safe="")
            if "password" in p:
                auth += ":" + quote(p.pop("password"), safe="")
            auth += "@"
        host = p.pop("host", "")
        hostport = (f"[{host}]" if ":" in host else host) + (f":{p.pop('port')}" if "port" in p else "")
        db = quote(p.pop("dbname", ""), safe="")
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in p.items())
        return f"postgresql+psycopg://{auth}{hostport}/{db}" + (f"?{query}" if query else "")


def parse_url(url_or_path: str | os.PathLike[str]) -> StoreURL:
    """A store's location from a URL string or a plain filesystem path (an SQLite file)."""
    text = os.fspath(url_or_path)
    if "://" not in text:
        return StoreURL("sqlite", path=Path(text).expanduser(), shown=text)
    scheme = text.split("://", 1)[0].lower()
    dialect = _SCHEMES.get(scheme)
    if dialect is None:
        backend, _, driver = scheme.partition("+")
        if backend in ("sqlite", "postgresql", "postgres") and driver:
            raise StoreError(f"unsupported database driver {driver!r}; use sqlite:///PATH or "
                             "postgresql+psycopg://...")
        raise StoreError(f"unsupported store backend {backend!r}; "
                         "use an SQLite file path or a postgresql+psycopg:// URL")
    if dialect == "sqlite":
        rest = text.split("://", 1)[1]
        if "?" in rest:
            raise StoreError("SQLite store URLs take no query parameters; give sqlite:///PATH")
        if rest in ("", "/:memory:", ":memory:"):  # sqlite:// or sqlite:///:memory:
            return StoreURL("sqlite", shown=text)  # a throwaway store, gone when the run ends
        # sqlite:///rel.db names rel.db, sqlite:////abs.db names /abs.db
        db = rest[1:] if rest.startswith("/") else rest
        if not db:
            raise StoreError("the SQLite store URL names no file; give sqlite:///PATH")
        if db.startswith("file:"):
            raise StoreError("SQLite file: URIs are not supported; give sqlite:///PATH or the path")
        return StoreURL("sqlite", path=Path(unquote(db)).expanduser(), shown=text)
    try:
        parts = urlsplit(text)
        params: dict[str, str] = {}
        if parts.username:
            params["user"] = unquote(parts.username)
        if parts.password is not None:
            params["password"] = unquote(parts.password)
        if parts.hostname:
            params["host"] = parts.hostname
        if parts.port is not None:
            params["port"] = str(parts.port)
        if parts.path.strip("/"):
            params["dbname"] = unquote(parts.path.lstrip("/"))
        params.update(parse_qsl(parts.query, keep_blank_values=True))
    except ValueError as exc:  # a bad port; the message may echo the URL, so keep ours
        raise StoreError("cannot parse the store URL") from exc
    return StoreURL("postgresql", params=params, shown=mask_password(text))


def mask_password(text: str) -> str:
    """Text without the password of any URL in it (in the authority or a query parameter).

    The authority's password runs from the first ':' after `scheme://` to the *last* '@'
    before the path, as URL parsers read it: a password can hold '@' and spaces."""
    import re

    out, pos = [], 0
    for m in re.finditer(r"://", text):
        start = m.end()
        if start < pos:
            continue
        end = len(text)
        for stop in ("/", "?", "#", "\n"):
            i = text.find(stop, start)
            if 0 <= i < end:
                end = i
        at = text.rfind("@", start, end)
        colon = text.find(":", start, at) if at >= 0 else -1
        if colon >= 0:
            out.append(text[pos : colon + 1] + "***")
            pos = at
    text = "".join(out) + text[pos:]
    return re.sub(r"(?i)([?&](?:" + "|".join(_SECRET_PARAMS) + r")=)[^&\s]+", r"\1***", text)


# Written into the store's folder when nhiguard creates it (`.nhiguard/` by default, in the
# repository being scanned): the store maps where secrets are and is local state, so git
# must not pick it up with `git add -A` or `git commit -a`.
_GITIGNORE = "# Created by nhiguard: its store is local state, never to be committed.\n*\n"


def _make_private_dirs(directory: Path) -> bool:
    """Create `directory` and any missing parents as 0700; leave existing ones alone.
    Returns whether `directory` itself was created here."""
    missing: list[Path] = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    created = False
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
            created = created or d == directory
        except FileExistsError:
            pass
    return created


def _ignore_in_git(directory: Path) -> None:
    try:
        fd = os.open(directory / ".gitignore", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:
        return  # one exists already, or the folder refuses it: the store works without
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_GITIGNORE)


def prepare_sqlite_file(path: Path) -> None:
    """Create the database file owner-only before SQLite opens it (SQLite would use 0644).

    SQLite gives its -wal and -shm files the main file's mode, so they are private too.
    An existing file keeps its mode: the user may have chosen it.
    """
    if _make_private_dirs(path.parent):
        _ignore_in_git(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    else:
        os.close(fd)


def _wal(conn: sqlite3.Connection, patience: float = 60.0) -> None:
    """WAL mode, waiting for it: switching needs the file to itself, and SQLite reports a
    busy file at once rather than through the busy timeout, so scans starting together on a
    new store failed with "database is locked". Another of them may switch it meanwhile."""
    deadline = time.monotonic() + patience
    delay = 0.02
    while str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        try:
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode in ("wal", "memory") or time.monotonic() > deadline:
                return  # switched, or a database that has no journal file (in memory): as it is
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _sqlite_pragmas(conn: sqlite3.Connection, read_only: bool) -> None:
    # First, so that every later statement waits for other scans instead of failing.
    conn.execute("PRAGMA busy_timeout=120000")
    if read_only:
        conn.execute("PRAGMA query_only=ON")
        return
    # WAL: readers (reports, the web UI) do not block the single writer, and vice versa.
    # Switching needs the database to itself, so only a new store asks for it.
    _wal(conn)
    # NORMAL is durable across application crashes in WAL mode, and much faster than FULL.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    # 64 MiB of page cache: index inserts and lookups of a large scan stay in memory.
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")


class Database:
    """One connection to a store. SQL is written with `?` placeholders for both backends.

    Statements outside `transaction()` run on their own (autocommit); writes go inside one.
    Not thread-safe: one Database per thread or process."""

    def __init__(self, conn: Any, location: StoreURL, read_only: bool = False) -> None:
        self.raw = conn  # the driver's connection (psycopg's COPY needs it)
        self.location = location
        self.dialect = location.dialect
        self.read_only = read_only
        self._in_tx = False
        self._pg_sql: dict[str, str] = {}

    @classmethod
    def connect(cls, url_or_path: str | os.PathLike[str], *, read_only: bool = False) -> Database:
        """Open the store; a new SQLite file is created (0600, folders 0700) unless `read_only`,
        which opens an existing file without writing to it (no journal mode switched)."""
        loc = parse_url(url_or_path)
        if loc.dialect == "sqlite":
            try:
                return cls(_connect_sqlite(loc, read_only), loc, read_only)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open store {loc.shown}: {_first_line(exc)}") from None
        try:
            import psycopg
        except ModuleNotFoundError as exc:  # the driver is an extra
            raise StoreError(f"the database driver {exc.name!r} is not installed; for PostgreSQL: "
                             "pip install 'nhiguard[postgres]'") from None
        try:
            conn = psycopg.connect(**loc.params, autocommit=True)
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
        except psycopg.Error as exc:
            raise StoreError(f"cannot open store {loc.shown}: {_first_line(exc)}") from None
        return cls(conn, loc, read_only)

    # ------------------------------------------------------------------ statements

    def sql(self, text: str) -> str:
        """`text` in the driver's parameter style (psycopg takes %s, and % is literal)."""
        if self.dialect == "sqlite":
            return text
        out = self._pg_sql.get(text)
        if out is None:
            out = self._pg_sql[text] = text.replace("%", "%%").replace("?", "%s")
        return out

    @contextmanager
    def errors(self) -> Iterator[None]:
        """The driver's errors as StoreError: a locked, read-only, full or broken store is
        a problem of the input, said in one line, not a bug."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            raise StoreError(f"store {self.shown}: {_first_line(exc)}") from exc

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the driver's cursor (iterate it for rows)."""
        with self.errors():
            return self.raw.execute(self.sql(text), tuple(params))

    def executemany(self, text: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        with self.errors():
            if self.dialect == "sqlite":
                self.raw.executemany(text, rows)
            else:
                with self.raw.cursor() as cur:
                    cur.executemany(self.sql(text), rows)

    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(text, params).fetchall())

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return self.execute(text, params).fetchone()

    def scalar(self, text: str, params: Sequence[Any] = ()) -> Any:
        row = self.one(text, params)
        return None if row is None else row[0]

    def column(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        return [r[0] for r in self.execute(text, params).fetchall()]

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One write transaction. On SQLite it takes the write lock at BEGIN (IMMEDIATE),
        waiting for it under the busy timeout: a deferred transaction that reads and then
        writes cannot wait, which is what made scans sharing one store fail."""
        if self._in_tx:
            raise RuntimeError("transactions do not nest")
        self._in_tx = True
        try:
            with self.errors():
                if self.dialect == "sqlite":
                    self.raw.execute("BEGIN" if self.read_only else "BEGIN IMMEDIATE")
                    try:
                        yield self
                    except BaseException:
                        self.raw.execute("ROLLBACK")
                        raise
                    self.raw.execute("COMMIT")
                else:
                    with self.raw.transaction():
                        if not self.read_only:
                            # writers of one store take turns, as on SQLite: concurrent upserts
                            # of the same findings would otherwise deadlock, and two scans
                            # creating a new store would both create it
                            self.raw.execute("SELECT pg_advisory_xact_lock(hashtext("
                                             "'nhiguard:' || current_schema()))")
                        yield self
        finally:
            self._in_tx = False

    def close(self) -> None:
        self.raw.close()

    # ------------------------------------------------------------------ values

    def ts(self, value: datetime) -> Any:
        """A UTC timestamp as this backend stores it (SQLite: UTC wall-clock text)."""
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if self.dialect == "sqlite":
            return value.strftime(_SQLITE_TS)
        return value

    @staticmethod
    def ts_out(value: Any) -> datetime | None:
        """A stored timestamp as an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def json(value: Any) -> str:
        """A JSON document as text; PostgreSQL parses it into JSONB on the way in."""
        return json.dumps(value, ensure_ascii=False)

    @staticmethod
    def json_out(value: Any) -> Any:
        """A stored JSON document (psycopg decodes JSONB itself; SQLite gives the text)."""
        return json.loads(value) if isinstance(value, str | bytes) else value

    @property
    def shown(self) -> str:
        return self.location.shown


def _connect_sqlite(loc: StoreURL, read_only: bool) -> sqlite3.Connection:
    path = loc.path
    if path is not None and (path.is_dir() or str(loc.shown).endswith(("/", os.sep))):
        raise StoreError(f"the store {loc.shown} is a directory: give the path of a file in it")
    if read_only:
        if path is None or not path.is_file():
            raise StoreError(f"no store at {loc.shown}")
        return _connect_sqlite_read_only(path)
    if path is not None:
        try:
            prepare_sqlite_file(path)
        except OSError as exc:
            raise StoreError(f"cannot create the store {loc.shown}: {exc.strerror or exc}") from None
        target, uri = str(path), False
    else:
        target, uri = ":memory:", False
    # isolation_level None: the module opens no transactions behind our back (it would do
    # so only before DML, leaving DDL outside them); `transaction()` says BEGIN itself.
    conn = sqlite3.connect(target, uri=uri, timeout=120, isolation_level=None,
                           check_same_thread=False)
    try:
        _sqlite_pragmas(conn, read_only)
    except BaseException:
        conn.close()
        raise
    return conn


def _connect_sqlite_read_only(path: Path) -> sqlite3.Connection:
    """An existing store, read without writing. WAL readers need the -shm file next to the
    store; where the folder is read-only it cannot be made, and the store is then read as
    immutable (nothing else can be writing to it: nobody can)."""
    base = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(base, uri=True, timeout=120, isolation_level=None,
                               check_same_thread=False)
        _sqlite_pragmas(conn, read_only=True)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        if os.access(path.parent, os.W_OK):
            raise
    conn = sqlite3.connect(base + "&immutable=1", uri=True, isolation_level=None,
                           check_same_thread=False)
    _sqlite_pragmas(conn, read_only=True)
    return conn


def _is_driver_error(exc: BaseException) -> bool:
    if isinstance(exc, sqlite3.Error):
        return True
    mod = type(exc).__module__
    return mod.startswith("psycopg") and isinstance(exc, Exception)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return mask_password(text[0].strip() if text else type(exc).__name__)


def placeholders(n: int) -> str:
    """`?, ?, ...` for an IN list of n values."""
    return ", ".join("?" * n)
