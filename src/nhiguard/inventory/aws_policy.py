"""IAM policy documents as Grants: statements with their actions, resources and conditions,
and what AWS's most used managed policies mean when an export does not include their text."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from nhiguard.model.identity import Grant

# The managed policies whose reach matters most, by name (AWS documents their statements).
KNOWN_MANAGED: dict[str, list[Grant]] = {
    "AdministratorAccess": [Grant(("*",), ("*",))],
    "PowerUserAccess": [Grant(("iam:*", "organizations:*", "account:*"), ("*",), not_action=True),
                        Grant(("iam:CreateServiceLinkedRole", "iam:DeleteServiceLinkedRole", "iam:ListRoles",
                               "organizations:DescribeOrganization", "account:ListRegions"), ("*",))],
    "IAMFullAccess": [Grant(("iam:*", "organizations:DescribeAccount", "organizations:DescribeOrganization",
                             "organizations:DescribeOrganizationalUnit", "organizations:DescribePolicy",
                             "organizations:ListChildren", "organizations:ListParents",
                             "organizations:ListPoliciesForTarget", "organizations:ListRoots",
                             "organizations:ListPolicies", "organizations:ListTargetsForPolicy"), ("*",))],
    "AmazonS3FullAccess": [Grant(("s3:*", "s3-object-lambda:*"), ("*",))],
    "AmazonEC2FullAccess": [Grant(("ec2:*", "elasticloadbalancing:*", "cloudwatch:*", "autoscaling:*"), ("*",)),
                            Grant(("iam:CreateServiceLinkedRole",), ("*",), conditional=True)],
    "AWSLambda_FullAccess": [Grant(("lambda:*", "cloudformation:DescribeStacks", "logs:*"), ("*",)),
                             Grant(("iam:PassRole",), ("*",), conditional=True)],
    "AmazonDynamoDBFullAccess": [Grant(("dynamodb:*",), ("*",))],
    "SecretsManagerReadWrite": [Grant(("secretsmanager:*",), ("*",))],
    "ReadOnlyAccess": [Grant(("*:Get*", "*:List*", "*:Describe*", "s3:GetObject"), ("*",))],
    "SecurityAudit": [Grant(("*:Get*", "*:List*", "*:Describe*"), ("*",))],
    "ViewOnlyAccess": [Grant(("*:List*", "*:Describe*"), ("*",))],
}


def document(value: Any) -> dict[str, Any] | None:
    """A policy document as the AWS CLI prints it (an object) or the API returns it
    (URL-encoded JSON text)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = urllib.parse.unquote(value) if value.lstrip().startswith("%7B") else value
        try:
            doc = json.loads(text)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None
    return None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(str(v) for v in value if isinstance(v, str))
    return ()


def statements(doc: Any) -> list[dict[str, Any]]:
    """The statements of a policy document (an object, or JSON text): one statement or a
    list of them, as policies may write it."""
    d = document(doc)
    found = d.get("Statement") if d is not None else None
    if isinstance(found, dict):
        found = [found]
    return [st for st in found if isinstance(st, dict)] if isinstance(found, list) else []


def statement_principals(st: dict[str, Any], kind: str = "AWS") -> tuple[str, ...]:
    """The principals of one kind a statement names (`Principal: "*"` is every AWS one)."""
    p = st.get("Principal")
    return _strings(p.get(kind)) if isinstance(p, dict) else _strings(p) if kind == "AWS" else ()


def grants(doc: Any, source: str) -> list[Grant]:
    """The Allow and Deny statements of a policy document."""
    out = []
    for st in statements(doc):
        not_action = "NotAction" in st and "Action" not in st
        actions = _strings(st.get("NotAction") if not_action else st.get("Action"))
        resources = _strings(st.get("Resource")) or (("*",) if "NotResource" in st else ())
        if not actions:
            continue
        out.append(Grant(actions, resources or ("*",), source, str(st.get("Effect", "Allow")), not_action,
                         bool(st.get("Condition"))))
    return out


def principals(doc: Any) -> dict[str, list[str]]:
    """Who a role's trust policy lets assume it: {"Service": [...], "Federated": [...], "AWS": [...]}."""
    out: dict[str, list[str]] = {}
    for st in statements(doc):
        if st.get("Effect", "Allow") != "Allow":
            continue
        p = st.get("Principal")
        if p == "*":
            out.setdefault("AWS", []).append("*")
            continue
        if isinstance(p, dict):
            for kind, who in p.items():
                out.setdefault(str(kind), []).extend(_strings(who))
    return out
