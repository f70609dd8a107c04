"""Incremental git scans give what a full scan gives, also after history is rewritten:
places under commits no ref reaches any more are not carried forward, a --full scan resets
what is carried, and staged-only blobs are never carried into later scans."""

from __future__ import annotations

import os
import secrets
import string

from tests.helpers_git import GitRepo
from tests.integration.cli_helpers import nhiguard

ALNUM = string.ascii_letters + string.digits


def slack() -> str:
    return "xoxb-123456789012-123456789012-" + "".join(secrets.choice(ALNUM) for _ in range(24))


def found(tmp_path, *args) -> set[tuple[str, str]]:
    run = nhiguard("scan", "repo", "--store", "s.db", "-f", "json", "--show-secrets", *args, cwd=tmp_path)
    assert run.code in (0, 1), run.stderr
    return {(loc.get("path") or "", f["secret"]) for f in run.report["findings"] for loc in f["locations"]}


def full_equals_incremental(tmp_path) -> set[tuple[str, str]]:
    inc = found(tmp_path)
    fresh = nhiguard("scan", "repo", "--store", "fresh.db", "-f", "json", "--show-secrets", cwd=tmp_path)
    want = {(loc.get("path") or "", f["secret"]) for f in fresh.report["findings"] for loc in f["locations"]}
    os.remove(tmp_path / "fresh.db")
    assert inc == want
    return inc


def test_a_reset_branch_loses_its_findings_and_a_fast_forward_keeps_old_ones(tmp_path):
    repo = GitRepo.init(tmp_path / "repo")
    old, new, later = slack(), slack(), slack()
    c1 = repo.commit({"app.env": f"SLACK={old}\n"})
    repo.commit({"new.env": f"SLACK={new}\n"})
    assert {s for _, s in found(tmp_path)} == {old, new}
    repo.set_ref("refs/heads/main", c1)  # git reset --hard HEAD~1
    assert {s for _, s in full_equals_incremental(tmp_path)} == {old}
    assert {s for _, s in found(tmp_path, "--full")} == {old}
    assert {s for _, s in found(tmp_path)} == {old}  # an incremental scan after --full too
    repo.commit({"later.env": f"SLACK={later}\n"})  # a fast-forward: nothing is lost
    assert {s for _, s in full_equals_incremental(tmp_path)} == {old, later}


def test_a_deleted_branch_loses_its_findings_until_it_is_restored(tmp_path):
    repo = GitRepo.init(tmp_path / "repo")
    base, topic = slack(), slack()
    c1 = repo.commit({"base.env": f"SLACK={base}\n"})
    t = repo.commit({"topic.env": f"SLACK={topic}\n"}, ref="refs/heads/topic", parents=[c1])
    assert {s for _, s in found(tmp_path)} == {base, topic}
    repo.delete_ref("refs/heads/topic")
    assert {s for _, s in full_equals_incremental(tmp_path)} == {base}
    repo.set_ref("refs/heads/topic", t)
    assert {s for _, s in full_equals_incremental(tmp_path)} == {base, topic}


def test_a_blob_that_was_only_staged_is_not_carried_forward(tmp_path):
    repo = GitRepo.init(tmp_path / "repo")
    repo.commit({"README": "hello\n"})
    repo.checkout()
    token = slack()
    repo.write("c.env", f"SLACK={token}\n")
    repo.stage("c.env")
    staged = nhiguard("scan", "repo", "--staged", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert staged.code == 1
    index = repo.repo.index
    index.remove("c.env")
    index.write()
    os.remove(repo.workdir / "c.env")
    assert found(tmp_path) == set()
    again = nhiguard("scan", "repo", "--staged", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert again.code == 0 and again.report["findings"] == []
