"""`nhiguard inventory import|list|own`: the non-human identities of an estate, from the
providers' own exports (or AWS's API), merged with what scans found."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from nhiguard.cli.main import (
    EXIT_ERROR,
    _emit,
    _fail,
    _open_store,
    _require_store,
    _settings,
    _writable_output,
    cli,
    report,
)

STORE_HELP = "SQLite path or database URL [default: .nhiguard/nhiguard.db]."


@cli.group()
def inventory() -> None:
    """Non-human identities: import providers' inventories, list them with owners, set owners."""


@inventory.command("import")
@click.argument("kind")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--live", is_flag=True, help="aws: read IAM through its API (boto3) instead of files.")
@click.option("--endpoint", help="aws --live: the IAM endpoint URL (e.g. a moto server).")
@click.option("--region", default="us-east-1", show_default=True, help="aws --live: region for the client.")
@click.option("--account", default="", help="What the export does not name: the cluster (k8s), the "
              "organisation (github-pats), OWNER/REPO (github-deploy-keys), APPID (azure-app-credentials).")
@click.option("--key", "key_id", default="", metavar="KEYID", help="aws-access-keys: the access key a "
              "get-access-key-last-used output is about (the AWS CLI does not print it).")
@click.option("--store", help=STORE_HELP)
@click.pass_context
def inventory_import(ctx: click.Context, kind: str, files: tuple[str, ...], live: bool, endpoint: str | None,
                     region: str, account: str, key_id: str, store: str | None) -> None:
    """Import identities from FILES exported by the provider's own tool (KIND says which).

    \b
    Kinds and the command that writes their file:
      aws-credential-report      aws iam get-credential-report (its JSON, or the CSV)
      aws-authorization-details  aws iam get-account-authorization-details
      aws-access-keys            aws iam list-access-keys / get-access-key-last-used
                                 (--key KEYID, or the key id in the file name)
      gcp-service-accounts       gcloud iam service-accounts list --format=json
      gcp-sa-keys                gcloud iam service-accounts keys list --format=json
      gcp-iam-policy             gcloud projects get-iam-policy PROJECT --format=json
      azure-sp / azure-app       az ad sp list --all / az ad app list --all
      azure-app-credentials      az ad app credential list --id APPID (--account APPID)
      k8s                        kubectl get serviceaccounts,secrets,rolebindings,
                                 clusterrolebindings,roles,clusterroles -A -o json
      github-pats                GET /orgs/ORG/personal-access-tokens (--account ORG)
      github-installations       GET /orgs/ORG/installations
      github-deploy-keys         GET /repos/OWNER/REPO/keys (--account OWNER/REPO)
      aws --live                 IAM's API with the usual AWS credentials (read-only calls)
    """
    from nhiguard.inventory.importers import IMPORTERS, aws_live
    from nhiguard.inventory.parse import ImportContext, ImportError_, ImportResult
    from nhiguard.report.common import printable
    from nhiguard.store.inventory import InventoryStore

    settings = _settings(ctx, store=store)
    if kind != "aws" and kind not in IMPORTERS:
        _fail(f"unknown kind {kind!r}; one of: aws (with --live), {', '.join(sorted(IMPORTERS))}")
    if live != (kind == "aws"):
        _fail("`aws` imports live (`inventory import aws --live`); files need a KIND such as aws-credential-report")
    if live and files:
        _fail("--live reads the API: give no FILES")
    if not live and not files:
        _fail("give the FILE(S) to import (- for standard input)")
    if key_id:
        from nhiguard.inventory.aws import is_key_id

        if kind != "aws-access-keys":
            _fail("--key names the key of a get-access-key-last-used output: only for aws-access-keys")
        if not is_key_id(key_id):
            _fail(f"--key {key_id[:40]!r} is not an access key id (AKIA followed by 16 letters and digits 2-7)")
        if len(files) > 1:
            _fail("--key names the key of one file's get-access-key-last-used output: give one FILE")
    results: list[tuple[str, ImportResult | None, str | None]] = []
    if live:
        ictx = ImportContext(f"aws-live:{endpoint or 'aws'}", settings.fingerprint_key_bytes, account)
        try:
            results.append(("aws --live", aws_live(ictx, endpoint, region), None))
        except ImportError_ as exc:
            results.append(("aws --live", None, str(exc)))
    else:
        reader = IMPORTERS[kind][0]
        for path in files:
            try:
                data = sys.stdin.buffer.read() if path == "-" else open(path, "rb").read()  # noqa: SIM115
            except OSError as exc:
                results.append((path, None, f"cannot read: {exc.strerror or exc}"))
                continue
            ictx = ImportContext(f"{kind}:{os.path.basename(path) if path != '-' else 'stdin'}",
                                 settings.fingerprint_key_bytes, account, access_key_id=key_id)
            try:
                results.append((path, reader(data, ictx), None))
            except ImportError_ as exc:
                results.append((path, None, str(exc)))
    st = _open_store(settings)
    failed = False
    try:
        inv = InventoryStore(st.db)
        for path, result, error in results:
            if error is not None:
                click.echo(printable(f"nhiguard: {path}: {error}"), err=True)
                failed = True
                continue
            assert result is not None
            done = inv.upsert(result.identities, result.holdings, result.rosters)
            counts = [f"{result.records} record(s)", f"{done.new} new identit{'y' if done.new == 1 else 'ies'}",
                      f"{done.merged} merged", f"{done.unchanged} unchanged"]
            if result.problems:
                counts.append(f"{len(result.problems)} skipped")
            if result.warnings:
                counts.append(f"{len(result.warnings)} imported with a value left empty")
            click.echo(printable(f"{path}: " + ", ".join(counts)), err=True)
            for label, lines in (("", result.problems), ("", result.warnings), ("note: ", [*result.notes, *done.notes])):
                for line in lines[:10]:
                    click.echo(printable(f"nhiguard: {path}: {label}{line}"), err=True)
                if len(lines) > 10:
                    click.echo(printable(f"nhiguard: {path}: ... and {len(lines) - 10} more"), err=True)
            # a record skipped or read only in part is an input error; notes are not
            failed = failed or bool(result.problems or result.warnings)
    finally:
        st.close()
    if failed:
        sys.exit(EXIT_ERROR)


def _views(settings: Any) -> list[Any]:
    from nhiguard.inventory.view import build
    from nhiguard.settings import ConfigError

    _require_store(settings, "run `nhiguard scan` or `nhiguard inventory import` first, or give --store")
    st = _open_store(settings, read_only=True)
    try:
        return build(st, settings)
    except ConfigError as exc:
        _fail(str(exc))
        raise
    finally:
        st.close()


@inventory.command("list")
@click.option("--store", help=STORE_HELP)
@click.option("--kind", help="Only identities of this kind (e.g. aws_access_key).")
@click.option("--provider", help="Only identities of this provider (aws, gcp, azure, kubernetes, github, ...).")
@click.option("--owner", help="Only identities of this owner.")
@click.option("--unowned", is_flag=True, help="Only identities without an owner.")
@click.option("--leaked", is_flag=True, help="Only identities with leaked copies found by scans.")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "csv")), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output)
@click.pass_context
def inventory_list(ctx: click.Context, store: str | None, kind: str | None, provider: str | None,
                   owner: str | None, unowned: bool, leaked: bool, fmt: str, output: str | None) -> None:
    """List identities: imported ones and secrets found by scans, with owner, environment,
    age, last use, privileges and every leaked copy."""
    from nhiguard.report.inventory import write

    settings = _settings(ctx, store=store)
    every = _views(settings)

    def same(value: str | None, wanted: str | None) -> bool:  # names as people type them
        return wanted is None or (value or "").casefold() == wanted.casefold()

    views = [v for v in every
             if same(v.identity.kind, kind) and same(v.identity.provider, provider) and same(v.owner, owner)
             and (not unowned or v.owner is None) and (not leaked or v.leaks)]
    _emit(lambda fh: write(fmt, views, fh, total=len(every)), output)


@inventory.command("own")
@click.argument("identity")
@click.option("--owner", help="The owning team or person.")
@click.option("--environment", help="The environment it serves (production, staging, development, ...).")
@click.option("--clear", is_flag=True, help="Forget the owner set by hand (derived owners apply again).")
@click.option("--clear-environment", is_flag=True,
              help="Forget the environment set by hand (the imported or derived one applies again).")
@click.option("--by", help="Who says so [default: git user.email, else the login name].")
@click.option("--store", help=STORE_HELP)
@click.pass_context
def inventory_own(ctx: click.Context, identity: str, owner: str | None, environment: str | None, clear: bool,
                  clear_environment: bool, by: str | None, store: str | None) -> None:
    """Set the owner and environment of IDENTITY (its id or a unique start of it) by hand,
    or forget them (--clear, --clear-environment)."""
    from dataclasses import replace

    from nhiguard.cli.main import _who
    from nhiguard.report.common import printable
    from nhiguard.store.inventory import InventoryStore

    if not (owner or environment or clear or clear_environment):
        _fail("give --owner TEAM, --environment ENV, --clear or --clear-environment")
    if owner and clear:
        _fail("--owner sets the owner and --clear forgets it: give one of them")
    if environment and clear_environment:
        _fail("--environment sets the environment and --clear-environment forgets it: give one of them")
    if (owner is not None and not owner.strip()) or (environment is not None and not environment.strip()):
        _fail("--owner and --environment take a value; --clear and --clear-environment forget one")
    settings = _settings(ctx, store=store)
    views = _views(settings)
    wanted = identity.lower()
    chosen = [v for v in views if v.id.startswith(wanted)] if wanted else []
    if len(chosen) != 1:
        _fail(f"no identity {identity!r}" if not chosen else
              f"{identity!r} is the start of {len(chosen)} identities; give more of the id")
    view = chosen[0]
    who = by or _who()
    st = _open_store(settings)
    try:
        inv = InventoryStore(st.db)
        if inv.get(view.id) is None:  # a found secret: it gets a row to hold what people say
            inv.upsert([replace(view.identity, source="scan")])
        if owner or clear:
            inv.set_owner(view.id, None if clear else owner, who)
        if environment or clear_environment:
            inv.set_environment(view.id, None if clear_environment else environment, who)
    finally:
        st.close()
    said = ["owner cleared" if clear else f"owner {owner}" if owner else "",
            "environment cleared" if clear_environment else f"environment {environment}" if environment else ""]
    click.echo(printable(f"{view.id} {view.identity.name}: " + ", ".join(x for x in said if x)), err=True)


@cli.command()
@click.option("--store", help=STORE_HELP)
@click.option("--check", "checks", multiple=True, help="Only this check (repeatable), e.g. nhi.unused.")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "csv")), default="table")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), callback=_writable_output)
@click.option("--fail-on", type=click.Choice(("info", "low", "medium", "high", "critical")),
              help="Lowest severity that makes the exit code 1 [default: the fail_on setting].")
@click.option("--unused-days", type=int, help="Days without use that make a credential unused [default: 90].")
@click.option("--max-key-age-days", type=int, help="Days after which an unrotated key is long-lived [default: 90].")
@click.pass_context
def posture(ctx: click.Context, store: str | None, checks: tuple[str, ...], fmt: str, output: str | None,
            fail_on: str | None, unused_days: int | None, max_key_age_days: int | None) -> None:
    """Judge every identity of the inventory against the OWASP Non-Human Identities Top 10:
    unowned, unused, orphaned, leaked, third-party, static, over-privileged, trusted too
    widely, long-lived, crossing environments, reused, used by people."""
    from nhiguard.model.severity import Severity
    from nhiguard.posture.identities import CHECKS, judge
    from nhiguard.report.posture import write

    settings = _settings(ctx, store=store, fail_on=fail_on, unused_days=unused_days,
                         max_key_age_days=max_key_age_days)
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        _fail(f"unknown check {unknown[0]!r}; one of: {', '.join(sorted(CHECKS))}")
    issues = judge(_views(settings), settings, only=(lambda i: i.check.id in checks) if checks else None)
    _emit(lambda fh: write(fmt, issues, fh), output)
    threshold = Severity.parse(settings.fail_on) if settings.fail_on != "live" else Severity.INFO
    if any(i.level >= threshold for i in issues):
        sys.exit(1)


@report.command("summary")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), callback=_writable_output,
              help="Also write the summary as an HTML page with charts to this file.")
@click.option("--store", help=STORE_HELP)
@click.pass_context
def report_summary(ctx: click.Context, html_path: str | None, store: str | None) -> None:
    """Where long-lived credentials live, who owns them, and how long leaks took to be
    revoked or rotated (median and p90), from the store's inventory and findings."""
    from nhiguard.posture.identities import judge
    from nhiguard.report.summary import summarise, write_html, write_text

    settings = _settings(ctx, store=store or ctx.obj.get("report_store"))
    views = _views(settings)
    summary = summarise(views, judge(views, settings), settings.max_key_age_days)
    write_text(summary, sys.stdout)
    if html_path:
        try:
            with open(html_path, "w", encoding="utf-8") as fh:
                write_html(summary, fh)
        except OSError as exc:
            _fail(f"cannot write {html_path}: {exc.strerror}")
        click.echo(f"wrote {html_path}", err=True)
