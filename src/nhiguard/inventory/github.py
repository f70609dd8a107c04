"""GitHub credentials from the REST API's JSON (as `gh api --paginate` saves it):

- `github-pats`: `GET /orgs/{org}/personal-access-tokens`: fine-grained tokens with access to
  the organisation (owner, permissions, expiry, last use). Name the organisation with
  `--account ORG`.
- `github-installations`: `GET /orgs/{org}/installations`: GitHub Apps installed, with
  their permissions.
- `github-deploy-keys`: `GET /repos/{owner}/{repo}/keys` (name the repository with
  `--account OWNER/REPO`). The public key itself is not kept, only its fingerprint.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from nhiguard.inventory.parse import (
    ImportContext,
    ImportError_,
    ImportResult,
    broken,
    load_documents,
)
from nhiguard.model.identity import Grant, Identity


def _items(data: bytes, what: str, key: str | None, out: ImportResult) -> list[Any]:
    items: list[Any] = []
    for doc in load_documents(data, what):
        if (problem := broken(doc)) is not None:
            out.problems.append(problem)
        elif isinstance(doc, list):
            items.extend(doc)
        elif key and isinstance(doc, dict) and isinstance(doc.get(key), list):
            items.extend(doc[key])
        else:
            items.append(doc)
    return items


def _permissions(perms: Any, prefix: str = "") -> list[str]:
    """{"repository": {"contents": "write"}} or {"contents": "write"} -> ["repository:contents:write"]."""
    out = []
    for k, v in (perms or {}).items() if isinstance(perms, dict) else []:
        if isinstance(v, dict):
            out += _permissions(v, f"{prefix}{k}:")
        else:
            out.append(f"{prefix}{k}:{v}")
    return sorted(out)


def _times(item: dict[str, Any], names: tuple[str, ...], out: ImportResult, what: str) -> list[Any]:
    return [out.time(item.get(n), f"{what}: {n}") for n in names]


def _login(value: Any) -> tuple[Any, Any]:
    return (value.get("login"), value.get("type")) if isinstance(value, dict) else (None, None)


def pats(data: bytes, ctx: ImportContext) -> ImportResult:
    out = ImportResult()
    items = _items(data, "GET /orgs/{org}/personal-access-tokens output", None, out)
    if not any(isinstance(i, dict) and ("token_expires_at" in i or "access_granted_at" in i) for i in items):
        raise ImportError_("not a fine-grained personal access token listing (no access_granted_at or "
                           "token_expires_at fields)")
    if not ctx.account:
        out.notes.append("no --account: tokens are keyed by token id without an organisation, so another "
                         "organisation's listing imported without --account merges with this one; name it with "
                         "--account ORG")
    for n, t in enumerate(items):
        out.records += 1
        if not isinstance(t, dict) or t.get("id") is None:
            out.problems.append(f"item {n}: no id; skipped")
            continue
        what = f"token {t.get('id')}"
        granted, expires, used = _times(t, ("access_granted_at", "token_expires_at", "token_last_used_at"), out, what)
        perms = _permissions(t.get("permissions"))
        login, owner_type = _login(t.get("owner"))
        token_id = t.get("token_id", t["id"])
        # the date decides too: token_expired says what was true when the listing was made
        expired = bool(t.get("token_expired")) or (expires is not None and expires <= ctx.now)
        out.identities.append(Identity(
            "github_pat", "github", f"{ctx.account}/pat/{token_id}" if ctx.account else f"pat/{token_id}",
            name=str(t.get("token_name") or f"token {token_id}"), account=ctx.account, created=granted,
            expires=expires, last_used=used, status="expired" if expired else "active",
            privileges=tuple(perms), grants=tuple(Grant((p,), (str(t.get("repository_selection") or "selected"),),
                                                        "token permission") for p in perms),
            source=ctx.source,
            attributes={"owner_login": login, "owner_type": owner_type,
                        "repository_selection": t.get("repository_selection"), "human_owned": True}))
    return out


def installations(data: bytes, ctx: ImportContext) -> ImportResult:
    out = ImportResult()
    items = _items(data, "GET /orgs/{org}/installations output", "installations", out)
    if not any(isinstance(i, dict) and "app_slug" in i for i in items):
        raise ImportError_("not a GitHub App installation listing (no app_slug fields)")
    for n, inst in enumerate(items):
        out.records += 1
        if not isinstance(inst, dict) or inst.get("id") is None:
            out.problems.append(f"item {n}: no id; skipped")
            continue
        account = _login(inst.get("account"))[0] or ctx.account
        created, updated, suspended = _times(inst, ("created_at", "updated_at", "suspended_at"), out,
                                             f"installation {inst['id']}")
        perms = _permissions(inst.get("permissions"))
        out.identities.append(Identity(
            "github_app_installation", "github", f"installation/{inst['id']}", name=str(inst.get("app_slug") or inst["id"]),
            account=str(account or ""), created=created, status="suspended" if suspended else "active",
            privileges=tuple(perms),
            grants=tuple(Grant((p,), (str(inst.get("repository_selection") or "selected"),), "installation permission")
                         for p in perms),
            source=ctx.source,
            attributes={"app_id": inst.get("app_id"), "repository_selection": inst.get("repository_selection"),
                        "updated": updated.isoformat() if updated else None, "third_party": True}))
    return out


def deploy_keys(data: bytes, ctx: ImportContext) -> ImportResult:
    if not ctx.account:
        raise ImportError_("a deploy key listing does not name its repository: give --account OWNER/REPO")
    out = ImportResult()
    items = _items(data, "GET /repos/{owner}/{repo}/keys output", None, out)
    if not any(isinstance(i, dict) and "read_only" in i for i in items):
        raise ImportError_("not a deploy key listing (no read_only fields)")
    for n, k in enumerate(items):
        out.records += 1
        if not isinstance(k, dict) or k.get("id") is None:
            out.problems.append(f"item {n}: no id; skipped")
            continue
        created, used = _times(k, ("created_at", "last_used"), out, f"key {k['id']}")
        read_only = bool(k.get("read_only", True))
        out.identities.append(Identity(
            "github_deploy_key", "github", f"{ctx.account}/keys/{k['id']}", name=str(k.get("title") or k["id"]),
            account=ctx.account.split("/")[0], created=created, last_used=used,
            privileges=("contents:read" if read_only else "contents:write",),
            grants=(Grant(("contents:read" if read_only else "contents:write",), (ctx.account,), "deploy key"),),
            source=ctx.source,
            attributes={"repository": ctx.account, "read_only": read_only, "added_by": k.get("added_by"),
                        "key_fingerprint": _ssh_fingerprint(str(k.get("key", "")))}))
    return out


def _ssh_fingerprint(public_key: str) -> str | None:
    parts = public_key.split()
    if len(parts) < 2:
        return None
    try:
        raw = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return None
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")
