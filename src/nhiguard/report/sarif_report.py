"""The `sarif` report: SARIF 2.1.0 (OASIS), one run, for code-scanning dashboards.

One result per finding (one secret under one rule), with every place the secret was seen
in `locations`: removing a leaked secret means removing it everywhere (and rotating it),
and the finding's fingerprint, in `partialFingerprints["nhiguard/v1"]`, identifies the
result across runs whatever lines move. Messages carry the redacted preview only.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, TextIO
from urllib.parse import quote

from nhiguard.model import Finding, Location, Rule, Severity
from nhiguard.report.common import (
    Sanitizer,
    error_dict,
    location_dict,
    ordered,
    severity_name,
)
from nhiguard.report.results import ScanResults

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "nhiguard"
INFORMATION_URI = "https://github.com/nhiguard/nhiguard"
FINGERPRINT_KEY = "nhiguard/v1"

LEVELS: dict[Severity, str] = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}

# GitHub code scanning reads `security-severity` (0.0-10.0) to rank security results:
# >= 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY: dict[Severity, str] = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}

_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_WINDOWS_ABS = re.compile(r"^[A-Za-z]:/")
_ABSOLUTE_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")
# RFC 3986 pchar sub-delims plus "/" and "@"; ":" is left out so that a relative path's
# first segment can never read as a URI scheme ("c:foo", "a:b/c").
_PATH_SAFE = "/!$&'()*+,;=@"


def path_to_uri(path: str) -> str:
    """A displayed path as a SARIF `artifactLocation.uri`: forward slashes, percent-encoded;
    relative paths stay relative (to the scanned root or the repository), absolute ones
    become `file:` URIs."""
    p = path.replace("\\", "/")
    if _WINDOWS_ABS.match(p):
        return "file:///" + p[:2] + _quote(p[2:])
    if p.startswith("/"):
        return "file://" + _quote(p)
    while p.startswith("./"):
        p = p[2:]
    return _quote(p)


def _quote(p: str) -> str:
    # A name read from disk with surrogateescape is percent-encoded as its real bytes.
    try:
        raw = p.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = p.encode("utf-8", "backslashreplace")
    return quote(raw, safe=_PATH_SAFE)


def _utc(ts: str) -> str | None:
    """An ISO 8601 timestamp as SARIF wants it (UTC, `Z`), or None if it does not parse."""
    if not ts:
        return None
    try:
        dt = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _descriptor(rule_id: str, rule: Rule | None, example: Finding | None) -> dict[str, Any]:
    if rule is not None:
        name, kind, provider, severity = rule.name, rule.kind, rule.provider, rule.severity
        references = list(rule.references)
    else:  # a finding whose rule is not loaded any more: describe it from the finding
        assert example is not None
        name, kind, provider = example.rule_name, example.kind, example.provider
        severity, references = example.severity, []
    sev = severity_name(severity)
    d: dict[str, Any] = {
        "id": rule_id,
        "name": name,
        "shortDescription": {"text": name},
        "fullDescription": {
            "text": f"{name} (provider {provider}, kind {kind}): a credential of a "
            "non-human identity found in the scanned content."
        },
    }
    help_lines = [
        f"{name} (provider {provider}, kind {kind}) lets whoever reads it act as a "
        "non-human identity. Rotate or revoke the credential, then remove it from the code "
        "and its history."
    ]
    if references:
        help_lines.append("References: " + ", ".join(references))
    d["help"] = {"text": "\n".join(help_lines)}
    if references and _ABSOLUTE_URI.match(references[0]):
        d["helpUri"] = references[0]
    d["defaultConfiguration"] = {"level": LEVELS[Severity(severity)]}
    d["properties"] = {
        "tags": ["security", "secret", f"kind:{kind}", f"provider:{provider}", f"severity:{sev}"],
        "kind": kind,
        "provider": provider,
        "severity": sev,
        "security-severity": SECURITY_SEVERITY[Severity(severity)],
        "precision": "high",
    }
    return d


def _location(loc: Location) -> dict[str, Any]:
    fields = location_dict(loc)
    path = fields.pop("path")
    del fields["line"], fields["column"]
    out: dict[str, Any] = {}
    if path is not None:
        out["physicalLocation"] = {
            "artifactLocation": {"uri": path_to_uri(path)},
            "region": {"startLine": max(1, loc.line), "startColumn": max(1, loc.column)},
        }
    else:
        out["message"] = {"text": f"blob {loc.blob_id} (no path: not reachable from a commit)"}
    # Everything else the source knows (git: commit, repo, author, date, ...) is kept.
    out["properties"] = fields
    return out


def _notification(e_kind: str, error: dict[str, Any]) -> dict[str, Any]:
    n: dict[str, Any] = {
        "level": "error" if e_kind == "error" else "note",
        "message": {"text": f"{error['path']}: {error['message']}"},
        "properties": error,
    }
    if error["path"]:
        n["locations"] = [
            {"physicalLocation": {"artifactLocation": {"uri": path_to_uri(error["path"])}}}
        ]
    return n


def sarif_dict(results: ScanResults) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict, already sanitised."""
    findings = ordered(results.findings)
    rule_ids = set(results.rules) | {f.rule_id for f in findings}
    example: dict[str, Finding] = {}
    for f in findings:
        example.setdefault(f.rule_id, f)
    order = sorted(rule_ids)
    index = {rid: i for i, rid in enumerate(order)}
    descriptors = [_descriptor(rid, results.rules.get(rid), example.get(rid)) for rid in order]

    sarif_results = []
    for f in findings:
        props: dict[str, Any] = {
            "finding_id": f.id,
            "kind": f.kind,
            "provider": f.provider,
            "severity": severity_name(f.severity),
            "confidence": f.confidence,
            "status": f.status,
            "preview": f.preview,
            "paired_with": list(f.paired_with),
            "first_seen": f.first_seen,
        }
        if results.show_secrets:
            props["secret"] = f.secret
        if f.verification is not None:
            props["verification"] = dict(f.verification)
        more = len(f.locations) - 1
        text = f"{f.rule_name}: {f.preview}"
        if f.verification is not None:
            text += f" [{f.verification.get('status')}]"
        if more > 0:
            text += f" (and {more} more location{'s' if more > 1 else ''})"
        sarif_results.append(
            {
                "ruleId": f.rule_id,
                "ruleIndex": index[f.rule_id],
                "level": LEVELS[Severity(f.severity)],
                "message": {"text": text},
                "locations": [_location(loc) for loc in f.locations],
                "partialFingerprints": {FINGERPRINT_KEY: f.fingerprint},
                "properties": props,
            }
        )

    st = results.stats
    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "version": results.tool_version,
        "informationUri": INFORMATION_URI,
        "rules": descriptors,
    }
    if _SEMVER.match(results.tool_version):
        driver["semanticVersion"] = results.tool_version

    invocation: dict[str, Any] = {
        # The scan ran to its end; unreadable inputs are reported as notifications.
        "executionSuccessful": True,
        "toolExecutionNotifications": [_notification("error", error_dict(e)) for e in st.errors]
        + [_notification("skipped", error_dict(e)) for e in st.skipped],
    }
    start, end = _utc(st.started_at), _utc(st.finished_at)
    if start:
        invocation["startTimeUtc"] = start
    if end:
        invocation["endTimeUtc"] = end

    run = {
        "tool": {"driver": driver},
        "invocations": [invocation],
        "results": sarif_results,
        "properties": {
            "scan": {
                "targets": list(st.targets),
                "bytes_scanned": st.bytes_scanned,
                "blobs_scanned": st.blobs_scanned,
                "blobs_seen": st.blobs_seen,
                "blobs_reused": st.blobs_reused,
                "duration_s": float(st.duration_s),
                "engine": st.engine,
                "errors": len(st.errors),
                "skipped": len(st.skipped),
            }
        },
    }
    doc = {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}
    return Sanitizer(results).tree(doc)


class SarifReporter:
    name: ClassVar[str] = "sarif"
    human: ClassVar[bool] = False
    extension: ClassVar[str] = ".sarif"

    def write(self, results: ScanResults, stream: TextIO) -> None:
        json.dump(sarif_dict(results), stream, indent=2, ensure_ascii=True)
        stream.write("\n")
