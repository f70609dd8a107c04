"""The user's on-disk cache of derived data (parsed rule files, compiled Hyperscan databases).

Entries live under `$XDG_CACHE_HOME/nhiguard` (default `~/.cache/nhiguard`), are written
atomically, and are never required: a missing, stale or unreadable entry is rebuilt.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nhiguard"


def load(name: str) -> Any | None:
    """The cached value called `name` (a relative path), or None."""
    try:
        with open(cache_dir() / name, "rb") as fh:
            return pickle.load(fh)
    except Exception:  # noqa: BLE001 - anything wrong with a cache entry means "rebuild it"
        return None


def store(name: str, value: Any) -> None:
    """Cache `value` as `name`; failing to write (read-only home, full disk) is not an error."""
    path = cache_dir() / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            pickle.dump(value, fh)
        os.replace(tmp, path)
    except OSError:
        pass
