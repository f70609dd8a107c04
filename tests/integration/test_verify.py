"""`scan --verify` through the real CLI, against real local servers only: the providers'
documented answers from a local HTTP server, AWS STS from moto in server mode, database
URIs against the test PostgreSQL. Nothing leaves the machine: every verifier's endpoint is
pointed at a local server."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import string
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from nhiguard.engine.worker import BlobTask, Worker, WorkerConfig
from nhiguard.rules.loader import load_rules
from nhiguard.sources.base import BytesLoader
from tests.helpers_providers import Providers
from tests.integration.cli_helpers import nhiguard

RULES = {r.id: r for r in load_rules()}
HTTP_CASES = [
    ("github", "nhiguard.github.classic-pat"),
    ("gitlab", "nhiguard.gitlab.pat"),
    ("slack", "nhiguard.slack.bot-token"),
    ("stripe", "nhiguard.stripe.secret-key"),
    ("openai", "nhiguard.openai.api-key"),
    ("anthropic", "nhiguard.anthropic.api-key"),
    ("sendgrid", "nhiguard.sendgrid.api-key"),
    ("npm", "nhiguard.npm.access-token"),
    ("datadog", "nhiguard.datadog.api-key"),
    ("huggingface", "nhiguard.huggingface.access-token"),
]


def secret_of(text: str, rule_id: str) -> str:
    w = Worker(WorkerConfig((RULES[rule_id],), b"k", True, False, None, False))
    [m] = w.run_one(BlobTask(1, BytesLoader(text.encode()), None)).matches
    return m.secret


def another(secret: str) -> str:
    """The same format, another value: a letter or digit past the middle changed (formats
    fix their prefixes and, some, their last characters)."""
    for i in range(len(secret) * 2 // 3, -1, -1):
        c = secret[i]
        if c.isdigit():
            return secret[:i] + str((int(c) + 1) % 10) + secret[i + 1:]
        if c.isalpha():
            alphabet = string.ascii_lowercase if c.islower() else string.ascii_uppercase
            return secret[:i] + alphabet[(alphabet.index(c) + 1) % 26] + secret[i + 1:]
    raise AssertionError(secret)


@pytest.fixture
def providers():
    p = Providers()
    yield p
    p.stop()


def scan_verified(tmp_path, target, providers, *extra, env=None):
    run = nhiguard("scan", target, "-f", "json", "--show-secrets", "--verify", "--store", tmp_path / "s.db",
                   *providers.endpoints(), "--verify-endpoint", f"aws={providers.url}",
                   "--verify-endpoint", "postgres=127.0.0.1:1", *extra, cwd=tmp_path, env=env)
    assert "Traceback" not in run.stderr, run.stderr
    return run


def by_secret(report):
    return {f["secret"]: f for f in report["findings"]}


def test_every_http_provider_live_and_revoked(tmp_path, providers):
    d = tmp_path / "d"
    d.mkdir()
    expected = {}
    for name, rule_id in HTTP_CASES:
        text = RULES[rule_id].examples[0]
        live = secret_of(text, rule_id)
        dead = another(live)
        providers.live.add(live)
        (d / f"{name}.env").write_text(text + "\n" + text.replace(live, dead) + "\n")
        expected[live], expected[dead] = (name, "live"), (name, "revoked")
    sid = "AC" + secrets.token_hex(16)
    tokens = [secrets.token_hex(16), secrets.token_hex(16)]
    (d / "twilio.env").write_text(f"TWILIO_ACCOUNT_SID={sid}\nTWILIO_AUTH_TOKEN={tokens[0]}\n"
                                  f"TWILIO_AUTH_TOKEN_OLD={tokens[1]}\n")
    providers.live.add(f"{sid}:{tokens[0]}")
    expected[tokens[0]], expected[tokens[1]] = ("twilio", "live"), ("twilio", "revoked")
    auth_live = base64.b64encode(b"ci-bot:OJfz7nwUodVF4VQtn75qud").decode()
    auth_dead = base64.b64encode(b"ci-bot:OJfz7nwUodVF4VQtn75quX").decode()
    for n, auth in ((1, auth_live), (2, auth_dead)):
        (d / f"docker{n}.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}}}))
    providers.live.add("ci-bot:OJfz7nwUodVF4VQtn75qud")
    expected[auth_live], expected[auth_dead] = ("dockerhub", "live"), ("dockerhub", "revoked")

    run = scan_verified(tmp_path, "d", providers)
    found = by_secret(run.report)
    got = {s: (found[s]["verification"]["provider"], found[s]["verification"]["status"])
           for s in expected if s in found}
    assert got == expected
    gh = found[next(s for s, (n, st) in expected.items() if n == "github" and st == "live")]["verification"]
    assert gh["identity"] == {"login": "octo-bot", "scopes": ["repo", "workflow"]} and gh["checked_at"].endswith("Z")
    tw = found[tokens[0]]["verification"]
    assert tw["identity"] == {"friendly_name": "Acme", "status": "active"}
    # no raw value in the store, verification or not
    for p in tmp_path.glob("s.db*"):
        data = p.read_bytes()
        assert all(s.encode() not in data for s in expected), p.name


def test_results_are_cached_and_fail_on_live(tmp_path, providers):
    text = RULES["nhiguard.github.classic-pat"].examples[0]
    live = secret_of(text, "nhiguard.github.classic-pat")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.env").write_text(text + "\n")
    first = scan_verified(tmp_path, "d", providers, "--fail-on", "live")
    assert first.code == 0 and providers.calls["github"] == 1  # known to the server: not live
    providers.live.add(live)
    cached = scan_verified(tmp_path, "d", providers, "--fail-on", "live")
    assert cached.code == 0 and providers.calls["github"] == 1  # within verify_ttl: not asked again
    fresh = scan_verified(tmp_path, "d", providers, "--fail-on", "live", env={"NHIGUARD_VERIFY_TTL": "0"})
    assert fresh.code == 1 and providers.calls["github"] == 2
    assert fresh.report["findings"][0]["verification"]["status"] == "live"
    report = nhiguard("report", "--store", tmp_path / "s.db", "-f", "json", cwd=tmp_path)
    assert report.report["findings"][0]["verification"]["status"] == "live"
    usage = nhiguard("scan", "d", "--fail-on", "live", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert usage.code == 2 and "needs --verify" in usage.stderr


def test_unreachable_providers_are_errors_not_failures(tmp_path):
    text = RULES["nhiguard.github.classic-pat"].examples[0]
    (tmp_path / "a.env").write_text(text + "\n")
    run = nhiguard("scan", "a.env", "-f", "json", "--verify", "--store", tmp_path / "s.db",
                   "--verify-endpoint", "github=http://127.0.0.1:9", cwd=tmp_path)
    [f] = run.report["findings"]
    assert f["verification"]["status"] == "error" and "cannot reach github" in f["verification"]["message"]
    assert run.code == 1  # the finding itself still counts


def _github_file(tmp_path):
    text = RULES["nhiguard.github.classic-pat"].examples[0]
    (tmp_path / "d").mkdir(exist_ok=True)
    (tmp_path / "d" / "a.env").write_text(text + "\n")
    return secret_of(text, "nhiguard.github.classic-pat")


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_redirects_are_not_followed_with_the_credential(tmp_path, providers, code):
    live = _github_file(tmp_path)
    providers.live.add(live)
    elsewhere = Providers()  # another origin (another port)
    try:
        elsewhere.live.add(live)
        providers.override["/user"] = (code, {"Location": f"{elsewhere.url}/user?x=1"})
        run = scan_verified(tmp_path, "d", providers)
        [f] = run.report["findings"]
        v = f["verification"]
        assert v["status"] == "error" and "redirect" in v["message"], v
        assert elsewhere.url in v["message"] and "x=1" not in v["message"]
        assert elsewhere.credentials == [] and not elsewhere.calls  # never reached
        assert providers.calls["/user"] == 1
        # a same-origin redirect is not followed either: a verifier's call is one call
        providers.override["/user"] = (code, {"Location": "/elsewhere"})
        again = scan_verified(tmp_path, "d", providers)
        assert again.report["findings"][0]["verification"]["status"] == "error"
        assert providers.calls["/user"] == 2  # an error is not cached: asked again
    finally:
        elsewhere.stop()


def test_errors_are_not_cached_answers_are(tmp_path, providers):
    live = _github_file(tmp_path)
    providers.live.add(live)
    providers.override["/user"] = (503, {})
    first = scan_verified(tmp_path, "d", providers)
    v = first.report["findings"][0]["verification"]
    assert v["status"] == "error" and "HTTP 503" in v["message"]
    # the store keeps what this scan saw, for its report
    report = nhiguard("report", "--store", tmp_path / "s.db", "-f", "json", cwd=tmp_path)
    assert report.report["findings"][0]["verification"]["status"] == "error"
    del providers.override["/user"]
    second = scan_verified(tmp_path, "d", providers)  # within verify_ttl, yet asked again
    assert second.report["findings"][0]["verification"]["status"] == "live"
    assert providers.calls["/user"] == 1 and providers.calls["github"] == 1
    third = scan_verified(tmp_path, "d", providers)  # an answer is cached
    assert third.report["findings"][0]["verification"]["status"] == "live"
    assert providers.calls["github"] == 1
    # no answer at all (nothing listens): not cached either
    unreachable = tmp_path / "u"
    unreachable.mkdir()
    (unreachable / "a.env").write_text((tmp_path / "d" / "a.env").read_text())
    for _ in (1, 2):
        run = nhiguard("scan", "u", "-f", "json", "--verify", "--store", tmp_path / "u.db",
                       "--verify-endpoint", "github=http://127.0.0.1:9", cwd=tmp_path)
        assert run.report["findings"][0]["verification"]["status"] == "error"
    run = nhiguard("scan", "u", "-f", "json", "--verify", "--store", tmp_path / "u.db",
                   "--verify-endpoint", f"github={providers.url}", cwd=tmp_path)
    assert run.report["findings"][0]["verification"]["status"] == "live"


@pytest.mark.parametrize("endpoint,message", [
    ("githbu=http://127.0.0.1:9", "'githbu' is not a verifier's provider; valid providers: "),
    ("aws_sts=http://127.0.0.1:9", "valid providers: anthropic, aws, datadog"),
    ("github=file:///etc/passwd", "not an http:// or https:// URL"),
    ("github=ftp://127.0.0.1/", "not an http:// or https:// URL"),
    ("github=127.0.0.1:8080", "not an http:// or https:// URL"),
    ("github=http://", "not an http:// or https:// URL with a host"),
    ("github=http://u:p@127.0.0.1:9", "must not hold a user name or password"),
    ("postgres=http://127.0.0.1:5432", "not a http:// URL"),
    ("github", "is not PROVIDER=URL"),
])
def test_bad_verify_endpoints_are_usage_errors(tmp_path, endpoint, message):
    (tmp_path / "a.env").write_text("nothing\n")
    run = nhiguard("scan", "a.env", "--verify", "--verify-endpoint", endpoint,
                   "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert "p@127" not in run.stderr  # a password in an endpoint is not echoed
    (tmp_path / "nhiguard.toml").write_text(f"verify = true\nverify_endpoints = [{json.dumps(endpoint)}]\n")
    conf = nhiguard("scan", "a.env", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert conf.code == 2 and message in conf.stderr


def test_provider_names_match_whatever_their_case(tmp_path, providers):
    live = _github_file(tmp_path)
    providers.live.add(live)
    run = nhiguard("scan", "d", "-f", "json", "--verify", "--store", tmp_path / "s.db",
                   "--verify-endpoint", f"GitHub={providers.url}/",
                   "--verify-endpoint", "POSTGRES=postgresql://127.0.0.1:1", cwd=tmp_path)
    assert run.code == 1, run.stderr
    v = run.report["findings"][0]["verification"]
    assert (v["provider"], v["status"]) == ("github", "live") and providers.calls["github"] == 1


# --------------------------------------------------------------------------- AWS via moto


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def moto(tmp_path):
    port = _free_port()
    # the first calls (creating the user and key) pass unauthenticated; then moto checks keys
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4", AWS_ACCESS_KEY_ID="testing",
               AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


def test_aws_keys_against_moto_sts(tmp_path, moto):
    import boto3

    iam = boto3.client("iam", endpoint_url=moto, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    iam.create_user(UserName="deployer")
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    bogus_id = "AKIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "aws.ini").write_text(
        f"[default]\naws_access_key_id = {key['AccessKeyId']}\naws_secret_access_key = {key['SecretAccessKey']}\n")
    (tmp_path / "dead").mkdir()
    (tmp_path / "dead" / "aws.ini").write_text(
        f"[default]\naws_access_key_id = {bogus_id}\naws_secret_access_key = {key['SecretAccessKey'][::-1]}\n")
    run = nhiguard("scan", "live", "dead", "-f", "json", "--show-secrets", "--verify", "--store", tmp_path / "s.db",
                   "--verify-endpoint", f"aws={moto}", cwd=tmp_path)
    found = by_secret(run.report)
    live_id = found[key["AccessKeyId"]]["verification"]
    assert live_id["status"] == "live" and live_id["identity"]["Arn"].endswith(":user/deployer")
    assert found[key["SecretAccessKey"]]["verification"]["status"] == "live"
    assert found[bogus_id]["verification"]["status"] == "revoked"
    assert "InvalidClientTokenId" in found[bogus_id]["verification"]["message"]


# --------------------------------------------------------------------------- PostgreSQL URIs


def test_database_uris_against_the_test_postgresql(tmp_path):
    from sqlalchemy.engine import make_url

    from tests.helpers_pg import pg_base_url

    base = make_url(pg_base_url())
    role, password = "v_" + uuid.uuid4().hex[:8], "Pw" + secrets.token_hex(8)
    import psycopg

    admin = psycopg.connect(host=base.host, port=base.port or 5432, user=base.username,
                            password=base.password, dbname=base.database, autocommit=True)
    admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    try:
        host = f"{base.host}:{base.port or 5432}"
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "app.env").write_text(
            f"DATABASE_URL=postgres://{role}:{password}@{host}/{base.database}\n"
            f"OLD_DATABASE_URL=postgres://{role}:{password}x9Q@{host}/{base.database}\n")
        run = nhiguard("scan", "d", "-f", "json", "--show-secrets", "--verify", "--store", tmp_path / "s.db",
                       cwd=tmp_path)
        found = by_secret(run.report)
        assert found[password]["verification"]["status"] == "live"
        assert found[password]["verification"]["identity"]["user"] == role
        assert found[password + "x9Q"]["verification"]["status"] == "revoked"
    finally:
        admin.execute(f"DROP ROLE {role}")
        admin.close()
