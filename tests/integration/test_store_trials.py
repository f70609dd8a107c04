"""The store under what a trial user did to it: scans sharing a store finishing together (SQLite
and PostgreSQL), databases that are not nhiguard stores, stores that fail under a scan,
passwords in store URLs, URL forms, stores from a newer nhiguard, orphaned workers."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time

import pytest

from nhiguard.store.database import StoreError, mask_password, parse_url
from tests.helpers_git import GitRepo
from tests.helpers_pg import pg_schema_url
from tests.integration.cli_helpers import big_tree, nhiguard, spawn

TOKEN = "xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
        return
    with pg_schema_url() as url:
        yield url


def test_scans_finishing_together_on_one_store_all_succeed(tmp_path, store):
    """Many secrets in history make every scan write many findings at the end, at the same
    time: on SQLite the closing PRAGMA optimize met a writer, on PostgreSQL upserts of the
    same findings deadlocked, and scans creating the store both created it."""
    repo = GitRepo.init(tmp_path / "repo")
    for c in range(40):
        repo.commit({f"f{c}.env": "".join(f"T{i}={TOKEN[:-4]}{c:02d}{i:02d}\n" for i in range(25))})
    for _ in range(2):  # the clash depends on timing: twice, six scans at once
        procs = [spawn(["scan", "repo", "--store", store, "--full", "-f", "json"], tmp_path)
                 for _ in range(6)]
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 1, err.decode()[-500:]
            assert len(json.loads(out)["findings"]) == 1000


@pytest.mark.parametrize("url,hidden", [
    ("postgresql://app:Wr@ngPw_s3cr3t@127.0.0.1:1/db", "ngPw_s3cr3t"),
    ("postgresql://app:my s3cr3t@127.0.0.1:1/db", "s3cr3t"),
    ("postgresql://n@h:s3cr3t@127.0.0.1:1/db", "s3cr3t"),
    ("postgresql+psycopg://u@127.0.0.1:1/db?sslmode=disable&password=hunter2secret", "hunter2secret"),
])
def test_a_store_password_never_reaches_a_message(tmp_path, url, hidden):
    assert hidden not in mask_password(f"cannot open store {url}: refused")
    run = nhiguard("scan", ".", "--store", url, cwd=tmp_path)
    assert run.code == 2 and hidden not in run.stderr and "***" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_a_database_of_another_application_is_refused_and_left_alone(tmp_path, store):
    if "://" in store:
        with pg_schema_url() as other:
            _foreign(tmp_path, other)
        return
    _foreign(tmp_path, str(tmp_path / "other.db"))


def _foreign(tmp_path, url):
    from nhiguard.store.database import Database

    db = Database.connect(url)
    with db.transaction():
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("CREATE TABLE scans (id INTEGER PRIMARY KEY)")
    db.close()
    (tmp_path / "d").mkdir(exist_ok=True)
    for cmd in (["scan", "d"], ["report"]):
        run = nhiguard(*cmd, "--store", url, cwd=tmp_path)
        assert run.code == 2 and "not an nhiguard store" in run.stderr, run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    db = Database.connect(url)
    from nhiguard.store.migrate import table_names

    assert table_names(db) == {"users", "scans"}  # nothing of ours was written into it
    db.close()


def test_store_failures_under_a_scan_are_one_line_errors(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.env").write_text(f"T={TOKEN}\n")
    assert nhiguard("scan", "d", "--store", "s.db", cwd=tmp_path).code == 1
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("DROP TABLE matches")
    con.commit()
    con.close()
    for cmd in (["scan", "d", "--full"], ["report"]):
        run = nhiguard(*cmd, "--store", "s.db", cwd=tmp_path)
        assert run.code == 2 and "internal error" not in run.stderr and "matches" in run.stderr, run.stderr
        assert run.stderr.startswith("nhiguard: error: store s.db:")


def test_a_damaged_store_file_says_so(tmp_path):
    (tmp_path / "d").mkdir()
    assert nhiguard("scan", "d", "--store", "s.db", cwd=tmp_path).code == 0
    path = tmp_path / "s.db"
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    for cmd in (["report"], ["scan", "d"]):
        run = nhiguard(*cmd, "--store", "s.db", cwd=tmp_path)
        assert run.code == 2 and "not an nhiguard store" not in run.stderr, run.stderr
        assert "malformed" in run.stderr or "damaged" in run.stderr or "not a database" in run.stderr


def test_a_store_from_a_newer_nhiguard_asks_for_an_upgrade_in_every_command(tmp_path):
    (tmp_path / "d").mkdir()
    assert nhiguard("scan", "d", "--store", "s.db", cwd=tmp_path).code == 0
    con = sqlite3.connect(tmp_path / "s.db")
    con.execute("UPDATE nhiguard_alembic_version SET version_num = '0099'")
    con.commit()
    con.close()
    for cmd in (["report"], ["scan", "d"]):
        run = nhiguard(*cmd, "--store", "s.db", cwd=tmp_path)
        assert run.code == 2 and "upgrade nhiguard" in run.stderr, run.stderr


@pytest.mark.parametrize("url,message", [
    ("sqlite:///file:x.db", "file: URIs are not supported"),
    ("sqlite:///x.db?mode=memory", "no query parameters"),
    ("sqlite:///", "names no file"),
    ("postgresql+psycopg2://u@h/db", "unsupported database driver 'psycopg2'"),
    ("mysql://u@h/db", "unsupported store backend 'mysql'"),
])
def test_store_url_forms_that_cannot_work_are_refused(url, message):
    with pytest.raises(StoreError, match=message):
        parse_url(url)


def test_a_store_path_naming_a_folder_is_a_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "folder").mkdir()
    for store in ("folder", "newdir/"):
        run = nhiguard("scan", "d", "--store", store, cwd=tmp_path)
        assert run.code == 2 and "is a directory" in run.stderr, run.stderr
    assert not (tmp_path / "newdir").exists()


def test_a_relative_store_in_a_config_file_is_relative_to_that_file(tmp_path):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "nhiguard.toml").write_text('store = "state/n.db"\n')
    (tmp_path / "elsewhere").mkdir()
    run = nhiguard("--config", tmp_path / "proj" / "nhiguard.toml", "scan", tmp_path / "proj",
                   cwd=tmp_path / "elsewhere")
    assert run.code == 0, run.stderr
    assert (tmp_path / "proj" / "state" / "n.db").is_file() and not (tmp_path / "elsewhere" / "state").exists()


def test_workers_die_with_a_killed_scan(tmp_path):
    big_tree(tmp_path / "big")
    p = spawn(["scan", "big", "--full", "-j", "2", "--store", "s.db", "--engine", "python"], tmp_path)
    time.sleep(2.5)
    children = _children(p.pid)
    assert children, "the scan started no workers"
    p.send_signal(signal.SIGKILL)
    p.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(c) for c in children):
        time.sleep(0.2)
    assert not any(_alive(c) for c in children)


def _children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(name))
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
