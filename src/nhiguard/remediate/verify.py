"""Live verification (`scan --verify`): is a found secret still accepted by its provider?

Each verifier (remediate/verifiers/) makes one read-only call that only authenticates (an
identity or "who am I" endpoint) and says `live` (accepted; with the identity the provider
reveals: account, user, scopes), `revoked` (refused as invalid), `unknown` (the answer says
neither, or verification needs more than was found), or `error` (unreachable, timed out).
Nothing is ever changed at a provider.

Calls are spread over a few threads, at most `rate` per second per provider, and results are
cached in the store by finding for `ttl` seconds, except `error`s (no answer, a server error,
a redirect), which the next run asks again. Redirects are never followed: the request
carries the credential. Every verifier's endpoint can be replaced
(`--verify-endpoint PROVIDER=URL`), which is how the tests point them at local servers.
Secrets cross this module in memory only; nothing here logs or stores one.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.client import HTTPException
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


class NotAnswered(Exception):
    """A call that got no usable answer: a redirect (never followed) or a server error
    (5xx). The verification is an `error`, which is not cached: the next run asks again."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a redirect with every header of the request, Authorization and
    # API-key headers included, to whatever host the Location names: never follow one
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001
        return None


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, for messages (a path or query may carry anything)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


class Http:
    """The one way verifiers call out: a method, a URL, headers, a body; a timeout, nothing
    logged, and redirects never followed (the request carries the credential: following
    would send it wherever the answer points). A redirect or a 5xx raises NotAnswered."""

    def __init__(self, timeout: float = 10.0, user_agent: str = "nhiguard-verify") -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self._opener = urllib.request.build_opener(_NoRedirects)

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                body: bytes | None = None) -> Response:
        scheme = urllib.parse.urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"not an http(s) URL: {_origin(url)}")
        h = {"User-Agent": self.user_agent, **(headers or {})}
        req = urllib.request.Request(url, data=body, headers=h, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                out = Response(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read(1 << 20))
        except urllib.error.HTTPError as exc:
            with exc:
                out = Response(exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read(1 << 20))
        if 300 <= out.status < 400:
            where = out.headers.get("location")
            to = f" to {_origin(urllib.parse.urljoin(url, where))}" if where else ""
            raise NotAnswered(f"answered with a redirect (HTTP {out.status}){to}; not followed, so the "
                              "credential was not sent there: check the endpoint")
        if out.status >= 500:
            raise NotAnswered(f"answered HTTP {out.status} (a server error)")
        return out


def check_endpoints(entries: Iterable[str], verifiers: Iterable[Verifier]) -> dict[str, str]:
    """`PROVIDER=URL` entries (--verify-endpoint, `verify_endpoints`) as provider name ->
    endpoint, or ValueError naming what is wrong. Provider names match case-insensitively;
    an endpoint must be an http(s) URL with a host, except for a verifier that says
    otherwise with its own `check_endpoint` (postgres takes HOST[:PORT])."""
    by_name = {v.name.lower(): v for v in verifiers}
    out: dict[str, str] = {}
    for entry in entries:
        name, sep, url = entry.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not name or not url:
            raise ValueError(f"{entry!r} is not PROVIDER=URL")
        v = by_name.get(name.lower())
        if v is None:
            raise ValueError(f"{name!r} is not a verifier's provider; valid providers: "
                             f"{', '.join(sorted(by_name))}")
        check = getattr(v, "check_endpoint", None)
        out[v.name] = check(url) if check is not None else http_endpoint(url)
    return out


def http_endpoint(url: str) -> str:
    """An http(s) URL with a host, without a trailing slash, or ValueError."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{url!r} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{_origin(url)}: an endpoint must not hold a user name or password")
    if parts.query or parts.fragment:
        raise ValueError(f"{_origin(url)}: an endpoint is a base URL, without a query or fragment")
    return url.rstrip("/")


class Verifier(Protocol):
    name: str  # the provider's key for --verify-endpoint, e.g. "github"
    default_endpoint: str
    calls: str  # what it calls, for the docs and `--verify` help

    def handles(self, candidate: Candidate) -> bool: ...

    def verify(self, candidate: Candidate, endpoint: str, http: Http) -> Verification: ...

    # optional: `check_endpoint(value) -> str`, the endpoint a --verify-endpoint value names
    # (normalised), or ValueError; without it an endpoint is an http(s) URL (http_endpoint)


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
        except NotAnswered as exc:
            result = Verification("error", v.name, message=f"{v.name} {exc}")
        except (OSError, urllib.error.URLError, TimeoutError, ValueError, HTTPException) as exc:
            reason = getattr(exc, "reason", None) or type(exc).__name__
            result = Verification("error", v.name, message=f"cannot reach {v.name}: {reason}")
        return c.finding_id, Verification(result.status, result.provider, result.identity,
                                          result.message, now_iso())

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nhiguard-verify") as pool:
        for fid, result in pool.map(one, todo):
            out[fid] = result
    return out
