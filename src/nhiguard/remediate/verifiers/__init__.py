"""The verifiers `scan --verify` uses: built-in ones, then any a package registers under the
`nhiguard.verifiers` entry point group (an object with the Verifier protocol of
remediate/verify.py), which may replace a built-in of the same name."""

from __future__ import annotations

from nhiguard.remediate.verifiers.aws import AwsStsVerifier
from nhiguard.remediate.verifiers.database import PostgresVerifier
from nhiguard.remediate.verifiers.http_apis import VERIFIERS as HTTP_VERIFIERS
from nhiguard.remediate.verify import Verifier


def builtin() -> list[Verifier]:
    return [AwsStsVerifier(), PostgresVerifier(), *HTTP_VERIFIERS]


def all_verifiers() -> list[Verifier]:
    from importlib.metadata import entry_points

    found: dict[str, Verifier] = {v.name: v for v in builtin()}
    for ep in entry_points(group="nhiguard.verifiers"):
        try:
            plugin = ep.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not stop the scan
            continue
        v = plugin() if isinstance(plugin, type) else plugin
        found[getattr(v, "name", ep.name)] = v
    return list(found.values())
