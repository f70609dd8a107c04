"""Work-tree status computed ahead of time, in a child process.

The status of a large work tree costs libgit2 about half a second, all of it holding the
GIL, and a rescan of an unchanged repository costs little else. The CLI starts the status in
a forked child as soon as it knows the targets, so it runs on another core while the parent
imports the store and loads rules; `GitSource` takes the result instead of asking libgit2
again. Where fork is unavailable, or the child fails, nothing is prefetched and GitSource
asks libgit2 itself: the outcome is the same, only slower.

This module imports nothing heavy: the parent must not pay for pygit2 to start the child.
"""

from __future__ import annotations

import os
import pickle
import sys
from dataclasses import dataclass

# One libgit2 call, shared with GitSource so both paths ask exactly the same question.
STATUS_OPTIONS = {"untracked_files": "all", "ignored": False}


@dataclass
class _Child:
    pid: int
    fd: int


_children: list[_Child] = []
_results: dict[str, dict[str, int]] = {}


def start(target: str) -> None:
    """Start computing the status of the work tree at `target` (a work tree root)."""
    if not sys.platform.startswith("linux") or not os.path.exists(os.path.join(target, ".git")):
        return
    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # the child: answer through the pipe and leave without any cleanup
        code = 0
        try:
            os.close(r)
            payload = pickle.dumps(_status(target))
            with os.fdopen(w, "wb") as fh:
                fh.write(payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    _children.append(_Child(pid, r))


def _status(target: str) -> tuple[str, dict[str, int]] | None:
    import pygit2

    repo = pygit2.Repository(target)
    if repo.workdir is None:
        return None
    return os.path.realpath(repo.workdir), dict(repo.status(**STATUS_OPTIONS))



def take(workdir: str) -> dict[str, int] | None:
    """The prefetched status of `workdir`, once; None when there is none."""
    _collect()
    return _results.pop(os.path.realpath(workdir), None)


def _collect() -> None:
    while _children:
        child = _children.pop()
        chunks = []
        try:
            with os.fdopen(child.fd, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    chunks.append(chunk)
            _, code = os.waitpid(child.pid, 0)
            answer = pickle.loads(b"".join(chunks)) if code == 0 and chunks else None
        except (OSError, pickle.UnpicklingError, EOFError):
            continue
        if answer is not None:
            workdir, status = answer
            _results[workdir] = status
