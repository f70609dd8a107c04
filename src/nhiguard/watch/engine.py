"""The watch loop: each event is placed (country, network, client class), attributed to
an identity, judged by every detector against the identity's profile as it was, and then
learned into the profile. Signals become alerts, deduplicated (the same detector, identity
and subject is one alert that counts repeats) and rate-limited per identity (beyond
`alerts_per_hour` new alerts an hour, the rest below high severity are counted on the last
one; high and critical alerts are never held back)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from nhiguard.model.event import Event
from nhiguard.model.severity import Severity
from nhiguard.watch import useragent as UA
from nhiguard.watch.detector import Context, Detector, Recent, Signal, Who
from nhiguard.watch.detectors import all_detectors
from nhiguard.watch.detectors.volume import READS, SECRET_READS, secret_names, units
from nhiguard.watch.geo import Geo
from nhiguard.watch.profile import Profile
from nhiguard.watch.resolve import Resolver

_LOCATION_DETECTORS = frozenset({"watch.new-country", "watch.new-network", "watch.impossible-travel",
                                 "watch.concurrent-networks", "watch.server-credential-on-desktop",
                                 "watch.new-service"})


@dataclass
class Alert:
    id: str
    detector: Detector
    identity: str
    who: Who
    severity: Severity
    first_seen: float
    last_seen: float
    summary: str
    baseline: str
    evidence: dict[str, Any]
    count: int = 1
    events: list[str] = field(default_factory=list)  # where the first events are in the logs
    suppressed: int = 0  # alerts not raised for this identity in the same hour (rate limit)
    status: str = "open"
    new: bool = True  # raised in this run (not known to the store before)

    @property
    def human(self) -> str:
        return {True: "non-human", False: "human"}.get(self.who.nonhuman, "unknown")  # type: ignore[arg-type]


def alert_id(detector: str, identity: str, subject: str) -> str:
    return hashlib.sha256(f"{detector}\0{identity}\0{subject}".encode()).hexdigest()[:16]


@dataclass
class WatchStats:
    events: int = 0
    malformed: int = 0
    unrecognised: int = 0
    skipped: int = 0
    identities: int = 0
    files: int = 0
    files_unchanged: int = 0  # read by an earlier run and not changed since
    alerts: int = 0
    first_event: float | None = None
    last_event: float | None = None
    by_source: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)


class Watcher:
    def __init__(self, settings: Any, profiles: dict[str, Profile] | None = None, resolver: Resolver | None = None,
                 geo: Geo | None = None, detectors: list[ModuleType] | None = None,
                 known_alerts: dict[str, str] | None = None, on_alert: Callable[[Alert], None] | None = None,
                 scrub: Callable[[str], str] | None = None) -> None:
        self.s = settings
        self.profiles = profiles if profiles is not None else {}
        self.resolver = resolver or Resolver()
        self.geo = geo or Geo(settings.geoip)
        self.modules = detectors or all_detectors()
        self._by_action: dict[str, tuple[Callable[[Context], list[Signal]], ...]] = {}
        self.known = known_alerts or {}  # alert id -> status, from the store
        self.alerts: dict[str, Alert] = {}
        self.recent: dict[str, Recent] = defaultdict(Recent)
        self.on_alert = on_alert
        # log fields are free text: a token used as a trail or user name would otherwise reach
        # the alert's summary, the store and the hooks in full
        self.scrub = scrub or (lambda text: text)
        self._hourly: dict[str, tuple[int, int, str]] = {}  # identity -> (hour, new alerts, last alert id)
        self._held: dict[str, set[tuple[int, str]]] = {}  # identity -> (hour, alert id) held back
        self.learning_seconds = settings.learning_days * 86400.0
        self.stats = WatchStats()

    def feed(self, e: Event) -> None:
        st = self.stats
        st.events += 1
        st.by_source[e.source] += 1
        if st.first_event is None or e.time < st.first_event:
            st.first_event = e.time
        if st.last_event is None or e.time > st.last_event:
            st.last_event = e.time
        p = self.profiles.get(e.identity)
        if p is None:
            p = self.profiles[e.identity] = Profile(e.identity, e.time, e.time, principal=self.scrub(e.principal[:300]),
                                                     identity_type=e.identity_type, nonhuman=e.nonhuman,
                                                     source=e.source)
        p.roll_hour(e.time)
        p.hour_events += 1
        if e.action in READS and e.success:
            p.hour_reads += units(e.action, e.count)
            if e.action in SECRET_READS:
                for name in secret_names(e):
                    p.read_secret(name)
        place = self.geo.place(e.source_ip)
        agent = UA.classify(e.user_agent)
        recent = self.recent[e.identity]
        ctx = Context(e, p, place, agent, p.established(self.s.min_events, self.learning_seconds),
                      self.resolver.who(e), recent, self.s)
        checks = self._by_action.get(e.action)
        if checks is None:
            checks = self._checks_for(e.action)
        signals: list[Signal] = []
        for check in checks:
            found = check(ctx)
            if found:
                signals += found
        self._learn(p, e, place, agent, recent, any(s.detector.id in _LOCATION_DETECTORS for s in signals))
        if any(s.detector.id == "watch.volume-spike" for s in signals):
            p.hour_alerted = True  # an hour that alerted does not raise the bar for the next spike
        for sig in signals:
            self._raise(sig, e, ctx.who)

    def _checks_for(self, action: str) -> tuple[Callable[[Context], list[Signal]], ...]:
        """The detectors that can fire on this action (those that name the actions they
        judge), and every detector that judges any action."""
        found = tuple(m.check for m in self.modules if not hasattr(m, "relevant") or m.relevant(action))
        if len(self._by_action) < 50_000:
            self._by_action[action] = found
        return found

    def _learn(self, p: Profile, e: Event, place: Any, agent: str, recent: Recent, novel: bool) -> None:
        p.events += 1
        if e.time < p.first_seen:
            p.first_seen = e.time
        if e.time > p.last_seen:
            p.last_seen = e.time
        p.count("actions", e.action)
        hour = int(e.time // 3600)
        p.hours[hour % 24] += 1
        p.week_hours[(hour + 72) % 168] += 1
        if recent.discovery and recent.discovery[-1][0] == e.time:  # this event was a discovery call
            if e.time - recent.burst_start > self.s.discovery_window:
                # a window closed: its peak becomes part of the baseline (unless it was alerted on)
                if recent.burst_start >= recent.alerted_burst_until:
                    p.max_discovery = max(p.max_discovery, recent.burst_peak)
                recent.burst_start, recent.burst_peak = e.time, 0
            recent.burst_peak = max(recent.burst_peak, len({a for _, a, _ in recent.discovery}))
        if place.country:
            p.last_country, p.last_country_time, p.last_network = place.country, e.time, place.network
        if novel and p.events > self.s.min_events:
            return  # what raised an alert is not learned as normal; it alerts (and counts) again
        p.count("services", e.service)
        p.count("classes", agent)
        p.count("agents", UA.family(e.user_agent))
        if place.country:
            p.count("countries", place.country)
        if place.network and not place.private and not place.service:
            p.count("networks", place.network)
            if place.cidr:
                p.count("cidrs", place.cidr)
            if len(recent.networks) > 1 and len(p.co_networks) < 200:
                for other in recent.networks:
                    pair = "|".join(sorted((other, place.network)))
                    if other != place.network and pair not in p.co_networks:
                        p.co_networks.append(pair)

    def _raise(self, sig: Signal, e: Event, who: Who) -> None:
        aid = alert_id(sig.detector.id, e.identity, sig.subject)
        severity = sig.severity if sig.severity is not None else sig.detector.severity
        a = self.alerts.get(aid)
        if a is not None:
            a.count += 1
            a.last_seen = max(a.last_seen, e.time)
            a.first_seen = min(a.first_seen, e.time)
            if len(a.events) < 5:
                a.events.append(e.raw)
            if severity > a.severity:
                a.severity = severity
                if a.status == "open" and self.on_alert is not None:
                    self.on_alert(a)  # an escalation is news to whoever is paged
            return
        hour = int(e.time // 3600)
        h, n, last = self._hourly.get(e.identity, (hour, 0, ""))
        if h != hour:
            h, n = hour, 0
        # the budget holds back the lesser alerts only: a high or critical one always gets through
        if n >= self.s.alerts_per_hour and last in self.alerts and severity < Severity.HIGH:
            held = self._held.setdefault(e.identity, set())
            if (h, aid) not in held:  # each held-back alert counts once, not each of its repeats
                if len(held) > 10_000:
                    held.clear()
                held.add((h, aid))
                self.alerts[last].suppressed += 1
            return
        status = self.known.get(aid)
        clean = self.scrub
        who = replace(who, name=clean(who.name)) if who.name else who
        evidence = {k: clean(v) if isinstance(v, str) else [clean(x) if isinstance(x, str) else x for x in v]
                    if isinstance(v, list) else v for k, v in sig.evidence.items()}
        a = Alert(aid, sig.detector, e.identity, who, severity, e.time, e.time, clean(sig.summary),
                  clean(sig.baseline), evidence, events=[e.raw], status=status or "open", new=status is None)
        self.alerts[aid] = a
        self._hourly[e.identity] = (h, n + 1, aid)
        self.stats.alerts += 1
        if a.new and self.on_alert is not None:
            self.on_alert(a)
