"""The import kinds `nhiguard inventory import KIND FILE` takes, each a function from the
file's bytes to identities; and the live AWS import (`--live`), which asks the IAM API for
the same documents and reads them with the same functions."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from nhiguard.inventory import aws, azure, gcp, github, k8s
from nhiguard.inventory.parse import ImportContext, ImportError_, ImportResult

Importer = Callable[[bytes, ImportContext], ImportResult]

IMPORTERS: dict[str, tuple[Importer, str]] = {
    "aws-credential-report": (aws.credential_report, "aws iam get-credential-report (its JSON, or the CSV)"),
    "aws-authorization-details": (aws.authorization_details, "aws iam get-account-authorization-details"),
    "aws-access-keys": (aws.access_keys, "aws iam list-access-keys / get-access-key-last-used "
                                                "(--key KEYID)"),
    "gcp-service-accounts": (gcp.service_accounts, "gcloud iam service-accounts list --format=json"),
    "gcp-sa-keys": (gcp.sa_keys, "gcloud iam service-accounts keys list --format=json"),
    "gcp-iam-policy": (gcp.iam_policy, "gcloud projects get-iam-policy --format=json"),
    "azure-sp": (azure.service_principals, "az ad sp list --all"),
    "azure-app": (azure.app_registrations, "az ad app list --all"),
    "azure-app-credentials": (azure.app_credentials, "az ad app credential list --id APPID (with --account APPID)"),
    "k8s": (k8s.inventory, "kubectl get serviceaccounts,secrets,rolebindings,clusterrolebindings,roles,"
                           "clusterroles -A -o json"),
    "github-pats": (github.pats, "GET /orgs/{org}/personal-access-tokens (with --account ORG)"),
    "github-installations": (github.installations, "GET /orgs/{org}/installations"),
    "github-deploy-keys": (github.deploy_keys, "GET /repos/{owner}/{repo}/keys (with --account OWNER/REPO)"),
}


def _json_default(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(type(value).__name__)


def aws_live(ctx: ImportContext, endpoint: str | None, region: str = "us-east-1",
             wait_s: float = 60.0) -> ImportResult:
    """Read IAM through its API (boto3, the usual credential chain): the credential report,
    the authorization details, and every user's access keys with their last use."""
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ImportError_("--live needs boto3: pip install 'nhiguard[aws]'") from None
    try:
        iam = boto3.client("iam", endpoint_url=endpoint or None, region_name=region)
        deadline = time.monotonic() + wait_s
        while iam.generate_credential_report().get("State") != "COMPLETE":
            if time.monotonic() > deadline:
                raise ImportError_("the IAM credential report was not ready in time; try again")
            time.sleep(2)
        report = iam.get_credential_report()["Content"]
        details: dict[str, list[Any]] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [],
                                         "Policies": []}
        for page in iam.get_paginator("get_account_authorization_details").paginate():
            for key in details:
                details[key].extend(page.get(key) or [])
        keys, used = [], []
        for page in iam.get_paginator("list_users").paginate():
            for user in page.get("Users") or []:
                meta = iam.list_access_keys(UserName=user["UserName"]).get("AccessKeyMetadata") or []
                keys.append({"AccessKeyMetadata": meta})
                for k in meta:
                    last = iam.get_access_key_last_used(AccessKeyId=k["AccessKeyId"])
                    used.append({"AccessKeyId": k["AccessKeyId"], "UserName": last.get("UserName"),
                                 "AccessKeyLastUsed": last.get("AccessKeyLastUsed") or {}})
    except (BotoCoreError, ClientError) as exc:
        raise ImportError_(f"AWS IAM: {exc}") from None
    out = ImportResult()
    results = [aws.credential_report(report, ctx),
               aws.authorization_details(json.dumps(details, default=_json_default).encode(), ctx)]
    if keys:
        results.append(aws.access_keys(json.dumps(keys + used, default=_json_default).encode(), ctx))
    for result in results:
        out.add(result)
    return out
