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


def _token() -> str:
    return "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))


def test_update_refuses_pre_push_even_with_nothing_on_stdin(tmp_path):
    from tests.helpers_git import GitRepo

    repo = GitRepo.init(tmp_path / "r")
    repo.commit({"deploy.sh": f"export GITHUB_TOKEN={_token()}\n"})
    repo.checkout()
    assert nhiguard("baseline", "create", "r", "-o", "b.json", "--store", "s.db", cwd=tmp_path).code == 0
    before = (tmp_path / "b.json").read_bytes()
    assert len(json.loads(before)["findings"]) == 1
    for stdin in (b"", f"refs/heads/main {'1' * 40} refs/heads/main {'0' * 40}\n".encode()):
        run = nhiguard("baseline", "update", "r", "--baseline", "b.json", "--store", "s.db", "--pre-push",
                       cwd=tmp_path, stdin=stdin)
        assert run.code == 2 and "whole scan" in run.stderr and "--pre-push" in run.stderr
        assert (tmp_path / "b.json").read_bytes() == before
    for partial in (["--pre-push"], ["--staged"], ["--since", "HEAD"]):
        run = nhiguard("baseline", "create", "r", "-o", "c.json", "--store", "s.db", *partial,
                       cwd=tmp_path, stdin=b"")
        assert run.code == 2 and "whole scan" in run.stderr and not (tmp_path / "c.json").exists()


def test_update_by_a_narrower_scan_leaves_the_baseline_as_it_was(tmp_path):
    (tmp_path / "proj" / "a").mkdir(parents=True)
    (tmp_path / "proj" / "b").mkdir()
    (tmp_path / "proj" / "a" / "x.env").write_text(f"T={_token()}\n")
    (tmp_path / "proj" / "b" / "y.env").write_text(f"T={_token()}\n")
    proj = tmp_path / "proj"
    zipped = proj / "b" / "z.zip"
    import zipfile

    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("inner.env", f"T={_token()}\n")
    created = nhiguard("baseline", "create", ".", "--store", tmp_path / "s.db", cwd=proj)
    assert created.code == 0, created.stderr
    path = proj / ".nhiguard-baseline.json"
    before = path.read_bytes()
    doc = json.loads(before)
    assert len(doc["findings"]) == 3
    assert doc["scope"] == {"targets": ["."], "no_history": False, "all_objects": False,
                            "respect_gitignore": False, "decode_depth": 3}
    for cwd, args, why in (
        (proj, ["a"], "target(s) . not scanned"),                       # a subfolder
        (proj / "a", [".", "--baseline", "../.nhiguard-baseline.json"], "target(s) . not scanned"),
        (proj, [".", "--decode-depth", "0"], "--decode-depth 0"),
        (proj, [".", "--respect-gitignore"], "--respect-gitignore"),
    ):
        run = nhiguard("baseline", "update", *args, "--store", tmp_path / "s.db", cwd=cwd)
        assert run.code == 2, (args, run.stderr)
        assert why in run.stderr and "left as it was" in run.stderr, run.stderr
        assert path.read_bytes() == before, args
    # the same scope, however spelled and from wherever: prunes what is gone
    (proj / "b" / "y.env").write_text("T=none\n")
    run = nhiguard("baseline", "update", str(proj), "--baseline", str(path), "--store", tmp_path / "s.db",
                   cwd=tmp_path)
    assert run.code == 0, run.stderr
    after = json.loads(path.read_text())
    assert len(after["findings"]) == 2 and after["scope"] == doc["scope"]


def test_baseline_commands_refuse_flags_that_mean_nothing_to_them(tmp_path):
    from tests.helpers_providers import Providers

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.env").write_text(f"T={_token()}\n")
    for command, extra in (("create", ["-o", "b.json"]), ("update", ["--baseline", "b.json"])):
        if command == "update":
            assert nhiguard("baseline", "create", "a", "-o", "b.json", "--store", "s.db", cwd=tmp_path).code == 0
        for flag in (["--fail-on", "high"], ["--verify"], ["--verify-endpoint", "github=http://127.0.0.1:9"]):
            run = nhiguard("baseline", command, "a", *extra, *flag, "--store", "s.db", cwd=tmp_path)
            assert run.code == 2 and f"{flag[0]} does not apply" in run.stderr, (command, flag, run.stderr)
        # --baseline means nothing to `create` either: click refuses it
        assert nhiguard("baseline", "create", "a", "--baseline", "x.json", cwd=tmp_path).code == 2
    # a configuration that verifies and fails on live findings does not stop a baseline, and no
    # provider is asked
    providers = Providers()
    try:
        (tmp_path / "nhiguard.toml").write_text(
            f'verify = true\nfail_on = "live"\nverify_endpoints = ["github={providers.url}"]\n')
        run = nhiguard("baseline", "create", "a", "-o", "c.json", "--store", "s.db", cwd=tmp_path)
        assert run.code == 0, run.stderr
        assert not providers.calls and len(json.loads((tmp_path / "c.json").read_text())["findings"]) == 1
    finally:
        providers.stop()


def test_a_baseline_without_a_scope_is_updated_and_then_records_one(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.env").write_text(f"T={_token()}\n")
    assert nhiguard("baseline", "create", "a", "-o", "b.json", "--store", "s.db", cwd=tmp_path).code == 0
    doc = json.loads((tmp_path / "b.json").read_text())
    del doc["scope"]  # as an older nhiguard wrote it
    (tmp_path / "b.json").write_text(json.dumps(doc))
    run = nhiguard("baseline", "update", "a", "--baseline", "b.json", "--store", "s.db", cwd=tmp_path)
    assert run.code == 0 and "does not record what it was made from" in run.stderr
    assert json.loads((tmp_path / "b.json").read_text())["scope"]["targets"] == ["a"]
    doc["scope"] = {"targets": "a"}
    (tmp_path / "b.json").write_text(json.dumps(doc))
    bad = nhiguard("scan", "a", "--baseline", "b.json", "--store", "s.db", cwd=tmp_path)
    assert bad.code == 2 and "scope is damaged" in bad.stderr
