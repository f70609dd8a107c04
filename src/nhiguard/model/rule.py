"""A detection rule as loaded from a YAML rule file (see docs/rules.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

from nhiguard.model.severity import Severity


@dataclass(frozen=True, slots=True)
class Rule:
    id: str  # stable namespaced id, e.g. "nhiguard.aws.access-key-id"
    name: str
    pattern: str  # Python `re` syntax over bytes; secret = group "secret", else group 1, else all
    kind: str  # the NHI kind it reveals, e.g. "aws_access_key"
    provider: str
    severity: Severity
    keywords: tuple[str, ...] = ()  # lower-case; the match must contain one of them
    references: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    negative_examples: tuple[str, ...] = ()
    min_entropy: float = 0.0  # Shannon bits/char of the secret below which a match is dropped
    filters: tuple[str, ...] = ()  # names of extra filters from engine.filters
    pairs_with: tuple[str, ...] = ()  # rule ids whose secret completes this identity
    ignore_case: bool = False
    max_length: int = 4096  # longest possible match in bytes; bounds the confirm window
    starts_at_keyword: bool = False  # every match begins where one of its keywords begins
    source_file: str = field(default="", compare=False)

    def __reduce__(self):
        # start-up unpickles every built-in rule from the cache: a constructor call is several
        # times cheaper than the slots dataclass state protocol (a fields() lookup per rule)
        return (Rule, tuple(getattr(self, f) for f in _FIELDS))


_FIELDS = tuple(f for f in Rule.__dataclass_fields__)

# Rules that recognise a secret by where it sits (an assignment, a URI, a config file) rather
# than by its own format. Where one of them and a provider rule find the same secret, the
# provider rule names it better, so the contextual hit is dropped: one credential, one finding.
CONTEXTUAL_PROVIDERS = frozenset(
    {"generic", "config", "uri", "http", "kubernetes", "htpasswd", "terraform", "ci"}
)


def is_contextual(rule: Rule) -> bool:
    return rule.provider in CONTEXTUAL_PROVIDERS
