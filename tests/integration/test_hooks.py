"""The gate in hooks and CI: --pre-push scans the commits being pushed (git's standard input
or the pre-commit framework's variables), the hooks file's entries work as written, and the
GitHub Action's scan script runs and reports its exit code."""

from __future__ import annotations

import os
import secrets
import shutil
import string
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers_git import GitRepo
from tests.integration.cli_helpers import nhiguard

ROOT = Path(__file__).resolve().parents[2]
ALNUM = string.ascii_letters + string.digits
ZERO = "0" * 40


def gh_token() -> str:
    return "ghp_" + "".join(secrets.choice(ALNUM) for _ in range(36))


def secrets_found(run) -> set[str]:
    return {f["secret"] for f in run.report["findings"]}


def test_pre_push_scans_only_what_the_push_sends(tmp_path):
    old, added_and_deleted, new = gh_token(), gh_token(), gh_token()
    repo = GitRepo.init(tmp_path / "r")
    base = repo.commit({"old.env": f"T={old}\n"})  # what the remote has
    repo.repo.references.create("refs/remotes/origin/main", base)
    repo.commit({"tmp.env": f"T={added_and_deleted}\n"})
    head = repo.commit({"tmp.env": None, "new.env": f"T={new}\n"})
    repo.checkout()

    def push(lines: str = "", env: dict | None = None):
        return nhiguard("scan", "--pre-push", repo.workdir, "-f", "json", "--show-secrets",
                        "--store", tmp_path / "s.db", cwd=tmp_path, stdin=lines.encode(), env=env)

    run = push(f"refs/heads/main {head} refs/heads/main {base}\n")
    assert run.code == 1 and secrets_found(run) == {added_and_deleted, new}  # not the old one
    # a new branch: everything no remote-tracking branch has
    run = push(f"refs/heads/topic {head} refs/heads/topic {ZERO}\n")
    assert secrets_found(run) == {added_and_deleted, new}
    # a deletion pushes nothing
    run = push(f"(delete) {ZERO} refs/heads/gone {head}\n")
    assert run.code == 0 and not run.report["findings"]
    # the pre-commit framework passes the range in variables
    run = push(env={"PRE_COMMIT_FROM_REF": str(base), "PRE_COMMIT_TO_REF": str(head)})
    assert secrets_found(run) == {added_and_deleted, new}
    both = nhiguard("scan", "--pre-push", "--staged", repo.workdir, cwd=tmp_path)
    assert both.code == 2 and "cannot be combined" in both.stderr


def test_the_hook_entries_refuse_a_staged_secret(tmp_path):
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"nhiguard", "nhiguard-pre-push"}
    entry = next(h for h in hooks if h["id"] == "nhiguard")["entry"].split()
    assert entry[0] == "nhiguard"
    repo = GitRepo.init(tmp_path / "r")
    repo.commit({"README.md": "hi\n"})
    repo.checkout()
    (repo.workdir / "app.env").write_text(f"TOKEN={gh_token()}\n")
    clean = nhiguard(*entry[1:], "--store", tmp_path / "s.db", cwd=repo.workdir)
    assert clean.code == 0  # nothing staged yet
    subprocess.run(["git", "add", "app.env"], cwd=repo.workdir, check=True)
    blocked = nhiguard(*entry[1:], "--store", tmp_path / "s.db", cwd=repo.workdir)
    assert blocked.code == 1 and "GitHub personal access token" in blocked.stdout


def test_the_github_action_scan_step_reports_its_exit_code(tmp_path):
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "scan")
    repo = GitRepo.init(tmp_path / "r")
    repo.commit({"deploy.sh": f"export GITHUB_TOKEN={gh_token()}\n"})
    repo.checkout()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "nhiguard").write_text(f"#!/bin/sh\nexec {sys.executable} -m nhiguard.cli.main \"$@\"\n")
    (bindir / "nhiguard").chmod(0o755)
    out, summary = tmp_path / "gh-output", tmp_path / "gh-summary"
    env = dict(os.environ, PATH=f"{bindir}:{os.environ['PATH']}", NH_PATH=str(repo.workdir), NH_SINCE="",
               NH_FAIL_ON="low", NH_BASELINE="", NH_ARGS="", NH_SARIF=str(tmp_path / "out.sarif"),
               RUNNER_TEMP=str(tmp_path), GITHUB_OUTPUT=str(out), GITHUB_STEP_SUMMARY=str(summary))
    run = subprocess.run([shutil.which("bash") or "bash", "-e", "-c", step["run"]], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr  # the step itself passes; a later step fails the job
    assert out.read_text().strip() == "exit-code=1"
    assert "GitHub personal access token" in summary.read_text()
    assert '"version": "2.1.0"' in (tmp_path / "out.sarif").read_text()
