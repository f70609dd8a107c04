"""PostgreSQL for the store tests: a fresh schema per test on the server tests/run.sh starts.

NHIGUARD_TEST_PG_URL names a database (postgresql+psycopg://user:pw@host/db) where the tests
may create schemas. When it is unset the PostgreSQL cases are skipped with that reason,
unless NHIGUARD_TEST_PG_REQUIRED=1, which turns the skip into a failure (for CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "NHIGUARD_TEST_PG_URL"


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    reason = f"{PG_ENV} is not set: the PostgreSQL backend of the store is not tested"
    if os.environ.get("NHIGUARD_TEST_PG_REQUIRED") == "1":
        pytest.fail(reason + " (NHIGUARD_TEST_PG_REQUIRED=1)")
    pytest.skip(reason)


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = make_url(pg_base_url())
    if base.drivername == "postgresql":
        base = base.set(drivername="postgresql+psycopg")
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
