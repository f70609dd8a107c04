"""Which identity of the inventory an event's identity is: an access key id, a role's ARN
(for every session of the role), a service account by namespace and name, a service
account's e-mail, a GitHub token by the SHA-256 GitHub logs for it (`hashed_token`, which
scans record for the GitHub tokens they find). And, whether the inventory knows it or not,
whether it is a machine: server-only identities (instance roles, service accounts, CI
identities) are never a person at a keyboard."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from nhiguard.engine.redact import DEFAULT_KEY, fingerprint
from nhiguard.model.event import Event
from nhiguard.watch.detector import Who

_CI_WORDS = re.compile(r"(?:^|[^a-z])(ci|cd|deploy|deployer|github|gitlab|jenkins|circleci|buildkite|pipeline|"
                       r"actions|terraform|atlantis|argocd|release)(?:[^a-z]|$)", re.I)
_MACHINE_WORDS = re.compile(r"(?:^|[^a-z])(svc|service|bot|robot|automation|app|api|sync|backup|etl|job|worker|"
                            r"cron|scanner|integration|system|sa|agent|daemon|pipeline|exporter)(?:[^a-z]|$)", re.I)
_CI_FEDERATION = ("token.actions.githubusercontent.com", "gitlab", "app.terraform.io", "circleci", "buildkite",
                  "bitbucket")
_SERVER_SERVICES = ("ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "eks.amazonaws.com",
                    "batch.amazonaws.com", "codebuild.amazonaws.com", "glue.amazonaws.com",
                    "states.amazonaws.com", "pods.eks.amazonaws.com")
_INSTANCE_SESSION = re.compile(r"^i-[0-9a-f]{8,17}$")


class Resolver:
    def __init__(self, records: list[Any] = (), hashed_tokens: dict[str, tuple[str, str]] | None = None,
                 leaked_keys: dict[str, tuple[str, str]] | None = None, fingerprint_key: bytes = DEFAULT_KEY) -> None:
        """`records`: the inventory's IdentityRecords; `hashed_tokens`: GitHub's token hash ->
        (finding id, preview) for tokens scans found; `leaked_keys`: the keyed fingerprint of
        each AWS access key id scans found -> (finding id, preview), so a call signed with a
        leaked key is known as such without the store holding key ids of leaks."""
        self._leaked = leaked_keys or {}
        self._key = fingerprint_key
        self._by_key: dict[str, Who] = {}
        self._cache: dict[str, Who] = {}
        for r in records:
            i = r.identity
            who = Who(r.id, i.kind, i.name, i.owner or _tag_owner(i.tags), True,
                      _server_only(i), _ci(i))
            if i.kind in ("aws_access_key", "aws_iam_role", "aws_iam_user"):
                self._by_key["aws:" + i.external_id] = who
            elif i.kind == "k8s_service_account":
                ns_name = i.external_id.split("/")[-2:]
                if len(ns_name) == 2:
                    self._by_key[f"k8s-sa:{ns_name[0]}:{ns_name[1]}"] = who
            elif i.kind == "gcp_service_account":
                self._by_key["gcp:" + i.external_id] = who
        for digest, (fid, preview) in (hashed_tokens or {}).items():
            self._by_key["github:token:" + digest] = Who(f"finding/{fid}", "github_token", preview, None, None,
                                                         False, False, f"finding {fid} ({preview})")

    def who(self, e: Event) -> Who:
        hit = self._cache.get(e.identity)
        if hit is not None:
            return hit
        who = self._lookup(e)
        if self._leaked and e.identity.startswith("aws:AKIA"):
            hit = self._leaked.get(fingerprint(e.identity[4:].encode(), self._key))
            if hit is not None:
                who = replace(who, leak=f"finding {hit[0]} ({hit[1]})", inventory_id=who.inventory_id or f"finding/{hit[0]}")
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[e.identity] = who
        return who

    def _lookup(self, e: Event) -> Who:
        key = e.identity
        if key.startswith("k8s:"):
            user = e.principal
            parts = user.split(":")
            if user.startswith("system:serviceaccount:") and len(parts) == 4:
                known = self._by_key.get(f"k8s-sa:{parts[2]}:{parts[3]}")
                if known:
                    return known
                return Who(None, "k8s_service_account", f"{parts[2]}/{parts[3]}", None, True, True,
                           bool(_CI_WORDS.search(parts[3])))
            return Who(None, "", user, None, e.nonhuman, e.identity_type == "system", False)
        known = self._by_key.get(key)
        if known is not None:
            return known
        if e.source == "cloudtrail" and e.identity_type == "AssumedRole":
            session = str(e.params.get("_session") or "")
            role = key.rsplit("/", 1)[-1]
            server = bool(_INSTANCE_SESSION.match(session)) or session.startswith(("botocore-session", "GitHubActions"))
            ci = bool(_CI_WORDS.search(role)) or session.startswith("GitHubActions")
            return Who(None, "aws_iam_role", role, None, e.nonhuman, server or ci, ci)
        if e.source == "cloudtrail" and e.identity_type == "IAMUser":
            # an access key is a person's as often as a program's: only a machine-like user
            # name (or the inventory) says which
            name = str(e.params.get("_caller_user") or "")
            machine = bool(_CI_WORDS.search(name) or _MACHINE_WORDS.search(name))
            return Who(None, "aws_access_key" if key.startswith("aws:AKIA") else "aws_iam_user", name, None,
                       True if machine else None, False, bool(_CI_WORDS.search(name)))
        if e.source == "gcp" and e.nonhuman:
            return Who(None, "gcp_service_account", e.principal, None, True, True, bool(_CI_WORDS.search(e.principal)))
        if e.source == "github" and e.identity_type in ("app", "actions"):
            return Who(None, "github_app", e.principal, None, True, True, e.identity_type == "actions")
        return Who(None, "", e.principal, None, e.nonhuman, False, False)


def _tag_owner(tags: Any) -> str | None:
    for k in ("owner", "Owner", "team", "Team"):
        if isinstance(tags, dict) and tags.get(k):
            return str(tags[k])
    return None


def _trusted(i: Any) -> dict[str, list[str]]:
    t = i.attributes.get("trusted") if isinstance(i.attributes, dict) else None
    return t if isinstance(t, dict) else {}


def _server_only(i: Any) -> bool:
    if i.kind in ("k8s_service_account", "k8s_sa_token", "gcp_service_account", "gcp_service_account_key",
                  "github_app_installation"):
        return True
    if i.kind == "aws_iam_role":
        t = _trusted(i)
        return any(s in _SERVER_SERVICES for s in t.get("Service") or []) or _ci(i)
    return False


def _ci(i: Any) -> bool:
    if i.kind == "aws_iam_role":
        fed = " ".join(_trusted(i).get("Federated") or [])
        if any(p in fed for p in _CI_FEDERATION):
            return True
    parent = str(i.attributes.get("parent_name") or "") if isinstance(i.attributes, dict) else ""
    return bool(_CI_WORDS.search(i.name or "") or _CI_WORDS.search(parent))
