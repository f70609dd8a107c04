"""`nhiguard watch`: every detector fires on what it is for, with the right id, severity,
subject and evidence, and stays quiet on the benign look-alike a naive rule would flag;
the engine deduplicates, rate-limits, keeps known statuses and does not learn what it
alerted on. Events go through a real Watcher with the real detectors and the bundled
geoip data (the addresses used are checked against it first)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from nhiguard.model.event import Event
from nhiguard.model.identity import Identity
from nhiguard.model.severity import Severity
from nhiguard.settings import Settings
from nhiguard.store.inventory import IdentityRecord
from nhiguard.watch.detectors.enumeration import is_discovery
from nhiguard.watch.engine import Alert, Watcher, alert_id
from nhiguard.watch.geo import Geo
from nhiguard.watch.profile import Profile
from nhiguard.watch.resolve import Resolver

DAY, HOUR, MINUTE = 86400, 3600, 60
T0 = 1_704_067_200  # Monday 2024-01-01 00:00 UTC
END = T0 + 8 * DAY  # where the default 8-day baseline ends
ACCOUNT = "123456789012"
OTHER_ACCOUNT = "999988887777"

# Real, stable public addresses; test_addresses checks the bundled data still says this.
HOME = "52.58.0.1"  # AWS eu-central-1
HOME_2 = "3.120.0.1"  # AWS eu-central-1, another range
TOKYO = "13.112.0.1"  # AWS ap-northeast-1: the same provider network in another country
DE_HOSTER = "84.200.69.80"  # a German hoster: same country, another network
BEIJING = "180.76.76.76"  # Baidu
GOOGLE_US = "8.8.8.8"
PLACES = {
    HOME: ("DE", "AMAZON-02"),
    HOME_2: ("DE", "AMAZON-02"),
    TOKYO: ("JP", "AMAZON-02"),
    DE_HOSTER: ("DE", "firstcolo GmbH"),
    BEIJING: ("CN", "Beijing Baidu Netcom Science and Technology Co., Ltd."),
    GOOGLE_US: ("US", "GOOGLE"),
}

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/orders-api"
APP = "aws:" + ROLE_ARN  # an instance role: server-only
INSTANCE = "i-0a1b2c3d4e5f60789"
DEPLOYER = f"aws:arn:aws:iam::{ACCOUNT}:role/github-deployer"  # a CI identity by name
SDK_UA = ("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 "
          "lang/python#3.11.8 Botocore/1.34.69")
LINUX_CLI_UA = "aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.8"
MAC_CLI_UA = ("aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 "
              "md/command#s3.ls")
BROWSER_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.4 Safari/605.1.15")
CI_UA = "aws-cli/2.15.30 ua/2.0 os/linux#6.5.0-1016-azure md/arch#x86_64 lang/python#3.11.8 exec-env/GitHubActions"

LOCATION = {"watch.new-country", "watch.new-network"}


# ---------------------------------------------------------------- helpers

@cache
def geo() -> Geo:
    g = Geo(True)
    assert g.available, "geoip2fast must be installed for the watch tests"
    return g


def ev(t: float, action: str = "sqs:SendMessage", *, identity: str = APP, ip: str = HOME, ua: str = SDK_UA,
       session: str = INSTANCE, params: dict[str, Any] | None = None, **fields: Any) -> Event:
    """A CloudTrail-shaped event of an assumed role (override any field)."""
    base: dict[str, Any] = dict(
        time=float(t), source="cloudtrail", identity=identity, identity_type="AssumedRole",
        principal=f"arn:aws:sts::{ACCOUNT}:assumed-role/{identity.rsplit('/', 1)[-1]}/{session}",
        action=action, service=action.partition(":")[0], source_ip=ip, user_agent=ua, account=ACCOUNT,
        raw=f"trail.json#{int(t)}", nonhuman=True)
    base.update(fields)
    return Event(params={"_session": session, **(params or {})}, **base)


def baseline(n: int = 60, days: float = 8, start: float = T0, **kw: Any) -> list[Event]:
    """`n` events evenly over `days` (60 over 8 days: past the default learning window)."""
    step = days * DAY / (n - 1)
    return [ev(start + i * step, **kw) for i in range(n)]


def watcher(history: Iterable[Event] = (), *, resolver: Resolver | None = None, known: dict[str, str] | None = None,
            on_alert: Any = None, profiles: dict[str, Profile] | None = None, **settings: Any) -> Watcher:
    w = Watcher(Settings().with_(**settings), profiles=profiles, resolver=resolver, geo=geo(), known_alerts=known,
                on_alert=on_alert)
    for e in history:
        w.feed(e)
    return w


def feed(w: Watcher, *events: Event) -> list[Alert]:
    """Feed events; the alerts they raised or counted on."""
    before = {k: a.count for k, a in w.alerts.items()}
    for e in events:
        w.feed(e)
    return [a for k, a in w.alerts.items() if before.get(k) != a.count]


def fire(*events: Event, **settings: Any) -> list[Alert]:
    """Alerts of events fed to a fresh watcher (detectors that need no baseline)."""
    return feed(watcher(**settings), *events)


def ids(alerts: Iterable[Alert]) -> set[str]:
    return {a.detector.id for a in alerts}


def only(alerts: list[Alert], detector: str) -> Alert:
    found = [a for a in alerts if a.detector.id == detector]
    assert len(found) == 1, f"expected one {detector} alert, got {[(a.detector.id, a.summary) for a in alerts]}"
    return found[0]


def test_addresses():
    for ip, (country, network) in PLACES.items():
        p = geo().place(ip)
        assert (p.country, p.network) == (country, network), ip
        assert not p.private and not p.service


def test_baseline_is_quiet():
    w = watcher(baseline())
    assert w.alerts == {}
    p = w.profiles[APP]
    assert p.established(w.s.min_events, w.learning_seconds)
    assert p.countries == {"DE": 60} and p.networks == {"AMAZON-02": 60} and p.classes == {"sdk": 60}


# ---------------------------------------------------------------- new country / network

def test_new_country_after_learning():
    w = watcher(baseline())
    a = only(feed(w, ev(END + 13 * HOUR, ip=BEIJING)), "watch.new-country")
    assert a.severity == Severity.HIGH
    assert a.id == alert_id("watch.new-country", APP, "CN")
    assert a.evidence == {"country": "CN", "network": PLACES[BEIJING][1], "source_ip": BEIJING,
                          "known_countries": ["DE"]}
    assert "sqs:SendMessage from CN" in a.summary and BEIJING in a.summary
    assert "DE" in a.baseline and "60 events" in a.baseline
    assert a.who.server_only and a.human == "non-human"


def test_new_network_in_a_known_country():
    w = watcher(baseline())
    got = feed(w, ev(END + HOUR, ip=DE_HOSTER))
    assert ids(got) == {"watch.new-network"}  # not a new country, not travel
    a = got[0]
    assert a.severity == Severity.MEDIUM
    assert a.evidence["network"] == "firstcolo GmbH" and a.evidence["known_networks"] == ["AMAZON-02"]
    assert a.evidence["cidr"] == geo().place(DE_HOSTER).cidr
    assert "network firstcolo GmbH" in a.summary and DE_HOSTER in a.summary


@pytest.mark.parametrize("n,days", [(60, 3), (20, 8)], ids=["window-too-short", "too-few-events"])
def test_new_country_during_learning_is_not_alerted(n, days):
    w = watcher(baseline(n, days))
    assert feed(w, ev(T0 + days * DAY + 13 * HOUR, ip=BEIJING)) == []


def test_country_seen_while_learning_is_normal_later():
    history = (baseline(30, 3.5) + baseline(5, 0.5, start=T0 + 4 * DAY, ip=BEIJING)
               + baseline(30, 3, start=T0 + 5 * DAY))
    w = watcher(history)
    assert not ids(w.alerts.values()) & LOCATION
    assert feed(w, ev(END + 13 * HOUR, ip=BEIJING)) == []


@pytest.mark.parametrize("ip", [HOME_2, "10.0.0.5", "lambda.amazonaws.com", ""],
                         ids=["known-network-new-address", "private", "aws-service", "no-address"])
def test_known_network_private_and_service_addresses_are_not_new(ip):
    w = watcher(baseline())
    assert feed(w, ev(END + HOUR, ip=ip)) == []


# ---------------------------------------------------------------- impossible travel

def test_impossible_travel():
    w = watcher(baseline())
    a = only(feed(w, ev(END + 10 * MINUTE, ip=BEIJING)), "watch.impossible-travel")
    assert a.severity == Severity.HIGH
    assert a.id == alert_id("watch.impossible-travel", APP, "CN|DE")
    assert a.evidence["from"] == "DE" and a.evidence["to"] == "CN" and a.evidence["minutes"] == 10.0
    assert 7000 < a.evidence["km"] < 7500
    assert "from CN 10 minutes after a call from DE" in a.summary


def test_impossible_travel_needs_no_baseline():
    got = fire(ev(T0, ip=HOME), ev(T0 + 10 * MINUTE, ip=BEIJING))
    assert ids(got) == {"watch.impossible-travel"}


def test_cloud_regions_in_one_provider_network_are_not_travel():
    w = watcher(baseline())
    got = feed(w, ev(END + 10 * MINUTE, ip=TOKYO))
    assert "watch.impossible-travel" not in ids(got)
    assert "watch.new-country" in ids(got)  # JP is new all the same


def test_travel_slower_than_a_plane_is_possible():
    w = watcher(baseline())
    assert "watch.impossible-travel" not in ids(feed(w, ev(END + 12 * HOUR, ip=BEIJING)))


def test_two_countries_the_identity_works_from_are_not_travel():
    history = baseline(30, 3.5) + baseline(30, 3.5, start=END - 3.5 * DAY, ip=GOOGLE_US)
    w = watcher(history)
    assert feed(w, ev(END + 10 * MINUTE, ip=HOME), ev(END + 20 * MINUTE, ip=GOOGLE_US)) == []


# ---------------------------------------------------------------- concurrent networks

def test_two_networks_at_once():
    w = watcher(baseline())
    got = feed(w, ev(END + HOUR, ip=HOME), ev(END + HOUR + MINUTE, ip=DE_HOSTER))
    assert ids(got) == {"watch.concurrent-networks", "watch.new-network"}
    a = only(got, "watch.concurrent-networks")
    assert a.severity == Severity.HIGH
    assert a.id == alert_id("watch.concurrent-networks", APP, "AMAZON-02|firstcolo GmbH")
    assert a.evidence == {"networks": ["AMAZON-02", "firstcolo GmbH"], "source_ip": DE_HOSTER, "window_seconds": 300}
    assert "from firstcolo GmbH" in a.summary and "also active from AMAZON-02 within 5 minutes" in a.summary


def test_networks_that_always_run_together_are_not_concurrent_use():
    history = [e for i in range(30) for e in (ev(T0 + i * 6.6 * HOUR, ip=HOME),
                                               ev(T0 + i * 6.6 * HOUR + MINUTE, ip=DE_HOSTER))]
    w = watcher(history)
    assert w.alerts == {}
    assert w.profiles[APP].co_networks == ["AMAZON-02|firstcolo GmbH"]
    assert feed(w, ev(END + HOUR, ip=HOME), ev(END + HOUR + MINUTE, ip=DE_HOSTER)) == []


def test_moving_from_one_network_to_another_is_not_concurrent():
    w = watcher(baseline())
    got = feed(w, ev(END + HOUR, ip=HOME), ev(END + HOUR + 10 * MINUTE, ip=DE_HOSTER))
    assert ids(got) == {"watch.new-network"}


def test_concurrent_networks_need_a_baseline():
    assert fire(*baseline(10, 1), ev(T0 + DAY + MINUTE, ip=DE_HOSTER)) == []


# ---------------------------------------------------------------- server credential on a desktop

@pytest.mark.parametrize("ua,cls,client", [(MAC_CLI_UA, "cli-desktop", "aws-cli"),
                                           (BROWSER_UA, "browser", "Mozilla")], ids=["mac-cli", "browser"])
def test_instance_role_used_from_a_desktop(ua, cls, client):
    w = watcher(baseline())
    a = only(feed(w, ev(END + HOUR, "s3:ListBuckets", ua=ua)), "watch.server-credential-on-desktop")
    assert a.severity == Severity.HIGH
    assert a.id == alert_id("watch.server-credential-on-desktop", APP, f"{cls}:{client}")
    assert a.evidence["user_agent_class"] == cls and a.evidence["client"] == client
    assert a.evidence["known_classes"] == ["sdk"]
    assert f"orders-api called s3:ListBuckets from a {cls.replace('-', ' ')}" in a.summary
    assert "usual clients: sdk" in a.baseline


SSO_PERSON = dict(identity=f"aws:arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Dev_0a1b",
                  session="alice@example.com", nonhuman=False)
KEY_USER = dict(identity="aws:AKIATESTKEYID", identity_type="IAMUser", principal="alice",
                params={"_caller_user": "alice"}, nonhuman=None)  # as CloudTrail's IAMUser records are


@pytest.mark.parametrize("who,ua", [({}, SDK_UA), ({}, LINUX_CLI_UA), (SSO_PERSON, MAC_CLI_UA), (KEY_USER, MAC_CLI_UA)],
                         ids=["instance-role-sdk", "instance-role-cli-on-server", "person-sso-role-on-laptop",
                              "user-key-on-laptop"])
def test_clients_that_are_not_a_server_credential_on_a_desktop(who, ua):
    w = watcher(baseline(**who))
    assert feed(w, ev(END + HOUR, ua=ua, **who)) == []


def _machine_user(name: str) -> IdentityRecord:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    i = Identity("aws_iam_user", "aws", f"arn:aws:iam::{ACCOUNT}:user/{name}", name=name, account=ACCOUNT)
    return IdentityRecord(i, None, ("test",), now, now)


@pytest.mark.parametrize("name,inventory,alerts", [("reporting", True, True), ("svc-reporting", False, True),
                                                    ("alice", False, False)],
                         ids=["machine-user-in-inventory", "machine-like-name", "unknown-user"])
def test_console_sign_in_of_a_machine_user(name, inventory, alerts):
    resolver = Resolver([_machine_user(name)] if inventory else [])
    user = f"aws:arn:aws:iam::{ACCOUNT}:user/{name}"
    login = ev(T0, "signin:ConsoleLogin", identity=user, identity_type="IAMUser", nonhuman=None, ua=BROWSER_UA,
               principal=user[4:], params={"_caller_user": name})
    got = feed(watcher(resolver=resolver), login)
    if not alerts:
        assert got == []  # a person's console sign-in
        return
    a = only(got, "watch.server-credential-on-desktop")
    assert a.summary.startswith(f"{name} signed in to the console")
    assert a.who.inventory_id == (_machine_user(name).id if inventory else None)


# ---------------------------------------------------------------- enumeration bursts

SERVICES = ("ec2", "iam", "s3", "rds", "lambda", "ecs", "kms", "sns")
TF = f"aws:arn:aws:iam::{ACCOUNT}:role/infra-plan"


def burst(start: float, n: int, services: int, identity: str = TF) -> list[Event]:
    """`n` different discovery calls over `services` services, three seconds apart."""
    return [ev(start + 3 * i, f"{SERVICES[i % services]}:DescribeThing{i:03d}", identity=identity,
               session="botocore-session-1") for i in range(n)]


def planner() -> Watcher:
    """An identity that runs a 30-call read-only plan over 4 services every morning for 9 days."""
    return watcher([e for d in range(9) for e in burst(T0 + d * DAY + 10 * HOUR, 30, 4)])


def test_routine_discovery_at_the_usual_level_is_not_a_burst():
    w = planner()
    assert w.alerts == {}
    assert w.profiles[TF].max_discovery == 30
    assert feed(w, *burst(T0 + 9 * DAY + 10 * HOUR, 30, 4)) == []


def test_enumeration_burst_beyond_the_usual_level():
    w = planner()
    got = feed(w, *burst(T0 + 9 * DAY + 10 * HOUR, 70, 6))
    a = only(got, "watch.enumeration-burst")
    assert a.severity == Severity.MEDIUM and a.count == 1  # one alert per window
    assert a.evidence["distinct_calls"] == 61  # the first call past twice the usual 30
    assert a.evidence["services"] == sorted(SERVICES[:6])
    assert a.summary.startswith("61 different discovery calls over 6 services in")
    assert "at most 30 different discovery calls" in a.baseline
    # the next day's burst alerts again: an alerted burst is not learned as usual
    assert "watch.enumeration-burst" in ids(feed(w, *burst(T0 + 10 * DAY + 10 * HOUR, 70, 6)))
    assert w.profiles[TF].max_discovery == 30


def test_enumeration_burst_of_a_new_identity():
    a = only(fire(*burst(T0, 110, 6)), "watch.enumeration-burst")
    assert a.evidence["distinct_calls"] == 100


@pytest.mark.parametrize("n,alerts", [(19, False), (20, True)], ids=["below-threshold", "at-threshold"])
def test_enumeration_by_an_identity_that_never_enumerated(n, alerts):
    w = watcher(baseline(identity=TF))
    got = feed(w, *burst(END + HOUR, n, 3))
    assert ("watch.enumeration-burst" in ids(got)) is alerts
    if alerts:
        assert "at most 0 different discovery calls" in only(got, "watch.enumeration-burst").baseline


def test_first_plan_of_a_new_identity_is_not_a_burst():
    assert fire(*burst(T0, 60, 4)) == []


@pytest.mark.parametrize("action,discovery", [
    ("ec2:DescribeInstances", True), ("iam:ListRoles", True), ("k8s:list pods", True),
    ("gcp:google.iam.admin.v1.ListServiceAccounts", True), ("s3:GetObject", False),
    ("secretsmanager:GetSecretValue", False), ("secretsmanager:BatchGetSecretValue", False),
    ("sts:GetCallerIdentity", False), ("k8s:list secrets", False),
    ("ec2:RunInstances", False), ("github:repo.download_zip", False)])
def test_is_discovery(action, discovery):
    assert is_discovery(action) is discovery


# ---------------------------------------------------------------- data-read spikes

def reads(start: float, n: int, action: str = "s3:GetObject", identity: str = APP, **kw: Any) -> list[Event]:
    return [ev(start + i * MINUTE / 2, action, identity=identity, resource=f"orders/{i:04d}.json", **kw)
            for i in range(n)]


def test_read_spike_over_the_busiest_hour():
    w = watcher(baseline(action="s3:GetObject"))
    assert w.profiles[APP].max_hour_reads == 1
    got = feed(w, *reads(END + 2 * HOUR, 30))
    a = only(got, "watch.volume-spike")
    assert a.severity == Severity.MEDIUM
    assert a.count == 6  # the 25th to the 30th read of the hour
    assert a.evidence == {"reads_this_hour": 25, "busiest_hour_before": 1, "action": "s3:GetObject",
                          "hour_start": END + 2 * HOUR}
    assert a.summary == "25 data reads this hour (s3:GetObject, latest orders/0024.json)"


def test_writes_are_not_reads():
    w = watcher(baseline(action="s3:GetObject"))
    assert feed(w, *reads(END + 2 * HOUR, 40, "s3:PutObject")) == []


def test_reads_at_the_usual_level_are_not_a_spike():
    w = watcher([e for d in range(9) for e in reads(T0 + d * DAY + 9 * HOUR, 40)])
    assert w.profiles[APP].max_hour_reads == 40
    assert feed(w, *reads(T0 + 9 * DAY + 9 * HOUR, 40)) == []


def test_object_reads_without_a_baseline_are_not_a_spike():
    assert fire(*reads(T0, 40)) == []


def secrets(start: float, names: list[str], **kw: Any) -> list[Event]:
    return [ev(start + i * MINUTE / 2, "secretsmanager:GetSecretValue", resource=n, params={"secretId": n}, **kw)
            for i, n in enumerate(names)]


def test_bulk_secret_reads_without_a_baseline():
    got = fire(*secrets(T0, [f"prod/service-{i:02d}" for i in range(15)]))
    a = only(got, "watch.volume-spike")
    assert a.severity == Severity.HIGH and a.count == 4  # the 12th to the 15th secret
    assert a.evidence["secrets_this_hour"] == 12
    assert a.summary.startswith("12 different secrets read this hour")
    assert "no baseline yet" in a.baseline


def test_one_secret_read_often_is_not_bulk():
    assert fire(*secrets(T0, ["prod/db"] * 40)) == []


def test_secret_reads_at_the_usual_level():
    names = [f"prod/service-{i:02d}" for i in range(70)]
    w = watcher([e for d in range(9) for e in secrets(T0 + d * DAY + 9 * HOUR, names[:10])])
    assert w.profiles[APP].max_hour_secrets == 10
    assert feed(w, *secrets(T0 + 9 * DAY + 9 * HOUR, names[:15])) == []
    a = only(feed(w, *secrets(T0 + 10 * DAY + 9 * HOUR, names)), "watch.volume-spike")
    assert a.evidence["secrets_this_hour"] == 61 and a.evidence["busiest_hour_before"] == 15  # 4 x 15 + 1


# ---------------------------------------------------------------- permissions granted

def trust(principal: Any) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]})


K8S_USER = dict(source="kubernetes", identity="k8s:alice@example.com", identity_type="user",
                principal="alice@example.com", nonhuman=False)


@pytest.mark.parametrize("action,params,fields,severity,summary", [
    ("iam:AttachRolePolicy", {"roleName": "orders-api", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
     {}, Severity.CRITICAL,
     "AttachRolePolicy: administrator access for orders-api (arn:aws:iam::aws:policy/AdministratorAccess)"),
    ("iam:AttachUserPolicy", {"userName": "bob", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
     {}, Severity.MEDIUM, "AttachUserPolicy on bob"),
    ("iam:PutUserPolicy", {"userName": "bob", "policyName": "x", "policyDocument": json.dumps(
        {"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})},
     {}, Severity.CRITICAL, "PutUserPolicy: administrator access for bob (x)"),
    ("iam:UpdateAssumeRolePolicy", {"roleName": "orders-api",
                                    "policyDocument": trust({"AWS": f"arn:aws:iam::{OTHER_ACCOUNT}:root"})},
     {}, Severity.HIGH, f"UpdateAssumeRolePolicy: role orders-api may now be assumed by arn:aws:iam::{OTHER_ACCOUNT}:root"),
    ("iam:UpdateAssumeRolePolicy", {"roleName": "orders-api", "policyDocument": trust({"Service": "ec2.amazonaws.com"})},
     {}, Severity.MEDIUM, "trust policy of role orders-api changed"),
    ("iam:CreateRole", {"roleName": "support", "assumeRolePolicyDocument": trust("*")},
     {}, Severity.HIGH, "CreateRole: role support may now be assumed by *"),
    ("k8s:create clusterrolebindings", {"role_ref": "cluster-admin", "subjects": ["User::mallory"]},
     K8S_USER, Severity.CRITICAL, "create clusterrolebindings break-glass binding cluster-admin to User::mallory"),
    ("k8s:create clusterroles", {"rules": [{"verbs": ["get"], "resources": ["secrets"]}]},
     K8S_USER, Severity.HIGH, "create clusterroles break-glass reading secrets"),
    ("gcp:SetIamPolicy", {"bindings": [{"role": "roles/owner", "members": ["user:mallory@example.com"]}]},
     {"source": "gcp"}, Severity.CRITICAL, "IAM policy of break-glass set, granting roles/owner"),
    ("github:repo.add_member", {"user": "mallory", "permission": "admin"},
     {"source": "github"}, Severity.HIGH, "a collaborator added in break-glass (admin)"),
], ids=["admin-policy", "plain-policy", "inline-admin", "trust-other-account", "trust-service", "create-role-public",
        "k8s-cluster-admin", "k8s-secret-reader", "gcp-owner", "github-admin"])
def test_permissions_granted(action, params, fields, severity, summary):
    e = ev(T0, action, params=params, **{"resource": "break-glass", **fields})
    a = only(fire(e), "watch.new-permissions")
    assert a.severity == severity
    assert a.summary == summary


def test_permission_grant_subject_names_target_and_policy():
    arn = "arn:aws:iam::aws:policy/AdministratorAccess"
    a = only(fire(ev(T0, "iam:AttachRolePolicy", params={"roleName": "orders-api", "policyArn": arn})),
             "watch.new-permissions")
    assert a.id == alert_id("watch.new-permissions", APP, f"AttachRolePolicy:orders-api:{arn}")
    assert a.evidence == {"operation": "AttachRolePolicy", "target": "orders-api", "policy": arn}


@pytest.mark.parametrize("action,params,success", [
    ("iam:CreateRole", {"roleName": "app", "assumeRolePolicyDocument": trust({"Service": "lambda.amazonaws.com"})}, True),
    ("iam:CreateRole", {"roleName": "app", "assumeRolePolicyDocument": trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"})},
     True),
    ("iam:AttachRolePolicy", {"roleName": "app", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}, False),
    ("iam:GetRolePolicy", {"roleName": "app", "policyName": "x"}, True),
], ids=["role-for-a-service", "role-for-own-account", "refused-grant", "reading-a-policy"])
def test_not_a_permission_grant(action, params, success):
    e = ev(T0, action, params=params, success=success, error="" if success else "AccessDenied")
    assert "watch.new-permissions" not in ids(fire(e))


# ---------------------------------------------------------------- credentials created

DEPLOY_BOT = dict(identity="aws:AKIATESTKEYID", identity_type="IAMUser", principal=f"arn:aws:iam::{ACCOUNT}:user/deploy-bot")


@pytest.mark.parametrize("action,params,fields,severity,subject,summary", [
    ("iam:CreateAccessKey", {"userName": "bob", "_caller_user": "deploy-bot"}, DEPLOY_BOT, Severity.HIGH,
     "CreateAccessKey:bob", f"an access key created for another user, bob, by {DEPLOY_BOT['principal']}"),
    ("iam:CreateAccessKey", {"_caller_user": "deploy-bot"}, DEPLOY_BOT, Severity.LOW,
     "CreateAccessKey:deploy-bot", "deploy-bot created an access key for itself"),
    ("iam:CreateAccessKey", {"userName": "deploy-bot", "_caller_user": "deploy-bot"}, DEPLOY_BOT, Severity.LOW,
     "CreateAccessKey:deploy-bot", "deploy-bot created an access key for itself"),
    ("iam:CreateLoginProfile", {"userName": "bob"}, {}, Severity.HIGH,
     "iam:CreateLoginProfile:bob", "a console password created for bob"),
    ("sts:GetFederationToken", {"name": "x"}, {}, Severity.HIGH,
     "sts:GetFederationToken:", "a federation token issued (it survives revoking the key that made it)"),
    ("k8s:create secrets", {"secret_type": "kubernetes.io/service-account-token", "namespace": "prod"},
     dict(K8S_USER, resource="prod/ci-token"), Severity.HIGH, "sa-token:prod/ci-token",
     "a long-lived service-account token Secret prod/ci-token created by alice@example.com"),
    ("gcp:google.iam.admin.v1.CreateServiceAccountKey", {}, dict(source="gcp", resource="projects/p/serviceAccounts/sa"),
     Severity.HIGH, "google.iam.admin.v1.CreateServiceAccountKey:projects/p/serviceAccounts/sa",
     "a service-account key created: projects/p/serviceAccounts/sa"),
], ids=["key-for-another-user", "self-service-key", "self-service-key-named", "console-password",
        "federation-token", "k8s-token-secret", "gcp-sa-key"])
def test_credentials_created(action, params, fields, severity, subject, summary):
    a = only(fire(ev(T0, action, params=params, **fields)), "watch.new-credentials")
    assert a.severity == severity
    assert a.id == alert_id("watch.new-credentials", fields.get("identity", APP), subject)
    assert a.summary == summary


@pytest.mark.parametrize("action,params,fields", [
    ("iam:CreateAccessKey", {"userName": "bob", "_caller_user": "deploy-bot"},
     dict(DEPLOY_BOT, success=False, error="AccessDenied")),
    ("k8s:create secrets", {"secret_type": "kubernetes.io/service-account-token"},
     dict(K8S_USER, identity="k8s:system:serviceaccount:kube-system:token-controller",
          principal="system:serviceaccount:kube-system:token-controller", resource="prod/default-token")),
    ("k8s:create secrets", {"secret_type": "Opaque"}, dict(K8S_USER, resource="prod/app-config")),
], ids=["refused", "k8s-controller-token", "k8s-opaque-secret"])
def test_not_credentials_created(action, params, fields):
    assert "watch.new-credentials" not in ids(fire(ev(T0, action, params=params, **fields)))


# ---------------------------------------------------------------- CI outside its release window

RELEASE_HOURS = (10, 11.5, 12, 14, 15.5, 16.5)
WEEKDAYS = [d for d in range(12) if d % 7 < 5]  # two working weeks from Monday T0


def releases(identity: str, ua: str, session: str) -> list[Event]:
    return [ev(T0 + d * DAY + h * HOUR, "ecs:UpdateService", identity=identity, ua=ua, session=session)
            for d in WEEKDAYS for h in RELEASE_HOURS]


CI_BY_NAME = (DEPLOYER, CI_UA, "GitHubActions")
CI_BY_CLIENT = (f"aws:arn:aws:iam::{ACCOUNT}:role/orders-rollout", CI_UA, "session-1")  # 100% CI-runner traffic
NOT_CI = (APP, SDK_UA, INSTANCE)


@pytest.mark.parametrize("when,week_hour,day,hour", [
    (T0 + 13 * DAY + 3 * HOUR, 147, "Sun", 3),  # Sunday 03:00
    (T0 + 12 * DAY + 14 * HOUR, 134, "Sat", 14),  # Saturday at a usual weekday hour
    (T0 + 16 * DAY + 3 * HOUR, 51, "Wed", 3),  # a weekday night
], ids=["sunday-night", "saturday-afternoon", "weekday-night"])
@pytest.mark.parametrize("who", [CI_BY_NAME, CI_BY_CLIENT], ids=["ci-by-name", "ci-by-client"])
def test_ci_identity_outside_its_release_window(who, when, week_hour, day, hour):
    identity, ua, session = who
    w = watcher(releases(*who))
    assert w.alerts == {}
    a = only(feed(w, ev(when, "ecs:UpdateService", identity=identity, ua=ua, session=session)),
             "watch.outside-release-window")
    assert a.severity == Severity.MEDIUM
    assert a.id == alert_id("watch.outside-release-window", identity, f"hour:{week_hour}")
    assert a.evidence == {"day": day, "hour_utc": hour, "active_days": ["Mon", "Tue", "Wed", "Thu", "Fri"],
                          "active_hours_utc": [10, 11, 12, 14, 15, 16]}
    assert a.summary == f"ecs:UpdateService on {day} at {hour:02d}:00 UTC"
    assert a.baseline == "active before on Mon, Tue, Wed, Thu, Fri between 10:00-17:00 UTC"


@pytest.mark.parametrize("when", [T0 + 16 * DAY + 14.5 * HOUR, T0 + 16 * DAY + 17.2 * HOUR],
                         ids=["usual-hour", "an-hour-late"])
def test_ci_identity_in_its_usual_weekly_hours(when):
    w = watcher(releases(*CI_BY_NAME))
    assert feed(w, ev(when, "ecs:UpdateService", identity=DEPLOYER, ua=CI_UA, session="GitHubActions")) == []


def test_non_ci_identity_at_night_is_not_a_release_window_breach():
    w = watcher(releases(*NOT_CI))
    assert feed(w, ev(T0 + 13 * DAY + 3 * HOUR, "ecs:UpdateService")) == []


# ---------------------------------------------------------------- defence evasion

@pytest.mark.parametrize("action,params,fields,severity,summary", [
    ("cloudtrail:StopLogging", {"name": "main-trail"}, {}, Severity.CRITICAL, "CloudTrail logging stopped: main-trail"),
    ("cloudtrail:StopLogging", {"name": "main-trail"}, {"success": False, "error": "AccessDenied"}, Severity.MEDIUM,
     "CloudTrail logging stopped (attempted, refused: AccessDenied): main-trail"),
    ("cloudtrail:UpdateTrail", {"name": "main-trail", "s3BucketName": "elsewhere"}, {}, Severity.MEDIUM,
     "a CloudTrail trail changed: main-trail"),
    ("guardduty:DeleteDetector", {"detectorId": "d1"}, {}, Severity.CRITICAL, "GuardDuty disabled: main-trail"),
    ("ec2:DeleteFlowLogs", {}, {}, Severity.HIGH, "VPC flow logs deleted: main-trail"),
    ("github:secret_scanning.disable", {}, {"source": "github", "resource": "acme"}, Severity.HIGH,
     "secret scanning disabled: acme"),
], ids=["stop-logging", "stop-logging-refused", "trail-redirected", "guardduty", "flow-logs", "github-scanning"])
def test_defence_evasion(action, params, fields, severity, summary):
    e = ev(T0, action, params=params, **{"resource": "main-trail", **fields})
    a = only(fire(e), "watch.defence-evasion")
    assert a.severity == severity
    assert a.summary == summary
    assert a.evidence["succeeded"] is e.success


@pytest.mark.parametrize("action,params", [
    ("cloudtrail:UpdateTrail", {"name": "main-trail", "snsTopicName": "trail-notices"}),
    ("cloudtrail:DescribeTrails", {}),
], ids=["trail-notification-only", "reading-trails"])
def test_not_defence_evasion(action, params):
    assert "watch.defence-evasion" not in ids(fire(ev(T0, action, params=params, resource="main-trail")))


# ---------------------------------------------------------------- resource exposure

def ingress(cidr: str, protocol: str = "tcp", ports: tuple[int, int] | None = None) -> dict[str, Any]:
    perm: dict[str, Any] = {"ipProtocol": protocol, "ipRanges": {"items": [{"cidrIp": cidr}]}}
    if ports:
        perm["fromPort"], perm["toPort"] = ports
    return {"groupId": "sg-0abc", "ipPermissions": {"items": [perm]}}


@pytest.mark.parametrize("action,params,severity,summary", [
    ("ec2:ModifySnapshotAttribute", {"createVolumePermission": {"add": {"items": [{"group": "all"}]}}},
     Severity.CRITICAL, "snap-0abc shared with everyone"),
    ("ec2:ModifySnapshotAttribute", {"createVolumePermission": {"add": {"items": [{"userId": OTHER_ACCOUNT}]}}},
     Severity.HIGH, f"snap-0abc shared with {OTHER_ACCOUNT}"),
    ("ec2:AuthorizeSecurityGroupIngress", ingress("0.0.0.0/0", ports=(22, 22)), Severity.HIGH,
     "security group sg-0abc opened to the internet: SSH (22)"),
    ("ec2:AuthorizeSecurityGroupIngress", ingress("0.0.0.0/0", protocol="-1"), Severity.HIGH,
     "security group sg-0abc opened to the internet: every port"),
    ("ec2:AuthorizeSecurityGroupIngress", {"groupId": "sg-0abc", "cidrIp": "0.0.0.0/0", "ipProtocol": "-1"},
     Severity.HIGH, "security group sg-0abc opened to the internet: every port"),
    ("ec2:AuthorizeSecurityGroupIngress", {"groupId": "sg-0abc", "cidrIp": "0.0.0.0/0", "fromPort": 3389,
                                           "toPort": 3389}, Severity.HIGH,
     "security group sg-0abc opened to the internet: RDP (3389)"),
    ("lambda:AddPermission", {"functionName": "orders", "principal": "*"}, Severity.HIGH,
     "function orders may now be invoked by anyone"),
    ("ssm:SendCommand", {"instanceIds": ["i-0123"]}, Severity.MEDIUM,
     "commands run on instances through SSM (SendCommand) for the first time: ['i-0123']"),
    ("ec2:ModifyInstanceAttribute", {"instanceId": "i-0123", "userData": "<sensitiveDataRemoved>"}, Severity.HIGH,
     "user data of instance i-0123 replaced (it runs at next start)"),
], ids=["snapshot-public", "snapshot-other-account", "ssh-open", "all-traffic-open", "all-traffic-open-flat",
        "rdp-open-flat",
        "lambda-public", "ssm-first-command", "user-data"])
def test_resource_exposure(action, params, severity, summary):
    a = only(fire(ev(T0, action, params=params, resource="snap-0abc")), "watch.resource-exposure")
    assert a.severity == severity
    assert a.summary == summary


@pytest.mark.parametrize("action,params", [
    ("ec2:ModifySnapshotAttribute", {"createVolumePermission": {"remove": {"items": [{"userId": OTHER_ACCOUNT}]}}}),
    ("ec2:AuthorizeSecurityGroupIngress", ingress("0.0.0.0/0", ports=(443, 443))),
    ("ec2:AuthorizeSecurityGroupIngress", ingress("10.0.0.0/8", ports=(22, 22))),
    ("ec2:AuthorizeSecurityGroupIngress", ingress("10.0.0.0/8", protocol="-1")),
    ("ec2:AuthorizeSecurityGroupIngress", ingress("0.0.0.0/0", protocol="icmp", ports=(-1, -1))),
    ("ec2:AuthorizeSecurityGroupIngress", {"groupId": "sg-0abc", "cidrIp": "0.0.0.0/0", "ipProtocol": "icmp",
                                           "fromPort": -1, "toPort": -1}),
    ("lambda:AddPermission", {"functionName": "orders", "principal": "s3.amazonaws.com"}),
], ids=["snapshot-unshared", "https-open", "ssh-from-vpc", "all-traffic-from-vpc", "ping-open", "ping-open-flat",
        "lambda-for-s3"])
def test_not_resource_exposure(action, params):
    assert "watch.resource-exposure" not in ids(fire(ev(T0, action, params=params, resource="snap-0abc")))


@pytest.mark.parametrize("action,params", [("ssm:SendCommand", {"instanceIds": ["i-0123"]}),
                                           ("lambda:UpdateFunctionCode", {"functionName": "orders"})],
                         ids=["ssm-commands", "lambda-deploys"])
def test_routine_runs_and_deploys_are_not_exposure(action, params):
    w = watcher(baseline(action=action, params=params, identity=DEPLOYER, ua=CI_UA, session="GitHubActions"))
    first = [a for a in w.alerts.values() if a.detector.id == "watch.resource-exposure"]
    assert [(a.count, a.severity) for a in first] == [(1, Severity.MEDIUM)]  # the very first time only
    assert feed(w, ev(END + HOUR, action, params=params, identity=DEPLOYER, ua=CI_UA, session="GitHubActions")) == []


# ---------------------------------------------------------------- new service

@pytest.mark.parametrize("action,severity", [("secretsmanager:ListSecrets", Severity.LOW),
                                             ("ec2:RunInstances", Severity.MEDIUM)], ids=["read", "write"])
def test_new_service_of_an_established_identity(action, severity):
    w = watcher(baseline())
    a = only(feed(w, ev(END + HOUR, action)), "watch.new-service")
    service = action.partition(":")[0]
    assert a.severity == severity
    assert a.id == alert_id("watch.new-service", APP, service)
    assert a.evidence == {"service": service, "action": action, "known_services": ["sqs"]}
    assert a.summary == f"first call to {service}: {action}"
    assert "1 services used before, mostly sqs" == a.baseline


@pytest.mark.parametrize("history,event", [
    (baseline(60, 3), ev(T0 + 4 * DAY, "ec2:RunInstances")),
    (baseline(), ev(END + HOUR, "sts:GetCallerIdentity")),
    (baseline(), ev(END + HOUR, "ec2:RunInstances", success=False, error="UnauthorizedOperation")),
], ids=["still-learning", "identity-plumbing", "refused-call"])
def test_not_a_new_service(history, event):
    w = watcher(history)
    assert "watch.new-service" not in ids(feed(w, event))


# ---------------------------------------------------------------- the engine

def test_repeats_count_on_one_alert():
    w = watcher(baseline())
    got = feed(w, *[ev(END + 13 * HOUR + i * MINUTE, ip=BEIJING) for i in range(7)])
    a = only(got, "watch.new-country")
    assert len(w.alerts) == 1 and a.count == 7
    assert (a.first_seen, a.last_seen) == (END + 13 * HOUR, END + 13 * HOUR + 6 * MINUTE)
    assert a.events == [f"trail.json#{int(END + 13 * HOUR + i * MINUTE)}" for i in range(5)]  # the first five


def test_repeat_raises_severity():
    stop = dict(params={"name": "main-trail"}, resource="main-trail")
    w = watcher()
    feed(w, ev(T0, "cloudtrail:StopLogging", success=False, error="AccessDenied", **stop))
    a = only(feed(w, ev(T0 + MINUTE, "cloudtrail:StopLogging", **stop)), "watch.defence-evasion")
    assert len(w.alerts) == 1 and a.count == 2 and a.severity == Severity.CRITICAL
    assert a.summary.startswith("CloudTrail logging stopped (attempted")  # the first sighting's words


EVASIONS = ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail", "guardduty:DeleteDetector",
            "config:StopConfigurationRecorder", "ec2:DeleteFlowLogs"]


LESSER = ["guardduty:UpdateDetector", "logs:DeleteLogGroup", "access-analyzer:DeleteAnalyzer", "s3:PutBucketLogging",
          "cloudtrail:StopLogging"]  # medium, medium, medium, low, then a critical one


def test_rate_limit_per_identity_per_hour_holds_back_lesser_alerts_only():
    raised: list[Alert] = []
    w = watcher(alerts_per_hour=2, on_alert=raised.append)
    feed(w, *[ev(T0 + 10 * HOUR + i * MINUTE, a, resource="r") for i, a in enumerate(LESSER)])
    assert [a.summary.split(":")[0] for a in w.alerts.values()] == [
        "GuardDuty settings changed", "a CloudWatch log group deleted", "CloudTrail logging stopped"]
    second = list(w.alerts.values())[1]
    assert second.suppressed == 2  # the analyzer and the bucket logging, counted on the last one let through
    feed(w, ev(T0 + 10 * HOUR + 20 * MINUTE, "s3:PutBucketLogging", resource="r"))
    assert second.suppressed == 2  # a repeat of a held-back alert is not counted again
    # another identity in the same hour has its own allowance
    other = f"aws:arn:aws:iam::{ACCOUNT}:role/other"
    assert len(feed(w, ev(T0 + 10 * HOUR + 30 * MINUTE, "logs:DeleteLogGroup", identity=other, resource="r"))) == 1
    # and the next hour starts afresh
    assert len(feed(w, ev(T0 + 11 * HOUR + MINUTE, "access-analyzer:DeleteAnalyzer", resource="r"))) == 1
    assert len(raised) == len(w.alerts) == 5


def test_an_escalated_alert_is_sent_to_the_hooks_again():
    key = "AKIA" + "Q" * 16
    from nhiguard.engine.redact import DEFAULT_KEY, fingerprint

    resolver = Resolver(leaked_keys={fingerprint(key.encode(), DEFAULT_KEY): ("f00d", "AKIA********QQ")})
    raised: list[tuple[str, Severity]] = []
    user = dict(identity="aws:" + key, identity_type="IAMUser", principal="svc-report", nonhuman=None,
                params={"_caller_user": "svc-report"})
    w = watcher(baseline(**user), resolver=resolver, on_alert=lambda a: raised.append((a.id, a.severity)))
    feed(w, ev(END + HOUR, ip=BEIJING, **user))
    leak = [r for r in raised if r[0] == alert_id("watch.leaked-credential-used", "aws:" + key, "leak")]
    assert [sev for _, sev in leak] == [Severity.HIGH, Severity.CRITICAL]


def test_known_alert_keeps_its_status_and_is_not_new():
    known_id = alert_id("watch.defence-evasion", APP, "cloudtrail:StopLogging:main-trail")
    raised: list[Alert] = []
    w = watcher(known={known_id: "acknowledged"}, on_alert=raised.append)
    feed(w, ev(T0, "cloudtrail:StopLogging", resource="main-trail"),
         ev(T0 + MINUTE, "cloudtrail:DeleteTrail", resource="main-trail"))
    known, fresh = w.alerts[known_id], w.alerts[alert_id("watch.defence-evasion", APP, "cloudtrail:DeleteTrail:main-trail")]
    assert (known.new, known.status) == (False, "acknowledged")
    assert (fresh.new, fresh.status) == (True, "open")
    assert raised == [fresh]


def test_location_alert_is_not_learned_as_normal():
    w = watcher(baseline())
    feed(w, ev(END + 13 * HOUR, ip=BEIJING))
    p = w.profiles[APP]
    assert "CN" not in p.countries and PLACES[BEIJING][1] not in p.networks
    assert p.events == 61  # the event itself is counted
    a = only(feed(w, ev(END + 2 * DAY, ip=BEIJING)), "watch.new-country")  # still new a day later
    assert a.count == 2


def test_new_service_alert_is_not_learned_as_normal():
    w = watcher(baseline())
    feed(w, ev(END + HOUR, "ec2:RunInstances"))
    assert "ec2" not in w.profiles[APP].services
    assert only(feed(w, ev(END + DAY, "ec2:RunInstances")), "watch.new-service").count == 2


def test_on_alert_fires_once_per_new_alert():
    raised: list[str] = []
    w = watcher(baseline(), on_alert=lambda a: raised.append(a.id))
    feed(w, *[ev(END + HOUR + i * MINUTE, ip=DE_HOSTER) for i in range(3)],
         *[ev(END + 14 * HOUR + i * MINUTE, ip=BEIJING) for i in range(3)])
    assert raised == list(w.alerts) and len(raised) == 2
    assert [a.count for a in w.alerts.values()] == [3, 3]


def test_alert_ids_are_stable():
    a = alert_id("watch.new-country", APP, "CN")
    assert a == alert_id("watch.new-country", APP, "CN") and len(a) == 16 and int(a, 16) >= 0
    assert len({a, alert_id("watch.new-country", APP, "RU"), alert_id("watch.new-network", APP, "CN"),
                alert_id("watch.new-country", DEPLOYER, "CN")}) == 4
    assert alert_id("a", "bc", "d") != alert_id("ab", "c", "d")  # the parts are separated
    events = [*baseline(), ev(END + 13 * HOUR, ip=BEIJING), ev(END + 2 * DAY, "ec2:RunInstances")]
    assert list(watcher(events).alerts) == list(watcher(events).alerts) == [
        alert_id("watch.new-country", APP, "CN"), alert_id("watch.new-service", APP, "ec2")]


@pytest.mark.parametrize("settings,alerts", [({}, False), ({"learning_days": 1, "min_events": 10}, True)],
                         ids=["default-window", "short-window"])
def test_learning_window_follows_settings(settings, alerts):
    w = watcher(baseline(12, 1.5), **settings)
    got = feed(w, ev(T0 + 3 * DAY, ip=BEIJING))
    assert ("watch.new-country" in ids(got)) is alerts


def test_profiles_carry_over_between_runs():
    first = watcher(baseline())
    saved = {k: Profile.from_json(json.loads(json.dumps(p.to_json()))) for k, p in first.profiles.items()}
    second = watcher(profiles=saved)
    assert ids(feed(second, ev(END + 13 * HOUR, ip=BEIJING))) == {"watch.new-country"}
    assert feed(second, ev(END + 2 * DAY, ip=HOME_2)) == []


# ---------------------------------------------------------------- added with the Panther and Falco coverage

@pytest.mark.parametrize("params,caller,severity,summary", [
    ({"userName": "alice"}, "alice", Severity.LOW, "alice set its own console password"),
    ({"userName": "bob", "passwordResetRequired": True}, "alice", Severity.MEDIUM,
     "the console password of bob changed (to be changed at first sign-in)"),
    ({"userName": "bob", "passwordResetRequired": False}, "alice", Severity.HIGH, "the console password of bob changed"),
], ids=["own-password", "admin-reset", "set-for-another"])
def test_console_passwords_by_whom(params, caller, severity, summary):
    e = ev(T0, "iam:UpdateLoginProfile", params={**params, "_caller_user": caller})
    a = only(fire(e), "watch.new-credentials")
    assert (a.severity, a.summary) == (severity, summary)


def test_routine_lesser_grants_of_an_established_identity_are_quiet_but_admin_grants_are_not():
    terraform = baseline(params={"roleName": "app-x", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                         action="iam:AttachRolePolicy")
    w = watcher(terraform)
    assert not [a for a in w.alerts.values() if a.first_seen >= T0 + 2 * DAY]  # after learning: none
    plain = ev(END + HOUR, "iam:AttachRolePolicy",
               params={"roleName": "app-y", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"})
    assert feed(w, plain) == []
    admin = ev(END + 2 * HOUR, "iam:AttachRolePolicy",
               params={"roleName": "app-y", "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    assert only(feed(w, admin), "watch.new-permissions").severity == Severity.CRITICAL


def test_kubernetes_system_roles_and_system_masters():
    masters = ev(T0, "k8s:create clusterrolebindings", resource="backdoor",
                 params={"role_ref": "view", "subjects": ["Group::system:masters"]}, **K8S_USER)
    assert only(fire(masters), "watch.new-permissions").severity == Severity.CRITICAL
    deleted = ev(T0, "k8s:delete clusterroles", resource="system:aggregate-to-edit", params={}, **K8S_USER)
    a = only(fire(deleted), "watch.new-permissions")
    assert a.severity == Severity.HIGH and "system role system:aggregate-to-edit deleted" in a.summary
    own = ev(T0, "k8s:delete clusterroles", resource="team-reader", params={}, **K8S_USER)
    assert fire(own) == []  # taking a team's role away grants nothing
    controller = dict(K8S_USER, identity="k8s:system:kube-controller-manager", principal="system:kube-controller-manager",
                      identity_type="system", nonhuman=True)
    assert fire(ev(T0, "k8s:delete clusterroles", resource="system:aggregate-to-edit", params={}, **controller)) == []


@pytest.mark.parametrize("fields,severity", [
    (dict(K8S_USER), Severity.MEDIUM),
    (dict(K8S_USER, identity="k8s:system:serviceaccount:ci:runner", principal="system:serviceaccount:ci:runner",
          identity_type="serviceaccount", nonhuman=True), Severity.HIGH),
], ids=["person", "service-account"])
def test_a_shell_in_a_pod(fields, severity):
    a = only(fire(ev(T0, "k8s:create pods/exec", resource="prod/db-0", params={}, **fields)), "watch.resource-exposure")
    assert a.severity == severity and a.summary.startswith("a shell or command in pod prod/db-0 by ")
    routine_ops = [ev(T0 + i * HOUR, "k8s:create pods/exec", resource=f"prod/db-{i}", params={}, **fields)
                   for i in range(4)]
    w = watcher(routine_ops)
    assert feed(w, ev(T0 + 5 * HOUR, "k8s:create pods/exec", resource="prod/db-9", params={}, **fields)) == []


def test_snapshot_permission_for_no_group_is_no_share():
    none = {"createVolumePermission": {"add": {"items": [{"group": "none"}]}}, "snapshotId": "snap-1"}
    assert "watch.resource-exposure" not in ids(fire(ev(T0, "ec2:ModifySnapshotAttribute", params=none)))
    public = {"createVolumePermission": {"add": {"items": [{"group": "all"}]}}, "snapshotId": "snap-1"}
    a = only(fire(ev(T0, "ec2:ModifySnapshotAttribute", params=public, resource="snap-1")), "watch.resource-exposure")
    assert a.severity == Severity.CRITICAL and "everyone" in a.summary


@pytest.mark.parametrize("action,severity", [
    ("github:dependabot_alerts.disable", Severity.MEDIUM), ("github:business_advanced_security.disabled", Severity.HIGH),
    ("github:ip_allow_list_entry.create", Severity.MEDIUM),
    ("gcp:google.logging.v2.ConfigServiceV2.DeleteBucket", Severity.HIGH),
])
def test_more_defences_switched_off(action, severity):
    a = only(fire(ev(T0, action, source=action.partition(":")[0], params={})), "watch.defence-evasion")
    assert a.severity == severity


def test_a_gcp_call_that_mints_keys_whatever_its_method():
    e = ev(T0, "gcp:v2.deploymentmanager.deployments.insert", source="gcp", resource="",
           params={"permissions": ["deploymentmanager.deployments.create", "iam.serviceAccountKeys.create"]})
    a = only(fire(e), "watch.new-credentials")
    assert a.severity == Severity.HIGH and "service-account key created by v2.deploymentmanager" in a.summary


def test_a_leaked_key_in_use_is_high_and_critical_from_a_new_network():
    key = "AKIA" + "Q" * 16
    from nhiguard.engine.redact import DEFAULT_KEY, fingerprint

    resolver = Resolver(leaked_keys={fingerprint(key.encode(), DEFAULT_KEY): ("f00d", "AKIA********QQ")})
    user = dict(identity="aws:" + key, identity_type="IAMUser", principal="svc-report", nonhuman=None,
                params={"_caller_user": "svc-report"})
    w = watcher(baseline(**user), resolver=resolver)
    [first] = [a for a in w.alerts.values() if a.detector.id == "watch.leaked-credential-used"]
    assert first.severity == Severity.HIGH and first.count == 60  # every use counted on one alert
    assert "finding f00d (AKIA********QQ)" in first.summary and key not in first.summary
    away = only(feed(w, ev(END + HOUR, ip=BEIJING, **user)), "watch.leaked-credential-used")
    assert away.id == first.id and away.severity == Severity.CRITICAL  # the same alert, raised
    unrelated = dict(user, identity="aws:AKIA" + "Z" * 16)
    assert "watch.leaked-credential-used" not in ids(fire(ev(T0, **unrelated), resolver=resolver))


@pytest.mark.parametrize("method,route,fires", [
    ("POST", "/user/keys", True), ("POST", "/repos/{owner}/{repo}/keys", True), ("GET", "/user/keys", False),
    ("POST", "/repos/{owner}/{repo}/issues", False)])
def test_keys_added_with_a_token_through_the_api(method, route, fires):
    token = dict(source="github", identity="github:token:abc=", identity_type="token", principal="release-bot",
                 nonhuman=None)
    e = ev(T0, "github:api.request", params={"request_method": method, "route": route}, **token)
    got = [a for a in fire(e) if a.detector.id == "watch.new-credentials"]
    assert bool(got) == fires
    if fires:
        assert got[0].severity == Severity.HIGH and route in got[0].summary


def test_one_providers_networks_are_no_travel_and_time_going_backwards_is_no_speed():
    from nhiguard.watch.geo import provider

    assert provider("AMAZON-02") == provider("AMAZON-AES") and provider("GOOGLE") == provider("GOOGLE-CLOUD-PLATFORM")
    assert provider("AMAZON-02") != provider("DIGITALOCEAN-ASN")
    w = watcher(baseline())
    earlier = ev(END - 2 * DAY, ip=BEIJING)  # a record from before the last one, read late
    assert "watch.impossible-travel" not in ids(feed(w, earlier))
