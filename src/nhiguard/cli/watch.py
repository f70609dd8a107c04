"""`nhiguard watch FILE|DIR|-` and `nhiguard alerts list|set`: audit logs read against
per-identity baselines kept in the store, alerts raised, reported, stored and triaged."""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import click

from nhiguard.cli.main import (
    EXIT_ERROR,
    _emit,
    _fail,
    _open_store,
    _require_store,
    _settings,
    _who,
    _writable_output,
    cli,
)

STORE_HELP = "SQLite path or database URL [default: .nhiguard/nhiguard.db]."
SEVERITIES = ("info", "low", "medium", "high", "critical")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.option("--follow", is_flag=True, help="Keep reading a growing JSON Lines file until interrupted.")
@click.option("--cluster", default="", help="Kubernetes audit logs: the cluster's name (part of identity keys).")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "jsonl", "csv")), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output)
@click.option("--fail-on", type=click.Choice(SEVERITIES),
              help="Lowest alert severity that makes the exit code 1 [default: the fail_on setting].")
@click.option("--reread", is_flag=True, help="Read files again that an earlier run read (they are learned twice).")
@click.option("--all-alerts", is_flag=True, help="Report alerts known from earlier runs too, not only this run's.")
@click.option("--webhook", help="POST each new alert as JSON to this URL.")
@click.option("--exec", "exec_hook", help="Run this command for each new alert, the alert as JSON on its stdin.")
@click.option("--learning-days", type=float, help="Days of history before an identity's baseline is trusted [7].")
@click.option("--min-events", type=int, help="Events before an identity's baseline is trusted [50].")
@click.option("--no-geoip", is_flag=True, help="Do not look up countries and networks (networks by /16 only).")
@click.option("--store", help=STORE_HELP)
@click.pass_context
def watch(ctx: click.Context, paths: tuple[str, ...], follow: bool, cluster: str, fmt: str, output: str | None,
          fail_on: str | None, reread: bool, all_alerts: bool, webhook: str | None, exec_hook: str | None,
          learning_days: float | None, min_events: int | None, no_geoip: bool, store: str | None) -> None:
    """Read audit logs (AWS CloudTrail, GitHub audit log, Kubernetes audit, GCP Cloud Audit
    Logs; JSON, JSON Lines, gzip) and alert on credential misuse: new countries and
    networks, impossible travel, two networks at once, server credentials on desktops,
    enumeration bursts, data-read spikes, new permissions and credentials, CI identities
    outside their release windows, logging switched off, resources shared."""
    from nhiguard.model.severity import Severity
    from nhiguard.report.alerts import write
    from nhiguard.store.inventory import InventoryStore
    from nhiguard.store.watch import WatchStore
    from nhiguard.watch.engine import Watcher
    from nhiguard.watch.geo import Geo
    from nhiguard.watch.hooks import Hooks
    from nhiguard.watch.reader import ReadProblems
    from nhiguard.watch.resolve import Resolver
    from nhiguard.watch.run import Inputs, feed_paths
    from nhiguard.watch.run import follow as follow_file

    flags: dict[str, Any] = {"store": store, "fail_on": fail_on, "webhook": webhook, "exec_hook": exec_hook,
                             "learning_days": learning_days, "min_events": min_events}
    if no_geoip:
        flags["geoip"] = False
    settings = _settings(ctx, **flags)
    if follow and (len(paths) != 1 or paths[0] == "-" or os.path.isdir(paths[0])):
        _fail("--follow reads one growing file (give its path)")
    if follow and paths[0].endswith((".gz", ".gzip")):
        _fail("--follow reads a growing JSON Lines file; a compressed file does not grow (read it without --follow)")
    if follow and fmt in ("json", "csv"):
        _fail("--follow streams alerts as they come: use -f table or -f jsonl")
    st = _open_store(settings)
    started = time.monotonic()
    stopped_by: dict[str, int] = {}
    try:
        ws = WatchStore(st.db)
        hooks = Hooks(settings.webhook, settings.exec_hook)
        stream_out = _stream_writer(fmt, output) if follow else None

        def on_alert(alert: Any) -> None:
            if hooks.active:
                hooks(alert)
            if stream_out is not None:
                stream_out(alert)

        geo = Geo(settings.geoip)
        if settings.geoip and not geo.available:
            click.echo("nhiguard: warning: geoip2fast is not installed (pip install 'nhiguard[watch]'): "
                       "countries are unknown, networks are /16 ranges", err=True)
        problems = ReadProblems()
        raised: list[Any] = []
        with ws.exclusive(lambda: click.echo("nhiguard: another watch run is using this store; waiting for it",
                                             err=True)):
            resolver = Resolver(InventoryStore(st.db).all(), ws.token_hashes(), ws.leaked_keys(),
                                settings.fingerprint_key_bytes)
            w = Watcher(settings, ws.profiles(), resolver, geo, known_alerts=ws.known_alerts(), on_alert=on_alert,
                        scrub=None if settings.show_secrets else _scrubber(settings))

            def save() -> None:
                ws.save_profiles([w.profiles[k] for k in w.profiles])
                ws.save_alerts(w.alerts.values())
                raised.extend(w.alerts.values())
                w.alerts.clear()  # saved counts are added once; later repeats start a fresh tally

            if follow:
                def _stop(signum: int, _frame: Any) -> None:
                    stopped_by["signal"] = signum

                old = [signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)]
                if not os.path.exists(paths[0]):
                    click.echo(f"nhiguard: waiting for {paths[0]} to appear", err=True)
                try:
                    follow_file(w, paths[0], cluster, problems, lambda: bool(stopped_by), save)
                finally:
                    for s, h in zip((signal.SIGINT, signal.SIGTERM), old, strict=True):
                        signal.signal(s, h)
            else:
                feed_paths(w, Inputs(paths, cluster), problems, None if reread else ws)
            save()
        stored = ws.alerts() if all_alerts else None
    finally:
        st.close()
    elapsed = time.monotonic() - started
    stats = _stats(w, problems, elapsed, hooks)
    _report_problems(problems)
    if not follow:
        shown: list[Any] = stored if stored is not None else raised
        _emit(lambda fh: write(fmt, shown, fh, stats), output)
    else:
        click.echo(f"nhiguard: {stats['events']} events, {stats['alerts']} alert(s)", err=True)
    if stopped_by.get("signal") == signal.SIGTERM:
        sys.exit(128 + signal.SIGTERM)
    threshold = Severity.parse(settings.fail_on) if settings.fail_on != "live" else Severity.INFO
    if problems.inputs or problems.malformed:
        sys.exit(EXIT_ERROR)
    if any(a.severity >= threshold and a.status == "open" for a in raised):
        sys.exit(1)


def _stats(w: Any, problems: Any, elapsed: float, hooks: Any) -> dict[str, Any]:
    from nhiguard.model.event import iso

    s = w.stats
    return {"events": s.events, "malformed": problems.malformed, "unrecognised": s.unrecognised,
            "skipped_stages": s.skipped, "identities": len(w.profiles), "files": s.files,
            "files_unchanged": s.files_unchanged, "alerts": s.alerts,
            "by_source": dict(s.by_source), "first_event": iso(s.first_event) if s.first_event else None,
            "last_event": iso(s.last_event) if s.last_event else None, "seconds": round(elapsed, 3),
            "events_per_second": int(s.events / elapsed) if elapsed > 0 else 0,
            "hooks": {"sent": hooks.sent, "failed": hooks.failures} if hooks.active else None,
            "pending_lines": list(problems.partial),
            "errors": problems.inputs + problems.examples[:20]}


def _report_problems(problems: Any) -> None:
    for place in problems.partial:
        click.echo(f"nhiguard: note: {place}: the last line is still being written; the next run reads it", err=True)
    for msg in problems.inputs:
        click.echo(f"nhiguard: error: {msg}", err=True)
    for msg in problems.examples[:3]:
        click.echo(f"nhiguard: skipped: {msg}", err=True)
    rest = problems.malformed - min(3, len(problems.examples))
    if rest > 0:
        click.echo(f"nhiguard: ... and {rest} more malformed record(s)", err=True)


def _stream_writer(fmt: str, output: str | None) -> Any:
    from nhiguard.report.alerts import write

    fh = open(output, "a", encoding="utf-8") if output and output != "-" else sys.stdout  # noqa: SIM115

    def out(alert: Any) -> None:
        write(fmt, [alert], fh)
        fh.flush()

    return out



@cli.group()
def alerts() -> None:
    """Alerts raised by `nhiguard watch`: list them, and record what was decided."""


@alerts.command("list")
@click.option("--status", type=click.Choice(("open", "acknowledged", "false_positive", "resolved")))
@click.option("--detector", help="Only this detector's alerts, e.g. watch.new-country.")
@click.option("--identity", help="Only alerts of this identity (key, inventory id or name).")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "jsonl", "csv")), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output)
@click.option("--store", help=STORE_HELP)
@click.pass_context
def alerts_list(ctx: click.Context, status: str | None, detector: str | None, identity: str | None, fmt: str,
                output: str | None, store: str | None) -> None:
    """List stored alerts, worst first."""
    from nhiguard.report.alerts import write
    from nhiguard.store.watch import WatchStore

    settings = _existing_store(ctx, store)
    st = _open_store(settings)
    try:
        found = WatchStore(st.db).alerts(status, detector, identity)
    finally:
        st.close()
    _emit(lambda fh: write(fmt, found, fh), output)


@alerts.command("set")
@click.argument("alert_id")
@click.argument("status", type=click.Choice(("open", "acknowledged", "false_positive", "resolved")))
@click.option("-m", "--reason", help="Why.")
@click.option("--by", help="Who decided [default: git user.email, else the login name].")
@click.option("--store", help=STORE_HELP)
@click.pass_context
def alerts_set(ctx: click.Context, alert_id: str, status: str, reason: str | None, by: str | None,
               store: str | None) -> None:
    """Record a decision on an alert (by its id or a unique prefix). Later repeats of a
    false positive or resolved alert keep that status and do not fail runs."""
    from nhiguard.store.watch import WatchStore

    settings = _existing_store(ctx, store)
    st = _open_store(settings)
    try:
        ws = WatchStore(st.db)
        try:
            full = ws.resolve_id(alert_id)
        except KeyError as exc:
            _fail(f"{exc.args[0]}; `nhiguard alerts list` shows the ids")
        ws.set_status(full, status, by or _who(), reason)
    finally:
        st.close()
    click.echo(f"{full}: {status}", err=True)


def _existing_store(ctx: click.Context, store: str | None) -> Any:
    """Settings whose store exists: `alerts` reads and decides, it does not create a store."""
    settings = _settings(ctx, store=store)
    _require_store(settings, "run `nhiguard watch` first or give --store")
    return settings


def _scrubber(settings: Any) -> Any:
    """Secret-shaped text in alerts (a token used as a user or trail name) as `[redacted]`,
    by the scan rules, loaded with the first alert; their matcher is built only if some
    alert text looks like it may hold a secret."""
    from nhiguard.cli.main import _load_rules
    from nhiguard.engine.pipeline import _matcher
    from nhiguard.engine.scrub import Scrubber

    built: list[Any] = []

    def scrub(text: str) -> str:
        if not built:  # rules are loaded when the first alert needs them, not at every start
            rules = _load_rules(settings)
            built.append(Scrubber(lambda: _matcher(rules, settings), (k for r in rules for k in r.keywords)).text)
        return built[0](text)

    return scrub
