"""Run the real CLI in a subprocess and parse its JSON report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        return json.loads(self.stdout)


def nhiguard(*args: str | Path, cwd: Path, stdin: bytes | None = None, env: dict | None = None) -> Run:
    full_env = dict(os.environ, **(env or {}))
    full_env.setdefault("NHIGUARD_PROGRESS", "off")
    p = subprocess.run(
        [sys.executable, "-m", "nhiguard.cli.main", *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env=full_env,
        timeout=300,
    )
    return Run(p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def secrets_at(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, secret) for every location of every finding (needs --show-secrets)."""
    return [(loc.get("path") or "", f.get("secret") or "") for f in report["findings"] for loc in f["locations"]]
