"""Providers' inventory exports built in code, with the fields and columns the real tools
write (AWS IAM credential report and JSON outputs, gcloud, az, kubectl, GitHub's REST API),
for the inventory and posture tests. Dates are relative to now so ages stay meaningful."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime.now(UTC).replace(microsecond=0)
ACCOUNT = "123456789012"


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def ago_z(days: float) -> str:
    return (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


REPORT_HEADER = ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
                 "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
                 "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
                 "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
                 "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,"
                 "cert_2_active,cert_2_last_rotated")


def report_row(user: str, created_days: float, *, password: bool = False, password_used: float | None = None,
               mfa: bool = False, key1: tuple[float, float | None] | None = None,
               key2: tuple[float, float | None] | None = None, key2_active: bool = True) -> str:
    """A credential report row; keyN = (days since created/rotated, days since last use or None)."""
    arn = f"arn:aws:iam::{ACCOUNT}:root" if user == "<root_account>" else f"arn:aws:iam::{ACCOUNT}:user/{user}"
    cells = [user, arn, ago(created_days), "true" if password else "false",
             ago(password_used) if password_used is not None else "N/A" if not password else "no_information",
             ago(created_days) if password else "N/A", "N/A", "true" if mfa else "false"]
    for key, active in ((key1, True), (key2, key2_active)):
        if key is None:
            cells += ["false", "N/A", "N/A", "N/A", "N/A"]
        else:
            rotated, used = key
            cells += ["true" if active else "false", ago(rotated),
                      ago(used) if used is not None else "N/A", "eu-west-1" if used is not None else "N/A",
                      "s3" if used is not None else "N/A"]
    cells += ["false", "N/A", "false", "N/A"]
    return ",".join(cells)


def credential_report(rows: list[str]) -> bytes:
    return ("\n".join([REPORT_HEADER, *rows]) + "\n").encode()


def policy_doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def authorization_details(users: list[dict[str, Any]] = (), roles: list[dict[str, Any]] = (),
                          groups: list[dict[str, Any]] = (), policies: list[dict[str, Any]] = ()) -> bytes:
    return json.dumps({"UserDetailList": list(users), "GroupDetailList": list(groups),
                       "RoleDetailList": list(roles), "Policies": list(policies), "IsTruncated": False}).encode()


def iam_user(name: str, *, attached: list[str] = (), inline: dict[str, dict] | None = None, groups: list[str] = (),
             tags: dict[str, str] | None = None, created_days: float = 400) -> dict[str, Any]:
    return {"Path": "/", "UserName": name, "UserId": "AIDA" + name.upper().ljust(17, "X")[:17],
            "Arn": f"arn:aws:iam::{ACCOUNT}:user/{name}", "CreateDate": ago_z(created_days),
            "UserPolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
            "GroupList": list(groups),
            "AttachedManagedPolicies": [{"PolicyName": p.rsplit("/", 1)[-1], "PolicyArn": p if p.startswith("arn:")
                                         else f"arn:aws:iam::aws:policy/{p}"} for p in attached],
            "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}


def iam_role(name: str, trust: dict[str, Any], *, attached: list[str] = (), inline: dict[str, dict] | None = None,
             last_used_days: float | None = None, path: str = "/", created_days: float = 300) -> dict[str, Any]:
    role = {"Path": path, "RoleName": name, "RoleId": "AROA" + name.upper().ljust(17, "X")[:17],
            "Arn": f"arn:aws:iam::{ACCOUNT}:role{path}{name}", "CreateDate": ago_z(created_days),
            "AssumeRolePolicyDocument": trust, "InstanceProfileList": [],
            "RolePolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
            "AttachedManagedPolicies": [{"PolicyName": p, "PolicyArn": f"arn:aws:iam::aws:policy/{p}"}
                                        for p in attached],
            "Tags": [], "RoleLastUsed": {}}
    if last_used_days is not None:
        role["RoleLastUsed"] = {"LastUsedDate": ago_z(last_used_days), "Region": "eu-west-1"}
    return role


def access_keys(user: str, keys: list[tuple[str, float, str]]) -> dict[str, Any]:
    """list-access-keys output: (key id, days since created, Active|Inactive)."""
    return {"AccessKeyMetadata": [{"UserName": user, "AccessKeyId": k, "Status": status, "CreateDate": ago(days)}
                                  for k, days, status in keys]}


def key_last_used(user: str, key: str, days: float | None) -> dict[str, Any]:
    used: dict[str, Any] = {"ServiceName": "N/A", "Region": "N/A"}
    if days is not None:
        used = {"LastUsedDate": ago(days), "ServiceName": "sts", "Region": "us-east-1"}
    return {"UserName": user, "AccessKeyId": key, "AccessKeyLastUsed": used}


def gcp_service_accounts(project: str, names: list[tuple[str, bool]]) -> bytes:
    return json.dumps([{"description": f"{n} service", "disabled": disabled, "displayName": n,
                        "email": f"{n}@{project}.iam.gserviceaccount.com", "etag": "MDEwMjE5MjA=",
                        "name": f"projects/{project}/serviceAccounts/{n}@{project}.iam.gserviceaccount.com",
                        "oauth2ClientId": str(100000000000000000000 + k), "projectId": project,
                        "uniqueId": str(100000000000000000000 + k)} for k, (n, disabled) in enumerate(names)]).encode()


def gcp_keys(project: str, sa: str, keys: list[tuple[str, float, str]]) -> bytes:
    """(key id hex, days since created, USER_MANAGED|SYSTEM_MANAGED)."""
    email = f"{sa}@{project}.iam.gserviceaccount.com"
    return json.dumps([{"keyAlgorithm": "KEY_ALG_RSA_2048", "keyOrigin": "GOOGLE_PROVIDED", "keyType": kind,
                        "name": f"projects/{project}/serviceAccounts/{email}/keys/{kid}",
                        "validAfterTime": ago_z(days),
                        "validBeforeTime": "9999-12-31T23:59:59Z" if kind == "USER_MANAGED" else ago_z(days - 14)}
                       for kid, days, kind in keys]).encode()


def gcp_policy(project: str, bindings: dict[str, list[str]]) -> bytes:
    return json.dumps({"bindings": [{"members": [f"serviceAccount:{m}@{project}.iam.gserviceaccount.com"
                                                 for m in members], "role": role}
                                    for role, members in bindings.items()],
                       "etag": "BwXhqDsnuO4=", "version": 1}).encode()


def azure_sp(app_id: str, name: str, secrets: list[tuple[str, float, float]], *, enabled: bool = True,
             tags: list[str] = ()) -> dict[str, Any]:
    """secrets: (key id, days since start, days until end (negative: expired))."""
    return {"accountEnabled": enabled, "addIns": [], "alternativeNames": [], "appDisplayName": name, "appId": app_id,
            "appOwnerOrganizationId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "appRoleAssignmentRequired": False,
            "appRoles": [], "displayName": name, "id": "0a" + app_id[2:], "keyCredentials": [],
            "passwordCredentials": [{"customKeyIdentifier": None, "displayName": f"{name} secret", "endDateTime":
                                     (NOW + timedelta(days=end)).strftime("%Y-%m-%dT%H:%M:%SZ"), "hint": "Qx8",
                                     "keyId": kid, "secretText": None, "startDateTime": ago_z(start)}
                                    for kid, start, end in secrets],
            "servicePrincipalNames": [app_id], "servicePrincipalType": "Application", "signInAudience": "AzureADMyOrg",
            "tags": list(tags)}


def k8s_list(cluster_objects: list[dict[str, Any]]) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": cluster_objects,
                       "metadata": {"resourceVersion": ""}}).encode()


def k8s_sa(ns: str, name: str, days: float = 200, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": ago_z(days), "uid": f"uid-{ns}-{name}",
                         "resourceVersion": "1", **({"annotations": annotations} if annotations else {})}}


def k8s_token(ns: str, name: str, sa: str, days: float = 200) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": ago_z(days),
                         "annotations": {"kubernetes.io/service-account.name": sa,
                                         "kubernetes.io/service-account.uid": f"uid-{ns}-{sa}"}},
            "data": {"token": "ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklpSjkuc2VjcmV0", "ca.crt": "LS0t",
                     "namespace": "ZGVmYXVsdA=="}}


def k8s_binding(kind: str, name: str, role_kind: str, role: str, subjects: list[tuple[str, str]],
                ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "creationTimestamp": ago_z(100)}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": n, "namespace": s} for s, n in subjects]}


def k8s_role(kind: str, name: str, rules: list[tuple[list[str], list[str]]], ns: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
            "rules": [{"apiGroups": [""], "resources": res, "verbs": verbs} for verbs, res in rules]}


def github_pats(tokens: list[dict[str, Any]]) -> bytes:
    out = []
    for k, t in enumerate(tokens):
        out.append({"id": 25381 + k, "owner": {"login": t.get("login", "octocat"), "id": 1, "type": "User",
                                               "site_admin": False},
                    "repository_selection": t.get("selection", "subset"),
                    "repositories_url": f"https://api.github.example/organizations/652551/personal-access-token-requests/{25381 + k}/repositories",
                    "permissions": t.get("permissions", {"repository": {"metadata": "read"}}),
                    "access_granted_at": ago_z(t.get("granted", 30)), "token_id": 12345 + k,
                    "token_name": t.get("name", f"token {k}"), "token_expired": t.get("expired", False),
                    "token_expires_at": None if t.get("never_expires") else (NOW + timedelta(days=t.get("expires_in", 60))).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "token_last_used_at": ago_z(t["used"]) if t.get("used") is not None else None})
    return json.dumps(out).encode()


def github_installations(items: list[tuple[str, str, dict[str, str]]]) -> bytes:
    """(app slug, repository_selection, permissions)."""
    return json.dumps({"total_count": len(items), "installations": [
        {"id": 1000 + k, "account": {"login": "acme", "id": 9, "type": "Organization"}, "app_id": 200 + k,
         "app_slug": slug, "target_id": 9, "target_type": "Organization", "repository_selection": sel,
         "permissions": perms, "events": ["push"], "created_at": ago_z(500), "updated_at": ago_z(10),
         "single_file_name": None, "suspended_at": None, "suspended_by": None}
        for k, (slug, sel, perms) in enumerate(items)]}).encode()


def github_deploy_keys(keys: list[tuple[str, bool, float | None]]) -> bytes:
    """(title, read_only, days since last use or None)."""
    return json.dumps([{"id": 10 + k, "key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGd3b0Zr5l8b3Jq2wCq9jq2aWQ0xP0bQ8t1Jm3x6h7Yz",
                        "url": f"https://api.github.example/repos/acme/app/keys/{10 + k}", "title": title,
                        "verified": True, "created_at": ago_z(400), "read_only": ro, "added_by": "octocat",
                        "last_used": ago_z(used) if used is not None else None, "enabled": True}
                       for k, (title, ro, used) in enumerate(keys)]).encode()
