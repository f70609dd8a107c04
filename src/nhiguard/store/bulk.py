"""Bulk INSERTs for the writer's hot path.

A scan records hundreds of thousands of rows. A `BulkInsert` writes them the fastest way
each backend offers, with one ON CONFLICT clause for both:
- on SQLite, executemany of one INSERT with plain tuples;
- on PostgreSQL, COPY into a session-private temporary table, then one
  INSERT ... SELECT ... ON CONFLICT from it (about twice as fast as pipelined executemany).
The writer prepares values so the drivers take them as they are: JSON columns as text,
timestamps through `Database.ts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nhiguard.store.database import Database


class BulkInsert:
    def __init__(self, db: Database, table: str, columns: Sequence[str],
                 conflict_keys: Sequence[str] = (), update: Sequence[str] = ()) -> None:
        """INSERT rows (tuples in `columns` order) into `table`; a row whose `conflict_keys`
        exist already updates the `update` columns, or is skipped when `update` is empty."""
        self.db = db
        self.table = table
        self.columns = tuple(columns)
        if update:
            sets = ", ".join(f"{c} = excluded.{c}" for c in update)
            on_conflict = f"ON CONFLICT ({', '.join(conflict_keys)}) DO UPDATE SET {sets}"
        else:
            on_conflict = "ON CONFLICT DO NOTHING"
        cols = ", ".join(self.columns)
        if db.dialect == "postgresql":
            self.tmp = f"nhiguard_bulk_{table}"
            # Same column types as the target, so COPY parses text into them.
            self.create_tmp = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {self.tmp} "
                               f"(LIKE {table}) ON COMMIT DELETE ROWS")
            self.copy_sql = f"COPY {self.tmp} ({cols}) FROM STDIN"
            self.sql = f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {self.tmp} {on_conflict}"
        else:
            marks = ", ".join("?" * len(self.columns))
            self.sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}) {on_conflict}"

    def execute(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert `rows` within the database's current transaction."""
        if not rows:
            return
        if self.db.dialect != "postgresql":
            self.db.executemany(self.sql, rows)
            return
        raw = self.db.raw
        with self.db.errors():
            raw.execute(self.create_tmp)
            with raw.cursor() as cur:
                with cur.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            raw.execute(self.sql)
            # Emptied now, not only at commit: a transaction may flush twice.
            raw.execute(f"TRUNCATE {self.tmp}")
