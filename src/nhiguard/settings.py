"""One immutable Settings object, built once in the CLI and passed down explicitly.

Every setting is declared once in SETTINGS with its default and help text. Values
come from, in increasing precedence: the defaults, `nhiguard.toml` (or
`[tool.nhiguard]` in `pyproject.toml`) in the current directory or `--config FILE`,
environment variables `NHIGUARD_<NAME>`, then command-line flags.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration file or variable is invalid; the message says where."""


def _size(text: str | int) -> int:
    """Parse '50MB', '512k', '1G' or a plain byte count."""
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise ConfigError(f"not a size: {text!r} (use e.g. 50MB, 512k, 1048576)")
    if isinstance(text, int):
        return text
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "KMG" else t
    try:
        return int(float(num) * mult)
    except ValueError:
        raise ConfigError(f"not a size: {text!r} (use e.g. 50MB, 512k, 1048576)") from None


@dataclass(frozen=True)
class Settings:
    store: str = field(default=".nhiguard/nhiguard.db", metadata={"help": "SQLite path or database URL"})
    max_file_size: int = field(default=50 * 1024 * 1024, metadata={"help": "skip files larger than this", "parse": _size})
    scan_binary: bool = field(default=False, metadata={"help": "scan files that look binary"})
    decode_depth: int = field(default=3, metadata={"help": "layers of archives and encodings opened inside a blob (0: none)"})
    decode_budget: int = field(default=256 * 1024 * 1024, metadata={"help": "bytes decompressed or decoded per blob at most", "parse": _size})
    respect_gitignore: bool = field(default=False, metadata={"help": "skip files matched by .gitignore"})
    jobs: int = field(default=0, metadata={"help": "worker processes (0 = all cores)"})
    engine: str = field(default="auto", metadata={"help": "auto | hyperscan | python"})
    rules: tuple[str, ...] = field(default=(), metadata={"help": "extra rule files"})
    disable_rules: tuple[str, ...] = field(default=(), metadata={"help": "rule ids to turn off"})
    only_custom_rules: bool = field(default=False, metadata={"help": "do not load built-in rules"})
    show_secrets: bool = field(default=False, metadata={"help": "put raw secret values in reports"})
    fail_on: str = field(default="info", metadata={"help": "lowest severity that fails the run"})
    verify: bool = field(default=False, metadata={"help": "ask each provider whether found secrets are live (read-only calls)"})
    verify_endpoints: tuple[str, ...] = field(default=(), metadata={"help": "PROVIDER=URL: where a verifier calls instead of the provider (aws=http://127.0.0.1:5000)"})
    verify_ttl: int = field(default=24 * 3600, metadata={"help": "seconds a verification result is reused"})
    verify_rate: int = field(default=5, metadata={"help": "verification calls per second per provider at most"})
    fingerprint_key: str = field(default="", metadata={"help": "key for secret fingerprints (team-wide)"})
    full: bool = field(default=False, metadata={"help": "rescan blobs already in the store"})
    all_objects: bool = field(default=False, metadata={"help": "git: also scan unreachable objects"})
    since: str = field(default="", metadata={"help": "git: only blobs introduced after REF"})
    staged: bool = field(default=False, metadata={"help": "git: scan the index only"})
    pre_push: bool = field(default=False, metadata={"help": "git: scan only the commits being pushed (pre-push hook)"})
    no_history: bool = field(default=False, metadata={"help": "treat git repositories as plain directories"})
    progress: str = field(default="auto", metadata={"help": "auto | on | off (stderr)"})
    platform: str = field(default="", metadata={"help": "images: os/arch[/variant] to pick from a multi-platform image (default: this machine's)"})
    registry_username: str = field(default="", metadata={"help": "images: registry user (default: ~/.docker/config.json)"})
    registry_password: str = field(default="", metadata={"help": "images: registry password or token (prefer NHIGUARD_REGISTRY_PASSWORD)"})
    image_cache: str = field(default="", metadata={"help": "images: folder of downloaded layer blobs (default: ~/.cache/nhiguard/blobs)"})
    registry_plain_http: tuple[str, ...] = field(default=(), metadata={"help": "images: registry hosts spoken to over plain HTTP (loopback always is)"})
    owners: tuple[str, ...] = field(default=(), metadata={"help": "inventory: SELECTOR:PATTERN=OWNER rules (account:123456789012=payments, path:services/api/**=api-team)"})
    environments: tuple[str, ...] = field(default=(), metadata={"help": "inventory: SELECTOR:PATTERN=ENVIRONMENT rules (account:210987654321=production)"})
    unused_days: int = field(default=90, metadata={"help": "posture: a credential unused this many days is unused (NHI1)"})
    max_key_age_days: int = field(default=90, metadata={"help": "posture: a static key older than this without rotation is long-lived (NHI7)"})
    max_token_lifetime_days: int = field(default=366, metadata={"help": "posture: a token valid longer than this is long-lived (NHI7)"})
    learning_days: float = field(default=7.0, metadata={"help": "watch: days of an identity's history before its baseline is trusted"})
    min_events: int = field(default=50, metadata={"help": "watch: events of an identity before its baseline is trusted"})
    discovery_window: int = field(default=600, metadata={"help": "watch: seconds over which discovery calls are counted (enumeration bursts)"})
    discovery_threshold: int = field(default=20, metadata={"help": "watch: distinct discovery calls in one window that make a burst"})
    volume_factor: float = field(default=4.0, metadata={"help": "watch: data reads in an hour over this many times the identity's busiest hour are a spike"})
    volume_min: int = field(default=25, metadata={"help": "watch: data reads in an hour below this are never a spike"})
    travel_kmh: float = field(default=900.0, metadata={"help": "watch: speed between two countries' centres that makes travel impossible"})
    concurrent_window: int = field(default=300, metadata={"help": "watch: seconds within which two networks count as used at once"})
    alerts_per_hour: int = field(default=10, metadata={"help": "watch: alerts per identity per hour; the rest are counted into the last"})
    webhook: str = field(default="", metadata={"help": "watch: URL each new alert is POSTed to as JSON"})
    exec_hook: str = field(default="", metadata={"help": "watch: command run for each new alert, the alert as JSON on its standard input"})
    geoip: bool = field(default=True, metadata={"help": "watch: look up countries and networks offline (geoip2fast)"})

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @property
    def fingerprint_key_bytes(self) -> bytes:
        from nhiguard.engine.redact import DEFAULT_KEY

        return self.fingerprint_key.encode() if self.fingerprint_key else DEFAULT_KEY


def _coerce(name: str, value: Any, default: Any, parse: Any) -> Any:
    if parse is not None:
        return parse(value)
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        s = str(value).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if isinstance(default, int):
        if isinstance(value, float) or isinstance(value, bool):
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(default, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
    if isinstance(default, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{name}: expected a list, got {value!r}")
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def _apply(base: Settings, values: Mapping[str, Any], where: str) -> Settings:
    known = {f.name: f for f in fields(Settings)}
    changes = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        f = known[name]
        try:
            changes[name] = _coerce(name, value, f.default, f.metadata.get("parse"))
        except ConfigError as exc:
            msg = str(exc) if str(exc).startswith(name) else f"{name}: {exc}"
            raise ConfigError(f"{where}: {msg}") from None
    return replace(base, **changes)


def read_config_file(path: Path) -> dict[str, Any]:
    import tomllib  # only when there is a file to read

    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    if path.name == "pyproject.toml":
        return dict(doc.get("tool", {}).get("nhiguard", {}))
    return dict(doc)


def find_config(cwd: Path) -> Path | None:
    for name in ("nhiguard.toml", ".nhiguard.toml"):
        if (cwd / name).is_file():
            return cwd / name
    py = cwd / "pyproject.toml"
    if py.is_file() and "[tool.nhiguard" in py.read_text(encoding="utf-8", errors="replace"):
        return py
    return None


def build_settings(
    flags: Mapping[str, Any],
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Defaults < config file < NHIGUARD_* environment < flags (None flags are 'not given')."""
    settings = Settings()
    path = Path(config_file) if config_file else find_config(cwd or Path.cwd())
    if path is not None:
        if config_file and not path.is_file():
            raise ConfigError(f"{path}: configuration file not found")
        cfg = read_config_file(path)
        base_dir = path.parent
        rules = cfg.get("rules")
        if isinstance(rules, str):
            rules = [rules]
        if isinstance(rules, list) and all(isinstance(r, str) for r in rules):
            cfg["rules"] = [str(base_dir / r) for r in rules]  # relative to the config file
        store = cfg.get("store")
        if isinstance(store, str) and store.strip() and "://" not in store:
            cfg["store"] = str(base_dir / Path(store).expanduser())  # so is a store path
        _no_empty(cfg, str(path))
        if not config_file:
            _drop_hooks(cfg, path)
        settings = _apply(settings, cfg, str(path))
    env = os.environ if environ is None else environ
    env_values = {
        f.name: env[f"NHIGUARD_{f.name.upper()}"]
        for f in fields(Settings)
        if f"NHIGUARD_{f.name.upper()}" in env
    }
    _no_empty(env_values, "environment", prefix="NHIGUARD_")
    settings = _apply(settings, env_values, "environment")
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    _no_empty(given, "command line", prefix="--")
    return validate(_apply(settings, given, "command line"))


# Settings that run a command or send data somewhere: a config file found in the current
# folder (a cloned repository's nhiguard.toml or pyproject.toml) must not set them, or
# running nhiguard in someone else's project would run their command.
_HOOKS = ("exec_hook", "webhook")


def _drop_hooks(cfg: dict[str, Any], path: Path) -> None:
    found = [name for name in _HOOKS if cfg.pop(name, None) not in (None, "")]
    if found:
        print(f"nhiguard: warning: {', '.join(found)} in {path} ignored: a configuration file found in the "
              f"current folder may not run commands or send alerts; give {path} with --config, or use "
              f"the flags or NHIGUARD_* variables", file=sys.stderr)


# Settings whose empty value would silently mean "not set": an empty fingerprint key falls
# back to the public built-in one, an empty --since scans all of history.
_NOT_EMPTY = ("fingerprint_key", "since", "store")


def _no_empty(values: Mapping[str, Any], where: str, prefix: str = "") -> None:
    for name in _NOT_EMPTY:
        if name in values and isinstance(values[name], str) and not values[name].strip():
            shown = {"NHIGUARD_": f"NHIGUARD_{name.upper()}",
                     "--": "--" + name.replace("_", "-")}.get(prefix, name)
            raise ConfigError(f"{where}: {shown} is empty; give a value or leave it out")


_CHOICES = {
    "fail_on": ("info", "low", "medium", "high", "critical", "live"),
    "engine": ("auto", "hyperscan", "python"),
    "progress": ("auto", "on", "off"),
}


def validate(s: Settings) -> Settings:
    """Values that parse but make no sense are errors, not silent no-ops."""
    for name, allowed in _CHOICES.items():
        if getattr(s, name) not in allowed:
            raise ConfigError(f"{name}: {getattr(s, name)!r} is not one of {', '.join(allowed)}")
    if s.verify_endpoints:
        # an unknown provider or a mistyped URL would otherwise send the verifier to the
        # real provider, or nowhere, without a word
        from nhiguard.remediate.verifiers import all_verifiers
        from nhiguard.remediate.verify import check_endpoints

        try:
            endpoints = check_endpoints(s.verify_endpoints, all_verifiers())
        except ValueError as exc:
            raise ConfigError(f"verify_endpoints (--verify-endpoint): {exc}") from None
        s = s.with_(verify_endpoints=tuple(f"{k}={v}" for k, v in endpoints.items()))
    for name in ("min_events", "discovery_window", "discovery_threshold", "volume_min", "concurrent_window",
                 "alerts_per_hour", "unused_days", "max_key_age_days", "max_token_lifetime_days"):
        if getattr(s, name) < 1:
            raise ConfigError(f"{name}: must be at least 1, got {getattr(s, name)}")
    if not s.learning_days >= 0:  # also refuses NaN
        raise ConfigError(f"learning_days: must be a number of at least 0, got {s.learning_days}")
    for name in ("volume_factor", "travel_kmh"):
        if not getattr(s, name) > 0:
            raise ConfigError(f"{name}: must be a number above 0, got {getattr(s, name)}")
    if s.webhook and not re.match(r"(?i)^https?://[^/\s]+", s.webhook):
        raise ConfigError(f"webhook: must be an http:// or https:// URL, got {s.webhook[:80]!r}")
    if s.fail_on == "live" and not s.verify:
        raise ConfigError("fail_on: live needs --verify: only verified findings can be live")
    if s.verify_ttl < 0 or s.verify_rate <= 0:
        raise ConfigError("verify_ttl must be 0 or more and verify_rate positive")
    if s.jobs < 0:
        raise ConfigError(f"jobs: must be 0 (all cores) or more, got {s.jobs}")
    if not 0 <= s.decode_depth <= 16:
        raise ConfigError(f"decode_depth: must be 0 to 16, got {s.decode_depth}")
    if s.decode_budget <= 0:
        raise ConfigError(f"decode_budget: must be positive, got {s.decode_budget}")
    if s.max_file_size <= 0:
        raise ConfigError(f"max_file_size: must be positive, got {s.max_file_size}")
    modes = [name for name, on in (("--staged", s.staged), ("--since", bool(s.since)),
                                   ("--no-history", s.no_history), ("--pre-push", s.pre_push)) if on]
    if len(modes) > 1:
        raise ConfigError(f"{' and '.join(modes)} cannot be combined: each picks what of a "
                          "repository is scanned")
    if s.platform:
        from nhiguard.sources.oci import Platform

        try:
            Platform.parse(s.platform)
        except ValueError as exc:
            raise ConfigError(f"platform: {exc}") from None
    if s.staged and s.all_objects:
        raise ConfigError("--staged and --all-objects cannot be combined: the index holds no "
                          "unreachable objects")
    if s.no_history and s.all_objects:
        raise ConfigError("--no-history and --all-objects cannot be combined")
    return s


def describe() -> list[tuple[str, Any, str]]:
    """(name, default, help) of every setting, for docs and `--help`."""
    return [(f.name, f.default, f.metadata.get("help", "")) for f in fields(Settings)]
