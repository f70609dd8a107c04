"""AWS IAM inventories from the files the AWS CLI writes:

- `aws-credential-report`: `aws iam generate-credential-report` then `get-credential-report`
  (its JSON, or the CSV its Content decodes to): users with password, MFA and both access-key
  slots, their creation, rotation and last use. It never names key ids, but it lists every
  key of a user, so a key known from earlier and missing from a newer report is deleted.
- `aws-authorization-details`: `aws iam get-account-authorization-details`: users, groups,
  roles and managed policies with their documents, so each principal gets its grants.
- `aws-access-keys`: `aws iam list-access-keys` output (several users' outputs may follow each
  other, or sit in one JSON list), and `get-access-key-last-used` outputs. The AWS CLI takes
  the key id as an argument and does not print it, so an output without `AccessKeyId` is
  about the key `--key` names, or the key id in the file's name (one such output a file).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from collections import defaultdict
from typing import Any

from nhiguard.engine.redact import fingerprint
from nhiguard.inventory import aws_policy
from nhiguard.inventory.parse import (
    Holding,
    ImportContext,
    ImportError_,
    ImportResult,
    Roster,
    broken,
    environment_from_tags,
    load_documents,
    parse_time,
    tags_of,
)
from nhiguard.model.identity import Grant, Identity, identity_id

_ARN = re.compile(r"^arn:aws[\w-]*:iam::(\d{12}|aws):(user|role|group|policy|root)(/.*)?$")
_KEY_ID = re.compile(r"^(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}$")
_KEY_IN_NAME = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Z0-9])")
ROOT = "<root_account>"


def is_key_id(text: str) -> bool:
    return _KEY_ID.match(text) is not None


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

# The columns the importer reads. A report without one of them cannot be read truthfully (no
# access_key_1_active would make every key inactive), so the file is refused; the last-use
# region and service only describe a use, so without them a note says they are left empty.
_REPORT_COLUMNS = ("user", "arn", "user_creation_time", "password_enabled", "password_last_used", "mfa_active",
                   *(f"access_key_{n}_{c}" for n in (1, 2) for c in ("active", "last_rotated", "last_used_date")),
                   *(f"cert_{n}_{c}" for n in (1, 2) for c in ("active", "last_rotated")))
_REPORT_OPTIONAL = tuple(f"access_key_{n}_last_used_{c}" for n in (1, 2) for c in ("region", "service"))
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")
_REPORT = "an AWS credential report"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def credential_report(data: bytes, ctx: ImportContext) -> ImportResult:
    """The CSV; also `aws iam get-credential-report`'s own output (JSON whose Content is the
    CSV in base64) and that Content alone (`--output text --query Content`, not decoded)."""
    out = ImportResult()
    text = _report_text(data)
    generated = None
    if text.lstrip().startswith(("{", "[")):
        text, generated = _report_from_json(text, out)
    elif "," not in text and _BASE64.fullmatch(text.strip()):
        decoded = _base64(text)
        if decoded is None or not decoded.removeprefix(b"\xef\xbb\xbf").startswith(b"user,"):
            raise ImportError_(f"not {_REPORT}: one word of text, neither CSV nor the base64 of one")
        text = _report_text(decoded)
        out.notes.append("the file is the report in base64 (as `--query Content` prints it); decoded it")
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(rows, [])]
    if basic := [c for c in _REPORT_COLUMNS[:3] if c not in header]:
        raise ImportError_(f"not {_REPORT}: no {', '.join(basic)} column{'s' if len(basic) > 1 else ''} in its "
                           f"header (it starts {','.join(header)[:60]!r})")
    if missing := [c for c in _REPORT_COLUMNS if c not in header]:
        raise ImportError_(f"{_REPORT} without the {', '.join(missing)} column{'s' if len(missing) > 1 else ''} "
                           "the import reads: refused rather than guessed (AWS writes all 22 columns; was it "
                           "edited?)")
    if absent := [c for c in _REPORT_OPTIONAL if c not in header]:
        out.notes.append(f"no {', '.join(absent)} column{'s' if len(absent) > 1 else ''}: "
                         "the region and service of the keys' last use are left empty")
    n = 1
    parsed: list[tuple[int, dict[str, str]]] = []
    for cells in rows:
        n += 1
        if not cells or cells == [""]:
            continue  # a blank line
        out.records += 1
        if len(cells) != len(header):
            out.problems.append(f"row {n}: {len(cells)} columns where the header has {len(header)}; skipped")
            continue
        parsed.append((n, dict(zip(header, cells, strict=True))))
    as_of = generated or _latest(row for _, row in parsed)
    for n, row in parsed:
        try:
            out.identities.extend(_report_row(row, ctx, out, as_of))
        except ValueError as exc:
            out.problems.append(f"row {n} ({row.get('user', '?')}): {exc}; skipped")
    if as_of is not None and not out.problems:  # a report read whole lists every user of its account
        users: dict[str, set[str]] = defaultdict(set)
        for ident in out.identities:
            if ident.kind == "aws_iam_user":
                users[ident.account].add(ident.id)
        out.rosters += [Roster(account, "aws_iam_user", frozenset(ids), as_of, ctx.source)
                        for account, ids in users.items() if account]
    return out


def _report_text(data: bytes) -> str:
    if not data.strip():
        raise ImportError_(f"the file is empty: not {_REPORT}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportError_(f"not UTF-8 but UTF-16 text (as some editors save \"Unicode text\"): {_REPORT} "
                           "is UTF-8 CSV; save it as that")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x}): {_REPORT} is UTF-8 "
                           "CSV; was it saved in another encoding?") from None


def _report_from_json(text: str, out: ImportResult) -> tuple[str, Any]:
    """`aws iam get-credential-report` prints JSON: the CSV is its Content, in base64."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise ImportError_(f"not {_REPORT}: it starts like JSON but is neither JSON nor CSV") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("Content"), str):
        raise ImportError_(f"a JSON document without a Content field: not {_REPORT} (the CSV, or the JSON "
                           "`aws iam get-credential-report` prints)")
    decoded = _base64(doc["Content"])
    if decoded is None:
        raise ImportError_("the JSON's Content field is not base64: not `aws iam get-credential-report` output")
    if str(doc.get("ReportFormat", "text/csv")) != "text/csv":
        raise ImportError_(f"the report's format is {doc.get('ReportFormat')!r}, not text/csv")
    out.notes.append("the file is `aws iam get-credential-report` JSON; read the report from its base64 Content")
    try:
        generated = parse_time(doc.get("GeneratedTime"))
    except ValueError:
        generated = None
    return _report_text(decoded), generated


def _base64(text: str) -> bytes | None:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError:
        return None


def _latest(rows: Any) -> Any:
    """The latest time a report mentions: it was made no earlier."""
    latest = None
    for row in rows:
        for column, value in row.items():
            if column.endswith(("_time", "_last_used", "_last_rotated", "_last_used_date", "_last_changed")):
                try:
                    when = parse_time(value)
                except ValueError:
                    continue
                if when is not None and (latest is None or when > latest):
                    latest = when
    return latest


def _report_row(row: dict[str, str], ctx: ImportContext, out: ImportResult, as_of: Any) -> list[Identity]:
    arn = row["arn"].strip()
    if not _ARN.match(arn):
        raise ValueError(f"not an IAM ARN: {arn[:80]!r}")
    root = row["user"] == ROOT
    uid = user_id(arn)
    who = "root" if root else row["user"]
    try:
        created_user = parse_time(row["user_creation_time"])
    except ValueError:
        raise ValueError(f"user_creation_time is not a date: {row['user_creation_time'][:40]!r}") from None
    keys: list[Identity] = []
    password_used = out.time(row["password_last_used"], f"{who}: password_last_used")
    last_uses = [password_used]
    holding: list[Any] = []
    for n in (1, 2):
        created = out.time(row[f"access_key_{n}_last_rotated"], f"{who}: access_key_{n}_last_rotated")
        active = _truthy(row[f"access_key_{n}_active"])
        if created is None and not active:
            continue  # no key in this slot
        holding.append(created)
        used = out.time(row[f"access_key_{n}_last_used_date"], f"{who}: access_key_{n}_last_used_date")
        last_uses.append(used)
        keys.append(Identity(
            "aws_access_key", "aws", f"{arn}#key{n}", name=f"{row['user']} key {n}", account=account_of(arn),
            parent_id=uid, created=created, last_used=used, last_rotated=created,
            status="active" if active else "inactive", source=ctx.source,
            attributes={"slot": n, "last_used_service": _value(row.get(f"access_key_{n}_last_used_service")),
                        "last_used_region": _value(row.get(f"access_key_{n}_last_used_region")),
                        "root": root}))
    if as_of is not None and None not in holding:
        out.holdings.append(Holding(uid, "aws_access_key", tuple(holding), as_of, ctx.source))
    for n in (1, 2):
        if _truthy(row[f"cert_{n}_active"]):
            rotated = out.time(row[f"cert_{n}_last_rotated"], f"{who}: cert_{n}_last_rotated")
            keys.append(Identity("aws_signing_certificate", "aws", f"{arn}#cert{n}", name=f"{row['user']} certificate {n}",
                                 account=account_of(arn), parent_id=uid, created=rotated, last_rotated=rotated,
                                 source=ctx.source, attributes={"slot": n}))
    used = [t for t in last_uses if t is not None]
    user = Identity(
        "aws_iam_user", "aws", arn, name=who, account=account_of(arn),
        created=created_user, last_used=max(used) if used else None,
        source=ctx.source,
        attributes={"root": root, "password_enabled": _truthy(row["password_enabled"])
                    or (root and row["password_enabled"] == "not_supported"),
                    "password_last_used": _iso(password_used),
                    "mfa_active": _truthy(row["mfa_active"])})
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
            created=out.time(u.get("CreateDate"), f"user {u.get('UserName')}: CreateDate"), privileges=tuple(names),
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
            created=out.time(r.get("CreateDate"), f"role {r.get('RoleName')}: CreateDate"),
            last_used=out.time(last, f"role {r.get('RoleName')}: RoleLastUsed.LastUsedDate"), privileges=tuple(names + n2),
            grants=tuple(grants + g2), tags=tags, environment=environment_from_tags(tags), source=ctx.source,
            purpose=str(r.get("Description") or "") or None,
            attributes={"path": r.get("Path"), "trusted": trust,
                        "trust_policy": aws_policy.document(r.get("AssumeRolePolicyDocument")),
                        "service_linked": str(r.get("Path", "")).startswith("/aws-service-role/"),
                        "instance_profiles": [p.get("InstanceProfileName") for p in r.get("InstanceProfileList") or []
                                              if isinstance(p, dict)]}))


# ---------------------------------------------------------------------- access keys

def access_keys(data: bytes, ctx: ImportContext) -> ImportResult:
    docs = load_documents(data, "aws iam list-access-keys output")
    out = ImportResult()
    keys: dict[str, dict[str, Any]] = {}
    last_used: dict[str, dict[str, Any]] = {}
    unnamed: list[dict[str, Any]] = []  # get-access-key-last-used outputs, which do not say their key
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
            out.records += 1
            key = str(doc.get("AccessKeyId") or "")
            if not key:
                unnamed.append(doc)
            elif not _KEY_ID.match(key):
                out.problems.append(f"get-access-key-last-used output: AccessKeyId {key[:40]!r} is not an access "
                                    "key id; skipped")
            else:
                last_used[key] = doc
    if not found:
        raise ImportError_("not `aws iam list-access-keys` or `get-access-key-last-used` output "
                           "(no AccessKeyMetadata or AccessKeyLastUsed)")
    named_by = ctx.access_key_id or next(iter(_KEY_IN_NAME.findall(ctx.file_name)), "")
    if len(unnamed) == 1 and named_by:
        last_used[named_by] = {**unnamed[0], "AccessKeyId": named_by}
    else:
        for doc in unnamed:
            out.problems.append(
                f"a get-access-key-last-used output for {str(doc.get('UserName', '?'))[:64]} does not name its key "
                "(the AWS CLI does not print it): " + (
                    f"{len(unnamed)} such outputs in one file, so --key or the file name cannot tell them apart"
                    if named_by else "give --key AKIA..., name the file after the key (AKIA....json) or add "
                    "AccessKeyId to the output") + "; skipped")
    for key_id in sorted(set(keys) | set(last_used)):
        meta, used = keys.get(key_id, {}), last_used.get(key_id, {})
        info = used.get("AccessKeyLastUsed") or {}
        user = meta.get("UserName") or used.get("UserName")
        created = out.time(meta.get("CreateDate"), f"{key_id}: CreateDate") if meta else None
        out.identities.append(key_identity(
            key_id, ctx, created=created, last_rotated=created,
            last_used=out.time(info.get("LastUsedDate"), f"{key_id}: LastUsedDate"),
            status=str(meta.get("Status", "Active")).lower() if meta else "",
            # a listing says nothing of use: the last use a report knew stays
            attributes={"parent_name": user, "parent_kind": "aws_iam_user",
                        **({"last_used_service": _value(info.get("ServiceName")),
                            "last_used_region": _value(info.get("Region"))} if used else {})}))
    return out
