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


def _git(cwd: Path, *args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "GIT_INDEX_FILE"}
    full_env.update(GIT_AUTHOR_NAME="A", GIT_AUTHOR_EMAIL="a@example.com",
                    GIT_COMMITTER_NAME="A", GIT_COMMITTER_EMAIL="a@example.com", **(env or {}))
    return subprocess.run(["git", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
                          check=check, timeout=60)


def _repo_with_hook(tmp_path: Path) -> Path:
    """A real repository whose pre-commit hook is the plain-git-hook recipe."""
    work = tmp_path / "r"
    _git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("hi\n")
    (work / "app.env").write_text("TOKEN=none\n")
    _git(work, "add", ".")
    _git(work, "commit", "-qm", "first")
    hook = work / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m nhiguard.cli.main scan --staged "
                    f"--progress off --store {tmp_path / 's.db'} .\n")
    hook.chmod(0o755)
    return work


def test_commit_all_and_commit_paths_run_the_hook_on_the_index_being_committed(tmp_path):
    # `git commit -a` and `git commit -- PATH` commit a temporary index (GIT_INDEX_FILE):
    # the hook must scan that one, not .git/index, which does not hold the change
    work = _repo_with_hook(tmp_path)
    head = _git(work, "rev-parse", "HEAD").stdout.strip()
    (work / "app.env").write_text(f"TOKEN={gh_token()}\n")  # modified, not staged
    for args in (["commit", "-qam", "leak"], ["commit", "-qm", "leak", "--", "app.env"],
                 ["commit", "-qm", "leak", "--only", "app.env"]):
        run = _git(work, *args, check=False)
        assert run.returncode != 0, args
        assert "GitHub personal access token" in run.stdout + run.stderr, args
        assert _git(work, "rev-parse", "HEAD").stdout.strip() == head  # nothing committed
    (work / "app.env").write_text("TOKEN=none\nX=1\n")
    assert _git(work, "commit", "-qam", "clean", check=False).returncode == 0


def test_staged_reads_git_index_file_relative_to_the_work_tree(tmp_path):
    work = _repo_with_hook(tmp_path)
    (work / "sub").mkdir()
    (work / "sub" / "key.env").write_text(f"TOKEN={gh_token()}\n")
    # a temporary index as git builds one: HEAD's tree plus the new file
    env = {"GIT_INDEX_FILE": "tmp-index"}
    _git(work, "read-tree", "HEAD", env=env)
    _git(work, "update-index", "--add", "sub/key.env", env=env)
    assert (work / "tmp-index").exists()
    store = tmp_path / "s.db"
    plain = nhiguard("scan", "--staged", work, "-f", "json", "--store", store, cwd=tmp_path)
    assert plain.code == 0 and not plain.report["findings"]  # .git/index has nothing staged
    # relative: from the top of the work tree, as git reads it (also when run from elsewhere)
    for cwd in (work, work / "sub", tmp_path):
        target = os.path.relpath(work, cwd)
        run = nhiguard("scan", "--staged", target, "-f", "json", "--store", store, cwd=cwd, env=env)
        assert run.code == 1, (cwd, run.stderr)
        assert [loc["path"] for f in run.report["findings"] for loc in f["locations"]] == ["sub/key.env"]
    absolute = nhiguard("scan", "--staged", work, "-f", "json", "--store", store, cwd=tmp_path,
                        env={"GIT_INDEX_FILE": str(work / "tmp-index")})
    assert absolute.code == 1


def test_pre_push_without_ref_lines_scans_the_commits_on_no_remote(tmp_path):
    pushed_before, unpushed = gh_token(), gh_token()
    repo = GitRepo.init(tmp_path / "r")
    base = repo.commit({"old.env": f"T={pushed_before}\n"})
    repo.repo.references.create("refs/remotes/origin/main", base)
    repo.commit({"new.env": f"T={unpushed}\n"})
    repo.checkout()
    # a branch elsewhere is not HEAD: not part of the fallback
    repo.commit({"other.env": f"T={gh_token()}\n"}, ref="refs/heads/other", parents=[base])

    def push(stdin: bytes):
        return nhiguard("scan", "--pre-push", repo.workdir, "-f", "json", "--show-secrets",
                        "--store", tmp_path / "s.db", cwd=tmp_path, stdin=stdin)

    for stdin in (b"", b"\n  \n"):
        run = push(stdin)
        assert run.code == 1, run.stderr
        assert secrets_found(run) == {unpushed}
        assert "no pushed refs on standard input" in run.stderr
        assert "--not --remotes" in run.stderr
    # a repository without commits: nothing to push, nothing to scan
    empty = GitRepo.init(tmp_path / "empty")
    run = nhiguard("scan", "--pre-push", empty.workdir, "-f", "json", "--store", tmp_path / "s.db",
                   cwd=tmp_path, stdin=b"")
    assert run.code == 0 and not run.report["findings"], run.stderr


def test_pre_push_refuses_malformed_ref_lines(tmp_path):
    repo = GitRepo.init(tmp_path / "r")
    head = repo.commit({"a.env": f"T={gh_token()}\n"})
    repo.checkout()
    secret_looking = gh_token()
    for stdin, why in (
        (f"refs/heads/main {head} refs/heads/main\n", "it has 3 fields"),
        (f"refs/heads/main zzzz refs/heads/main {ZERO}\n", "local sha (field 2)"),
        (f"refs/heads/main {head} refs/heads/main {secret_looking}\n", "remote sha (field 4)"),
        (f"refs/heads/main {head[:12]} refs/heads/main {ZERO}\n", "local sha (field 2)"),
        (f"refs/heads/main {head} refs/heads/main {ZERO}\nnot a ref line\n", "line 2"),
        (b"\xff\xfe\n", "not UTF-8"),
    ):
        run = nhiguard("scan", "--pre-push", repo.workdir, "--store", tmp_path / "s.db",
                       cwd=tmp_path, stdin=stdin if isinstance(stdin, bytes) else stdin.encode())
        assert run.code == 2, (stdin, run.stderr)
        assert why in run.stderr and "--pre-push" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert secret_looking not in run.stderr + run.stdout  # the line is not echoed


def test_since_scans_ref_to_head_like_a_pull_request(tmp_path):
    on_main_before, in_the_pr, elsewhere = gh_token(), gh_token(), gh_token()
    repo = GitRepo.init(tmp_path / "r")
    base = repo.commit({"old.env": f"T={on_main_before}\n"})
    repo.commit({"pr.env": f"T={in_the_pr}\n"}, ref="refs/heads/pr", parents=[base])
    repo.commit({"x.env": f"T={elsewhere}\n"}, ref="refs/heads/other", parents=[base])
    repo.commit({"y.env": f"T={gh_token()}\n"}, ref="refs/heads/main")  # main moved on
    repo.checkout("pr")
    run = nhiguard("scan", repo.workdir, "--since", "main~1", "-f", "json", "--show-secrets",
                   "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 1, run.stderr
    assert secrets_found(run) == {in_the_pr}


def test_the_store_folder_nhiguard_creates_is_ignored_by_git(tmp_path):
    # the plain-hook recipe runs with the default store, .nhiguard/ inside the repository:
    # `git add -A` / `git commit -a` must not pick it up
    work = tmp_path / "r"
    _git(tmp_path, "init", "-q", "-b", "main", str(work))
    (work / "README.md").write_text("hi\n")
    _git(work, "add", ".")
    run = nhiguard("scan", "--staged", "--progress", "off", ".", cwd=work)
    assert run.code == 0, run.stderr
    assert (work / ".nhiguard" / "nhiguard.db").exists()
    assert (work / ".nhiguard" / ".gitignore").read_text().splitlines()[-1] == "*"
    _git(work, "add", "-A")
    assert _git(work, "status", "--porcelain", "--untracked-files=all").stdout.splitlines() == ["A  README.md"]
    # a folder that existed before is the user's: nothing is written into it
    (tmp_path / "mine").mkdir()
    assert nhiguard("scan", "--staged", ".", "--store", tmp_path / "mine" / "s.db", cwd=work).code == 0
    assert not (tmp_path / "mine" / ".gitignore").exists()
    # any folder nhiguard creates for a store gets one
    assert nhiguard("scan", "--staged", ".", "--store", tmp_path / "new" / "deep" / "s.db", cwd=work).code == 0
    assert (tmp_path / "new" / "deep" / ".gitignore").exists() and not (tmp_path / "new" / ".gitignore").exists()


def test_the_hooks_file_asks_for_a_pre_commit_that_knows_its_stage_names():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    for hook in hooks:
        # `stages: [pre-commit]` / `[pre-push]` are the names pre-commit 3.2.0 introduced
        assert set(hook["stages"]) <= {"pre-commit", "pre-push"}
        version = tuple(int(x) for x in str(hook["minimum_pre_commit_version"]).split("."))
        assert version >= (3, 2, 0), hook["id"]
