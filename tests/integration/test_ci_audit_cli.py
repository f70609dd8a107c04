"""`nhiguard ci-audit` through the real CLI: formats (SARIF valid against its schema), exit
codes and --fail-on, and a repository with workflows, GitLab CI and Terraform together."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from tests.integration.cli_helpers import nhiguard

SARIF_SCHEMA = json.loads((Path(__file__).parent.parent / "data" / "sarif" / "sarif-schema-2.1.0.json")
                          .read_text("utf-8"))

RELEASE = """
name: release
on:
  push:
    tags: ["v*"]
jobs:
  publish:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: aws-actions/configure-aws-credentials@v4
        with:
          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}
          aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
          aws-region: us-east-1
      - run: aws s3 sync dist s3://releases-production
"""
GITLAB = """
stages: [build, deploy]
.deploy: &deploy
  image: alpine
  before_script:
    - echo "using $REGISTRY_PASSWORD"
deploy_prod:
  <<: *deploy
  stage: deploy
  script:
    - kubectl apply -f k8s/
"""
TRUST = """
resource "aws_iam_role" "ci" {
  assume_role_policy = jsonencode({
    Statement = [{
      Principal = { Federated = "arn:aws:iam::1:oidc-provider/token.actions.githubusercontent.com" }
      Action = "sts:AssumeRoleWithWebIdentity"
    }]
  })
}
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / ".github" / "workflows").mkdir(parents=True)
    (root / ".github" / "workflows" / "release.yml").write_text(textwrap.dedent(RELEASE).lstrip())
    (root / ".gitlab-ci.yml").write_text(textwrap.dedent(GITLAB).lstrip())
    (root / "infra").mkdir()
    (root / "infra" / "iam.tf").write_text(TRUST)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "trust.json").write_text('{"a": "token.actions.githubusercontent.com"}')
    return root


def test_a_repository_is_audited_in_every_format(repo: Path, tmp_path: Path):
    run = nhiguard("ci-audit", repo, "-f", "json", cwd=tmp_path)
    assert run.code == 1, run.stderr
    doc = run.report
    got = {(i["check_id"], Path(i["locations"][0]["path"]).name) for i in doc["issues"]}
    assert got == {
        ("ci.static-cloud-credentials", "release.yml"),
        ("ci.token-permissions", "release.yml"),
        ("ci.unprotected-production-deploy", "release.yml"),
        ("ci.secret-printed", ".gitlab-ci.yml"),
        ("ci.unprotected-production-deploy", ".gitlab-ci.yml"),
        ("ci.oidc-trust-unrestricted", "iam.tf"),
    }
    assert len(doc["audit"]["files"]) == 3  # node_modules is not read
    assert all(i["owasp"] and i["advice"] for i in doc["issues"])
    assert doc["issues"][0]["severity"] == "critical"  # most severe first

    sarif = nhiguard("ci-audit", repo, "-f", "sarif", cwd=tmp_path)
    jsonschema.validate(json.loads(sarif.stdout), SARIF_SCHEMA)
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {c for c, _ in got}
    rules = json.loads(sarif.stdout)["runs"][0]["tool"]["driver"]["rules"]
    assert all("NHI" in " ".join(r["properties"]["tags"]) for r in rules)

    rows = list(csv.reader(io.StringIO(nhiguard("ci-audit", repo, "-f", "csv", cwd=tmp_path).stdout)))
    assert rows[0] == ["check_id", "severity", "owasp", "path", "line", "job", "step", "message"] and len(rows) >= 7
    by_check = {r[0]: r for r in rows[1:]}
    assert by_check["ci.static-cloud-credentials"][5:7] == ["publish", "aws-actions/configure-aws-credentials@v4"]

    lines = nhiguard("ci-audit", repo, "-f", "jsonl", cwd=tmp_path).stdout.splitlines()
    assert len(lines) == len(doc["issues"]) and all(json.loads(x)["check_id"] for x in lines)

    table = nhiguard("ci-audit", repo, cwd=tmp_path, env={"COLUMNS": "200"})
    assert "ci.oidc-trust-unrestricted" in table.stdout and "NHI6:2025" in table.stdout


def test_fail_on_and_exit_codes(repo: Path, tmp_path: Path):
    (repo / "infra" / "iam.tf").unlink()  # what is left is high at most
    assert nhiguard("ci-audit", repo, "--fail-on", "critical", "-f", "json", cwd=tmp_path).code == 0
    assert nhiguard("ci-audit", repo, "--fail-on", "high", "-f", "json", cwd=tmp_path).code == 1
    clean = tmp_path / "clean"
    clean.mkdir()
    assert nhiguard("ci-audit", clean, cwd=tmp_path).code == 0
    missing = nhiguard("ci-audit", repo, tmp_path / "nope", "-f", "json", cwd=tmp_path)
    assert missing.code == 2 and "no such file" in missing.stderr and missing.report["issues"]


def test_output_file(repo: Path, tmp_path: Path):
    out = tmp_path / "audit.sarif"
    run = nhiguard("ci-audit", repo, "-f", "sarif", "-o", out, cwd=tmp_path)
    assert run.code == 1 and run.stdout == "" and json.loads(out.read_text())["version"] == "2.1.0"


def test_bad_files_say_what_is_wrong_and_empty_files_are_not_errors(tmp_path: Path):
    wf = tmp_path / "repo" / ".github" / "workflows"
    wf.mkdir(parents=True)
    (wf / "empty.yml").write_text("")
    (wf / "latin1.yml").write_bytes("name: caf\xe9\n".encode("latin-1"))
    for n in range(4):
        (wf / f"broken{n}.yml").write_text("jobs: [\n")
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  db:\n    image: postgres\n")
    run = nhiguard("ci-audit", tmp_path / "repo", compose, "-f", "json", cwd=tmp_path)
    assert run.code == 2
    errors = {Path(e["path"]).name: e["message"] for e in run.report["audit"]["errors"]}
    assert "empty.yml" not in errors
    assert errors["latin1.yml"] == "not UTF-8 text (byte 9)"
    assert errors["docker-compose.yml"] == "neither a GitHub Actions workflow nor a GitLab CI file"
    assert len(errors) == 6
    assert run.stderr.count("nhiguard: ") == 4 and "... and 3 more" in run.stderr
