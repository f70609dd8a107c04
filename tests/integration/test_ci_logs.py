"""CI job logs through the real CLI: GitLab traces (ANSI escapes, section markers), GitHub
Actions job logs and log archives (a zip of step logs), each finding with its step and line;
and secrets that masking let through (partly masked, base64 of a secret, set -x traces)."""

from __future__ import annotations

import base64
import io
import secrets
import string
import zipfile

from tests.integration.cli_helpers import nhiguard

ALNUM = string.ascii_letters + string.digits


def gh_token() -> str:
    return "ghp_" + "".join(secrets.choice(ALNUM) for _ in range(36))


def rand(n: int = 24) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def scan(tmp_path, *targets):
    run = nhiguard("scan", *targets, "-f", "json", "--show-secrets", "--store", tmp_path / "s.db",
                   cwd=tmp_path)
    assert "Traceback" not in run.stderr, run.stderr
    return run


def by_secret(report) -> dict[str, dict]:
    return {f["secret"]: f for f in report["findings"]}


def gitlab_trace(token: str, api_key: str) -> bytes:
    esc = "\x1b"
    lines = [
        f"{esc}[0KRunning with gitlab-runner 16.8.0 (c72a09b6){esc}[0;m",
        f"section_start:1700000000:prepare_executor\r{esc}[0K{esc}[0K{esc}[36;1mPreparing the "
        f"\"docker\" executor{esc}[0;m{esc}[0;m",
        f"section_end:1700000001:prepare_executor\r{esc}[0K",
        f"section_start:1700000002:step_script\r{esc}[0K{esc}[0K{esc}[36;1mExecuting \"step_script\" stage{esc}[0;m",
        f"{esc}[32;1m$ ./deploy.sh{esc}[0;m",
        f"{esc}[32;1mAPI_KEY={api_key}{esc}[0;m",  # a colour code glued to the name
        f"deploying with {token}",
        f"section_end:1700000003:step_script\r{esc}[0K",
        f"section_start:1700000004:after_script\r{esc}[0K{esc}[0K{esc}[36;1mRunning after_script{esc}[0;m",
        "done",
        f"section_end:1700000005:after_script\r{esc}[0K",
    ]
    return ("\n".join(lines) + "\n").encode()


def test_a_gitlab_trace_reports_the_section_of_each_secret(tmp_path):
    token, api_key = gh_token(), "Zq" + rand(30)
    (tmp_path / "job.log").write_bytes(gitlab_trace(token, api_key))
    found = by_secret(scan(tmp_path, "job.log").report)
    [loc] = found[token]["locations"]
    assert (loc["line"], loc["step"]) == (7, "step_script")
    # behind a colour code, the name starts a word only once the escapes are gone
    [loc] = found[api_key]["locations"]
    assert (loc["line"], loc["step"], loc["decoded"]) == (6, "step_script", "ansi")


def test_a_github_actions_log_archive_reports_job_step_and_line(tmp_path):
    token, other = gh_token(), gh_token()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("build/1_Set up job.txt", "2024-05-02T08:00:00.0000000Z Current runner version\n")
        zf.writestr("build/3_Run deploy.txt", "2024-05-02T08:00:01.0000000Z ##[group]Run ./deploy.sh\n"
                    f"2024-05-02T08:00:01.1000000Z pushing with {token}\n")
        zf.writestr("1_build.txt", "2024-05-02T08:00:00.0000000Z ##[group]Run actions/checkout@v4\n"
                    "2024-05-02T08:00:00.1000000Z ##[endgroup]\n"
                    "2024-05-02T08:00:01.0000000Z ##[group]Run ./publish.sh\n"
                    f"2024-05-02T08:00:01.2000000Z token {other}\n")
    (tmp_path / "logs_42.zip").write_bytes(buf.getvalue())
    found = by_secret(scan(tmp_path, "logs_42.zip").report)
    [loc] = found[token]["locations"]
    assert (loc["step"], loc["line"], loc["decoded"]) == ("build: Run deploy", 2, "zip:build/3_Run deploy.txt")
    [loc] = found[other]["locations"]
    assert (loc["step"], loc["line"]) == ("build: Run ./publish.sh", 4)


def test_secrets_that_masking_let_through(tmp_path):
    rest, head = "Qm8xV2rT9kLp4sWz7YdB", "Zk4pW9qR2xLm7vT3"
    token, traced = gh_token(), "Xk9#mQ2vLp7rT4w" + rand(6)
    log = "\n".join([
        "2024-05-02T08:00:00.0000000Z ##[group]Run ./release.sh",
        f"2024-05-02T08:00:01.0000000Z Using token ***{rest}",  # masked only in part
        f"2024-05-02T08:00:01.1000000Z key {head}***",
        f"2024-05-02T08:00:02.0000000Z + export DB_PASSWORD={traced}",  # set -x trace
        f"2024-05-02T08:00:03.0000000Z config: {base64.b64encode(f'token={token}'.encode()).decode()}",
        "2024-05-02T08:00:04.0000000Z Using token ***",  # masked in full: nothing to report
        "2024-05-02T08:00:05.0000000Z password: ***",
    ]) + "\n"
    (tmp_path / "run.log").write_text(log)
    run = scan(tmp_path, "run.log")
    found = by_secret(run.report)
    assert found[rest]["rule_id"] == "nhiguard.ci.partially-masked-secret"
    assert found[head]["rule_id"] == "nhiguard.ci.partially-masked-secret-prefix"
    assert found[traced]["rule_id"] == "nhiguard.generic.password-assignment"
    assert found[token]["locations"][0]["decoded"] == "base64"
    assert all(loc["step"] == "Run ./release.sh" for f in found.values() for loc in f["locations"])
    assert set(found) == {rest, head, traced, token}


def test_a_plain_log_has_no_steps(tmp_path):
    token = gh_token()
    (tmp_path / "app.log").write_text(f"INFO starting\nWARN token={token}\n")
    [f] = scan(tmp_path, "app.log").report["findings"]
    assert "step" not in f["locations"][0]
