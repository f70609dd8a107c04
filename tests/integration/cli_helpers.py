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
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(f"no JSON report (exit {self.code}); stderr:\n{self.stderr[-4000:]}") from None


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


def spawn(args, cwd: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    """The CLI started in the background (stdout and stderr piped)."""
    full_env = dict(env or os.environ, NHIGUARD_PROGRESS="off")
    return subprocess.Popen([sys.executable, "-m", "nhiguard.cli.main", *map(str, args)], cwd=cwd,
                            env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def big_tree(d: Path, files: int = 4000) -> Path:
    """A folder of ordinary code that takes a parallel scan a few seconds."""
    d.mkdir()
    line = ("x = compute(value, other) # ordinary code line with some words in it\n" * 300).encode()
    for i in range(files):
        (d / f"f{i}.py").write_bytes(line)
    return d
