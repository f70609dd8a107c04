"""Reporters: every format written for small hand-built results and parsed back.

JSON validates against the published schema, SARIF against the official OASIS schema
(tests/data/sarif/), CSV neutralises formulas, the table is plain text off a terminal,
and no format writes a raw secret unless asked to.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import textwrap
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from nhiguard.model import (
    FileProvenance,
    Finding,
    GitProvenance,
    Location,
    Rule,
    ScanError,
    ScanStats,
    Severity,
    StdinProvenance,
)
from nhiguard.report import (
    REPORTERS,
    Reporter,
    ReporterPluginError,
    ScanResults,
    UnknownReporterError,
    get_reporter,
    report_schema,
    reporter_names,
)
from nhiguard.report.csv_report import COLUMNS, neutralise
from nhiguard.report.sarif_report import LEVELS, path_to_uri

DATA = Path(__file__).resolve().parents[1] / "data"
SARIF_SCHEMA = json.loads((DATA / "sarif" / "sarif-schema-2.1.0.json").read_text("utf-8"))

FORMATS = ["table", "json", "jsonl", "sarif", "csv"]

# Invented secrets (never real credentials).
KEY_ID = "AKIAQZTESTONLY7XK2PL"
SECRET_KEY = "zq9Xv2TESTONLYnotrealL0b6+Yc8WmN3pR5tU7wH"
TOKEN = "ghp_TESTONLY0123456789abcdefghijKLMNOPQR"
ALL_SECRETS = [KEY_ID, SECRET_KEY, TOKEN]

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BLOB1 = "1" * 40
BLOB2 = "2" * 40
BLOB3 = "3" * 40
FORMULA_PATH = '=HYPERLINK("http://evil.example/x","open")/cfg.env'


def _loc(prov, line: int, column: int, blob: str) -> Location:
    return Location(fields=prov.as_location(), line=line, column=column, blob_id=blob)


def _rules() -> dict[str, Rule]:
    common = {"pattern": "x", "provider": "aws"}
    return {
        "nhiguard.aws.access-key-id": Rule(
            id="nhiguard.aws.access-key-id",
            name="AWS access key ID",
            kind="aws_access_key",
            severity=Severity.HIGH,
            references=(
                "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",
            ),
            pairs_with=("nhiguard.aws.secret-access-key",),
            **common,
        ),
        "nhiguard.aws.secret-access-key": Rule(
            id="nhiguard.aws.secret-access-key",
            name="AWS secret access key",
            kind="aws_access_key",
            severity=Severity.CRITICAL,
            **common,
        ),
        # A loaded rule with no finding: still described in SARIF.
        "nhiguard.aws.session-token": Rule(
            id="nhiguard.aws.session-token",
            name="AWS session token",
            kind="aws_session",
            severity=Severity.LOW,
            **common,
        ),
    }


def make_results(show_secrets: bool = False) -> ScanResults:
    """Three findings: a paired AWS key (file + git, stdin + unreachable git blob) and a
    token at a formula-looking path whose rule is not loaded; one error, one skip."""
    git = GitProvenance(
        repo="repos/app",
        path="src/settings.py",
        commit=COMMIT,
        author="@attacker",
        author_email="dev@example.com",
        date="2024-05-01T12:00:00Z",
        summary=f"add key {KEY_ID} for now",  # a secret in a commit message
    )
    unreachable = GitProvenance(repo="repos/app", path=None, commit=None, reachable=False)
    key_id = Finding(
        id="f-keyid",
        rule_id="nhiguard.aws.access-key-id",
        rule_name="AWS access key ID",
        kind="aws_access_key",
        provider="aws",
        severity=Severity.HIGH,
        fingerprint="a" * 32,
        preview="AKIA********PL",
        locations=[
            _loc(FileProvenance("config\\prod env.ini"), 3, 11, BLOB1),
            _loc(git, 12, 5, BLOB2),
        ],
        secret=KEY_ID,
        paired_with=["f-secret"],
        first_seen="2024-05-02T08:00:00Z",
    )
    secret_key = Finding(
        id="f-secret",
        rule_id="nhiguard.aws.secret-access-key",
        rule_name="AWS secret access key",
        kind="aws_access_key",
        provider="aws",
        severity=Severity.CRITICAL,
        fingerprint="b" * 32,
        preview="zq9X********wH",
        locations=[_loc(StdinProvenance(), 1, 1, BLOB3), _loc(unreachable, 4, 2, BLOB3)],
        secret=SECRET_KEY,
        paired_with=["f-keyid"],
    )
    token = Finding(
        id="f-token",
        rule_id="nhiguard.github.pat",
        rule_name="GitHub personal access token",
        kind="github_pat",
        provider="github",
        severity=Severity.MEDIUM,
        fingerprint="c" * 32,
        preview="ghp_********QR",
        locations=[_loc(FileProvenance(FORMULA_PATH), 7, 1, BLOB1)],
        secret=TOKEN,
        status="open",
        confidence="medium",
    )
    stats = ScanStats(
        targets=["repos/app", "-"],
        bytes_scanned=123_456,
        blobs_scanned=42,
        blobs_seen=50,
        blobs_reused=8,
        errors=[ScanError("vendor/broken.zip", "cannot read: bad zip header")],
        skipped=[ScanError("assets/big.bin", "larger than 10 MiB", kind="skipped")],
        started_at="2024-05-02T08:00:00+00:00",
        finished_at="2024-05-02T08:00:01.5+00:00",
        duration_s=1.5,
        engine="hyperscan",
    )
    return ScanResults(
        tool_version="0.1.0",
        stats=stats,
        findings=[token, key_id, secret_key],  # deliberately not in severity order
        rules=_rules(),
        show_secrets=show_secrets,
    )


def empty_results() -> ScanResults:
    return ScanResults(tool_version="0.1.0", stats=ScanStats(), findings=[])


def render(fmt: str, results: ScanResults, stream: io.StringIO | None = None) -> str:
    out = stream if stream is not None else io.StringIO()
    get_reporter(fmt).write(results, out)
    return out.getvalue()


# --------------------------------------------------------------------------- registry


def test_registry_has_every_builtin_format():
    assert set(FORMATS) <= set(REPORTERS)
    assert reporter_names()[: len(REPORTERS)] == list(REPORTERS)
    for name in FORMATS:
        reporter = get_reporter(name)
        assert isinstance(reporter, Reporter)
        assert type(reporter).name == name


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UnknownReporterError, match="expected one of .*json"):
        get_reporter("xml")


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A real installed distribution (a dist-info folder on sys.path) that declares
    reporters in the `nhiguard.reporters` entry-point group."""
    dist = tmp_path / "nhiguard_fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: nhiguard-fake-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [nhiguard.reporters]
            fakefmt = nhiguard_fake_reporter:FakeReporter
            json = nhiguard_fake_reporter:FakeReporter
            brokenfmt = nhiguard_fake_missing_module:Nope
            """
        )
    )
    (tmp_path / "nhiguard_fake_reporter.py").write_text(
        textwrap.dedent(
            """\
            class FakeReporter:
                name = "fakefmt"
                human = False
                extension = ".fake"

                def write(self, results, stream):
                    stream.write(f"{len(results.findings)} findings\\n")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = dict(REPORTERS)
    yield
    REPORTERS.clear()
    REPORTERS.update(saved)
    sys.modules.pop("nhiguard_fake_reporter", None)


def test_plugin_reporters_load_lazily_through_entry_points(plugin_dist):
    names = reporter_names()
    assert "fakefmt" in names and "brokenfmt" in names
    assert names.count("json") == 1  # a built-in name is never taken by a plugin
    assert "nhiguard_fake_reporter" not in sys.modules  # listed, not imported

    assert render("fakefmt", make_results()) == "3 findings\n"
    assert "nhiguard_fake_reporter" in sys.modules
    assert render("json", make_results()).lstrip().startswith("{")  # still the built-in

    with pytest.raises(ReporterPluginError, match="brokenfmt"):
        get_reporter("brokenfmt")


# --------------------------------------------------------------------------- json


def _json_validator():
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.mark.parametrize("show_secrets", [False, True])
def test_json_report_validates_and_has_the_contract_fields(show_secrets):
    doc = json.loads(render("json", make_results(show_secrets)))
    _json_validator().validate(doc)

    assert doc["version"] == "0.1.0"
    scan = doc["scan"]
    assert scan["targets"] == ["repos/app", "-"]
    assert (scan["bytes_scanned"], scan["blobs_scanned"], scan["blobs_reused"]) == (123456, 42, 8)
    assert scan["duration_s"] == 1.5 and scan["engine"] == "hyperscan"
    assert scan["errors"] == [
        {"path": "vendor/broken.zip", "message": "cannot read: bad zip header", "kind": "error"}
    ]
    assert scan["skipped"] == [
        {"path": "assets/big.bin", "message": "larger than 10 MiB", "kind": "skipped"}
    ]
    assert doc["summary"] == {
        "findings": 3,
        "by_severity": {"critical": 1, "high": 1, "medium": 1, "low": 0, "info": 0},
    }

    findings = doc["findings"]
    assert [f["severity"] for f in findings] == ["critical", "high", "medium"]
    by_id = {f["id"]: f for f in findings}
    key = by_id["f-keyid"]
    expected_keys = {
        "id", "rule_id", "rule_name", "kind", "provider", "severity", "confidence", "status",
        "fingerprint", "preview", "paired_with", "first_seen", "locations",
    }  # fmt: skip
    assert expected_keys <= set(key)
    assert ("secret" in key) is show_secrets
    assert key["paired_with"] == ["f-secret"] and by_id["f-secret"]["paired_with"] == ["f-keyid"]
    assert key["first_seen"] == "2024-05-02T08:00:00Z"
    assert key["fingerprint"] == "a" * 32 and key["preview"] == "AKIA********PL"

    file_loc, git_loc = key["locations"]
    assert file_loc == {
        "source": "file",
        "path": "config\\prod env.ini",
        "line": 3,
        "column": 11,
        "blob_id": BLOB1,
    }
    assert git_loc["source"] == "git" and git_loc["commit"] == COMMIT
    assert git_loc["path"] == "src/settings.py" and (git_loc["line"], git_loc["column"]) == (12, 5)
    assert git_loc["author"] == "@attacker" and git_loc["date"] == "2024-05-01T12:00:00Z"
    assert git_loc["repo"] == "repos/app" and git_loc["reachable"] is True

    stdin_loc, blob_loc = by_id["f-secret"]["locations"]
    assert stdin_loc["source"] == "stdin" and stdin_loc["path"] == "-"
    # An unreachable blob: path and commit are present, as null.
    assert blob_loc["path"] is None and blob_loc["commit"] is None
    assert blob_loc["reachable"] is False


def test_json_schema_rejects_a_leaky_or_malformed_report():
    """The schema is strict enough to catch contract drift."""
    validator = _json_validator()
    doc = json.loads(render("json", make_results()))

    bad = json.loads(json.dumps(doc))
    bad["findings"][0]["severity"] = "HIGH"
    assert not validator.is_valid(bad)

    bad = json.loads(json.dumps(doc))
    del bad["scan"]["errors"]
    assert not validator.is_valid(bad)

    bad = json.loads(json.dumps(doc))
    bad["findings"][0]["raw"] = "x"  # an unknown finding field
    assert not validator.is_valid(bad)

    bad = json.loads(json.dumps(doc))
    git_loc = bad["findings"][1]["locations"][1]
    assert git_loc["source"] == "git"
    del git_loc["commit"]
    assert not validator.is_valid(bad)


def test_json_report_of_an_empty_scan_validates():
    doc = json.loads(render("json", empty_results()))
    _json_validator().validate(doc)
    assert doc["findings"] == [] and doc["scan"]["errors"] == []


# --------------------------------------------------------------------------- jsonl


@pytest.mark.parametrize("show_secrets", [False, True])
def test_jsonl_is_one_finding_object_per_line(show_secrets):
    results = make_results(show_secrets)
    text = render("jsonl", results)
    lines = text.splitlines()
    assert text.endswith("\n") and len(lines) == 3
    objs = [json.loads(line) for line in lines]
    # Exactly the objects of the json report's findings array, in the same order.
    assert objs == json.loads(render("json", results))["findings"]
    finding_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": report_schema()["$defs"],
        "$ref": "#/$defs/finding",
    }
    for obj in objs:
        jsonschema.Draft202012Validator(finding_schema).validate(obj)


def test_jsonl_of_an_empty_scan_is_empty():
    assert render("jsonl", empty_results()) == ""


# --------------------------------------------------------------------------- sarif


def _sarif_uris(log: dict) -> list[str]:
    uris = []
    run = log["runs"][0]
    for result in run["results"]:
        for loc in result["locations"]:
            if "physicalLocation" in loc:
                uris.append(loc["physicalLocation"]["artifactLocation"]["uri"])
    for n in run["invocations"][0]["toolExecutionNotifications"]:
        for loc in n.get("locations", []):
            uris.append(loc["physicalLocation"]["artifactLocation"]["uri"])
    return uris


def _assert_uri_reference(uri: str) -> None:
    """What the schema's `uri-reference` format asks (jsonschema checks it only with an
    optional extra installed, so check it here)."""
    assert uri and "\\" not in uri and not any(c.isspace() for c in uri), uri
    assert all(0x20 < ord(c) < 0x7F for c in uri), uri
    parts = urlsplit(uri)
    assert parts.scheme in ("", "file"), uri
    assert not parts.query and not parts.fragment, uri


def _validate_sarif(log: dict) -> None:
    jsonschema.Draft4Validator.check_schema(SARIF_SCHEMA)
    jsonschema.Draft4Validator(
        SARIF_SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER
    ).validate(log)
    for uri in _sarif_uris(log):
        _assert_uri_reference(uri)


@pytest.mark.parametrize("show_secrets", [False, True])
def test_sarif_validates_against_the_official_schema(show_secrets):
    log = json.loads(render("sarif", make_results(show_secrets)))
    _validate_sarif(log)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1


def test_sarif_content():
    log = json.loads(render("sarif", make_results()))
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "nhiguard" and driver["version"] == "0.1.0"
    assert urlsplit(driver["informationUri"]).scheme == "https"

    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    # Every loaded rule plus the rule of a finding that is no longer loaded.
    assert set(ids) == set(_rules()) | {"nhiguard.github.pat"}
    key_rule = rules[ids.index("nhiguard.aws.access-key-id")]
    assert key_rule["name"] == "AWS access key ID"
    assert key_rule["shortDescription"]["text"] == "AWS access key ID"
    assert key_rule["helpUri"] == _rules()["nhiguard.aws.access-key-id"].references[0]
    assert key_rule["defaultConfiguration"]["level"] == "error"
    props = key_rule["properties"]
    assert (props["kind"], props["provider"], props["severity"]) == (
        "aws_access_key",
        "aws",
        "high",
    )
    assert {"kind:aws_access_key", "provider:aws", "severity:high"} <= set(props["tags"])
    assert "helpUri" not in rules[ids.index("nhiguard.aws.secret-access-key")]
    assert rules[ids.index("nhiguard.aws.session-token")]["defaultConfiguration"]["level"] == "note"

    results = run["results"]
    assert [r["ruleId"] for r in results] == [
        "nhiguard.aws.secret-access-key",
        "nhiguard.aws.access-key-id",
        "nhiguard.github.pat",
    ]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
    crit, high, medium = results
    assert (crit["level"], high["level"], medium["level"]) == ("error", "error", "warning")
    assert high["partialFingerprints"] == {"nhiguard/v1": "a" * 32}
    assert high["message"]["text"].startswith("AWS access key ID: AKIA********PL")
    assert high["properties"]["paired_with"] == ["f-secret"]

    file_loc, git_loc = high["locations"]
    phys = file_loc["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "config/prod%20env.ini"
    assert phys["region"] == {"startLine": 3, "startColumn": 11}
    assert git_loc["physicalLocation"]["artifactLocation"]["uri"] == "src/settings.py"
    assert git_loc["physicalLocation"]["region"] == {"startLine": 12, "startColumn": 5}
    assert git_loc["properties"]["commit"] == COMMIT
    assert git_loc["properties"]["source"] == "git"

    stdin_loc, blob_loc = crit["locations"]
    assert stdin_loc["physicalLocation"]["artifactLocation"]["uri"] == "-"
    assert "physicalLocation" not in blob_loc  # an unreachable blob has no path
    assert blob_loc["properties"]["commit"] is None

    formula_uri = medium["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert formula_uri.endswith("/cfg.env") and '"' not in formula_uri

    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert [(n["level"], n["properties"]["path"]) for n in notes] == [
        ("error", "vendor/broken.zip"),
        ("note", "assets/big.bin"),
    ]
    assert run["invocations"][0]["startTimeUtc"] == "2024-05-02T08:00:00.000Z"


def test_sarif_levels_cover_every_severity():
    assert set(LEVELS) == set(Severity)
    assert set(LEVELS.values()) <= {"error", "warning", "note", "none"}


def test_sarif_of_an_empty_scan_validates():
    log = json.loads(render("sarif", empty_results()))
    _validate_sarif(log)
    assert log["runs"][0]["results"] == []


@pytest.mark.parametrize(
    ("path", "uri"),
    [
        ("src/app.py", "src/app.py"),
        ("./src/app.py", "src/app.py"),
        ("src\\win\\app.py", "src/win/app.py"),
        ("dir with space/a#b?.txt", "dir%20with%20space/a%23b%3F.txt"),
        ("c:notes.txt", "c%3Anotes.txt"),  # never read as a URI scheme
        ("/abs/path/x.env", "file:///abs/path/x.env"),
        ("C:\\Users\\dev\\.aws\\credentials", "file:///C:/Users/dev/.aws/credentials"),
        ("café/ключ.txt", "caf%C3%A9/%D0%BA%D0%BB%D1%8E%D1%87.txt"),
        ("archive.zip!inner/key.pem", "archive.zip!inner/key.pem"),
    ],
)
def test_sarif_uri_of_a_path(path, uri):
    assert path_to_uri(path) == uri
    _assert_uri_reference(uri)


# --------------------------------------------------------------------------- csv


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("show_secrets", [False, True])
def test_csv_has_one_row_per_finding_location(show_secrets):
    rows = _csv_rows(render("csv", make_results(show_secrets)))
    header, body = rows[0], rows[1:]
    assert header == list(COLUMNS) + (["secret"] if show_secrets else [])
    assert len(body) == 5  # 2 + 2 + 1 locations
    recs = [dict(zip(header, r, strict=True)) for r in body]
    assert [r["severity"] for r in recs] == ["critical", "critical", "high", "high", "medium"]
    git = next(r for r in recs if r["source"] == "git" and r["commit"])
    assert (git["path"], git["line"], git["column"]) == ("src/settings.py", "12", "5")
    assert git["commit"] == COMMIT and git["date"] == "2024-05-01T12:00:00Z"
    if show_secrets:
        assert {r["secret"] for r in recs} == set(ALL_SECRETS)


def test_csv_neutralises_formula_cells():
    rows = _csv_rows(render("csv", make_results()))
    header, body = rows[0], rows[1:]
    recs = [dict(zip(header, r, strict=True)) for r in body]
    token = next(r for r in recs if r["id"] == "f-token")
    assert token["path"] == "'" + FORMULA_PATH
    git = next(r for r in recs if r["source"] == "git" and r["commit"])
    assert git["author"] == "'@attacker"
    stdin = next(r for r in recs if r["source"] == "stdin")
    assert stdin["path"] == "'-"
    # No cell a spreadsheet would evaluate.
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (7, "7"),
        (None, ""),
    ],
)
def test_csv_neutralise(value, cell):
    assert neutralise(value) == cell


def test_csv_of_an_empty_scan_is_the_header():
    assert _csv_rows(render("csv", empty_results())) == [list(COLUMNS)]


# --------------------------------------------------------------------------- table


def test_table_is_plain_text_off_a_terminal():
    out = render("table", make_results())
    assert "\x1b" not in out
    assert "nhiguard 0.1.0 scanned 2 targets" in out
    assert "120.6 KiB" in out and "42 blobs" in out and "8 reused" in out
    assert "1.50 s" in out and "hyperscan" in out
    for name in ("AWS secret access key", "AWS access key ID", "GitHub personal access token"):
        assert name in out
    for preview in ("zq9X********wH", "AKIA********PL", "ghp_********QR"):
        assert preview in out
    # Most severe first.
    assert out.index("critical") < out.index("high") < out.index("medium")
    assert "config\\prod env.ini:3" in out and "+1" in out
    assert "<stdin>:1" in out
    assert "(paired)" in out
    assert "3 findings: 1 critical, 1 high, 1 medium" in out
    assert "1 input could not be read" in out and "vendor/broken.zip: cannot read" in out
    assert "1 input skipped" in out and "assets/big.bin" in out


def test_table_shows_git_commit_short_id():
    results = make_results()
    git_first = Finding(
        **{**_finding_kwargs(results.findings[1]), "locations": results.findings[1].locations[::-1]}
    )
    out = render("table", ScanResults("0.1.0", results.stats, [git_first]))
    assert f"src/settings.py:12 @ {COMMIT[:8]}" in out


def _finding_kwargs(f: Finding) -> dict:
    return {name: getattr(f, name) for name in Finding.__dataclass_fields__}


def test_table_escapes_control_characters_in_scanned_names():
    results = make_results()
    evil = Finding(
        **{
            **_finding_kwargs(results.findings[0]),
            "locations": [_loc(FileProvenance("x\x1b[31mred\x07.txt"), 1, 1, BLOB1)],
        }
    )
    out = render("table", ScanResults("0.1.0", results.stats, [evil]))
    assert "\x1b" not in out and "\x07" not in out
    assert "x\\x1b[31mred\\x07.txt:1" in out


class _TtyStringIO(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_table_uses_colour_on_a_terminal(monkeypatch):
    # A CI runner may say TERM=dumb or NO_COLOR; this test is about a capable terminal.
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "160")  # on a terminal, rich takes the width from here
    out = render("table", make_results(), _TtyStringIO())
    assert "\x1b[" in out
    assert "AWS access key ID" in out


def test_table_of_an_empty_scan():
    out = render("table", empty_results())
    assert "No findings." in out and "\x1b" not in out


def test_table_shows_secrets_only_when_asked():
    assert "Secret" not in render("table", make_results(False))
    out = render("table", make_results(True))
    assert "Secret" in out


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_raw_secret_unless_asked(fmt):
    hidden = render(fmt, make_results(show_secrets=False))
    for secret in ALL_SECRETS:
        assert secret not in hidden, (fmt, secret)
    shown = render(fmt, make_results(show_secrets=True))
    if fmt == "table":
        shown = shown.replace("\n", "")  # a long secret may be folded across lines
    for secret in ALL_SECRETS:
        assert secret in shown, (fmt, secret)


@pytest.mark.parametrize("fmt", ["json", "jsonl", "sarif"])
def test_a_secret_in_other_text_is_scrubbed(fmt):
    """A free-text location field that quotes a secret (git provenances no longer carry commit
    messages, but other sources may add text): without --show-secrets it is replaced, with it
    the text is kept as it is."""

    def with_note(show: bool):
        results = make_results(show)
        first = results.findings[0]
        note = Location(fields={"source": "git", "path": "notes.txt", "commit": "c" * 40,
                                "summary": f"add key {KEY_ID} for now"},
                        line=1, column=1, blob_id=BLOB1)
        first.locations = [*first.locations, note]
        return results

    assert "add key [redacted] for now" in render(fmt, with_note(False))
    assert f"add key {KEY_ID} for now" in render(fmt, with_note(True))


def test_git_locations_never_carry_commit_messages():
    prov = GitProvenance(repo="r", path="a.env", commit="c" * 40, summary=f"add key {KEY_ID}")
    assert "summary" not in prov.as_location()


# --------------------------------------------------------------------------- robustness


@pytest.mark.parametrize("fmt", FORMATS)
def test_undecodable_file_names_do_not_break_a_utf8_stream(fmt):
    """A file name read with surrogateescape (invalid UTF-8 on disk) is written escaped."""
    results = make_results()
    weird = Finding(
        **{
            **_finding_kwargs(results.findings[0]),
            "locations": [_loc(FileProvenance("bad\udcffname.env"), 1, 1, BLOB1)],
        }
    )
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
    get_reporter(fmt).write(ScanResults("0.1.0", results.stats, [weird]), stream)
    stream.flush()
    text = raw.getvalue().decode("utf-8")
    if fmt == "json":
        doc = json.loads(text)
        _json_validator().validate(doc)
        assert doc["findings"][0]["locations"][0]["path"] == "bad\\xffname.env"
    elif fmt == "jsonl":
        assert json.loads(text)["locations"][0]["path"] == "bad\\xffname.env"
    elif fmt == "sarif":
        log = json.loads(text)
        _validate_sarif(log)
        # The URI names the file's real bytes.
        loc = log["runs"][0]["results"][0]["locations"][0]
        assert loc["physicalLocation"]["artifactLocation"]["uri"] == "bad%FFname.env"
    else:
        assert "bad\\xffname.env" in text
