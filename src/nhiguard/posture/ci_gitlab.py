"""GitLab CI files: how the jobs get, hold and expose their credentials.

Reads `.gitlab-ci.yml` and other YAML with GitLab job shapes (`script:` under job names).
Hidden jobs (`.name`) are templates: `extends:` brings their keys into the jobs that use
them. Variables are known by name only; their values live in GitLab, not in the file.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from nhiguard.model.issue import Issue
from nhiguard.posture import checks as C
from nhiguard.posture.ci_github import _BUILD_MODE, _DEPLOY_RUN, _DEPLOY_WORD, _PROD, _label
from nhiguard.posture.collect import IssueCollector
from nhiguard.posture.shell import exposures
from nhiguard.posture.yamlmap import YList, YMap, line_of, text, text_line

_RESERVED = frozenset({"stages", "variables", "default", "include", "workflow", "image", "services",
                       "before_script", "after_script", "cache", "types", "pages:deploy"})
_STATIC_VARS = {
    "AWS_ACCESS_KEY_ID": "AWS", "AWS_SECRET_ACCESS_KEY": "AWS",
    "GOOGLE_APPLICATION_CREDENTIALS": "GCP", "GCP_SERVICE_KEY": "GCP", "GCLOUD_SERVICE_KEY": "GCP",
    "GOOGLE_CREDENTIALS": "GCP", "ARM_CLIENT_SECRET": "Azure", "AZURE_CLIENT_SECRET": "Azure",
}
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|CREDENTIAL|ACCESS_KEY",
                          re.IGNORECASE)
_PREDEFINED = re.compile(r"^(?:CI|GITLAB|RUNNER)_")


def _secret_vars(script: str) -> list[str]:
    """Variables whose names say they hold secrets; CI_JOB_TOKEN and friends are GitLab's own."""
    return [m.group(1) for m in _VAR.finditer(script)
            if _SECRET_NAME.search(m.group(1)) and not _PREDEFINED.match(m.group(1))]


def looks_like_gitlab(doc: Any) -> bool:
    return isinstance(doc, YMap) and any(
        isinstance(v, YMap) and ("script" in v or "extends" in v or "trigger" in v)
        for k, v in doc.items() if k not in _RESERVED)


def _jobs(doc: YMap) -> list[tuple[str, YMap]]:
    templates = {k: v for k, v in doc.items() if k.startswith(".") and isinstance(v, YMap)}
    out = []
    for name, job in doc.items():
        if name in _RESERVED or name.startswith(".") or not isinstance(job, YMap):
            continue
        out.append((name, _extended(job, templates, 0)))
    return out


def _extended(job: YMap, templates: dict[str, YMap], depth: int) -> YMap:
    parents = job.get("extends")
    names = [text(parents)] if isinstance(parents, str) else [text(p) for p in parents or [] if isinstance(p, str)]
    if not names or depth > 10:
        return job
    merged = YMap()
    merged.line, merged.lines = job.line, {}
    for name in names:
        base = templates.get(name)
        if base is None:
            continue
        base = _extended(base, templates, depth + 1)
        for k, v in base.items():
            merged[k] = v
            merged.lines[k] = base.line_of(k)
    for k, v in job.items():
        merged[k] = v
        merged.lines[k] = job.line_of(k)
    return merged


def _scripts(job: YMap, doc: YMap) -> list[tuple[str, int]]:
    """(command, line) of the job's before_script, script and after_script, with
    `!reference [.template, script]` resolved."""
    out: list[tuple[str, int]] = []
    for key in ("before_script", "script", "after_script"):
        _commands(job.get(key), job.line_of(key), doc, out, 0)
    return out


def _commands(value: Any, line: int, doc: YMap, out: list[tuple[str, int]], depth: int) -> None:
    if depth > 10:
        return
    if isinstance(value, str):
        out.append((str(value), text_line(value, 0, line)))
    elif isinstance(value, YList) and value.tag == "!reference":
        target: Any = doc
        for part in value:
            target = target.get(text(part)) if isinstance(target, YMap) else None
        _commands(target, line_of(value, line), doc, out, depth + 1)
    elif isinstance(value, list):  # a script, or nested lists from anchors
        for item in value:
            _commands(item, line_of(item, line), doc, out, depth + 1)


def _environment(job: YMap) -> str | None:
    env = job.get("environment")
    if isinstance(env, YMap):
        return text(env.get("name")) or None
    return text(env) or None


class _Audit(IssueCollector):
    def __init__(self, path: str, doc: YMap) -> None:
        super().__init__(path)
        self.doc = doc
        self.jobs = _jobs(doc)
        variables = doc.get("variables")
        self.global_vars = variables if isinstance(variables, YMap) else YMap()

    def run(self) -> list[Issue]:
        for name, job in self.jobs:
            self.static_credentials(name, job)
            self.printed_secrets(name, job)
            self.production_deploy(name, job)
        self.shared_variables()
        return self.issues

    def _referenced(self, job: YMap, defined: bool = True) -> list[tuple[str, int]]:
        """Variables the job uses, with (`defined`) the names its `variables:` set."""
        refs = []
        for cmd, line in _scripts(job, self.doc):
            refs.extend((m.group(1), line) for m in _VAR.finditer(cmd))
        variables = job.get("variables")
        if isinstance(variables, YMap):
            for k, v in variables.items():
                if defined:
                    refs.append((k, variables.line_of(k)))
                refs.extend((m.group(1), variables.line_of(k)) for m in _VAR.finditer(text(v)))
        own = set(variables) if isinstance(variables, YMap) and not defined else set()
        return [(v, line) for v, line in refs if v not in own]

    def static_credentials(self, name: str, job: YMap) -> None:
        if "id_tokens" in job:
            return
        found: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for var, line in self._referenced(job):
            cloud = _STATIC_VARS.get(var.upper())
            if cloud:
                found[cloud].append((var, line))
        for cloud, uses in found.items():
            self.add(C.STATIC_CLOUD_CREDENTIALS,
                     f"job {name!r} authenticates to {cloud} with stored keys "
                     f"({', '.join(sorted({v for v, _ in uses}))}) instead of an OIDC id_token",
                     [self.loc(line, job=name) for _, line in uses], cloud=cloud,
                     variables=sorted({v for v, _ in uses}), job=name)

    def printed_secrets(self, name: str, job: YMap) -> None:
        keeps = "keeps artifacts" if job.get("artifacts") else None
        for cmd, line in _scripts(job, self.doc):
            for exp in exposures(cmd, _secret_vars, True):
                self.exposed(exp, f"job {name!r}", f"${exp.name}", self.loc(line + exp.line, job=name),
                             keeps, "CI/CD variables (secrets)", **({"variable": exp.name} if exp.name else {}),
                             job=name)

    def production_deploy(self, name: str, job: YMap) -> None:
        if _environment(job) is not None:
            return
        commands = " ".join(cmd for cmd, _ in _scripts(job, self.doc))
        if not (_DEPLOY_WORD.search(name) or _DEPLOY_RUN.search(commands)):
            return
        if _PROD.search(_BUILD_MODE.sub(" ", f"{name} {commands}")):
            self.add(C.UNPROTECTED_PRODUCTION_DEPLOY,
                     f"job {name!r} deploys to production without `environment:`: protected "
                     "environments and approvals cannot apply to it",
                     [self.loc(self.doc.line_of(name), job=name)], job=name)

    def shared_variables(self) -> None:
        used: dict[str, dict[str, list[tuple[str, int, bool]]]] = defaultdict(lambda: defaultdict(list))
        for name, job in self.jobs:
            declared = _environment(job)
            label = _label(declared) if declared else _label(name)
            if label is None:
                continue
            for var, line in self._referenced(job, defined=False):
                if _SECRET_NAME.search(var) and not _PREDEFINED.match(var):
                    used[var][label].append((name, line, declared is not None))
        for var, by_env in used.items():
            places = [u for uses in by_env.values() for u in uses]
            if len(by_env) < 2 or all(scoped for _, _, scoped in places):
                continue  # variables scoped to environments may share a name
            self.add(C.SECRET_SHARED_ACROSS_ENVIRONMENTS,
                     f"${var} is used by {', '.join(sorted(by_env))} jobs",
                     [self.loc(line, job=job) for job, line, _ in places],
                     variable=var, environments=sorted(by_env))


def audit(path: str, doc: YMap) -> list[Issue]:
    return _Audit(path, doc).run()
