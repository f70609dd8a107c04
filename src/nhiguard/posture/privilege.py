"""What an identity's grants let it do that matters: administration, wildcards over whole
services, and the known ways to gain more (privilege escalation paths), for AWS IAM,
Kubernetes RBAC, GCP roles and GitHub permissions. Deny statements are honoured only when
they plainly cover the action everywhere; conditions are not evaluated (the grant is
reported as conditional)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from nhiguard.model.identity import Grant

# AWS: the permissions that let an identity give itself (or a resource it controls) more
_AWS_ESCALATION: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("create access keys for other users", ("iam:CreateAccessKey",)),
    ("set or change other users' console passwords", ("iam:CreateLoginProfile",)),
    ("set or change other users' console passwords", ("iam:UpdateLoginProfile",)),
    ("attach any policy to users, groups or roles", ("iam:AttachUserPolicy",)),
    ("attach any policy to users, groups or roles", ("iam:AttachRolePolicy",)),
    ("attach any policy to users, groups or roles", ("iam:AttachGroupPolicy",)),
    ("write inline policies", ("iam:PutUserPolicy",)),
    ("write inline policies", ("iam:PutRolePolicy",)),
    ("write inline policies", ("iam:PutGroupPolicy",)),
    ("rewrite managed policies", ("iam:CreatePolicyVersion",)),
    ("rewrite managed policies", ("iam:SetDefaultPolicyVersion",)),
    ("change who may assume a role", ("iam:UpdateAssumeRolePolicy",)),
    ("join any group", ("iam:AddUserToGroup",)),
    ("pass a role to new EC2 instances", ("iam:PassRole", "ec2:RunInstances")),
    ("pass a role to new Lambda functions", ("iam:PassRole", "lambda:CreateFunction")),
    ("pass a role to CloudFormation stacks", ("iam:PassRole", "cloudformation:CreateStack")),
    ("pass a role to ECS tasks", ("iam:PassRole", "ecs:RunTask")),
    ("pass a role to Glue endpoints", ("iam:PassRole", "glue:CreateDevEndpoint")),
    ("change the code of any Lambda function", ("lambda:UpdateFunctionCode",)),
    ("assume any role", ("sts:AssumeRole",)),
)
_K8S_ESCALATION = (
    ("read every Secret", ("get secrets", "list secrets")),
    ("create pods (and mount any service account or Secret)", ("create pods",)),
    ("exec into pods", ("create pods/exec",)),
    ("impersonate users, groups or service accounts", ("impersonate users", "impersonate serviceaccounts",
                                                        "impersonate groups")),
    ("bind roles or escalate them", ("bind clusterroles", "bind roles", "escalate clusterroles", "escalate roles")),
    ("write role bindings", ("create rolebindings", "create clusterrolebindings", "update clusterrolebindings")),
    ("mint tokens for service accounts", ("create serviceaccounts/token",)),
)
_GCP_ESCALATION = (
    ("mint tokens as other service accounts", "iam.serviceAccounts.getAccessToken"),
    ("create keys for service accounts", "iam.serviceAccountKeys.create"),
    ("change the project's IAM policy", "resourcemanager.projects.setIamPolicy"),
    ("act as service accounts", "iam.serviceAccounts.actAs"),
)
_GITHUB_BROAD = re.compile(r"(?:^|:)(administration|workflows|secrets|organization_administration|members|"
                           r"organization_secrets|actions|contents|environments):(write|admin)$")


@dataclass(frozen=True)
class Reach:
    admin: list[str]  # grants that allow everything
    wildcards: list[str]  # service:* on everything, and the like
    escalations: list[str]  # escalation paths, in words, with the grant that allows each


@lru_cache(maxsize=4096)
def _pattern(glob: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(glob.lower()).replace(r"\*", ".*").replace(r"\?", ".") + "$")


def _allows(grants: Sequence[Grant], action: str) -> Grant | None:
    """The Allow grant that covers `action` on every resource, unless a plain Deny covers it."""
    a = action.lower()
    for g in grants:
        if g.effect.lower() == "deny" and not g.conditional and not g.not_action \
                and any(_pattern(x).match(a) for x in g.actions):
            return None
    for g in grants:
        if g.effect.lower() != "allow" or not any(_broad(r) for r in g.resources):
            continue
        hit = any(_pattern(x).match(a) for x in g.actions)
        if hit != g.not_action:
            return g
    return None


def _broad(resource: str) -> bool:
    """A resource pattern that covers a whole kind: `*`, `arn:...:*`, every user or role of
    an account (`arn:aws:iam::1:user/*`, `role/*`), a cluster, a project."""
    return resource == "*" or resource.endswith((":*", "/*")) or resource == "cluster" or resource.startswith("projects/")


def aws_reach(grants: Sequence[Grant]) -> Reach:
    admin, wild, esc = [], [], []
    if any(g.effect.lower() == "deny" and not g.conditional and not g.not_action and "*" in g.actions
           and "*" in g.resources for g in grants):
        return Reach([], [], [])  # everything is denied, whatever is allowed
    for g in grants:
        if g.effect.lower() != "allow" or "*" not in g.resources:
            continue
        if g.not_action or "*" in g.actions or "*:*" in g.actions:
            admin.append(f"{'every action except ' + ', '.join(g.actions) if g.not_action else '*'} on * ({g.source})"
                         + (" (conditional)" if g.conditional else ""))
        else:
            wild += [f"{a} on * ({g.source})" for a in g.actions if a.endswith(":*")]
    for words, actions in _AWS_ESCALATION:
        hits = [_allows(grants, a) for a in actions]
        if all(hits):
            esc.append(f"{words}: {' + '.join(actions)} ({hits[0].source if hits[0] else ''})")
    return Reach(admin, wild, list(dict.fromkeys(esc)) if not admin else [])


def k8s_reach(grants: Sequence[Grant]) -> Reach:
    admin, wild, esc = [], [], []
    for g in grants:
        for a in g.actions:
            verb, _, res = a.partition(" ")
            if verb == "*" and res == "*":
                admin.append(f"every verb on every resource, {g.resources[0]} ({g.source})")
            elif "*" in (verb, res):
                wild.append(f"{a}, {g.resources[0]} ({g.source})")
    for words, needs in _K8S_ESCALATION:
        for g in grants:
            if any(_k8s_match(a, n) for a in g.actions for n in needs):
                esc.append(f"{words}, {g.resources[0]} ({g.source})")
                break
    return Reach(admin, wild, esc if not admin else [])


def _k8s_match(action: str, need: str) -> bool:
    verb, _, res = action.partition(" ")
    nverb, _, nres = need.partition(" ")
    return verb in ("*", nverb) and (res in ("*", nres) or res == nres.split("/")[0] + "/*")


def gcp_reach(grants: Sequence[Grant]) -> Reach:
    admin = [f"{g.source} on {g.resources[0]}" for g in grants if "*" in g.actions and not g.conditional]
    esc = [f"{words} ({g.source})" for words, perm in _GCP_ESCALATION for g in grants if perm in g.actions]
    return Reach(admin, [], esc if not admin else [])


def github_reach(grants: Sequence[Grant]) -> Reach:
    broad = [f"{a} on {g.resources[0]} repositories" for g in grants for a in g.actions if _GITHUB_BROAD.search(a)]
    admin = [b for b in broad if "administration:write" in b or b.startswith("organization_administration")]
    return Reach(admin, [b for b in broad if b not in admin], [])


def reach(provider: str, grants: Sequence[Grant]) -> Reach:
    if provider == "aws":
        return aws_reach(grants)
    if provider == "kubernetes":
        return k8s_reach(grants)
    if provider == "gcp":
        return gcp_reach(grants)
    if provider == "github":
        return github_reach(grants)
    return Reach([], [], [])
