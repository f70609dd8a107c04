"""Posture checks on hand-built inventory views: the near misses a new user's trial found
(triaged copies, conditions that narrow trust, explicit denies, scoped escalation, keys
Google manages, people among IAM users, a leaked key id without its secret)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nhiguard.inventory.view import IdentityView, Leak
from nhiguard.model.identity import Grant, Identity
from nhiguard.model.severity import Severity
from nhiguard.posture.identities import judge
from nhiguard.posture.privilege import reach
from nhiguard.settings import Settings
from nhiguard.store.inventory import Copy
from nhiguard.store.store import FindingRecord

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def aws(*actions: str, resources=("*",), effect="Allow", conditional=False) -> Grant:
    return Grant(tuple(actions), tuple(resources), "policy p", effect, False, conditional)


def view(identity: Identity, **kw) -> IdentityView:
    return IdentityView(identity, identity.id, kw.pop("owner", "platform"), "manual", kw.pop("environment", None),
                        None, **kw)


def finding(fid: str, status: str = "open", rule: str = "nhiguard.aws.secret-access-key") -> FindingRecord:
    return FindingRecord(fid, rule, rule, "aws_access_key", "aws", Severity.HIGH, "fp" + fid, "AKIA********XY",
                         "2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z", 1, 1, status, None, None, None)


def leak(fid: str, status: str, *places: tuple[str, str]) -> Leak:
    return Leak(finding(fid, status), tuple(Copy(fid, target, "git", path, "c1", {}) for target, path in places))


def checks(views: list[IdentityView], check: str) -> list:
    return [i for i in judge(views, Settings(), NOW) if i.check.id == check]


@pytest.mark.parametrize(("grants", "admin", "escalates"), [
    ([aws("iam:CreateAccessKey", resources=("arn:aws:iam::123456789012:user/*",))], False, True),
    ([aws("iam:PassRole", resources=("arn:aws:iam::123456789012:role/*",)), aws("ec2:RunInstances")], False, True),
    ([aws("iam:CreateAccessKey", resources=("arn:aws:iam::123456789012:user/${aws:username}",))], False, False),
    ([aws("*"), aws("*", effect="Deny")], False, False),  # everything denied
    ([aws("*"), aws("*", effect="Deny", conditional=True)], True, False),  # denied only sometimes
])
def test_scoped_wildcards_and_explicit_denies(grants, admin, escalates):
    r = reach("aws", grants)
    assert (bool(r.admin), bool(r.escalations)) == (admin, escalates)


def test_a_conditional_admin_grant_says_so():
    [text] = reach("aws", [aws("*", conditional=True)]).admin
    assert text.endswith("(conditional)")


def _role(name: str, trust: dict) -> Identity:
    principals = [p for st in trust["Statement"] for p in ([st["Principal"]["AWS"]]
                                                           if isinstance(st["Principal"]["AWS"], str)
                                                           else st["Principal"]["AWS"])]
    return Identity("aws_iam_role", "aws", f"arn:aws:iam::123456789012:role/{name}", name=name,
                    attributes={"trust_policy": trust, "trusted": {"AWS": principals}})


@pytest.mark.parametrize(("condition", "severity"), [
    (None, Severity.CRITICAL),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}, Severity.LOW),
    ({"StringEquals": {"sts:ExternalId": "partner-7"}}, Severity.LOW),
    ({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}, Severity.CRITICAL),  # from anywhere's accounts, one network
])
def test_trust_in_every_principal_narrowed_by_a_condition(condition, severity):
    st = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    [issue] = checks([view(_role("shared", {"Statement": [st]}))], "nhi.insecure-trust")
    assert issue.level == severity


def test_closed_copies_cross_no_environment_and_are_not_reuse():
    key = Identity("aws_access_key", "aws", "AKIAEXAMPLEEXAMPLE12", name="ci key", created=NOW - timedelta(days=5))
    places = (("repo-a", "deploy/prod/aws.ini"), ("repo-b", "deploy/dev/aws.ini"))
    open_view = view(key, leaks=(leak("f1", "open", *places),), copy_environments=frozenset({"production",
                                                                                             "development"}))
    assert checks([open_view], "nhi.environment-crossing") and checks([open_view], "nhi.reused")
    closed = view(key, leaks=(leak("f1", "revoked", *places),), copy_environments=open_view.copy_environments)
    assert not checks([closed], "nhi.environment-crossing") and not checks([closed], "nhi.reused")


def test_google_managed_keys_are_not_long_lived():
    def key(user_managed: bool) -> IdentityView:
        return view(Identity("gcp_service_account_key", "gcp", f"sa@p.iam.gserviceaccount.com/keys/{user_managed}",
                             name="k", created=NOW - timedelta(days=400), expires=NOW + timedelta(days=300),
                             attributes={"user_managed": user_managed}))

    assert checks([key(True)], "nhi.long-lived") and not checks([key(False)], "nhi.long-lived")


def test_a_person_among_iam_users_is_not_judged_as_a_machine():
    admin = (aws("*"),)

    def user(name: str, mfa: bool, key: bool) -> list[IdentityView]:
        u = Identity("aws_iam_user", "aws", f"arn:aws:iam::1:user/{name}", name=name, grants=admin,
                     attributes={"password_enabled": True, "mfa_active": mfa})
        out = [view(u, owner=None)]
        if key:
            k = Identity("aws_access_key", "aws", f"AKIA{name.upper():0<16}", name=f"{name} key", parent_id=u.id)
            out = [view(u, owner=None, credentials=(k.id,)), view(k)]
        return out

    assert not checks(user("alice", mfa=True, key=False), "nhi.overprivileged")
    assert not checks(user("alice", mfa=True, key=False), "nhi.unowned")
    assert checks(user("deployer", mfa=True, key=True), "nhi.overprivileged")  # a key: a machine's too
    assert checks(user("bob", mfa=False, key=False), "nhi.overprivileged")


def test_a_scanned_classic_token_is_not_someones_fine_grained_token():
    found = Identity("github_pat", "github", "finding/f9", name="GitHub personal access token (classic) ghp_****",
                     attributes={"found": True})
    assert not checks([view(found, found=True)], "nhi.human-use")
    fine = Identity("github_pat", "github", "pat/42", name="release", attributes={"owner_login": "octocat"})
    [issue] = checks([view(fine)], "nhi.human-use")
    assert "octocat" in issue.message


@pytest.mark.parametrize(("automount", "severity", "words"), [
    (True, Severity.MEDIUM, "every pod there that names no account gets them"),
    (False, Severity.LOW, "not mounted by default"),
])
def test_a_default_service_account_with_bindings(automount, severity, words):
    sa = Identity("k8s_service_account", "kubernetes", "prod/default", name="prod/default",
                  grants=(Grant(("get secrets",), ("namespace prod",), "RoleBinding b"),),
                  attributes={"default": True, "namespace": "prod", "automount_token": automount})
    [issue] = checks([view(sa)], "nhi.insecure-trust")
    assert issue.level == severity and words in issue.message


def test_a_deploy_key_with_write_access_is_not_called_a_whole_service():
    key = Identity("github_deploy_key", "github", "acme/api#7", name="deploy",
                   grants=(Grant(("contents:write",), ("acme/api",), "deploy key"),))
    [issue] = checks([view(key)], "nhi.overprivileged")
    assert "broad repository permissions" in issue.message and "every resource" not in issue.message


def test_last_use_is_unknown_where_the_export_does_not_tell_it():
    from nhiguard.report.inventory import _last_used

    assert _last_used(Identity("aws_access_key", "aws", "k"), None) == "never"
    assert _last_used(Identity("gcp_service_account_key", "gcp", "k"), None) == "unknown"
    assert _last_used(Identity("gcp_service_account_key", "gcp", "k"), 3) == "3d ago"
