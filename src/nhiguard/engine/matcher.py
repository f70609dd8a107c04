"""Two-stage matching of one blob against a ruleset.

Stage 1 finds candidate rules cheaply: one Hyperscan database of every rule's
pattern in prefilter mode (a superset of the true matches, one report per rule
per chunk), or, without Hyperscan, the rule's keywords in the lower-cased blob.
Stage 2 confirms with the rule's own Python regex near the candidate, extracts
the secret and runs the filters. A match counts only when its text contains one
of the rule's keywords, in both modes, so both give the same findings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nhiguard.engine import filters as F
from nhiguard.engine import hyperscan_available
from nhiguard.engine.redact import DEFAULT_KEY, audit_token_hash, fingerprint, preview
from nhiguard.engine.windows import OVERLAP as WINDOW_OVERLAP
from nhiguard.engine.windows import LineIndex, windows
from nhiguard.model import Match, Rule
from nhiguard.model.rule import is_contextual

ALLOW_MARKER = b"nhiguard:allow"
CHUNK = 16 * 1024 * 1024  # blobs larger than this are scanned in overlapping windows
OVERLAP = WINDOW_OVERLAP


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    regex: re.Pattern[bytes]
    group: int | str  # which group holds the secret
    keywords: tuple[bytes, ...]
    filters: tuple[F.Filter, ...]


def _secret_group(regex: re.Pattern[bytes]) -> int | str:
    if "secret" in regex.groupindex:
        return "secret"
    return 1 if regex.groups >= 1 else 0


def compile_rule(rule: Rule) -> _Compiled:
    flags = re.IGNORECASE if rule.ignore_case else 0
    regex = re.compile(rule.pattern.encode(), flags)
    missing = F.unknown_filters(rule.filters)
    if missing:
        raise ValueError(f"rule {rule.id}: unknown filter(s) {', '.join(missing)}")
    return _Compiled(
        rule=rule,
        regex=regex,
        group=_secret_group(regex),
        keywords=tuple(k.encode() for k in rule.keywords),
        filters=tuple(F.FILTERS[n] for n in rule.filters),
    )


# Bump when prefilter_expression changes: cached Hyperscan databases are keyed by it.
PREFILTER_VERSION = 2
_QUANT = re.compile(r"\{(\d+)(,(\d*))?\}")
PREFILTER_REPEAT = 24  # bounded repeats above this become unbounded in the prefilter
# "Anything" gaps between a keyword and what follows it (`apify[\s\S]{0,40}?key`) stay bounded
# up to this length: widened to `{0,}`, one common keyword keeps Hyperscan's NFA busy over the
# rest of the blob, and such gaps made a handful of rules cost most of the scan time.
PREFILTER_GAP = 60
_GAP_ATOMS = frozenset({".", r"[\s\S]", r"[\S\s]", r"[^\n]", r"[^\r\n]", r"[^\n\r]"})


def prefilter_expression(pattern: str) -> str:
    """A superset of `pattern` that Hyperscan compiles quickly and scans fast.

    Large bounded repeats (`{16,4096}`) dominate Hyperscan's compile time and database size.
    Stage 1 only needs a superset of the true matches (stage 2 confirms with the exact
    regex), so `{m,n}` with large bounds becomes `{min(m,K),}`, except short gaps of any
    character (see PREFILTER_GAP), which are cheap to compile and costly to widen.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    atom = ""  # the last complete atom, to tell a gap (`[\s\S]{0,40}`) from a token's body
    class_start = 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            if not in_class:
                atom = pattern[i : i + 2]
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
                atom = pattern[class_start : i + 1]
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            class_start = i
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a literal ] first in a class
                out.append("]")
                i += 1
            continue
        if c == "{":
            m = _QUANT.match(pattern, i)
            if m:
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                short_gap = atom in _GAP_ATOMS and lo == 0 and hi is not None and hi <= PREFILTER_GAP
                if not short_gap and (hi is None or hi > PREFILTER_REPEAT or lo > PREFILTER_REPEAT):
                    out.append(f"{{{min(lo, PREFILTER_REPEAT)},}}")
                else:
                    out.append(m.group(0))
                i = m.end()
                atom = ""
                continue
        out.append(c)
        atom = c
        i += 1
    return "".join(out)


def build_hyperscan_db(rules: Sequence[Rule]) -> tuple[bytes | None, tuple[int, ...]]:
    """Serialized Hyperscan database of all rules, plus indexes of rules it could not take.

    Rules Hyperscan rejects even in prefilter mode are confirmed by keyword instead.
    """
    import hyperscan

    exprs, ids, flags, rejected = [], [], [], []
    for i, rule in enumerate(rules):
        f = hyperscan.HS_FLAG_PREFILTER | hyperscan.HS_FLAG_SINGLEMATCH
        if rule.ignore_case:
            f |= hyperscan.HS_FLAG_CASELESS
        exprs.append(prefilter_expression(rule.pattern).encode())
        ids.append(i)
        flags.append(f)
    db = hyperscan.Database()
    try:
        db.compile(expressions=exprs, ids=ids, flags=flags)
    except hyperscan.error:
        # find the rules Hyperscan cannot take and confirm those by keyword instead
        keep = []
        for j, (e, f) in enumerate(zip(exprs, flags, strict=True)):
            try:
                hyperscan.Database().compile(expressions=[e], ids=[ids[j]], flags=[f])
                keep.append(j)
            except hyperscan.error:
                rejected.append(ids[j])
        exprs = [exprs[j] for j in keep]
        flags = [flags[j] for j in keep]
        ids = [ids[j] for j in keep]
        if not exprs:
            return None, tuple(rejected)
        db = hyperscan.Database()
        db.compile(expressions=exprs, ids=ids, flags=flags)
    return hyperscan.dumpb(db), tuple(rejected)


class Matcher:
    """Finds confirmed matches of a ruleset in blobs. Picklable by its constructor args."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        fingerprint_key: bytes = DEFAULT_KEY,
        show_secrets: bool = False,
        use_hyperscan: bool | None = None,
        hs_db: tuple[bytes | None, tuple[int, ...]] | None = None,
    ) -> None:
        self.rules = list(rules)
        for r in self.rules:  # fail fast on unknown filters; regexes compile lazily
            if F.unknown_filters(r.filters):
                compile_rule(r)
        self._compiled: list[_Compiled | None] = [None] * len(self.rules)
        self._keywords = [tuple(k.encode() for k in r.keywords) for r in self.rules]
        self.key = fingerprint_key
        self.show_secrets = show_secrets
        if use_hyperscan is None:
            use_hyperscan = hyperscan_available()
        self.use_hyperscan = use_hyperscan
        self._db = None
        self._always: tuple[int, ...] = ()
        if use_hyperscan:
            import hyperscan

            blob, rejected = hs_db if hs_db is not None else build_hyperscan_db(self.rules)
            self._db = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK) if blob is not None else None
            if self._db is not None:
                self._db.scratch = hyperscan.Scratch(self._db)
            self._always = rejected

    @property
    def engine_name(self) -> str:
        return "hyperscan" if self.use_hyperscan else "python"

    # -- stage 1 ---------------------------------------------------------------------------
    def _candidates(self, data: bytes, lowered: _Lowered) -> dict[int, int]:
        """Rule index -> a position before which no true match of that rule can start."""
        out: dict[int, int] = {}
        if self.use_hyperscan:
            hits: dict[int, int] = {}

            def on_match(idx: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
                hits.setdefault(idx, to)

            if self._db is not None:
                self._db.scan(data, match_event_handler=on_match)
            for idx, end in hits.items():
                out[idx] = max(0, end - self.rules[idx].max_length - 1)
            for idx in self._always:
                if self._keyword_in(self._keywords[idx], lowered()):
                    out[idx] = 0
            return out
        for idx, kws in enumerate(self._keywords):
            if self._keyword_in(kws, lowered()):
                out[idx] = 0
        return out

    @staticmethod
    def _keyword_in(keywords: tuple[bytes, ...], lowered: bytes) -> bool:
        return not keywords or any(k in lowered for k in keywords)

    def compiled(self, idx: int) -> _Compiled:
        """The rule's regex, compiled on first use: most rules never fire in a small scan."""
        c = self._compiled[idx]
        if c is None:
            c = self._compiled[idx] = compile_rule(self.rules[idx])
        return c

    # -- stage 2 ---------------------------------------------------------------------------
    def scan(self, blob_id: str, data: bytes) -> list[Match]:
        if len(data) <= CHUNK + OVERLAP:
            return self._scan_chunk(blob_id, data, 0, LineIndex(data))
        seen: set[tuple[str, int]] = set()
        out: list[Match] = []
        pieces = (data[i : i + CHUNK] for i in range(0, len(data), CHUNK))
        for w in windows(pieces, OVERLAP):
            for m in self._scan_chunk(blob_id, w.data, w.base, LineIndex.of(w)):
                if (m.rule_id, m.start) not in seen:
                    seen.add((m.rule_id, m.start))
                    out.append(m)
        return out

    def _scan_chunk(self, blob_id: str, data: bytes, base: int, lines: LineIndex) -> list[Match]:
        raw: list[tuple[_Compiled, int, int, bytes]] = []
        lowered = _Lowered(data)  # one lower-cased copy per chunk, made only if needed
        for idx, pos in sorted(self._candidates(data, lowered).items()):
            c = self.compiled(idx)
            if c.rule.starts_at_keyword and c.keywords:
                self._confirm_at_keywords(c, data, lowered(), pos, raw)
                continue
            if c.keywords and len(data) - pos > WINDOW_MIN_BLOB:
                windows = keyword_windows(data, lowered(), c.keywords, c.rule.max_length, pos)
            else:
                windows = [(pos, len(data))]
            for ws, we in windows:
                self._confirm(c, data, ws, we, raw)
        raw = _drop_generic_overlaps(raw)
        return self._to_matches(blob_id, raw, base, lines)

    def _confirm(self, c: _Compiled, data: bytes, start: int, end: int, raw: list) -> None:
        for m in c.regex.finditer(data, start, end):
            self._accept(c, data, m, raw)

    def _confirm_at_keywords(self, c: _Compiled, data: bytes, lowered: bytes, pos: int, raw: list) -> None:
        """One anchored attempt per keyword occurrence, for rules whose matches begin at a
        keyword: the same matches as scanning every position (non-overlapping, leftmost
        first), at the cost of the occurrences only. Generic assignment rules key on common
        words (`key`, `token`), and scanning the text around each of them costs far more."""
        starts: set[int] = set()
        for kw in c.keywords:
            i = lowered.find(kw, pos)
            while i >= 0:
                starts.add(i)
                i = lowered.find(kw, i + 1)
        done = -1
        for p in sorted(starts):
            if p < done:
                continue  # inside the previous match, where a scan would not look
            m = c.regex.match(data, p)
            if m is not None:
                done = max(m.end(), p + 1)
                self._accept(c, data, m, raw)

    def _accept(self, c: _Compiled, data: bytes, m: re.Match[bytes], raw: list) -> None:
        secret = m.group(c.group)
        if not secret:
            return
        if c.keywords and not any(k in m.group(0).lower() for k in c.keywords):
            return
        if self._dropped(c, secret):
            return
        if self._allowed_inline(data, m.start(), m.end()):
            return
        s, e = m.span(c.group)
        # the whole match, for a verifier that needs more than the secret (a database
        # URI's host and user): kept only where raw values are (see show_secrets)
        raw.append((c, s, e, secret, m.group(0) if self.show_secrets else None))

    def _dropped(self, c: _Compiled, secret: bytes) -> bool:
        text = secret.decode("utf-8", "surrogateescape")
        if c.rule.min_entropy and F.shannon_entropy(text) < c.rule.min_entropy:
            return True
        return any(f(text) for f in c.filters)

    @staticmethod
    def _allowed_inline(data: bytes, start: int, end: int) -> bool:
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", end)
        if line_end < 0:
            line_end = len(data)
        return data.find(ALLOW_MARKER, line_start, line_end) >= 0

    def _to_matches(self, blob_id: str, raw, base: int, lines: LineIndex) -> list[Match]:
        fps: dict[str, list[str]] = {}
        items = []
        for c, s, e, secret, whole in raw:
            fp = fingerprint(_canonical(c.rule, secret), self.key)
            fps.setdefault(c.rule.id, []).append(fp)
            items.append((c, s, e, secret, fp, whole))
        out = []
        for c, s, e, secret, fp, whole in items:
            pairs = tuple(p for other in c.rule.pairs_with for p in fps.get(other, ()))
            text = secret.decode("utf-8", "replace")
            line, col = lines.position(base + s)
            out.append(
                Match(
                    rule_id=c.rule.id,
                    blob_id=blob_id,
                    fingerprint=fp,
                    preview=preview(text),
                    start=base + s,
                    end=base + e,
                    line=line,
                    column=col,
                    secret=text if self.show_secrets else None,
                    pair_fingerprints=pairs,
                    context=whole.decode("utf-8", "replace") if whole is not None else None,
                    token_hash=audit_token_hash(c.rule.provider, c.rule.kind, text),
                )
            )
        return out


WINDOW_MIN_BLOB = 8192  # below this, confirming over the whole blob is as cheap
MAX_KEYWORD_HITS = 4096  # beyond this many keyword occurrences, windows cost more than they save


def keyword_windows(
    data: bytes, lowered: bytes, keywords: tuple[bytes, ...], max_length: int, pos: int
) -> list[tuple[int, int]]:
    """Line-aligned regions around keyword occurrences that can hold a match.

    Every match contains a keyword and is at most `max_length` long, so it lies within
    `max_length` of a keyword occurrence. Confirming only there keeps a rule that fires
    once in a large blob from costing a regex pass over all of it. Windows are widened
    to whole lines so anchors and lookarounds see the same context as in the full blob.
    """
    n = len(data)
    spans: list[tuple[int, int]] = []
    hits = 0
    for kw in keywords:
        i = lowered.find(kw, max(0, pos - len(kw)))
        while i >= 0:
            hits += 1
            if hits > MAX_KEYWORD_HITS:
                return [(pos, n)]
            spans.append((max(pos, i - max_length), min(n, i + len(kw) + max_length)))
            i = lowered.find(kw, i + 1)
    if not spans:
        return []
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        s = max(pos, data.rfind(b"\n", 0, s) + 1)
        nl = data.find(b"\n", e)
        e = n if nl < 0 else nl + 1
        if merged and s <= merged[-1][1]:
            if e > merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def _rank(rule: Rule) -> int:
    """How well a rule names what it finds: provider format > structural place > generic."""
    if not is_contextual(rule):
        return 2
    return 0 if rule.provider == "generic" else 1


def _drop_generic_overlaps(raw):
    """Drop a hit whose secret span overlaps the span of a better-naming rule's hit."""
    if len({_rank(c.rule) for c, *_ in raw}) < 2:
        return raw
    ranked = [(_rank(c.rule), s, e) for c, s, e, *_ in raw]
    return [
        item
        for item in raw
        if not any(
            r > _rank(item[0].rule) and s < item[2] and item[1] < e for r, s, e in ranked
        )
    ]


def line_column(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


class _Lowered:
    """The lower-cased blob, computed on first call and shared by both stages."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._lowered: bytes | None = None

    def __call__(self) -> bytes:
        if self._lowered is None:
            self._lowered = self._data.lower()
        return self._lowered


_WS = re.compile(rb"\s+")


def _canonical(rule: Rule, secret: bytes) -> bytes:
    """The form of a secret that is fingerprinted: a key block is the same key whatever its
    line endings or wrapping, so whitespace inside key material does not count."""
    if "private_key" in rule.kind:
        return _WS.sub(b"", secret)
    return secret
