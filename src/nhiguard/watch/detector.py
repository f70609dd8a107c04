"""What a detector is and what it sees. A detector is a module with a `DETECTOR` (its id,
title, severity, OWASP NHI and MITRE ATT&CK tags, and why it matters) and a
`check(ctx) -> list[Signal]` that looks at one event in the light of the identity's
profile (as it was before this event) and recent activity."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from nhiguard.model.event import Event
from nhiguard.model.severity import Severity
from nhiguard.watch.geo import Place
from nhiguard.watch.profile import Profile


@dataclass(frozen=True)
class Detector:
    id: str  # "watch.new-country"
    title: str
    severity: Severity
    owasp: tuple[str, ...]  # ("NHI2:2025",)
    attack: tuple[str, ...]  # MITRE ATT&CK technique ids ("T1078.004",)
    why: str  # why it matters, one sentence


@dataclass
class Signal:
    """One thing a detector saw. `subject` decides what repeats of it are the same alert
    (the new country, the granted policy); the alert keeps counting them."""

    detector: Detector
    summary: str  # what was seen
    baseline: str  # what the identity normally does
    subject: str
    evidence: dict[str, Any] = field(default_factory=dict)  # names and figures, never secrets
    severity: Severity | None = None


@dataclass(frozen=True)
class Who:
    """What the inventory (or the event's own fields) says about the identity."""

    inventory_id: str | None = None
    kind: str = ""
    name: str = ""
    owner: str | None = None
    nonhuman: bool | None = None
    server_only: bool = False  # instance roles, service accounts, CI identities: never a person at a keyboard
    ci: bool = False
    leak: str | None = None  # "finding <id> (<preview>)" when a scan found this credential in plaintext


@dataclass
class Recent:
    """Activity of the last minutes, per identity, for bursts and concurrency."""

    discovery: deque[tuple[float, str, str]] = field(default_factory=deque)  # (time, action, service)
    networks: dict[str, float] = field(default_factory=dict)  # network -> last seen
    alerted_burst_until: float = 0.0
    burst_start: float = 0.0  # when the window of discovery calls being learned began
    burst_peak: int = 0  # most distinct discovery calls in that window
    last_release_alert: float = 0.0


@dataclass(slots=True)
class Context:
    event: Event
    profile: Profile  # before this event
    place: Place
    agent_class: str
    established: bool
    who: Who
    recent: Recent
    settings: Any  # nhiguard.settings.Settings


def routine(ctx: Context, signals: list[Signal], times: int = 3) -> list[Signal]:
    """`signals` without the lesser ones (below high) for an action the established
    identity has made `times` times before: a Terraform role that creates roles every day
    is doing its job; an administrator grant or a key for another user still alerts."""
    if not signals or not ctx.established or ctx.profile.actions.get(ctx.event.action, 0) < times:
        return signals
    return [s for s in signals if (s.severity or s.detector.severity) >= Severity.HIGH]
