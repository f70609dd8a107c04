"""A seeded generator of benign non-human activity, as the audit logs record it, to measure
detectors against: CI deployers (weekday release runs from a CI provider's network),
Terraform over OIDC (hundreds of Describe/List calls per plan), services on instance roles
(steady data reads with a daily cycle), Lambda functions, a nightly security scanner and a
nightly backup job (bursts that are normal for them), Kubernetes controllers, a GitHub App
and a CI deploy token. Records are CloudTrail, Kubernetes audit and GitHub audit-log
dicts with the services' own field names, in time order.

`inject` puts attack records (e.g. the Stratus Red Team detonation logs) into the stream as
if a stolen credential of a benign identity had made them, from an attacker's network."""

from __future__ import annotations

import base64
import hashlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
DAY = 86400
HOUR = 3600

# address pools: a CI provider's runners, the cloud's own addresses, attackers' hosting
_CI_NETS = ("20.42.{}.{}", "20.57.{}.{}", "40.76.{}.{}", "52.234.{}.{}")  # a CI provider's cloud, US regions
_AWS_NETS = ("3.208.{}.{}", "18.204.{}.{}", "52.70.{}.{}", "54.88.{}.{}")  # us-east-1
_ATTACKER_IPS = ("185.220.101.45", "45.77.65.211", "159.89.214.31", "51.38.112.9", "89.248.165.77",
                 "103.152.220.14", "194.26.192.64", "5.188.206.18")

_CLI_UA = ("aws-cli/2.15.30 md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-1016-azure md/arch#x86_64 lang/python#3.11.8 "
           "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off "
           "md/command#{}")
_BOTO_UA = "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10.213-201.855.amzn2.x86_64 md/arch#x86_64 " \
           "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
_LAMBDA_UA = "Boto3/1.34.42 md/Botocore#1.34.42 ua/2.0 os/linux#5.10.209 md/arch#x86_64 lang/python#3.12.2 " \
             "exec-env/AWS_Lambda_python3.12 Botocore/1.34.42"
_TF_UA = "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) terraform-provider-aws/5.42.0 " \
         "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.26.0 os/linux lang/go#1.22.1 " \
         "md/GOOS#linux md/GOARCH#amd64 api/{}#1.0"
_SCANNER_UA = "Boto3/1.34.50 md/Botocore#1.34.50 ua/2.0 os/linux#5.15.0 md/arch#x86_64 lang/python#3.11.6 " \
              "md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.34.50 prowler/3.14"

_DEPLOY_CALLS = ["sts:GetCallerIdentity", "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
                 "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage",
                 "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition", "ecs:UpdateService",
                 "ecs:DescribeServices", "ecs:DescribeServices", "ecs:DescribeServices", "s3:PutObject",
                 "cloudformation:DescribeStacks"]
_TF_SERVICES = {
    "ec2": ["DescribeVpcs", "DescribeSubnets", "DescribeSecurityGroups", "DescribeRouteTables", "DescribeInstances",
            "DescribeNetworkAcls", "DescribeVpcAttribute", "DescribeInternetGateways", "DescribeNatGateways",
            "DescribeAddresses", "DescribeLaunchTemplates", "DescribeLaunchTemplateVersions", "DescribeVolumes",
            "DescribeTags", "DescribeAvailabilityZones", "DescribeImages", "DescribeKeyPairs"],
    "iam": ["GetRole", "ListRolePolicies", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion",
            "GetInstanceProfile", "ListInstanceProfilesForRole", "GetOpenIDConnectProvider"],
    "s3": ["GetBucketAcl", "GetBucketPolicy", "GetBucketVersioning", "GetBucketEncryption", "GetBucketLogging",
           "GetBucketTagging", "GetBucketLifecycle", "GetBucketPublicAccessBlock", "ListBuckets"],
    "rds": ["DescribeDBInstances", "DescribeDBSubnetGroups", "DescribeDBParameterGroups", "ListTagsForResource"],
    "elasticloadbalancing": ["DescribeLoadBalancers", "DescribeTargetGroups", "DescribeListeners",
                             "DescribeLoadBalancerAttributes", "DescribeTargetGroupAttributes", "DescribeTags"],
    "ecs": ["DescribeClusters", "DescribeServices", "DescribeTaskDefinition", "ListTagsForResource"],
    "logs": ["DescribeLogGroups", "ListTagsLogGroup", "ListTagsForResource"],
    "kms": ["DescribeKey", "GetKeyPolicy", "GetKeyRotationStatus", "ListResourceTags", "ListAliases"],
    "route53": ["GetHostedZone", "ListResourceRecordSets", "ListTagsForResource", "GetChange"],
    "sqs": ["GetQueueAttributes", "ListQueueTags"],
    "secretsmanager": ["DescribeSecret", "GetResourcePolicy"],
    "acm": ["DescribeCertificate", "ListTagsForCertificate"],
    "lambda": ["GetFunction", "ListVersionsByFunction", "GetPolicy", "GetFunctionCodeSigningConfig"],
    "cloudwatch": ["DescribeAlarms", "ListTagsForResource"],
}
_SERVICE_CALLS = [("s3:GetObject", 50), ("s3:PutObject", 8), ("sqs:ReceiveMessage", 30), ("sqs:DeleteMessage", 20),
                  ("dynamodb:GetItem", 20), ("dynamodb:PutItem", 6), ("dynamodb:Query", 10), ("kms:Decrypt", 6),
                  ("secretsmanager:GetSecretValue", 1), ("sts:GetCallerIdentity", 1)]
_K8S_CONTROLLERS = {
    "argocd:argocd-application-controller": [("list", "deployments", "apps"), ("watch", "deployments", "apps"),
                                             ("get", "deployments", "apps"), ("patch", "deployments", "apps"),
                                             ("list", "services", ""), ("get", "configmaps", ""),
                                             ("list", "pods", "")],
    "cert-manager:cert-manager": [("get", "certificates", "cert-manager.io"), ("list", "secrets", ""),
                                  ("update", "certificates", "cert-manager.io"), ("get", "secrets", ""),
                                  ("create", "events", "")],
    "external-dns:external-dns": [("list", "services", ""), ("list", "ingresses", "networking.k8s.io"),
                                  ("list", "nodes", ""), ("list", "pods", "")],
}


def _ip(rng: random.Random, nets: tuple[str, ...]) -> str:
    return rng.choice(nets).format(rng.randint(0, 255), rng.randint(1, 254))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_id(rng: random.Random, prefix: str = "AKIA") -> str:
    return prefix + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def cycle(ts: float) -> float:
    """Load by hour of day: low at night, peaking in the afternoon (UTC)."""
    h = (ts % DAY) / HOUR
    return 0.35 + 0.65 * max(0.0, 1 - abs(h - 15) / 9)


@dataclass
class Victim:
    """A benign identity an attack can be attributed to (its userIdentity block)."""

    label: str
    user_identity: dict[str, Any]


@dataclass
class Estate:
    """The simulated identities, fixed by the seed."""

    seed: int
    rng: random.Random = field(init=False)
    ci_key: str = ""
    backup_key: str = ""
    ci_ips: list[str] = field(default_factory=list)
    service_ips: dict[str, list[str]] = field(default_factory=dict)
    token_hash: str = ""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        r = self.rng
        self.ci_key = _key_id(r)
        self.backup_key = _key_id(r)
        self.ci_ips = [_ip(r, _CI_NETS) for _ in range(12)]
        self.service_ips = {s: [_ip(r, _AWS_NETS) for _ in range(3)] for s in ("orders", "billing", "search", "media")}
        self.token_hash = base64.b64encode(hashlib.sha256(str(r.random()).encode()).digest()).decode()

    def victims(self) -> list[Victim]:
        return [
            Victim("ci-deployer key", {"type": "IAMUser", "principalId": "AIDA" + self.ci_key[4:], "arn":
                   f"arn:aws:iam::{ACCOUNT}:user/ci-deployer", "accountId": ACCOUNT, "accessKeyId": self.ci_key,
                   "userName": "ci-deployer"}),
            Victim("orders instance role", _role_identity("orders-app", "i-0a1b2c3d4e5f60718")),
            Victim("backup-bot key", {"type": "IAMUser", "principalId": "AIDA" + self.backup_key[4:], "arn":
                   f"arn:aws:iam::{ACCOUNT}:user/backup-bot", "accountId": ACCOUNT,
                   "accessKeyId": self.backup_key, "userName": "backup-bot"}),
            Victim("gha-deploy OIDC role", _role_identity("gha-deploy", "GitHubActions")),
        ]


def _role_identity(role: str, session: str) -> dict[str, Any]:
    return {"type": "AssumedRole", "principalId": f"AROA{hashlib.sha1(role.encode()).hexdigest()[:16].upper()}:{session}",
            "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}", "accountId": ACCOUNT,
            "accessKeyId": "ASIA" + hashlib.sha1(f"{role}{session}".encode()).hexdigest()[:16].upper(),
            "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE",
                                                 "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                                                 "accountId": ACCOUNT, "userName": role},
                               "attributes": {"creationDate": "2026-01-01T00:00:00Z", "mfaAuthenticated": "false"}}}


def _ct(ts: float, action: str, ui: dict[str, Any], ip: str, ua: str, rng: random.Random,
        params: dict[str, Any] | None = None, region: str = "us-east-1") -> dict[str, Any]:
    service, _, name = action.partition(":")
    read = name.startswith(("Get", "List", "Describe"))
    return {"eventVersion": "1.09", "userIdentity": ui, "eventTime": _iso(ts), "eventSource": f"{service}.amazonaws.com",
            "eventName": name, "awsRegion": region, "sourceIPAddress": ip, "userAgent": ua,
            "requestParameters": params or {}, "responseElements": None,
            "requestID": str(uuid.UUID(int=rng.getrandbits(128))), "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
            "readOnly": read, "eventType": "AwsApiCall", "managementEvent": service not in ("s3", "dynamodb"),
            "recipientAccountId": ACCOUNT, "eventCategory": "Management" if service not in ("s3", "dynamodb") else "Data",
            "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256",
                           "clientProvidedHostHeader": f"{service}.us-east-1.amazonaws.com"}}


def _k8s(ts: float, user: str, verb: str, resource: str, group: str, ns: str, rng: random.Random) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
            "auditID": str(uuid.UUID(int=rng.getrandbits(128))), "stage": "ResponseComplete",
            "requestURI": f"/apis/{group + '/' if group else ''}v1/namespaces/{ns}/{resource}", "verb": verb,
            "user": {"username": f"system:serviceaccount:{user}",
                     "groups": ["system:serviceaccounts", "system:authenticated"]},
            "sourceIPs": [f"10.0.{rng.randint(1, 3)}.{rng.randint(2, 250)}"],
            "userAgent": f"{user.split(':')[1]}/v1.9.3 (linux/amd64) kubernetes/2a4b4d6",
            "objectRef": {"resource": resource, "namespace": ns, "apiGroup": group, "apiVersion": "v1"},
            "responseStatus": {"metadata": {}, "code": 200}, "requestReceivedTimestamp": stamp,
            "stageTimestamp": stamp, "annotations": {"authorization.k8s.io/decision": "allow"}}


def benign(days: int = 14, seed: int = 7, scale: float = 1.0, start: float | None = None) -> Iterator[dict[str, Any]]:
    """Benign records over `days` days, in time order; `scale` multiplies the volume
    (1.0 is about 9,000 events a day)."""
    estate = Estate(seed)
    yield from _benign(estate, days, scale, start)


def _benign(estate: Estate, days: int, scale: float, start: float | None) -> Iterator[dict[str, Any]]:
    rng = estate.rng
    t0 = start if start is not None else datetime(2026, 9, 7, tzinfo=UTC).timestamp()  # a Monday
    ci_ui = estate.victims()[0].user_identity
    backup_ui = estate.victims()[2].user_identity
    for hour in range(days * 24):
        base = t0 + hour * HOUR
        weekday = datetime.fromtimestamp(base, UTC).weekday() < 5
        h = hour % 24
        batch: list[tuple[float, dict[str, Any]]] = []
        # CI deploys: weekdays 08-18, about six runs a day
        if weekday and 8 <= h < 18 and rng.random() < 0.6:
            ts = base + rng.uniform(0, HOUR - 600)
            ip = rng.choice(estate.ci_ips)
            for action in _DEPLOY_CALLS * (1 + int(scale)):
                ts += rng.uniform(0.5, 8)
                batch.append((ts, _ct(ts, action, ci_ui, ip, _CLI_UA.format(action.split(":")[1].lower()), rng)))
        # Terraform over OIDC: a plan at 10 and 15 on weekdays
        if weekday and h in (10, 15):
            ui = _role_identity("gha-deploy", "GitHubActions")
            ts = base + rng.uniform(0, 1200)
            ip = rng.choice(estate.ci_ips)
            for service, calls in _TF_SERVICES.items():
                for op in calls:
                    for _ in range(rng.randint(1, 3)):
                        ts += rng.uniform(0.05, 1.5)
                        batch.append((ts, _ct(ts, f"{service}:{op}", ui, ip, _TF_UA.format(service), rng)))
        # services on instance roles: steady reads with a daily cycle
        for svc, ips in estate.service_ips.items():
            session = "i-0" + hashlib.sha1(f"{svc}{hour // 24}".encode()).hexdigest()[:16]
            ui = _role_identity(f"{svc}-app", session)
            load = cycle(base) * scale
            for action, per_hour in _SERVICE_CALLS:
                n = _poisson(rng, per_hour * load)
                for _ in range(n):
                    ts = base + rng.uniform(0, HOUR)
                    params = {"bucketName": f"{svc}-data", "key": f"objects/{rng.randint(1, 99999)}.json"} \
                        if action.startswith("s3") else {"secretId": f"prod/{svc}/db"} \
                        if action.startswith("secretsmanager") else {}
                    batch.append((ts, _ct(ts, action, ui, rng.choice(ips), _BOTO_UA, rng, params)))
        # Lambda functions: bursts of work, egress from the cloud's addresses
        for fn in ("thumbnailer", "invoice-mailer", "nightly-report"):
            if fn == "nightly-report" and h != 1:
                continue
            ui = _role_identity(f"{fn}-role", fn)
            for _ in range(_poisson(rng, 12 * cycle(base) * scale)):
                ts = base + rng.uniform(0, HOUR)
                action = rng.choice(("s3:GetObject", "s3:PutObject", "ses:SendEmail", "dynamodb:Query"))
                batch.append((ts, _ct(ts, action, ui, _ip(rng, _AWS_NETS), _LAMBDA_UA, rng)))
        # the security scanner: every night at 02, hundreds of read calls across services
        if h == 2:
            ui = _role_identity("security-audit", "prowler")
            ts = base + rng.uniform(0, 300)
            ip = estate.service_ips["search"][0]
            for service, calls in _TF_SERVICES.items():
                for op in calls:
                    ts += rng.uniform(0.05, 0.6)
                    batch.append((ts, _ct(ts, f"{service}:{op}", ui, ip, _SCANNER_UA, rng)))
        # the backup job: every night at 03, a few thousand objects read
        if h == 3:
            ts = base + rng.uniform(0, 300)
            ip = estate.service_ips["media"][1]
            for _ in range(int(rng.randint(1500, 2200) * min(scale, 1.0))):
                ts += rng.uniform(0.05, 0.4)
                batch.append((ts, _ct(ts, "s3:GetObject", backup_ui, ip, _BOTO_UA, rng,
                                      {"bucketName": "prod-data", "key": f"k/{rng.randint(1, 10**6)}"})))
        # Kubernetes controllers
        for sa, calls in _K8S_CONTROLLERS.items():
            for _ in range(_poisson(rng, 40 * scale)):
                ts = base + rng.uniform(0, HOUR)
                verb, res, group = rng.choice(calls)
                batch.append((ts, _k8s(ts, sa, verb, res, group, sa.split(":")[0], rng)))
        # GitHub: the dependency bot and a CI deploy token cloning
        for _ in range(_poisson(rng, 3 * scale)):
            ts = base + rng.uniform(0, HOUR)
            batch.append((ts, {"@timestamp": int(ts * 1000), "action": rng.choice(("pull_request.create", "git.push",
                                                                                   "pull_request.merge")),
                               "actor": "dependabot[bot]", "actor_is_bot": True, "org": "acme",
                               "repo": f"acme/{rng.choice(('api', 'web', 'infra'))}",
                               "programmatic_access_type": "GitHub App server-to-server token",
                               "actor_ip": rng.choice(estate.ci_ips), "user_agent": "GitHub-Hookshot/8fa2b5c"}))
        if weekday and 8 <= h < 18:
            for _ in range(_poisson(rng, 6 * scale)):
                ts = base + rng.uniform(0, HOUR)
                batch.append((ts, {"@timestamp": int(ts * 1000), "action": "git.clone", "actor": "ci-bot",
                                   "org": "acme", "repo": f"acme/{rng.choice(('api', 'web', 'infra'))}",
                                   "hashed_token": estate.token_hash, "token_id": 4242,
                                   "programmatic_access_type": "Personal access token (classic)",
                                   "actor_ip": rng.choice(estate.ci_ips), "transport_protocol_name": "http",
                                   "user_agent": "git/2.43.0"}))
        batch.sort(key=lambda x: x[0])
        for _, rec in batch:
            yield rec


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # a normal approximation is close enough and much faster
        return max(0, int(rng.gauss(mean, mean ** 0.5) + 0.5))
    n, p, limit = 0, 1.0, pow(2.718281828459045, -mean)
    while True:
        p *= rng.random()
        if p < limit:
            return n
        n += 1


def attack_records(records: list[dict[str, Any]], victim: Victim, at: float, attacker_ip: str) -> list[dict[str, Any]]:
    """The attack's records as if `victim`'s credential made them from `attacker_ip`,
    starting at `at` with their original spacing (compressed to at most an hour)."""
    times = []
    for r in records:
        try:
            times.append(datetime.fromisoformat(str(r["eventTime"]).replace("Z", "+00:00")).timestamp())
        except (KeyError, ValueError):
            times.append(0.0)
    first = min(times) if times else 0.0
    span = max(max(times) - first, 1.0) if times else 1.0
    squeeze = min(1.0, HOUR / span)
    out = []
    for r, t in zip(records, times, strict=True):
        rec = dict(r)
        if isinstance(rec.get("userIdentity"), dict) and rec["userIdentity"].get("type") not in ("AWSService",):
            rec["userIdentity"] = victim.user_identity
            rec["sourceIPAddress"] = attacker_ip
        rec["eventTime"] = _iso(at + (t - first) * squeeze)
        rec["recipientAccountId"] = ACCOUNT
        out.append(rec)
    return out
