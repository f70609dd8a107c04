"""The demo estate that `make demo` scans yields every planted secret, where it was planted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.integration.cli_helpers import nhiguard

ROOT = Path(__file__).resolve().parents[2]


def test_demo_estate(tmp_path):
    estate = tmp_path / "estate"
    out = subprocess.run([sys.executable, str(ROOT / "demo" / "build_estate.py"), str(estate)],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(estate)
    run = nhiguard("scan", "payments-service", "ci-logs", "-f", "json", cwd=estate)
    assert run.code == 1, run.stderr
    where = {(f["rule_id"], l["source"], l["path"]) for f in run.report["findings"] for l in f["locations"]}
    assert ("nhiguard.aws.access-key-id", "git", "config/aws.ini") in where
    assert ("nhiguard.aws.secret-access-key", "git", "config/aws.ini") in where
    assert ("nhiguard.stripe.live-secret-key", "file", ".env") in where or any(
        r.startswith("nhiguard.stripe.") and p == ".env" for r, _, p in where)
    assert any(r.startswith("nhiguard.uri.postgres") and p == ".env" for r, _, p in where)
    assert any(r.startswith("nhiguard.slack.") and p == "k8s/secret.yaml" for r, _, p in where)
    assert any(r.startswith("nhiguard.github.") and p == "build-1842.log" for r, _, p in where), (
        sorted(where), run.report["scan"]["errors"], run.report["scan"]["skipped"])
    # the store is the embedded SQLite default under the current directory
    assert (estate / ".nhiguard" / "nhiguard.db").is_file()
    # the deleted key is no longer in the work tree, only in history
    assert not (estate / "payments-service" / "config" / "aws.ini").exists()
