"""What one identity normally does, learned from its events and kept in the store: where
from (countries, networks, ranges), with what (client families and classes), what
(actions, services), when (hours of the day and week) and how much (events and data reads
per hour, discovery calls per window). Every set is capped, so a profile stays small
whatever the identity does; counts let rare values be told from usual ones."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

CAPS = {"countries": 64, "networks": 256, "cidrs": 512, "agents": 128, "classes": 16, "actions": 4000,
        "services": 400}
HOUR = 3600.0


@dataclass
class Profile:
    identity: str
    first_seen: float = 0.0
    last_seen: float = 0.0
    events: int = 0
    countries: dict[str, int] = field(default_factory=dict)
    networks: dict[str, int] = field(default_factory=dict)
    cidrs: dict[str, int] = field(default_factory=dict)
    agents: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    hours: list[int] = field(default_factory=lambda: [0] * 24)  # UTC hour of day
    week_hours: list[int] = field(default_factory=lambda: [0] * 168)  # hour of the week (Monday 00 is 0)
    # per-hour volumes: the hour being counted and the largest finished hours so far
    hour_start: float = 0.0
    hour_events: int = 0
    hour_reads: int = 0
    hour_secrets: list[str] = field(default_factory=list)  # distinct secrets read in the hour being counted
    hour_alerted: bool = False  # the hour being counted raised a volume alert: not learned as normal
    max_hour_events: int = 0
    max_hour_reads: int = 0
    max_hour_secrets: int = 0
    active_hours: int = 0
    max_discovery: int = 0  # most distinct discovery calls seen in one window
    co_networks: list[str] = field(default_factory=list)  # network pairs seen active together ("a|b")
    last_country: str = ""
    last_country_time: float = 0.0
    last_network: str = ""
    principal: str = ""
    identity_type: str = ""
    nonhuman: bool | None = None
    source: str = ""

    def established(self, min_events: int, learning_seconds: float) -> bool:
        return self.events >= min_events and self.last_seen - self.first_seen >= learning_seconds

    def count(self, table: str, key: str) -> None:
        d: dict[str, int] = getattr(self, table)
        if key in d:
            d[key] += 1
        elif len(d) < CAPS[table]:
            d[key] = 1

    def roll_hour(self, now: float) -> None:
        """Close the hour being counted when `now` is past it."""
        if now - self.hour_start < HOUR:
            return
        if self.hour_events:
            self.active_hours += 1
            if not self.hour_alerted:
                self.max_hour_events = max(self.max_hour_events, self.hour_events)
                self.max_hour_reads = max(self.max_hour_reads, self.hour_reads)
                self.max_hour_secrets = max(self.max_hour_secrets, len(self.hour_secrets))
        self.hour_start = now - now % HOUR
        self.hour_alerted = False
        self.hour_events = self.hour_reads = 0
        self.hour_secrets = []

    def read_secret(self, name: str) -> None:
        if name not in self.hour_secrets and len(self.hour_secrets) < 500:
            self.hour_secrets.append(name)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Profile:
        """The profile a document saved by `to_json` holds; what a damaged document holds
        that is not a field, or not of its field's type, is left at its default."""
        p = cls(str(doc.get("identity") or ""))
        for k, v in doc.items():
            if k not in _FIELDS:  # not "__dict__" or a method's name
                continue
            current = getattr(p, k)
            if k == "nonhuman":
                if v is True or v is False or v is None:
                    p.nonhuman = v
            elif isinstance(current, float) and isinstance(v, int | float) and not isinstance(v, bool):
                setattr(p, k, float(v))
            elif isinstance(current, dict):  # counts by key
                if isinstance(v, dict):
                    setattr(p, k, {str(key): n for key, n in v.items() if _count(n)})
            elif isinstance(current, list):  # counts by hour, or names
                want = _count if k in ("hours", "week_hours") else (lambda x: isinstance(x, str))
                if isinstance(v, list) and all(want(x) for x in v):
                    setattr(p, k, v)
            elif isinstance(v, type(current)) and not isinstance(v, bool):
                setattr(p, k, v)
        if len(p.hours) != 24:
            p.hours = [0] * 24
        if len(p.week_hours) != 168:
            p.week_hours = [0] * 168
        return p


def _count(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool)


_FIELDS = frozenset(f.name for f in fields(Profile))
