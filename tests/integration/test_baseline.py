"""Baselines: the user case baseline-survives-line-drift and its class."""

from __future__ import annotations

import json
import secrets
import shutil
import string

from tests.integration.cli_helpers import nhiguard

ALNUM = string.ascii_letters + string.digits + "+/"


def test_line_drift_and_replaced_secret(shared, tmp_path):
    shutil.copytree(shared / "cases" / "baseline-survives-line-drift" / "input", tmp_path / "input")
    store = tmp_path / "s.db"
    created = nhiguard("baseline", "create", "input", "-o", "base.json", "--store", store, cwd=tmp_path)
    assert created.code == 0, created.stderr
    base = json.loads((tmp_path / "base.json").read_text())
    assert len(base["findings"]) == 2
    raw = (tmp_path / "input" / "settings.py").read_text()
    assert all(v not in (tmp_path / "base.json").read_text() for v in raw.split('"')[1::2] if len(v) > 12)

    settings = tmp_path / "input" / "settings.py"
    settings.write_text("import os\n# configuration\n\n" + raw)
    drift = nhiguard("scan", "input", "--baseline", "base.json", "-f", "json", "--store", store, cwd=tmp_path)
    assert drift.code == 0 and drift.report["findings"] == []

    old_secret = raw.split('AWS_SECRET_ACCESS_KEY = "')[1].split('"')[0]
    new_secret = "".join(secrets.choice(ALNUM) for _ in range(40))
    settings.write_text(settings.read_text().replace(old_secret, new_secret))
    changed = nhiguard("scan", "input", "--baseline", "base.json", "-f", "json", "--show-secrets",
                       "--store", store, cwd=tmp_path)
    assert changed.code == 1
    assert [f["secret"] for f in changed.report["findings"]] == [new_secret]


def test_baseline_is_stable_and_portable(tmp_path):
    (tmp_path / "a").mkdir()
    key = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    (tmp_path / "a" / "deploy.sh").write_text(f"export GITHUB_TOKEN={key}\n")
    r1 = nhiguard("baseline", "create", "a", "-o", "b1.json", "--store", tmp_path / "1.db", cwd=tmp_path)
    (tmp_path / "a" / "deploy.sh").write_text(f"export GITHUB_TOKEN={key}\r\n")  # CRLF checkout
    r2 = nhiguard("baseline", "create", "./a/", "-o", "b2.json", "--store", tmp_path / "2.db", cwd=tmp_path)
    assert r1.code == r2.code == 0
    assert (tmp_path / "b1.json").read_bytes() == (tmp_path / "b2.json").read_bytes()
    assert key not in (tmp_path / "b1.json").read_text()


def test_update_prunes_and_bad_baseline_is_an_input_error(tmp_path):
    (tmp_path / "a").mkdir()
    key = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    f = tmp_path / "a" / "x.env"
    f.write_text(f"T={key}\n")
    assert nhiguard("baseline", "create", "a", "-o", "b.json", "--store", tmp_path / "s.db", cwd=tmp_path).code == 0
    f.write_text("T=nothing\n")
    up = nhiguard("baseline", "update", "a", "--baseline", "b.json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert up.code == 0 and json.loads((tmp_path / "b.json").read_text())["findings"] == []
    (tmp_path / "junk.json").write_text("{not json")
    bad = nhiguard("scan", "a", "--baseline", "junk.json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert bad.code == 2 and "junk.json" in bad.stderr
    other_key = nhiguard("scan", "a", "--baseline", "b.json", "--store", tmp_path / "t.db", cwd=tmp_path,
                         env={"NHIGUARD_FINGERPRINT_KEY": "another"})
    assert other_key.code == 2 and "fingerprint key" in other_key.stderr


def test_update_refuses_partial_scans_and_keeps_entries_when_input_was_unreadable(tmp_path):
    from tests.helpers_git import GitRepo

    key = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    repo = GitRepo.init(tmp_path / "r")
    c1 = repo.commit({"deploy.sh": f"export GITHUB_TOKEN={key}\n"})
    repo.commit({"README": "hi\n"})
    assert nhiguard("baseline", "create", "r", "-o", "b.json", "--store", "s.db", cwd=tmp_path).code == 0
    before = (tmp_path / "b.json").read_bytes()
    for partial in (["--since", c1], ["--staged"]):
        run = nhiguard("baseline", "update", "r", "--baseline", "b.json", "--store", "s.db", *partial, cwd=tmp_path)
        assert run.code == 2 and "whole scan" in run.stderr
    # a blob that cannot be read now: its finding may still exist, so nothing is pruned
    repo.corrupt(str(repo.repo[c1].tree["deploy.sh"].id))
    run = nhiguard("baseline", "update", "r", "--baseline", "b.json", "--store", "t.db", cwd=tmp_path)
    assert run.code == 2 and "left as it was" in run.stderr
    assert (tmp_path / "b.json").read_bytes() == before


def test_a_baseline_without_its_key_id_is_named_as_such(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b.json").write_text(json.dumps({"version": 1, "tool": "nhiguard", "findings": []}))
    run = nhiguard("scan", "a", "--baseline", "b.json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2 and "fingerprint_key_id is missing" in run.stderr, run.stderr


def test_update_keeps_what_the_scan_could_not_see(tmp_path):
    (tmp_path / "a").mkdir()
    key = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    big = tmp_path / "a" / "big.env"
    big.write_text(f"T={key}\n" + "# padding\n" * 500)
    assert nhiguard("baseline", "create", "a", "-o", "b.json", "--store", "s.db", cwd=tmp_path).code == 0
    before = json.loads((tmp_path / "b.json").read_text())["findings"]
    assert len(before) == 1
    for narrowing in (["--max-file-size", "1k"], ["--disable-rule", before[0]["rule_id"]]):
        run = nhiguard("baseline", "update", "a", "--baseline", "b.json", "--store", "s.db", *narrowing,
                       cwd=tmp_path)
        assert run.code == 0, run.stderr
        assert json.loads((tmp_path / "b.json").read_text())["findings"] == before, narrowing
