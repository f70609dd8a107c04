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


@dataclass
class ImportResult:
    identities: list[Identity] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # records skipped, and why
    records: int = 0  # records read


@dataclass(frozen=True)
class ImportContext:
    source: str  # "aws-credential-report:report.csv"
    fingerprint_key: bytes
    account: str = ""  # what the export cannot say: the cluster, the repository, the app
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


_NO_TIME = {"", "n/a", "no_information", "not_supported", "none", "null", "never"}


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 in the forms providers write (Z, offsets, fractions, a space for T); None
    for the words that mean "no date". A value that is not a date raises ValueError."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in _NO_TIME:
        return None
    t = text.replace(" ", "T", 1) if len(text) > 10 and text[10] == " " else text
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    if "." in t:  # fractions of any length (Python wants at most 6 digits before 3.11's parser)
        head, _, rest = t.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        t = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    when = datetime.fromisoformat(t)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    if when.year >= 9999:  # GCP's "never expires"
        return None
    return when


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
