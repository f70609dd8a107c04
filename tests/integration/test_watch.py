"""`nhiguard watch` and `nhiguard alerts` end to end: the real CLI on real detonation logs
and on generated benign activity with attacks injected, the store remembering what it
read and what was decided, hooks, --follow, bad input, PostgreSQL, and leaked secrets
tied to their use."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from nhiguard.watch import simulate
from tests.helpers_pg import pg_schema_url
from tests.integration.cli_helpers import nhiguard, spawn

# letters that never spell a placeholder word, so a generated token is never filtered out
_TOKEN_CHARS = "0123456789QXZJKVWqxzjkvw"


@pytest.fixture(scope="module")
def stratus(shared: Path) -> Path:
    return shared / "audit-logs" / "cloudtrail-stratus"


@pytest.fixture(scope="module")
def falco(shared: Path) -> Path:
    return shared / "audit-logs" / "k8s-falco"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ct(ts: float, action: str, key_id: str, ip: str, user: str = "svc-reporter",
       ua: str = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10 lang/python#3.11.8 Botocore/1.34.69",
       params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One CloudTrail record of a call signed with an IAM user's access key."""
    service, _, name = action.partition(":")
    return {"eventVersion": "1.09", "eventTime": _iso(ts), "eventSource": f"{service}.amazonaws.com",
            "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": ua,
            "userIdentity": {"type": "IAMUser", "principalId": "AIDA" + key_id[4:], "accountId": "123456789012",
                             "arn": f"arn:aws:iam::123456789012:user/{user}", "accessKeyId": key_id,
                             "userName": user},
            "requestParameters": params or {}, "responseElements": None, "eventType": "AwsApiCall",
            "eventID": secrets.token_hex(16), "recipientAccountId": "123456789012"}


def key_id() -> str:
    return "AKIA" + "".join(secrets.choice("234567QXZJKVW") for _ in range(16))


def jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def alerts_of(run) -> list[dict[str, Any]]:
    return run.report["alerts"]


# ---------------------------------------------------------------- real detonation logs


def test_a_stopped_trail_is_an_alert_with_its_tags_in_every_format(tmp_path, stratus):
    log = stratus / "aws.defense-evasion.cloudtrail-stop.json"
    run = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 1, run.stderr  # a high alert fails the run by default
    [alert] = alerts_of(run)
    assert alert["detector"] == "watch.defence-evasion"
    assert alert["severity"] in ("high", "critical")
    assert "stratus-red-team-ct-stop-trail" in alert["summary"]
    assert alert["owasp"] and alert["attack"] and alert["attack"][0].startswith("T1562")
    assert alert["events"] and alert["events"][0].startswith(str(log))
    assert run.report["stats"]["events"] == 1 and run.report["stats"]["malformed"] == 0

    csv_run = nhiguard("watch", log, "--store", "t.db", "-f", "csv", cwd=tmp_path)
    header, row = csv_run.stdout.strip().splitlines()[:2]
    assert "detector" in header and "watch.defence-evasion" in row
    lines = nhiguard("watch", log, "--store", "u.db", "-f", "jsonl", cwd=tmp_path).stdout.strip().splitlines()
    assert [json.loads(line)["detector"] for line in lines] == ["watch.defence-evasion"]
    table = nhiguard("watch", log, "--store", "v.db", cwd=tmp_path)
    assert "watch.defence-evasion" in table.stdout and table.code == 1


@pytest.mark.parametrize("name, detector", [
    ("aws.persistence.iam-create-admin-user.json", "watch.new-permissions"),
    ("aws.persistence.iam-backdoor-user.json", "watch.new-credentials"),
    ("aws.exfiltration.ec2-share-ebs-snapshot.json", "watch.resource-exposure"),
    ("aws.defense-evasion.cloudtrail-delete.json", "watch.defence-evasion"),
])
def test_stratus_techniques_raise_their_detector(tmp_path, stratus, name, detector):
    run = nhiguard("watch", stratus / name, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    assert detector in {a["detector"] for a in alerts_of(run)}


def test_kubernetes_audit_logs_raise_alerts_and_the_cluster_names_identities(tmp_path, falco):
    run = nhiguard("watch", falco / "attach_cluster_admin_role.json", "--cluster", "prod-eu", "--store", "s.db",
                   "-f", "json", cwd=tmp_path)
    [alert] = alerts_of(run)
    assert alert["detector"] == "watch.new-permissions" and alert["severity"] == "critical"
    assert "cluster-admin" in alert["summary"]
    assert "prod-eu" in alert["identity"]
    assert run.report["stats"]["by_source"] == {"kubernetes": 1}


# ---------------------------------------------------------------- the store remembers


def test_a_rerun_reads_only_what_is_new_and_decisions_stick(tmp_path, stratus):
    log = tmp_path / "trail.json"
    log.write_bytes((stratus / "aws.defense-evasion.cloudtrail-stop.json").read_bytes())
    first = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    [alert] = alerts_of(first)

    again = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert again.code == 0 and alerts_of(again) == []
    assert again.report["stats"]["files_unchanged"] == 1 and again.report["stats"]["events"] == 0
    stored = nhiguard("watch", log, "--store", "s.db", "-f", "json", "--all-alerts", cwd=tmp_path)
    assert [a["id"] for a in alerts_of(stored)] == [alert["id"]]

    listed = nhiguard("alerts", "list", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert [a["id"] for a in alerts_of(listed)] == [alert["id"]]
    decided = nhiguard("alerts", "set", alert["id"][:6], "false_positive", "-m", "our own test trail", "--by",
                       "sec@example.org", "--store", "s.db", cwd=tmp_path)
    assert decided.code == 0, decided.stderr
    [fp] = alerts_of(nhiguard("alerts", "list", "--status", "false_positive", "--store", "s.db", "-f", "json",
                              cwd=tmp_path))
    assert fp["reason"] == "our own test trail" and fp["decided_by"] == "sec@example.org"
    assert alerts_of(nhiguard("alerts", "list", "--status", "open", "--store", "s.db", "-f", "json",
                              cwd=tmp_path)) == []

    reread = nhiguard("watch", log, "--store", "s.db", "-f", "json", "--reread", cwd=tmp_path)
    [same] = alerts_of(reread)
    assert same["id"] == alert["id"] and same["status"] == "false_positive" and same["new"] is False
    assert reread.code == 0  # a false positive does not fail runs
    [counted] = alerts_of(nhiguard("alerts", "list", "--store", "s.db", "-f", "json", cwd=tmp_path))
    assert counted["count"] == 2

    unknown = nhiguard("alerts", "set", "ffffffffff", "resolved", "--store", "s.db", cwd=tmp_path)
    assert unknown.code == 2 and "no alert ffffffffff" in unknown.stderr
    missing = nhiguard("alerts", "list", "--store", "nowhere.db", cwd=tmp_path)
    assert missing.code == 2 and "no store" in missing.stderr


def test_an_appended_file_resumes_where_the_last_run_stopped(tmp_path):
    key = key_id()
    t0 = 1_780_000_000
    log = jsonl(tmp_path / "a.jsonl", [ct(t0 + i * 60, "s3:ListBuckets", key, "3.208.10.1") for i in range(5)])
    first = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert first.report["stats"]["events"] == 5
    with log.open("a") as fh:
        for i in range(3):
            fh.write(json.dumps(ct(t0 + 600 + i * 60, "s3:ListBuckets", key, "3.208.10.1")) + "\n")
    second = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert second.report["stats"]["events"] == 3, second.stderr
    log.write_text(json.dumps(ct(t0, "s3:ListBuckets", key, "3.208.10.1")) + "\n")  # rewritten: read again
    third = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert third.report["stats"]["events"] == 1


# ---------------------------------------------------------------- bad input loses nothing


def test_bad_records_and_files_are_reported_and_the_rest_is_read(tmp_path, stratus, falco):
    logs = tmp_path / "logs"
    logs.mkdir()
    stop = json.loads((stratus / "aws.defense-evasion.cloudtrail-stop.json").read_text())
    stop = stop["Records"][0] if isinstance(stop, dict) and "Records" in stop else stop
    stop = stop[0] if isinstance(stop, list) else stop
    k8s = (falco / "attach_cluster_admin_role.json").read_text().strip().splitlines()[0]
    (logs / "mixed.jsonl").write_bytes(b"\n".join([
        json.dumps(stop).encode(), b"{not json", b'{"eventSource": "s3.amazonaws.com", "eventName": "GetObject"}',
        b"\xff\xfe\x00garbage", k8s.encode(), b'{"hello": "world"}', b""]))
    (logs / "junk.bin").write_bytes(bytes(range(256)) * 64)
    (logs / "empty.json").write_bytes(b"")
    with gzip.open(logs / "cut.json.gz", "wb") as fh:
        fh.write(json.dumps({"Records": [stop] * 3}).encode())
    (logs / "cut.json.gz").write_bytes((logs / "cut.json.gz").read_bytes()[:-12])  # truncated member
    run = nhiguard("watch", logs, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 2, run.stderr  # input problems outrank alerts
    stats = run.report["stats"]
    assert {a["detector"] for a in alerts_of(run)} == {"watch.defence-evasion", "watch.new-permissions"}
    assert stats["malformed"] >= 3  # {not json, a record with no time, invalid UTF-8
    assert stats["unrecognised"] == 1
    assert "mixed.jsonl:2" in run.stderr
    assert any("junk.bin" in e for e in stats["errors"])
    assert stats["by_source"]["cloudtrail"] >= 2  # the gzip's records before the cut were read


def test_stdin_and_gzip_records_files(tmp_path, stratus):
    raw = (stratus / "aws.defense-evasion.cloudtrail-delete.json").read_bytes()
    gz = tmp_path / "123456789012_CloudTrail_us-east-1_20260101T0000Z_abc.json.gz"
    doc = json.loads(raw)
    gz.write_bytes(gzip.compress(json.dumps(doc if isinstance(doc, dict) else {"Records": doc}).encode()))
    from_gz = nhiguard("watch", gz, "--store", "a.db", "-f", "json", cwd=tmp_path)
    from_stdin = nhiguard("watch", "-", "--store", "b.db", "-f", "json", cwd=tmp_path, stdin=raw)
    assert from_gz.code == from_stdin.code == 1
    assert [a["id"] for a in alerts_of(from_gz)] == [a["id"] for a in alerts_of(from_stdin)]


# ---------------------------------------------------------------- a stolen credential in benign activity


def test_a_stolen_deploy_key_is_caught_and_benign_days_are_quiet(tmp_path, stratus):
    days = 5
    start = 1_780_000_000 - 1_780_000_000 % 86400
    benign = list(simulate.benign(days=days, seed=11, scale=0.15, start=start))
    jsonl(tmp_path / "benign.jsonl", benign)
    learn = ("--learning-days", "2", "--min-events", "40")
    quiet = nhiguard("watch", "benign.jsonl", "--store", "s.db", "-f", "json", *learn, cwd=tmp_path)
    assert quiet.report["stats"]["events"] == len(benign)
    loud = [a for a in alerts_of(quiet) if a["severity"] in ("medium", "high", "critical")]
    assert len(loud) <= 1, loud  # benign days raise (almost) nothing that pages anyone
    victim = simulate.Estate(11).victims()[0]  # the CI deployer's access key
    attack = json.loads((stratus / "aws.credential-access.secretsmanager-retrieve-secrets.json").read_text())
    attack = attack["Records"] if isinstance(attack, dict) else attack
    jsonl(tmp_path / "attack.jsonl", simulate.attack_records(attack, victim, start + days * 86400 + 3600,
                                                             "185.220.101.45"))
    run = nhiguard("watch", "attack.jsonl", "--store", "s.db", "-f", "json", *learn, cwd=tmp_path)
    assert run.code == 1, run.stderr
    mine = [a for a in alerts_of(run) if a["identity"] == "aws:" + victim.user_identity["accessKeyId"]]
    found = {a["detector"] for a in mine}
    assert found & {"watch.new-country", "watch.new-network"}, found
    assert found & {"watch.volume-spike", "watch.new-service", "watch.enumeration-burst"}, found
    assert all(a["human"] == "non-human" for a in mine)
    assert any("ci-deployer" in a["identity_name"] for a in mine)


# ---------------------------------------------------------------- leaked secrets tied to their use


def test_a_leaked_access_key_in_use_is_an_alert_naming_the_finding(tmp_path):
    key = key_id()
    repo = tmp_path / "app"
    repo.mkdir()
    (repo / "settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{key}"\n')
    scan = nhiguard("scan", repo, "--store", "s.db", "-f", "json", cwd=tmp_path)
    [finding] = [f for f in scan.report["findings"] if f["rule_id"] == "nhiguard.aws.access-key-id"]
    t0 = 1_780_000_000
    log = jsonl(tmp_path / "trail.jsonl", [ct(t0 + i * 300, "s3:ListBuckets", key, "3.208.10.1") for i in range(3)])
    run = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    [alert] = [a for a in alerts_of(run) if a["detector"] == "watch.leaked-credential-used"]
    assert finding["id"] in alert["summary"] and alert["count"] == 3
    assert alert["inventory_id"] == "finding/" + finding["id"]
    assert alert["evidence"]["leak"].startswith(f"finding {finding['id']}")
    other = jsonl(tmp_path / "other.jsonl", [ct(t0, "s3:ListBuckets", key_id(), "3.208.10.1")])
    assert not [a for a in alerts_of(nhiguard("watch", other, "--store", "s.db", "-f", "json", cwd=tmp_path))
                if a["detector"] == "watch.leaked-credential-used"]


def test_a_leaked_github_token_is_recognised_by_the_audit_logs_hashed_token(tmp_path):
    token = "ghp_" + "".join(secrets.choice(_TOKEN_CHARS) for _ in range(36))
    repo = tmp_path / "app"
    repo.mkdir()
    (repo / "ci.env").write_text(f"GITHUB_TOKEN={token}\n")
    scan = nhiguard("scan", repo, "--store", "s.db", "-f", "json", cwd=tmp_path)
    [finding] = [f for f in scan.report["findings"] if f["rule_id"] == "nhiguard.github.classic-pat"]
    import sqlite3

    stored = sqlite3.connect(tmp_path / "s.db").execute("SELECT digest, finding_id FROM token_hashes").fetchall()
    digest = base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()
    assert stored == [(digest, finding["id"])]
    assert token not in (tmp_path / "s.db").read_bytes().decode("latin-1")
    entry = {"@timestamp": 1_780_000_000_000, "action": "git.clone", "actor": "release-bot", "actor_ip": "45.77.65.211",
             "org": "acme", "repo": "acme/payments", "hashed_token": digest,
             "programmatic_access_type": "Personal access token (classic)", "transport_protocol_name": "http"}
    log = jsonl(tmp_path / "audit.jsonl", [entry])
    run = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    [alert] = [a for a in alerts_of(run) if a["detector"] == "watch.leaked-credential-used"]
    assert alert["identity"] == "github:token:" + digest
    assert alert["inventory_id"] == "finding/" + finding["id"]
    assert token not in run.stdout and token[4:] not in run.stdout


# ---------------------------------------------------------------- hooks and --follow


class _Catch(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_each_new_alert_goes_to_the_webhook_and_the_command(tmp_path, stratus):
    server = HTTPServer(("127.0.0.1", 0), _Catch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    out = tmp_path / "hook.out"
    cmd = f"{sys.executable} -c \"import sys; open({str(out)!r}, 'a').write(sys.stdin.read() + chr(10))\""
    try:
        run = nhiguard("watch", stratus / "aws.defense-evasion.cloudtrail-stop.json", "--store", "s.db", "-f",
                       "json", "--webhook", f"http://127.0.0.1:{server.server_port}/hook", "--exec", cmd,
                       cwd=tmp_path)
        again = nhiguard("watch", stratus / "aws.defense-evasion.cloudtrail-stop.json", "--store", "s.db",
                         "--reread", "-f", "json", "--webhook", f"http://127.0.0.1:{server.server_port}/hook",
                         cwd=tmp_path)
    finally:
        server.shutdown()
    [alert] = alerts_of(run)
    assert run.report["stats"]["hooks"] == {"sent": 2, "failed": 0}
    assert [json.loads(b)["id"] for b in _Catch.bodies] == [alert["id"]]  # the rerun's repeat is not new
    assert json.loads(out.read_text().strip())["detector"] == "watch.defence-evasion"
    assert again.report["stats"]["hooks"] == {"sent": 0, "failed": 0}
    refused = nhiguard("watch", stratus / "aws.defense-evasion.cloudtrail-stop.json", "--store", "t.db",
                       "--webhook", "http://127.0.0.1:9/none", "-f", "json", cwd=tmp_path)
    assert refused.code == 1 and "webhook failed" in refused.stderr  # a dead hook warns, alerts still reported
    assert len(alerts_of(refused)) == 1


def test_follow_streams_alerts_as_lines_are_written_and_saves_on_interrupt(tmp_path, stratus):
    doc = json.loads((stratus / "aws.defense-evasion.cloudtrail-stop.json").read_text())
    record = (doc["Records"] if isinstance(doc, dict) else doc)[0]
    log = tmp_path / "live.jsonl"
    log.write_text("")
    proc = spawn(["watch", log, "--follow", "-f", "jsonl", "--store", "s.db"], cwd=tmp_path)
    try:
        time.sleep(1.5)
        with log.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        line = proc.stdout.readline()  # blocks until the alert is streamed
        assert json.loads(line)["detector"] == "watch.defence-evasion"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err  # the run raised a high alert
    listed = nhiguard("alerts", "list", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert [a["detector"] for a in alerts_of(listed)] == ["watch.defence-evasion"]
    refused = nhiguard("watch", log, log, "--follow", cwd=tmp_path)
    assert refused.code == 2 and "--follow reads one growing file" in refused.stderr


# ---------------------------------------------------------------- a team's shared store


def test_watch_and_alerts_on_postgresql(tmp_path, stratus):
    with pg_schema_url() as url:
        log = stratus / "aws.persistence.iam-create-admin-user.json"
        run = nhiguard("watch", log, "--store", url, "-f", "json", cwd=tmp_path)
        assert run.code == 1, run.stderr
        again = nhiguard("watch", log, "--store", url, "-f", "json", cwd=tmp_path)
        assert again.report["stats"]["files_unchanged"] == 1
        listed = alerts_of(nhiguard("alerts", "list", "--store", url, "-f", "json", cwd=tmp_path))
        assert {a["id"] for a in listed} == {a["id"] for a in alerts_of(run)}
        first = listed[0]["id"]
        assert nhiguard("alerts", "set", first, "acknowledged", "--store", url, cwd=tmp_path).code == 0
        [acked] = alerts_of(nhiguard("alerts", "list", "--status", "acknowledged", "--store", url, "-f", "json",
                                     cwd=tmp_path))
        assert acked["id"] == first


# ---------------------------------------------------------------- from a new user's trial


def test_two_runs_on_one_store_take_turns_and_lose_no_learning(tmp_path):
    key = key_id()
    t0 = 1_780_000_000
    for part in range(2):
        jsonl(tmp_path / f"part{part}.jsonl",
              [ct(t0 + (part * 300 + i) * 60, "s3:ListBuckets", key, "3.208.10.1") for i in range(300)])
    procs = [spawn(["watch", f"part{part}.jsonl", "--store", "s.db", "-f", "json"], cwd=tmp_path) for part in range(2)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    import sqlite3

    [(events,)] = sqlite3.connect(tmp_path / "s.db").execute("SELECT events FROM watch_profiles").fetchall()
    assert events == 600


def test_hooks_from_a_config_file_found_in_the_folder_are_ignored(tmp_path, stratus):
    marker = tmp_path / "ran"
    (tmp_path / "nhiguard.toml").write_text(f'exec_hook = "touch {marker}"\nwebhook = "http://127.0.0.1:9/x"\n')
    run = nhiguard("watch", stratus / "aws.defense-evasion.cloudtrail-stop.json", "--store", "s.db", "-f", "json",
                   cwd=tmp_path)
    assert run.code == 1 and not marker.exists()
    assert "exec_hook, webhook in" in run.stderr and "ignored" in run.stderr
    assert run.report["stats"]["hooks"] is None
    explicit = nhiguard("--config", "nhiguard.toml", "watch", stratus / "aws.defense-evasion.cloudtrail-stop.json",
                        "--store", "t.db", "-f", "json", cwd=tmp_path)
    assert marker.exists() and explicit.report["stats"]["hooks"]["sent"] == 1  # asked for by name: used


@pytest.mark.parametrize("url", ["not-a-url", "file:///etc/passwd", "ftp://127.0.0.1/x"])
def test_a_webhook_must_be_http(tmp_path, stratus, url):
    run = nhiguard("watch", stratus / "aws.defense-evasion.cloudtrail-stop.json", "--store", "s.db", "--webhook", url,
                   cwd=tmp_path)
    assert run.code == 2 and "must be an http:// or https:// URL" in run.stderr


def test_a_secret_in_a_log_field_is_redacted_in_alerts_and_the_store(tmp_path):
    token = "ghp_" + "".join(secrets.choice(_TOKEN_CHARS) for _ in range(36))
    rec = ct(1_780_000_000, "cloudtrail:StopLogging", key_id(), "3.208.10.1", user=token, params={"name": token})
    run = nhiguard("watch", jsonl(tmp_path / "t.jsonl", [rec]), "--store", "s.db", "-f", "json", cwd=tmp_path)
    [alert] = alerts_of(run)
    assert alert["summary"] == "CloudTrail logging stopped: [redacted]"
    assert token not in run.stdout and token.encode() not in (tmp_path / "s.db").read_bytes()


def test_alert_ids_are_hex_prefixes_and_lists_show_status(tmp_path, stratus):
    empty = nhiguard("watch", jsonl(tmp_path / "quiet.jsonl", [ct(1_780_000_000, "s3:ListBuckets", key_id(),
                                                                  "3.208.10.1")]), "--store", "s.db", cwd=tmp_path)
    assert empty.code == 0 and "No alerts." in empty.stdout
    run = nhiguard("watch", stratus / "aws.defense-evasion.cloudtrail-stop.json", "--store", "s.db", "-f", "json",
                   cwd=tmp_path)
    [alert] = alerts_of(run)
    for bad in ("%", "6_3", "", "zz"):
        refused = nhiguard("alerts", "set", bad, "resolved", "--store", "s.db", cwd=tmp_path)
        assert refused.code == 2 and "no alert id" in refused.stderr, bad
    assert nhiguard("alerts", "set", alert["id"][:4].upper(), "resolved", "--store", "s.db", cwd=tmp_path).code == 0
    table = nhiguard("alerts", "list", "--detector", "defence-evasion", "--store", "s.db", cwd=tmp_path)
    assert "[resolved] CloudTrail logging stopped" in table.stdout
    [listed] = alerts_of(nhiguard("alerts", "list", "--store", "s.db", "-f", "json", cwd=tmp_path))
    assert listed["title"] == "Logging or detection switched off" and listed["why"] and listed["new"] is False
    nowhere = nhiguard("alerts", "set", alert["id"], "resolved", "--store", "missing.db", cwd=tmp_path)
    assert nowhere.code == 2 and not (tmp_path / "missing.db").exists()


def test_follow_refuses_folders_and_compressed_files_and_sigterm_is_143(tmp_path, stratus):
    (tmp_path / "d").mkdir()
    for target, why in (("d", "reads one growing file"), ("x.json.gz", "does not grow")):
        run = nhiguard("watch", target, "--follow", "--store", "s.db", cwd=tmp_path)
        assert run.code == 2 and why in run.stderr
    proc = spawn(["watch", "later.jsonl", "--follow", "--store", "s.db"], cwd=tmp_path)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143 and b"waiting for later.jsonl to appear" in err


def test_cloudtrail_delivery_folders_are_learned_in_time_order(tmp_path):
    """AWSLogs/<account>/CloudTrail/<region>/...: one region's days sort before the next
    region's; a workload running in both must not look new, or travel, in the second."""
    key, t0 = key_id(), 1_780_000_000 - 1_780_000_000 % 86400
    for region, ip, offset in (("eu-north-1", "13.48.10.1", 0), ("us-east-1", "34.201.10.1", 600)):
        folder = tmp_path / "AWSLogs" / "123456789012" / "CloudTrail" / region
        folder.mkdir(parents=True)
        for day in range(10):
            recs = [ct(t0 + day * 86400 + h * 3600 + offset, "s3:GetObject", key, ip, user="svc-app")
                    for h in range(24)]
            (folder / f"day{day:02d}.json.gz").write_bytes(gzip.compress(json.dumps({"Records": recs}).encode()))
    run = nhiguard("watch", "AWSLogs", "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert run.code == 0, run.stderr
    assert run.report["stats"]["events"] == 480 and alerts_of(run) == []


def test_a_half_written_last_line_is_read_by_the_next_run(tmp_path):
    key, t0 = key_id(), 1_780_000_000
    whole = json.dumps(ct(t0 + 60, "s3:ListBuckets", key, "3.208.10.1"))
    log = tmp_path / "trail.jsonl"
    log.write_text(json.dumps(ct(t0, "s3:ListBuckets", key, "3.208.10.1")) + "\n" + whole[:40])
    first = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert first.code == 0 and first.report["stats"]["events"] == 1
    assert "the last line is still being written" in first.stderr
    log.write_text(log.read_text()[: -40] + whole + "\n")
    second = nhiguard("watch", log, "--store", "s.db", "-f", "json", cwd=tmp_path)
    assert second.code == 0 and second.report["stats"]["events"] == 1 and second.report["stats"]["malformed"] == 0
