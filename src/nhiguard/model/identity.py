"""A non-human identity: a principal (IAM user or role, service account, service principal,
GitHub app installation) or one of its credentials (access key, service-account key or
token, client secret, personal access token, deploy key), as the provider's own inventory
describes it. Secrets never appear here: an identity is known by its external id (an access
key id, an e-mail, a key id), which providers treat as public."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Kinds of principal; the other kinds are credentials that belong to one (their `parent`).
PRINCIPAL_KINDS = frozenset({
    "aws_iam_user", "aws_iam_role", "gcp_service_account", "azure_service_principal",
    "k8s_service_account", "github_app_installation",
})


def identity_id(provider: str, kind: str, external_id: str) -> str:
    """An identity's id: 16 hex of sha256 over provider, kind and external id, so the same
    identity imported twice (or from two exports) is one row."""
    return hashlib.sha256(f"{provider}\0{kind}\0{external_id}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Grant:
    """One permission statement reaching the identity: actions on resources, and where it
    comes from (a policy, a group's policy, a role binding, an OAuth scope)."""

    actions: tuple[str, ...]  # "s3:GetObject", "iam:*", "*", k8s "get secrets", "contents:write"
    resources: tuple[str, ...] = ("*",)
    source: str = ""  # "policy AdministratorAccess", "group devs: inline ops", "ClusterRoleBinding x"
    effect: str = "Allow"
    not_action: bool = False  # AWS NotAction: every action except `actions`
    conditional: bool = False  # limited by conditions the check cannot evaluate

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"actions": list(self.actions), "resources": list(self.resources),
                               "source": self.source, "effect": self.effect}
        if self.not_action:
            out["not_action"] = True
        if self.conditional:
            out["conditional"] = True
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Grant:
        return cls(tuple(d.get("actions") or ()), tuple(d.get("resources") or ("*",)), str(d.get("source") or ""),
                   str(d.get("effect") or "Allow"), bool(d.get("not_action")), bool(d.get("conditional")))


@dataclass(frozen=True)
class Identity:
    kind: str  # aws_iam_user, aws_access_key, gcp_service_account_key, k8s_sa_token, github_pat, ...
    provider: str  # aws, gcp, azure, kubernetes, github, or a scanned secret's provider
    external_id: str  # the provider's id: an ARN, an access key id, an e-mail, namespace/name
    name: str = ""
    account: str = ""  # AWS account, GCP project, Azure tenant, cluster, GitHub organisation
    parent_id: str | None = None  # the principal a credential belongs to
    owner: str | None = None
    purpose: str | None = None
    environment: str | None = None
    created: datetime | None = None
    expires: datetime | None = None
    last_used: datetime | None = None
    last_rotated: datetime | None = None
    status: str = "active"  # active, inactive, disabled, expired, suspended
    privileges: tuple[str, ...] = ()  # short names: policies, roles, scopes
    grants: tuple[Grant, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    attributes: Mapping[str, Any] = field(default_factory=dict)  # what else the export says
    link_fingerprint: str | None = None  # keyed fingerprint of the id as a scan would see it
    source: str = ""  # the import that described it: "aws-credential-report:report.csv"

    @property
    def id(self) -> str:
        return identity_id(self.provider, self.kind, self.external_id)

    @property
    def is_principal(self) -> bool:
        return self.kind in PRINCIPAL_KINDS
