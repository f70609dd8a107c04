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
SCHEMA_HEAD = "0003"
#: Name of Alembic's bookkeeping table; prefixed so a shared PostgreSQL database can hold
#: other applications' Alembic histories side by side.
VERSION_TABLE = "nhiguard_alembic_version"


def stored_revision(db: Database) -> str | None:
    """The store's schema revision, or None where there is no nhiguard schema."""
    try:
        return db.scalar(f"SELECT version_num FROM {VERSION_TABLE}")
    except Exception:  # noqa: BLE001 - no such table (each driver names it its own way)
        if db.dialect == "postgresql" and not db.raw.autocommit:
            db.raw.rollback()
        return None


def require_current(db: Database) -> None:
    """Fail unless the store is at this nhiguard's schema (a read-only open cannot migrate)."""
    found = stored_revision(db)
    if found == SCHEMA_HEAD:
        return
    if found is None:
        raise StoreError("not an nhiguard store (no nhiguard schema in it)")
    raise StoreError(f"the store's schema is at revision {found!r}, this nhiguard's at "
                     f"{SCHEMA_HEAD!r}: run `nhiguard scan` with it once to migrate it")


def ensure_current(db: Database) -> bool:
    """Bring the store to SCHEMA_HEAD: create a new one, or migrate an older one with Alembic
    (through its own SQLAlchemy connection). True if anything was done."""
    found = stored_revision(db)
    if found == SCHEMA_HEAD:
        return False
    if found is None and create_at_head(db):
        return True
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


def _table_names(db: Database) -> set[str]:
    if db.dialect == "sqlite":
        return set(db.column("SELECT name FROM sqlite_master WHERE type = 'table'"))
    return set(db.column("SELECT table_name FROM information_schema.tables "
                         "WHERE table_schema = current_schema()"))


def create_at_head(db: Database) -> bool:
    """Create a new, empty store's schema and stamp it at SCHEMA_HEAD; False (nothing done)
    when the database already holds nhiguard tables.

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
        if {VERSION_TABLE, "scans", "meta"} & _table_names(db):
            return False
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
