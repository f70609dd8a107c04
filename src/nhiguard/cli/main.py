"""`nhiguard` command-line entry point.

Heavy modules are imported inside commands so `nhiguard --help` and small scans
start fast. Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or
input error (including parts of the input that could not be read).
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import click

from nhiguard import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
FORMATS = ["table", "json", "jsonl", "sarif", "csv"]


def _not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """An empty path given on purpose is a mistake, not "use the default"."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter("must not be empty", ctx=ctx, param=param)
    return value


def _writable_output(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """`-o FILE` into a folder that does not exist fails now, not after a long scan."""
    value = _not_empty(ctx, param, value)
    if isinstance(value, str) and value != "-":
        folder = os.path.dirname(os.path.abspath(value))
        if not os.path.isdir(folder):
            raise click.BadParameter(f"the folder {folder} does not exist", ctx=ctx, param=param)
    return value


def _fail(message: str) -> None:
    click.echo(f"nhiguard: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _require_store(settings: Any, then: str = "run `nhiguard scan` first or give --store") -> None:
    """Commands that read a store fail clearly where there is none, rather than create one."""
    if "://" not in settings.store and not os.path.exists(settings.store):
        _fail(f"no store at {settings.store}; {then}")


def _emit(writer: Any, output: str | None) -> None:
    """Run `writer` on the output file (`-o`), or standard output."""
    if output and output != "-":
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                writer(fh)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror}")
    else:
        writer(sys.stdout)
        sys.stdout.flush()


def _settings(ctx: click.Context, **flags: Any):
    from nhiguard.settings import ConfigError, build_settings

    try:
        return build_settings(flags, config_file=ctx.obj.get("config"))
    except ConfigError as exc:
        _fail(str(exc))


def _load_rules(settings):
    from pathlib import Path

    from nhiguard.rules.loader import RuleError, load_rules

    try:
        loaded = load_rules(
            [Path(p) for p in settings.rules],
            disabled=settings.disable_rules,
            include_builtin=not settings.only_custom_rules,
        )
    except RuleError as exc:
        _fail(str(exc))
    if not loaded:
        _fail("no rules to scan with (--only-custom-rules needs --rules FILE)")
    return loaded


def _open_store(settings, read_only: bool = False):
    from nhiguard.store import Store, StoreError

    try:
        store = Store.open(settings.store, read_only=read_only)
    except StoreError as exc:
        _fail(_no_password(str(exc)))
    except Exception as exc:  # noqa: BLE001 - any backend error is an input error here
        _fail(f"cannot open store {_no_password(settings.store)}: {type(exc).__name__}: "
              f"{_no_password(str(exc).strip().splitlines()[0] if str(exc).strip() else '')}")
    _warn_if_shared(settings.store)
    return store


def _warn_if_shared(store: str) -> None:
    """A store nhiguard creates is owner-only; one the user made may not be. It holds no
    secrets, but it maps where they are, so say so rather than change its mode unasked."""
    from nhiguard.store.database import StoreError, parse_url

    try:
        loc = parse_url(store)
    except StoreError:
        return
    if loc.path is None:
        return
    path = str(loc.path)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if mode & 0o077:
        click.echo(f"nhiguard: warning: the store {path} is readable by other users "
                   f"(mode {mode & 0o777:04o}); it maps where secrets are: chmod 600 {path}", err=True)


def _no_password(text: str) -> str:
    """Database URLs in messages lose their password."""
    from nhiguard.store.database import mask_password

    return mask_password(text)


def _write_report(results, fmt: str, output: str | None) -> None:
    import os

    from nhiguard.report import get_reporter

    reporter = get_reporter(fmt)
    if output and output != "-":
        try:
            # a report with raw secrets is readable by its owner only
            mode = 0o600 if results.show_secrets else 0o644
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            if results.show_secrets:
                os.fchmod(fd, 0o600)
            with open(fd, "w", encoding="utf-8", newline="") as fh:
                reporter.write(results, fh)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror}")
    else:
        try:
            reporter.write(results, sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk or a closed descriptor behind stdout
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit flush cannot fail again
            _fail(f"cannot write the report to standard output: {exc.strerror or exc}")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nhiguard")
@click.option("--config", type=click.Path(dir_okay=False), callback=_not_empty, help="Configuration file (default: ./nhiguard.toml or [tool.nhiguard] in ./pyproject.toml).")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """nhiguard: find and manage the secrets of non-human identities."""
    ctx.ensure_object(dict)
    ctx.obj["config"] = config


SCAN_OPTIONS = [
    click.option("--store", help="SQLite path or database URL [default: .nhiguard/nhiguard.db]."),
    click.option("--fail-on", type=click.Choice(["info", "low", "medium", "high", "critical", "live"]), help="Lowest severity that makes the exit code 1, or `live`: only findings verified live (with --verify) [default: info, i.e. any finding]."),
    click.option("--full/--incremental", default=None, help="Rescan blobs the store has already scanned with this ruleset."),
    click.option("--all-objects", is_flag=True, default=None, help="git: also scan unreachable objects (deleted branches, amended commits)."),
    click.option("--since", metavar="REF", help="git: scan only what the commits REF..HEAD introduced (a pull request's diff)."),
    click.option("--staged", is_flag=True, default=None, help="git: scan only the staged changes (pre-commit)."),
    click.option("--pre-push", is_flag=True, default=None, help="Scan only the commits being pushed (as a git pre-push hook: refs on stdin, or pre-commit's PRE_COMMIT_FROM_REF/TO_REF; without either, the commits on no remote)."),
    click.option("--no-history", is_flag=True, default=None, help="Scan git work trees as plain directories."),
    click.option("--respect-gitignore/--no-respect-gitignore", default=None, help="Directories: skip files matched by .gitignore."),
    click.option("--max-file-size", metavar="SIZE", help="Skip files larger than SIZE [default: 50MB]."),
    click.option("--scan-binary", is_flag=True, default=None, help="Also scan files that look binary."),
    click.option("--platform", help="Images: os/arch[/variant] to scan from a multi-platform image [default: this machine's]."),
    click.option("--registry-username", help="Images: registry user [default: from ~/.docker/config.json]."),
    click.option("--registry-password", help="Images: registry password or token (prefer NHIGUARD_REGISTRY_PASSWORD)."),
    click.option("--registry-plain-http", multiple=True, help="Images: a registry host to speak plain HTTP to (loopback always is); repeatable."),
    click.option("--verify", is_flag=True, default=None, help="Ask each provider whether found secrets are live (read-only calls; rereads content)."),
    click.option("--verify-endpoint", "verify_endpoints", multiple=True, help="PROVIDER=URL: where a verifier calls instead (e.g. aws=http://127.0.0.1:5000); repeatable."),
    click.option("--decode-depth", type=int, help="Layers of archives and encodings opened inside a file (0: none) [default: 3]."),
    click.option("--rules", "rules", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Extra rule file (repeatable)."),
    click.option("--disable-rule", "disable_rules", multiple=True, help="Rule id to turn off (repeatable)."),
    click.option("--only-custom-rules", is_flag=True, default=None, help="Use only the rule files given with --rules."),
    click.option("-j", "--jobs", type=int, help="Worker processes [default: all cores]."),
    click.option("--engine", type=click.Choice(["auto", "hyperscan", "python"]), help="Matching engine [default: auto]."),
    click.option("--progress", type=click.Choice(["auto", "on", "off"]), help="Progress bar on stderr [default: auto]."),
]


def scan_options(fn):
    for opt in reversed(SCAN_OPTIONS):
        fn = opt(fn)
    return fn


def _run(ctx: click.Context, targets: tuple[str, ...], flags: dict[str, Any]):
    """Scan with the settings from config, environment and flags; returns (settings, rules, outcome)."""
    settings = _settings(ctx, **flags)
    if not (settings.no_history or settings.since or settings.staged):
        from nhiguard.sources import gitstatus

        for t in targets:  # on another core while rules load and the store opens
            gitstatus.start(t)
    rules = _load_rules(settings)
    from nhiguard.cli.progress import progress_reporter
    from nhiguard.engine.pipeline import InputError, run_scan

    store = _open_store(settings)
    try:
        with progress_reporter(settings.progress) as progress:
            outcome = run_scan(list(targets), settings, rules, store, progress=progress)
    except InputError as exc:
        _fail(str(exc))
    finally:
        store.close()
    return settings, rules, outcome


def _read_baseline(ctx: click.Context, path: str, flags: dict[str, Any]):
    """Read a baseline up front, so a bad one fails before any scanning."""
    from pathlib import Path

    from nhiguard.remediate import baseline as bl

    settings = _settings(ctx, **flags)
    try:
        return bl.read(Path(path), settings.fingerprint_key_bytes)
    except bl.BaselineError as exc:
        _fail(str(exc))


def _report_errors(outcome) -> None:
    errors = outcome.stats.errors
    if errors:
        click.echo(
            f"nhiguard: {len(errors)} part(s) of the input could not be read; "
            "see the report's errors",
            err=True,
        )
        from nhiguard.report.common import printable

        for e in errors[:3]:  # already scrubbed of secrets
            click.echo(f"  {printable(e.path)}: {printable(e.message)}", err=True)
        if len(errors) > 3:
            click.echo(f"  ... and {len(errors) - 3} more", err=True)


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), help="Report format [default: table].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output, help="Write the report to FILE instead of stdout.")
@click.option("--baseline", type=click.Path(dir_okay=False), callback=_not_empty, help="Report only findings that are not in this baseline file.")
@click.option("--show-secrets", is_flag=True, default=None, help="Put raw secret values in the report (never in the store).")
@scan_options
@click.pass_context
def scan(ctx: click.Context, targets: tuple[str, ...], fmt: str | None, output: str | None, baseline: str | None, **flags: Any) -> None:
    """Scan directories, files, git repositories or stdin (-) for secrets.

    \b
    Examples:
      nhiguard scan .                       # work tree + full git history
      nhiguard scan repo.git --all-objects  # bare repository, unreachable objects too
      nhiguard scan . --since origin/main -f sarif -o results.sarif
      nhiguard scan . --baseline .nhiguard-baseline.json   # only new findings
      cat build.log | nhiguard scan -
    """
    base = _read_baseline(ctx, baseline, flags) if baseline else None
    settings, rules, outcome = _run(ctx, targets, flags)
    from nhiguard.model import Severity
    from nhiguard.report.results import ScanResults

    findings = base.new_findings(outcome.findings) if base is not None else outcome.findings
    results = ScanResults(
        tool_version=__version__,
        stats=outcome.stats,
        findings=findings,
        rules={r.id: r for r in rules},
        show_secrets=settings.show_secrets,
    )
    _write_report(results, fmt or "table", output)
    if settings.fail_on == "live":  # only what a provider still accepts fails the run
        failing = [f for f in findings if f.status == "open" and (f.verification or {}).get("status") == "live"]
    else:
        threshold = Severity.parse(settings.fail_on)
        failing = [f for f in findings if f.severity >= threshold and f.status == "open"]
    _report_errors(outcome)
    if outcome.stats.errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_FINDINGS if failing else EXIT_CLEAN)


@cli.group()
def baseline() -> None:
    """Accept today's findings so that scans report only new ones."""


# Scan options that mean nothing to a baseline: it records every finding (nothing fails
# the run) and no provider is asked anything.
_NOT_FOR_BASELINES = {"fail_on": "--fail-on", "verify": "--verify", "verify_endpoints": "--verify-endpoint"}


def _baseline_flags(command: str, flags: dict[str, Any]) -> dict[str, Any]:
    """The scan flags of `baseline create|update`: those that mean nothing to a baseline are
    refused when given, and verification is off whatever the configuration says."""
    given = [opt for name, opt in _NOT_FOR_BASELINES.items() if flags.get(name) not in (None, ())]
    if given:
        _fail(f"baseline {command}: {', '.join(given)} {'does' if len(given) == 1 else 'do'} not "
              "apply: a baseline records every "
              "finding, whatever its severity, and asks no provider; use them with `nhiguard scan`")
    return {**flags, "verify": False, "fail_on": "info", "verify_endpoints": ()}


def _scope(targets: tuple[str, ...], path: str, settings):
    from pathlib import Path

    from nhiguard.remediate import baseline as bl

    return bl.Scope.of(targets, Path(path), no_history=settings.no_history, all_objects=settings.all_objects,
                       respect_gitignore=settings.respect_gitignore, decode_depth=settings.decode_depth)


def _whole_scan_only(command: str, settings) -> None:
    if settings.since or settings.staged or settings.pre_push:
        # a partial scan does not see most findings: a baseline made from one misses them,
        # and pruning by one would empty the baseline
        _fail(f"baseline {command} needs a whole scan; --since, --staged and --pre-push see only "
              "part of it")


@baseline.command("create")
@click.argument("targets", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), callback=_writable_output, default=".nhiguard-baseline.json", show_default=True, help="Baseline file to write.")
@scan_options
@click.pass_context
def baseline_create(ctx: click.Context, targets: tuple[str, ...], output: str, **flags: Any) -> None:
    """Scan TARGETS and write every finding to a baseline file (no raw secrets).

    The baseline records its scope (the targets, relative to its folder, and the options
    that decide what is seen) for `baseline update`. --fail-on and --verify do not apply.

    \b
    Example:
      nhiguard baseline create . && git add .nhiguard-baseline.json
    """
    from pathlib import Path

    from nhiguard.remediate import baseline as bl

    flags = _baseline_flags("create", flags)
    _whole_scan_only("create", _settings(ctx, **flags))
    settings, _, outcome = _run(ctx, targets, flags)
    b = bl.from_findings(outcome.findings, settings.fingerprint_key_bytes, _scope(targets, output, settings))
    bl.write(b, Path(output))
    click.echo(f"wrote {len(b.entries)} finding(s) to {output}", err=True)
    _report_errors(outcome)
    sys.exit(EXIT_ERROR if outcome.stats.errors else EXIT_CLEAN)


@baseline.command("update")
@click.argument("targets", nargs=-1, required=True)
@click.option("--baseline", "path", type=click.Path(dir_okay=False, exists=True), default=".nhiguard-baseline.json", show_default=True)
@scan_options
@click.pass_context
def baseline_update(ctx: click.Context, targets: tuple[str, ...], path: str, **flags: Any) -> None:
    """Scan TARGETS and drop baseline entries that are no longer found.

    The scan must see all that the baseline covers (its targets; no --no-history,
    --respect-gitignore or lower --decode-depth than it was made with); otherwise, and
    with --since, --staged or --pre-push, the baseline is left as it was (exit 2).
    """
    from pathlib import Path

    from nhiguard.remediate import baseline as bl

    flags = _baseline_flags("update", flags)
    settings = _settings(ctx, **flags)
    _whole_scan_only("update", settings)
    old = _read_baseline(ctx, path, flags)
    scope = _scope(targets, path, settings)
    if old.scope is not None:
        unseen = old.scope.unseen_by(scope)
        if unseen:
            _fail(f"{path}: left as it was: this scan would not see all that the baseline covers "
                  f"({'; '.join(unseen)}), and would prune entries it cannot see. The baseline "
                  f"was made from {', '.join(old.scope.targets)} (relative to its folder); update "
                  "it with the same targets and options, or create it again")
    else:
        click.echo(f"{path}: the baseline does not record what it was made from (an older "
                   "nhiguard); pruning by this scan and recording its targets from now on", err=True)
    _, rules, outcome = _run(ctx, targets, flags)
    if outcome.stats.errors:
        click.echo(f"{path}: left as it was: parts of the input could not be read, so a "
                   "finding that was not seen may still exist", err=True)
        _report_errors(outcome)
        sys.exit(EXIT_ERROR)
    new = old.pruned(outcome.findings, active_rules=(r.id for r in rules),
                     unseen_paths=(e.path for e in outcome.stats.skipped))
    bl.write(new.with_scope(old.scope or scope), Path(path))
    click.echo(f"{path}: kept {len(new.entries)}, pruned {len(old.entries) - len(new.entries)}", err=True)
    _report_errors(outcome)
    sys.exit(EXIT_ERROR if outcome.stats.errors else EXIT_CLEAN)


@cli.group()
def rules() -> None:
    """List and lint detection rules."""


@rules.command("list")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--rules", "rules_files", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Extra rule file (repeatable).")
@click.pass_context
def rules_list(ctx: click.Context, fmt: str, rules_files: tuple[str, ...]) -> None:
    """List the rules in effect (built-in plus configured)."""
    settings = _settings(ctx, rules=rules_files)
    loaded = sorted(_load_rules(settings), key=lambda r: r.id)
    if fmt == "json":
        import json

        click.echo(json.dumps([
            {"id": r.id, "name": r.name, "kind": r.kind, "provider": r.provider,
             "severity": str(r.severity), "keywords": list(r.keywords), "references": list(r.references)}
            for r in loaded], indent=2))
        return
    if not sys.stdout.isatty():  # piped: whole ids, one rule a line, tab-separated
        for r in loaded:
            click.echo(f"{r.id}\t{r.name}\t{r.kind}\t{r.severity}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(loaded)} rules", title_justify="left")
    for col in ("id", "name", "kind", "severity"):
        table.add_column(col)
    for r in loaded:
        table.add_row(r.id, r.name, r.kind, str(r.severity))
    Console(file=sys.stdout, force_terminal=sys.stdout.isatty()).print(table)


@rules.command("check")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--engine", type=click.Choice(["auto", "hyperscan", "python"]), default="auto")
def rules_check(files: tuple[str, ...], engine: str) -> None:
    """Lint rule files: every example must match its rule, no negative example may.

    Without FILES, checks the built-in rules.
    """
    from pathlib import Path

    from nhiguard.rules.linter import check_rules
    from nhiguard.rules.loader import RuleError, load_rule_file, load_rules

    try:
        if files:
            selected = [r for f in files for r in load_rule_file(Path(f))]
            # check in the company of the built-ins, as they will run
            everything = {r.id: r for r in load_rules()} | {r.id: r for r in selected}
            pool = list(everything.values())
        else:
            selected = pool = load_rules()
    except RuleError as exc:
        _fail(str(exc))
    engines = {"auto": None, "hyperscan": True, "python": False}[engine]
    problems = check_rules(pool, use_hyperscan=engines)
    ids = {r.id for r in selected}
    problems = [p for p in problems if p.rule_id in ids]
    for p in problems:
        click.echo(f"{p.where}: {p.rule_id}: {p.message}")
    click.echo(f"{len(selected)} rule(s) checked, {len(problems)} problem(s)", err=True)
    sys.exit(EXIT_FINDINGS if problems else EXIT_CLEAN)


@rules.command("eval")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@click.option("--rules", "rules_files", multiple=True, type=click.Path(exists=True, dir_okay=False), help="Extra rule file (repeatable).")
@click.option("--engine", type=click.Choice(["auto", "hyperscan", "python"]), default="auto")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def rules_eval(ctx: click.Context, corpus: str, rules_files: tuple[str, ...], engine: str, fmt: str) -> None:
    """Measure recall and false reports of the rules on a labelled JSONL corpus.

    Each line: {"source": ..., "text": ..., "label": true|false}.
    """
    from pathlib import Path

    from nhiguard.rules.evaluate import evaluate, format_table, read_corpus

    settings = _settings(ctx, rules=rules_files)
    loaded = _load_rules(settings)
    try:
        records = read_corpus(Path(corpus))
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    figures = evaluate(records, loaded, {"auto": None, "hyperscan": True, "python": False}[engine])
    if fmt == "json":
        import json

        click.echo(json.dumps({name: {"positives": f.positives, "found": f.found, "recall": round(f.recall, 4),
                                      "negatives": f.negatives, "reported": f.reported,
                                      "false_rate": round(f.false_rate, 4),
                                      "false_rate_distinct": round(f.false_rate_distinct, 4),
                                      "false_rate_same_credential": round(f.false_rate_same, 4)}
                               for name, f in sorted(figures.items())}, indent=2))
    else:
        click.echo(format_table(figures))


@cli.group(invoke_without_command=True)
@click.option("--store", help="SQLite path or database URL [default: .nhiguard/nhiguard.db].")
@click.option("--scan", "scan_id", type=int, help="Scan id [default: the latest].")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output)
@click.pass_context
def report(ctx: click.Context, store: str | None, scan_id: int | None, fmt: str, output: str | None) -> None:
    """Print the report of a past scan from the store (no rescanning); `report summary`
    answers where long-lived credentials are, who owns them and how fast leaks are closed."""
    if ctx.invoked_subcommand is not None:
        ctx.obj["report_store"] = store
        return
    settings = _settings(ctx, store=store)
    _require_store(settings)
    rules = _load_rules(settings)
    from nhiguard.engine.pipeline import effective_ruleset_hash
    from nhiguard.report.results import ScanResults

    st = _open_store(settings, read_only=True)
    try:
        sid = scan_id if scan_id is not None else st.latest_scan_id()
        if sid is None:
            _fail("the store holds no scan yet; run `nhiguard scan` first")
        stats = st.scan_stats(sid)
        if stats is None:
            _fail(f"no scan with id {sid}")
        if not stats.finished_at:
            click.echo(f"nhiguard: warning: scan {sid} did not finish (interrupted or still "
                       "running): its report shows only what it had recorded", err=True)
        findings = st.findings_for_scan(sid, st.scan_ruleset(sid) or effective_ruleset_hash(rules, settings), {r.id: r for r in rules})
        verified = st.verifications_for(f.id for f in findings)
        for f in findings:
            f.verification = verified.get(f.id)
    finally:
        st.close()
    _write_report(ScanResults(__version__, stats, findings, {r.id: r for r in rules}, False), fmt, output)


# Text that would drive a terminal or reorder what it shows: C1 controls, DEL, and the
# Unicode bidirectional controls ("Trojan Source"); C0 controls are escaped by JSON itself.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _for_terminal(text: str) -> str:
    """`text` with every control character shown as an escape: decisions come from files
    anyone may have written, and reasons and names are free text."""
    from nhiguard.report.common import printable

    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", printable(text))


@cli.group()
def triage() -> None:
    """Record what a finding is (false positive, accepted risk, revoked, fixed), and share it."""


def _who() -> str:
    import getpass
    import subprocess

    try:
        email = subprocess.run(["git", "config", "user.email"], capture_output=True, text=True,
                               timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    try:
        return email or getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "unknown"


@triage.command("list")
@click.option("--store", help="SQLite path or database URL [default: .nhiguard/nhiguard.db].")
@click.option("--status", "status_filter", help="Only findings of this status (open, false_positive, accepted, revoked, fixed).")
@click.option("--scan", "scan_id", type=int, help="Only findings seen in this scan [default: the latest; 0: every finding in the store].")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table")
@click.pass_context
def triage_list(ctx: click.Context, store: str | None, status_filter: str | None, scan_id: int | None, fmt: str) -> None:
    """List findings with their status and who set it, when and why."""
    from nhiguard.remediate.triage import TriageError, status_name
    from nhiguard.store import STATUSES

    settings = _settings(ctx, store=store)
    _require_store(settings)
    try:
        wanted = status_name(status_filter, STATUSES) if status_filter else None
    except TriageError as exc:
        _fail(str(exc))
    st = _open_store(settings, read_only=True)
    try:
        sid = st.latest_scan_id() if scan_id is None else (scan_id or None)
        records = st.finding_records(status=wanted, scan_id=sid)
    finally:
        st.close()
    if fmt == "json":
        import json

        rows = [{"id": r.id, "rule_id": r.rule_id, "severity": str(r.severity), "preview": r.preview,
                 "status": r.status, "by": r.status_by, "at": r.status_at, "reason": r.status_reason,
                 "first_seen": r.first_seen, "last_seen": r.last_seen} for r in records]
        # JSON escapes C0 controls itself; C1 controls and bidirectional overrides it leaves
        # as they are, and they reach the terminal: escape them too (still the same JSON)
        text = json.dumps(rows, indent=2, ensure_ascii=False)
        click.echo(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text))
        return
    if not records:
        click.echo("no findings")
    for r in records:
        why = f" by {r.status_by} at {r.status_at}: {r.status_reason or ''}" if r.status_at else ""
        click.echo(_for_terminal(f"{r.id}  {str(r.severity):8} {r.status:14} {r.rule_id}  {r.preview}{why}"))


@triage.command("set")
@click.argument("finding")
@click.argument("status")
@click.option("--reason", "-m", help="Why (kept with the decision and in the exported file).")
@click.option("--by", help="Who decided [default: git user.email, else the login name].")
@click.option("--store", help="SQLite path or database URL [default: .nhiguard/nhiguard.db].")
@click.pass_context
def triage_set(ctx: click.Context, finding: str, status: str, reason: str | None, by: str | None, store: str | None) -> None:
    """Set the STATUS of FINDING (its id, or a unique start of it).

    \b
    Statuses: open, false_positive (false-positive), accepted (accepted-risk), revoked, fixed.
    Example:
      nhiguard triage set 3f2a9c accepted-risk -m "test key of the sandbox account"
    """
    from nhiguard.remediate.triage import TriageError, status_name
    from nhiguard.store import STATUSES

    settings = _settings(ctx, store=store)
    try:
        name = status_name(status, STATUSES)
    except TriageError as exc:
        _fail(str(exc))
    st = _open_store(settings)
    try:
        ids = st.finding_ids(finding)
        if not ids:
            _fail(f"no finding {finding!r} in the store (ids are in every report's `id`)")
        if len(ids) > 1:
            _fail(f"{finding!r} is the start of {len(ids)} finding ids; give more of it")
        st.set_status(ids[0], name, by=by or _who(), reason=reason)
        rec = st.get_finding(ids[0])
    finally:
        st.close()
    assert rec is not None
    click.echo(_for_terminal(f"{rec.id} {rec.rule_id} {rec.preview}: {rec.status}"), err=True)


@triage.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output,
              default="-", help="File to write [default: stdout; the convention is .nhiguard-triage.json].")
@click.option("--store", help="SQLite path or database URL [default: .nhiguard/nhiguard.db].")
@click.pass_context
def triage_export(ctx: click.Context, output: str, store: str | None) -> None:
    """Write every triage decision of the store to a file to share (no raw secrets)."""
    from pathlib import Path

    from nhiguard.remediate import triage as tr

    settings = _settings(ctx, store=store)
    _require_store(settings)
    st = _open_store(settings, read_only=True)
    try:
        records = st.finding_records(triaged_only=True)
    finally:
        st.close()
    decisions = [tr.Decision(r.id, r.rule_id, r.fingerprint, r.preview, r.status, r.status_by,
                             r.status_at or "", r.status_reason) for r in records]
    text = tr.write(decisions, settings.fingerprint_key_bytes, None if output == "-" else Path(output))
    if output == "-":
        click.echo(text, nl=False)
    else:
        click.echo(f"wrote {len(decisions)} decision(s) to {output}", err=True)


@triage.command("import")
@click.argument("path", type=click.Path(dir_okay=False, exists=True))
@click.option("--store", help="SQLite path or database URL [default: .nhiguard/nhiguard.db].")
@click.pass_context
def triage_import(ctx: click.Context, path: str, store: str | None) -> None:
    """Apply the decisions of a triage file; per finding, the most recent decision wins.

    A decision about a finding this store does not hold yet is not applied (it is counted
    as not in this store): import the file again after a scan has found it. A file with a
    bad decision (a field of the wrong type, a date in the future, an unknown status) is
    refused as a whole, and nothing is applied.
    """
    from pathlib import Path

    from nhiguard.remediate import triage as tr
    from nhiguard.store import STATUSES

    settings = _settings(ctx, store=store)
    try:
        decisions = tr.read(Path(path), settings.fingerprint_key_bytes)
        for n, d in enumerate(decisions):
            try:
                tr.status_name(d.status, STATUSES)
            except tr.TriageError as exc:
                raise tr.TriageError(f"{path}: decision {n} ({d.id}): {exc}") from None
    except tr.TriageError as exc:
        _fail(_for_terminal(str(exc)))
    applied = newer_here = unknown = 0
    st = _open_store(settings)
    try:
        for d in decisions:
            rec = st.get_finding(d.id)
            if rec is None:
                unknown += 1
                continue
            if rec.status_at and tr.parse_time(rec.status_at) >= d.when:
                newer_here += 1
                continue
            st.set_status(d.id, tr.status_name(d.status, STATUSES), by=d.by, reason=d.reason, at=d.when)
            applied += 1
    finally:
        st.close()
    click.echo(_for_terminal(f"{path}: applied {applied}, kept {newer_here} newer here, {unknown} not "
                             "in this store") + (" (import again after a scan that finds them)" if unknown else ""),
               err=True)


@cli.command("ci-audit")
@click.argument("paths", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "jsonl", "sarif", "csv")),
              help="Report format [default: table].")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output,
              help="Write the report to FILE instead of stdout.")
@click.option("--fail-on", type=click.Choice(("info", "low", "medium", "high", "critical")),
              help="Lowest severity that makes the exit code 1 [default: the fail_on setting].")
@click.pass_context
def ci_audit(ctx: click.Context, paths: tuple[str, ...], fmt: str | None, output: str | None,
             fail_on: str | None) -> None:
    """Audit CI/CD configuration (GitHub Actions, GitLab CI, OIDC trust policies) for how it
    handles non-human identities; each issue is tagged with its OWASP NHI Top 10 risks."""
    settings = _settings(ctx, fail_on=fail_on)
    from nhiguard.model.severity import Severity
    from nhiguard.posture.checks import CHECKS
    from nhiguard.posture.ci_audit import audit
    from nhiguard.report import issues as issue_report

    result = audit(list(paths))
    fmt = fmt or "table"

    def emit(stream) -> None:
        issue_report.write(fmt, result.issues, stream, version=__version__, paths=result.paths,
                           files=result.files, errors=result.errors, checks=list(CHECKS.values()))

    if output and output != "-":
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                emit(fh)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror}")
    else:
        emit(sys.stdout)
        sys.stdout.flush()
    for path, problem in result.errors[:3]:
        click.echo(f"nhiguard: {path}: {problem}", err=True)
    if len(result.errors) > 3:
        click.echo(f"nhiguard: ... and {len(result.errors) - 3} more (all in the report)", err=True)
    if result.errors:
        sys.exit(EXIT_ERROR)
    threshold = Severity.parse(settings.fail_on) if settings.fail_on != "live" else Severity.INFO
    if any(i.level >= threshold for i in result.issues):
        sys.exit(1)


EXIT_INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C (128 + SIGINT)


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so the scan's `finally` blocks run (the store is
    closed, a standard-input spool is removed) instead of the process dying where it stands."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main() -> None:
    import signal

    from nhiguard.store.database import StoreError

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            signal.signal(sig, _terminate)
    try:
        cli(prog_name="nhiguard", standalone_mode=False)
    except Terminated as exc:
        click.echo("nhiguard: terminated", err=True)
        sys.exit(128 + exc.signum)
    except click.exceptions.Abort:  # Ctrl-C or EOF at a prompt
        click.echo("nhiguard: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("nhiguard: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.exceptions.ClickException as exc:  # usage errors: exit 2, as documented
        exc.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except StoreError as exc:  # the store failed under the scan: locked, read-only, full
        click.echo(f"nhiguard: error: {_no_password(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:  # the reader went away (`nhiguard scan . | head`)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the exit flush cannot fail again
        sys.exit(EXIT_ERROR)
    except Exception as exc:  # noqa: BLE001 - a bug must not exit 1, which means "findings"
        # The message names only the exception type: its text could quote scanned content.
        click.echo(f"nhiguard: internal error ({type(exc).__name__}); this is a bug, "
                   "please report it with the command that caused it", err=True)
        if os.environ.get("NHIGUARD_DEBUG"):
            raise
        sys.exit(EXIT_ERROR)


# the command groups that live in their own modules register themselves on `cli`
from nhiguard.cli import inventory as _inventory  # noqa: E402,F401
from nhiguard.cli import watch as _watch  # noqa: E402,F401

if __name__ == "__main__":
    # Run as `python -m`, this file is `__main__`, a second copy of the module: the command
    # groups above registered themselves on the `nhiguard.cli.main` copy, so run that one.
    from nhiguard.cli.main import main as _registered_main

    _registered_main()
