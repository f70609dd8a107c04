"""Azure (Entra ID) service principals and their secrets from the Azure CLI's JSON:

- `azure-sp`: `az ad sp list --all`: service principals with their password (client secret)
  and certificate credentials.
- `azure-app`: `az ad app list --all`: app registrations (creation time, credentials, the
  API permissions they request), merged with their service principal by appId.
- `azure-app-credentials`: `az ad app credential list --id APPID` (name the app with
  `--account APPID`: the output does not say it).
"""

from __future__ import annotations

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


def sp_id(app_id: str) -> str:
    return identity_id("azure", "azure_service_principal", app_id)


def _items(data: bytes, what: str, out: ImportResult) -> list[Any]:
    items: list[Any] = []
    for doc in load_documents(data, what):
        if (problem := broken(doc)) is not None:
            out.problems.append(problem)
        elif isinstance(doc, list):
            items.extend(doc)
        elif isinstance(doc, dict) and isinstance(doc.get("value"), list):  # Graph API pages
            items.extend(doc["value"])
        else:
            items.append(doc)
    return items


def _credentials(app_id: str, tenant: str, creds: Any, kind: str, ctx: ImportContext,
                 out: ImportResult) -> list[Identity]:
    found = []
    for n, c in enumerate(creds or []):
        if not isinstance(c, dict) or not c.get("keyId"):
            out.problems.append(f"{app_id}: credential {n} without keyId; skipped")
            continue
        try:
            start, end = parse_time(c.get("startDateTime")), parse_time(c.get("endDateTime"))
        except ValueError:
            out.problems.append(f"{app_id}: credential {c['keyId']}: a date is not a date; skipped")
            continue
        expired = end is not None and end < ctx.now
        found.append(Identity(
            kind, "azure", str(c["keyId"]), name=str(c.get("displayName") or f"{kind.split('_')[-1]} {str(c['keyId'])[:8]}"),
            account=tenant, parent_id=sp_id(app_id), created=start, expires=end, last_rotated=start,
            status="expired" if expired else "active", source=ctx.source,
            attributes={"app_id": app_id, **({"hint": c["hint"]} if c.get("hint") else {})}))
    return found


def _principal(item: dict[str, Any], ctx: ImportContext, out: ImportResult, registration: bool) -> None:
    app_id = str(item["appId"])
    tags = tags_of(item.get("tags") or [])
    tenant = str(item.get("appOwnerOrganizationId") or item.get("publisherDomain") or ctx.account or "")
    perms = []
    for res in item.get("requiredResourceAccess") or []:
        for access in res.get("resourceAccess") or [] if isinstance(res, dict) else []:
            if isinstance(access, dict):
                perms.append(f"{res.get('resourceAppId')}:{access.get('type')}:{access.get('id')}")
    created = out.time(item.get("createdDateTime"), f"{app_id}: createdDateTime")
    enabled = item.get("accountEnabled")
    out.identities.append(Identity(
        "azure_service_principal", "azure", app_id, name=str(item.get("displayName") or app_id), account=tenant,
        created=created, status="" if enabled is None else ("active" if enabled else "disabled"), tags=tags,
        environment=environment_from_tags(tags), purpose=str(item.get("description") or item.get("notes") or "") or None,
        privileges=tuple(perms), grants=tuple(Grant((p,), ("*",), "requested API permission") for p in perms),
        source=ctx.source,
        attributes={"object_id" if not registration else "application_object_id": item.get("id"),
                    **({"type": item["servicePrincipalType"]} if item.get("servicePrincipalType") else {})}))
    out.identities += _credentials(app_id, tenant, item.get("passwordCredentials"), "azure_client_secret", ctx, out)
    out.identities += _credentials(app_id, tenant, item.get("keyCredentials"), "azure_certificate", ctx, out)


def service_principals(data: bytes, ctx: ImportContext, registration: bool = False) -> ImportResult:
    what = "az ad app list output" if registration else "az ad sp list output"
    out = ImportResult()
    items = _items(data, what, out)
    if not any(isinstance(i, dict) and "appId" in i for i in items):
        raise ImportError_(f"not `{what.removesuffix(' output')}` JSON (no appId fields)")
    for n, item in enumerate(items):
        out.records += 1
        if not isinstance(item, dict) or not item.get("appId"):
            out.problems.append(f"item {n}: no appId; skipped")
            continue
        _principal(item, ctx, out, registration)
    return out


def app_registrations(data: bytes, ctx: ImportContext) -> ImportResult:
    return service_principals(data, ctx, registration=True)


def app_credentials(data: bytes, ctx: ImportContext) -> ImportResult:
    if not ctx.account:
        raise ImportError_("`az ad app credential list` output does not name its app: give --account APPID")
    out = ImportResult()
    items = [i for i in _items(data, "az ad app credential list output", out) if isinstance(i, dict)]
    if not any("keyId" in i for i in items):
        raise ImportError_("not `az ad app credential list` JSON (no keyId fields)")
    out.records = len(items)
    secrets = [i for i in items if "hint" in i or "secretText" in i]
    certs = [i for i in items if i not in secrets]
    out.identities += _credentials(ctx.account, "", secrets, "azure_client_secret", ctx, out)
    out.identities += _credentials(ctx.account, "", certs, "azure_certificate", ctx, out)
    return out
