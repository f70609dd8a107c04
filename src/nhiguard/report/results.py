"""`ScanResults`: everything a reporter may show about one scan, and nothing else."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nhiguard.model import Finding, Rule, ScanStats


@dataclass(frozen=True)
class ScanResults:
    """The input of every reporter.

    `rules` maps rule id to rule for the rules of the scan (a finding whose rule is missing
    from it is still reported, from the finding's own fields). `show_secrets` is the user's
    opt-in to raw secret values; without it no reporter writes `Finding.secret`, and any raw
    secret a finding carries is scrubbed from every other string of the report too.
    """

    tool_version: str
    stats: ScanStats
    findings: list[Finding]
    rules: Mapping[str, Rule] = field(default_factory=dict)
    show_secrets: bool = False
