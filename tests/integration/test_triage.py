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


def _exported(tmp_path):
    """A store with one triaged finding, its export, and a second store that has seen it."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.env").write_text(f"T={gh_token()}\n")
    for store in ("alice.db", "bob.db"):
        nhiguard("scan", "d", "--store", store, cwd=tmp_path)
    [row] = listing(tmp_path, "alice.db")
    nhiguard("triage", "set", row["id"], "accepted-risk", "-m", "sandbox", "--store", "alice.db", cwd=tmp_path)
    assert nhiguard("triage", "export", "--store", "alice.db", "-o", "t.json", cwd=tmp_path).code == 0
    return row["id"], json.loads((tmp_path / "t.json").read_text())


def test_import_checks_every_field_and_applies_nothing_from_a_bad_file(tmp_path):
    fid, doc = _exported(tmp_path)
    good = doc["decisions"][0]
    cases = [
        ({"by": 123}, "`by` must be a string or null, not a number"),
        ({"reason": ["x"]}, "`reason` must be a string or null, not a list"),
        ({"status": 1}, "`status` must be a non-empty string"),
        ({"at": None}, "`at` must be a non-empty string, not null"),
        ({"at": "yesterday"}, "`at` is not an ISO 8601 time"),
        ({"at": "2999-01-01T00:00:00Z"}, "is in the future"),
        ({"id": {"x": 1}}, "`id` must be a non-empty string, not an object"),
        ({"status": "maybe"}, "unknown status"),
        ({"preview": False}, "`preview` must be a string or null"),
    ]
    for change, message in cases:
        bad = dict(doc, decisions=[dict(good, **change)])
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        run = nhiguard("triage", "import", "bad.json", "--store", "bob.db", cwd=tmp_path)
        assert run.code == 2, (change, run.stderr)
        assert message in run.stderr and "decision 0" in run.stderr, (change, run.stderr)
        assert "Traceback" not in run.stderr and "internal error" not in run.stderr
        assert listing(tmp_path, "bob.db")[0]["status"] == "open"  # nothing applied
    # one bad decision among good ones: the whole file is refused
    (tmp_path / "bad.json").write_text(json.dumps(dict(doc, decisions=[good, dict(good, by=7)])))
    run = nhiguard("triage", "import", "bad.json", "--store", "bob.db", cwd=tmp_path)
    assert run.code == 2 and "decision 1" in run.stderr
    assert listing(tmp_path, "bob.db")[0]["status"] == "open"
    for junk in ([1, 2], {"decisions": "x"}):
        (tmp_path / "bad.json").write_text(json.dumps(dict(doc, decisions=junk) if isinstance(junk, list) else dict(doc, **junk)))
        run = nhiguard("triage", "import", "bad.json", "--store", "bob.db", cwd=tmp_path)
        assert run.code == 2 and "Traceback" not in run.stderr, run.stderr


def test_import_says_what_happens_to_decisions_about_unseen_findings(tmp_path):
    fid, doc = _exported(tmp_path)
    nhiguard("scan", "d", "--store", "carol.db", "--disable-rule", "nhiguard.github.classic-pat", cwd=tmp_path)
    run = nhiguard("triage", "import", "t.json", "--store", "carol.db", cwd=tmp_path)
    assert run.code == 0 and "1 not in this store" in run.stderr and "import again" in run.stderr
    helptext = nhiguard("triage", "import", "--help", cwd=tmp_path).stdout
    assert "not applied" in helptext and "import the file again" in helptext.replace("\n", " ").replace("  ", " ")
    nhiguard("scan", "d", "--store", "carol.db", cwd=tmp_path)
    again = nhiguard("triage", "import", "t.json", "--store", "carol.db", cwd=tmp_path)
    assert "applied 1" in again.stderr and listing(tmp_path, "carol.db")[0]["status"] == "accepted"


def test_list_escapes_control_characters_from_shared_decisions(tmp_path):
    fid, doc = _exported(tmp_path)
    evil = "ok\x1b[2J\x9b31m\u202eevil\x07"
    doc["decisions"][0].update(by=evil, reason=evil)
    (tmp_path / "t.json").write_text(json.dumps(doc))
    assert nhiguard("triage", "import", "t.json", "--store", "bob.db", cwd=tmp_path).code == 0
    table = nhiguard("triage", "list", "--store", "bob.db", cwd=tmp_path)
    as_json = nhiguard("triage", "list", "--store", "bob.db", "-f", "json", cwd=tmp_path)
    for out in (table.stdout, as_json.stdout):
        assert not any(c in out for c in "\x1b\x9b\u202e\x07"), repr(out)
    assert "\\x1b[2J" in table.stdout and "\\u202e" in table.stdout
    [row] = json.loads(as_json.stdout)
    assert row["reason"] == evil and row["by"] == evil  # the same JSON, only escaped
