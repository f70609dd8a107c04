"""CI job logs: which step of the job printed a line.

GitLab job traces mark steps with `section_start:TIME:NAME` / `section_end:TIME:NAME`
(amid ANSI escapes); GitHub Actions logs open each step with `##[group]Run ...` in the
job's whole log, and the log archive of a run holds one file per step
(`JOB/N_STEP NAME.txt`). A finding in such a log says the step, beside its line.
"""

from __future__ import annotations

import re

_GITLAB_SECTION = re.compile(rb"section_(start|end):\d+:([A-Za-z0-9_.-]+)")
_GITHUB_GROUP = re.compile(rb"##\[group\](.{1,200})")
_GITHUB_STEP_FILE = re.compile(r"(?:^|/)(?:(?P<job>[^/]+)/)?(?P<n>\d+)_(?P<step>[^/]+)\.txt$")


def looks_like_ci_log(data: bytes) -> bool:
    return b"section_start:" in data or b"##[group]" in data


def steps_of_lines(data: bytes, lines: set[int]) -> dict[int, str]:
    """The step each of `lines` (1-based) belongs to, for those inside one."""
    if not lines or not looks_like_ci_log(data):
        return {}
    wanted = sorted(lines)
    out: dict[int, str] = {}
    open_sections: list[str] = []
    group: str | None = None
    line_no = 1
    pos = 0
    i = 0
    last = wanted[-1]
    while i < len(wanted) and line_no <= last:
        end = data.find(b"\n", pos)
        line = data[pos:] if end < 0 else data[pos:end]
        for m in _GITLAB_SECTION.finditer(line):
            name = m.group(2).decode("ascii", "replace")
            if m.group(1) == b"start":
                open_sections.append(name)
            elif name in open_sections:
                del open_sections[len(open_sections) - 1 - open_sections[::-1].index(name)]
        g = _GITHUB_GROUP.search(line)
        if g:
            group = g.group(1).strip().decode("utf-8", "replace")
        while i < len(wanted) and wanted[i] == line_no:
            step = open_sections[-1] if open_sections else group
            if step:
                out[line_no] = step
            i += 1
        if end < 0:
            break
        pos = end + 1
        line_no += 1
    return out


def member_step(route: str, content_step: str | None) -> str | None:
    """The step of a match in an archive member: a GitHub Actions log archive holds one file
    per step (`build/3_Run tests.txt`: `build: Run tests`) and one per job (`1_build.txt`,
    whose own `##[group]` lines name the step: `build: Run ./test.sh`); elsewhere, what the
    member's content said."""
    member = route.rsplit("zip:", 1)[1].split("!", 1)[0] if "zip:" in route else ""
    m = _GITHUB_STEP_FILE.search(member)
    if m is None:
        return content_step
    if m.group("job"):
        return f"{m.group('job')}: {m.group('step')}"
    return f"{m.group('step')}: {content_step}" if content_step else m.group("step")
