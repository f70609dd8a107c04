"""One audit-log record, normalised: who (an identity key) did what (an action on a
resource), from where (address, user agent), when, and whether it worked. Every source
(CloudTrail, GitHub, Kubernetes, GCP) becomes this shape, so detectors know no log format.

Events never carry secrets: `params` holds the few request fields detectors need (a target
user name, a policy ARN, a role name), never response bodies, which can hold credentials."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(slots=True)
class Event:
    time: float  # seconds since the epoch, UTC
    source: str  # cloudtrail, github, kubernetes, gcp
    identity: str  # the key baselines are kept under, e.g. "aws:AKIA...", "k8s:system:serviceaccount:ns:sa"
    identity_type: str  # as the log says: IAMUser, AssumedRole, Root, serviceaccount, user, token, ...
    principal: str  # who, for people: an ARN, user name, e-mail
    action: str  # "service:Operation" ("iam:CreateAccessKey", "k8s:create secrets", "github:repo.create")
    service: str = ""
    resource: str = ""
    source_ip: str = ""
    user_agent: str = ""
    success: bool = True
    error: str = ""
    account: str = ""  # AWS account, cluster, GCP project, GitHub organisation
    region: str = ""
    count: int = 1  # items or bytes the call moved, where the log tells
    raw: str = ""  # where the record is: "file:line" or "file#index"
    nonhuman: bool | None = None  # decided from the identity's type (None: cannot tell)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)

    @property
    def operation(self) -> str:
        return self.action.partition(":")[2]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
