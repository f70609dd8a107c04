"""OIDC trust policies kept in the repository: who may assume a cloud role with a CI token.

A role that trusts GitHub's (`token.actions.githubusercontent.com`) or GitLab's OIDC
provider must say which repository (and branch or environment) the token has to come from,
in the token's `sub`, and for which audience (`aud`): without `sub`, any workflow of any
repository on github.com can assume it. Read from IAM policy JSON files and from Terraform
(`aws_iam_role` trust policies, `aws_iam_policy_document` data sources, `jsonencode`),
without evaluating Terraform: the block that names the provider is read as text.
"""

from __future__ import annotations

import json
import re

from nhiguard.model.issue import Issue, IssueLocation
from nhiguard.model.severity import Severity
from nhiguard.posture import checks as C

PROVIDERS = {"token.actions.githubusercontent.com": "GitHub Actions", "gitlab.com": "GitLab"}
_PROVIDER = re.compile(r"token\.actions\.githubusercontent\.com|(?<![\w.-])gitlab\.com(?=[:/\"'\s]|$)")
_BLOCK_START = re.compile(r'^\s*(?:resource|data)\s+"(aws_iam_role|aws_iam_policy_document)"\s+"([^"]+)"\s*\{',
                          re.MULTILINE)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _block(text: str, start: int) -> str:
    depth, i = 0, text.index("{", start)
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
        i += 1
    return text[start:]


def _verdict(provider: str, body: str) -> tuple[Severity, str] | None:
    """What is wrong with a trust statement's conditions on the provider's token, if anything."""
    sub_key, aud_key = f"{provider}:sub", f"{provider}:aud"
    name = PROVIDERS.get(provider, provider)
    if sub_key not in body:
        return Severity.CRITICAL, (f"trusts {name} OIDC tokens without a condition on their subject "
                                   f"({sub_key}): any workflow of any repository can assume it")
    values = _values_after(body, sub_key)
    said = f"({sub_key} = {', '.join(values)})"
    worst: tuple[Severity, str] | None = None
    for value in values:
        found = _subject_verdict(name, value)
        if found and (worst is None or found[0] > worst[0]):
            worst = found
    if worst:
        return worst[0], f"{worst[1]} {said}"
    if aud_key not in body:
        return Severity.MEDIUM, f"does not check the audience of {name} OIDC tokens ({aud_key})"
    return None


_WILD = re.compile(r"[*?]")


def _subject_verdict(name: str, value: str) -> tuple[Severity, str] | None:
    """A subject pattern (StringLike: `*` any run, `?` any one character) read as
    `repo:OWNER/REPO:CONTEXT` (GitHub) or `project_path:GROUP/PROJECT:ref_type:...` (GitLab)."""
    kind, _, rest = value.partition(":")
    if kind not in ("repo", "project_path") or not rest:
        return (Severity.CRITICAL, f"trusts {name} OIDC tokens of any owner") if _WILD.search(value) else None
    path, _, context = rest.partition(":")
    owner, _, repo = path.rpartition("/")
    if not owner and _WILD.search(path) or _WILD.search(owner):
        anyone = owner.strip("*?") == "" and (owner or path.strip("*?") == "")
        return Severity.CRITICAL, f"trusts {name} OIDC tokens of " + (
            "any owner" if anyone else f"any owner named like {owner or path} (anyone can create one)")
    scope = "any branch, pull request or environment" if not context or context.strip("*") == "" \
        else f"only {context}" if not _WILD.search(context) else f"any {context.split(':', 1)[0]} matching {context}"
    if repo == "*" or repo.startswith("*") and len(repo) <= 2:
        return Severity.HIGH, f"trusts {name} OIDC tokens of every repository of {owner}, {scope}"
    if _WILD.search(repo):
        return Severity.HIGH, f"trusts {name} OIDC tokens of every repository of {owner} named like {repo}, {scope}"
    if not context or context.strip("*") == "" or _WILD.search(context.split(":", 1)[0]):
        return Severity.MEDIUM, f"trusts {name} OIDC tokens of {scope} of the repository"
    return None


def _values_after(body: str, key: str) -> list[str]:
    """The string values given for a condition key, in JSON, HCL maps or policy documents."""
    out: list[str] = []
    for m in re.finditer(re.escape(key), body):
        rest = body[m.end() : m.end() + 600]
        lst = re.match(r'"?\s*[:=]\s*\[([^\]]*)\]', rest) or re.match(r'"?\s*[:=]\s*("[^"]*")', rest)
        if lst is None:  # aws_iam_policy_document: variable = "..." then values = [...]
            lst = re.search(r"values\s*=\s*\[([^\]]*)\]", rest)
        if lst:
            out.extend(re.findall(r'"([^"]*)"', lst.group(1)))
    return out


_DENY = re.compile(r"""["']?effect["']?\s*[:=]\s*["']deny["']""", re.IGNORECASE)
_HCL_STATEMENT = re.compile(r"\bstatement\s*\{")
_JSON_STATEMENTS = re.compile(r"""["']?Statement["']?\s*[:=]\s*\[""")


def _statements(body: str) -> list[str]:
    """The statements of a policy block: `statement {}` blocks of a policy document, the
    objects of a `Statement` list (JSON, jsonencode), or the whole block."""
    found = [_block(body, m.start()) for m in _HCL_STATEMENT.finditer(body)]
    for m in _JSON_STATEMENTS.finditer(body):
        i, depth, start = m.end(), 0, -1
        while i < len(body):
            c = body[i]
            if c == "{":
                depth += 1
                if depth == 1:
                    start = i
            elif c == "}":
                depth -= 1
                if depth == 0 and start >= 0:
                    found.append(body[start:i + 1])
            elif c == "]" and depth == 0:
                break
            i += 1
    return found or [body]


def audit_terraform(path: str, text: str) -> list[Issue]:
    issues = []
    for m in _BLOCK_START.finditer(text):
        body = _block(text, m.start())
        # a Deny statement restricts; only what Allow statements grant is judged
        judged = [(p, _verdict(p, st)) for st in _statements(body) if not _DENY.search(st)
                  for p in sorted({p.group(0) for p in _PROVIDER.finditer(st)})]
        for provider, verdict in judged:
            if verdict is None:
                continue
            severity, what = verdict
            issues.append(Issue(C.OIDC_TRUST_UNRESTRICTED, f"{m.group(1)}.{m.group(2)} {what}",
                                (IssueLocation(path, _line(text, m.start()), 1, {"resource": f"{m.group(1)}.{m.group(2)}"}),),
                                {"provider": provider}, severity))
    return issues


def audit_policy_json(path: str, text: str) -> list[Issue]:
    try:
        doc = json.loads(text)
    except ValueError:
        return []
    statements = doc.get("Statement") if isinstance(doc, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    issues = []
    for n, st in enumerate(statements or []):
        if not isinstance(st, dict) or str(st.get("Effect", "Allow")).lower() == "deny":
            continue
        federated = (st.get("Principal") or {}).get("Federated") if isinstance(st.get("Principal"), dict) else None
        names = [federated] if isinstance(federated, str) else federated or []
        for provider in PROVIDERS:
            if not any(isinstance(f, str) and f.endswith(provider) for f in names):
                continue
            body = json.dumps(st.get("Condition") or {})
            verdict = _verdict(provider, body)
            if verdict is None:
                continue
            severity, what = verdict
            line = _line(text, text.find(provider)) if provider in text else 1
            issues.append(Issue(C.OIDC_TRUST_UNRESTRICTED, f"Statement[{n}] {what}",
                                (IssueLocation(path, line, 1, {"statement": n}),), {"provider": provider},
                                severity))
    return issues


def mentions_oidc(text: str) -> bool:
    return _PROVIDER.search(text) is not None


def audit(path: str, text: str) -> list[Issue]:
    if not mentions_oidc(text):
        return []
    if path.endswith(".json"):
        return audit_policy_json(path, text)
    return audit_terraform(path, text)

