"""Google Cloud service accounts from `gcloud ... --format=json`:

- `gcp-service-accounts`: `gcloud iam service-accounts list`.
- `gcp-sa-keys`: `gcloud iam service-accounts keys list --iam-account=EMAIL` (one or several
  outputs); user-managed keys are the static ones. The key name carries the account's e-mail.
- `gcp-iam-policy`: `gcloud projects get-iam-policy PROJECT`: the roles bound to each
  service account (`serviceAccount:` members), as privileges.
"""

from __future__ import annotations

import re
from typing import Any

from nhiguard.inventory.parse import (
    ImportContext,
    ImportError_,
    ImportResult,
    broken,
    environment_from_tags,
    load_documents,
    parse_time,
    tags_of,
)
from nhiguard.model.identity import Grant, Identity, identity_id

_EMAIL = re.compile(r"^[a-z0-9-]+@([a-z0-9-]+)\.iam\.gserviceaccount\.com$|^[\w.+-]+@[\w.-]+$")
_KEY_NAME = re.compile(r"^projects/([^/]+)/serviceAccounts/([^/]+)/keys/([0-9a-f]+)$")
# Basic roles, and predefined roles that reach everything or can grant themselves more
BROAD_ROLES = {"roles/owner": ("*",), "roles/editor": ("*",),
               "roles/iam.serviceAccountTokenCreator": ("iam.serviceAccounts.getAccessToken",
                                                        "iam.serviceAccounts.signJwt"),
               "roles/iam.serviceAccountKeyAdmin": ("iam.serviceAccountKeys.create",),
               "roles/iam.securityAdmin": ("resourcemanager.projects.setIamPolicy",),
               "roles/resourcemanager.projectIamAdmin": ("resourcemanager.projects.setIamPolicy",),
               "roles/iam.serviceAccountUser": ("iam.serviceAccounts.actAs",)}


def project_of(email: str) -> str:
    m = _EMAIL.match(email)
    return (m.group(1) or "") if m else ""


def sa_id(email: str) -> str:
    return identity_id("gcp", "gcp_service_account", email)


def _items(data: bytes, what: str, out: ImportResult) -> list[Any]:
    items: list[Any] = []
    for doc in load_documents(data, what):
        if (problem := broken(doc)) is not None:
            out.problems.append(problem)
        elif isinstance(doc, list):
            items.extend(doc)
        else:
            items.append(doc)
    return items


def service_accounts(data: bytes, ctx: ImportContext) -> ImportResult:
    out = ImportResult()
    items = _items(data, "gcloud iam service-accounts list output", out)
    if not any(isinstance(i, dict) and "email" in i for i in items):
        raise ImportError_("not `gcloud iam service-accounts list --format=json` output (no email fields)")
    for n, sa in enumerate(items):
        out.records += 1
        if not isinstance(sa, dict) or not isinstance(sa.get("email"), str) or "@" not in sa["email"]:
            out.problems.append(f"item {n}: no service account e-mail; skipped")
            continue
        email = sa["email"]
        labels = tags_of(sa.get("labels") or {})
        out.identities.append(Identity(
            "gcp_service_account", "gcp", email, name=str(sa.get("displayName") or email.split("@")[0]),
            account=str(sa.get("projectId") or project_of(email)), purpose=str(sa.get("description") or "") or None,
            status="disabled" if sa.get("disabled") else "active", tags=labels,
            environment=environment_from_tags(labels), source=ctx.source,
            attributes={"unique_id": sa.get("uniqueId"),
                        "google_managed": email.endswith(("gserviceaccount.com",)) and not email.endswith(
                            ".iam.gserviceaccount.com")}))
    return out


def sa_keys(data: bytes, ctx: ImportContext) -> ImportResult:
    out = ImportResult()
    items = _items(data, "gcloud iam service-accounts keys list output", out)
    if not any(isinstance(i, dict) and "keyType" in i for i in items):
        raise ImportError_("not `gcloud iam service-accounts keys list --format=json` output (no keyType fields)")
    for n, key in enumerate(items):
        out.records += 1
        m = _KEY_NAME.match(str(key.get("name", ""))) if isinstance(key, dict) else None
        if m is None:
            out.problems.append(f"item {n}: no key name projects/P/serviceAccounts/EMAIL/keys/ID; skipped")
            continue
        project, email, key_id = m.groups()
        if project == "-":
            project = project_of(email)
        try:
            created, expires = parse_time(key.get("validAfterTime")), parse_time(key.get("validBeforeTime"))
        except ValueError:
            out.problems.append(f"item {n}: a validity time is not a date; skipped")
            continue
        user_managed = key.get("keyType") == "USER_MANAGED"
        out.identities.append(Identity(
            "gcp_service_account_key", "gcp", f"{email}/keys/{key_id}", name=f"{email.split('@')[0]} key {key_id[:8]}",
            account=project, parent_id=sa_id(email), created=created, expires=expires, last_rotated=created,
            status="disabled" if key.get("disabled") else "expired" if expires is not None and expires <= ctx.now
            else "active", source=ctx.source,
            attributes={"key_id": key_id, "user_managed": user_managed, "origin": key.get("keyOrigin"),
                        "algorithm": key.get("keyAlgorithm")}))
    return out


def iam_policy(data: bytes, ctx: ImportContext) -> ImportResult:
    out = ImportResult()
    docs = [d for d in _items(data, "gcloud projects get-iam-policy output", out) if isinstance(d, dict)]
    if not any("bindings" in d for d in docs):
        raise ImportError_("not `gcloud projects get-iam-policy --format=json` output (no bindings)")
    roles: dict[str, list[str]] = {}
    conditional: dict[str, set[str]] = {}
    for doc in docs:
        for n, b in enumerate(doc.get("bindings") or []):
            out.records += 1
            if not isinstance(b, dict) or not isinstance(b.get("role"), str):
                out.problems.append(f"bindings[{n}]: no role; skipped")
                continue
            for member in b.get("members") or []:
                if isinstance(member, str) and member.startswith("serviceAccount:"):
                    email = member.split(":", 1)[1]
                    roles.setdefault(email, []).append(b["role"])
                    if b.get("condition"):
                        conditional.setdefault(email, set()).add(b["role"])
    project = ctx.account
    for email, rs in sorted(roles.items()):
        grants = tuple(Grant(BROAD_ROLES.get(r, (r,)), (f"projects/{project or project_of(email)}",),
                             f"role {r}", conditional=r in conditional.get(email, set())) for r in rs)
        out.identities.append(Identity(
            "gcp_service_account", "gcp", email, account=project or project_of(email), status="",
            privileges=tuple(dict.fromkeys(rs)), grants=grants, source=ctx.source))  # adds to the account
    return out
