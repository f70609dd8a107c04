"""GitHub audit-log entries (organisation and enterprise exports, JSON or JSON Lines, and
the streamed form) as Events. A call made with a token is attributed to the token: GitHub
logs `hashed_token`, the base64 SHA-256 of the token, so a token found by a scan can be
matched to its use without either side keeping the token itself."""

from __future__ import annotations

from typing import Any

from nhiguard.model.event import Event
from nhiguard.watch.fields import text
from nhiguard.watch.timeparse import epoch

_SERVER_TO_SERVER = ("GitHub App server-to-server token", "OAuth server-to-server token")


def event(rec: dict[str, Any], place: str) -> Event | None:
    action = text(rec, "action", required=True)
    if not action:
        return None
    actor = text(rec, "actor") or text(rec, "user")
    hashed = text(rec, "hashed_token")
    ip = text(rec, "actor_ip")
    access = str(rec.get("programmatic_access_type") or "")
    if actor.endswith("[bot]") or rec.get("actor_is_bot") is True or access in _SERVER_TO_SERVER:
        kind, nonhuman = "app", True
        ident = f"github:app:{actor or rec.get('integration') or 'unknown'}"
    elif hashed:
        kind, nonhuman = "token", None  # a person's token may run automation: the inventory decides
        ident = f"github:token:{hashed}"
    elif rec.get("actor") == "github-actions" or action.startswith("workflows."):
        kind, nonhuman = "actions", True
        ident = f"github:actions:{rec.get('repo') or rec.get('org') or ''}"
    else:
        kind, nonhuman = "user", False
        ident = f"github:user:{actor}"
    stamp = rec.get("@timestamp", rec.get("created_at", rec.get("at_sign_timestamp", rec.get("timestamp"))))
    when = epoch(stamp)
    repo = rec.get("repo") or rec.get("repository")
    if isinstance(repo, dict):
        repo = repo.get("full_name") or repo.get("name")
    org = str(rec.get("org") or rec.get("business") or "")
    params = {k: rec[k] for k in ("user", "permission", "old_permission", "token_id", "token_scopes", "visibility",
                                  "public_repo", "name", "config", "transport_protocol_name", "protocol_name",
                                  "integration", "operation_type", "programmatic_access_type", "request_method",
                                  "route", "url_path")
              if k in rec}
    status = rec.get("status_code")  # api.request events: a refused or failed call did not work
    failed = isinstance(status, int) and not isinstance(status, bool) and status >= 400
    return Event(when, "github", ident, kind, actor, f"github:{action}", action.split(".", 1)[0],
                 str(repo or org), ip, str(rec.get("user_agent") or ""), not failed, str(status) if failed else "",
                 org, "", 1, place, nonhuman, params)
