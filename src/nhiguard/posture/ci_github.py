"""GitHub Actions workflows: how the jobs get, hold and expose their credentials.

Reads `.github/workflows/*.yml` (and any YAML file given that has `jobs:` with `runs-on` or
`steps`). Secrets are known by name only (`${{ secrets.NAME }}`); nothing here sees a value.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from nhiguard.model.issue import Issue, IssueLocation
from nhiguard.model.severity import Severity
from nhiguard.posture import checks as C
from nhiguard.posture.collect import IssueCollector
from nhiguard.posture.shell import exposures
from nhiguard.posture.yamlmap import YList, YMap, line_of, text, text_line

_SECRET_REF = re.compile(r"\$\{\{\s*secrets\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]\s*\])\s*\}\}")
_SHELL_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_STATIC_ENV = {
    "AWS_ACCESS_KEY_ID": "AWS", "AWS_SECRET_ACCESS_KEY": "AWS",
    "GOOGLE_APPLICATION_CREDENTIALS_JSON": "GCP", "GOOGLE_CREDENTIALS": "GCP", "GCP_SA_KEY": "GCP",
    "GCLOUD_SERVICE_KEY": "GCP", "AZURE_CLIENT_SECRET": "Azure", "ARM_CLIENT_SECRET": "Azure",
    "AZURE_CREDENTIALS": "Azure",
}
_STATIC_WITH = {
    "aws-actions/configure-aws-credentials": ("AWS", ("aws-access-key-id", "aws-secret-access-key")),
    "google-github-actions/auth": ("GCP", ("credentials_json",)),
    "google-github-actions/setup-gcloud": ("GCP", ("service_account_key",)),
    "azure/login": ("Azure", ("creds", "client-secret")),
}
# what names the pull request's code: its head, its merge commit, its fork, its number
_HEAD_REF = re.compile(r"github\.(?:event\.pull_request\.(?:head\.(?:sha|ref|repo\.full_name)|merge_commit_sha|number)|"
                       r"head_ref|event\.number|event\.workflow_run\.(?:head_(?:sha|branch)|head_repository\.full_name|"
                       r"pull_requests))|refs/pull/")
_PAT_NAME = re.compile(r"(?:^|_)PAT(?:$|_)|PERSONAL_ACCESS_TOKEN|^GH_TOKEN$|^GITHUB_PAT|_GH_TOKEN$|^BOT_TOKEN$",
                       re.IGNORECASE)
_APP_TOKEN_ACTIONS = ("actions/create-github-app-token", "tibdex/github-app-token")
_DEPLOY_WORD = re.compile(r"deploy|release|publish|rollout|promote", re.IGNORECASE)
_DEPLOY_RUN = re.compile(r"kubectl\s+(?:apply|set\s+image|rollout)|helm\s+(?:upgrade|install)|"
                         r"terraform\s+apply|cdk\s+deploy|serverless\s+deploy|sam\s+deploy|"
                         r"gcloud\s+\S*\s*deploy|vercel\s+.*--prod|fly(?:ctl)?\s+deploy|"
                         r"aws\s+(?:ecs\s+update-service|cloudformation\s+deploy|s3\s+sync)")
_PROD = re.compile(r"(?<![A-Za-z])(?:prod|production|live)(?![A-Za-z])", re.IGNORECASE)
# "production" that means how a build is made, not where it goes
_BUILD_MODE = re.compile(r"\b[A-Z_]*ENV\s*=\s*['\"]?(?:prod|production)\b|--(?:mode|configuration|omit)[= ]['\"]?"
                         r"(?:prod|production|dev)\b|\b(?:npm|yarn|pnpm)\s+(?:ci|install)\b[^\n;&|]*--prod(?:uction)?\b|"
                         r"\bbuild[:-](?:prod|production)\b", re.IGNORECASE)
_ENV_WORDS = (("production", re.compile(r"(?<![A-Za-z])(?:prod|production|live)(?![A-Za-z])", re.I)),
              ("staging", re.compile(r"(?<![A-Za-z])(?:stag|staging|preprod|uat)(?![A-Za-z])", re.I)),
              ("development", re.compile(r"(?<![A-Za-z])(?:dev|develop|development|test|qa)(?![A-Za-z])", re.I)))


def looks_like_workflow(doc: Any) -> bool:
    jobs = doc.get("jobs") if isinstance(doc, YMap) else None
    return isinstance(jobs, YMap) and any(
        isinstance(j, YMap) and ("runs-on" in j or "steps" in j or "uses" in j) for j in jobs.values())


def _secrets_in(value: Any) -> list[tuple[str, int]]:
    """(secret name, line) of every `${{ secrets.NAME }}` in a value, at any depth."""
    out: list[tuple[str, int]] = []
    if isinstance(value, str):
        for m in _SECRET_REF.finditer(value):
            out.append((m.group(1) or m.group(2), line_of(value)))
    elif isinstance(value, YMap):
        for v in value.values():
            out.extend(_secrets_in(v))
    elif isinstance(value, list):
        for v in value:
            out.extend(_secrets_in(v))
    return out


def _triggers(doc: YMap) -> set[str]:
    on = doc.get("on", doc.get("true"))
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {text(x) for x in on}
    if isinstance(on, YMap):
        return set(on)
    return set()


def _steps(job: YMap) -> list[YMap]:
    steps = job.get("steps")
    return [s for s in steps if isinstance(s, YMap)] if isinstance(steps, YList) else []


def _uses(step: YMap) -> str:
    return text(step.get("uses")).split("@", 1)[0].lower()


def _step_name(step: YMap, n: int) -> str:
    return text(step.get("name")) or text(step.get("uses")) or (text(step.get("run")).strip().splitlines() or [f"step {n}"])[0][:80]


def _job_name(job_id: str, job: YMap) -> str:
    return text(job.get("name")) or job_id


def _environment(job: YMap) -> str | None:
    env = job.get("environment")
    if isinstance(env, YMap):
        return text(env.get("name")) or None
    return text(env) or None


class _Audit(IssueCollector):
    def __init__(self, path: str, doc: YMap) -> None:
        super().__init__(path)
        self.doc = doc
        jobs = doc.get("jobs")
        self.jobs: list[tuple[str, YMap]] = [(k, v) for k, v in jobs.items() if isinstance(v, YMap)] \
            if isinstance(jobs, YMap) else []
        self.workflow_env = doc.get("env") if isinstance(doc.get("env"), YMap) else YMap()

    def run(self) -> list[Issue]:
        self.static_credentials()
        self.untrusted_code()
        self.printed_secrets()
        self.permissions()
        self.long_lived_tokens()
        self.production_deploys()
        self.shared_secrets()
        return self.issues

    # ------------------------------------------------------------------ checks

    def static_credentials(self) -> None:
        for job_id, job in self.jobs:
            seen: dict[str, list[IssueLocation]] = defaultdict(list)
            names: dict[str, set[str]] = defaultdict(set)
            envs = [(self.workflow_env, None), (job.get("env"), None)]
            envs += [(s.get("env"), _step_name(s, i)) for i, s in enumerate(_steps(job), 1)]
            for env, step in envs:
                if not isinstance(env, YMap):
                    continue
                for key, value in env.items():
                    cloud = _STATIC_ENV.get(key.upper())
                    refs = _secrets_in(value)
                    if cloud and refs:
                        seen[cloud].append(self.loc(env.line_of(key), job=job_id, step=step))
                        names[cloud].update(n for n, _ in refs)
            for i, step in enumerate(_steps(job), 1):
                spec = _STATIC_WITH.get(_uses(step))
                with_ = step.get("with")
                if spec is None or not isinstance(with_, YMap):
                    continue
                cloud, keys = spec
                for key in keys:
                    refs = _secrets_in(with_.get(key))
                    if refs:
                        seen[cloud].append(self.loc(with_.line_of(key), job=job_id, step=_step_name(step, i)))
                        names[cloud].update(n for n, _ in refs)
            for cloud, locs in seen.items():
                self.add(C.STATIC_CLOUD_CREDENTIALS,
                         f"job {job_id!r} authenticates to {cloud} with stored keys "
                         f"({', '.join(sorted(names[cloud]))}) instead of the workflow's OIDC token",
                         locs, cloud=cloud, secrets=sorted(names[cloud]), job=job_id)

    def untrusted_code(self) -> None:
        risky = _triggers(self.doc) & {"pull_request_target", "workflow_run"}
        if not risky:
            return
        for job_id, job in self.jobs:
            heads = []
            for i, step in enumerate(_steps(job), 1):
                with_ = step.get("with") if isinstance(step.get("with"), YMap) else YMap()
                ref = with_.get("ref", with_.get("repository"))
                run = text(step.get("run"))
                checkout = _uses(step) == "actions/checkout" and any(
                    _HEAD_REF.search(text(with_.get(k))) for k in ("ref", "repository"))
                if checkout or (run and (re.search(r"\bgh\s+pr\s+checkout\b", run) or (
                        re.search(r"\bgit\s+(?:fetch|checkout|pull|switch)\b", run) and _HEAD_REF.search(run)))):
                    heads.append(self.loc(line_of(ref, line_of(step)) if ref is not None else line_of(step),
                                          job=job_id, step=_step_name(step, i)))
            if not heads:
                continue
            secrets = sorted({n for n, _ in _secrets_in(job) + _secrets_in(self.workflow_env)} - {"GITHUB_TOKEN"})
            inherits = text(job.get("secrets")) == "inherit"
            if secrets or inherits:
                what = ", ".join(secrets) if secrets else "every secret (secrets: inherit)"
                self.add(C.UNTRUSTED_CODE_WITH_SECRETS,
                         f"job {job_id!r} runs on {', '.join(sorted(risky))} and checks out the pull "
                         f"request's code while {what} are in scope: the pull request can read them",
                         heads, triggers=sorted(risky), secrets=secrets, job=job_id)
            else:
                self.add(C.UNTRUSTED_CODE_WITH_SECRETS,
                         f"job {job_id!r} runs on {', '.join(sorted(risky))} and checks out the pull "
                         "request's code with a write-capable GITHUB_TOKEN and the cache in reach",
                         heads, Severity.HIGH, triggers=sorted(risky), job=job_id)

    def printed_secrets(self) -> None:
        for job_id, job in self.jobs:
            secret_vars: set[str] = set()
            for env in (self.workflow_env, job.get("env")):
                if isinstance(env, YMap):
                    secret_vars |= {k for k, v in env.items() if _secrets_in(v) and k != "GITHUB_TOKEN"}
            uploads = "uploads artifacts" if any(_uses(s) == "actions/upload-artifact" for s in _steps(job)) else None
            for i, step in enumerate(_steps(job), 1):
                run = step.get("run")
                if not isinstance(run, str):
                    continue
                names = set(secret_vars)
                if isinstance(step.get("env"), YMap):
                    names |= {k for k, v in step["env"].items() if _secrets_in(v) and k != "GITHUB_TOKEN"}
                step_name = _step_name(step, i)
                direct = sorted({n for n, _ in _secrets_in(run)} - {"GITHUB_TOKEN"})
                if direct:
                    self.add(C.SECRET_PRINTED,
                             f"{', '.join(direct)} interpolated into the script of step "
                             f"{step_name!r}: the value becomes script text (use env:)",
                             [self.loc(text_line(run, 0, line_of(step)), job=job_id, step=step_name)],
                             Severity.MEDIUM, secrets=direct, job=job_id)

                def refs(script: str, names: set[str] = names) -> list[str]:
                    found = [f"secrets.{n}" for n, _ in _secrets_in(script) if n != "GITHUB_TOKEN"]
                    return found + [m.group(1) for m in _SHELL_VAR.finditer(script) if m.group(1) in names]

                in_env = f"secrets {', '.join(sorted(names))}"
                for exp in exposures(run, refs, bool(names)):
                    label = exp.name if exp.name.startswith("secrets.") else f"${exp.name}"
                    where = self.loc(text_line(run, exp.line, line_of(step)), job=job_id, step=step_name)
                    self.exposed(exp, f"step {step_name!r}", label, where, uploads, in_env,
                                 secrets=[exp.name] if exp.name else sorted(names), job=job_id)

    def permissions(self) -> None:
        top = self.doc.get("permissions")
        if text(top) == "write-all":
            self.add(C.TOKEN_PERMISSIONS, "the workflow grants the GITHUB_TOKEN every write permission "
                     "(write-all)", [self.loc(self.doc.line_of("permissions"))], Severity.HIGH)
        for job_id, job in self.jobs:
            if text(job.get("permissions")) == "write-all":
                self.add(C.TOKEN_PERMISSIONS, f"job {job_id!r} grants the GITHUB_TOKEN every write "
                         "permission (write-all)", [self.loc(job.line_of("permissions"), job=job_id)],
                         Severity.HIGH, job=job_id)
        if top is None:
            bare = [job_id for job_id, job in self.jobs if "permissions" not in job and "uses" not in job]
            if bare:
                self.add(C.TOKEN_PERMISSIONS,
                         f"no permissions: declared for the workflow or for job(s) {', '.join(bare)}: "
                         "their GITHUB_TOKEN gets the repository's defaults (read and write on "
                         "repositories created before 2023)",
                         [self.loc(self.doc.line_of("jobs"))], jobs=bare)

    def long_lived_tokens(self) -> None:
        if any(_uses(s) in _APP_TOKEN_ACTIONS for _, job in self.jobs for s in _steps(job)):
            return
        uses: dict[str, list[IssueLocation]] = defaultdict(list)
        for job_id, job in self.jobs:
            for name, line in _secrets_in(job):
                if _PAT_NAME.search(name):
                    uses[name].append(self.loc(line, job=job_id))
        for name, line in _secrets_in(self.workflow_env):
            if _PAT_NAME.search(name):
                uses[name].append(self.loc(line))
        for name, locs in uses.items():
            self.add(C.LONG_LIVED_TOKEN, f"secrets.{name} looks like a personal access token; the "
                     "jobs using it could use their GITHUB_TOKEN or a GitHub App token", locs,
                     secret=name)

    def production_deploys(self) -> None:
        for job_id, job in self.jobs:
            if _environment(job) is not None or "uses" in job:
                continue
            runs = " ".join(text(s.get("run")) for s in _steps(job))
            named = f"{job_id} {_job_name(job_id, job)}"
            deploys = _DEPLOY_WORD.search(named) or _DEPLOY_RUN.search(runs) or any(
                "deploy" in _uses(s) for s in _steps(job))
            if not deploys:
                continue
            values = " ".join([named, runs, *(text(v) for s in _steps(job)
                                              if isinstance(s.get("with"), YMap) for v in s["with"].values())])
            if _PROD.search(_BUILD_MODE.sub(" ", values)):
                self.add(C.UNPROTECTED_PRODUCTION_DEPLOY,
                         f"job {job_id!r} deploys to production without `environment:`: no required "
                         "reviewers, branch rules or environment secrets can apply",
                         [self.loc(self.doc["jobs"].line_of(job_id), job=job_id)], job=job_id)

    def shared_secrets(self) -> None:
        used: dict[str, dict[str, list[tuple[str, int, bool]]]] = defaultdict(lambda: defaultdict(list))
        for job_id, job in self.jobs:
            declared = _environment(job)
            label = _label(declared) if declared else _label(f"{job_id} {_job_name(job_id, job)}")
            if label is None:
                continue
            for name, line in _secrets_in(job):
                if name != "GITHUB_TOKEN":
                    used[name][label].append((job_id, line, declared is not None))
        for name, by_env in used.items():
            if len(by_env) < 2:
                continue
            places = [u for uses in by_env.values() for u in uses]
            # environment secrets may share a name: flag when a job without an environment
            # (which can only see repository or organisation secrets) is among them
            if all(scoped for _, _, scoped in places):
                continue
            self.add(C.SECRET_SHARED_ACROSS_ENVIRONMENTS,
                     f"secrets.{name} is used by {', '.join(sorted(by_env))} jobs",
                     [self.loc(line, job=job_id) for job_id, line, _ in places],
                     secret=name, environments=sorted(by_env))


def _label(text_: str) -> str | None:
    for label, rx in _ENV_WORDS:
        if rx.search(text_):
            return label
    return None


def audit(path: str, doc: YMap) -> list[Issue]:
    return _Audit(path, doc).run()
