"""`nhiguard watch`, input side: reading audit-log files (reader), timestamps (timeparse),
records to Events (normalise and the per-source parsers) on the real public logs in
shared/audit-logs/, user agents, places (geo, countries) and identity profiles."""

from __future__ import annotations

import base64
import copy
import dataclasses
import gzip
import hashlib
import io
import ipaddress
import json
import math
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nhiguard.model.event import Event
from nhiguard.settings import Settings
from nhiguard.watch import reader, run
from nhiguard.watch import useragent as ua
from nhiguard.watch.countries import CENTRES, distance_km
from nhiguard.watch.engine import Watcher
from nhiguard.watch.geo import NOWHERE, Geo, Place
from nhiguard.watch.normalise import BadRecord, Unrecognised, event
from nhiguard.watch.profile import CAPS, HOUR, Profile
from nhiguard.watch.reader import ReadProblems, log_files, records
from nhiguard.watch.timeparse import epoch

BOM = b"\xef\xbb\xbf"
NEWLINE = b"\n"
MIB = 1 << 20


# ---------------------------------------------------------------------------- helpers


def read(data: bytes, name: str = "log", first_line: int = 1,
         growing: bool = True) -> tuple[list[tuple[str, dict]], ReadProblems]:
    problems = ReadProblems()
    return list(records(io.BytesIO(data), name, problems, first_line, growing)), problems


def jsonl(recs: list[dict], sep: bytes = b"\n") -> bytes:
    return b"".join(json.dumps(r).encode() + sep for r in recs)


def numbered(n: int, start: int = 0) -> list[dict]:
    return [{"n": i} for i in range(start, start + n)]


def utc(*parts: int, micro: int = 0) -> float:
    return datetime(*parts, micro, tzinfo=UTC).timestamp()


def fake_github_token() -> str:
    """A token-shaped value made at run time (never a literal in this file)."""
    return "ghp_" + secrets.token_urlsafe(27)[:36]


def hashed(token: str) -> str:
    """What GitHub logs as `hashed_token`: the base64 SHA-256 of the token."""
    return base64.b64encode(hashlib.sha256(token.encode()).digest()).decode()


def fields_of(e: Event) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(e).items() if k != "raw"}


def check(e: Event | None, expected: dict[str, Any]) -> None:
    assert e is not None
    want_params = expected.get("params", {})
    got = {k: getattr(e, k) for k in expected if k != "params"}
    assert got == {k: v for k, v in expected.items() if k != "params"}
    assert {k: e.params.get(k, "<missing>") for k in want_params} == want_params


# ------------------------------------------------------------------ shared public logs


@pytest.fixture(scope="session")
def audit_logs(shared: Path) -> Path:
    folder = shared / "audit-logs"
    assert folder.is_dir(), f"{folder} is missing"
    return folder


@pytest.fixture(scope="session")
def stratus(audit_logs: Path) -> dict[str, list[dict]]:
    files = sorted((audit_logs / "cloudtrail-stratus").glob("*.json"))
    return {f.name: json.loads(f.read_text()) for f in files}


@pytest.fixture(scope="session")
def falco(audit_logs: Path) -> dict[str, list[Any]]:
    return {f.name: [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
            for f in sorted((audit_logs / "k8s-falco").glob("*.json"))}


@pytest.fixture(scope="session")
def panther(audit_logs: Path):
    tests = [json.loads(line) for line in
             (audit_logs / "panther-tests" / "panther_rule_tests.jsonl").read_text().splitlines()]

    def log(rule_id: str, test_name: str) -> dict:
        found = [t["log"] for t in tests if t["rule_id"] == rule_id and t["test_name"] == test_name]
        assert len(found) == 1, (rule_id, test_name, len(found))
        return copy.deepcopy(found[0])

    return log


# ============================================================================= reader


def test_log_files_walks_folders_in_name_order_and_reports_missing_paths(tmp_path):
    logs = tmp_path / "logs"
    (logs / "b" / "deeper").mkdir(parents=True)
    (logs / "a").mkdir()
    for rel in ("b/deeper/3.json", "a/2.json.gz", "1.jsonl", "a/.hidden.json", ".DS_Store"):
        (logs / rel).write_bytes(b"{}")
    single = tmp_path / "single.json"
    single.write_bytes(b"{}")
    problems = ReadProblems()

    found = list(log_files([str(logs), str(single), "-", str(tmp_path / "nope")], problems))

    assert found == [str(logs / "1.jsonl"), str(logs / "a" / "2.json.gz"), str(logs / "b" / "deeper" / "3.json"),
                     str(single), "-"]
    assert problems.inputs == [f"{tmp_path / 'nope'}: no such file or folder"]
    assert problems.malformed == 0


_SHAPES = {
    "json lines": (jsonl(numbered(3)), ["log:1", "log:2", "log:3"]),
    "json lines with CRLF and blank lines": (b"\r\n" + jsonl(numbered(2), b"\r\n\r\n  \r\n") + b"\r\n",
                                             ["log:2", "log:5"]),
    "no newline at the end": (jsonl(numbered(2)).rstrip(), ["log:1", "log:2"]),
    "json array": (json.dumps(numbered(3)).encode(), ["log#0", "log#1", "log#2"]),
    "pretty json array": (b"\n  " + json.dumps(numbered(2), indent=4).encode(), ["log#0", "log#1"]),
    "CloudTrail delivery file": (json.dumps({"Records": numbered(2)}).encode(), ["log:1#0", "log:1#1"]),
    "pretty CloudTrail file": (json.dumps({"Records": numbered(2)}, indent=2).encode(), ["log:1#0", "log:1#1"]),
    "pretty CloudTrail file, CRLF": (json.dumps({"Records": numbered(2)}, indent=2).replace("\n", "\r\n").encode(),
                                     ["log:1#0", "log:1#1"]),
    "two pretty documents": (json.dumps({"n": 0}, indent=2).encode() + b"\n" + json.dumps({"n": 1}, indent=2).encode(),
                             ["log:1", "log:4"]),
    "Kubernetes EventList": (json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                                         "items": numbered(2)}).encode(), ["log:1#0", "log:1#1"]),
    "GCP entries": (json.dumps({"entries": numbered(2), "nextPageToken": "x"}).encode(), ["log:1#0", "log:1#1"]),
    "wrapper per line": (jsonl([{"Records": numbered(2)}, {"events": numbered(1, 2)}]),
                         ["log:1#0", "log:1#1", "log:2#0"]),
    "UTF-8 byte-order mark, json lines": (BOM + jsonl(numbered(2)), ["log:1", "log:2"]),
    "UTF-8 byte-order mark, array": (BOM + json.dumps(numbered(2)).encode(), ["log#0", "log#1"]),
}


@pytest.mark.parametrize("data, places", list(_SHAPES.values()), ids=list(_SHAPES))
def test_every_shape_yields_its_records_in_order(data, places):
    for payload in (data, gzip.compress(data)):
        got, problems = read(payload)
        assert [p for p, _ in got] == places
        assert [r["n"] for _, r in got] == list(range(len(places)))
        assert problems == ReadProblems()


@pytest.mark.parametrize("wrapper", ["records", "items", "events", "entries", "logs"])
def test_github_and_other_list_exports(wrapper):
    entries = [{"action": "git.clone", "actor": "ci-bot", "n": 0}, {"action": "repo.create", "actor": "alice", "n": 1}]
    got, problems = read(json.dumps({wrapper: entries}).encode())
    assert [r for _, r in got] == entries
    assert problems.malformed == 0


def test_an_items_list_of_another_kind_is_one_record_not_a_wrapper():
    doc = {"kind": "PodList", "items": numbered(2)}
    got, _ = read(json.dumps(doc).encode())
    assert got == [("log:1", doc)]


def test_first_line_numbers_a_stream_read_on_from_the_middle():
    got, _ = read(jsonl(numbered(2)), first_line=41)
    assert [p for p, _ in got] == ["log:41", "log:42"]


@pytest.mark.parametrize("blank", [b"\n" * 3, b" \r\n\t\r\n", b"\n" * (MIB + 5)], ids=["LF", "CRLF", "over a chunk"])
def test_leading_blank_lines_keep_the_line_numbers_true(blank):
    skipped = blank.count(b"\n")
    for payload in (blank + jsonl(numbered(2)), gzip.compress(blank + jsonl(numbered(2)))):
        got, _ = read(payload, first_line=10)
        assert [p for p, _ in got] == [f"log:{10 + skipped}", f"log:{11 + skipped}"]


def test_malformed_lines_are_counted_and_every_good_record_kept():
    lines = [b'{"n": 0}', b"not json at all", b'{"n": 1', b'{"n": 2}', b"\x00\x01\x02", b'{"n": 3}', b"}{",
             b'{"n": 4}']
    got, problems = read(b"\n".join(lines) + b"\n")
    assert [(p, r["n"]) for p, r in got] == [("log:1", 0), ("log:4", 2), ("log:6", 3), ("log:8", 4)]
    assert problems.malformed == 4
    assert problems.examples == ["log:2: not JSON", "log:3: not JSON", "log:5: not JSON", "log:7: not JSON"]
    assert problems.inputs == []


def test_examples_are_capped_but_every_malformed_line_is_counted():
    data = b'{"n": 0}\n' + b"".join(b"junk %d\n" % i for i in range(100)) + b'{"n": 1}\n'
    got, problems = read(data)
    assert [r["n"] for _, r in got] == [0, 1]
    assert problems.malformed == 100
    assert len(problems.examples) == 20
    assert problems.examples[0] == "log:2: not JSON" and problems.examples[-1] == "log:21: not JSON"


def test_json_that_is_no_object_is_counted():
    got, problems = read(b'{"n": 0}\n42\n"text"\nnull\n{"n": 1}\n')
    assert [r["n"] for _, r in got] == [0, 1]
    assert problems.malformed == 3
    assert problems.examples[:2] == ["log:2: a JSON int, not an object", "log:3: a JSON str, not an object"]


def test_invalid_utf8_line_is_reported_as_such_and_its_neighbours_kept():
    got, problems = read(b'{"n": 0}\n{"n": "\xff\xfe"}\n{"n": 2}\n')
    assert [r["n"] for _, r in got] == [0, 2]
    assert problems.examples == ["log:2: not UTF-8 text (byte 7)"]


def test_invalid_utf8_inside_an_array_element_is_replaced_not_lost():
    got, problems = read(b'[{"v": "a\xffb"}, {"v": "c"}]')
    assert [r["v"] for _, r in got] == ["a\ufffdb", "c"]
    assert problems.malformed == 0


def test_array_elements_that_are_no_objects_are_counted():
    got, problems = read(b'[{"n": 0}, 7, [1], "s", {"n": 1}]')
    assert [(p, r["n"]) for p, r in got] == [("log#0", 0), ("log#4", 1)]
    assert problems.examples == ["log#1: a JSON int, not an object", "log#2: a JSON list, not an object",
                                 "log#3: a JSON str, not an object"]


@pytest.mark.parametrize("tail, why", [
    (b', {"n": ', "not JSON (Expecting value); the rest of the array is lost"),
    (b", ", "the array never ends (truncated?)"),
    (b', {"n": oops}, {"n": 9}]', "not JSON (Expecting value); the rest of the array is lost"),
])
def test_a_broken_array_keeps_the_elements_before_the_damage(tail, why):
    got, problems = read(json.dumps(numbered(3))[:-1].encode() + tail)
    assert [r["n"] for _, r in got] == [0, 1, 2]
    assert problems.malformed == 1
    assert problems.examples == [f"log#3: {why}"]


def test_a_document_that_never_ends_is_reported_and_the_lines_after_it_read():
    data = b'{"n": 0}\n{"n": 1,\n{"n": 2}\n{"n": 3}\n'
    got, problems = read(data)
    assert [(p, r["n"]) for p, r in got] == [("log:1", 0), ("log:3", 2), ("log:4", 3)]
    assert problems.examples == ["log:2: a document that never ends (truncated?)"]


_ONE_LINE_TRAIL = json.dumps({"Records": [{"n": i, "s": "é€"} for i in range(5)]}, ensure_ascii=False).encode()


@pytest.mark.parametrize("data, kept, example", [
    (_ONE_LINE_TRAIL[:-2], 5, "log:1#5: the document is cut short (truncated?); the records before were read"),
    (_ONE_LINE_TRAIL[:_ONE_LINE_TRAIL.index(b'{"n": 3')], 3,
     "log:1#3: the document is cut short (truncated?); the records before were read"),  # cut after a comma
    (_ONE_LINE_TRAIL[:_ONE_LINE_TRAIL.index(b'{"n": 3') + 4], 3,
     "log:1#3: not JSON (Expecting ':' delimiter); the rest of the document is lost"),
    (_ONE_LINE_TRAIL.replace(b'{"n": 2', b'{"n": oops'), 2,
     "log:1#2: not JSON (Expecting value); the rest of the document is lost"),
    (_ONE_LINE_TRAIL[:-1] + b" trailing junk", 5, "log:1: not JSON after its records"),
], ids=["cut at the end", "cut after a record", "cut in a record", "damaged in the middle", "junk after"])
def test_a_one_line_cloudtrail_file_cut_short_keeps_the_records_before_the_damage(data, kept, example):
    # with no newline after it, the damaged line is the end of a stream that will not grow
    # (standard input); in a plain file it would be a line still being written
    for payload in (data + b'\n{"n": 99}\n', data):
        got, problems = read(payload, growing=False)
        expected = [(f"log:1#{i}", i) for i in range(kept)] + ([("log:2", 99)] if payload != data else [])
        assert [(p, r["n"]) for p, r in got] == expected
        assert (problems.malformed, problems.examples) == (1, [example])


def test_a_pretty_printed_cloudtrail_file_cut_short_keeps_its_records():
    doc = json.dumps({"Records": numbered(6)}, indent=2).encode()
    cut = doc[:doc.index(b'"n": 4')]
    got, problems = read(cut)
    assert [(p, r["n"]) for p, r in got] == [(f"log:1#{i}", i) for i in range(4)]
    assert problems.malformed == 1 and problems.examples[0].startswith("log:1#4: not JSON")


@pytest.mark.parametrize("sep", [b"", b" ", b"\t"], ids=["none", "space", "tab"])
def test_objects_written_back_to_back_on_one_line_are_each_read(sep):
    line = sep.join(json.dumps(r).encode() for r in numbered(3))
    got, problems = read(line + b"\n" + jsonl(numbered(1, 3)) + line[:-1] + b"\n")
    assert [(p, r["n"]) for p, r in got] == [("log:1#0", 0), ("log:1#1", 1), ("log:1#2", 2), ("log:2", 3)]
    assert problems.examples == ["log:3: not JSON"]  # the damaged last one is one bad line, not two good records


def test_a_truncated_cloudtrail_delivery_file_keeps_its_records(stratus):
    recs = stratus["aws.credential-access.ec2-steal-instance-credentials.json"]
    gz = gzip.compress(json.dumps({"Records": recs}).encode())
    got, problems = read(gz[: len(gz) * 3 // 4], "cut.json.gz")
    assert 0 < len(got) < len(recs) and [r for _, r in got] == recs[:len(got)]
    assert problems.malformed == 1
    assert problems.inputs == ["cut.json.gz: the gzip stream ends early (truncated); records before that were read"]


@pytest.mark.parametrize("junk", [
    bytes(range(256)) * 64,  # binary
    b"\x89PNG\r\n\x1a\n" + bytes(4000),
    b"# Audit logs\n\nThese are not JSON.\n{\"n\": 1}\n",  # a README
    b"kind: Event\napiVersion: audit.k8s.io/v1\n",  # YAML
    b"1722376393,alice,GetObject\n",  # CSV
])
def test_a_file_that_is_no_json_log_is_one_input_problem(junk):
    for payload in (junk, gzip.compress(junk)):
        got, problems = read(payload, "notes")
        assert got == []
        assert problems.malformed == 0
        assert problems.inputs == ["notes: not a JSON or JSON Lines log; skipped"]


@pytest.mark.parametrize("empty", [b"", b" ", b"\n\n\r\n\t ", BOM, gzip.compress(b""), gzip.compress(b"\n\n")])
def test_empty_files_are_nothing_and_no_problem(empty):
    assert read(empty) == ([], ReadProblems())


def test_concatenated_gzip_members_are_all_read():
    data = gzip.compress(jsonl(numbered(2))) + gzip.compress(b"") + gzip.compress(jsonl(numbered(2, 2)))
    got, problems = read(data)
    assert [(p, r["n"]) for p, r in got] == [("log:1", 0), ("log:2", 1), ("log:3", 2), ("log:4", 3)]
    assert problems == ReadProblems()


def test_truncated_gzip_keeps_what_decompressed_and_reports_the_input():
    whole = gzip.compress(jsonl(numbered(5000)))
    first = gzip.compress(jsonl(numbered(3)))
    got, problems = read(first + whole[: len(whole) * 2 // 3], "cut.json.gz")
    ns = [r["n"] for _, r in got]
    assert ns[:3] == [0, 1, 2] and ns[3:] == list(range(len(ns) - 3))  # both members, in order, none made up
    assert len(ns) > 100
    assert problems.inputs == ["cut.json.gz: the gzip stream ends early (truncated); records before that were read"]
    assert problems.malformed <= 1  # the line the cut went through, if any


@pytest.mark.parametrize("damage", [
    b"trailing garbage",
    b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 64,  # a member whose deflate data has a reserved block type
])
def test_damaged_gzip_is_an_input_problem_not_an_exception(damage):
    good = gzip.compress(jsonl(numbered(3)))
    got, problems = read(good + damage, "bad.gz")
    assert [r["n"] for _, r in got] == [0, 1, 2]
    assert len(problems.inputs) == 1
    assert problems.inputs[0].startswith("bad.gz: damaged gzip stream")


def test_a_huge_single_line_is_read_whole():
    huge = {"n": 0, "blob": "x" * (3 * MIB)}
    got, problems = read(jsonl([huge, {"n": 1}]))
    assert [p for p, _ in got] == ["log:1", "log:2"]
    assert got[0][1] == huge
    assert problems == ReadProblems()


def test_a_huge_single_line_array_is_streamed_across_chunks():
    recs = [{"n": i, "s": "é€😀" * 9} for i in range(25_000)]  # multi-byte text split across reads
    data = json.dumps(recs, ensure_ascii=False).encode()
    assert len(data) > 2 * MIB and b"\n" not in data
    got, problems = read(data)
    assert [r for _, r in got] == recs
    assert problems == ReadProblems()


def test_not_a_number_in_an_array_reaches_normalise_and_is_a_bad_record():
    # Python's json (the array reader) reads NaN; no Event may get a time that is no time
    got, _ = read(b'[{"eventSource": "iam.amazonaws.com", "eventName": "ListUsers", "eventTime": NaN}]')
    with pytest.raises(BadRecord, match="log#0"):
        event(got[0][1], got[0][0])


def test_reading_the_shared_folders(audit_logs):
    problems = ReadProblems()
    counts = {}
    for sub in ("cloudtrail-stratus", "k8s-falco"):
        files = list(log_files([str(audit_logs / sub)], problems))
        n = 0
        for path in files:
            with open(path, "rb") as fh:
                n += sum(1 for _ in records(fh, Path(path).name, problems))
        counts[sub] = (len(files), n)
    assert counts == {"cloudtrail-stratus": (35, 310), "k8s-falco": (48, 52)}
    assert problems.malformed == 0
    assert problems.inputs == ["labels_falco_k8s_audit_tests.yaml: not a JSON or JSON Lines log; skipped"]


# ========================================================================== timeparse


@pytest.mark.parametrize("value, expected", [
    ("2024-07-30T21:53:13Z", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-30t21:53:13z", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-30 21:53:13", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-30", utc(2024, 7, 30, 0, 0, 0)),
    ("2024-07-30T21:53:13.5Z", utc(2024, 7, 30, 21, 53, 13, micro=500_000)),
    ("2018-10-26T13:25:18.279128Z", utc(2018, 10, 26, 13, 25, 18, micro=279_128)),
    ("2022-05-05 14:00:48.814294000", utc(2022, 5, 5, 14, 0, 48, micro=814_294)),  # nanoseconds
    ("2024-07-30T21:53:13+00:00", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-30T21:53:13+0000", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-30T23:53:13+02:00", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-30T16:23:13-0530", utc(2024, 7, 30, 21, 53, 13)),
    ("2024-07-31T03:23:13.25+05:30", utc(2024, 7, 30, 21, 53, 13, micro=250_000)),
    ("2024-12-31T23:59:60Z", utc(2025, 1, 1, 0, 0, 0)),  # a leap second
    (1722376393, utc(2024, 7, 30, 21, 53, 13)),
    (1722376393.25, utc(2024, 7, 30, 21, 53, 13, micro=250_000)),
    (1722376393250, utc(2024, 7, 30, 21, 53, 13, micro=250_000)),  # GitHub's milliseconds
    ("1722376393", utc(2024, 7, 30, 21, 53, 13)),
    ("1722376393250", utc(2024, 7, 30, 21, 53, 13, micro=250_000)),
])
def test_epoch(value, expected):
    assert epoch(value) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("value", [
    None, True, False, "", "garbage", "yesterday!", "2024-07-3", "2024-13-01T00:00:00Z", "2024-02-30",
    "2024-07-30T25:00:00Z", "2024-07-30T21:60:00Z", "2024-07-30T21:53", "2024-07-30T21:53Z", "2024-07-30X21:53:13Z",
    "2024-07-30T2x:53:13Z", "2024-07-30T-1:-1:-1Z", "2024-07-30T 1: 1: 1Z", "2024-07-30T+1:+1:+1Z",
    "2024-07-30T21:53:1\uff13Z", "\uff12\uff10\uff12\uff14-07-30", "\uff11" * 10,
    "2024-07-30T21:53:13 UTC", "2024-07-30T21:53:13GMT", "2024-07-30T21:53:13+2", "2024-07-30T21:53:13+aa:bb",
    "2024-07-30T21:53:13+05:30junk", "2024-07-30T21:53:13+99:00", "2024-07-30T21:53:13+01:75",
    "1722376393.5", "-1722376393", "1e10",
    math.nan, math.inf, -math.inf, -5, 0, pytest.param(10**400, id="huge int"), pytest.param("9" * 400, id="huge digits"),
    [], {}, b"2024-07-30",
])
def test_epoch_refuses_what_is_no_time(value):
    with pytest.raises(ValueError):
        epoch(value)


# ===================================================================== CloudTrail


_STRATUS_CASES = {
    "backdoor access key": ("aws.persistence.iam-backdoor-user.json", 0, {
        "time": utc(2024, 7, 30, 21, 53, 13), "source": "cloudtrail", "identity_type": "IAMUser",
        "principal": "arn:aws:iam::946986569305:user/operator-user", "action": "iam:CreateAccessKey",
        "service": "iam", "resource": "stratus-red-team-backdoor-u-user", "source_ip": "211.9.016.253",
        "success": True, "error": "", "account": "946986569305", "region": "ap-central-2r", "count": 1,
        "nonhuman": None,
        "params": {"userName": "stratus-red-team-backdoor-u-user", "_caller_user": "operator-user", "_mfa": None},
    }),
    "console sign-in without MFA": ("aws.initial-access.console-login-without-mfa.json", 0, {
        "time": utc(2024, 8, 2, 8, 53, 24), "identity_type": "IAMUser",
        "identity": "aws:arn:aws:iam::562283505220:user/stratus-red-team-nmfalu-jfzdtsvchl",
        "action": "signin:ConsoleLogin", "service": "signin", "source_ip": "225.01.00.16", "success": True,
        "account": "562283505220", "region": "eu-west-2r", "nonhuman": None,
        "params": {"_response": {"ConsoleLogin": "Success"}, "_mfa": None, "_access_key": "",
                   "_caller_user": "stratus-red-team-nmfalu-jfzdtsvchl"},
    }),
    "instance role credentials": ("aws.credential-access.ec2-steal-instance-credentials.json", 5, {
        "time": utc(2024, 8, 2, 8, 23, 55), "identity_type": "AssumedRole",
        "identity": "aws:arn:aws:iam::017622104382:role/stratus-red-team-ec2-steal-credentials-role",
        "principal": "arn:aws:sts::017622104382:assumed-role/stratus-red-team-ec2-steal-credentials-role/"
                     "i-786a3A8B5C0d92eF4",
        "action": "sts:GetCallerIdentity", "service": "sts", "resource": "", "source_ip": "18.236.253.47",
        "success": True, "account": "017622104382", "region": "us-north-2r", "nonhuman": True,
        "params": {"_session": "i-786a3A8B5C0d92eF4", "_caller_user": ""},
    }),
    "a person over SSO": ("aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json", 1, {
        "time": utc(2024, 11, 26, 15, 35, 23), "identity_type": "AssumedRole",
        "identity": "aws:arn:aws:iam::844015365555:role/aws-reserved/sso.amazonaws.com/"
                    "AWSReservedSSO_account-admin_599c9e90e350d2ff",
        "action": "ec2-instance-connect:SendSerialConsoleSSHPublicKey", "service": "ec2-instance-connect",
        "resource": "i-EFCb4e480CAbc4CF9", "source_ip": "201.252.42.03", "region": "cniso-east-3r",
        "nonhuman": False, "params": {"instanceId": "i-EFCb4e480CAbc4CF9", "serialPort": 0},
    }),
    "refused call": ("aws.defense-evasion.organizations-leave.json", 1, {
        "time": utc(2024, 8, 2, 8, 30, 0), "identity_type": "AssumedRole",
        "identity": "aws:arn:aws:iam::307578594326:role/stratus-red-team-leave-org-role",
        "action": "organizations:LeaveOrganization", "service": "organizations", "success": False,
        "error": "AccessDenied", "source_ip": "252.5.222.230", "nonhuman": True,
        "params": {"_session": "aws-go-sdk-1722587398902687000"},
    }),
    "versioned Lambda operation": ("aws.persistence.lambda-overwrite-code.json", 0, {
        "time": utc(2024, 8, 1, 13, 52, 2), "action": "lambda:UpdateFunctionCode", "service": "lambda",
        "resource": "arn:aws:lambda:ap-westeast-2r:266106314375:function:stratus-red-team-olc-func-vayhjqkdav",
        "principal": "arn:aws:iam::266106314375:user/operator-user", "source_ip": "253.8.50.132",
        "params": {"publish": True},
    }),
    "federated user": ("aws.persistence.sts-federation-token.json", 1, {
        "time": utc(2024, 11, 30, 8, 43, 18), "identity_type": "FederatedUser",
        "identity": "aws:arn:aws:sts::742491224508:federated-user/stratus_red_team",
        "action": "sts:GetCallerIdentity", "source_ip": "255.090.254.5", "nonhuman": None,
        "account": "742491224508",
    }),
    "batch secret read without a list": ("aws.credential-access.secretsmanager-batch-retrieve-secrets.json", 0, {
        "time": utc(2024, 7, 31, 12, 29, 17), "action": "secretsmanager:BatchGetSecretValue",
        "service": "secretsmanager", "count": 1, "resource": "", "source_ip": "88.223.251.255",
        "params": {"filters": [{"key": "tag-key", "values": ["StratusRedTeam"]}]},
    }),
}


@pytest.mark.parametrize("name, index, expected", list(_STRATUS_CASES.values()), ids=list(_STRATUS_CASES))
def test_cloudtrail_records(stratus, name, index, expected):
    e = event(stratus[name][index], f"{name}#{index}")
    check(e, expected)
    assert e.raw == f"{name}#{index}"


def test_a_long_term_access_key_is_the_identity_and_a_session_key_is_not(stratus):
    user = stratus["aws.persistence.iam-backdoor-user.json"][0]
    e = event(user, "x")
    key = user["userIdentity"]["accessKeyId"]
    assert key.startswith("AKIA") and e.identity == f"aws:{key}" and e.params["_access_key"] == key
    created = user["responseElements"]["accessKey"]
    assert e.params["_response"] == {"accessKeyId": created["accessKeyId"], "userName": created["userName"]}

    role = stratus["aws.credential-access.ec2-steal-instance-credentials.json"][5]
    e = event(role, "x")
    session_key = role["userIdentity"]["accessKeyId"]
    assert session_key.startswith("ASIA") and session_key not in e.identity
    assert e.params["_access_key"] == session_key


def test_every_stratus_record_normalises(stratus):
    assert len(stratus) == 35
    total = 0
    for name, recs in stratus.items():
        for i, rec in enumerate(recs):
            e = event(rec, f"{name}#{i}")  # never BadRecord, never Unrecognised, never skipped
            assert e is not None and e.source == "cloudtrail"
            assert e.time == datetime.fromisoformat(rec["eventTime"].replace("Z", "+00:00")).timestamp()
            assert e.service == rec["eventSource"].split(".")[0]
            assert e.action.startswith(e.service + ":") and e.operation
            assert e.success is ("errorCode" not in rec)
            assert e.source_ip == rec["sourceIPAddress"] and e.region == rec["awsRegion"]
            assert e.identity.startswith("aws:") and len(e.identity) > len("aws:")
            total += 1
    assert total == 310


def _credential_values(node: Any) -> list[str]:
    """Every secret-like value of a response: session tokens and secret keys."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k in ("sessionToken", "secretAccessKey") and isinstance(v, str)] + \
            [s for v in node.values() for s in _credential_values(v)]
    if isinstance(node, list):
        return [s for v in node for s in _credential_values(v)]
    return []


def test_no_credential_of_a_response_reaches_an_event(stratus):
    seen = 0
    for name, recs in stratus.items():
        for i, rec in enumerate(recs):
            values = _credential_values(rec.get("responseElements"))
            if values:
                text = repr(event(rec, f"{name}#{i}"))
                assert not any(v in text for v in values), f"{name}#{i}"
                seen += 1
    assert seen >= 5  # the AssumeRole and GetFederationToken responses of the corpus hold some


def test_a_batch_of_named_secrets_counts_each(stratus):
    rec = copy.deepcopy(stratus["aws.credential-access.secretsmanager-batch-retrieve-secrets.json"][0])
    rec["requestParameters"] = {"secretIdList": ["a", "b", "c"]}
    assert event(rec, "x").count == 3


@pytest.mark.parametrize("identity, expected", [
    ({"type": "Root", "accountId": "111122223333", "arn": "arn:aws:iam::111122223333:root"},
     ("aws:root:111122223333", "Root", False)),
    ({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"},
     ("aws-service:lambda.amazonaws.com", "AWSService", True)),
    ({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/ci-deploy/alice@example.com"},
     ("aws:arn:aws:sts::111122223333:assumed-role/ci-deploy", "AssumedRole", False)),
    ({"type": "IdentityCenterUser", "userName": "alice"}, ("aws:alice", "IdentityCenterUser", False)),
    ({"type": "IAMUser", "userName": "bob"}, ("aws:user/bob", "IAMUser", None)),
    ({}, ("aws:unknown", "", None)),
])
def test_cloudtrail_identity_kinds(stratus, identity, expected):
    rec = copy.deepcopy(stratus["aws.defense-evasion.cloudtrail-stop.json"][0])
    rec["userIdentity"] = identity
    e = event(rec, "x")
    assert (e.identity, e.identity_type, e.nonhuman) == expected


# ===================================================================== Kubernetes


_FALCO_CASES = {  # file, a text in the record's user (to pick one), cluster, expected
    "token controller creates a token secret": ("create_service_account_token_secret.json", "", "", {
        "time": utc(2020, 4, 21, 17, 32, 29, micro=939_199), "source": "kubernetes",
        "identity": "k8s:system:kube-controller-manager", "identity_type": "system", "nonhuman": True,
        "action": "k8s:create secrets", "service": "k8s", "resource": "test2/default-token-7v4pb",
        "source_ip": "127.0.0.1", "success": True, "error": "", "account": "",
        "params": {"namespace": "test2", "name": "default-token-7v4pb", "group": ["system:authenticated"],
                   "impersonator": ""},
    }),
    "a person binds a cluster role": ("create_clusterrolebinding.json", "", "", {
        "time": utc(2018, 10, 26, 13, 25, 18, micro=279_128), "identity": "k8s:minikube-user",
        "identity_type": "user", "nonhuman": False, "principal": "minikube-user",
        "action": "k8s:create clusterrolebindings", "resource": "some-reader-binding", "source_ip": "192.168.99.1",
        "params": {"role_ref": "system:basic-user", "subjects": ["User::minikube"],
                   "group": ["system:masters", "system:authenticated"]},
    }),
    "a wildcard cluster role": ("create_cluster_role_wildcard_verbs.json", "", "", {
        "action": "k8s:create clusterroles", "resource": "some-reader",
        "params": {"rules": [{"verbs": ["*"], "resources": ["pods"]}, {"verbs": ["get"], "resources": []}]},
    }),
    "anonymous": ("anonymous_creates_namespace_foo.json", "", "", {
        "identity": "k8s:system:anonymous", "identity_type": "anonymous", "nonhuman": None,
        "action": "k8s:create namespaces", "resource": "foo",
    }),
    "a controller's service account, a generated name": (
        "create_nginx_pod_hostnetwork.json", "replicaset-controller", "", {
            "identity": "k8s:system:serviceaccount:kube-system:replicaset-controller",
            "identity_type": "serviceaccount", "nonhuman": True, "action": "k8s:create pods", "resource": "default/",
            "params": {"namespace": "default", "name": ""},
        }),
    "with a cluster name": ("create_secret.json", "", "prod", {
        "identity": "k8s:prod/minikube-user", "account": "prod", "action": "k8s:create secrets",
        "resource": "default/example-secret", "source_ip": "192.168.64.1",
        "user_agent": "kubectl/v1.17.3 (darwin/amd64) kubernetes/06ad960",
    }),
}


def _falco_record(falco, name: str, user: str = "") -> dict:
    return copy.deepcopy(next(r for r in falco[name] if user in json.dumps(r.get("user"))))


@pytest.mark.parametrize("name, user, cluster, expected", list(_FALCO_CASES.values()), ids=list(_FALCO_CASES))
def test_kubernetes_records(falco, name, user, cluster, expected):
    e = event(_falco_record(falco, name, user), f"{name}:1", cluster)
    check(e, expected)
    assert e.raw == f"{name}:1"


def test_every_falco_event_normalises_or_is_a_skipped_stage(falco):
    kinds = {"event": 0, "skipped": 0}
    for name, recs in falco.items():
        for rec in recs:
            if rec.get("kind") != "Event":
                continue
            e = event(rec, name)
            streaming = rec["objectRef"].get("subresource") in ("exec", "attach", "portforward")
            if e is None:
                # a request counts once: at its outcome, or (shells) when its stream starts
                assert rec["stage"] == "RequestReceived" or rec["stage"] == ("ResponseComplete" if streaming
                                                                             else "ResponseStarted")
                kinds["skipped"] += 1
            else:
                assert rec.get("stage", "ResponseComplete") == ("ResponseStarted" if streaming else "ResponseComplete")
                assert e.source == "kubernetes" and e.action.startswith(f"k8s:{rec['verb']} ")
                assert e.action.split(" ", 1)[1].split("/")[0] == rec["objectRef"]["resource"]
                kinds["event"] += 1
    assert kinds == {"event": 51, "skipped": 0}  # two of them are shells, counted at ResponseStarted


def test_request_bodies_are_not_kept(falco):
    rec = _falco_record(falco, "create_configmap_sensitive_values.json")
    assert "requestObject" in rec
    e = event(rec, "x")
    assert set(e.params) <= {"namespace", "name", "group", "impersonator", "secret_type", "role_ref", "subjects",
                             "rules", "authz_reason"}
    text = repr(e)
    assert rec["requestObject"]["data"] and not any(v in text for v in rec["requestObject"]["data"].values())


def test_refused_request_namespaced_list_and_odd_field_types(falco):
    rec = _falco_record(falco, "create_secret.json")
    rec.update(verb="list", responseStatus={"code": 403}, sourceIPs=None)
    rec["objectRef"] = {"resource": "secrets", "namespace": "default"}
    e = event(rec, "x")
    assert (e.action, e.resource, e.success, e.error, e.source_ip) == ("k8s:list secrets", "default/", False, "403", "")
    for odd in ("10.0.0.1", {"0": "10.0.0.1"}):  # addresses of the wrong type are a bad record, not no address
        rec["sourceIPs"] = odd
        with pytest.raises(BadRecord, match="sourceIPs"):
            event(rec, "x")


def test_impersonation_is_attributed_to_the_impersonated_user(falco):
    rec = _falco_record(falco, "create_secret.json")
    rec["impersonatedUser"] = {"username": "system:serviceaccount:ci:deployer"}
    e = event(rec, "x")
    assert (e.identity, e.identity_type, e.nonhuman) == ("k8s:system:serviceaccount:ci:deployer", "serviceaccount",
                                                          True)
    assert e.params["impersonator"] == "minikube-user"


@pytest.mark.parametrize("stage", ["RequestReceived", "ResponseStarted"])
def test_early_stages_are_skipped(falco, stage):
    rec = _falco_record(falco, "create_secret.json")
    rec["stage"] = stage
    assert event(rec, "x") is None


def test_eks_and_kubernetes_own_users_are_non_human(panther):
    e = event(panther("Amazon.EKS.Audit.SystemNamespaceFromPublicIP", "eks:addon-manager from public ip as lambda"),
              "x")
    assert (e.identity, e.identity_type, e.nonhuman) == ("k8s:eks:addon-manager", "system", True)
    e = event(panther("Amazon.EKS.Audit.Multiple403", "403 and Public IP"), "x")
    assert (e.identity_type, e.nonhuman, e.success, e.error, e.source_ip) == ("serviceaccount", True, False, "403",
                                                                              "5.5.5.5")


@pytest.mark.parametrize("category", ["kube-audit", "kube-audit-admin"])
def test_the_aks_wrapper_is_the_event_it_wraps(falco, category):
    inner = _falco_record(falco, "create_clusterrolebinding.json")
    wrapped = {"category": category, "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
               "properties": {"log": json.dumps(inner), "pod": "kube-apiserver-0"}}
    assert fields_of(event(wrapped, "aks#0", "aks")) == fields_of(event(inner, "direct", "aks"))


def test_an_exec_into_a_pod_counts_when_its_stream_starts(panther):
    rec = dict(panther("Kubernetes.Pod.Exec", "AKS Exec Into Pod (realistic)"), time="2026-09-10T12:00:00Z")
    inner = json.loads(rec["properties"]["log"])
    assert inner["stage"] == "ResponseStarted"
    e = event(rec, "x")
    assert e.action == "k8s:get pods/exec" or e.action == "k8s:create pods/exec"
    done = dict(rec, properties=dict(rec["properties"], log=json.dumps(dict(inner, stage="ResponseComplete"))))
    assert event(done, "x") is None  # the same request, ended: not counted again


# ========================================================================= GitHub


def _api_request(token: str, **extra: Any) -> dict:
    return {"@timestamp": 1722376393123, "_document_id": "doc-1", "action": "api.request", "actor": "deploy-bot",
            "actor_ip": "203.0.113.7", "hashed_token": hashed(token), "org": "acme",
            "programmatic_access_type": "Fine-grained personal access token", "request_method": "GET",
            "route": "/repos/{owner}/{repo}/contents/{path}", "status_code": 200, "token_id": 9911,
            "url_path": "/repos/acme/api/contents/deploy.yml", "user_agent": "curl/8.5.0", **extra}


def test_an_api_request_is_attributed_to_its_token():
    token = fake_github_token()
    e = event(_api_request(token), "gh:1")
    check(e, {"time": utc(2024, 7, 30, 21, 53, 13, micro=123_000), "source": "github",
              "identity": f"github:token:{hashed(token)}", "identity_type": "token", "nonhuman": None,
              "principal": "deploy-bot", "action": "github:api.request", "service": "api", "resource": "acme",
              "source_ip": "203.0.113.7", "user_agent": "curl/8.5.0", "success": True, "error": "",
              "account": "acme",
              "params": {"token_id": 9911, "programmatic_access_type": "Fine-grained personal access token"}})
    assert token not in repr(e)


@pytest.mark.parametrize("status, success", [(200, True), (304, True), (401, False), (404, False), (500, False)])
def test_an_api_request_that_failed_did_not_work(status, success):
    e = event(_api_request(fake_github_token(), status_code=status), "x")
    assert (e.success, e.error) == (success, "" if success else str(status))


def test_a_bot_is_an_app_even_with_a_token():
    e = event(_api_request(fake_github_token(), actor="renovate[bot]"), "x")
    assert (e.identity, e.identity_type, e.nonhuman) == ("github:app:renovate[bot]", "app", True)


@pytest.mark.parametrize("rule_id, test_name, expected", [
    ("GitHub.Secret.Scanning.Alert.Created", "git.clone-false", {
        "time": utc(2023, 11, 20, 21, 20, 9, micro=423_000), "identity_type": "token", "nonhuman": None,
        "action": "github:git.clone", "service": "git", "resource": "acme-inc/a-repo", "source_ip": "5.6.7.8",
        "user_agent": "git/2.30.2", "account": "acme-inc",
        "params": {"token_id": "0123456789", "programmatic_access_type": "OAuth access token"}}),
    ("GitHub.Workflow.DispatchByGitHubBot", "GitHub App Manual Workflow Dispatch by Bot", {
        "identity": "github:app:github-actions[bot]", "identity_type": "app", "nonhuman": True,
        "action": "github:workflows.created_workflow_run", "service": "workflows"}),
    ("GitHub.Action.Failed", "GitHub Action Failed - No Configuration", {
        "identity": "github:actions:your-org/panther-analysis-copy", "identity_type": "actions", "nonhuman": True,
        "account": "panther-labs"}),
    ("GitHub.Org.Moderators.Add", "GitHub - Org Moderator Added", {
        "identity": "github:user:sarah78", "identity_type": "user", "nonhuman": False,
        "action": "github:organization_moderators.add_user", "resource": "example-io",
        "params": {"user": "john1987"}}),
])
def test_github_records(panther, rule_id, test_name, expected):
    rec = panther(rule_id, test_name)
    e = event(rec, "x")
    check(e, expected)
    if expected["identity_type"] == "token":  # the hash GitHub logged, as it is
        assert e.identity == f"github:token:{rec['hashed_token']}"


# ============================================================================ GCP


def test_gcp_service_account_sets_an_org_policy(panther):
    check(event(panther("GCP.IAM.OrgFolderIAMChanges", "Terraform User Agent"), "x"), {
        "time": utc(2022, 5, 5, 14, 0, 48, micro=814_294), "source": "gcp",
        "identity": "gcp:terraform@platform.iam.gserviceaccount.com", "identity_type": "serviceAccount",
        "nonhuman": True, "action": "gcp:SetIamPolicy", "service": "cloudresourcemanager",
        "resource": "organizations/888888888888", "success": True, "error": "", "account": "",
        "user_agent": "Terraform/0.13.2 terraform-provider-google/3.90.1",
        "params": {"caller": "",
                   "bindings": [{"role": "roles/owner", "members": [
                       "joey.jojo@example.com", "serviceAccount:terraform@platform.iam.gserviceaccount.com"]}],
                   "binding_deltas": [{"action": "ADD", "role": "roles/owner", "member": "user:backdoor@example.com"}]},
    })


def test_gcp_refused_call_and_policy_delta(panther):
    e = event(panther("GCP.Access.Attempts.Violating.VPC.Service.Controls", "VPC control violation"), "x")
    assert (e.success, e.error, e.source_ip, e.service, e.account) == (False, "7", "1.2.3.4", "storage", "gcpproject")
    e = event(panther("GCP.GCS.IAMChanges", "GCS IAM Change"), "x")
    assert (e.identity, e.nonhuman, e.action, e.source_ip) == ("gcp:user@runpanther.io", False,
                                                               "gcp:storage.setIamPermissions", "136.24.229.58")
    assert e.params["binding_deltas"] == [{"action": "ADD", "role": "roles/storage.objectViewer",
                                           "member": "allUsers"}]


def test_gke_kubernetes_service_account_is_non_human(panther):
    e = event(panther("GCP.K8S.Privileged.Pod.Created", "Privileged Pod in System Namespace (Excluded)"), "x")
    assert (e.identity, e.identity_type, e.nonhuman) == (
        "gcp:system:serviceaccount:kube-system:deployment-controller", "serviceAccount", True)


def test_gcp_impersonation_keeps_the_caller():
    rec = {"timestamp": "2024-07-30T21:53:13.5Z", "logName": "projects/acme-prod/logs/cloudaudit.googleapis.com%2Fdata_access",
           "protoPayload": {"serviceName": "storage.googleapis.com", "methodName": "storage.objects.get",
                            "resourceName": "projects/_/buckets/b/objects/o",
                            "authenticationInfo": {
                                "principalEmail": "deployer@acme-prod.iam.gserviceaccount.com",
                                "serviceAccountDelegationInfo": [
                                    {"firstPartyPrincipal": {"principalEmail": "alice@example.com"}}]},
                            "requestMetadata": {"callerIp": "198.51.100.4", "callerSuppliedUserAgent": "gcloud/1"}}}
    check(event(rec, "x"), {"identity": "gcp:deployer@acme-prod.iam.gserviceaccount.com", "nonhuman": True,
                            "account": "acme-prod", "source_ip": "198.51.100.4", "success": True,
                            "time": utc(2024, 7, 30, 21, 53, 13, micro=500_000),
                            "params": {"caller": "alice@example.com"}})


# ============================================================ unrecognised and bad records


@pytest.fixture
def foreign(falco, panther):
    return {
        "empty object": {},
        "some other JSON": {"hello": "world", "time": "2024-07-30T21:53:13Z"},
        "falco's odd trace": falco["fal_01_003.json"][0],
        "a Kubernetes Event of no audit": {"kind": "Event", "reason": "Scheduled", "message": "x"},
        "AKS wrapper of junk": {"category": "kube-audit", "properties": {"log": "not json"}},
        "AKS wrapper of a list": {"category": "kube-audit", "properties": {"log": "[1, 2]"}},
        "a GitHub webhook": panther("GitHub.CrossFork.Workflow.Run", "Cross-fork push workflow"),
        "an action alone": {"action": "repository_vulnerability_alert.dismiss"},
        "CloudTrail without an event name": {"eventSource": "iam.amazonaws.com", "eventTime": "2024-07-30"},
    }


@pytest.mark.parametrize("case", ["empty object", "some other JSON", "falco's odd trace",
                                  "a Kubernetes Event of no audit", "AKS wrapper of junk", "AKS wrapper of a list",
                                  "a GitHub webhook", "an action alone", "CloudTrail without an event name"])
def test_foreign_objects_are_unrecognised(foreign, case):
    with pytest.raises(Unrecognised):
        event(foreign[case], "place")


_TIME_KEYS = ("eventTime", "requestReceivedTimestamp", "stageTimestamp", "timestamp", "receiveTimestamp",
              "p_event_time", "@timestamp", "created_at", "at_sign_timestamp")


@pytest.fixture
def one_of_each(stratus, falco, panther):
    return {
        "cloudtrail": stratus["aws.defense-evasion.cloudtrail-stop.json"][0],
        "kubernetes": _falco_record(falco, "create_secret.json"),
        "github": panther("GitHub.Secret.Scanning.Alert.Created", "git.clone-false"),
        "gcp": panther("GCP.IAM.OrgFolderIAMChanges", "Terraform User Agent"),
    }


@pytest.mark.parametrize("source", ["cloudtrail", "kubernetes", "github", "gcp"])
@pytest.mark.parametrize("bad_time", [None, "missing", "yesterday", "2024-07-30T25:61:00Z", 10**20, ["2024-07-30"]])
def test_a_record_without_a_usable_time_is_a_bad_record(one_of_each, source, bad_time):
    rec = copy.deepcopy(one_of_each[source])
    assert event(rec, "ok").source == source
    for key in [k for k in _TIME_KEYS if k in rec]:
        if bad_time == "missing":
            del rec[key]
        else:
            rec[key] = bad_time
    with pytest.raises(BadRecord, match=r"^here:7: "):
        event(rec, "here:7")


def test_fields_of_the_wrong_type_are_a_bad_record(stratus):
    rec = copy.deepcopy(stratus["aws.credential-access.ec2-steal-instance-credentials.json"][5])
    rec["userIdentity"]["sessionContext"] = "not an object"
    with pytest.raises(BadRecord, match="fields of the wrong type"):
        event(rec, "x")


# ===================================================================== user agents


@pytest.mark.parametrize("agent, kind, family", [
    ("aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0 exe/x86_64 prompt/off command/s3.ls", ua.CLI_DESKTOP, "aws-cli"),
    ("aws-cli/2.15.0 Python/3.11.6 Linux/5.10.0 exe/x86_64.amzn.2", ua.CLI_SERVER, "aws-cli"),
    ("[aws-cli/2.15.0 Python/3.11.6 Darwin/23.1.0 exe/x86_64]", ua.CLI_DESKTOP, "aws-cli"),  # S3 data events
    ("Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 lang/python#3.11 exec-env/AWS_Lambda_python3.11",
     ua.SDK, "Boto3"),
    ("[Boto3/1.34.0 md/Botocore#1.34.0 os/linux#5.10]", ua.SDK, "Boto3"),
    ("Boto3/1.34.0 Python/3.11 Windows/10 Botocore/1.34.0", ua.CLI_DESKTOP, "Boto3"),
    ("aws-sdk-go-v2/1.32.3 os/linux lang/go#1.23.1 md/GOOS#linux exec-env/grimoire_1 api/sts#1.26.2", ua.SDK,
     "aws-sdk-go-v2"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 Chrome/131.0 Safari/537.36", ua.BROWSER,
     "Mozilla"),
    ("signin.amazonaws.com", ua.BROWSER, "signin.amazonaws.com"),
    ("AWS Internal", ua.BROWSER, "AWS"),
    ("ec2.amazonaws.com", ua.SERVICE, "ec2.amazonaws.com"),
    ("aws-cli/2.13.0 Python/3.11 Linux/5.10 exec-env/CodeBuild", ua.CI, "aws-cli"),
    ("GitHubActions", ua.CI, "GitHubActions"),
    ("kubectl/v1.25.4 (darwin/arm64) kubernetes/872a965", ua.CLI_DESKTOP, "kubectl"),
    ("kubectl/v1.28.0 (linux/amd64)", ua.CLI_SERVER, "kubectl"),
    ("kube-controller-manager/v1.17.3 (linux/amd64) kubernetes/06ad960/tokens-controller", ua.SDK,
     "kube-controller-manager"),
    ("Terraform/0.13.2 terraform-provider-google/3.90.1", ua.CLI_SERVER, "Terraform"),
    ("git/2.30.2", ua.CLI_SERVER, "git"),
    ("gh/2.40.0 (windows; amd64)", ua.CLI_DESKTOP, "gh"),
    ("curl/8.5.0", ua.SDK, "curl"),
    ("stratus-red-team_f3f19dcd-8552-47ca-a01e-0e1f5578d15e", ua.UNKNOWN,
     "stratus-red-team_f3f19dcd-8552-47ca-a01e-0e1f5578d15e"),
    ("", ua.UNKNOWN, "none"),
])
def test_user_agents(agent, kind, family):
    assert ua.classify(agent) == kind
    assert ua.family(agent) == family


def test_a_family_is_short_whatever_the_agent():
    assert ua.family("x" * 200 + "/1.0") == "x" * 60
    assert ua.classify("x" * 200) == ua.UNKNOWN


# =========================================================================== geo


@pytest.fixture(scope="module")
def geo() -> Geo:
    g = Geo()
    assert g.available, "geoip2fast and its data are test dependencies"
    return g


@pytest.mark.parametrize("address, country", [("8.8.8.8", "US"), ("2001:4860:4860::8888", "US")])
def test_a_public_address_has_a_country_and_a_network(geo, address, country):
    p = geo.place(address)
    assert p.country == country
    assert p.network and not p.network.startswith("unparsed:")
    assert ipaddress.ip_address(address) in ipaddress.ip_network(p.cidr)
    assert not p.private and not p.service


@pytest.mark.parametrize("address, prefix", [
    ("10.1.2.3", "10.1.0.0/16"), ("192.168.99.1", "192.168.0.0/16"), ("172.16.5.4", "172.16.0.0/16"),
    ("127.0.0.1", "127.0.0.0/16"), ("169.254.169.254", "169.254.0.0/16"), ("fd00::1", "fd00::/48"),
    ("::1", "::/48"),
])
def test_private_addresses(geo, address, prefix):
    assert geo.place(address) == Place("", "private", prefix, private=True)


@pytest.mark.parametrize("name", ["ec2.amazonaws.com", "lambda.amazonaws.com", "AWS Internal"])
def test_aws_services_as_source_addresses(geo, name):
    p = geo.place(name)
    assert (p.service, p.private, p.country, p.network) == (True, False, "", name)


def test_unparsable_and_missing_addresses(geo):
    assert geo.place("") == NOWHERE
    assert geo.place("035.249.253.232").network == "unparsed:035.249.253.232"  # the corpus's anonymised form
    assert geo.place("x" * 100).network == "unparsed:" + "x" * 60


def test_geo_off_gives_prefixes_and_no_country():
    g = Geo(False)
    assert not g.available
    assert g.place("8.8.8.8") == Place("", "8.8.0.0/16", "8.8.0.0/16")
    assert g.place("10.0.0.1").private
    assert g.place("ec2.amazonaws.com").service


def test_places_are_cached(geo):
    assert geo.place("1.1.1.1") is geo.place("1.1.1.1")


# ===================================================================== countries


def test_distance_between_countries():
    assert distance_km("FR", "FR") == 0
    assert distance_km("FR", "DE") == pytest.approx(distance_km("DE", "FR"))
    assert 400 < distance_km("FR", "DE") < 1000
    assert 5000 < distance_km("US", "GB") < 8000
    assert distance_km("AU", "GB") > 14000
    assert all(distance_km(a, b) <= math.pi * 6371 + 1e-6 for a in CENTRES for b in ("NZ", "ES", "AR"))
    fr_de, de_pl, fr_pl = distance_km("FR", "DE"), distance_km("DE", "PL"), distance_km("FR", "PL")
    assert fr_pl <= fr_de + de_pl


@pytest.mark.parametrize("a, b", [("XX", "US"), ("US", ""), ("", "")])
def test_distance_to_an_unknown_country_is_none(a, b):
    assert distance_km(a, b) is None


# ======================================================================= profiles


def test_counts_are_capped_but_known_keys_keep_counting():
    p = Profile("aws:x")
    for i in range(CAPS["countries"] + 10):
        p.count("countries", f"C{i}")
    assert len(p.countries) == CAPS["countries"] and "C70" not in p.countries
    p.count("countries", "C0")
    assert p.countries["C0"] == 2


def test_roll_hour_closes_an_hour_only_once_it_is_over():
    p = Profile("aws:x")
    t0 = 1_722_376_800.0  # on an hour
    p.roll_hour(t0 + 125)
    assert p.hour_start == t0 and p.active_hours == 0
    p.hour_events, p.hour_reads = 7, 3
    p.read_secret("a")
    p.read_secret("a")
    p.read_secret("b")
    p.roll_hour(t0 + HOUR - 1)  # still the same hour
    assert (p.hour_events, p.active_hours) == (7, 0)
    p.roll_hour(t0 + 2 * HOUR + 5)
    assert (p.max_hour_events, p.max_hour_reads, p.max_hour_secrets, p.active_hours) == (7, 3, 2, 1)
    assert (p.hour_start, p.hour_events, p.hour_reads, p.hour_secrets) == (t0 + 2 * HOUR, 0, 0, [])
    p.hour_events = 2
    p.roll_hour(t0 + 3 * HOUR)
    assert (p.max_hour_events, p.active_hours) == (7, 2)


def test_read_secret_keeps_a_bounded_distinct_list():
    p = Profile("aws:x")
    for i in range(600):
        p.read_secret(f"s{i % 550}")
    assert len(p.hour_secrets) == 500 == len(set(p.hour_secrets))


@pytest.mark.parametrize("events, span, expected", [(50, 7 * 86400, True), (49, 7 * 86400, False),
                                                     (50, 7 * 86400 - 1, False), (500, 30 * 86400, True)])
def test_established(events, span, expected):
    p = Profile("aws:x", first_seen=1000.0, last_seen=1000.0 + span, events=events)
    assert p.established(50, 7 * 86400) is expected


def _busy_profile() -> Profile:
    p = Profile("k8s:system:serviceaccount:ci:deployer", first_seen=1.5, last_seen=99999.25, events=42,
                principal="system:serviceaccount:ci:deployer", identity_type="serviceaccount", nonhuman=True,
                source="kubernetes", last_country="DE", last_country_time=99.0, last_network="HETZNER")
    for table, key in [("countries", "DE"), ("networks", "HETZNER"), ("cidrs", "5.9.0.0/16"), ("agents", "kubectl"),
                       ("classes", "sdk"), ("actions", "k8s:get secrets"), ("services", "k8s")]:
        p.count(table, key)
        p.count(table, key)
    p.hours[3], p.week_hours[100] = 5, 2
    p.read_secret("ns/s")
    p.co_networks.append("A|B")
    p.max_discovery = 4
    return p


def test_profile_round_trips_through_json_text():
    p = _busy_profile()
    back = Profile.from_json(json.loads(json.dumps(p.to_json())))
    assert back == p
    assert back.to_json() == p.to_json()
    assert isinstance(back.first_seen, float)
    assert Profile.from_json(Profile("x").to_json()) == Profile("x")


@pytest.mark.parametrize("junk", [
    {},
    {"identity": None},
    {"identity": 5},
    {"__dict__": {}},
    {"__module__": "evil", "__doc__": "x", "count": 3, "to_json": 1, "CAPS": {}},
    {"hours": "abc", "week_hours": [1, 2, 3]},
    {"hours": ["x"] * 24, "week_hours": [True] * 168},
    {"countries": {"US": "many", "DE": 2, "FR": True}},
    {"countries": ["US"], "networks": None, "co_networks": [1, 2], "hour_secrets": "s"},
    {"events": True, "events_": 1, "first_seen": "2024", "last_seen": None, "max_hour_events": 1.5},
    {"nonhuman": 1}, {"nonhuman": "yes"}, {"nonhuman": 0},
])
def test_profile_from_junk_documents_is_still_usable(junk):
    p = Profile.from_json({"identity": "aws:x", **junk} if "identity" not in junk else junk)
    assert p.nonhuman in (True, False, None) and type(p.nonhuman) in (bool, type(None))
    assert len(p.hours) == 24 and len(p.week_hours) == 168
    assert set(p.to_json()) == set(Profile("y").to_json())
    assert all(type(v) is int for v in p.hours + p.week_hours)
    assert all(type(v) is int for t in CAPS for v in getattr(p, t).values())
    assert all(isinstance(v, str) for v in p.co_networks + p.hour_secrets)
    assert isinstance(p.events, int) and isinstance(p.first_seen, float) and isinstance(p.identity, str)
    # and the engine's updates work on it
    p.hours[3] += 1
    p.week_hours[5] += 1
    p.count("countries", "DE")
    p.read_secret("s")
    p.roll_hour(HOUR * 10)
    assert Profile.from_json(json.loads(json.dumps(p.to_json()))) == p


def test_profile_keeps_the_valid_parts_of_a_damaged_document():
    doc = _busy_profile().to_json()
    doc.update(countries={"DE": 3, "XX": "junk"}, hours=["x"] * 24, nonhuman=1)
    p = Profile.from_json(doc)
    assert p.countries == {"DE": 3}
    assert p.hours == [0] * 24
    assert p.nonhuman is None
    assert (p.identity, p.events, p.networks, p.week_hours[100]) == ("k8s:system:serviceaccount:ci:deployer", 42,
                                                                      {"HETZNER": 2}, 2)


# ========================================================================= other shapes of the same logs


def test_cloudtrail_with_lower_cased_keys_from_a_data_lake(stratus):
    rec = stratus["aws.defense-evasion.cloudtrail-stop.json"][0]
    lowered = {k.lower(): v for k, v in rec.items()}
    assert fields_of(event(lowered, "x")) == fields_of(event(rec, "x"))


def test_gke_kubernetes_entries_become_kubernetes_actions():
    entry = {"timestamp": "2026-03-01T10:00:00Z", "protoPayload": {
        "authenticationInfo": {"principalEmail": "system:serviceaccount:ci:deployer"},
        "authorizationInfo": [{"granted": True, "permission": "io.k8s.rbac.v1.clusterrolebindings.create"}],
        "methodName": "io.k8s.rbac.v1.clusterrolebindings.create", "serviceName": "k8s.io",
        "resourceName": "rbac.authorization.k8s.io/v1/clusterrolebindings/ops-admin",
        "request": {"roleRef": {"name": "cluster-admin"}, "subjects": [{"kind": "User", "name": "mallory"}]}},
        "resource": {"type": "k8s_cluster", "labels": {"project_id": "shop-prod"}}}
    e = event(entry, "x")
    assert (e.action, e.resource, e.service, e.nonhuman) == ("k8s:create clusterrolebindings", "ops-admin", "k8s", True)
    assert e.params["role_ref"] == "cluster-admin" and e.params["subjects"] == ["User::mallory"]
    assert e.params["permissions"] == ["io.k8s.rbac.v1.clusterrolebindings.create"]
    shell = copy.deepcopy(entry)
    shell["protoPayload"].update(methodName="io.k8s.core.v1.pods.exec.create",
                                 resourceName="core/v1/namespaces/prod/pods/db-0/exec")
    e = event(shell, "x")
    assert (e.action, e.resource) == ("k8s:create pods/exec", "prod/db-0")


def test_an_aks_record_without_its_own_time_takes_the_wrappers():
    inner = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "verb": "create", "stage": "ResponseComplete",
             "user": {"username": "alice@example.com"}, "objectRef": {"resource": "roles", "namespace": "prod"},
             "responseStatus": {"code": 201}}
    rec = {"category": "kube-audit", "time": "2026-03-01T10:00:00Z", "properties": {"log": json.dumps(inner)}}
    assert event(rec, "x").time == utc(2026, 3, 1, 10, 0, 0)
    with pytest.raises(BadRecord):
        event({"category": "kube-audit", "properties": {"log": json.dumps(inner)}}, "x")


def test_identity_center_roles_by_their_path_are_people(stratus):
    rec = copy.deepcopy(stratus["aws.defense-evasion.cloudtrail-stop.json"][0])
    rec["userIdentity"] = {"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/DevAdmin/dr.who",
                           "sessionContext": {"sessionIssuer": {
                               "arn": "arn:aws:iam::1:role/aws-reserved/sso.amazonaws.com/eu-west-1/DevAdmin",
                               "userName": "DevAdmin"}}}
    assert event(rec, "x").nonhuman is False
    rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] = "arn:aws:iam::1:role/DevAdmin"
    assert event(rec, "x").nonhuman is True


def test_shared_and_reserved_addresses_are_no_internet_network():
    g = Geo(True)
    for ip in ("100.64.3.4", "224.0.0.251", "240.0.0.1"):
        assert g.place(ip).private, ip


def test_ecs_tasks_are_workloads_not_ci_runners():
    agent = "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 exec-env/AWS_ECS_FARGATE Botocore/1.34.0"
    assert ua.classify(agent) == ua.SDK
    assert ua.classify(agent.replace("AWS_ECS_FARGATE", "CodeBuild")) == ua.CI


# ================================================================ from a new user's trial: the input side


def _watcher() -> Watcher:
    return Watcher(Settings(), geo=Geo(False))


class _Ledger:
    """The store's watch_inputs, in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, int, str, int]] = {}

    def input_read(self, head: str) -> tuple[int, str, int] | None:
        row = self.rows.get(head)
        return None if row is None else row[1:]

    def record_input(self, head: str, name: str, size_read: int, tail: str, events: int) -> None:
        self.rows[head] = (name, size_read, tail, events)


def _feed(paths: list[Path], ledger: _Ledger | None = None, cluster: str = "") -> tuple[Watcher, ReadProblems]:
    w, problems = _watcher(), ReadProblems()
    run.feed_paths(w, run.Inputs(tuple(str(p) for p in paths), cluster), problems, ledger)
    return w, problems


_DEEP = 100_000


@pytest.mark.parametrize("data, kept, example", [
    (b"[" * _DEEP, [], "log#0: nested too deeply to read; the rest of the array is lost"),  # the file one array
    (b'{"n": 0}\n' + b"[" * _DEEP + b"]" * _DEEP + b'\n{"n": 1}\n', [0, 1], "log:2: nested too deeply to read"),
    (b'{"n": 0}\n{"a": ' + b"[" * _DEEP + b"]" * _DEEP + b'}\n{"n": 1}\n', [0, 1], "log:2: nested too deeply to read"),
    (b'{"n": 0}\n{"Records": [{"n": 9}, ' + b"[" * _DEEP + b"]" * _DEEP + b']}\n{"n": 1}\n', [0, 9, 1],
     "log:2#1: nested too deeply to read; the rest of the document is lost"),
    (b'{"n": 0}\n{"a": {}}{"b": ' + b"[" * _DEEP + b"]" * _DEEP + b'}\n{"n": 1}\n', [0, 1], "log:2: not JSON"),
], ids=["array", "line", "object", "in a delivery file", "back to back"])
def test_json_nested_past_what_json_reads_is_one_malformed_record(data, kept, example):
    got, problems = read(data)
    assert [r["n"] for _, r in got] == kept
    assert (problems.malformed, problems.examples) == (1, [example])


def test_nesting_that_python_json_refuses_is_malformed_without_orjson(monkeypatch):
    monkeypatch.setattr(reader, "_loads", json.loads)  # the reader as it runs where orjson is missing
    got, problems = read(b'{"n": 0}\n{"a": ' + b"[" * _DEEP + b"]" * _DEEP + b'}\n{"n": 1}\n')
    assert [r["n"] for _, r in got] == [0, 1]
    assert problems.examples == ["log:2: nested too deeply to read"]


def test_a_deeply_nested_file_does_not_stop_the_rest_of_the_folder(tmp_path, stratus):
    rec = stratus["aws.defense-evasion.cloudtrail-stop.json"][0]
    (tmp_path / "a.json").write_bytes(b"[" * _DEEP)
    (tmp_path / "b.json").write_text(json.dumps(rec) + "\n")
    w, problems = _feed([tmp_path])
    assert (w.stats.files, w.stats.events) == (2, 1)
    assert problems.examples == [f"{tmp_path / 'a.json'}#0: nested too deeply to read; the rest of the array is lost"]


def test_follow_reports_a_deeply_nested_line_and_reads_on(tmp_path, stratus):
    rec = stratus["aws.defense-evasion.cloudtrail-stop.json"][0]
    log = tmp_path / "live.jsonl"
    log.write_bytes(b"[" * _DEEP + b"]" * _DEEP + b"\n" + json.dumps(rec).encode() + b"\n")
    w, problems = _watcher(), ReadProblems()
    deadline = time.monotonic() + 10
    run.follow(w, str(log), "", problems, lambda: w.stats.events == 1 or time.monotonic() > deadline,
               lambda: None, poll=0.01)
    assert w.stats.events == 1
    assert problems.examples == [f"{log}:1: nested too deeply to read"]


def _trail(*batches: list[dict]) -> bytes:
    return b"".join(json.dumps({"Records": b}).encode() for b in batches)


def test_delivery_files_concatenated_on_one_line_are_all_read():
    # zcat a.json.gz b.json.gz | nhiguard watch -
    data = _trail(numbered(2), numbered(3, 2)) + b" " + _trail(numbered(1, 5))
    for growing in (True, False):
        got, problems = read(data, growing=growing)
        assert [(p, r["n"]) for p, r in got] == [(f"log:1#{i}", i) for i in range(6)]
        assert problems == ReadProblems()
    got, problems = read(data + b"\n" + jsonl(numbered(1, 6)))
    assert [p for p, _ in got][-2:] == ["log:1#5", "log:2"]
    assert problems == ReadProblems()


def test_damage_in_one_concatenated_delivery_file_keeps_the_records_around_it():
    first = _trail(numbered(3)).replace(b'{"n": 1}', b'{"n": oops}')
    data = first + _trail(numbered(2, 3)) + b"\n" + jsonl(numbered(1, 5))
    got, problems = read(data)
    assert [r["n"] for _, r in got] == [0, 3, 4, 5]
    assert problems.malformed == 1
    assert problems.examples == ["log:1#1: not JSON (Expecting value); the rest of the document is lost"]


def test_a_delivery_file_followed_by_another_object_on_its_line():
    got, problems = read(_trail(numbered(1)) + json.dumps({"n": 1}).encode() + _trail(numbered(1, 2)) + b"\n")
    assert [(p, r["n"]) for p, r in got] == [("log:1#0", 0), ("log:1#1", 1), ("log:1#2", 2)]
    assert problems == ReadProblems()


def test_records_that_are_not_objects_are_malformed():
    got, problems = read(b'{"Records": [1, "x", null, [], {"n": 0}]}\n')
    assert [(p, r["n"]) for p, r in got] == [("log:1#4", 0)]
    assert problems.malformed == 4
    assert problems.examples == ["log:1#0: a JSON int, not an object", "log:1#1: a JSON str, not an object",
                                 "log:1#2: a JSON null, not an object", "log:1#3: a JSON list, not an object"]
    _, problems = read(b'{"n": -1}\n[{"n": 0}, 5]\n')  # a JSON Lines line that is a list
    assert problems.examples == ["log:2#1: a JSON int, not an object"]


def _set(rec: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        rec = rec[key]
    rec[last] = value


@pytest.mark.parametrize("source, path, value, why", [
    ("cloudtrail", "userIdentity", "AIDAEXAMPLE", "userIdentity is a string, not an object"),
    ("cloudtrail", "userIdentity", [], "userIdentity is a list, not an object"),
    ("cloudtrail", "sourceIPAddress", ["203.0.113.9"], "sourceIPAddress is a list, not a string"),
    ("cloudtrail", "userAgent", {"name": "aws-cli"}, "userAgent is an object, not a string"),
    ("cloudtrail", "eventName", 7, "eventName is a number, not a string"),
    ("cloudtrail", "eventSource", None, "eventSource is null, not a string"),
    ("kubernetes", "user", "alice", "user is a string, not an object"),
    ("kubernetes", "user.username", ["alice"], "user.username is a list, not a string"),
    ("kubernetes", "sourceIPs", "10.0.0.1", "sourceIPs is a string, not a list of strings"),
    ("kubernetes", "sourceIPs", ["10.0.0.1", 7], "sourceIPs holds a number, not only strings"),
    ("github", "hashed_token", 12345, "hashed_token is a number, not a string"),
    ("github", "actor_ip", ["5.6.7.8"], "actor_ip is a list, not a string"),
    ("github", "actor", {"login": "x"}, "actor is an object, not a string"),
    ("github", "action", ["git.clone"], "action is a list, not a string"),
    ("gcp", "protoPayload.authenticationInfo", "svc@example.iam.gserviceaccount.com",
     "protoPayload.authenticationInfo is a string, not an object"),
    ("gcp", "protoPayload.requestMetadata", [], "protoPayload.requestMetadata is a list, not an object"),
    ("gcp", "protoPayload.authenticationInfo.principalEmail", True,
     "authenticationInfo.principalEmail is true or false, not a string"),
])
def test_fields_of_the_wrong_type_are_bad_records_that_name_the_field(one_of_each, source, path, value, why):
    rec = copy.deepcopy(one_of_each[source])
    assert event(rec, "ok").source == source
    _set(rec, path, value)
    with pytest.raises(BadRecord) as raised:
        event(rec, "f.json:3")
    assert str(raised.value) == f"f.json:3: {why}"


def test_a_bad_record_is_counted_malformed_with_its_place(one_of_each):
    rec = copy.deepcopy(one_of_each["cloudtrail"])
    rec["sourceIPAddress"] = ["203.0.113.9"]
    w, problems = _watcher(), ReadProblems()
    run.feed_records(w, iter([("f.json:3", rec), ("f.json:4", one_of_each["cloudtrail"])]), "", problems)
    assert (w.stats.events, problems.malformed) == (1, 1)
    assert problems.examples == ["f.json:3: sourceIPAddress is a list, not a string"]


def test_absent_and_null_optional_fields_are_still_no_field(one_of_each):
    rec = copy.deepcopy(one_of_each["cloudtrail"])
    rec.update(sourceIPAddress=None, userAgent=None)
    del rec["userIdentity"]
    e = event(rec, "x")
    assert (e.identity, e.source_ip, e.user_agent) == ("aws:unknown", "", "")


@pytest.mark.parametrize("value, why", [
    (123, "123 (1970-01-01T00:02:03Z, before 2000)"),
    ("0946684799", "0946684799 (1999-12-31T23:59:59Z, before 2000)"),
    ("1999-12-31T23:59:59Z", "1999-12-31T23:59:59Z (before 2000)"),
    ("2500-07-30T21:53:13Z", "2500-07-30T21:53:13Z (more than 2 days after now)"),
    (16725225600, "16725225600 (2500-01-01T00:00:00Z, more than 2 days after now)"),
])
def test_times_no_audit_record_can_have_are_refused(value, why):
    with pytest.raises(ValueError) as raised:
        epoch(value)
    assert str(raised.value) == f"not a plausible time: {why}"


def test_plausible_times_are_kept_up_to_two_days_ahead_of_the_clock():
    assert epoch("2000-01-01T00:00:00Z") == utc(2000, 1, 1, 0, 0, 0)
    soon = time.time() + 86400  # a day ahead: a skewed clock, not a typo
    assert epoch(soon) == pytest.approx(soon)
    assert epoch(datetime.fromtimestamp(soon, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")) == pytest.approx(soon, abs=1)
    with pytest.raises(ValueError, match="more than 2 days after now"):
        epoch(time.time() + 3 * 86400)


@pytest.mark.parametrize("source", ["cloudtrail", "kubernetes", "github", "gcp"])
def test_a_record_from_1970_is_a_bad_record(one_of_each, source):
    rec = copy.deepcopy(one_of_each[source])
    for key in [k for k in _TIME_KEYS if k in rec]:
        rec[key] = 123
    with pytest.raises(BadRecord, match=r"^here:7: not a plausible time: 123 \(1970"):
        event(rec, "here:7")


_HALF = b'{"n": 1, "eventName": "GetObj'


def test_a_last_line_still_being_written_is_pending_not_malformed():
    got, problems = read(jsonl(numbered(1)) + _HALF)
    assert [(p, r["n"]) for p, r in got] == [("log:1", 0)]
    assert (problems.malformed, problems.partial) == (0, ["log:2"])
    for half in (b'{"Records": [{"n": 1}, {"n"', b'{"n": 1,', b"{", b'{"n": 1}{"n": 2'):  # other shapes it takes
        got, problems = read(jsonl(numbered(1)) + half)
        assert [r["n"] for _, r in got] == [0]
        assert (problems.malformed, problems.partial) == (0, ["log:2"]), half


def test_a_finished_last_line_is_read_or_malformed_as_any_other():
    got, problems = read(jsonl(numbered(1)) + _HALF + b"\n")  # ended by a newline: it will not be completed
    assert (problems.malformed, problems.partial, problems.examples) == (1, [], ["log:2: not JSON"])
    got, problems = read(jsonl(numbered(1)) + _trail(numbered(2, 1)))  # whole, with no newline
    assert [r["n"] for _, r in got] == [0, 1, 2] and problems == ReadProblems()


@pytest.mark.parametrize("how", ["gzip", "stdin"])
def test_an_unfinished_last_line_of_what_cannot_grow_is_malformed(how):
    data = jsonl(numbered(1)) + _HALF
    got, problems = read(gzip.compress(data)) if how == "gzip" else read(data, growing=False)
    assert [r["n"] for _, r in got] == [0]
    assert (problems.malformed, problems.partial, problems.examples) == (1, [], ["log:2: not JSON"])


def test_the_next_run_reads_a_line_once_it_is_finished(tmp_path, stratus):
    recs = [json.dumps(r).encode() for r in stratus["aws.credential-access.ec2-steal-instance-credentials.json"][:2]]
    log = tmp_path / "trail.jsonl"
    log.write_bytes(recs[0] + b"\n" + recs[1][:40])
    ledger = _Ledger()
    w, problems = _feed([log], ledger)
    assert (w.stats.events, problems.malformed, problems.partial) == (1, 0, [f"{log}:2"])
    with log.open("ab") as fh:
        fh.write(recs[1][40:] + b"\n")
    w, problems = _feed([log], ledger)
    assert (w.stats.events, problems) == (1, ReadProblems())
    assert {row[1:2] + row[3:] for row in ledger.rows.values()} == {(log.stat().st_size, 2)}


def test_a_one_line_file_still_being_written_is_read_once_whole(tmp_path, stratus):
    doc = _trail(stratus["aws.defense-evasion.cloudtrail-stop.json"])
    log = tmp_path / "trail.json"
    log.write_bytes(doc[:len(doc) // 2])
    ledger = _Ledger()
    w, problems = _feed([log], ledger)
    assert (w.stats.events, problems.partial) == (0, [f"{log}:1"])
    log.write_bytes(doc)
    w, problems = _feed([log], ledger)
    assert (w.stats.events, problems) == (len(stratus["aws.defense-evasion.cloudtrail-stop.json"]), ReadProblems())


class _Reading(io.BytesIO):
    """A stream that remembers how far it had been read when each record came out."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.furthest = 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.furthest = max(self.furthest, self.tell())
        return out


@pytest.mark.parametrize("indent", [None, 1], ids=["one line", "pretty-printed"])
def test_a_big_delivery_file_is_read_record_by_record(indent):
    recs = [{"n": i, "pad": "x" * 1000} for i in range(12_000)]
    data = json.dumps({"Records": recs, "Owner": "x"}, indent=indent).encode() + b"\n" + jsonl(numbered(1, 12_000))
    assert len(data) > 1.3 * reader.STREAM_OVER
    stream, problems = _Reading(data), ReadProblems()
    it = records(stream, "log", problems)
    first = next(it)
    assert first == ("log:1#0", recs[0])
    assert stream.furthest < reader.STREAM_OVER + 3 * MIB  # the rest is not read yet, let alone decoded
    got = [first, *it]
    assert [r["n"] for _, r in got] == list(range(12_001))
    assert got[-1][0] == f"log:{data.count(NEWLINE)}"  # the line after it keeps its number
    assert problems == ReadProblems()  # a clean end ("]", more members, "}") is no error


@pytest.fixture
def small_streams(monkeypatch):
    """Documents over 200 bytes are streamed, so the cases below stay small."""
    monkeypatch.setattr(reader, "STREAM_OVER", 200)


_BIG = [{"n": i, "pad": "é" * 40} for i in range(6)]


@pytest.mark.parametrize("tail, kept, example", [
    (b"", 6, None),
    (b' , "Owner": {"a": [1]} ', 6, None),
    (b" junk", 6, "log:1: not JSON after its records"),
], ids=["clean end", "more members", "junk after"])
def test_a_streamed_document_ends_cleanly_or_says_what_follows_it(small_streams, tail, kept, example):
    doc = json.dumps({"Records": _BIG}, ensure_ascii=False).encode()[:-1] + tail + b"}"
    got, problems = read(doc + b"\n" + jsonl(numbered(1, 6)))
    assert [(p, r["n"]) for p, r in got] == [(f"log:1#{i}", i) for i in range(kept)] + [("log:2", 6)]
    assert problems.examples == ([example] if example else [])


def test_streamed_documents_back_to_back_and_damaged(small_streams):
    good = json.dumps({"Records": _BIG}).encode()
    bad = good.replace(b'{"n": 2', b'{"n": oops')
    got, problems = read(bad + good + b"\n" + good[:-30] + b"\n" + jsonl(numbered(1, 6)))
    assert [(p, r["n"]) for p, r in got] == (
        [("log:1#0", 0), ("log:1#1", 1)] + [(f"log:1#{i + 3}", i) for i in range(6)]
        + [(f"log:2#{i}", i) for i in range(5)] + [("log:3", 6)])
    assert problems.examples == ["log:1#2: not JSON (Expecting value); the rest of the document is lost",
                                 "log:2#5: the document is cut short (truncated?); the records before were read"]


def test_a_streamed_pretty_printed_document_keeps_line_numbers_and_skips_damage(small_streams):
    pretty = json.dumps({"Records": _BIG}, indent=2).encode()
    lines = pretty.count(b"\n") + 1
    got, problems = read(jsonl(numbered(1)) + pretty + b"\n" + jsonl(numbered(1, 6)))
    assert [p for p, _ in got] == ["log:1"] + [f"log:2#{i}" for i in range(6)] + [f"log:{lines + 2}"]
    assert problems == ReadProblems()
    damaged = pretty.replace(b'"n": 3', b'"n": oops')
    got, problems = read(damaged + b"\n" + jsonl(numbered(1, 6)))
    assert [(p, r["n"]) for p, r in got] == [(f"log:1#{i}", i) for i in range(3)] + [(f"log:{lines + 1}", 6)]
    assert problems.examples == ["log:1#3: not JSON (Expecting value); the rest of the document is lost"]


def test_a_streamed_document_from_gzip_and_text_that_is_not_utf8(small_streams):
    doc = json.dumps({"Records": _BIG}, ensure_ascii=False).encode()
    data = doc + b"\n" + b'{"n": 6, "v": "a\xffb"}\n' + doc + b"\n"
    for payload in (data, gzip.compress(data)):
        got, problems = read(payload)
        assert [r["n"] for _, r in got] == [*range(7), *range(6)]
        assert got[0][1]["pad"] == "é" * 40
        assert problems == ReadProblems()


def test_a_folder_that_cannot_be_listed_is_an_input_problem(tmp_path, monkeypatch):
    logs = tmp_path / "logs"
    (logs / "locked").mkdir(parents=True)
    (logs / "locked" / "x.json").write_bytes(b"{}")
    (logs / "a.json").write_bytes(b"{}")
    (logs / "locked").chmod(0)
    try:
        if os.geteuid() == 0:  # root lists any folder: refuse it as the kernel would anyone else
            scandir = os.scandir

            def refusing(path: Any = ".") -> Any:
                if os.fspath(path) == str(logs / "locked"):
                    raise PermissionError(13, "Permission denied", os.fspath(path))
                return scandir(path)

            monkeypatch.setattr(os, "scandir", refusing)
        problems = ReadProblems()
        assert list(log_files([str(logs)], problems)) == [str(logs / "a.json")]
        assert problems.inputs == [f"{logs / 'locked'}: cannot list folder: Permission denied"]
    finally:
        (logs / "locked").chmod(0o755)


def test_the_ledger_reads_a_file_again_for_another_cluster(tmp_path, falco):
    rec = _falco_record(falco, "create_secret.json")
    log = tmp_path / "audit.jsonl"
    log.write_text(json.dumps(rec) + "\n")
    ledger = _Ledger()
    w, _ = _feed([log], ledger, cluster="prod")
    assert w.stats.events == 1
    w, _ = _feed([log], ledger, cluster="prod")
    assert (w.stats.events, w.stats.files_unchanged) == (0, 1)
    w, _ = _feed([log], ledger, cluster="staging")
    assert (w.stats.events, w.stats.files_unchanged) == (1, 0)
    assert [k.split("/")[0] for k in w.profiles] == ["k8s:staging"]
