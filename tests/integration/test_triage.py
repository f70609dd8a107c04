"""`nhiguard triage` through the real CLI: statuses with who/when/why that survive rescans and
no longer fail a run, shared through export and import (newest decision wins, other keys
refused)."""

from __future__ import annotations

import json
import secrets
import string

from tests.integration.cli_helpers import nhiguard

ALNUM = string.ascii_letters + string.digits


def gh_token() -> str:
    return "ghp_" + "".join(secrets.choice(ALNUM) for _ in range(36))


def listing(tmp_path, store="s.db", *extra):
    run = nhiguard("triage", "list", "--store", store, "-f", "json", *extra, cwd=tmp_path)
    assert run.code == 0, run.stderr
    return json.loads(run.stdout)


def test_a_decision_survives_rescans_and_stops_failing_the_run(tmp_path):
    (tmp_path / "d").mkdir()
    fp_token, real = gh_token(), gh_token()
    (tmp_path / "d" / "a.env").write_text(f"T={fp_token}\nS={real}\n")
    assert nhiguard("scan", "d", "--store", "s.db", cwd=tmp_path).code == 1
    rows = listing(tmp_path)
    assert [r["status"] for r in rows] == ["open", "open"]
    report = nhiguard("scan", "d", "--store", "s.db", "-f", "json", "--show-secrets", "--full", cwd=tmp_path).report
    target = next(f["id"] for f in report["findings"] if f["secret"] == fp_token)
    other = next(f["id"] for f in report["findings"] if f["secret"] == real)

    set_ = nhiguard("triage", "set", target[:6], "false-positive", "-m", "fixture of the test suite",
                    "--by", "alice@example.test", "--store", "s.db", cwd=tmp_path)
    assert set_.code == 0, set_.stderr
    [row] = listing(tmp_path, "s.db", "--status", "false_positive")
    assert (row["id"], row["by"], row["reason"]) == (target, "alice@example.test", "fixture of the test suite")
    assert row["at"].endswith("Z")

    (tmp_path / "d" / "a.env").write_text(f"# moved\n\nT={fp_token}\nS={real}\n")  # lines move
    again = nhiguard("scan", "d", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert {f["id"]: f["status"] for f in again.report["findings"]} == {target: "false_positive", other: "open"}
    assert again.code == 1  # the other one is still open
    nhiguard("triage", "set", other, "revoked", "--store", "s.db", cwd=tmp_path)
    assert nhiguard("scan", "d", "--store", "s.db", cwd=tmp_path).code == 0  # nothing open


def test_export_and_import_share_decisions_newest_first(tmp_path):
    (tmp_path / "d").mkdir()
    token = gh_token()
    (tmp_path / "d" / "a.env").write_text(f"T={token}\n")
    for store in ("alice.db", "bob.db"):
        nhiguard("scan", "d", "--store", store, cwd=tmp_path)
    [row] = listing(tmp_path, "alice.db")
    nhiguard("triage", "set", row["id"], "accepted-risk", "-m", "sandbox key", "--store", "alice.db", cwd=tmp_path)
    exported = nhiguard("triage", "export", "--store", "alice.db", "-o", "triage.json", cwd=tmp_path)
    assert exported.code == 0, exported.stderr
    doc = json.loads((tmp_path / "triage.json").read_text())
    assert [d["status"] for d in doc["decisions"]] == ["accepted"] and token not in json.dumps(doc)

    imported = nhiguard("triage", "import", "triage.json", "--store", "bob.db", cwd=tmp_path)
    assert imported.code == 0 and "applied 1" in imported.stderr
    assert listing(tmp_path, "bob.db")[0]["status"] == "accepted"
    # a later decision in bob's store is not overwritten by the older file
    nhiguard("triage", "set", row["id"], "revoked", "-m", "rotated", "--store", "bob.db", cwd=tmp_path)
    again = nhiguard("triage", "import", "triage.json", "--store", "bob.db", cwd=tmp_path)
    assert "kept 1 newer here" in again.stderr and listing(tmp_path, "bob.db")[0]["status"] == "revoked"
    # a store with another fingerprint key cannot use the file
    other = nhiguard("triage", "import", "triage.json", "--store", "bob.db", cwd=tmp_path,
                     env={"NHIGUARD_FINGERPRINT_KEY": "another-team-key"})
    assert other.code == 2 and "another fingerprint key" in other.stderr


def test_bad_triage_input_is_a_clear_error(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.env").write_text(f"T={gh_token()}\nS={gh_token()}\n")
    nhiguard("scan", "d", "--store", "s.db", cwd=tmp_path)
    ids = [r["id"] for r in listing(tmp_path)]
    for args, message in ((["nope00", "revoked"], "no finding"), ([ids[0], "maybe"], "unknown status"),
                          (["", "revoked"], "no finding")):
        run = nhiguard("triage", "set", *args, "--store", "s.db", cwd=tmp_path)
        assert run.code == 2 and message in run.stderr and "Traceback" not in run.stderr
    (tmp_path / "junk.json").write_text("{not json")
    junk = nhiguard("triage", "import", "junk.json", "--store", "s.db", cwd=tmp_path)
    assert junk.code == 2 and "not a triage file" in junk.stderr
    assert nhiguard("triage", "list", "--store", "missing.db", cwd=tmp_path).code == 2
