"""What kind of client a user agent names: an SDK or infrastructure tool running on a
server, a CLI on a desktop operating system, a browser (the AWS console, the GitHub web
UI), a CI runner, or an AWS service acting for the account. Server-only credentials seen
from a desktop or a browser are one of the signals of a stolen key."""

from __future__ import annotations

import re
from functools import lru_cache

SDK, CLI_SERVER, CLI_DESKTOP, BROWSER, CI, SERVICE, UNKNOWN = (
    "sdk", "cli-server", "cli-desktop", "browser", "ci-runner", "aws-service", "unknown")
DESKTOP_CLASSES = frozenset({CLI_DESKTOP, BROWSER})

_CI = re.compile(r"github-actions|GitHubActions|gitlab-runner|\bjenkins|circleci|buildkite|\bAtlantis|"
                 r"exec-env/CodeBuild|codebuild|azure-pipelines|bitbucket-pipelines|argocd|spinnaker",
                 re.I)
_DESKTOP_OS = re.compile(r"darwin|macos|mac os x|windows|win32|win64|cygwin|\bmsys", re.I)
_CLI = re.compile(r"^aws-cli/|\baws-cli/|^gcloud|google-cloud-sdk|^kubectl/|\bgh/|^git/|^Terraform/|"
                  r"command/gcloud|^az-cli|AZURECLI|^eksctl|^k9s|^Lens", re.I)
_SDK = re.compile(r"aws-sdk-|Boto3/|botocore/|aws-internal/|^APN/|client-go|kube-controller-manager|"
                  r"^kubelet/|^kube-|google-api-|gl-python|grpc-|^Go-http-client|python-requests|^okhttp|"
                  r"^octokit|^PyGithub|terraform-provider|HashiCorp|^Faraday|^curl/", re.I)
_BROWSER = re.compile(r"^Mozilla/|Chrome/|Safari/|Firefox/|Edg/|signin\.amazonaws\.com|console\.amazonaws\.com|"
                      r"^AWS Internal$", re.I)


@lru_cache(maxsize=8192)
def classify(agent: str) -> str:
    agent = agent.strip("[]")  # CloudTrail writes S3 data events' agents in brackets
    if not agent:
        return UNKNOWN
    if agent.endswith(".amazonaws.com") and " " not in agent and not agent.startswith(("signin.", "console.")):
        return SERVICE
    if _CI.search(agent):
        return CI
    if _BROWSER.search(agent):
        return BROWSER
    if _CLI.search(agent):
        return CLI_DESKTOP if _DESKTOP_OS.search(agent) else CLI_SERVER
    if _SDK.search(agent):
        return CLI_DESKTOP if _DESKTOP_OS.search(agent) and "exec-env/" not in agent else SDK
    return UNKNOWN


@lru_cache(maxsize=8192)
def family(agent: str) -> str:
    """The client without its versions ("aws-cli", "Boto3"), for baselines that should not
    alert on every upgrade."""
    head = agent.strip("[]").split(" ", 1)[0]
    return re.sub(r"/.*$", "", head)[:60] or "none"
