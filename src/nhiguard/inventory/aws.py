"""AWS IAM inventories from the files the AWS CLI writes:

- `aws-credential-report`: `aws iam generate-credential-report` then `get-credential-report`
  (the CSV, base64-decoded): users with password, MFA and both access-key slots, their
  creation, rotation and last use. It never names key ids.
- `aws-authorization-details`: `aws iam get-account-authorization-details`: users, groups,
  roles and managed policies with their documents, so each principal gets its grants.
- `aws-access-keys`: `aws iam list-access-keys` output (several users' outputs may follow each
  other, or sit in one JSON list), and `get-access-key-last-used` outputs with the
  `AccessKeyId` added (the CLI takes it as an argument and does not echo it).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from nhiguard.engine.redact import fingerprint
from nhiguard.inventory import aws_policy
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

_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}|aws):(user|role|group|policy|root)(/.*)?$")
_KEY_ID = re.compile(r"^(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}$")
ROOT = "<root_account>"


def account_of(arn: str) -> str:
    m = _ARN.match(arn)
    return m.group(1) if m else ""


def user_id(arn: str) -> str:
    return identity_id("aws", "aws_iam_user", arn)


def key_identity(key_id: str, ctx: ImportContext, **fields: Any) -> Identity:
    """An access key known by its id: linked to scans by the fingerprint of the id."""
    return Identity("aws_access_key", "aws", key_id, name=key_id[:4] + "..." + key_id[-4:],
                    link_fingerprint=fingerprint(key_id.encode(), ctx.fingerprint_key), source=ctx.source, **fields)


# ---------------------------------------------------------------------- credential report

_REPORT_COLUMNS = ("user", "arn", "user_creation_time")


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def credential_report(data: bytes, ctx: ImportContext) -> ImportResult:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"not UTF-8 text (byte {exc.start}): not an AWS credential report") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in _REPORT_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise ImportError_(f"not an AWS credential report: no {', '.join(missing)} column(s) in its header")
    out = ImportResult()
    for n, row in enumerate(reader, 2):
        out.records += 1
        if None in row or any(v is None for v in row.values()):
            out.problems.append(f"row {n}: {len(row) - (None in row)} of {len(reader.fieldnames or ())} columns; skipped")
            continue
        try:
            out.identities.extend(_report_row(row, ctx))
        except ValueError as exc:
            out.problems.append(f"row {n} ({row.get('user', '?')}): {exc}; skipped")
    return out


def _report_row(row: dict[str, str], ctx: ImportContext) -> list[Identity]:
    arn = row["arn"].strip()
    if not _ARN.match(arn):
        raise ValueError(f"not an IAM ARN: {arn[:80]!r}")
    root = row["user"] == ROOT
    uid = user_id(arn)
    keys: list[Identity] = []
    last_uses = [parse_time(row.get("password_last_used"))]
    for n in (1, 2):
        created = parse_time(row.get(f"access_key_{n}_last_rotated"))
        active = _truthy(row.get(f"access_key_{n}_active"))
        if created is None and not active:
            continue  # no key in this slot
        used = parse_time(row.get(f"access_key_{n}_last_used_date"))
        last_uses.append(used)
        keys.append(Identity(
            "aws_access_key", "aws", f"{arn}#key{n}", name=f"{row['user']} key {n}", account=account_of(arn),
            parent_id=uid, created=created, last_used=used, last_rotated=created,
            status="active" if active else "inactive", source=ctx.source,
            attributes={"slot": n, "last_used_service": _value(row.get(f"access_key_{n}_last_used_service")),
                        "last_used_region": _value(row.get(f"access_key_{n}_last_used_region")),
                        "root": root}))
    for n in (1, 2):
        if _truthy(row.get(f"cert_{n}_active")):
            rotated = parse_time(row.get(f"cert_{n}_last_rotated"))
            keys.append(Identity("aws_signing_certificate", "aws", f"{arn}#cert{n}", name=f"{row['user']} certificate {n}",
                                 account=account_of(arn), parent_id=uid, created=rotated, last_rotated=rotated,
                                 source=ctx.source, attributes={"slot": n}))
    used = [t for t in last_uses if t is not None]
    user = Identity(
        "aws_iam_user", "aws", arn, name="root" if root else row["user"], account=account_of(arn),
        created=parse_time(row.get("user_creation_time")), last_used=max(used) if used else None,
        source=ctx.source,
        attributes={"root": root, "password_enabled": _truthy(row.get("password_enabled"))
                    or (root and row.get("password_enabled") == "not_supported"),
                    "password_last_used": _iso(parse_time(row.get("password_last_used"))),
                    "mfa_active": _truthy(row.get("mfa_active"))})
    return [user, *keys]


def _value(text: str | None) -> str | None:
    t = (text or "").strip()
    return None if t.lower() in ("", "n/a", "no_information", "not_supported") else t


def _iso(when: Any) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when is not None else None


# ---------------------------------------------------------------------- authorization details

def authorization_details(data: bytes, ctx: ImportContext) -> ImportResult:
    docs = load_documents(data, "aws iam get-account-authorization-details output")
    out = ImportResult()
    known = False
    for doc in docs:
        if (problem := broken(doc)) is not None:
            out.problems.append(problem)
            continue
        if not isinstance(doc, dict) or not any(k in doc for k in ("UserDetailList", "RoleDetailList", "GroupDetailList")):
            continue
        known = True
        _authorization_document(doc, ctx, out)
    if not known:
        raise ImportError_("not `aws iam get-account-authorization-details` output (no UserDetailList, "
                           "RoleDetailList or GroupDetailList)")
    return out


def _policy_texts(doc: dict[str, Any]) -> dict[str, Any]:
    """Managed policy ARN -> its default version's document."""
    out: dict[str, Any] = {}
    for p in doc.get("Policies") or []:
        if not isinstance(p, dict) or not isinstance(p.get("Arn"), str):
            continue
        for v in p.get("PolicyVersionList") or []:
            if isinstance(v, dict) and (v.get("IsDefaultVersion") or v.get("VersionId") == p.get("DefaultVersionId")):
                out[p["Arn"]] = v.get("Document")
    return out


def _attached(items: Any, texts: dict[str, Any], via: str) -> tuple[list[str], list[Grant]]:
    names, grants = [], []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        name, arn = str(item.get("PolicyName", "")), str(item.get("PolicyArn", ""))
        names.append(name)
        source = f"{via}policy {name}"
        if arn in texts:
            grants.extend(aws_policy.grants(texts[arn], source))
        elif name in aws_policy.KNOWN_MANAGED and ":aws:policy/" in arn:
            grants.extend(Grant(g.actions, g.resources, source, g.effect, g.not_action, g.conditional)
                          for g in aws_policy.KNOWN_MANAGED[name])
    return names, grants


def _inline(items: Any, via: str) -> tuple[list[str], list[Grant]]:
    names, grants = [], []
    for item in items or []:
        if isinstance(item, dict):
            name = str(item.get("PolicyName", ""))
            names.append(f"inline:{name}")
            grants.extend(aws_policy.grants(item.get("PolicyDocument"), f"{via}inline policy {name}"))
    return names, grants


def _authorization_document(doc: dict[str, Any], ctx: ImportContext, out: ImportResult) -> None:
    texts = _policy_texts(doc)
    groups: dict[str, tuple[list[str], list[Grant]]] = {}
    for g in doc.get("GroupDetailList") or []:
        if not isinstance(g, dict) or not g.get("GroupName"):
            continue
        via = f"group {g['GroupName']}: "
        n1, g1 = _attached(g.get("AttachedManagedPolicies"), texts, via)
        n2, g2 = _inline(g.get("GroupPolicyList"), via)
        groups[g["GroupName"]] = ([f"group:{g['GroupName']}", *n1, *n2], g1 + g2)
    for n, u in enumerate(doc.get("UserDetailList") or []):
        out.records += 1
        if not isinstance(u, dict) or not isinstance(u.get("Arn"), str) or not _ARN.match(u["Arn"]):
            out.problems.append(f"UserDetailList[{n}]: no IAM user ARN; skipped")
            continue
        names, grants = _attached(u.get("AttachedManagedPolicies"), texts, "")
        n2, g2 = _inline(u.get("UserPolicyList"), "")
        names += n2
        grants += g2
        for group in u.get("GroupList") or []:
            gn, gg = groups.get(str(group), ([f"group:{group}"], []))
            names += gn
            grants += gg
        tags = tags_of(u.get("Tags"))
        out.identities.append(Identity(
            "aws_iam_user", "aws", u["Arn"], name=str(u.get("UserName", "")), account=account_of(u["Arn"]),
            created=_time(u.get("CreateDate"), out, f"user {u.get('UserName')}"), privileges=tuple(names),
            grants=tuple(grants), tags=tags, environment=environment_from_tags(tags), source=ctx.source,
            attributes={"path": u.get("Path"), "permissions_boundary":
                        (u.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")}))
    for n, r in enumerate(doc.get("RoleDetailList") or []):
        out.records += 1
        if not isinstance(r, dict) or not isinstance(r.get("Arn"), str) or not _ARN.match(r["Arn"]):
            out.problems.append(f"RoleDetailList[{n}]: no IAM role ARN; skipped")
            continue
        names, grants = _attached(r.get("AttachedManagedPolicies"), texts, "")
        n2, g2 = _inline(r.get("RolePolicyList"), "")
        trust = aws_policy.principals(r.get("AssumeRolePolicyDocument"))
        tags = tags_of(r.get("Tags"))
        last = (r.get("RoleLastUsed") or {}).get("LastUsedDate")
        out.identities.append(Identity(
            "aws_iam_role", "aws", r["Arn"], name=str(r.get("RoleName", "")), account=account_of(r["Arn"]),
            created=_time(r.get("CreateDate"), out, f"role {r.get('RoleName')}"),
            last_used=_time(last, out, f"role {r.get('RoleName')}"), privileges=tuple(names + n2),
            grants=tuple(grants + g2), tags=tags, environment=environment_from_tags(tags), source=ctx.source,
            purpose=str(r.get("Description") or "") or None,
            attributes={"path": r.get("Path"), "trusted": trust,
                        "trust_policy": aws_policy.document(r.get("AssumeRolePolicyDocument")),
                        "service_linked": str(r.get("Path", "")).startswith("/aws-service-role/"),
                        "instance_profiles": [p.get("InstanceProfileName") for p in r.get("InstanceProfileList") or []
                                              if isinstance(p, dict)]}))


def _time(value: Any, out: ImportResult, what: str) -> Any:
    try:
        return parse_time(value)
    except ValueError:
        out.problems.append(f"{what}: not a date: {str(value)[:40]!r}; left empty")
        return None


# ---------------------------------------------------------------------- access keys

def access_keys(data: bytes, ctx: ImportContext) -> ImportResult:
    docs = load_documents(data, "aws iam list-access-keys output")
    out = ImportResult()
    keys: dict[str, dict[str, Any]] = {}
    last_used: dict[str, dict[str, Any]] = {}
    found = False
    stack = list(reversed(docs))
    while stack:
        doc = stack.pop()
        if (problem := broken(doc)) is not None:
            out.problems.append(problem)
            continue
        if isinstance(doc, list):
            stack.extend(reversed(doc))
            continue
        if not isinstance(doc, dict):
            continue
        if isinstance(doc.get("AccessKeyMetadata"), list):
            found = True
            for n, meta in enumerate(doc["AccessKeyMetadata"]):
                out.records += 1
                if not isinstance(meta, dict) or not _KEY_ID.match(str(meta.get("AccessKeyId", ""))):
                    out.problems.append(f"AccessKeyMetadata[{n}]: no valid AccessKeyId; skipped")
                    continue
                keys[meta["AccessKeyId"]] = meta
        elif isinstance(doc.get("AccessKeyLastUsed"), dict):
            found = True
            key = str(doc.get("AccessKeyId", ""))
            if not _KEY_ID.match(key):
                out.problems.append(f"a get-access-key-last-used output for {doc.get('UserName', '?')} without "
                                    "AccessKeyId (add it to each output); skipped")
                continue
            last_used[key] = doc
    if not found:
        raise ImportError_("not `aws iam list-access-keys` or `get-access-key-last-used` output "
                           "(no AccessKeyMetadata or AccessKeyLastUsed)")
    for key_id in sorted(set(keys) | set(last_used)):
        meta, used = keys.get(key_id, {}), last_used.get(key_id, {})
        info = used.get("AccessKeyLastUsed") or {}
        user = meta.get("UserName") or used.get("UserName")
        out.identities.append(key_identity(
            key_id, ctx, created=_time(meta.get("CreateDate"), out, key_id),
            last_rotated=_time(meta.get("CreateDate"), out, key_id),
            last_used=_time(info.get("LastUsedDate"), out, key_id),
            status=str(meta.get("Status", "Active")).lower() if meta else "",
            attributes={"parent_name": user, "parent_kind": "aws_iam_user",
                        "last_used_service": _value(info.get("ServiceName")),
                        "last_used_region": _value(info.get("Region"))}))
    return out
