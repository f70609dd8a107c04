"""The CLI under conditions users create: scans sharing one store at the same time,
interruption, broken pipes, internal errors, corrupt git objects that hang libgit2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from tests.helpers_git import GitRepo
from tests.integration.cli_helpers import big_tree, nhiguard

TOKEN = "xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx"


def _spawn(args, cwd, env=None, **kw):
    env = dict(env or os.environ, NHIGUARD_PROGRESS="off")
    return subprocess.Popen([sys.executable, "-m", "nhiguard.cli.main", *map(str, args)], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_scans_sharing_one_new_store_take_turns(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(40):
        (d / f"f{i}.txt").write_text(f"token={TOKEN[:-2]}{i:02d}\n")
    repo = GitRepo.init(tmp_path / "repo")
    repo.commit({"ci.env": f"SLACK={TOKEN}\n"})
    procs = [_spawn(["scan", "d", "repo", "--store", "shared.db", "--full", "-f", "json"], tmp_path)
             for _ in range(5)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 1, err.decode()
        assert len(json.loads(out)["findings"]) == 41  # 40 in files, one in history
    ids = nhiguard("report", "--store", "shared.db", "-f", "json", cwd=tmp_path)
    assert ids.code == 0 and len(ids.report["findings"]) == 41


def test_ctrl_c_exits_130_not_the_findings_code(tmp_path):
    p = _spawn(["scan", "-", "--store", "s.db"], tmp_path, stdin=subprocess.PIPE)
    time.sleep(1.5)  # reading standard input, which never comes
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=30)
    assert p.returncode == 130, err.decode()
    assert b"Traceback" not in err


def test_an_internal_error_exits_2_without_a_traceback(tmp_path):
    # a store path that is a directory fails deep inside SQLite, not in our validation
    (tmp_path / "store-dir").mkdir()
    (tmp_path / "a.txt").write_text("x\n")
    run = nhiguard("scan", "a.txt", "--store", tmp_path / "store-dir", cwd=tmp_path)
    assert run.code == 2 and "Traceback" not in run.stderr


def test_a_truncated_loose_tree_is_an_error_not_a_hang(tmp_path):
    repo = GitRepo.init(tmp_path / "r")
    c1 = repo.commit({"dir/a.txt": "a", "ok.env": f"SLACK={TOKEN}\n"})
    tree = str(repo.repo[c1].tree["dir"].id)
    path = repo.loose_object_path(tree)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.truncate(5)
    run = nhiguard("scan", "r", "--store", "s.db", "-f", "json", cwd=tmp_path,
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert run.code == 2, run.stderr
    assert any(tree in e["path"] and "truncated" in e["message"] for e in run.report["scan"]["errors"])
    assert [f["rule_id"] for f in run.report["findings"]] == ["nhiguard.slack.bot-token"]


def test_an_unreadable_work_tree_status_falls_back_to_scanning_the_files(tmp_path):
    repo = GitRepo.init(tmp_path / "r")
    repo.commit({"README": "hi\n", ".gitignore": "*.log\n"})
    repo.checkout()
    repo.write("untracked.env", f"SLACK={TOKEN}\n")
    repo.write("debug.log", f"SLACK={TOKEN[:-4]}zzzz\n")  # ignored
    (repo.git_dir / "index").write_bytes(b"DIRC garbage that is not an index")
    run = nhiguard("scan", "r", "--store", "s.db", "-f", "json", cwd=tmp_path,
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert run.code == 2, run.stderr
    assert any("work tree status" in e["message"] for e in run.report["scan"]["errors"])
    places = {loc["path"] for f in run.report["findings"] for loc in f["locations"]}
    assert places == {"untracked.env"}


def test_a_fifo_inside_a_tree_is_listed_as_skipped(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    os.mkfifo(d / "pipe")
    (d / "a.env").write_text(f"SLACK={TOKEN}\n")
    run = nhiguard("scan", "d", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    assert [(s["path"], s["message"]) for s in run.report["scan"]["skipped"]] == [("pipe", "not a regular file")]


def test_secrets_in_file_names_and_author_names_are_redacted_everywhere(tmp_path):
    import secrets as rnd
    import string

    alnum = string.ascii_letters + string.digits
    # random, but with a digit and a letter for sure, as real tokens have
    ghp = "ghp_" + "".join(rnd.choice(alnum) for _ in range(34)) + "a7"
    akid = "AKIA" + "".join(rnd.choice(string.ascii_uppercase + "234567") for _ in range(14)) + "Q2"
    author_tok = "xoxb-223456789012-223456789012-" + "".join(rnd.choice(alnum) for _ in range(24))
    repo = GitRepo.init(tmp_path / "r")
    repo.commit({f"{akid}/{ghp}.txt": f"SLACK={TOKEN}\n"}, author=(author_tok, f"{author_tok}@x.io"))
    run = nhiguard("scan", "r", "--store", "s.db", "-f", "json", cwd=tmp_path,
                   env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert run.code == 1, run.stderr
    [f] = run.report["findings"]
    [loc] = f["locations"]
    assert loc["path"] == "[redacted]/[redacted].txt"
    assert "[redacted]" in loc["author"]
    for raw in (ghp, akid, author_tok):
        assert raw not in run.stdout and raw not in run.stderr
        for p in tmp_path.glob("s.db*"):
            assert raw.encode() not in p.read_bytes(), p.name
    for fmt in ("table", "csv", "sarif", "jsonl"):
        out = nhiguard("report", "--store", "s.db", "-f", fmt, cwd=tmp_path).stdout
        assert not any(raw in out for raw in (ghp, akid, author_tok)), fmt


def test_report_without_a_store_says_so_and_creates_none(tmp_path):
    run = nhiguard("report", "--store", "nope.db", cwd=tmp_path)
    assert run.code == 2 and "no store at nope.db" in run.stderr
    assert not (tmp_path / "nope.db").exists()


def test_a_store_others_can_read_is_warned_about(tmp_path):
    (tmp_path / "a.txt").write_text("x\n")
    (tmp_path / "pm.db").touch()
    os.chmod(tmp_path / "pm.db", 0o644)
    run = nhiguard("scan", "a.txt", "--store", "pm.db", cwd=tmp_path)
    assert run.code == 0 and "readable by other users" in run.stderr
    quiet = nhiguard("scan", "a.txt", "--store", "own.db", cwd=tmp_path)
    assert "readable by other users" not in quiet.stderr


def test_locations_name_their_target_and_csv_escapes_control_characters(tmp_path):
    for d in ("mA", "mB"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "a\x1b[31m.txt").write_text(f"SLACK={TOKEN[:-2]}{d}\n")
    run = nhiguard("scan", "mA", "mB", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert sorted(loc["target"] for f in run.report["findings"] for loc in f["locations"]) == ["mA", "mB"]
    csv_out = nhiguard("scan", "mA", "mB", "--store", "s.db", "-f", "csv", cwd=tmp_path).stdout
    assert "\x1b" not in csv_out and "a\\x1b[31m.txt" in csv_out
    table = nhiguard("scan", "mA", "mB", "--store", "s.db", cwd=tmp_path).stdout
    assert "mA/a\\x1b[31m.txt" in table and "mB/a\\x1b[31m.txt" in table


def test_a_repository_libgit2_cannot_open_is_an_error_and_its_files_are_still_scanned(tmp_path):
    repo = GitRepo.init(tmp_path / "r")
    repo.commit({"old.env": f"SLACK={TOKEN}\n"})
    repo.checkout()
    with open(repo.git_dir / "config", "a") as fh:
        fh.write("[core\n")
    run = nhiguard("scan", "r", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 2
    assert any("cannot open the git repository" in e["message"] for e in run.report["scan"]["errors"])
    assert [loc["source"] for f in run.report["findings"] for loc in f["locations"]] == ["file"]
    bare = nhiguard("scan", repo.git_dir, "--store", "s2.db", "-f", "json", cwd=tmp_path)
    assert bare.code == 2 and bare.report["findings"] == []


def test_an_empty_branch_ref_is_reported(tmp_path):
    repo = GitRepo.init(tmp_path / "r")
    c1 = repo.commit({"a.txt": "a\n"})
    repo.set_ref("refs/heads/feature", c1)
    (repo.git_dir / "refs" / "heads" / "feature").write_bytes(b"")
    run = nhiguard("scan", "r", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 2
    assert [e["path"].split("@")[-1] for e in run.report["scan"]["errors"]] == ["refs/heads/feature"]


def test_secrets_in_targets_ref_names_and_archive_members_never_reach_the_store(tmp_path):
    import io
    import secrets as rnd
    import string
    import zipfile

    alnum = string.ascii_letters + string.digits
    def ghp():
        return "ghp_" + "".join(rnd.choice(alnum) for _ in range(34)) + "b4"
    in_dir, in_ref, in_member = ghp(), ghp(), ghp()
    d = tmp_path / in_dir
    d.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{in_member}.txt", f"SLACK={TOKEN}\n")
    (d / "bundle.zip").write_bytes(buf.getvalue())
    repo = GitRepo.init(tmp_path / "r")
    c1 = repo.commit({"a.env": f"SLACK={TOKEN[:-2]}zz\n"})
    repo.set_ref(f"refs/heads/{in_ref}", c1)
    run = nhiguard("scan", in_dir, "r", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    rescan = nhiguard("scan", in_dir, "r", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert rescan.code == 1 and len(rescan.report["findings"]) == len(run.report["findings"]) == 2
    for raw in (in_dir, in_ref, in_member):
        assert raw not in run.stdout + run.stderr + rescan.stdout
        for p in tmp_path.glob("s.db*"):
            assert raw.encode() not in p.read_bytes(), (raw[:8], p.name)


def test_a_password_in_a_store_url_query_is_masked(tmp_path):
    run = nhiguard("scan", "nothing", "--store", "postgresql+psycopg://u@127.0.0.1:1/db?password=hunter2secret",
                   cwd=tmp_path)
    assert run.code == 2 and "hunter2secret" not in run.stderr and "password=***" in run.stderr


def test_ctrl_c_during_a_parallel_scan_stops_the_workers_quietly(tmp_path):
    big_tree(tmp_path / "big")
    for _ in range(3):
        env = dict(os.environ, NHIGUARD_PROGRESS="off")
        p = subprocess.Popen([sys.executable, "-m", "nhiguard.cli.main", "scan", "big", "--full", "-j", "2",
                              "--store", "s.db", "--engine", "python"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        time.sleep(2.0)
        os.killpg(p.pid, signal.SIGINT)  # as a terminal does: the whole process group
        _, err = p.communicate(timeout=60)
        assert p.returncode == 130, err.decode()[-2000:]
        assert b"Traceback" not in err, err.decode()[-2000:]


def test_since_naming_no_commit_in_one_repository_leaves_the_others_scanned(tmp_path):
    a, b = GitRepo.init(tmp_path / "a"), GitRepo.init(tmp_path / "b")
    base = a.commit({"x": "x\n"})
    a.commit({"new.env": f"SLACK={TOKEN}\n"})
    b.commit({"y": "y\n"})
    run = nhiguard("scan", "a", "b", "--since", base, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 2
    assert [e["path"] for e in run.report["scan"]["errors"]] == ["b"]
    assert [loc["path"] for f in run.report["findings"] for loc in f["locations"]] == ["new.env"]


def test_blob_ids_in_reports_and_the_store_are_keyed_and_still_dedupe(tmp_path):
    from nhiguard.model import blob_id
    from nhiguard.model.blob import keyed_blob_id

    content = f"SLACK={TOKEN}\n"
    repo = GitRepo.init(tmp_path / "r")
    repo.commit({"ci.env": content})
    repo.checkout()
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "copy.env").write_text(content)
    plain = blob_id(content.encode())
    run = nhiguard("scan", "r", "d", "--store", "s.db", "-f", "json", cwd=tmp_path,
                   env={"NHIGUARD_FINGERPRINT_KEY": "team-key"})
    [f] = run.report["findings"]
    ids = {loc["blob_id"] for loc in f["locations"]}
    assert ids == {keyed_blob_id(plain, b"team-key")}  # one id for the file and the history
    assert {loc["source"] for loc in f["locations"]} == {"git", "file"}
    assert plain not in run.stdout
    for p in tmp_path.glob("s.db*"):
        assert plain.encode() not in p.read_bytes()


def test_sigterm_while_standard_input_is_spooled_removes_the_spool(tmp_path):
    """Standard input over 64 MB is spooled to $TMPDIR; SIGTERM (or SIGHUP) mid-read unwinds
    like Ctrl-C: exit 128+signal, and the spool, which holds the user's input, is removed."""
    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        p = _spawn(["scan", "-", "--store", "s.db"], tmp_path, stdin=subprocess.PIPE,
                   env=dict(os.environ, TMPDIR=str(spool_dir)))
        chunk = b"log line without secrets, padding it out to a round size.......\n" * 16384
        for _ in range(66):  # 66 MiB: past the in-memory limit, so a spool exists
            p.stdin.write(chunk)
        p.stdin.flush()
        deadline = time.time() + 30
        while not list(spool_dir.iterdir()) and time.time() < deadline:
            time.sleep(0.1)
        assert list(spool_dir.iterdir()), "no spool appeared"
        p.send_signal(sig)
        _, err = p.communicate(timeout=30)
        assert p.returncode == 128 + sig, err.decode()
        assert b"terminated" in err and b"Traceback" not in err
        assert list(spool_dir.iterdir()) == []


def test_archive_members_with_secrets_at_the_same_offsets_and_damaged_members(tmp_path):
    """Each member's secret is its own finding even at the same line and column as another
    member's; a refused bomb or a member damaged part-way costs only that member's rest."""
    import io
    import random
    import zipfile

    rnd = random.Random(7)
    tok = ["ghp_" + "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                            for _ in range(36)) for _ in range(4)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", f"api_token = {tok[0]}\n")
        zf.writestr("zeros.bin", b"\0" * (20 << 20))  # refused as a bomb
        zf.writestr("b.txt", f"api_token = {tok[1]}\n")
        zf.writestr("long.txt", f"api_token = {tok[2]}\n" + "".join(
            f"{rnd.random()} filler text {rnd.getrandbits(64):x}\n" for _ in range(20000)))
        zf.writestr("c.txt", f"api_token = {tok[3]}\n")
    data = bytearray(buf.getvalue())
    start = data.index(b"long.txt") + 60_000  # inside long.txt's compressed data
    data[start : start + 200] = bytes(rnd.getrandbits(8) for _ in range(200))
    (tmp_path / "pack.zip").write_bytes(bytes(data))
    run = nhiguard("scan", "pack.zip", "-f", "json", "--show-secrets", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2, run.stderr  # parts could not be read
    found = {f["secret"]: f["locations"][0]["decoded"] for f in run.report["findings"]}
    assert found == {tok[0]: "zip:a.txt", tok[1]: "zip:b.txt", tok[2]: "zip:long.txt", tok[3]: "zip:c.txt"}
    errors = " ".join(e["message"] for e in run.report["scan"]["errors"])
    assert "zip:zeros.bin" in errors and "zip:long.txt: unreadable member" in errors
