"""Verifiers that make one authenticated, read-only HTTPS call to a provider's API: its
"who am I" or "validate" endpoint, documented by each provider. The answer's status code
(and, for Slack, its `ok` and `error`) says live or revoked; what the provider says about
the identity (login, account, scopes) is kept, never the secret."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nhiguard.remediate.verify import Candidate, Http, Response, Verification


def _json(resp: Response) -> Any:
    try:
        return json.loads(resp.body)
    except ValueError:
        return None


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class HttpVerifier:
    name: str
    default_endpoint: str
    calls: str  # what it calls, for the docs
    kinds: frozenset[str]
    # (candidate, endpoint) -> (method, url, headers, body) or None when it cannot be verified
    request: Callable[[Candidate, str], tuple[str, str, dict[str, str], bytes | None] | None]
    # what the answer means beyond 200 = live, 401 = revoked
    interpret: Callable[[Response], tuple[str, dict[str, Any], str]] | None = None
    identity: Callable[[Response], dict[str, Any]] = field(default=lambda r: {})
    live_codes: frozenset[int] = frozenset({200})
    revoked_codes: frozenset[int] = frozenset({401})
    missing: str = ""  # why a candidate that `request` refuses cannot be verified

    def handles(self, c: Candidate) -> bool:
        return c.kind in self.kinds

    def verify(self, c: Candidate, endpoint: str, http: Http) -> Verification:
        req = self.request(c, endpoint)
        if req is None:
            return Verification("unknown", self.name, message=self.missing or "not verifiable alone")
        method, url, headers, body = req
        resp = http.request(method, url, headers, body)
        if self.interpret is not None:
            status, ident, msg = self.interpret(resp)
            return Verification(status, self.name, ident, msg)
        if resp.status in self.live_codes:
            return Verification("live", self.name, self.identity(resp))
        if resp.status in self.revoked_codes:
            return Verification("revoked", self.name, message=f"{self.name} refused it (HTTP {resp.status})")
        return Verification("unknown", self.name, message=f"{self.name} answered HTTP {resp.status}")


def _github_request(c: Candidate, ep: str):
    path = "/installation/repositories?per_page=1" if c.secret.startswith("ghs_") else "/user"
    return "GET", ep + path, {"Authorization": f"Bearer {c.secret}", "Accept": "application/vnd.github+json",
                              "X-GitHub-Api-Version": "2022-11-28"}, None


def _github_identity(r: Response) -> dict[str, Any]:
    doc = _json(r) or {}
    out = {"login": doc.get("login")} if isinstance(doc, dict) and doc.get("login") else {}
    if r.headers.get("x-oauth-scopes") is not None:
        out["scopes"] = [s.strip() for s in r.headers["x-oauth-scopes"].split(",") if s.strip()]
    return out


def _slack(resp: Response) -> tuple[str, dict[str, Any], str]:
    doc = _json(resp) or {}
    if resp.status == 200 and doc.get("ok") is True:
        return "live", {k: doc[k] for k in ("team", "team_id", "user", "user_id", "url") if k in doc}, ""
    err = str(doc.get("error") or f"HTTP {resp.status}")
    if err in ("invalid_auth", "token_revoked", "account_inactive", "not_authed", "token_expired"):
        return "revoked", {}, f"slack: {err}"
    return "unknown", {}, f"slack: {err}"


def _twilio_request(c: Candidate, ep: str):
    sid = c.paired.get("nhiguard.twilio.account-sid")
    if c.rule_id != "nhiguard.twilio.auth-token" or not sid:
        return None
    return "GET", f"{ep}/2010-04-01/Accounts/{sid}.json", {"Authorization": _basic(sid, c.secret)}, None


def _docker_request(c: Candidate, ep: str):
    user, password = None, c.secret
    if c.kind == "container_registry_credential":
        try:
            user, _, password = base64.b64decode(c.secret + "=" * (-len(c.secret) % 4)).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
    if not user:
        return None
    url = f"{ep}/token?service=registry.docker.io&scope=repository:library/hello-world:pull"
    return "GET", url, {"Authorization": _basic(user, password)}, None


def _field(name: str) -> Callable[[Response], dict[str, Any]]:
    def pick(r: Response) -> dict[str, Any]:
        doc = _json(r)
        return {name: doc[name]} if isinstance(doc, dict) and name in doc else {}
    return pick


VERIFIERS = [
    HttpVerifier("github", "https://api.github.com", "GET /user (installation tokens: GET /installation/repositories)",
                 frozenset({"github_pat", "github_oauth_token", "github_app_user_token", "github_app_installation_token"}),
                 _github_request, identity=_github_identity),
    HttpVerifier("gitlab", "https://gitlab.com", "GET /api/v4/user",
                 frozenset({"gitlab_pat"}),
                 lambda c, ep: ("GET", ep + "/api/v4/user", {"PRIVATE-TOKEN": c.secret}, None),
                 identity=lambda r: {k: (_json(r) or {}).get(k) for k in ("username", "id") if (_json(r) or {}).get(k)}),
    HttpVerifier("slack", "https://slack.com", "POST /api/auth.test (webhooks are not called: that would post)",
                 frozenset({"slack_bot_token", "slack_user_token", "slack_workspace_token", "slack_legacy_token"}),
                 lambda c, ep: ("POST", ep + "/api/auth.test", {"Authorization": f"Bearer {c.secret}",
                                                               "Content-Type": "application/x-www-form-urlencoded"}, b""),
                 interpret=_slack),
    HttpVerifier("stripe", "https://api.stripe.com", "GET /v1/balance (a restricted key may answer 403: live)",
                 frozenset({"stripe_secret_key", "stripe_restricted_key", "stripe_test_key"}),
                 lambda c, ep: ("GET", ep + "/v1/balance", {"Authorization": _basic(c.secret, "")}, None),
                 identity=lambda r: {"livemode": (_json(r) or {}).get("livemode")} if isinstance(_json(r), dict) else {},
                 live_codes=frozenset({200, 403})),
    HttpVerifier("openai", "https://api.openai.com", "GET /v1/models (429: live, out of quota)",
                 frozenset({"openai_api_key", "openai_service_account_key"}),
                 lambda c, ep: ("GET", ep + "/v1/models", {"Authorization": f"Bearer {c.secret}"}, None),
                 identity=lambda r: {"organization": r.headers["openai-organization"]} if r.headers.get("openai-organization") else {},
                 live_codes=frozenset({200, 429})),
    HttpVerifier("anthropic", "https://api.anthropic.com", "GET /v1/models",
                 frozenset({"anthropic_api_key"}),
                 lambda c, ep: ("GET", ep + "/v1/models", {"x-api-key": c.secret, "anthropic-version": "2023-06-01"}, None),
                 live_codes=frozenset({200, 429})),
    HttpVerifier("sendgrid", "https://api.sendgrid.com", "GET /v3/scopes (403: live, without that scope)",
                 frozenset({"sendgrid_api_key"}),
                 lambda c, ep: ("GET", ep + "/v3/scopes", {"Authorization": f"Bearer {c.secret}"}, None),
                 identity=_field("scopes"), live_codes=frozenset({200, 403})),
    HttpVerifier("twilio", "https://api.twilio.com", "GET /2010-04-01/Accounts/{SID}.json with the paired account SID",
                 frozenset({"twilio_account"}), _twilio_request,
                 identity=lambda r: {k: (_json(r) or {}).get(k) for k in ("friendly_name", "status") if (_json(r) or {}).get(k)},
                 missing="an auth token is verified with its account SID, found beside it"),
    HttpVerifier("npm", "https://registry.npmjs.org", "GET /-/whoami",
                 frozenset({"npm_token"}),
                 lambda c, ep: ("GET", ep + "/-/whoami", {"Authorization": f"Bearer {c.secret}"}, None),
                 identity=_field("username")),
    HttpVerifier("dockerhub", "https://auth.docker.io", "GET /token (registry login, pull scope of a public image)",
                 frozenset({"dockerhub_pat", "container_registry_credential"}), _docker_request,
                 missing="Docker Hub needs the user name, which a bare access token does not carry"),
    HttpVerifier("datadog", "https://api.datadoghq.com", "GET /api/v1/validate",
                 frozenset({"datadog_api_key"}),
                 lambda c, ep: ("GET", ep + "/api/v1/validate", {"DD-API-KEY": c.secret}, None),
                 revoked_codes=frozenset({401, 403})),
    HttpVerifier("huggingface", "https://huggingface.co", "GET /api/whoami-v2",
                 frozenset({"huggingface_token"}),
                 lambda c, ep: ("GET", ep + "/api/whoami-v2", {"Authorization": f"Bearer {c.secret}"}, None),
                 identity=lambda r: {k: (_json(r) or {}).get(k) for k in ("name", "type") if (_json(r) or {}).get(k)}),
]
