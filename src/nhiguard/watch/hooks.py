"""Where new alerts go besides the report: a webhook (the alert as JSON, POSTed) and a
command (the alert as JSON on its standard input). A hook that fails is reported once on
standard error and the watch goes on; alerts are still stored and reported."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from nhiguard.watch.engine import Alert

_GIVE_UP = 3


class Hooks:
    def __init__(self, webhook: str = "", command: str = "", timeout: float = 5.0) -> None:
        self.webhook = webhook
        self.command = shlex.split(command) if command else []
        self.timeout = timeout
        self.failures = 0
        self.sent = 0
        # a hook that keeps failing (a dead URL, a hanging command) is given up for the run
        # rather than costing its timeout on every alert
        self._failing = {"webhook": 0, "command": 0}

    @property
    def active(self) -> bool:
        return bool(self.webhook or self.command)

    def __call__(self, alert: Alert) -> None:
        from nhiguard.report.alerts import alert_dict

        body = json.dumps(alert_dict(alert), ensure_ascii=False).encode()
        if self.webhook and self._failing["webhook"] < _GIVE_UP:
            self._count("webhook", self._post(body))
        if self.command and self._failing["command"] < _GIVE_UP:
            self._count("command", self._run(body))

    def _count(self, hook: str, ok: bool) -> None:
        self._failing[hook] = 0 if ok else self._failing[hook] + 1
        if self._failing[hook] == _GIVE_UP:
            print(f"nhiguard: warning: the {hook} failed {_GIVE_UP} times in a row; not used for the rest of "
                  f"this run (alerts are still stored and reported)", file=sys.stderr)

    def _warn(self, what: str) -> None:
        self.failures += 1
        if self.failures <= 3:
            print(f"nhiguard: warning: {what}", file=sys.stderr)

    def _post(self, body: bytes) -> bool:
        req = urllib.request.Request(self.webhook, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "nhiguard-watch"})
        try:
            with _no_redirects().open(req, timeout=self.timeout) as resp:
                resp.read(1024)
            self.sent += 1
            return True
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self._warn(f"webhook failed: {getattr(exc, 'reason', None) or exc}")
            return False

    def _run(self, body: bytes) -> bool:
        try:
            done = subprocess.run(self.command, input=body, capture_output=True, timeout=self.timeout * 3,
                                  check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._warn(f"--exec command failed: {exc}")
            return False
        if done.returncode != 0:
            self._warn(f"--exec command exited {done.returncode}")
            return False
        self.sent += 1
        return True


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # alerts are not re-sent elsewhere
        return None


def _no_redirects() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirect)
