"""Every ci-audit check on a file that must raise it and on one like it that must not."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from nhiguard.posture.checks import CHECKS
from nhiguard.posture.ci_audit import audit

GH = ".github/workflows/ci.yml"
GL = ".gitlab-ci.yml"

# (case name, check id, file name, content, raised?)
CASES = [
    # ------------------------------------------------------------------ static cloud keys
    ("gh-aws-keys-in-configure-action", "ci.static-cloud-credentials", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          deploy:
            runs-on: ubuntu-latest
            steps:
              - uses: aws-actions/configure-aws-credentials@v4
                with:
                  aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}
                  aws-secret-access-key: ${{ secrets.AWS_SECRET_ACCESS_KEY }}
                  aws-region: eu-west-1
        """, True),
    ("gh-aws-oidc-role", "ci.static-cloud-credentials", GH, """
        on: push
        permissions: {contents: read, id-token: write}
        jobs:
          deploy:
            runs-on: ubuntu-latest
            steps:
              - uses: aws-actions/configure-aws-credentials@v4
                with:
                  role-to-assume: arn:aws:iam::123456789012:role/deploy
                  aws-region: eu-west-1
        """, False),
    ("gh-gcp-key-json-in-env", "ci.static-cloud-credentials", GH, """
        on: push
        permissions: {contents: read}
        env:
          GOOGLE_CREDENTIALS: ${{ secrets.GCP_DEPLOY_KEY }}
        jobs:
          tf:
            runs-on: ubuntu-latest
            steps:
              - run: terraform plan
        """, True),
    ("gh-gcp-workload-identity", "ci.static-cloud-credentials", GH, """
        on: push
        permissions: {contents: read, id-token: write}
        jobs:
          tf:
            runs-on: ubuntu-latest
            steps:
              - uses: google-github-actions/auth@v2
                with:
                  workload_identity_provider: projects/1/locations/global/workloadIdentityPools/gh/providers/gh
                  service_account: deploy@proj.iam.gserviceaccount.com
        """, False),
    ("gl-aws-keys-in-deploy", "ci.static-cloud-credentials", GL, """
        deploy:
          stage: deploy
          script:
            - aws configure set aws_access_key_id $AWS_ACCESS_KEY_ID
            - aws s3 sync dist s3://bucket
        """, True),
    ("gl-id-tokens", "ci.static-cloud-credentials", GL, """
        deploy:
          id_tokens:
            AWS_TOKEN:
              aud: sts.amazonaws.com
          script:
            - aws sts assume-role-with-web-identity --web-identity-token $AWS_TOKEN --role-arn $ROLE
        """, False),
    # ------------------------------------------------------------------ untrusted code
    ("gh-prt-checks-out-head-with-secrets", "ci.untrusted-code-with-secrets", GH, """
        on: pull_request_target
        permissions: {contents: read}
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with:
                  ref: ${{ github.event.pull_request.head.sha }}
              - run: npm test
                env:
                  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}
        """, True),
    ("gh-prt-base-checkout", "ci.untrusted-code-with-secrets", GH, """
        on: pull_request_target
        permissions: {contents: read, pull-requests: write}
        jobs:
          label:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - uses: actions/labeler@v5
        """, False),
    ("gh-pull-request-head-is-fine", "ci.untrusted-code-with-secrets", GH, """
        on: pull_request
        permissions: {contents: read}
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with:
                  ref: ${{ github.event.pull_request.head.sha }}
        """, False),
    ("gh-prt-gh-pr-checkout", "ci.untrusted-code-with-secrets", GH, """
        on: pull_request_target
        permissions: {contents: read}
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: gh pr checkout ${{ github.event.number }} && make test
                env:
                  GH_TOKEN: ${{ github.token }}
                  DEPLOY_KEY: ${{ secrets.DEPLOY_KEY }}
        """, True),
    ("gh-prt-fork-repository", "ci.untrusted-code-with-secrets", GH, """
        on: pull_request_target
        permissions: {contents: read}
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with:
                  repository: ${{ github.event.pull_request.head.repo.full_name }}
              - run: make test
                env:
                  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}
        """, True),
    ("gh-prt-merge-commit", "ci.untrusted-code-with-secrets", GH, """
        on: pull_request_target
        permissions: {contents: read}
        jobs:
          test:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with:
                  ref: ${{ github.event.pull_request.merge_commit_sha }}
              - run: make test
                env:
                  NPM_TOKEN: ${{ secrets.NPM_TOKEN }}
        """, True),
    # ------------------------------------------------------------------ printed secrets
    ("gh-echo-secret-env", "ci.secret-printed", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          build:
            runs-on: ubuntu-latest
            env:
              API_TOKEN: ${{ secrets.API_TOKEN }}
            steps:
              - run: echo "token is $API_TOKEN"
        """, True),
    ("gh-secret-to-artifact", "ci.secret-printed", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - run: ./build.sh && echo "$SIGNING_KEY" > key.pem && ./sign.sh
                env:
                  SIGNING_KEY: ${{ secrets.SIGNING_KEY }}
              - uses: actions/upload-artifact@v4
                with:
                  path: .
        """, True),
    ("gh-secret-used-not-printed", "ci.secret-printed", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - run: 'curl -sf -H "Authorization: Bearer $API_TOKEN" https://api.example.test/deploy'
                env:
                  API_TOKEN: ${{ secrets.API_TOKEN }}
        """, False),
    ("gl-echo-token", "ci.secret-printed", GL, """
        build:
          script:
            - echo "deploying with $DEPLOY_TOKEN"
        """, True),
    ("gl-token-used", "ci.secret-printed", GL, """
        build:
          script:
            - 'curl -H "PRIVATE-TOKEN: $DEPLOY_TOKEN" https://gitlab.example.test/api/v4/projects'
        """, False),
    ("gh-secret-piped-into-login", "ci.secret-printed", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          push:
            runs-on: ubuntu-latest
            env:
              REGISTRY_PASSWORD: ${{ secrets.REGISTRY_PASSWORD }}
              GH_BOT_TOKEN: ${{ secrets.GH_BOT_TOKEN }}
            steps:
              - run: |
                  echo "::add-mask::$REGISTRY_PASSWORD"
                  echo "$REGISTRY_PASSWORD" | docker login -u ci --password-stdin registry.example.test
                  echo "$GH_BOT_TOKEN" | gh auth login --with-token
                  echo "password=$REGISTRY_PASSWORD" >> "$GITHUB_OUTPUT"
                  curl -sf -H "Authorization: token $GH_BOT_TOKEN" https://api.example.test > out.json
        """, False),
    ("gh-secret-base64-printed", "ci.secret-printed", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          debug:
            runs-on: ubuntu-latest
            steps:
              - run: |
                  npm ci
                  echo "$KEY" | base64
                env:
                  KEY: ${{ secrets.KEY }}
        """, True),
    ("gl-reference-prints-token", "ci.secret-printed", GL, """
        .debug:
          script:
            - echo "using $DEPLOY_TOKEN"
        build:
          script:
            - make
            - !reference [.debug, script]
        """, True),
    ("gl-token-into-login", "ci.secret-printed", GL, """
        build:
          script:
            - echo "$REGISTRY_PASSWORD" | docker login -u ci --password-stdin "$CI_REGISTRY"
            - echo "logged in" && docker push app
        """, False),
    # ------------------------------------------------------------------ permissions
    ("gh-no-permissions", "ci.token-permissions", GH, """
        on: push
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - run: make
        """, True),
    ("gh-write-all", "ci.token-permissions", GH, """
        on: push
        permissions: write-all
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - run: make
        """, True),
    ("gh-least-permissions", "ci.token-permissions", GH, """
        on: push
        permissions:
          contents: read
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - run: make
        """, False),
    # ------------------------------------------------------------------ long-lived tokens
    ("gh-pat-for-checkout", "ci.long-lived-token", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          sync:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
                with:
                  token: ${{ secrets.BOT_PAT }}
        """, True),
    ("gh-app-token", "ci.long-lived-token", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          sync:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/create-github-app-token@v1
                id: app
                with:
                  app-id: ${{ vars.APP_ID }}
                  private-key: ${{ secrets.APP_PRIVATE_KEY }}
              - uses: actions/checkout@v4
                with:
                  token: ${{ steps.app.outputs.token }}
        """, False),
    # ------------------------------------------------------------------ production deploys
    ("gh-prod-deploy-without-environment", "ci.unprotected-production-deploy", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          deploy-prod:
            runs-on: ubuntu-latest
            steps:
              - run: helm upgrade api ./chart --namespace production
        """, True),
    ("gh-prod-deploy-with-environment", "ci.unprotected-production-deploy", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          deploy-prod:
            runs-on: ubuntu-latest
            environment: production
            steps:
              - run: helm upgrade api ./chart --namespace production
        """, False),
    ("gh-production-build-staging-deploy", "ci.unprotected-production-deploy", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          deploy-staging:
            runs-on: ubuntu-latest
            steps:
              - run: NODE_ENV=production npm run build && npx vite build --mode production
              - run: npm ci --production && kubectl apply -f k8s/staging
        """, False),
    ("gl-production-build-staging-deploy", "ci.unprotected-production-deploy", GL, """
        deploy_staging:
          script:
            - RAILS_ENV=production bundle exec rake assets:precompile
            - ng build --configuration production
            - helm upgrade --install app ./chart -f values-staging.yaml
        """, False),
    ("gl-prod-deploy-without-environment", "ci.unprotected-production-deploy", GL, """
        deploy_production:
          script:
            - kubectl apply -f k8s/
        """, True),
    ("gl-prod-deploy-with-environment", "ci.unprotected-production-deploy", GL, """
        deploy_production:
          environment:
            name: production
          when: manual
          script:
            - kubectl apply -f k8s/
        """, False),
    # ------------------------------------------------------------------ shared secrets
    ("gh-one-secret-for-staging-and-prod", "ci.secret-shared-across-environments", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          deploy-staging:
            runs-on: ubuntu-latest
            steps:
              - run: ./deploy.sh staging
                env: {DEPLOY_KEY: "${{ secrets.DEPLOY_KEY }}"}
          deploy-prod:
            runs-on: ubuntu-latest
            environment: production
            steps:
              - run: ./deploy.sh prod
                env: {DEPLOY_KEY: "${{ secrets.DEPLOY_KEY }}"}
        """, True),
    ("gh-environment-secrets", "ci.secret-shared-across-environments", GH, """
        on: push
        permissions: {contents: read}
        jobs:
          deploy-staging:
            runs-on: ubuntu-latest
            environment: staging
            steps:
              - run: ./deploy.sh
                env: {DEPLOY_KEY: "${{ secrets.DEPLOY_KEY }}"}
          deploy-prod:
            runs-on: ubuntu-latest
            environment: production
            steps:
              - run: ./deploy.sh
                env: {DEPLOY_KEY: "${{ secrets.DEPLOY_KEY }}"}
        """, False),
    ("gl-one-variable-for-dev-and-prod", "ci.secret-shared-across-environments", GL, """
        deploy_dev:
          script: ["./deploy.sh --token $DEPLOY_TOKEN"]
        deploy_prod:
          environment: production
          script: ["./deploy.sh --token $DEPLOY_TOKEN"]
        """, True),
    ("gl-each-job-sets-its-own-variable", "ci.secret-shared-across-environments", GL, """
        deploy_dev:
          variables: {DEPLOY_TOKEN: $DEV_DEPLOY_TOKEN}
          script: ["./deploy.sh --token $DEPLOY_TOKEN"]
        deploy_prod:
          environment: production
          variables: {DEPLOY_TOKEN: $PROD_DEPLOY_TOKEN}
          script: ["./deploy.sh --token $DEPLOY_TOKEN"]
        """, False),
    # ------------------------------------------------------------------ OIDC trust
    ("json-trust-deny-statement-only", "ci.oidc-trust-unrestricted", "policies/guard.json", """
        {"Version": "2012-10-17", "Statement": [
          {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
           "Action": "sts:AssumeRoleWithWebIdentity",
           "Condition": {"StringEquals": {"token.actions.githubusercontent.com:sub": "repo:acme/api:environment:production",
                                          "token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}},
          {"Effect": "Deny", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
           "Action": "sts:AssumeRoleWithWebIdentity",
           "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/*:pull_request"}}}]}
        """, False),
    ("tf-deny-statement-and-pinned-allow", "ci.oidc-trust-unrestricted", "infra/guard.tf", """
        resource "aws_iam_role" "deploy" {
          name = "gh-deploy"
          assume_role_policy = jsonencode({
            Version = "2012-10-17"
            Statement = [{
              Effect    = "Allow"
              Action    = "sts:AssumeRoleWithWebIdentity"
              Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
              Condition = { StringEquals = {
                "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
                "token.actions.githubusercontent.com:sub" = "repo:acme/api:ref:refs/heads/main"
              } }
            }, {
              Effect    = "Deny"
              Action    = "sts:AssumeRoleWithWebIdentity"
              Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
              Condition = { StringLike = { "token.actions.githubusercontent.com:sub" = "repo:*" } }
            }]
          })
        }
        """, False),
    ("tf-org-wildcard-pinned-branch", "ci.oidc-trust-unrestricted", "infra/org.tf", """
        data "aws_iam_policy_document" "gh" {
          statement {
            effect  = "Allow"
            actions = ["sts:AssumeRoleWithWebIdentity"]
            principals {
              type        = "Federated"
              identifiers = ["arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]
            }
            condition {
              test     = "StringLike"
              variable = "token.actions.githubusercontent.com:sub"
              values   = ["repo:acme/*:ref:refs/heads/main"]
            }
            condition {
              test     = "StringEquals"
              variable = "token.actions.githubusercontent.com:aud"
              values   = ["sts.amazonaws.com"]
            }
          }
          statement {
            effect  = "Deny"
            actions = ["sts:AssumeRoleWithWebIdentity"]
            principals {
              type        = "Federated"
              identifiers = ["arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]
            }
          }
        }
        """, True),
    ("tf-trust-without-sub", "ci.oidc-trust-unrestricted", "infra/iam.tf", """
        resource "aws_iam_role" "deploy" {
          name = "gh-deploy"
          assume_role_policy = jsonencode({
            Version = "2012-10-17"
            Statement = [{
              Effect    = "Allow"
              Action    = "sts:AssumeRoleWithWebIdentity"
              Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
              Condition = { StringEquals = { "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com" } }
            }]
          })
        }
        """, True),
    ("tf-trust-with-repo-and-branch", "ci.oidc-trust-unrestricted", "infra/iam.tf", """
        resource "aws_iam_role" "deploy" {
          name = "gh-deploy"
          assume_role_policy = jsonencode({
            Version = "2012-10-17"
            Statement = [{
              Effect    = "Allow"
              Action    = "sts:AssumeRoleWithWebIdentity"
              Principal = { Federated = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com" }
              Condition = { StringEquals = {
                "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
                "token.actions.githubusercontent.com:sub" = "repo:acme/api:ref:refs/heads/main"
              } }
            }]
          })
        }
        """, False),
    ("json-trust-any-repo-wildcard", "ci.oidc-trust-unrestricted", "policies/trust.json", """
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
          "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},
          "Action": "sts:AssumeRoleWithWebIdentity",
          "Condition": {"StringLike": {"token.actions.githubusercontent.com:sub": "repo:*"},
                        "StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}]}
        """, True),
    ("tf-policy-document-pinned", "ci.oidc-trust-unrestricted", "infra/trust.tf", """
        data "aws_iam_policy_document" "gh" {
          statement {
            actions = ["sts:AssumeRoleWithWebIdentity"]
            principals {
              type        = "Federated"
              identifiers = [aws_iam_openid_connect_provider.github.arn]
            }
            condition {
              test     = "StringEquals"
              variable = "token.actions.githubusercontent.com:sub"
              values   = ["repo:acme/api:environment:production"]
            }
            condition {
              test     = "StringEquals"
              variable = "token.actions.githubusercontent.com:aud"
              values   = ["sts.amazonaws.com"]
            }
          }
        }
        """, False),
]


@pytest.mark.parametrize("name,check_id,filename,content,raised", CASES, ids=[c[0] for c in CASES])
def test_check_on_its_fixture(tmp_path: Path, name, check_id, filename, content, raised):
    path = tmp_path / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(content).lstrip())
    result = audit([str(tmp_path)])
    assert not result.errors, result.errors
    ids = [i.check.id for i in result.issues]
    assert (check_id in ids) == raised, [i.message for i in result.issues]
    for issue in result.issues:
        assert issue.check.owasp and issue.locations and issue.locations[0].line >= 1


def test_every_check_has_a_positive_and_a_negative_fixture():
    covered = {(c[1], c[4]) for c in CASES}
    for check_id in CHECKS:
        if check_id == "ci.unreadable-config":
            continue
        assert (check_id, True) in covered and (check_id, False) in covered, check_id


def test_issues_point_at_the_lines_that_hold_them(tmp_path: Path):
    wf = tmp_path / GH
    wf.parent.mkdir(parents=True)
    wf.write_text(textwrap.dedent(CASES[0][3]).lstrip())
    [issue] = [i for i in audit([str(tmp_path)]).issues if i.check.id == "ci.static-cloud-credentials"]
    lines = wf.read_text().splitlines()
    assert [lines[loc.line - 1].strip().split(":")[0] for loc in issue.locations] == [
        "aws-access-key-id", "aws-secret-access-key"]
    assert issue.locations[0].context == {"job": "deploy", "step": "aws-actions/configure-aws-credentials@v4"}
    assert issue.evidence["secrets"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]


def test_bad_files_are_reported_and_the_others_audited(tmp_path: Path):
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "broken.yml").write_text("jobs: [unclosed\n  - x: {\n")
    (tmp_path / ".github" / "workflows" / "binary.yml").write_bytes(b"\xff\xfe\x00bad")
    (tmp_path / ".github" / "workflows" / "ok.yml").write_text(textwrap.dedent(CASES[0][3]).lstrip())
    result = audit([str(tmp_path), str(tmp_path / "missing")])
    assert {p.rsplit("/", 1)[-1] for p, _ in result.errors} == {"broken.yml", "binary.yml", "missing"}
    assert "ci.static-cloud-credentials" in {i.check.id for i in result.issues}


def _issues(tmp_path: Path, filename: str, content: str, check_id: str):
    path = tmp_path / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(content).lstrip())
    return [i for i in audit([str(tmp_path)]).issues if i.check.id == check_id]


def _case(name: str) -> tuple:
    return next(c for c in CASES if c[0] == name)


def test_a_secret_written_to_a_file_that_is_uploaded_is_high_else_medium(tmp_path: Path):
    _, check, filename, content, _ = _case("gh-secret-to-artifact")
    [uploaded] = _issues(tmp_path / "a", filename, content, check)
    assert uploaded.level.name == "HIGH" and "key.pem" in uploaded.message and "uploads artifacts" in uploaded.message
    kept = content.replace("- uses: actions/upload-artifact@v4", "- uses: actions/cache@v4")
    [local] = _issues(tmp_path / "b", filename, kept, check)
    assert local.level.name == "MEDIUM"


def test_printed_secrets_point_at_the_line_of_the_script(tmp_path: Path):
    _, check, filename, content, _ = _case("gh-secret-base64-printed")
    [issue] = _issues(tmp_path, filename, content, check)
    lines = (tmp_path / filename).read_text().splitlines()
    assert lines[issue.locations[0].line - 1].strip() == 'echo "$KEY" | base64'
    _, check, filename, content, _ = _case("gl-reference-prints-token")
    [issue] = _issues(tmp_path / "gl", filename, content, check)
    assert issue.evidence["variable"] == "DEPLOY_TOKEN" and "'build'" in issue.message


def test_trust_messages_say_what_the_subject_allows(tmp_path: Path):
    _, check, filename, content, _ = _case("tf-org-wildcard-pinned-branch")
    [issue] = _issues(tmp_path, filename, content, check)
    assert issue.level.name == "HIGH"
    assert "every repository of acme" in issue.message and "only ref:refs/heads/main" in issue.message
