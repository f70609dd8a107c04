"""A local stand-in for the providers' verification endpoints, answering as each provider's
documentation says: for a known (live) credential, the identity; for any other, the
provider's refusal. One HTTP server on 127.0.0.1 serves every path; it counts the calls."""

from __future__ import annotations

import base64
import http.server
import json
import threading
from collections import Counter

IDENTITIES = {
    "github": {"login": "octo-bot"},
    "gitlab": {"username": "ci-bot", "id": 7},
    "slack": {"ok": True, "team": "Acme", "user": "deploybot", "team_id": "T1", "user_id": "U1"},
    "stripe": {"object": "balance", "livemode": True},
    "openai": {"object": "list", "data": []},
    "anthropic": {"data": []},
    "sendgrid": {"scopes": ["mail.send"]},
    "twilio": {"friendly_name": "Acme", "status": "active"},
    "npm": {"username": "acme-ci"},
    "dockerhub": {"token": "registry-token"},
    "datadog": {"valid": True},
    "huggingface": {"name": "acme", "type": "user"},
}


class Providers:
    def __init__(self) -> None:
        self.live: set[str] = set()  # credentials that authenticate (tokens, or "user:pass")
        self.calls: Counter[str] = Counter()
        # path -> (status, headers): answered instead of the provider's answer (a redirect,
        # a server error); every request's credential headers are kept in `credentials`
        self.override: dict[str, tuple[int, dict[str, str]]] = {}
        self.credentials: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, doc: dict, headers: dict | None = None) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _bearer(self) -> str:
                auth = self.headers.get("Authorization", "")
                return auth[7:] if auth.startswith("Bearer ") else ""

            def _basic(self) -> str:
                auth = self.headers.get("Authorization", "")
                return base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""

            def _overridden(self) -> bool:
                for h in ("Authorization", "PRIVATE-TOKEN", "x-api-key", "DD-API-KEY"):
                    if self.headers.get(h):
                        owner.credentials.append(self.headers[h])
                hit = owner.override.get(self.path.split("?", 1)[0])
                if hit is not None:
                    self._send(hit[0], {"message": "overridden"}, hit[1])
                return hit is not None

            def do_POST(self):  # noqa: N802
                if self._overridden():
                    owner.calls[self.path] += 1
                    return
                if self.path == "/api/auth.test":
                    owner.calls["slack"] += 1
                    ok = self._bearer() in owner.live
                    self._send(200, IDENTITIES["slack"] if ok else {"ok": False, "error": "invalid_auth"})
                    return
                self._send(404, {})

            def do_GET(self):  # noqa: N802
                p = self.path.split("?", 1)[0]
                if self._overridden():
                    owner.calls[p] += 1
                    return
                routes = {
                    "/user": ("github", self._bearer(), 401, {"X-OAuth-Scopes": "repo, workflow"}),
                    "/api/v4/user": ("gitlab", self.headers.get("PRIVATE-TOKEN", ""), 401, {}),
                    "/v1/balance": ("stripe", self._basic().rstrip(":"), 401, {}),
                    "/v1/models": ("openai" if self._bearer() else "anthropic",
                                   self._bearer() or self.headers.get("x-api-key", ""), 401,
                                   {"openai-organization": "org-acme"} if self._bearer() else {}),
                    "/v3/scopes": ("sendgrid", self._bearer(), 401, {}),
                    "/-/whoami": ("npm", self._bearer(), 401, {}),
                    "/token": ("dockerhub", self._basic(), 401, {}),
                    "/api/v1/validate": ("datadog", self.headers.get("DD-API-KEY", ""), 403, {}),
                    "/api/whoami-v2": ("huggingface", self._bearer(), 401, {}),
                }
                if p.startswith("/2010-04-01/Accounts/"):
                    routes[p] = ("twilio", self._basic(), 401, {})
                if p not in routes:
                    self._send(404, {})
                    return
                name, cred, refused, headers = routes[p]
                owner.calls[name] += 1
                if cred and cred in owner.live:
                    self._send(200, IDENTITIES[name], headers)
                else:
                    self._send(refused, {"message": "Bad credentials"})

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def endpoints(self) -> list[str]:
        """--verify-endpoint arguments that send every HTTP verifier here."""
        out = []
        for name in IDENTITIES:
            out += ["--verify-endpoint", f"{name}={self.url}"]
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
