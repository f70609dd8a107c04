"""Work-tree status computed ahead of time, beside the start-up of the scan.

The status of a large work tree is most of what a rescan of an unchanged repository costs.
The CLI starts it as soon as it knows the targets, so it runs on another core while the
parent imports the store and loads rules; `GitSource` takes the result instead of asking
libgit2 again. Two routes give the same answer (libgit2's status flags):

- the `git` command (`status --porcelain=v2 -z`), when it is installed: it trusts the
  index's cached file stats where libgit2 re-reads many files, so on a 50,000-file work tree
  it answers in a third of libgit2's time; it runs with optional locks off, so it never
  rewrites the user's index;
- otherwise libgit2 in a forked child.

Where neither can start, or the answer is unusable, nothing is prefetched and GitSource asks
libgit2 itself: the outcome is the same, only slower.

This module imports nothing heavy: the parent must not pay for pygit2 to start the child.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from dataclasses import dataclass

# One libgit2 call, shared with GitSource so both paths ask exactly the same question.
STATUS_OPTIONS = {"untracked_files": "all", "ignored": False}

# libgit2's git_status_t bits (pygit2.enums.FileStatus), spelled out so that this module
# does not import pygit2; a unit test checks them against pygit2.
INDEX_NEW, INDEX_MODIFIED, INDEX_DELETED, INDEX_RENAMED, INDEX_TYPECHANGE = 1, 2, 4, 8, 16
WT_NEW, WT_MODIFIED, WT_DELETED, WT_TYPECHANGE, WT_RENAMED = 128, 256, 512, 1024, 2048
CONFLICTED = 32768

_INDEX_CODES = {"A": INDEX_NEW, "M": INDEX_MODIFIED, "D": INDEX_DELETED, "R": INDEX_RENAMED,
                "C": INDEX_NEW, "T": INDEX_TYPECHANGE}
_WORKTREE_CODES = {"A": WT_NEW, "M": WT_MODIFIED, "D": WT_DELETED, "T": WT_TYPECHANGE}


@dataclass
class _Child:
    target: str
    pid: int = 0  # a forked libgit2 child
    fd: int = -1
    proc: subprocess.Popen | None = None  # a git command


_children: list[_Child] = []
_results: dict[str, dict[str, int]] = {}


def start(target: str) -> None:
    """Start computing the status of the work tree at `target` (a work tree root)."""
    if not os.path.exists(os.path.join(target, ".git")):
        return
    git = shutil.which("git")
    if git is not None:
        try:
            proc = subprocess.Popen(
                [git, "-c", "core.quotePath=false", "status", "--porcelain=v2", "-z",
                 "--untracked-files=all", "--ignored=no", "--no-renames",
                 "--ignore-submodules=dirty"],
                cwd=target, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL, env=_git_env(),
            )
        except OSError:
            pass
        else:
            _children.append(_Child(target, proc=proc))
            return
    if sys.platform.startswith("linux"):
        _fork_libgit2(target)


def _git_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_OPTIONAL_LOCKS"] = "0"  # a scanner must not refresh (write) the user's index
    env["LC_ALL"] = "C"
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        env.pop(name, None)  # the target names the repository, not the caller's environment
    return env


def _fork_libgit2(target: str) -> None:
    try:
        r, w = os.pipe()
        pid = os.fork()
    except OSError:
        return
    if pid == 0:  # the child: answer through the pipe and leave without any cleanup
        code = 0
        try:
            os.close(r)
            payload = pickle.dumps(_libgit2_status(target))
            with os.fdopen(w, "wb") as fh:
                fh.write(payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(w)
    _children.append(_Child(target, pid=pid, fd=r))


def _libgit2_status(target: str) -> tuple[str, dict[str, int]] | None:
    import pygit2

    from nhiguard.sources import gitguard

    repo = pygit2.Repository(target)
    broken = gitguard.broken_loose_objects(repo)
    if broken:
        gitguard.hide(repo, broken)  # libgit2 would hang on them (see gitguard)
    if repo.workdir is None:
        return None
    return os.path.realpath(repo.workdir), dict(repo.status(**STATUS_OPTIONS))


def parse_porcelain_v2(raw: bytes) -> dict[str, int] | None:
    """`git status --porcelain=v2 -z --no-renames` as libgit2 status flags per path.

    None when the output holds anything unexpected: the caller then asks libgit2.
    """
    out: dict[str, int] = {}
    for record in raw.split(b"\0"):
        if not record:
            continue
        kind = record[:2]
        if kind == b"? ":
            out[os.fsdecode(record[2:])] = WT_NEW
        elif kind in (b"1 ", b"u "):
            # "1 XY sub mH mI mW hH hI path" and "u XY sub m1 m2 m3 mW h1 h2 h3 path"
            fields = record.split(b" ", 8 if kind == b"1 " else 10)
            if len(fields) != (9 if kind == b"1 " else 11):
                return None
            path = os.fsdecode(fields[-1])
            if kind == b"u ":
                out[path] = CONFLICTED
                continue
            xy = fields[1].decode("ascii", "replace")
            if len(xy) != 2:
                return None
            flags = _INDEX_CODES.get(xy[0], 0) | _WORKTREE_CODES.get(xy[1], 0)
            if flags:
                out[path] = flags
        elif kind == b"# ":
            continue  # headers, only with --branch
        else:
            return None  # renames (asked off), ignored entries (asked off), or a new format
    return out


def take(workdir: str) -> dict[str, int] | None:
    """The prefetched status of `workdir`, once; None when there is none."""
    _collect()
    return _results.pop(os.path.realpath(workdir), None)


def _collect() -> None:
    while _children:
        child = _children.pop()
        answer = _git_answer(child) if child.proc is not None else _fork_answer(child)
        if answer is not None:
            workdir, status = answer
            _results[workdir] = status


def _git_answer(child: _Child) -> tuple[str, dict[str, int]] | None:
    assert child.proc is not None
    try:
        out, _ = child.proc.communicate()
    except OSError:
        return None
    if child.proc.returncode != 0:
        return None  # not a repository, dubious ownership, an old git: libgit2 will answer
    status = parse_porcelain_v2(out)
    return None if status is None else (os.path.realpath(child.target), status)


def _fork_answer(child: _Child) -> tuple[str, dict[str, int]] | None:
    chunks = []
    try:
        with os.fdopen(child.fd, "rb") as fh:
            while chunk := fh.read(1 << 20):
                chunks.append(chunk)
        _, code = os.waitpid(child.pid, 0)
        return pickle.loads(b"".join(chunks)) if code == 0 and chunks else None
    except (OSError, pickle.UnpicklingError, EOFError):
        return None
