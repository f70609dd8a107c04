"""Schema migrations: Alembic, configured in code so it runs from an installed wheel.

The migration scripts live in the package (`store/migrations/`); no alembic.ini is read at
run time. `ensure_current(db)` brings a store to the newest revision this nhiguard knows and
does nothing (not even import SQLAlchemy) when it is already there; a new, empty store is
created from `schema.py` and stamped at the head revision without Alembic.

For developers, `store/alembic.ini` drives the `alembic` command line against a store, e.g.
`alembic -c src/nhiguard/store/alembic.ini -x url=/tmp/dev.db revision --autogenerate -m "..."`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nhiguard.store.database import Database, StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# The newest revision in migrations/versions/. Checked against Alembic by the tests; it lets
# an up-to-date store open without importing Alembic or SQLAlchemy at all.
SCHEMA_HEAD = "0008"
#: Name of Alembic's bookkeeping table; prefixed so a shared PostgreSQL database can hold
#: other applications' Alembic histories side by side.
VERSION_TABLE = "nhiguard_alembic_version"


def stored_revision(db: Database) -> str | None:
    """The store's schema revision, or None where there is no nhiguard schema. Any other
    failure (a damaged file, missing rights) is raised as it is: it is not "no schema"."""
    if VERSION_TABLE not in table_names(db):
        return None
    rev = db.scalar(f"SELECT version_num FROM {VERSION_TABLE}")
    if rev is None:
        raise StoreError(f"the store {db.shown} is damaged: it records no schema revision")
    return str(rev)


def table_names(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        return set(db.column("SELECT name FROM sqlite_master WHERE type = 'table'"))
    return set(db.column("SELECT table_name FROM information_schema.tables "
                         "WHERE table_schema = current_schema()"))


def _newer(revision: str) -> bool:
    return revision.isdigit() and SCHEMA_HEAD.isdigit() and int(revision) > int(SCHEMA_HEAD)


def _newer_error(db: Database, revision: str) -> StoreError:
    return StoreError(f"the store's schema revision {revision!r} is newer than this nhiguard knows "
                      f"(newest known: {SCHEMA_HEAD!r}); upgrade nhiguard to use this store")


def require_current(db: Database) -> None:
    """Fail unless the store is at this nhiguard's schema (a read-only open cannot migrate)."""
    found = stored_revision(db)
    if found == SCHEMA_HEAD:
        return
    if found is None:
        raise StoreError("not an nhiguard store (no nhiguard schema in it)")
    if _newer(found):
        raise _newer_error(db, found)
    raise StoreError(f"the store's schema is at revision {found!r}, this nhiguard's at "
                     f"{SCHEMA_HEAD!r}: run `nhiguard scan` with it once to migrate it")


def ensure_current(db: Database) -> bool:
    """Bring the store to SCHEMA_HEAD: create a new one, or migrate an older one with Alembic
    (through its own SQLAlchemy connection). True if anything was done."""
    found = stored_revision(db)
    if found == SCHEMA_HEAD:
        return False
    if found is None:
        return create_at_head(db)
    if _newer(found):
        raise _newer_error(db, found)
    from nhiguard.store.alchemy import engine_for

    engine, dispose = engine_for(db)
    try:
        return upgrade(engine)
    finally:
        if dispose:
            engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """A programmatic Alembic Config pointing at the packaged scripts."""
    from alembic.config import Config

    cfg = Config()
    # ConfigParser interpolates '%', so escape it in the path.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest schema revision shipped with this nhiguard."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The store's schema revision, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return ctx.get_current_revision()


def _known(script: ScriptDirectory, revision: str) -> bool:
    from alembic.script.revision import ResolutionError
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def create_at_head(db: Database) -> bool:
    """Create a new store's schema in an empty database and stamp it at SCHEMA_HEAD; False
    when another scan created it meanwhile. A database holding other tables is refused: it
    is somebody else's, and nhiguard does not write its tables into it.

    The statements are those `schema.metadata.create_all` runs, kept as SQL text in
    `store/ddl/<dialect>.sql` (a test checks they are still what SQLAlchemy renders, and that
    the result equals replaying every migration), so a new store needs neither SQLAlchemy
    nor Alembic, whose imports cost more than the rest of a small scan's start-up."""
    from datetime import UTC, datetime

    ddl = (Path(__file__).resolve().parent / "ddl" / f"{db.dialect}.sql").read_text(encoding="utf-8")
    statements = [s for s in ddl.split(";\n\n") if s.strip()]
    # the check runs inside the write transaction (BEGIN IMMEDIATE on SQLite), so two scans
    # creating one new store take turns and the second finds the first's tables
    with db.transaction():
        tables = table_names(db)
        if VERSION_TABLE in tables:
            return False  # another scan made it while this one waited for the lock
        if tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise StoreError(f"{db.shown} is not an nhiguard store: it holds other tables "
                             f"({shown}); give a new file, or an empty database or schema")
        for statement in statements:
            db.raw.execute(statement)  # DDL text as SQLAlchemy rendered it: no parameters
        db.execute(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (?)", (SCHEMA_HEAD,))
        db.execute("INSERT INTO meta (key, value) VALUES (?, ?)",
                   ("created_at", datetime.now(UTC).isoformat(timespec="seconds")))
    return True


def _stored_revision(engine: Engine) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    try:
        with engine.connect() as conn:
            return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    except SQLAlchemyError:
        return None


def upgrade(engine: Engine) -> bool:
    """Migrate the store to head inside one transaction; True if anything ran."""
    found = _stored_revision(engine)
    if found == SCHEMA_HEAD:
        return False
    from alembic import command
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    with engine.connect() as conn:
        current = current_revision(conn)
    if current == head:
        return False
    if current is not None and not _known(script, current):
        raise StoreError(
            f"the store's schema revision {current!r} is newer than this nhiguard knows "
            f"(newest known: {head!r}); upgrade nhiguard to use this store"
        )
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "head")
    return True
