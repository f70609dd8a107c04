"""`nhiguard posture`: every identity of the inventory judged against the OWASP Non-Human
Identities Top 10 (2025). Thresholds come from settings (`unused_days`, `max_key_age_days`,
`max_token_lifetime_days`); each issue carries the facts it rests on as evidence."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nhiguard.inventory.aws_policy import statement_principals, statements
from nhiguard.inventory.view import IdentityView
from nhiguard.model.issue import Check, IdentityIssue
from nhiguard.model.severity import Severity
from nhiguard.posture.checks import NHI2, NHI5, NHI6, NHI7, NHI8, NHI9, OWASP_NHI
from nhiguard.posture.privilege import reach
from nhiguard.settings import Settings

NHI1 = "NHI1:2025"  # Improper Offboarding
NHI3 = "NHI3:2025"  # Vulnerable Third-Party NHI
NHI4 = "NHI4:2025"  # Insecure Authentication
NHI10 = "NHI10:2025"  # Human Use of NHI

#: Kinds that are static secrets: they work until someone revokes them
STATIC_KINDS = frozenset({"aws_access_key", "aws_signing_certificate", "gcp_service_account_key", "azure_client_secret",
                          "azure_certificate", "k8s_sa_token", "github_pat", "github_deploy_key"})


def _check(cid: str, title: str, owasp: tuple[str, ...], sev: Severity, advice: str) -> Check:
    return Check(cid, title, owasp, sev, advice, (OWASP_NHI,))


UNOWNED = _check("nhi.unowned", "Identity without an owner", (NHI1,), Severity.MEDIUM,
                 "Give every identity an owner (`nhiguard inventory own`, an `owners` rule, a provider tag or "
                 "CODEOWNERS) so someone can rotate it, answer for it and offboard it.")
UNUSED = _check("nhi.unused", "Credential or identity not used for a long time", (NHI1,), Severity.MEDIUM,
                "Disable it, wait for complaints, then delete it; unused credentials are pure risk.")
ORPHANED = _check("nhi.orphaned", "Credential whose identity is disabled or gone", (NHI1,), Severity.HIGH,
                  "Delete credentials of decommissioned identities; they outlive the people and services that knew them.")
LEAKED = _check("nhi.leaked", "Secret leaked in code, images or logs", (NHI2,), Severity.HIGH,
                "Revoke or rotate the secret now, then remove the copies (history too) and triage the finding.")
THIRD_PARTY = _check("nhi.third-party-broad", "Third-party app with broad access", (NHI3,), Severity.HIGH,
                     "Limit the app to the repositories and permissions it needs; review what it was granted.")
STATIC_AUTH = _check("nhi.static-credential", "Static credential where short-lived federation exists",
                     (NHI4, NHI7), Severity.MEDIUM,
                     "Use workload identity: IAM roles (instance profiles, OIDC from CI), GCP workload identity "
                     "federation, Azure managed identities or federated credentials, Kubernetes projected tokens.")
ROOT_KEYS = _check("nhi.root-access-key", "AWS root user with access keys", (NHI4, NHI5), Severity.CRITICAL,
                   "Delete the root user's access keys; use IAM roles for automation.")
OVERPRIVILEGED = _check("nhi.overprivileged", "Identity with administrative or escalating privileges", (NHI5,),
                        Severity.HIGH, "Grant least privilege: scope actions and resources to what the workload "
                        "uses (access advisor, last-accessed data), and remove escalation paths.")
INSECURE_TRUST = _check("nhi.insecure-trust", "Role or account that untrusted parties can assume", (NHI6,),
                        Severity.HIGH, "Restrict trust policies to named principals, and OIDC trust to named "
                        "repositories and branches with audience checks; bind privileges to dedicated service accounts.")
LONG_LIVED = _check("nhi.long-lived", "Long-lived secret: old, never rotated or never expiring", (NHI7,),
                    Severity.MEDIUM, "Rotate static credentials on a schedule shorter than max_key_age_days, "
                    "give tokens an expiry, or replace them with short-lived credentials.")
ENV_CROSSING = _check("nhi.environment-crossing", "One credential across environments", (NHI8,), Severity.HIGH,
                      "Give each environment its own credential; a development copy of a production secret "
                      "is a production secret.")
REUSED = _check("nhi.reused", "One credential shared by several applications", (NHI9,), Severity.MEDIUM,
                "Issue one identity per workload so each can be rotated, scoped and revoked on its own.")
HUMAN_USE = _check("nhi.human-use", "Non-human identity used by a person, or a person's token used by automation",
                   (NHI10,), Severity.MEDIUM, "Keep people on their own accounts with MFA and give automation its "
                   "own identities (service accounts, GitHub Apps).")

CHECKS: dict[str, Check] = {c.id: c for c in (UNOWNED, UNUSED, ORPHANED, LEAKED, THIRD_PARTY, STATIC_AUTH, ROOT_KEYS,
                                              OVERPRIVILEGED, INSECURE_TRUST, LONG_LIVED, ENV_CROSSING, REUSED,
                                              HUMAN_USE)}

#: Kinds whose exports say when they were last used (nothing said means never)
_USE_TRACKED = frozenset({"aws_access_key", "aws_iam_role", "aws_iam_user", "github_pat", "github_deploy_key"})

# Microsoft Graph application permissions (app roles) that reach a whole tenant
_GRAPH = "00000003-0000-0000-c000-000000000000"
_GRAPH_BROAD = {"19dbc75e-c2e2-444c-a770-ec69d8559fc7": "Directory.ReadWrite.All",
                "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9": "Application.ReadWrite.All",
                "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8": "RoleManagement.ReadWrite.Directory"}
_CI_NAME = ("ci", "cd", "deploy", "deployer", "github", "gitlab", "jenkins", "circleci", "bitbucket", "actions",
            "pipeline", "terraform", "bot", "automation")


class _Judge:
    def __init__(self, views: Sequence[IdentityView], settings: Settings, now: datetime) -> None:
        self.views = list(views)
        self.by_id = {v.id: v for v in views}
        self.s = settings
        self.now = now
        self.issues: list[IdentityIssue] = []

    def add(self, check: Check, v: IdentityView, message: str, severity: Severity | None = None, **evidence: Any) -> None:
        self.issues.append(IdentityIssue(check, v.id, v.kind, v.identity.name, message,
                                         {k: x for k, x in evidence.items() if x is not None}, severity))

    def days(self, when: datetime | None) -> int | None:
        return None if when is None else (self.now - when).days

    def active(self, v: IdentityView) -> bool:
        return v.identity.status in ("active", "")

    def person(self, v: IdentityView) -> bool:
        """An IAM user that is a person: signs in with a password and MFA, holds no access
        key, and nothing of it leaked. The NHI checks are not about people."""
        i = v.identity
        return (i.kind == "aws_iam_user" and not i.attributes.get("root") and bool(i.attributes.get("password_enabled"))
                and bool(i.attributes.get("mfa_active")) and not v.leaks
                and not any(c in self.by_id and self.by_id[c].kind == "aws_access_key" and self.active(self.by_id[c])
                            for c in v.credentials))

    def run(self) -> list[IdentityIssue]:
        for v in self.views:
            if self.person(v):
                continue
            for step in (self.ownership, self.unused, self.orphaned, self.leaked, self.third_party, self.static_auth,
                         self.privileges, self.trust, self.long_lived, self.environments, self.reuse, self.human_use):
                step(v)
        return sorted(self.issues, key=lambda i: (-i.level, i.check.id, i.name))

    # ------------------------------------------------------------------ NHI1
    def ownership(self, v: IdentityView) -> None:
        i = v.identity
        if i.parent_id is not None and i.parent_id in self.by_id:
            return  # a credential is answered for by its principal's owner (flagged there)
        if v.owner is None and self.active(v) and not i.attributes.get("service_linked") \
                and not (v.found and all(lk.finding.status in ("false_positive", "fixed") for lk in v.leaks)):
            self.add(UNOWNED, v, f"{i.kind} {i.name} has no owner", account=i.account or None)

    def unused(self, v: IdentityView) -> None:
        i = v.identity
        if v.found or not self.active(v) or i.attributes.get("service_linked") or i.attributes.get("root"):
            return
        if i.kind not in _USE_TRACKED:
            return  # the exports say nothing about when the others were used
        limit = self.s.unused_days
        fresh = max((t for t in (i.created, i.last_rotated) if t is not None), default=None)
        if fresh is None or (self.days(fresh) or 0) < limit:
            return  # brand-new or just rotated (or of unknown age): not yet a sign of anything
        if i.last_used is None:
            self.add(UNUSED, v, f"{i.kind} {i.name} was never used in the {self.days(fresh)} days since it was "
                     f"created or rotated (threshold {limit} days)", created=_iso(i.created), threshold_days=limit)
        elif (d := self.days(i.last_used)) is not None and d >= limit:
            self.add(UNUSED, v, f"{i.kind} {i.name} was last used {d} days ago (threshold {limit} days)",
                     last_used=_iso(i.last_used), days_unused=d, threshold_days=limit)

    def orphaned(self, v: IdentityView) -> None:
        i = v.identity
        if i.parent_id is None or not self.active(v) or i.kind not in STATIC_KINDS:
            return
        parent = self.by_id.get(i.parent_id)
        if parent is None:
            if i.kind == "k8s_sa_token" and any(o.identity.kind == "k8s_service_account" and o.identity.account == i.account
                                                for o in self.views):
                self.add(ORPHANED, v, f"token {i.name} belongs to service account "
                         f"{i.attributes.get('service_account')}, which no longer exists",
                         service_account=i.attributes.get("service_account"))
        elif parent.identity.status in ("disabled", "deleted", "suspended"):
            self.add(ORPHANED, v, f"{i.kind} {i.name} is active but its {parent.kind} {parent.identity.name} is "
                     f"{parent.identity.status}", parent=parent.id)

    # ------------------------------------------------------------------ NHI2
    def leaked(self, v: IdentityView) -> None:
        open_leaks = [lk for lk in v.leaks if lk.finding.status in ("open", "accepted")]
        if not open_leaks:
            return
        places = sorted({f"{c.target}:{c.path}" if c.path else c.target for lk in open_leaks for c in lk.copies})
        live = any((lk.verification or {}).get("status") == "live" for lk in open_leaks)
        imported_active = not v.found and self.active(v)
        severity = Severity.CRITICAL if live or imported_active else None
        state = ("verified live" if live else "still active in the provider's inventory" if imported_active else
                 "not known to be revoked")
        if all(lk.finding.rule_id == "nhiguard.aws.access-key-id" for lk in open_leaks) and not live:
            # the key id names the key but cannot sign a request: serious, not yet a way in
            severity, state = Severity.HIGH, state + "; only its key id was found, not its secret"
        self.add(LEAKED, v, f"{v.identity.name} leaked in {len(places)} place(s), {state}", severity,
                 findings=[lk.finding.id for lk in open_leaks], places=places[:20], live=live or None)

    # ------------------------------------------------------------------ NHI3
    def third_party(self, v: IdentityView) -> None:
        i = v.identity
        if i.kind == "github_app_installation" and self.active(v):
            broad = reach("github", i.grants)
            if i.attributes.get("repository_selection") == "all" and (broad.admin or broad.wildcards):
                self.add(THIRD_PARTY, v, f"GitHub App {i.name} may write to every repository of {i.account}: "
                         + ", ".join(sorted({x.split(' on ')[0] for x in broad.admin + broad.wildcards})),
                         permissions=list(i.privileges))
        if i.kind == "azure_service_principal":
            broad = [name for p in i.privileges for gid, name in _GRAPH_BROAD.items()
                     if p.startswith(_GRAPH) and p.endswith(gid) and ":Role:" in p]
            if broad:
                self.add(THIRD_PARTY, v, f"app {i.name} requests tenant-wide Microsoft Graph application "
                         f"permissions: {', '.join(broad)}", permissions=broad)

    # ------------------------------------------------------------------ NHI4
    def static_auth(self, v: IdentityView) -> None:
        i = v.identity
        if not self.active(v) or v.found:
            return
        if i.kind == "aws_access_key" and i.attributes.get("root"):
            self.add(ROOT_KEYS, v, f"the root user of account {i.account} has an active access key")
            return
        if i.kind == "aws_access_key":
            parent = self.by_id.get(i.parent_id or "")
            name = (parent.identity.name if parent else str(i.attributes.get("parent_name") or "")).lower()
            if any(w in _words(name) for w in _CI_NAME):
                self.add(STATIC_AUTH, v, f"access key {i.name} of {name!r}, which looks like automation: an IAM "
                         "role (OIDC from CI, an instance profile) would give it short-lived credentials",
                         user=name)
        elif i.kind == "gcp_service_account_key" and i.attributes.get("user_managed"):
            self.add(STATIC_AUTH, v, f"user-managed key {i.name}: workload identity federation or attached "
                     "service accounts need no key")
        elif i.kind == "azure_client_secret":
            self.add(STATIC_AUTH, v, f"client secret {i.name}: a managed identity or federated credential needs none",
                     Severity.LOW)
        elif i.kind == "k8s_sa_token":
            self.add(STATIC_AUTH, v, f"legacy service-account token Secret {i.name} never expires: pods get "
                     "short-lived projected tokens without it", Severity.MEDIUM)

    # ------------------------------------------------------------------ NHI5
    def privileges(self, v: IdentityView) -> None:
        i = v.identity
        if not i.grants or not self.active(v) or i.attributes.get("service_linked"):
            return
        r = reach(i.provider, i.grants)
        if r.admin:
            self.add(OVERPRIVILEGED, v, f"{i.kind} {i.name} is an administrator: {r.admin[0]}",
                     Severity.CRITICAL if i.kind in ("aws_iam_user",) or v.leaks else None, admin=r.admin[:5])
        elif r.escalations:
            self.add(OVERPRIVILEGED, v, f"{i.kind} {i.name} can escalate its privileges: {r.escalations[0]}",
                     escalations=r.escalations[:8])
        elif r.wildcards:
            what = ("broad repository permissions" if i.provider == "github" else
                    "whole services on every resource")
            self.add(OVERPRIVILEGED, v, f"{i.kind} {i.name} has {what}: "
                     + ", ".join(r.wildcards[:3]), Severity.MEDIUM, wildcards=r.wildcards[:8])

    # ------------------------------------------------------------------ NHI6
    def trust(self, v: IdentityView) -> None:
        i = v.identity
        if i.kind == "aws_iam_role" and isinstance(i.attributes.get("trust_policy"), dict):
            from nhiguard.posture.ci_trust import audit_policy_json

            trusted = i.attributes.get("trusted") or {}
            if "*" in (trusted.get("AWS") or []):
                scope = _open_trust_scope(i.attributes["trust_policy"])
                if scope is None:
                    self.add(INSECURE_TRUST, v, f"role {i.name} can be assumed by any AWS principal (Principal: *)",
                             Severity.CRITICAL)
                elif scope:
                    self.add(INSECURE_TRUST, v, f"role {i.name} can be assumed by any AWS principal that meets "
                             f"{scope} (Principal: * narrowed by a condition)", Severity.LOW, condition=scope)
            for issue in audit_policy_json(i.name, json.dumps(i.attributes["trust_policy"])):
                self.add(INSECURE_TRUST, v, f"role {i.name} {issue.message.split('] ', 1)[-1]}", issue.level,
                         provider=issue.evidence.get("provider"))
        if i.kind == "k8s_service_account" and i.attributes.get("default") and i.grants:
            mounted = i.attributes.get("automount_token", True) is not False
            self.add(INSECURE_TRUST, v, f"the default service account of namespace {i.attributes.get('namespace')} "
                     "has role bindings: " + ("every pod there that names no account gets them" if mounted else
                                              "its token is not mounted by default, but any pod there may ask "
                                              "for it"), Severity.MEDIUM if mounted else Severity.LOW,
                     privileges=list(i.privileges))

    # ------------------------------------------------------------------ NHI7
    def long_lived(self, v: IdentityView) -> None:
        i = v.identity
        if i.kind not in STATIC_KINDS or not self.active(v) or v.found:
            return
        if i.kind == "gcp_service_account_key" and i.attributes.get("user_managed") is False:
            return  # Google-managed keys are rotated by Google and never leave it
        since = i.last_rotated or i.created
        age = self.days(since)
        limit, lifetime = self.s.max_key_age_days, self.s.max_token_lifetime_days
        if i.expires is not None and i.created is not None and (i.expires - i.created) > timedelta(days=lifetime):
            self.add(LONG_LIVED, v, f"{i.kind} {i.name} is valid for {(i.expires - i.created).days} days "
                     f"(limit {lifetime})", expires=_iso(i.expires))
        elif i.expires is None and i.kind in ("github_pat", "gcp_service_account_key", "k8s_sa_token",
                                              "azure_client_secret") and (age is None or age >= 0):
            self.add(LONG_LIVED, v, f"{i.kind} {i.name} never expires", age_days=age)
        elif age is not None and age > limit and i.kind not in ("github_pat",):
            self.add(LONG_LIVED, v, f"{i.kind} {i.name} was last rotated {age} days ago (limit {limit} days)",
                     age_days=age, threshold_days=limit)

    # ------------------------------------------------------------------ NHI8
    def environments(self, v: IdentityView) -> None:
        closed = bool(v.leaks) and not any(lk.finding.status in ("open", "accepted") for lk in v.leaks)
        envs = set() if closed else set(v.copy_environments)  # revoked or fixed copies are no use anywhere
        if v.environment:
            envs.add(v.environment)
        if len(envs) >= 2 and "production" in envs:
            self.add(ENV_CROSSING, v, f"{v.identity.name} is used in {', '.join(sorted(envs))}",
                     environments=sorted(envs))

    # ------------------------------------------------------------------ NHI9
    def reuse(self, v: IdentityView) -> None:
        targets = sorted({c.target for lk in v.leaks if lk.finding.status in ("open", "accepted")
                          for c in lk.copies if c.source in ("file", "git", "image", "image-config")})
        if len(targets) >= 2:
            self.add(REUSED, v, f"{v.identity.name} is in {len(targets)} repositories or images", targets=targets[:20])

    # ------------------------------------------------------------------ NHI10
    def human_use(self, v: IdentityView) -> None:
        i = v.identity
        if i.kind == "aws_iam_user" and not i.attributes.get("root") and i.attributes.get("password_enabled"):
            keys = [self.by_id[c] for c in v.credentials if c in self.by_id and self.by_id[c].kind == "aws_access_key"
                    and self.active(self.by_id[c])]
            if keys and any(w in _words(i.name.lower()) for w in (*_CI_NAME, "svc", "service", "app", "system")):
                used = i.attributes.get("password_last_used")
                self.add(HUMAN_USE, v, f"machine user {i.name} has access keys and a console password"
                         + (f", last used to sign in at {used}" if used else ""),
                         Severity.HIGH if used else None, password_last_used=used)
        if i.kind == "github_pat" and self.active(v) and not v.found and i.attributes.get("owner_login"):
            self.add(HUMAN_USE, v, f"fine-grained token {i.name} belongs to {i.attributes.get('owner_login')}: "
                     "automation acting as a person, which leaves with them", Severity.LOW,
                     owner_login=i.attributes.get("owner_login"))
        for aid, detector, summary, count, last_seen in v.alerts:  # what the audit logs showed (`watch`)
            if detector == "watch.server-credential-on-desktop":
                self.add(HUMAN_USE, v, f"audit logs show {i.name or v.id} used by a person: {summary}"
                         + (f" ({count} times, last at {last_seen})" if count > 1 else ""), Severity.HIGH,
                         alert=aid, count=count, last_seen=last_seen)


# condition keys that narrow `Principal: *` to known parties (an organisation, an account,
# named principals, a third party's external id)
_SCOPING_KEYS = ("aws:principalorgid", "aws:principalorgpaths", "aws:principalaccount", "aws:sourceaccount",
                 "aws:sourceorgid", "aws:principalarn", "sts:externalid", "aws:sourcearn")


def _open_trust_scope(policy: dict[str, Any]) -> str | None:
    """None when some Allow statement trusts every AWS principal with no narrowing
    condition; else the conditions that narrow them ("" when no statement trusts `*`)."""
    scopes = []
    for st in statements(policy):
        if st.get("Effect") != "Allow" or "*" not in statement_principals(st):
            continue
        cond = st.get("Condition") if isinstance(st.get("Condition"), dict) else {}
        found = [f"{key}={vals}" for test in cond.values() if isinstance(test, dict)
                 for key, vals in test.items() if key.lower() in _SCOPING_KEYS]
        if not found:
            return None
        scopes += found
    return ", ".join(sorted(set(scopes)))


def _words(text: str) -> set[str]:
    import re

    return set(re.split(r"[^a-z0-9]+", text))


def _iso(when: datetime | None) -> str | None:
    return when.isoformat().replace("+00:00", "Z") if when else None


def judge(views: Sequence[IdentityView], settings: Settings, now: datetime | None = None,
          only: Callable[[IdentityIssue], bool] | None = None) -> list[IdentityIssue]:
    issues = _Judge(views, settings, now or datetime.now(UTC)).run()
    return [i for i in issues if only is None or only(i)]
