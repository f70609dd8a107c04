"""`nhiguard scan` end to end through the real CLI: git history, directories, stdin,
incremental scans, formats, exit codes, and bad input that is reported without losing
the other results."""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import sqlite3
import stat
import string

import pytest

from tests.helpers_git import GitRepo
from tests.integration.cli_helpers import nhiguard

ALNUM = string.ascii_letters + string.digits
B32 = string.ascii_uppercase + "234567"


def gh_token() -> str:
    return "ghp_" + "".join(secrets.choice(ALNUM) for _ in range(36))


def aws_pair() -> tuple[str, str]:
    return ("AKIA" + "".join(secrets.choice(B32) for _ in range(16)),
            "".join(secrets.choice(ALNUM + "/+") for _ in range(40)))


def findings_by_rule(report: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for f in report["findings"]:
        out.setdefault(f["rule_id"], []).append(f)
    return out


@pytest.fixture
def history_repo(tmp_path):
    """A key committed then deleted, a token only on a deleted branch, a clean HEAD."""
    repo = GitRepo.init(tmp_path / "repo")
    key_id, secret = aws_pair()
    branch_token = gh_token()
    c1 = repo.commit({"README.md": "hello\n"}, message="init")
    c2 = repo.commit({"config/aws.ini": f"[x]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"},
                     message="add config", author=("Bob", "bob@example.com"))
    repo.commit({"config/aws.ini": None}, message="remove config")
    side = repo.commit({"deploy.sh": f"export GITHUB_TOKEN={branch_token}\n"}, message="wip",
                       ref="refs/heads/feature", parents=[c1])
    repo.checkout()
    return repo, {"key_id": key_id, "secret": secret, "c2": c2, "branch_token": branch_token, "side": side}


def test_deleted_key_in_history_is_found_with_commit_author_date(history_repo, tmp_path):
    repo, facts = history_repo
    run = nhiguard("scan", repo.workdir, "-f", "json", "--show-secrets", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 1, run.stderr
    by_rule = findings_by_rule(run.report)
    [kid] = by_rule["nhiguard.aws.access-key-id"]
    [sec] = by_rule["nhiguard.aws.secret-access-key"]
    assert kid["secret"] == facts["key_id"] and sec["secret"] == facts["secret"]
    assert kid["paired_with"] == [sec["id"]] and sec["paired_with"] == [kid["id"]]
    [loc] = kid["locations"]
    assert (loc["source"], loc["path"], loc["commit"], loc["author"], loc["line"]) == (
        "git", "config/aws.ini", facts["c2"], "Bob", 2)
    assert loc["date"].startswith("2023-")
    # the branch token is found too, on the branch's commit
    [tok] = by_rule["nhiguard.github.classic-pat"]
    assert tok["locations"][0]["commit"] == facts["side"]


def test_no_raw_secret_in_store_or_default_report(history_repo, tmp_path):
    repo, facts = history_repo
    store = tmp_path / "state" / "s.db"
    for fmt in ("json", "jsonl", "sarif", "csv", "table"):
        run = nhiguard("scan", repo.workdir, "-f", fmt, "--store", store, cwd=tmp_path)
        assert run.code == 1
        for value in (facts["key_id"], facts["secret"], facts["branch_token"]):
            assert value not in run.stdout and value not in run.stderr
    raw = b"".join(p.read_bytes() for p in store.parent.iterdir())
    for value in (facts["key_id"], facts["secret"], facts["branch_token"]):
        assert value.encode() not in raw
    assert stat.S_IMODE(os.stat(store).st_mode) == 0o600


def test_rescan_reads_only_new_blobs_and_keeps_results(history_repo, tmp_path):
    repo, facts = history_repo
    store = tmp_path / "s.db"
    first = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    again = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    assert again.report["scan"]["blobs_scanned"] == 0
    assert {f["id"] for f in again.report["findings"]} == {f["id"] for f in first.report["findings"]}
    new_token = gh_token()
    repo.commit({"ci.env": f"TOKEN={new_token}\n"}, message="more")
    repo.checkout()
    third = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    assert third.report["scan"]["blobs_scanned"] == 1
    assert len(third.report["findings"]) == len(first.report["findings"]) + 1
    shown = nhiguard("scan", repo.workdir, "-f", "json", "--show-secrets", "--store", store, cwd=tmp_path)
    assert new_token in {f.get("secret") for f in shown.report["findings"]}
    assert len(shown.report["findings"]) == len(third.report["findings"])
    full = nhiguard("scan", repo.workdir, "-f", "json", "--full", "--store", store, cwd=tmp_path)
    assert full.report["scan"]["blobs_scanned"] >= 4


def test_since_and_staged_and_all_objects(history_repo, tmp_path):
    repo, facts = history_repo
    store = tmp_path / "s.db"
    since = nhiguard("scan", repo.workdir, "--since", facts["c2"], "-f", "json", "--store", store, cwd=tmp_path)
    # c2..HEAD is the commit that removed the key; the feature branch's token is on another
    # branch, not in that range
    assert since.code == 0 and since.report["findings"] == [], since.stderr
    repo.write("new.py", f"token = '{gh_token()}'\n")
    repo.stage("new.py")
    staged = nhiguard("scan", repo.workdir, "--staged", "-f", "json", "--store", store, cwd=tmp_path)
    assert [l["path"] for f in staged.report["findings"] for l in f["locations"]] == ["new.py"]
    # drop the feature branch: only --all-objects still finds its token
    repo.delete_ref("refs/heads/feature")
    plain = nhiguard("scan", repo.workdir, "-f", "json", "--full", "--store", tmp_path / "a.db", cwd=tmp_path)
    assert "deploy.sh" not in json.dumps(plain.report)
    everything = nhiguard("scan", repo.workdir, "--all-objects", "-f", "json", "--store", tmp_path / "b.db", cwd=tmp_path)
    locs = [l for f in everything.report["findings"] for l in f["locations"] if l.get("path") == "deploy.sh"]
    assert locs and locs[0]["commit"] == facts["side"] and locs[0]["reachable"] is False
    bad = nhiguard("scan", repo.workdir, "--since", "no-such-ref", "--store", store, cwd=tmp_path)
    assert bad.code == 2 and "no-such-ref" in bad.stderr


def test_bare_and_dotgit_targets_agree(history_repo, tmp_path):
    repo, _ = history_repo
    a = nhiguard("scan", repo.git_dir, "-f", "json", "--store", tmp_path / "a.db", cwd=tmp_path)
    import pygit2

    bare = tmp_path / "bare.git"
    pygit2.clone_repository(str(repo.git_dir), str(bare), bare=True)
    b = nhiguard("scan", bare, "--all-objects", "-f", "json", "--store", tmp_path / "b.db", cwd=tmp_path)
    assert {f["id"] for f in a.report["findings"]} <= {f["id"] for f in b.report["findings"]}


def test_corrupt_git_object_is_reported_and_the_rest_kept(history_repo, tmp_path):
    repo, facts = history_repo
    tree_blob = repo.repo.revparse_single("main:README.md")
    repo.corrupt(str(tree_blob.id))
    run = nhiguard("scan", repo.workdir, "-f", "json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2
    assert run.report["scan"]["errors"]
    assert "nhiguard.aws.access-key-id" in findings_by_rule(run.report)


def test_directory_policy_and_bad_files(tmp_path):
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    token = gh_token()
    (root / "ok.env").write_text(f"GITHUB_TOKEN={token}\n")
    (root / "latin1.txt").write_bytes(b"caf\xe9 \xff\xfe " + f"t={gh_token()}".encode())
    (root / "junk.bin").write_bytes(os.urandom(1000) + b"\0" + token.encode())
    (root / "big.log").write_bytes(b"x" * 3000 + token.encode())
    (root / "loop").symlink_to(root / "loop")
    (root / "dangling").symlink_to(root / "missing")
    (root / "dirlink").symlink_to(root / "sub")
    (root / "sub" / "locked.txt").write_text(token)
    os.chmod(root / "sub" / "locked.txt", 0)
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "x.env").write_text(f"T={gh_token()}\n")
    run = nhiguard("scan", "tree", "-f", "json", "--max-file-size", "2KB", "--respect-gitignore",
                   "--store", tmp_path / "s.db", cwd=tmp_path)
    paths = {l["path"] for f in run.report["findings"] for l in f["locations"]}
    readable_anyway = {"sub/locked.txt"} if os.geteuid() == 0 else set()  # root ignores mode 0
    assert paths == {"ok.env", "latin1.txt"} | readable_anyway
    skipped = {s["path"]: s["message"] for s in run.report["scan"]["skipped"]}
    assert "binary" in skipped["junk.bin"] and "max-file-size" in skipped["big.log"]
    errors = {e["path"]: e["message"] for e in run.report["scan"]["errors"]}
    assert "loop" in errors["loop"] and "broken" in errors["dangling"]
    if os.geteuid() != 0:  # root reads mode-0 files anyway
        assert "sub/locked.txt" in errors
    assert run.code == 2  # input errors are reported in the exit code
    with_binary = nhiguard("scan", "tree/junk.bin", "--scan-binary", "-f", "json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert with_binary.code == 1


def test_stdin_and_formats_and_fail_on(tmp_path):
    token = gh_token()
    text = f"step 3: using token {token}\n".encode()
    run = nhiguard("scan", "-", "-f", "jsonl", "--store", tmp_path / "s.db", cwd=tmp_path, stdin=text)
    [line] = run.stdout.splitlines()
    f = json.loads(line)
    assert f["locations"][0]["source"] == "stdin" and f["locations"][0]["line"] == 1
    rows = list(csv.DictReader(io.StringIO(
        nhiguard("scan", "-", "-f", "csv", "--store", tmp_path / "s.db", cwd=tmp_path, stdin=text).stdout)))
    assert rows[0]["rule_id"] == "nhiguard.github.classic-pat"
    sarif = json.loads(nhiguard("scan", "-", "-f", "sarif", "--store", tmp_path / "s.db", cwd=tmp_path, stdin=text).stdout)
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"]
    out = tmp_path / "r.json"
    wrote = nhiguard("scan", "-", "-f", "json", "-o", out, "--store", tmp_path / "s.db", cwd=tmp_path, stdin=text)
    assert wrote.stdout == "" and json.loads(out.read_text())["findings"]
    # --fail-on critical: a medium-only finding exits 0
    jwt_only = b"auth: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzdmMtYmlsbGluZyIsImlhdCI6MTcwMDAwMDAwMH0.c2lnbmF0dXJlLWJ5dGVzLWhlcmUtMTIzNDU2Nzg5MA\n"
    med = nhiguard("scan", "-", "-f", "json", "--fail-on", "critical", "--store", tmp_path / "s.db", cwd=tmp_path, stdin=jwt_only)
    assert med.report["findings"] and all(f["severity"] != "critical" for f in med.report["findings"])
    assert med.code == 0
    clean = nhiguard("scan", "-", "--store", tmp_path / "s.db", cwd=tmp_path, stdin=b"nothing to see\n")
    assert clean.code == 0 and "No findings" in clean.stdout


def test_usage_errors_exit_2(tmp_path):
    assert nhiguard("scan", "does-not-exist", "--store", tmp_path / "s.db", cwd=tmp_path).code == 2
    assert nhiguard("scan", ".", "--format", "xml", cwd=tmp_path).code == 2
    (tmp_path / "nhiguard.toml").write_text("bogus = 1\n")
    bad_cfg = nhiguard("scan", ".", cwd=tmp_path)
    assert bad_cfg.code == 2 and "bogus" in bad_cfg.stderr
    (tmp_path / "nhiguard.toml").unlink()
    (tmp_path / "rules.yml").write_text("rules: [{id: x}]\n")
    bad_rules = nhiguard("scan", ".", "--rules", "rules.yml", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert bad_rules.code == 2 and "rules.yml" in bad_rules.stderr


def test_inline_allow_and_custom_rules(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.py").write_text(
        f"T1 = '{gh_token()}'  # nhiguard:allow\nACME = 'acme_{secrets.token_hex(16)}'\n")
    (tmp_path / "acme.yml").write_text(
        "provider: acme\nrules:\n  - id: acme.api-key\n    name: Acme key\n    kind: acme_api_key\n"
        "    severity: high\n    pattern: '(?P<secret>acme_[0-9a-f]{32})'\n    keywords: [acme_]\n"
        "    references: [https://acme.example/docs]\n"
        "    examples: ['k = acme_0123456789abcdef0123456789abcdef']\n"
        "    negative_examples: ['k = acme_xyz']\n")
    run = nhiguard("scan", "d", "--rules", "acme.yml", "-f", "json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert [f["rule_id"] for f in run.report["findings"]] == ["acme.api-key"]
    assert nhiguard("rules", "check", "acme.yml", cwd=tmp_path).code == 0
    (tmp_path / "acme.yml").write_text((tmp_path / "acme.yml").read_text().replace("acme_xyz", "acme_" + "ab" * 16))
    check = nhiguard("rules", "check", "acme.yml", cwd=tmp_path)
    assert check.code == 1 and "negative example matches" in check.stdout
    listed = json.loads(nhiguard("rules", "list", "-f", "json", cwd=tmp_path).stdout)
    assert len(listed) >= 120


def test_report_command_reprints_last_scan(history_repo, tmp_path):
    repo, _ = history_repo
    store = tmp_path / "s.db"
    scanned = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    again = nhiguard("report", "-f", "json", "--store", store, cwd=tmp_path)
    assert again.code == 0
    assert [f["id"] for f in again.report["findings"]] == [f["id"] for f in scanned.report["findings"]]
    with sqlite3.connect(store) as db:
        assert db.execute("select count(*) from scans").fetchone()[0] == 1


def test_new_rules_rewalk_history(history_repo, tmp_path):
    """A rescan with a different ruleset must not trust the commits walked under the old one."""
    repo, facts = history_repo
    store = tmp_path / "s.db"
    nhiguard("scan", repo.workdir, "--disable-rule", "nhiguard.aws.access-key-id", "-f", "json", "--store", store, cwd=tmp_path)
    again = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    assert "nhiguard.aws.access-key-id" in findings_by_rule(again.report)


def test_missing_target_does_not_lose_the_others(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.env").write_text(f"T={gh_token()}\n")
    run = nhiguard("scan", "a", "missing", "-f", "json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2
    assert run.report["findings"] and run.report["scan"]["errors"][0]["path"] == "missing"


def test_fifo_behind_a_symlink_does_not_hang(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    os.mkfifo(root / "pipe")
    (root / "link").symlink_to(root / "pipe")
    (root / "ok.env").write_text(f"T={gh_token()}\n")
    run = nhiguard("scan", "c", "-f", "json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 1 and len(run.report["findings"]) == 1


def test_commit_message_secret_stays_out_of_store_and_report(tmp_path):
    repo = GitRepo.init(tmp_path / "r")
    token = gh_token()
    repo.commit({"p.env": f"T={gh_token()}\n"}, message=f"old token was {token}")
    store = tmp_path / "s.db"
    run = nhiguard("scan", repo.git_dir, "-f", "json", "--store", store, cwd=tmp_path)
    assert run.code == 1 and token not in run.stdout
    assert token.encode() not in b"".join(p.read_bytes() for p in tmp_path.glob("s.db*"))


def test_archive_problems_are_reported_and_the_rest_kept(tmp_path):
    import zipfile

    (tmp_path / "d").mkdir()
    token = gh_token()
    with zipfile.ZipFile(tmp_path / "d" / "evil.zip", "w") as zf:
        zf.writestr("../../etc/x.env", f"T={gh_token()}\n")
        zf.writestr("ok/y.env", f"T={token}\n")
    run = nhiguard("scan", "d", "-f", "json", "--show-secrets", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2
    assert [f["secret"] for f in run.report["findings"]] == [token]
    assert any("traversal" in e["message"] for e in run.report["scan"]["errors"])


def test_walk_with_errors_is_retried_on_rescan(history_repo, tmp_path):
    repo, facts = history_repo
    store = tmp_path / "s.db"
    oid = str(repo.repo.revparse_single(f"{facts['c2']}:config/aws.ini").id)
    saved = repo.loose_object_path(oid).read_bytes()
    repo.corrupt(oid)
    broken = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    assert broken.code == 2 and "nhiguard.aws.access-key-id" not in findings_by_rule(broken.report)
    repo.loose_object_path(oid).write_bytes(saved)
    fixed = nhiguard("scan", repo.workdir, "-f", "json", "--store", store, cwd=tmp_path)
    assert "nhiguard.aws.access-key-id" in findings_by_rule(fixed.report)


def test_decode_depth_limits_how_deep_archives_are_opened(tmp_path):
    import io
    import zipfile

    def zipped(name: str, data: bytes) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(name, data)
        return buf.getvalue()

    (tmp_path / "d").mkdir()
    shallow, deep = gh_token(), gh_token()
    (tmp_path / "d" / "a.zip").write_bytes(zipped("t.env", f"T={shallow}\n".encode()))
    (tmp_path / "d" / "b.zip").write_bytes(zipped("in.zip", zipped("t.env", f"T={deep}\n".encode())))

    def found(*flags: str) -> tuple[int, set[str], list[str]]:
        run = nhiguard("scan", "d", "-f", "json", "--show-secrets", "--full",
                       "--store", tmp_path / "s.db", *flags, cwd=tmp_path)
        return (run.code, {f["secret"] for f in run.report["findings"]},
                [e["message"] for e in run.report["scan"]["errors"]])

    assert found() == (1, {shallow, deep}, [])
    code, secrets_, errors = found("--decode-depth", "1")
    assert (code, secrets_) == (2, {shallow}) and any("nested more than 1" in e for e in errors)
    assert found("--decode-depth", "0") == (0, set(), [])  # turned off: no error either


@pytest.mark.parametrize("setting", ['fail_on = "bogus"', "max_file_size = 1.5", "rules = 5",
                                     'engine = "turbo"', "jobs = -3", 'max_file_size = "-5MB"',
                                     "decode_depth = -1", "decode_depth = 99", 'decode_budget = "0"'])
def test_bad_settings_are_clear_errors(tmp_path, setting):
    (tmp_path / "nhiguard.toml").write_text(setting + "\n")
    run = nhiguard("scan", ".", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2 and "Traceback" not in run.stderr and setting.split()[0] in run.stderr


def test_store_password_is_not_printed(tmp_path):
    run = nhiguard("scan", ".", "--store", "postgresql+psycopg://u:hunter2pw@127.0.0.1:1/db", cwd=tmp_path)
    assert run.code == 2 and "hunter2pw" not in run.stderr


def test_report_with_secrets_is_private(tmp_path):
    out = tmp_path / "r.json"
    nhiguard("scan", "-", "-f", "json", "--show-secrets", "-o", out, "--store", tmp_path / "s.db",
             cwd=tmp_path, stdin=f"T={gh_token()}\n".encode())
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_rules_list_piped_gives_whole_ids(tmp_path):
    out = nhiguard("rules", "list", cwd=tmp_path).stdout.splitlines()
    ids = [line.split("\t")[0] for line in out]
    assert "nhiguard.aws.access-key-id" in ids and all("…" not in i for i in ids)


def test_stdin_larger_than_memory_limit_is_streamed_and_its_spool_removed(tmp_path):
    """Standard input beyond the in-memory limit (64 MiB) is spooled to a private temporary
    file and matched in pieces; the token at its very end is found and the spool is gone."""
    token = gh_token()
    filler = (b"ordinary log line with nothing secret in it at all, number 0123456789\n" * 1_000_000)
    text = b"first " + gh_token().encode() + b"\n" + filler + f"last {token}\n".encode()
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    run = nhiguard("scan", "-", "-f", "json", "--show-secrets", "--store", tmp_path / "s.db",
                   cwd=tmp_path, stdin=text, env={"TMPDIR": str(spool_dir)})
    assert run.code == 1, run.stderr
    found = {f["secret"]: f["locations"][0] for f in run.report["findings"]}
    assert found[token]["source"] == "stdin" and found[token]["line"] == 1_000_002
    assert len(found) == 2 and run.report["scan"]["bytes_scanned"] == len(text)
    assert list(spool_dir.iterdir()) == []
