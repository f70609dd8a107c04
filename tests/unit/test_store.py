"""The store: schema and migrations, incremental bookkeeping, grouping matches into findings,
git location carry-forward, triage, and the rule that raw secrets are never written.

Every behavioural test runs on SQLite and on PostgreSQL. PostgreSQL runs when
NHIGUARD_TEST_PG_URL names a database (postgresql+psycopg://user:pw@host/db) where the
tests may create schemas; each test gets its own schema, dropped afterwards. When the
variable is unset the PostgreSQL cases are skipped with that reason, unless
NHIGUARD_TEST_PG_REQUIRED=1, which turns the skip into a failure (for CI).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from nhiguard.engine.redact import fingerprint, preview
from nhiguard.model import Match, Rule, ScanError, ScanStats, Severity
from nhiguard.store import STATUSES, Store, StoreError, finding_id, metadata, migrate
from nhiguard.store import store as store_module
from nhiguard.store.schema import VERSION_TABLE
from tests.helpers_pg import pg_schema_url

RS = "ruleset-1"

# --------------------------------------------------------------------------- backends


@contextmanager
def sa_engine(url: str | Path) -> Iterator[Engine]:
    """An SQLAlchemy Engine on a store, to inspect its schema as Alembic sees it."""
    from nhiguard.store.alchemy import make_engine

    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with pg_schema_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / ".nhiguard" / "nhiguard.db")
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()


# --------------------------------------------------------------------------- builders

AWS_ID = Rule(
    id="test.aws.access-key-id",
    name="AWS access key id",
    pattern="AKIA[0-9A-Z]{16}",
    kind="aws_access_key",
    provider="aws",
    severity=Severity.HIGH,
    pairs_with=("test.aws.secret-key",),
)
AWS_SECRET = Rule(
    id="test.aws.secret-key",
    name="AWS secret access key",
    pattern="[A-Za-z0-9/+]{40}",
    kind="aws_access_key",
    provider="aws",
    severity=Severity.CRITICAL,
    pairs_with=("test.aws.access-key-id",),
)
TOKEN = Rule(
    id="test.token",
    name="Test token",
    pattern="tok_[a-z0-9]{20}",
    kind="api_token",
    provider="test",
    severity=Severity.MEDIUM,
)
RULES = {r.id: r for r in (AWS_ID, AWS_SECRET, TOKEN)}


def match(
    rule: Rule,
    blob: str,
    secret: str,
    line: int = 1,
    column: int = 1,
    start: int = 0,
    pairs: tuple[str, ...] = (),
    keep_secret: bool = False,
) -> Match:
    return Match(
        rule_id=rule.id,
        blob_id=blob,
        fingerprint=fingerprint(secret.encode()),
        preview=preview(secret),
        start=start,
        end=start + len(secret),
        line=line,
        column=column,
        secret=secret if keep_secret else None,
        pair_fingerprints=pairs,
    )


def fp(secret: str) -> str:
    return fingerprint(secret.encode())


def blob(n: int) -> str:
    return f"{n:040x}"


def file_loc(path: str) -> dict[str, object]:
    return {"source": "file", "path": path}


def git_loc(repo: str, path: str, commit: str) -> dict[str, object]:
    return {"source": "git", "repo": repo, "path": path, "commit": commit, "reachable": True}


def finish(store: Store, scan_id: int, **kw: object) -> None:
    store.finish_scan(scan_id, ScanStats(**kw))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- schema & migrations


def test_open_creates_every_table_at_head(store_url: str) -> None:
    with Store.open(store_url) as s:
        assert "created_at" in s.meta()
    with sa_engine(store_url) as engine:
        names = set(inspect(engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= names
        assert VERSION_TABLE in names
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()


def test_reopening_is_a_no_op_migration(store_url: str) -> None:
    with Store.open(store_url) as s:
        sid = s.begin_scan(["."], RS, "python")
        created = s.meta()["created_at"]
    with Store.open(store_url) as s:
        assert migrate.ensure_current(s.db) is False
        assert s.meta()["created_at"] == created
        assert s.begin_scan(["."], RS, "python") == sid + 1


@contextmanager
def _second_store_url(backend_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty store on the same backend as `backend_url`."""
    if make_url(backend_url if "://" in backend_url else "sqlite://").get_backend_name() == "sqlite":
        yield str(tmp_path / "other" / "nhiguard.db")
        return
    with pg_schema_url() as url:
        yield url


def _migrate_with_alembic(url: str) -> None:
    """Every migration script from an empty database, as an old store would have gone."""
    from alembic import command

    with sa_engine(url) as engine, engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "head")


def test_migrated_database_matches_schema_py(store_url: str) -> None:
    _migrate_with_alembic(store_url)
    Store.open(store_url).close()
    with sa_engine(store_url) as engine, engine.connect() as conn:
        assert migrate.current_revision(conn) == migrate.head_revision()
        ctx = MigrationContext.configure(
            conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
        )
        assert compare_metadata(ctx, metadata) == []


def _schema_of(url: str) -> dict[str, object]:
    """Everything a database says about its nhiguard tables, comparable across two stores."""
    with sa_engine(url) as engine:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for name in sorted(insp.get_table_names()):
            cols = [(c["name"], str(c["type"]), c["nullable"], c.get("comment"))
                    for c in insp.get_columns(name)]
            fks = sorted((tuple(f["constrained_columns"]), f["referred_table"],
                          tuple(f["referred_columns"]), (f.get("options") or {}).get("ondelete"))
                         for f in insp.get_foreign_keys(name))
            idx = sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                         for i in insp.get_indexes(name))
            uqs = sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(name))
            pk = insp.get_pk_constraint(name)
            rowid = None
            if engine.dialect.name == "sqlite":
                with engine.connect() as conn:
                    sql = conn.exec_driver_sql(
                        "SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (name,)
                    ).scalar()
                rowid = "WITHOUT ROWID" in (sql or "").upper()
            comment = (None if engine.dialect.name == "sqlite"  # SQLite keeps no comments
                       else insp.get_table_comment(name).get("text"))
            out[name] = (cols, tuple(pk["constrained_columns"]), fks, idx, uqs, rowid, comment)
        return out


def test_a_new_store_is_created_as_the_migrations_would_make_it(store_url: str, tmp_path: Path) -> None:
    """A new store is created from schema.py at SCHEMA_HEAD without running Alembic; it must
    be the database that replaying every migration gives."""
    with Store.open(store_url) as s:
        assert s.meta()["created_at"]
        assert migrate.stored_revision(s.db) == migrate.SCHEMA_HEAD
    with _second_store_url(store_url, tmp_path) as other:
        _migrate_with_alembic(other)
        assert _schema_of(store_url) == _schema_of(other)


def _imported_opening(path: Path) -> set[str]:
    """The top-level packages imported by opening (and closing) the store at `path`."""
    import subprocess
    import sys

    code = ("import sys; from nhiguard.store import Store; "
            f"Store.open({str(path)!r}).close(); "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_opening_a_store_imports_no_sqlalchemy_unless_it_migrates(tmp_path: Path) -> None:
    """SQLAlchemy's import costs as much as a whole rescan: only migrations may need it."""
    new = _imported_opening(tmp_path / "n.db")
    assert "sqlalchemy" not in new and "alembic" not in new  # created from store/ddl/
    existing = _imported_opening(tmp_path / "n.db")
    assert "sqlalchemy" not in existing and "alembic" not in existing


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_shipped_ddl_is_what_schema_py_renders(dialect: str) -> None:
    """A new store is created from store/ddl/<dialect>.sql; after a change to schema.py,
    `python -m nhiguard.store.alchemy` writes the files again."""
    from nhiguard.store.alchemy import ddl_path, render_ddl

    assert ddl_path(dialect).read_text(encoding="utf-8") == render_ddl(dialect)


def test_every_table_and_column_has_a_comment() -> None:
    for table in metadata.sorted_tables:
        assert table.comment, table.name
        for column in table.columns:
            assert column.comment, f"{table.name}.{column.name}"


def test_a_store_from_a_newer_nhiguard_is_refused(store_url: str) -> None:
    with Store.open(store_url) as s, s.db.transaction():
        s.db.execute(f"UPDATE {VERSION_TABLE} SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer than this nhiguard"):
        Store.open(store_url)


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(StoreError, match="unsupported store backend"):
        Store.open("mysql://u:p@localhost/x")


# --------------------------------------------------------------------------- SQLite file


def test_sqlite_file_is_private_wal_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "nhiguard.db"
    with Store.open(str(path)) as s:
        sid = s.begin_scan(["."], RS, "python")
        s.record_blob(sid, RS, blob(1), 10, [match(TOKEN, blob(1), "tok_" + "a1" * 10)], RULES)
        s.flush()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        for d in (path.parent, path.parent.parent):
            assert stat.S_IMODE(d.stat().st_mode) == 0o700
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
        assert s.db.scalar("PRAGMA journal_mode") == "wal"
        assert s.db.scalar("PRAGMA foreign_keys") == 1


def test_sqlite_url_form_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "u.db"
    with Store.open(f"sqlite:///{path}") as s:
        s.begin_scan(["."], RS, "python")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --------------------------------------------------------------------------- behaviour


def test_finding_id_is_sha256_prefix_of_rule_and_fingerprint() -> None:
    import hashlib

    want = hashlib.sha256(b"r.x:abc").hexdigest()[:16]
    assert finding_id("r.x", "abc") == want


@pytest.mark.parametrize("flush_rows", [1, 10_000])
def test_already_scanned_is_per_ruleset(store_url: str, flush_rows: int) -> None:
    ids = [blob(i) for i in range(1200)]  # more than one IN chunk
    with Store.open(store_url, flush_rows=flush_rows) as s:
        sid = s.begin_scan(["."], RS, "python")
        for b in ids[:1100]:
            s.record_blob(sid, RS, b, 5, [], RULES)
        # Answered from the buffer and the database alike.
        assert s.already_scanned(RS, ids) == set(ids[:1100])
        assert s.already_scanned("other-ruleset", ids) == set()
        finish(s, sid)
    with Store.open(store_url) as s:
        assert s.already_scanned(RS, ids) == set(ids[:1100])
        assert s.already_scanned(RS, []) == set()


@pytest.fixture(params=["few-blobs", "many-blobs"])
def lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """findings_for_scan fetches places by key for few matched blobs, in one join for many;
    run the grouping tests both ways."""
    if request.param == "many-blobs":
        monkeypatch.setattr(store_module, "_FEW_BLOBS", 0)


@pytest.mark.usefixtures("lookup")
def test_one_secret_in_two_blobs_is_one_finding_with_sorted_locations(store_url: str) -> None:
    secret = "tok_" + "0123456789" * 2
    with Store.open(store_url) as s:
        sid = s.begin_scan(["repo"], RS, "python")
        s.record_blob(sid, RS, blob(1), 100, [match(TOKEN, blob(1), secret, line=7)], RULES)
        s.record_blob(sid, RS, blob(2), 100, [match(TOKEN, blob(2), secret, line=3)], RULES)
        s.record_blob(sid, RS, blob(3), 100, [], RULES)  # clean blob
        s.record_location(sid, "repo", blob(2), file_loc("repo/z.env"))
        s.record_location(sid, "repo", blob(1), file_loc("repo/a.env"))
        s.record_location(sid, "repo", blob(1), file_loc("repo/a.env"))  # duplicate place
        s.record_location(sid, "repo", blob(3), file_loc("repo/clean.txt"))
        finish(s, sid, blobs_scanned=3)
        found = s.findings_for_scan(sid, RS, RULES)

    assert len(found) == 1
    f = found[0]
    assert f.id == finding_id(TOKEN.id, fp(secret))
    assert (f.rule_id, f.rule_name, f.kind, f.provider, f.severity) == (
        TOKEN.id,
        TOKEN.name,
        "api_token",
        "test",
        Severity.MEDIUM,
    )
    assert f.preview == preview(secret) and f.secret is None
    assert f.status == "open" and f.first_seen and f.first_seen.endswith("Z")
    assert [(loc.fields["path"], loc.line, loc.blob_id) for loc in f.locations] == [
        ("repo/a.env", 7, blob(1)),
        ("repo/z.env", 3, blob(2)),
    ]
    assert f.locations[0].as_dict() == {
        "source": "file",
        "path": "repo/a.env",
        "line": 7,
        "column": 1,
        "blob_id": blob(1),
    }


@pytest.mark.usefixtures("lookup")
def test_pairs_resolve_to_finding_ids_in_the_same_blob(store_url: str) -> None:
    key_id, key_secret = "AKIA" + "A" * 16, "s" * 36 + "1234"
    lone = "AKIA" + "B" * 16
    with Store.open(store_url) as s:
        sid = s.begin_scan(["."], RS, "python")
        s.record_blob(
            sid,
            RS,
            blob(1),
            200,
            [
                match(AWS_ID, blob(1), key_id, line=1, start=0, pairs=(fp(key_secret),)),
                match(AWS_SECRET, blob(1), key_secret, line=2, start=40, pairs=(fp(key_id),)),
            ],
            RULES,
        )
        # The same key secret in another blob, without its id: no pair there.
        s.record_blob(sid, RS, blob(2), 50, [match(AWS_ID, blob(2), lone)], RULES)
        s.record_location(sid, ".", blob(1), file_loc("creds"))
        s.record_location(sid, ".", blob(2), file_loc("other"))
        finish(s, sid)
        found = s.findings_for_scan(sid, RS, RULES)
        by_rule = {(f.rule_id, f.preview): f for f in found}

    fid_id = finding_id(AWS_ID.id, fp(key_id))
    fid_secret = finding_id(AWS_SECRET.id, fp(key_secret))
    assert by_rule[(AWS_ID.id, preview(key_id))].paired_with == [fid_secret]
    assert by_rule[(AWS_SECRET.id, preview(key_secret))].paired_with == [fid_id]
    assert by_rule[(AWS_ID.id, preview(lone))].paired_with == []
    # Most severe first.
    assert [f.severity for f in found] == [Severity.CRITICAL, Severity.HIGH, Severity.HIGH]


@pytest.mark.usefixtures("lookup")
def test_carry_forward_copies_the_previous_walks_git_locations_once(store_url: str) -> None:
    secret = "tok_" + "abcdefghij" * 2
    with Store.open(store_url) as s:
        s1 = s.begin_scan(["repo"], RS, "python")
        s.record_blob(s1, RS, blob(1), 10, [match(TOKEN, blob(1), secret, line=2)], RULES)
        s.record_location(s1, "repo", blob(1), git_loc("repo", "a.env", "c1"))
        s.record_location(s1, "repo", blob(1), git_loc("repo", "b.env", "c2"))
        s.record_location(s1, "repo", blob(1), file_loc("repo/a.env"))  # not git: not carried
        s.record_location(s1, "other", blob(1), git_loc("other", "x", "c9"))  # other target
        staged = dict(git_loc("repo", "s.env", None), staged=True)
        s.record_location(s1, "repo", blob(1), staged)  # staged: found again when still staged
        s.record_git_walk("repo#rs", s1, {"refs/heads/main": "c2"}, ["c1", "c2"])
        finish(s, s1)

        assert s.git_walk("repo#rs") == (s1, {"refs/heads/main": "c2"})
        s2 = s.begin_scan(["repo"], RS, "python")
        assert s.walked_commits("repo#rs") == frozenset({"c1", "c2"})
        # The rescan walks one new commit, which it records itself ...
        s.record_location(s2, "repo", blob(1), git_loc("repo", "b.env", "c2"))
        s.record_location(s2, "repo", blob(1), git_loc("repo", "c.env", "c3"))
        # ... and carries the rest of the previous walk forward: a.env@c1 only.
        assert s.carry_forward_git_locations(s2, "repo", s1) == 1
        assert s.carry_forward_git_locations(s2, "repo", s1) == 0
        s.record_git_walk("repo#rs", s2, {"refs/heads/main": "c3"}, ["c3"])
        finish(s, s2)
        [f] = s.findings_for_scan(s2, RS, RULES)
        assert [(loc.fields["path"], loc.fields["commit"]) for loc in f.locations] == [
            ("a.env", "c1"),
            ("b.env", "c2"),
            ("c.env", "c3"),
        ]
        assert s.walked_commits("repo#rs") == frozenset({"c1", "c2", "c3"})

        # After a rewrite, only places whose commit is still reachable are carried.
        s3 = s.begin_scan(["repo"], RS, "python")
        assert s.carry_forward_git_locations(s3, "repo", s2, reachable=lambda c: c != "c3") == 2
        finish(s, s3)
        [f] = s.findings_for_scan(s3, RS, RULES)
        assert sorted(loc.fields["commit"] for loc in f.locations) == ["c1", "c2"]


def test_walked_commits_are_per_repository_and_idempotent(store: Store) -> None:
    assert store.walked_commits("r1") == frozenset()
    sid = store.begin_scan(["r1"], RS, "python")
    store.record_git_walk("r1", sid, {}, ["a", "b", "a"])
    store.record_git_walk("r1", sid, {"HEAD": "c"}, ["b", "c"])
    store.record_git_walk("r2", sid, {}, [])
    assert store.walked_commits("r1") == frozenset({"a", "b", "c"})
    assert store.walked_commits("r2") == frozenset()
    assert store.git_walk("r1") == (sid, {"HEAD": "c"})
    assert store.git_walk("r3") is None


def test_a_scan_records_its_stats_and_errors(store: Store) -> None:
    sid = store.begin_scan(["a", "b"], RS, "hyperscan")
    stats = ScanStats(
        bytes_scanned=1234,
        blobs_scanned=3,
        blobs_seen=5,
        blobs_reused=2,
        errors=[ScanError("a/broken.zip", "bad archive")],
        skipped=[ScanError("a/big.bin", "larger than 10 MB", kind="skipped")],
    )
    store.finish_scan(sid, stats)
    from nhiguard.store.schema import scans

    with sa_engine(store.db.location.path or store.db.location.sqlalchemy_url()) as engine, \
            engine.connect() as conn:
        row = conn.execute(select(scans).where(scans.c.id == sid)).one()
    assert row.targets == ["a", "b"] and row.engine == "hyperscan" and row.ruleset_hash == RS
    assert (row.bytes_scanned, row.blobs_scanned, row.blobs_seen, row.blobs_reused) == (
        1234,
        3,
        5,
        2,
    )
    assert row.finished_at is not None and row.finished_at >= row.started_at
    assert row.errors == [
        {"path": "a/broken.zip", "message": "bad archive", "kind": "error"},
        {"path": "a/big.bin", "message": "larger than 10 MB", "kind": "skipped"},
    ]


def test_raw_secrets_are_never_stored(store_url: str) -> None:
    secret = "REALSECRETVALUE"
    with Store.open(store_url) as s:
        sid = s.begin_scan(["."], RS, "python")
        s.record_blob(
            sid, RS, blob(1), 99, [match(TOKEN, blob(1), secret, keep_secret=True)], RULES
        )
        s.record_location(sid, ".", blob(1), file_loc("creds.txt"))
        finish(s, sid)
        [f] = s.findings_for_scan(sid, RS, RULES)
        assert f.secret is None and secret not in f.preview
        # Every value of every row of every table, as text.
        for table in metadata.sorted_tables:
            for row in s.db.all(f"SELECT * FROM {table.name}"):
                assert secret not in repr(tuple(row)), table.name
    if "://" not in store_url:
        data = b"".join(p.read_bytes() for p in Path(store_url).parent.iterdir())
        assert data, "the store wrote nothing"
        assert secret.encode() not in data
        assert secret.encode("utf-16-le") not in data


def test_triage_and_first_seen_survive_a_rescan(store_url: str) -> None:
    secret = "tok_" + "q1w2e3r4t5" * 2
    times = iter(f"2026-01-0{d}T00:00:00+00:00" for d in range(1, 10))
    from datetime import datetime

    clock = lambda: datetime.fromisoformat(next(times))  # noqa: E731
    with Store.open(store_url, clock=clock) as s:
        s1 = s.begin_scan(["."], RS, "python")  # day 1
        s.record_blob(s1, RS, blob(1), 10, [match(TOKEN, blob(1), secret)], RULES)
        s.record_location(s1, ".", blob(1), file_loc("a"))
        finish(s, s1)  # day 2
        fid = finding_id(TOKEN.id, fp(secret))
        s.set_status(fid, "false_positive", by="alice", reason="test fixture")  # day 3

        s2 = s.begin_scan(["."], RS, "python")  # day 4
        # Incremental: the blob was scanned before, so only its location is recorded.
        assert s.already_scanned(RS, [blob(1)]) == {blob(1)}
        s.record_location(s2, ".", blob(1), file_loc("a"))
        finish(s, s2)  # day 5
        [f] = s.findings_for_scan(s2, RS, RULES)
        assert f.status == "false_positive"
        assert f.first_seen == "2026-01-01T00:00:00Z"
        rec = s.get_finding(fid)
        assert rec is not None
        assert (rec.status, rec.status_by, rec.status_reason) == (
            "false_positive",
            "alice",
            "test fixture",
        )
        assert rec.status_at == "2026-01-03T00:00:00Z"
        assert (rec.first_seen, rec.first_scan_id) == ("2026-01-01T00:00:00Z", s1)
        assert (rec.last_seen, rec.last_scan_id) == ("2026-01-04T00:00:00Z", s2)
        assert s.get_finding("0" * 16) is None
        with pytest.raises(KeyError):
            s.set_status("0" * 16, "open", by="x", reason="")
        with pytest.raises(ValueError, match="unknown status"):
            s.set_status(fid, "whatever", by="x", reason="")
        assert "open" in STATUSES


def test_findings_fall_back_to_the_stored_row_when_a_rule_is_gone(store: Store) -> None:
    secret = "tok_" + "z9y8x7w6v5" * 2
    sid = store.begin_scan(["."], RS, "python")
    store.record_blob(sid, RS, blob(1), 10, [match(TOKEN, blob(1), secret)], RULES)
    store.record_location(sid, ".", blob(1), file_loc("a"))
    finish(store, sid)
    [f] = store.findings_for_scan(sid, RS, {})
    assert (f.rule_name, f.kind, f.provider, f.severity) == (
        TOKEN.name,
        TOKEN.kind,
        TOKEN.provider,
        TOKEN.severity,
    )
    # And the current rule wins when it is there.
    louder = {TOKEN.id: Rule(**{**_rule_dict(TOKEN), "severity": Severity.CRITICAL})}
    [f] = store.findings_for_scan(sid, RS, louder)
    assert f.severity == Severity.CRITICAL


def _rule_dict(rule: Rule) -> dict[str, object]:
    return {name: getattr(rule, name) for name in Rule.__dataclass_fields__}


def test_only_blobs_seen_in_the_scan_count(store: Store) -> None:
    a, b = "tok_" + "a" * 10 + "1" * 10, "tok_" + "b" * 10 + "2" * 10
    s1 = store.begin_scan(["one"], RS, "python")
    store.record_blob(s1, RS, blob(1), 10, [match(TOKEN, blob(1), a)], RULES)
    store.record_location(s1, "one", blob(1), file_loc("one/a"))
    finish(store, s1)
    s2 = store.begin_scan(["two"], RS, "python")
    store.record_blob(s2, RS, blob(2), 10, [match(TOKEN, blob(2), b)], RULES)
    store.record_location(s2, "two", blob(2), file_loc("two/b"))
    finish(store, s2)
    assert [f.preview for f in store.findings_for_scan(s2, RS, RULES)] == [preview(b)]
    assert store.findings_for_scan(s2, "another-ruleset", RULES) == []


def test_rescanning_a_blob_replaces_its_matches(store: Store) -> None:
    old, new = "tok_" + "o" * 10 + "1" * 10, "tok_" + "n" * 10 + "2" * 10
    s1 = store.begin_scan(["."], RS, "python")
    store.record_blob(s1, RS, blob(1), 10, [match(TOKEN, blob(1), old)], RULES)
    finish(store, s1)
    s2 = store.begin_scan(["."], RS, "python")
    store.record_blob(s2, RS, blob(1), 10, [match(TOKEN, blob(1), new, start=5)], RULES)
    store.record_location(s2, ".", blob(1), file_loc("a"))
    finish(store, s2)
    assert [f.preview for f in store.findings_for_scan(s2, RS, RULES)] == [preview(new)]
    assert store.count("matches") == 1


def test_bad_records_are_refused(store: Store) -> None:
    sid = store.begin_scan(["."], RS, "python")
    with pytest.raises(ValueError, match="recorded under blob"):
        store.record_blob(sid, RS, blob(1), 1, [match(TOKEN, blob(2), "tok_" + "x" * 20)], RULES)
    with pytest.raises(ValueError, match="not in the ruleset"):
        store.record_blob(sid, RS, blob(1), 1, [match(TOKEN, blob(1), "tok_" + "x" * 20)], {})
    with pytest.raises(KeyError):
        store.record_blob(999, RS, blob(1), 1, [], RULES)


def test_undecodable_paths_and_nul_are_stored_safely(store: Store) -> None:
    weird = "caf\udce9/\x00x.env"  # os.fsdecode of b"caf\xe9/..." plus a NUL
    sid = store.begin_scan([weird], RS, "python")
    store.record_blob(sid, RS, blob(1), 10, [match(TOKEN, blob(1), "tok_" + "w" * 20)], RULES)
    store.record_location(sid, weird, blob(1), file_loc(weird))
    finish(store, sid)
    [f] = store.findings_for_scan(sid, RS, RULES)
    assert f.locations[0].fields["path"] == "caf\\xe9/\\x00x.env"


def test_a_failed_transaction_rolls_back_ddl_too(store_url: str) -> None:
    """Migrations run in one transaction (on SQLite this needs the pysqlite recipe), and so do
    the store's own writes."""
    Store.open(store_url).close()
    with sa_engine(store_url) as engine:
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE half_migrated (x INTEGER)")
            raise RuntimeError("migration failed")
        assert "half_migrated" not in inspect(engine).get_table_names()
    with Store.open(store_url) as s:
        with pytest.raises(RuntimeError), s.db.transaction():
            s.db.execute("CREATE TABLE half_written (x INTEGER)")
            raise RuntimeError("write failed")
    with sa_engine(store_url) as engine:
        assert "half_written" not in inspect(engine).get_table_names()


def test_schema_head_constant_matches_alembic():
    """The fast path of opening a store trusts SCHEMA_HEAD; it must be Alembic's head."""
    from nhiguard.store import migrate

    assert migrate.SCHEMA_HEAD == migrate.head_revision()



def test_two_archive_members_with_secrets_at_the_same_offsets_are_two_matches(store: Store) -> None:
    """Member positions are the member's own: two members can hold their secrets at the same
    offsets, and neither may replace the other."""
    from dataclasses import replace

    a, b = "tok_" + "a1b2c3d4e5f6g7h8i9j0", "tok_" + "z9y8x7w6v5u4t3s2r1q0"
    sid = store.begin_scan(["."], RS, "python")
    ms = [replace(match(TOKEN, blob(1), a, start=12), decoded="zip:a.txt"),
          replace(match(TOKEN, blob(1), b, start=12), decoded="zip:b.txt"),
          replace(match(TOKEN, blob(1), a, start=12), decoded="zip:c.txt")]
    store.record_blob(sid, RS, blob(1), 100, ms, RULES)
    store.record_location(sid, ".", blob(1), file_loc("x.zip"))
    finish(store, sid)
    found = {f.fingerprint: sorted(loc.fields.get("decoded", "") for loc in f.locations)
             for f in store.findings_for_scan(sid, RS, RULES)}
    assert found == {fp(a): ["zip:a.txt", "zip:c.txt"], fp(b): ["zip:b.txt"]}


def test_upgrading_a_0002_store_keeps_its_matches(tmp_path: Path) -> None:
    """Revision 0003 widened the key of `matches`; a store written under 0002 (plain matches
    had decoded NULL then) is upgraded in place and reads as before."""
    from alembic import command

    path = tmp_path / "old.db"
    old = Store.open(path)  # written by today's code, then taken down to revision 0002
    sid = old.begin_scan(["."], RS, "python")
    secret = "tok_" + "q1w2e3r4t5y6u7i8k9j0"
    old.record_blob(sid, RS, blob(2), 10, [match(TOKEN, blob(2), secret)], RULES)
    old.record_location(sid, ".", blob(2), file_loc("a.env"))
    finish(old, sid)
    old.close()
    with sa_engine(path) as engine, engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "0002")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("UPDATE matches SET decoded = NULL"))
        assert conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar() == "0002"
    engine.dispose()
    with Store.open(path) as s:
        [f] = s.findings_for_scan(sid, RS, RULES)
        assert f.fingerprint == fp(secret) and [loc.fields.get("decoded") for loc in f.locations] == [None]
        assert migrate.stored_revision(s.db) == migrate.SCHEMA_HEAD

