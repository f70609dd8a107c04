"""What every importer needs: reading JSON as the tools write it (one document, several,
or one per line), timestamps in the providers' forms, and problems reported per record."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nhiguard.model.identity import Identity


class ImportError_(ValueError):
    """The whole file cannot be read as the kind asked for; the message says why."""


@dataclass(frozen=True)
class Holding:
    """Every credential of one kind a principal holds, as an export that lists them all (a
    credential report row) says. A credential of that kind known from earlier, created
    before `as_of` and not among `created`, no longer exists: it was deleted or rotated."""

    parent_id: str
    kind: str
    created: tuple[datetime, ...]
    as_of: datetime  # no later than when the export was made
    source: str


@dataclass(frozen=True)
class Roster:
    """Every principal of one kind in an account, as an export that lists them all (the
    credential report lists every IAM user) says. A principal of that kind known from
    earlier and not among `ids` no longer exists, nor do its credentials made before `as_of`."""

    account: str
    kind: str
    ids: frozenset[str]
    as_of: datetime
    source: str


@dataclass
class ImportResult:
    identities: list[Identity] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # records skipped, and why
    warnings: list[str] = field(default_factory=list)  # records imported with a value left out, and why
    notes: list[str] = field(default_factory=list)  # what the user should know; nothing is wrong
    holdings: list[Holding] = field(default_factory=list)
    rosters: list[Roster] = field(default_factory=list)
    records: int = 0  # records read

    def time(self, value: Any, where: str) -> datetime | None:
        """`value` as a time; a value that is no date is a warning (`where` names the record
        and field) and the field is left empty."""
        try:
            return parse_time(value)
        except ValueError:
            self.warnings.append(f"{where} is not a date: {str(value)[:40]!r}; left empty")
            return None

    def add(self, other: ImportResult) -> None:
        self.identities += other.identities
        self.problems += other.problems
        self.warnings += other.warnings
        self.notes += other.notes
        self.holdings += other.holdings
        self.rosters += other.rosters
        self.records += other.records


@dataclass(frozen=True)
class ImportContext:
    source: str  # "aws-credential-report:report.csv"
    fingerprint_key: bytes
    account: str = ""  # what the export cannot say: the cluster, the repository, the app
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    access_key_id: str = ""  # aws-access-keys: the key a get-access-key-last-used output is about

    @property
    def file_name(self) -> str:
        return self.source.partition(":")[2]


_NO_TIME = {"", "n/a", "no_information", "not_supported", "none", "null", "never"}
# ISO 8601 as providers write it: a date, then optionally a time (T or a space), a fraction
# of any length, and a zone (Z, UTC, +hh, +hhmm, +hh:mm). The fraction ends at its last digit:
# "09.000-07:00" is 9 s and a -7 h offset, not 9.00007 s.
_ISO = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})"
                  r"(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2})?)(?:[.,](?P<frac>\d+))?)?"
                  r"\s*(?P<zone>[Zz]|UTC|[+-]\d{2}(?::?\d{2})?)?")


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 in the forms providers write (Z, offsets, fractions of any length, a space
    for T), as UTC; None for the words that mean "no date" (AWS's N/A, no_information,
    not_supported) and for GCP's year-9999 "never". A value that is not a date raises
    ValueError."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in _NO_TIME:
        return None
    m = _ISO.fullmatch(text)
    if m is None:
        raise ValueError(f"not a date: {text[:40]!r}")
    zone = m["zone"] or ""
    if zone.upper() in ("", "Z", "UTC"):
        zone = "+00:00"
    elif len(zone) == 3:
        zone += ":00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    frac = f".{m['frac'][:6].ljust(6, '0')}" if m["frac"] else ""
    when = datetime.fromisoformat(f"{m['date']}T{m['time'] or '00:00:00'}{frac}{zone}")
    if when.year >= 9999:  # GCP's "never expires"
        return None
    return when.astimezone(UTC)


def load_documents(data: bytes, what: str) -> list[Any]:
    """The JSON documents of a file: one document, several in a row, or one per line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_(f"not UTF-8 text (byte {exc.start}): not {what}") from None
    if not text.strip():
        raise ImportError_(f"the file is empty: not {what}")
    decoder = json.JSONDecoder()
    docs, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        try:
            doc, i = decoder.raw_decode(text, i)
        except ValueError as exc:
            line = text.count("\n", 0, i) + 1
            if not docs:
                raise ImportError_(f"not JSON ({str(exc).split(':')[0]} at line {line}): not {what}") from None
            docs.append(_Broken(f"line {line}: not JSON ({str(exc).split(':')[0]})"))
            nl = text.find("\n", i)
            if nl < 0:
                break
            i = nl + 1
            continue
        docs.append(doc)
    return docs


class _Broken:
    """A part of a file that is not JSON, kept in order so the importer reports it."""

    def __init__(self, problem: str) -> None:
        self.problem = problem


def broken(doc: Any) -> str | None:
    return doc.problem if isinstance(doc, _Broken) else None


def tags_of(items: Any) -> dict[str, str]:
    """AWS's [{"Key", "Value"}] lists, Kubernetes/GCP label objects, Azure "k:v" strings."""
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items() if isinstance(v, str | int | float | bool)}
    out: dict[str, str] = {}
    for item in items or ():
        if isinstance(item, dict) and "Key" in item:
            out[str(item["Key"])] = str(item.get("Value", ""))
        elif isinstance(item, str):
            k, sep, v = item.partition(":")
            out[k] = v if sep else ""
    return out


_ENV_WORDS = (("production", ("prod", "production", "prd", "live")),
              ("staging", ("staging", "stage", "stg", "preprod", "uat")),
              ("development", ("dev", "development", "test", "qa", "sandbox")))


def environment_of_text(text: str | None) -> str | None:
    """An environment named by a word in a path, namespace, account alias or tag value:
    production, staging or development, whatever spelling the estate uses."""
    if not text:
        return None
    words = set(re.split(r"[^a-z0-9]+", text.lower()))
    for env, names in _ENV_WORDS:
        if words & set(names):
            return env
    return None


def environment_from_tags(tags: dict[str, str]) -> str | None:
    """The `environment`/`env`/`stage` tag, in the names the checks compare (prod is
    production); a value of no known spelling is kept as it is, lower-cased."""
    for key in ("environment", "env", "Environment", "Env", "stage", "Stage"):
        if tags.get(key):
            return environment_of_text(tags[key]) or tags[key].strip().lower()
    return None


def owner_from_tags(tags: dict[str, str]) -> str | None:
    for key in ("owner", "Owner", "team", "Team", "owner-team", "OwnerTeam"):
        if tags.get(key):
            return tags[key]
    return None
