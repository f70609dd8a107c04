"""The checks of `nhiguard ci-audit`, declared once: id, title, OWASP NHI risks, default
severity and what to do instead. Each check's finder lives with the CI system it reads
(ci_github.py, ci_gitlab.py, ci_trust.py)."""

from __future__ import annotations

from nhiguard.model.issue import Check
from nhiguard.model.severity import Severity

# OWASP Top 10 Non-Human Identities Risks (2025)
NHI2 = "NHI2:2025"  # Secret Leakage
NHI5 = "NHI5:2025"  # Overprivileged NHI
NHI6 = "NHI6:2025"  # Insecure Cloud Deployment Configurations
NHI7 = "NHI7:2025"  # Long-Lived Secrets
NHI8 = "NHI8:2025"  # Environment Isolation
NHI9 = "NHI9:2025"  # NHI Reuse

OWASP_NHI = "https://owasp.org/www-project-non-human-identities-top-10/2025/top-10-2025/"

STATIC_CLOUD_CREDENTIALS = Check(
    "ci.static-cloud-credentials",
    "Static cloud keys in a CI job where workload identity (OIDC) would do",
    (NHI7, NHI6),
    Severity.HIGH,
    "Let the job get short-lived credentials from the cloud with the CI system's OIDC token "
    "(AWS: role-to-assume; GCP: workload_identity_provider; Azure: federated credentials; "
    "GitLab: id_tokens) and delete the stored keys.",
    ("https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect",
     "https://docs.gitlab.com/ee/ci/cloud_services/"),
)
OIDC_TRUST_UNRESTRICTED = Check(
    "ci.oidc-trust-unrestricted",
    "OIDC trust policy that does not restrict which repository, branch or audience may assume it",
    (NHI6, NHI5),
    Severity.CRITICAL,
    "Require the token's subject (repo:ORG/REPO:ref:refs/heads/main or :environment:prod; "
    "GitLab: project_path:GROUP/PROJECT:ref_type:branch:ref:main) with StringEquals, and its "
    "audience (sts.amazonaws.com); never a wildcard over other owners' repositories.",
    ("https://docs.github.com/en/actions/security-for-github-actions/security-hardening-your-deployments/configuring-openid-connect-in-amazon-web-services",),
)
UNTRUSTED_CODE_WITH_SECRETS = Check(
    "ci.untrusted-code-with-secrets",
    "Untrusted pull-request code checked out in a privileged workflow",
    (NHI2,),
    Severity.CRITICAL,
    "Do not check out the pull request's head in pull_request_target or workflow_run "
    "workflows; build untrusted code in a pull_request workflow without secrets, and pass "
    "results through artifacts.",
    ("https://securitylab.github.com/resources/github-actions-preventing-pwn-requests/",),
)
SECRET_PRINTED = Check(
    "ci.secret-printed",
    "A secret printed to the job log, written to a file or interpolated into a script",
    (NHI2,),
    Severity.HIGH,
    "Pass secrets to steps through environment variables, never print them, and keep them "
    "out of files that become artifacts or caches; masking only hides the exact value.",
    ("https://docs.github.com/en/actions/security-for-github-actions/security-guides/security-hardening-for-github-actions#using-secrets",),
)
TOKEN_PERMISSIONS = Check(
    "ci.token-permissions",
    "The job's CI token has default or broad write permissions",
    (NHI5,),
    Severity.MEDIUM,
    "Declare `permissions:` at the top of the workflow with the least access (contents: read) "
    "and grant more per job, only where needed.",
    ("https://docs.github.com/en/actions/security-for-github-actions/security-guides/automatic-token-authentication#modifying-the-permissions-for-the-github_token",),
)
LONG_LIVED_TOKEN = Check(
    "ci.long-lived-token",
    "A personal access token used where the job's own token or an app token would do",
    (NHI7, NHI9),
    Severity.MEDIUM,
    "Use the job's GITHUB_TOKEN with the permissions it needs, or a short-lived GitHub App "
    "installation token (actions/create-github-app-token); a PAT lives long and acts as a person.",
    ("https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/making-authenticated-api-requests-with-a-github-app-in-a-github-actions-workflow",),
)
UNPROTECTED_PRODUCTION_DEPLOY = Check(
    "ci.unprotected-production-deploy",
    "Production deployment without an environment (no protection rules or approval can apply)",
    (NHI6, NHI8),
    Severity.MEDIUM,
    "Run production deployments in a job with `environment: production` and protect that "
    "environment (required reviewers, branch rules; GitLab: protected environments).",
    ("https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-deployments/managing-environments-for-deployment",
     "https://docs.gitlab.com/ee/ci/environments/protected_environments.html"),
)
SECRET_SHARED_ACROSS_ENVIRONMENTS = Check(
    "ci.secret-shared-across-environments",
    "One secret used by jobs of different environments (dev, staging, production)",
    (NHI8, NHI9),
    Severity.MEDIUM,
    "Give each environment its own credential (environment secrets; GitLab: variables scoped "
    "to an environment), so that a leak in dev does not open production.",
    ("https://docs.github.com/en/actions/managing-workflow-runs-and-deployments/managing-deployments/managing-environments-for-deployment#environment-secrets",),
)
UNREADABLE_CONFIG = Check(
    "ci.unreadable-config",
    "A CI configuration file that could not be read",
    (),
    Severity.INFO,
    "Fix the file; nothing in it was audited.",
)

CHECKS = {c.id: c for c in (
    STATIC_CLOUD_CREDENTIALS, OIDC_TRUST_UNRESTRICTED, UNTRUSTED_CODE_WITH_SECRETS, SECRET_PRINTED,
    TOKEN_PERMISSIONS, LONG_LIVED_TOKEN, UNPROTECTED_PRODUCTION_DEPLOY,
    SECRET_SHARED_ACROSS_ENVIRONMENTS, UNREADABLE_CONFIG,
)}
