"""Every user-reported case in shared/cases/ whose input is files or a git repository.

Each case is one example of a class of fault; the unit tests of rules, filters and
decoders hold more examples of each class.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_helpers import nhiguard, secrets_at

FILE_CASES = [
    "base64-wrapped-service-account",
    "connection-strings",
    "generic-password-assignment",
    "hex-id-is-not-a-secret",
    "notebook-escaped-quotes",
    "pem-two-keys-one-file",
    "pem-variants",
    "prose-is-not-a-password",
]


def check_expectations(report: dict, expect: dict) -> None:
    found = secrets_at(report)
    for want in expect["must_find"]:
        assert any(p == want["path"] and want["contains"] in s for p, s in found), (
            f"not found at {want['path']}: ...{want['contains'][-12:]}"
        )
    for bad in expect["must_not_find"]:
        hits = [(p, s) for p, s in found if p == bad["path"] and bad["contains"] in s]
        assert not hits, f"must not be reported at {bad['path']}: {[h[1][:8] + '...' for h in hits]}"
    if "distinct_findings_at_least" in expect:
        paths = {e["path"] for e in expect["must_find"]}
        n = sum(1 for f in report["findings"] if any(l["path"] in paths for l in f["locations"]))
        assert n >= expect["distinct_findings_at_least"]


@pytest.mark.parametrize("case", FILE_CASES)
def test_file_case(shared, tmp_path, case, engine):
    src = shared / "cases" / case
    expect = json.loads((src / "expect.json").read_text())
    target = tmp_path / "input"
    shutil.copytree(src / "input", target, symlinks=True)
    run = nhiguard("scan", "input", "-f", "json", "--show-secrets", "--engine", engine,
                   "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code in (0, 1), run.stderr
    check_expectations(run.report, expect)


def test_zip_in_zip_in_git(shared, tmp_path, engine):
    case = tmp_path / "case"
    shutil.copytree(shared / "cases" / "zip-in-zip-in-git", case)
    repo = Path(subprocess.run(["bash", str(case / "build.sh")], capture_output=True, text=True,
                               check=True).stdout.strip())
    expect = json.loads((case / "expect.json").read_text())
    run = nhiguard("scan", repo, "-f", "json", "--show-secrets", "--engine", engine,
                   "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code == 1, run.stderr
    check_expectations(run.report, expect)
    git_locs = [l for f in run.report["findings"] for l in f["locations"] if l["source"] == "git"]
    assert git_locs and all(l.get("commit") for l in git_locs)
    # the same archive on disk gives the same finding
    disk = nhiguard("scan", case / "input", "-f", "json", "--show-secrets", "--engine", engine,
                    "--store", tmp_path / "s2.db", cwd=tmp_path)
    assert {f["fingerprint"] for f in disk.report["findings"]} == {
        f["fingerprint"] for f in run.report["findings"]
    }


def test_pathological_whitespace_is_linear(shared, tmp_path):
    """Correctness half of the case (the timing ratio is measured in bench/)."""
    src = shared / "cases" / "pathological-whitespace" / "input"
    run = nhiguard("scan", src, "-f", "json", "--store", tmp_path / "s.db", cwd=tmp_path)
    assert run.code in (0, 1), run.stderr
