"""Live verification (`scan --verify`): is a found secret still accepted by its provider?

Each verifier (remediate/verifiers/) makes one read-only call that only authenticates (an
identity or "who am I" endpoint) and says `live` (accepted; with the identity the provider
reveals: account, user, scopes), `revoked` (refused as invalid), `unknown` (the answer says
neither, or verification needs more than was found), or `error` (unreachable, timed out).
Nothing is ever changed at a provider.

Calls are spread over a few threads, at most `rate` per second per provider, and results are
cached in the store by finding for `ttl` seconds. Every verifier's endpoint can be replaced
(`--verify-endpoint PROVIDER=URL`), which is how the tests point them at local servers.
Secrets cross this module in memory only; nothing here logs or stores one.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

STATUSES = ("live", "revoked", "unknown", "error")


@dataclass(frozen=True)
class Verification:
    status: str
    provider: str
    identity: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    checked_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "provider": self.provider, "identity": self.identity,
                "message": self.message, "checked_at": self.checked_at}


@dataclass(frozen=True)
class Candidate:
    """A finding to verify, with its raw value (in memory only) and those of its pairs."""

    finding_id: str
    rule_id: str
    kind: str
    provider: str
    secret: str
    context: str | None = None  # the whole match, e.g. the URI around a database password
    paired: Mapping[str, str] = field(default_factory=dict)  # rule id -> raw value


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Http:
    """The one way verifiers call out: a method, a URL, headers, a body; no redirects to
    follow blindly, a timeout, and nothing logged."""

    def __init__(self, timeout: float = 10.0, user_agent: str = "nhiguard-verify") -> None:
        self.timeout = timeout
        self.user_agent = user_agent

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                body: bytes | None = None) -> Response:
        h = {"User-Agent": self.user_agent, **(headers or {})}
        req = urllib.request.Request(url, data=body, headers=h, method=method)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) endpoints only
                return Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read(1 << 20))
        except urllib.error.HTTPError as exc:
            with exc:
                return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(1 << 20))


class Verifier(Protocol):
    name: str  # the provider's key for --verify-endpoint, e.g. "github"
    default_endpoint: str
    calls: str  # what it calls, for the docs and `--verify` help

    def handles(self, candidate: Candidate) -> bool: ...

    def verify(self, candidate: Candidate, endpoint: str, http: Http) -> Verification: ...


class _Pace:
    """At most `rate` calls per second per provider, across threads."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next: dict[str, float] = {}
        self.lock = threading.Lock()

    def wait(self, provider: str) -> None:
        with self.lock:
            now = time.monotonic()
            at = max(now, self.next.get(provider, now))
            self.next[provider] = at + self.interval
        if at > now:
            time.sleep(at - now)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def verify_all(
    candidates: Iterable[Candidate],
    verifiers: list[Verifier],
    *,
    endpoints: Mapping[str, str] | None = None,
    cached: Callable[[str], Verification | None] | None = None,
    http: Http | None = None,
    rate: float = 5.0,
    workers: int = 8,
) -> dict[str, Verification]:
    """finding id -> verification, for every candidate some verifier handles."""
    http = http or Http()
    pace = _Pace(rate)
    endpoints = dict(endpoints or {})
    out: dict[str, Verification] = {}
    todo: list[tuple[Candidate, Verifier]] = []
    for c in candidates:
        hit = cached(c.finding_id) if cached is not None else None
        if hit is not None:
            out[c.finding_id] = hit
            continue
        verifier = next((v for v in verifiers if v.handles(c)), None)
        if verifier is not None:
            todo.append((c, verifier))

    def one(item: tuple[Candidate, Verifier]) -> tuple[str, Verification]:
        c, v = item
        pace.wait(v.name)
        endpoint = endpoints.get(v.name, v.default_endpoint).rstrip("/")
        try:
            result = v.verify(c, endpoint, http)
        except (OSError, urllib.error.URLError, TimeoutError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            result = Verification("error", v.name, message=f"cannot reach {v.name}: {reason}")
        return c.finding_id, Verification(result.status, result.provider, result.identity,
                                          result.message, now_iso())

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nhiguard-verify") as pool:
        for fid, result in pool.map(one, todo):
            out[fid] = result
    return out
