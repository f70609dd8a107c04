"""Timestamps as audit logs write them, to epoch seconds: ISO 8601 with Z or an offset and
any number of fraction digits, a space for the T, and epoch numbers in seconds or
milliseconds (GitHub writes milliseconds). Hand-parsed: a log has a timestamp per record,
and `datetime.fromisoformat` per record was a tenth of the whole watch loop.

A time is also refused when no audit record can have it: before 2000 (a timestamp `123` is
1970, an epoch in the wrong unit) or more than two days after the clock (the year 2500 is a
typo; a little ahead is a skewed clock). Either would make an identity's baseline span
decades. The bounds are two comparisons per record: the later one is moved on from the
clock only when a time passes it, so a `--follow` running for weeks keeps up."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

_YEAR_10000 = 253402300800.0
EARLIEST = 946684800.0  # 2000-01-01T00:00:00Z
AHEAD = 2 * 86400.0  # how far past the clock a time may be
_latest = time.time() + AHEAD


def epoch(value: Any) -> float:
    """Epoch seconds of a record's time; ValueError for what is no time or not a plausible one."""
    seconds = _parse(value)
    if EARLIEST <= seconds <= _latest:
        return seconds
    return _implausible(value, seconds)


def _implausible(value: Any, seconds: float) -> float:
    global _latest
    if seconds > _latest:
        _latest = time.time() + AHEAD
        if seconds <= _latest:
            return seconds
    why = "before 2000" if seconds < EARLIEST else "more than 2 days after now"
    if not isinstance(value, str) or value.isdigit():  # an epoch number: say which time it is
        why = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ, ") + why
    raise ValueError(f"not a plausible time: {str(value)[:40]} ({why})")


def _parse(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = value / 1000.0 if value > 10**11 else float(value)
        except OverflowError:  # an integer of hundreds of digits (Python's json reads any)
            seconds = math.inf
        # NaN and Infinity (which Python's json reads too) and times no datetime can hold
        if not (math.isfinite(seconds) and 0 <= seconds < _YEAR_10000):
            raise ValueError(f"not a time: {str(value)[:40]}")
        return seconds
    if not isinstance(value, str) or len(value) < 10:
        raise ValueError(f"not a time: {value!r}")
    if value.isascii() and value.isdigit():
        return _parse(int(value))
    base = _base(value[:19])
    frac = value[19:]
    if not frac:
        return base
    fraction = 0.0
    if frac[0] == ".":
        i = 1
        while i < len(frac) and frac[i] in "0123456789":
            i += 1
        fraction = float("0" + frac[:i]) if i > 1 else 0.0
        frac = frac[i:]
    if frac in ("Z", "z", "", "+00:00", "+0000"):
        return base + fraction
    return base + fraction - _offset(frac)


def _clock(value: str) -> int:
    """Seconds into the day of "YYYY-MM-DDTHH:MM:SS" (or a space for the T)."""
    if len(value) == 10:
        return 0
    if len(value) < 19 or value[10] not in "Tt " or value[13] != ":" or value[16] != ":":
        raise ValueError(f"not a time: {value!r}")
    digits = value[11:13] + value[14:16] + value[17:19]
    if not (digits.isascii() and digits.isdigit()):  # int() would take " 1", "-1" and non-ASCII digits
        raise ValueError(f"not a time: {value!r}")
    h, m, sec = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if h > 23 or m > 59 or sec > 60:
        raise ValueError(f"not a time: {value!r}")
    return h * 3600 + m * 60 + sec


@lru_cache(maxsize=8192)
def _base(head: str) -> float:
    """Epoch seconds of "YYYY-MM-DDTHH:MM:SS" (records of one second share it)."""
    return _day(head[:10]) + _clock(head)


@lru_cache(maxsize=4096)
def _day(date: str) -> float:
    return datetime.fromisoformat(date).replace(tzinfo=UTC).timestamp()


@lru_cache(maxsize=64)
def _offset(zone: str) -> float:
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    if zone[0] not in "+-" or len(digits) != 4 or not (digits.isascii() and digits.isdigit()) \
            or int(digits[:2]) > 23 or int(digits[2:]) > 59:
        raise ValueError(f"not a time zone: {zone!r}")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
