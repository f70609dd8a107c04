"""Where a CI script sends the secrets it holds: to the job log, to a file, or into a
command that consumes them.

Only what a job log or its artifacts can show matters: `echo $TOKEN` prints it,
`echo $TOKEN | base64` prints it encoded (which defeats log masking), `echo $TOKEN > key`
writes it, while `echo $TOKEN | docker login --password-stdin` or `curl -H "... $TOKEN"`
hand it to a program and print nothing. The shell is read a line at a time, quotes,
`$(...)` and heredocs respected; it is a reading for review, not a shell parser.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

SecretRefs = Callable[[str], list[str]]  # the secret names a piece of script refers to


@dataclass(frozen=True)
class Exposure:
    name: str  # the secret (variable name, or `secrets.NAME`)
    how: str  # print | write | environment | trace
    target: str = ""  # the file written, or where the print goes when not the log itself
    line: int = 0  # line of the script, from 0


# commands whose output is their input transformed: a secret goes on through them
_PASSTHROUGH = frozenset({"base64", "base32", "xxd", "od", "hexdump", "rev", "sed", "awk", "tr", "cut",
                          "head", "tail", "cat", "jq", "yq", "sort", "uniq", "grep", "fold", "gzip"})
_PRINTERS = frozenset({"echo", "printf"})
# files the runner reads back and never shows: environment, outputs (masked), PATH
_RUNNER_FILES = re.compile(r"^[\"']?\$\{?(?:GITHUB_ENV|GITHUB_OUTPUT|GITHUB_PATH|GITHUB_STATE)\}?[\"']?$")
_SUMMARY = re.compile(r"^[\"']?\$\{?GITHUB_STEP_SUMMARY\}?[\"']?$")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_REDIRECT = re.compile(r"(?<![<&\d>])(\d?)(>>?|&>)\s*(&\d|[^\s;|&<>]+)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_MASK = "::add-mask::"
SUMMARY = "the job summary"


def exposures(script: str, refs: SecretRefs, has_secrets: bool) -> list[Exposure]:
    """What the script exposes. `has_secrets`: secrets are in its environment, so dumping
    the environment or tracing commands exposes them."""
    out: list[Exposure] = []
    lines = _logical_lines(script)
    i = 0
    while i < len(lines):
        n, line = lines[i]
        i += 1
        if _MASK in line:
            continue
        doc = _HEREDOC.search(line)
        body: list[str] = []
        if doc:
            while i < len(lines) and lines[i][1].strip() != doc.group(2):
                body.append(lines[i][1])
                i += 1
            i += 1
            if doc.group(1):  # a quoted delimiter: the body is not expanded
                body = []
        for pipeline in _split(line, ("&&", "||", ";", "&")):
            out.extend(_pipeline(pipeline, n, refs, "\n".join(body) if doc and doc.group(0) in pipeline else ""))
        if has_secrets:
            out.extend(_whole_environment(line, n))
    return out


def _pipeline(text: str, n: int, refs: SecretRefs, heredoc: str) -> list[Exposure]:
    segments = _split(text, ("|",))
    out: list[Exposure] = []
    for k, segment in enumerate(segments):
        words = _command(segment)
        if not words:
            continue
        cmd = words[0]
        if heredoc and _HEREDOC.search(segment):
            if cmd not in ("cat", "tee"):
                continue  # `kubectl apply -f - <<EOF`, `psql <<EOF`: a program reads it
            names = refs(heredoc)
        elif cmd in _PRINTERS:
            names = refs(_without_redirects(segment))
        elif cmd == "printenv" and len(words) > 1:
            names = [r for w in words[1:] for r in refs(f"${w}")]
        else:
            continue
        if not names:
            continue
        how, target = _destination(segments, k)
        if how:
            out.extend(Exposure(name, how, target, n) for name in dict.fromkeys(names))
    return out


def _destination(segments: list[str], k: int) -> tuple[str, str]:
    """Where the output of segment k ends up: ("print", ...), ("write", file) or ("", "")."""
    for j in range(k, len(segments)):
        words = _command(segments[j])
        if j > k:
            if not words:
                return "", ""
            if words[0] == "tee":
                files = [w for w in words[1:] if not w.startswith("-")]
                return "print", files[0] if files else ""
            if words[0] not in _PASSTHROUGH:
                return "", ""  # a program consumes it
        for redirect in _redirects(segments[j]):
            fd, _, target = redirect
            if fd == "2":
                continue  # the command's errors, not what it prints
            if target in ("&2", "&1"):
                return "print", ""
            if target == "/dev/null" or _RUNNER_FILES.match(target):
                return "", ""
            if _SUMMARY.match(target):
                return "print", SUMMARY
            return "write", target.strip("'\"")
    return "print", ""


def _whole_environment(line: str, n: int) -> list[Exposure]:
    out = []
    for pipeline in _split(line, ("&&", "||", ";", "&")):
        words = _command(_split(pipeline, ("|",))[0])
        if words in (["env"], ["printenv"], ["export"], ["export", "-p"], ["set"], ["declare", "-x"]):
            out.append(Exposure("", "environment", "", n))
        elif words[:1] == ["set"] and any(re.fullmatch(r"-[a-wyz]*x[a-z]*", w) for w in words[1:]) or \
                words[:2] == ["set", "-o"] and "xtrace" in words or \
                words[:1] in (["bash"], ["sh"]) and any(re.fullmatch(r"-[a-wyz]*x[a-z]*", w) for w in words[1:]):
            out.append(Exposure("", "trace", "", n))
    return out


def _redirects(segment: str) -> list[tuple[str, str, str]]:
    """(fd, operator, target) of the segment's output redirections, quotes respected."""
    blank = _blank_quotes(segment)
    out = []
    for m in _REDIRECT.finditer(blank):
        start, end = m.span(3)
        out.append((m.group(1), m.group(2), segment[start:end]))
    return out


def _without_redirects(segment: str) -> str:
    blank = _blank_quotes(segment)
    for m in reversed(list(_REDIRECT.finditer(blank))):
        segment = segment[:m.start()] + " " + segment[m.end():]
    return segment


def _blank_quotes(text: str) -> str:
    """The text with what is inside quotes replaced, same length: `>` in a string is text."""
    out, quote = [], ""
    for c in text:
        if quote:
            if c == quote:
                quote = ""
                out.append(c)
            else:
                out.append("x")
        else:
            if c in "'\"":
                quote = c
            out.append(c)
    return "".join(out)


def _without_substitutions(text: str) -> str:
    """`$(...)` and backticks replaced by a placeholder: what runs inside is captured."""
    out, i, depth = [], 0, 0
    while i < len(text):
        if text.startswith("$(", i):
            depth += 1
            if depth == 1:
                out.append("$SUB")
            i += 2
            continue
        c = text[i]
        if depth:
            depth += c == "("
            depth -= c == ")"
        elif c == "`":
            end = text.find("`", i + 1)
            out.append("$SUB")
            i = len(text) if end < 0 else end + 1
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _logical_lines(script: str) -> list[tuple[int, str]]:
    """(first line number, text) with backslash continuations joined."""
    out: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(script.splitlines()):
        if pending is not None:
            pending = (pending[0], pending[1] + " " + raw.strip())
        else:
            pending = (n, raw)
        if pending[1].endswith("\\"):
            pending = (pending[0], pending[1][:-1])
            continue
        out.append(pending)
        pending = None
    if pending is not None:
        out.append(pending)
    return out


def _split(text: str, separators: tuple[str, ...]) -> list[str]:
    """`text` split on separators found outside quotes, `$(...)`, `${...}` and backticks."""
    parts, start, i, quote, depth = [], 0, 0, "", 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\" and quote == '"':
                i += 2
                continue
            if c == quote:
                quote = ""
            elif quote == '"' and text.startswith("$(", i):
                depth += 1  # inside "...$(...)..." the parentheses still nest
        elif c in "'\"`":
            quote = c
        elif c == "\\":
            i += 2
            continue
        elif text.startswith("$(", i) or text.startswith("${", i):
            depth += 1
            i += 2
            continue
        elif c in ")}" and depth:
            depth -= 1
        elif c == "#" and (i == 0 or text[i - 1].isspace()) and not depth:
            break  # a comment
        elif not depth:
            sep = next((s for s in separators if text.startswith(s, i)), None)
            # `|` alone, not `||`; `&` alone, not `&&`, `>&2` or `&>`
            if sep == "|" and text.startswith("||", i):
                sep = None
            if sep == "&" and (text.startswith("&&", i) or text[i - 1:i] in (">", "<")
                               or text.startswith("&>", i)):
                sep = None
            if sep:
                parts.append(text[start:i])
                i += len(sep)
                start = i
                continue
        i += 1
    parts.append(text[start:i])
    return [p.strip() for p in parts if p.strip()]


def _command(segment: str) -> list[str]:
    """The words of a simple command without leading assignments and wrappers."""
    words = _without_substitutions(segment).replace("(", " ").replace(")", " ").split()
    while words and (_ASSIGNMENT.match(words[0]) or words[0] in ("sudo", "command", "exec", "then",
                                                                   "do", "else", "{", "!", "time")):
        if _ASSIGNMENT.match(words[0]) and len(words) == 1:
            return []
        words = words[1:]
    return words
