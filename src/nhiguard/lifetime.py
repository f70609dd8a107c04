"""How long helper processes live: no longer than the process that started them."""

from __future__ import annotations

import signal
import sys


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """On Linux, this process gets `sig` when its parent dies, even by SIGKILL: an orphaned
    worker would otherwise go on scanning, and keep the store's connection open."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
