"""Typed reads of the audit-record fields an Event is built from. A field of the wrong type
(an address that is a list, a user that is a string) raises ValueError, which `normalise`
turns into a BadRecord (counted as malformed, reported with its place), instead of becoming
a value such as "['1.2.3.4']" that would pollute the identity's baseline. A field that is
missing or JSON null is absent, as logs and data-lake exports write optional fields."""

from __future__ import annotations

from typing import Any

_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a number",
          float: "a number", type(None): "null"}


def kind(value: Any) -> str:
    """The JSON name of a value's type: "an object", "a list", "a number", ..."""
    return _KINDS.get(type(value), type(value).__name__)


def text(rec: dict[str, Any], key: str, required: bool = False, where: str = "") -> str:
    """The string field `key` ("" when absent); ValueError when it is no string (or, if
    `required`, null)."""
    value = rec.get(key)
    if isinstance(value, str):
        return value
    if value is None and not required:
        return ""
    raise ValueError(f"{where}{key} is {kind(value)}, not a string")


def obj(rec: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    """The object field `key` ({} when absent); ValueError when it is something else."""
    value = rec.get(key)
    if isinstance(value, dict):
        return value
    if value is None:
        return {}
    raise ValueError(f"{where}{key} is {kind(value)}, not an object")


def texts(rec: dict[str, Any], key: str, where: str = "") -> list[str]:
    """The list-of-strings field `key` ([] when absent); ValueError when it is no list or
    holds something other than strings."""
    value = rec.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{where}{key} is {kind(value)}, not a list of strings")
    for item in value:
        if not isinstance(item, str):
            raise ValueError(f"{where}{key} holds {kind(item)}, not only strings")
    return value
