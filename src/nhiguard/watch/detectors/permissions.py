"""New permissions granted: policies attached or written, roles opened to other accounts,
users added to groups, Kubernetes role bindings and wildcard roles, GCP IAM policy
changes, GitHub admin grants. Administrative grants are critical: they are how a foothold
becomes the estate."""

from __future__ import annotations

import json

from nhiguard.inventory import aws_policy
from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal, routine

DETECTOR = Detector("watch.new-permissions", "Permissions granted", Severity.MEDIUM, ("NHI5:2025",),
                    ("T1098.003", "T1098"), "granting permissions is how a stolen identity keeps and widens access")

_ADMIN_POLICIES = ("AdministratorAccess", "IAMFullAccess", "PowerUserAccess", "AWSOrganizationsFullAccess")
_IAM_GRANTS = frozenset({"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy", "PutUserPolicy", "PutRolePolicy",
                         "PutGroupPolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "AddUserToGroup",
                         "UpdateAssumeRolePolicy", "CreateRole", "PutRolePermissionsBoundary",
                         "DeleteRolePermissionsBoundary", "DeleteUserPermissionsBoundary"})
_K8S_GRANTS = ("k8s:create clusterrolebindings", "k8s:create rolebindings", "k8s:update clusterrolebindings",
               "k8s:patch clusterrolebindings", "k8s:create clusterroles", "k8s:update clusterroles",
               "k8s:patch clusterroles", "k8s:create roles", "k8s:update roles", "k8s:patch roles",
               "k8s:patch rolebindings", "k8s:update rolebindings", "k8s:delete clusterroles", "k8s:delete roles",
               "k8s:delete clusterrolebindings")
_GITHUB_GRANTS = {"org.update_member": "a member's organisation role changed", "org.add_member": "a member added",
                  "repo.add_member": "a collaborator added", "repo.update_member": "a collaborator's role changed",
                  "team.add_repository": "a team given a repository", "team.add_member": "a member added to a team",
                  "business.add_admin": "an enterprise owner added", "org.add_billing_manager": "a billing manager added",
                  "integration_installation.create": "an app installed",
                  "oauth_application.create": "an OAuth app created"}
# built-in roles that hand over a namespace, or a control-plane component's powers
_K8S_STRONG_ROLES = frozenset({"admin", "edit", "system:kube-controller-manager", "system:kube-scheduler",
                               "system:node", "system:aggregate-to-admin", "system:aggregate-to-edit"})
_ADMIN_ROLES_GCP = ("roles/owner", "roles/editor", "roles/iam.securityAdmin", "roles/iam.serviceAccountAdmin",
                    "roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountKeyAdmin",
                    "roles/resourcemanager.projectIamAdmin")


def _allow_statements(doc: object) -> list[dict]:
    return [st for st in aws_policy.statements(doc) if st.get("Effect") == "Allow"]


def _doc_is_admin(doc: object) -> bool:
    if isinstance(doc, str):
        try:
            doc = json.loads(doc)
        except ValueError:
            return '"*"' in doc  # not JSON (cut by CloudTrail's size limit): a wildcard is telling enough
    for st in _allow_statements(doc):
        acts = st.get("Action")
        acts = [acts] if isinstance(acts, str) else acts or []
        if any(a == "*" or a.endswith(":*") and a.startswith("iam") for a in acts if isinstance(a, str)):
            return True
    return False


def _trusts_outsider(doc: object, account: str) -> str | None:
    for st in _allow_statements(doc):
        for a in aws_policy.statement_principals(st):
            if a == "*" or account and account not in a:
                return a
    return None


def relevant(action: str) -> bool:
    service, _, op = action.partition(":")
    return (service == "iam" and op in _IAM_GRANTS or action in _K8S_GRANTS
            or service == "gcp" and op.lower().endswith("setiampolicy") or service == "github" and op in _GITHUB_GRANTS)


def check(ctx: Context) -> list[Signal]:
    return routine(ctx, _check(ctx))


def _check(ctx: Context) -> list[Signal]:
    e = ctx.event
    if not e.success:
        return []
    service, _, op = e.action.partition(":")
    p = e.params
    if service == "iam" and op in _IAM_GRANTS:
        target = p.get("userName") or p.get("roleName") or p.get("groupName") or p.get("policyArn") or ""
        policy = str(p.get("policyArn") or p.get("policyName") or "")
        sev = None
        what = f"{op} on {target}"
        if any(policy.endswith("/" + a) for a in _ADMIN_POLICIES) or _doc_is_admin(p.get("policyDocument")):
            sev, what = Severity.CRITICAL, f"{op}: administrator access for {target} ({policy or 'inline'})"
        if op in ("UpdateAssumeRolePolicy", "CreateRole"):
            outsider = _trusts_outsider(p.get("policyDocument") or p.get("assumeRolePolicyDocument"), e.account)
            if outsider is None:
                return [] if op == "CreateRole" else [Signal(DETECTOR, f"trust policy of role {target} changed",
                                                             "", f"{op}:{target}", {"role": target}, Severity.MEDIUM)]
            sev, what = Severity.HIGH, f"{op}: role {target} may now be assumed by {outsider}"
        return [Signal(DETECTOR, what, "", f"{op}:{target}:{policy}",
                       {"operation": op, "target": target, "policy": policy or None}, sev)]
    if e.action in _K8S_GRANTS:
        name = f"{e.resource}"
        system = name.rpartition("/")[2].startswith("system:") and not e.principal.startswith("system:")
        if e.action.startswith("k8s:delete"):
            if not system:
                return []  # taking permissions away is no grant; Kubernetes' own roles are another matter
            return [Signal(DETECTOR, f"Kubernetes system role {name} deleted by {e.principal}", "",
                           f"{e.action}:{name}", {"object": name}, Severity.HIGH)]
        role = p.get("role_ref") or ""
        rules = p.get("rules") or []
        wild = any("*" in (r.get("verbs") or []) or "*" in (r.get("resources") or []) for r in rules)
        reads_secrets = any("secrets" in (r.get("resources") or []) for r in rules)
        execs = any("pods/exec" in (r.get("resources") or []) for r in rules)
        subjects = p.get("subjects") or []
        masters = any(str(x).endswith(":system:masters") for x in subjects)
        sev = (Severity.CRITICAL if role == "cluster-admin" or masters else
               Severity.HIGH if wild or execs or reads_secrets or role in _K8S_STRONG_ROLES
               or role.startswith("system:controller:") or system else None)
        detail = (f" binding {role} to {', '.join(p.get('subjects') or []) or 'someone'}" if role else
                  " with wildcards" if wild else " with pods/exec" if execs else
                  " reading secrets" if reads_secrets else "")
        return [Signal(DETECTOR, f"{e.action.partition(':')[2]} {name}{detail}", "", f"{e.action}:{name}",
                       {"object": name, "role": role or None, "subjects": p.get("subjects") or None,
                        "wildcards": wild or None}, sev)]
    if service == "gcp" and op.lower().endswith("setiampolicy"):
        roles = sorted({b.get("role") for b in p.get("bindings") or [] if b.get("role")} |
                       {d.get("role") for d in p.get("binding_deltas") or [] if d.get("action") == "ADD"})
        admin = [r for r in roles if r in _ADMIN_ROLES_GCP]
        members = sorted({d.get("member") for d in p.get("binding_deltas") or []
                          if d.get("action") == "ADD" and d.get("role") in admin and d.get("member")})
        sev = Severity.CRITICAL if "roles/owner" in admin else Severity.HIGH if admin else None
        return [Signal(DETECTOR, f"IAM policy of {e.resource} set" + (f", granting {', '.join(admin)}" if admin else "")
                       + (f" to {', '.join(members[:5])}" if members else ""),
                       "", f"{op}:{e.resource}:{','.join(admin)}",
                       {"resource": e.resource, "roles": roles[:20], "members": members[:20] or None}, sev)]
    if service == "github" and op in _GITHUB_GRANTS:
        perm = str(p.get("permission") or "")
        sev = Severity.HIGH if perm in ("admin", "owner") or op == "business.add_admin" else Severity.LOW
        return [Signal(DETECTOR, f"{_GITHUB_GRANTS[op]} in {e.resource}" + (f" ({perm})" if perm else ""), "",
                       f"{op}:{e.resource}:{p.get('user', '')}", {"operation": op, "user": p.get("user"),
                                                                  "permission": perm or None}, sev)]
    return []
