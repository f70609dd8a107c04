"""Small named predicates that drop matches which are not real secrets.

Each filter takes the secret (decoded as text, surrogate-escaped) and returns True
when the match must be DROPPED. Rules name the filters they want in `filters:`;
`min_entropy` is applied to every rule that sets it.

Filters see only the secret, never its context: whatever depends on the name a value
is assigned to (an `orderId` is not a secret, a `password` may be) belongs in the rule's
pattern, not here.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter
from collections.abc import Callable
from urllib.parse import unquote

Filter = Callable[[str], bool]
FILTERS: dict[str, Filter] = {}


def register(name: str) -> Callable[[Filter], Filter]:
    def deco(fn: Filter) -> Filter:
        FILTERS[name] = fn
        return fn

    return deco


def shannon_entropy(text: str) -> float:
    """Bits per character of `text` (0 for empty)."""
    if not text:
        return 0.0
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values())


# --------------------------------------------------------------------------------------
# Placeholders and templates: values that stand for a secret without being one.
# --------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS = re.compile(
    r"(?i)(example|placeholder|changeme|change_me|your[_-]?|dummy|sample|redacted|"
    r"insert|replace|fake|foobar|xxxx|\*\*\*|#####|\.\.\.|<[^>]*>|lorem|todo|fixme|secret_here|"
    r"not[_-]?a[_-]?real|test[_-]?(key|token|secret|password)|password123|p@ssw0rd|"
    r"^(password|secret|token|passwd|pass|pwd|null|none|nil|undefined|true|false|admin|root|"
    r"test|testing|default|empty|string|value|key|required|optional|tiger|xyz|abc|foo|bar|baz|"
    r"qux|hunter2|secret1|s3cr3t|passw0rd|pa55word|letmein|sekrit|"
    # type names where a schema or signature gives the type of a password field
    r"str|text|bool|boolean|int|integer|number|char|varchar|bytes|object|any|void|hidden|"
    r"input|field|asdf|asdfgh|asdfghjkl|qwer|qwertz|azerty|zxcv|zxcvbn)$|"
    r"^this[_-]?is[_-]?|open[ _-]?sesame|changeit|"  # this_is_a_secret, RFC 7617, Java keystores
    r"jbswy3dpehpk3pxp|gezdgnbvgy3tqojq|"  # TOTP seeds of the Google Authenticator docs, RFC 6238
    r"(?:^|[^a-z])(?:deleted|masked|censored|omitted|obfuscated)(?:[^a-z]|$))"
)
# `[PASSWORD]`, `[token]`: a bracketed name in documentation.
_BRACKETED = re.compile(r"^\[[^\]]*\]$")
# `secret123`, `Admin@2024`, `password!`: a default word with a few digits or symbols.
_DEFAULT_WORD = re.compile(
    r"(?i)^(password|passwd|pass|secret|token|admin|administrator|root|test|user|guest|demo|"
    r"changeme|default|qwerty|letmein|welcome|master|login|pw|pwd|asdf|qwer|zxcv)[-_!@#$.* ]?\d{0,6}[!@#$.*]?$"
)
# `MY-PASSWORD`, `db_password`, `apitoken`: letters only, and naming what should go there.
_NAMES_ITSELF = re.compile(
    r"(?i)^[a-z_./-]*(pass(word|wd)?|pwd|secret|token|api[_-]?key|credential)s?[a-z_./-]*$"
)
# `OAuth2Token`, `ApiKeySecret`: a type named after the thing (`token: OAuth2Token`).
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*(?:Token|Password|Secret|Key|Credentials?)s?$")
# `super$ecret`, `P@ssw0rd$1`, `D1fficultP@ssw0rd`: the same words in leetspeak.
_LEET = str.maketrans("$@0134578", "saoieastb")
# `busybox@`, `anonymous@`: the e-mail-like password of anonymous FTP.
_ANONYMOUS_FTP = re.compile(r"^[A-Za-z][\w.-]{0,30}@$")


# GitHub (ghp_, gho_, ghu_, ghs_, ghr_) and npm tokens end in a CRC32 of their random part,
# six base62 digits: a token whose checksum holds was minted, not typed into a README, even
# when its random part happens to spell `fake` or `todo` (about one token in eight thousand)
_CHECKSUMMED = re.compile(r"^(?:gh[pousr]|npm)_([A-Za-z0-9]{30})([A-Za-z0-9]{6})$")
_BASE62 = ("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
           "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def has_valid_checksum(secret: str) -> bool:
    m = _CHECKSUMMED.match(secret)
    if m is None:
        return False
    crc = binascii.crc32(m.group(1).encode())
    for alphabet in _BASE62:  # implementations differ in which case comes first: either is a minted token
        n, digits = crc, ""
        while n:
            n, d = divmod(n, 62)
            digits = alphabet[d] + digits
        if digits.rjust(6, "0") == m.group(2):
            return True
    return False


@register("placeholder")
def is_placeholder(secret: str) -> bool:
    """Documentation stand-ins: 'your-key-here', 'xxxx', 'changeme', '<token>', '****'.

    Also the same in leetspeak (`super$ecret`), percent-encoded, the anonymous-FTP password
    (`guest@`), runs like `123456`, and type names (`bool`) where a schema gives a field's type.
    A token whose own checksum holds is never one.
    """
    if has_valid_checksum(secret):
        return False
    if "%" in secret:
        secret = unquote(secret)
    if _PLACEHOLDER_WORDS.search(secret) or _BRACKETED.match(secret):
        return True
    # `56789secret`, `1234token`: the name of the thing between dummy digits
    # `#pass`, `pass!`: the word with a stray symbol at one end
    forms = [secret, secret.strip("0123456789"), secret.strip("#!*._-")]
    if len(secret) <= 24:  # a short word in leetspeak, not a long token with digits in it
        forms.append(secret.translate(_LEET))
    for form in forms:
        if _NAMES_ITSELF.match(form) or _DEFAULT_WORD.match(form):
            return True
    if _ANONYMOUS_FTP.match(secret) or _TYPE_NAME.match(secret):
        return True
    if secret.isdigit() and len(secret) >= 4 and _sequential(secret):  # 123456, 98765432
        return True
    # one character repeated, or a run like 'aaaaaaaa' / '00000000' dominating the value
    most = Counter(secret).most_common(1)
    return bool(most) and len(secret) >= 4 and most[0][1] / len(secret) > 0.6


_TEMPLATE = re.compile(
    r"(\$\{[^}]*\}?|\$\(|\{\{|\}\}|\{%|%\(\w+\)s|^\$[A-Za-z_][A-Za-z0-9_]*$|"
    r"^%[A-Za-z_][A-Za-z0-9_]*%$|^@[A-Za-z_]+@$|#\{[^}]*\}|^<[^>]+>$|"
    r"(?i:process\.env|os\.environ|getenv|env\[|secrets\.|vars\.|\bsettings\.)|"
    r"^\$[A-Za-z_][A-Za-z0-9_]*|^%s$|^\{[A-Za-z_][A-Za-z0-9_.]{0,40}\}$|^\{\d{1,2}\}$|"
    # __TOKEN__ (release-pipeline token replacement), :password (bind parameters),
    # %{var} (Ruby/Puppet), @Microsoft.KeyVault(...) (Azure app-setting references)
    r"^__[A-Za-z0-9_]+__$|^:[A-Za-z_][A-Za-z0-9_]*$|%\{[^}]*\}|^@Microsoft\.KeyVault\(|"
    r"(?:^|[_.:/@,=;&-])%[sd](?:$|[_.:/@,=;&-])|"
    # AKAMAI_{SECTION}_TOKEN, $"{Config.Section}.x", "jdk.{}_url": a format string
    r"\{[A-Za-z_][A-Za-z0-9_.]{0,60}\}|\{\})"
)


@register("template")
def is_template(secret: str) -> bool:
    """Values filled in elsewhere: ${VAR}, $VAR, {{ x }}, %(x)s, <x>, process.env.X.

    Also when percent-encoded inside a URL (`%24%7BDB_PASSWORD%7D`).
    """
    if _TEMPLATE.search(secret) or _TEMPLATE.search(secret.strip("'\"`")):
        return True
    if "%" in secret:
        decoded = unquote(secret)
        return decoded != secret and bool(_TEMPLATE.search(decoded))
    return False


_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@register("uuid")
def is_uuid(secret: str) -> bool:
    return bool(_UUID.match(secret))


_HASH_LIKE = re.compile(
    r"^(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9A-F]{32}|[0-9A-F]{40}|[0-9A-F]{64})$"
)


@register("hash")
def is_hash_like(secret: str) -> bool:
    """Pure-hex values of digest lengths: commit SHAs, checksums, record ids."""
    return bool(_HASH_LIKE.match(secret))


# --------------------------------------------------------------------------------------
# Code, paths and references: the value names where the secret lives.
# --------------------------------------------------------------------------------------

_IDENT = r"[A-Za-z_$][A-Za-z0-9_$]*"
_SEP = r"(?:\.|->|::|\?\.)"
_CODE_REF = re.compile(
    rf"^[&*]?{_IDENT}(?:{_SEP}{_IDENT}|\([^()]*\)|\[[^\[\]]*\])+$|"  # a.b, a->b, &A::b, f(x), m[k]
    rf"^{_IDENT}(?:{_SEP}{_IDENT})*\(.*\)$|"  # f(g(x))
    r"^(this|self|req|request|config|cfg|env|options|opts|params|args)\b|"
    r"^[a-z_][a-z0-9_]*(?:/[a-z_][a-z0-9_]*)*#[a-z_][a-z0-9_]*[!?]?$|"  # Rails `sites/passwords#edit`
    rf"^\.{_IDENT}(?:\.{_IDENT}|\[[^\[\]]*\])*$|"  # a jq path: `.user.roles[0]`
    r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|0)|"  # escaped bytes: `"\xff"`, `"\0$key"`
    r"^[\"'][.+]|[.+][\"']$|"  # the edge of a concatenation: `".md5($pw)."`
    r"&(?:quot|amp|lt|gt|apos|#\d{2,3});?"  # a fragment of HTML-escaped markup
)


def _randomish(word: str) -> bool:
    """A generated-looking identifier segment (mixed case and digits, or long and varied),
    unless it reads as words (`CloudFrontOriginAccessIdentityList`, `X25519PrivateKey`)."""
    classes = sum(bool(re.search(p, word)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    digits = sum(c.isdigit() for c in word)
    varied = (
        (len(word) >= 12 and classes == 3)
        or (len(word) >= 20 and shannon_entropy(word) >= 4.0)
        or (len(word) >= 16 and classes >= 2 and digits * 4 >= len(word) > digits)
    )
    if not varied or _is_identifier(word):
        return False
    return not any(len(h) >= 5 and h.isalpha() and _pronounceable(h) for h in _HUMP.findall(word))


@register("code_reference")
def is_code_reference(secret: str) -> bool:
    """Identifiers, attribute paths and calls: `self.password`, `get_secret()`, `cfg->pw`,
    and Rails route targets (`users/passwords#update`).

    A dotted value whose parts look generated (`Xk29fLq0aZp1.Jd8...`) is a token, not code.
    """
    if _DEFAULT_ARGUMENT.match(secret):
        return True
    if not _CODE_REF.search(secret):
        return False
    return not any(_randomish(w) for w in re.findall(r"[A-Za-z0-9_$]+", secret))


_PATHLIKE = re.compile(
    r"^(\.{1,2}/|~/|[A-Za-z]:\\|\\\\|file:)[^\s]*$|"  # ./x ../x ~/x C:\x \\share file:
    r"^/(?:[\w.@-]+/)+[\w.@-]*$|^/[\w@-]+\.\w{1,6}$|"  # /etc/app/key, /key.pem
    r"^[\w.-]+/[\w./-]+\.\w{1,5}$|"  # secrets/db.txt
    r"^@[./~]\S*$|"  # curl and HTTPie read `@file`
    r"^/(?:[\w.@=:-]+/){2,}|"  # an absolute path, whatever follows
    r"^[\w./-]+\.(?i:md|html?|rst|adoc|txt)#\S*$|"  # a link to a section of a document
    r"^[\w.-]+\.(?i:pem|key|crt|cer|der|p12|pfx|jks|keystore|json|ya?ml|txt|env|"
    r"properties|cfg|conf|ini|toml|xml|asc|gpg|pub)$"
)


@register("path")
def is_path(secret: str) -> bool:
    """File system paths and file names: `/run/secrets/db`, `./key.pem`, `tls.key`."""
    return bool(_PATHLIKE.match(secret))


_REFERENCE = re.compile(
    r"(?i)^(?:(?:[a-z][a-z0-9+.-]{1,20}:)?[a-z][a-z0-9+.-]{1,20}://|"  # any URL, `git:https://x`
    r"(?:arn|urn|vault|ssm|secretsmanager|secretmanager|keyvault|azurekeyvault|gcpsm|awssm|"
    r"aws-sm|kms|sm|secret|secretref|ref|mailto|data):|"
    r"projects/[^/]+/secrets/|"  # GCP Secret Manager resource name
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,10}$|"  # an e-mail address (a user, not a password)
    r"[^\s@/]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,10}:\d{1,5}(?:/\S*)?$|"  # URL rest: pw@host:port
    r"(?:[a-z0-9-]+\.)+(?:com|net|org|io|dev|internal|local|cloud|app|svc|cluster)$)"
)


@register("reference")
def is_reference(secret: str) -> bool:
    """Pointers to a secret rather than the secret: URLs, ARNs, vault paths, e-mail, hosts."""
    return bool(_REFERENCE.match(secret))


_HASHED_OR_ENCRYPTED = re.compile(
    r"^(?:\$(?:1|2[abxy]?|5|6|7|y|gy|apr1|argon2(?:id|i|d)|scrypt|pbkdf2(?:-sha\d+)?|sha1|md5)\$|"
    r"(?:pbkdf2_sha\d+|argon2|bcrypt(?:_sha256)?|scrypt|sha1|md5|unsalted_\w+)\$|"  # Django
    r"(?i:\{(?:s?sha(?:256|384|512)?|s?md5|crypt|pbkdf2[\w-]*|argon2|cipher)\})|"  # LDAP, Spring
    r"(?i:enc|encrypted)[\[(:]|vault:v\d+:|\$ANSIBLE_VAULT|"  # SOPS, Jasypt, Vault transit
    r"(?i:md5|sha1|sha256|sha512|sha-256|sha-512)[:$]|"
    r"\{[A-Za-z0-9+/]{16,}={0,2}\}$)"  # Maven settings-security encrypted passwords
)


# a digest behind a label of words: CI cache keys (`node-cache-Linux-x64-npm-<sha256>`),
# build ids, content-addressed names; the label has several words or says it is a digest
_LABELLED_DIGEST = re.compile(r"^((?:[A-Za-z][A-Za-z0-9]{0,23}[-_.:@/])+)"
                              r"(?:[0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$")
_DIGEST_WORDS = re.compile(r"(?i)sha|md5|hash|digest|checksum|cache|commit|rev|etag|integrity|layer|blob")


@register("hashed_or_encrypted")
def is_hashed_or_encrypted(secret: str) -> bool:
    """Password hashes, ciphertexts and labelled digests (`$2b$12$...`, `ENC[...]`,
    `{cipher}...`, `deps-cache-Linux-<sha256>`)."""
    if _HASHED_OR_ENCRYPTED.match(secret):
        return True
    m = _LABELLED_DIGEST.match(secret)
    if m is None:
        return False
    words = [w for w in re.split(r"[-_.:@/]", m.group(1)) if w]
    return (len(words) >= 3 or bool(_DIGEST_WORDS.search(m.group(1)))) and not any(_randomish(w) for w in words)


# --------------------------------------------------------------------------------------
# Randomness: a secret someone generated, rather than a word, a name or a number.
# --------------------------------------------------------------------------------------

# How English-like each letter pair is: row = letter (`^` = start of word), column = next
# letter (`$` = end of word), digit = log P(next | letter) from 0 (-8 nats) to 9 (0 nats),
# estimated from the words of identifiers and comments in Python's standard library. A
# word scores above a uniformly random string of letters (log 1/27 per pair); about 95% of
# such words do and 94% of random strings of 6 to 14 letters do not.
_PAIR_COLUMNS = "abcdefghijklmnopqrstuvwxyz$"
_PAIR_ROWS = "^abcdefghijklmnopqrstuvwxyz"
_PAIR_TABLE = (
    "656666556345655636765453230",  # ^
    "356633525147661517675434425",  # a
    "655464336537446406646221516",  # b
    "725464365066437326565320306",  # c
    "644574327335446425545322308",  # d
    "536645434125563547663445417",  # e
    "644566427226447416556222406",  # f
    "524373466015455306645321328",  # g
    "733473236034447315465322417",  # h
    "556555512036576525662514054",  # i
    "734575225454447424647342327",  # j
    "644584546435354423644340417",  # k
    "634574327236336413555321607",  # l
    "753473126035536613545211306",  # m
    "636665736244346423675421317",  # n
    "456634524246675607666454225",  # o
    "724474356036336527565131516",  # p
    "444434234226342355548422227",  # q
    "635574426044546405664330407",  # r
    "525374356135435533675231408",  # s
    "635474267025436416655331537",  # t
    "565465415026674606662203114",  # u
    "744384127013435314432232326",  # v
    "734574367245366426643334206",  # w
    "546465446225545724474425527",  # x
    "444454435225554704663442438",  # y
    "631384347113436413444311446",  # z
)
_PAIR_LOGP = {
    r + c: int(d) * 8 / 9 - 8
    for r, row in zip(_PAIR_ROWS, _PAIR_TABLE, strict=True)
    for c, d in zip(_PAIR_COLUMNS, row, strict=True)
}
_UNIFORM_LOGP = math.log(1 / 27)
_VOWELS = set("aeiouy")
_HUMP = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _pronounceable(word: str, margin: float = 0.0) -> bool:
    """True for letter strings that read like (English) words: `downgrades`, `filename`.

    The mean log-likelihood of its letter pairs under the table above beats that of a
    uniformly random string of letters (`vzihlaquknriqlht`, `drrrlmorfci` do not), by
    `margin` nats per pair or more.
    """
    w = word.lower()
    if not any(c in _VOWELS for c in w) or not w.isascii() or not w.isalpha():
        return False
    w = "^" + w + "$"
    gain = sum(_PAIR_LOGP[w[i : i + 2]] - _UNIFORM_LOGP for i in range(len(w) - 1))
    return gain >= margin * (len(w) - 1)


def _humps(part: str) -> list[str] | None:
    """`dbHostName2` -> [db, Host, Name, 2]; None if the part is not letters and digits."""
    humps = _HUMP.findall(part)
    return humps if "".join(humps) == part else None


def _is_identifier(s: str, borrowed_words: bool = False) -> bool:
    """Names made of words: `must_be_changed`, `db-credentials-v2`, `MyAppName`, `PKCS7Types`,
    `LET_ME_IN`, `login:token:`, `at-1234567890-expired`.

    A generated value splits into many short humps (`veadCL8Sby90`: vead/CL/8/Sby/90) or
    has humps that are not words; a name has humps of three letters or more on average
    (two in a name of three or more words: `LET_ME_IN`), its long humps read as words, and
    numbers in it are short or a plain run (`1234567890`).
    """
    parts = [p for p in re.split(r"[_.\-:/]+", s) if p]
    if not parts:
        return True
    humps: list[str] = []
    for part in parts:
        part_humps = _humps(part)
        if part_humps is None:
            return False
        humps += part_humps
    letters = sum(len(h) for h in humps)
    all_words = len(parts) >= 3 and all(h.isalpha() or len(h) <= 2 for h in humps)
    if len(humps) > 8 or letters < (2 if all_words else 3) * len(humps):
        return False
    max_digits = 4 if len(parts) > 1 else 2
    wordy = strange = 0
    for h in humps:
        if h.isdigit():
            if len(h) > max_digits:
                if len(parts) == 1 or len(h) < 6 or not _sequential(h):
                    return False
                wordy += 1  # 1234567890: a dummy, not a random number
        elif len(h) >= 4:
            if _pronounceable(h):
                wordy += 1
            elif not (h.isupper() and len(h) <= 5):  # an acronym: PKCS, HTTPS
                strange += 1
    # With `borrowed_words`, a name may hold words the letter-pair table does not know
    # (`WebhookConfigurations`, `lambdaFunctionList`): one per known word. Off by default:
    # passwords people make up read the same way (`owkzous_iduc`).
    if strange and (not borrowed_words or strange > wordy or len(humps) < 2):
        return False
    return wordy > 0 or all_words


def _sequential(s: str) -> bool:
    """`abcdefgh`, `AbCeFG123`, `1a2b3c4d`, `zyxw9876`: 70% steps of one, at stride 1 or 2."""
    codes = [ord(c) for c in s.lower()]
    for stride in (1, 2):
        pairs = list(zip(codes, codes[stride:], strict=False))
        steps = sum(1 for a, b in pairs if abs(b - a) == 1)
        if pairs and steps * 10 >= 7 * len(pairs):
            return True
    return False


_NUMBER = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|[0-9][0-9.,_:/-]*)")  # 1.2.3, 0x4f, 2015-05-26


def _counting_run(s: str) -> bool:
    """`xoxp-1234567890`, `dapi123456789012345678a9bc`: a run of 8+ counting digits makes up
    much of the value, or one group of digits recurs three times (`1234-1234-1234`): the
    marks of a made-up example rather than a generated secret."""
    runs = re.findall(r"[0-9]{8,}", s)
    if any(_sequential(r) and len(r) * 10 >= 4 * len(s) for r in runs):
        return True
    # `xoxp-1234-1234-1234-...`: the same group of digits three times
    groups = Counter(re.findall(r"(?<![0-9])[0-9]{4,}(?![0-9])", s))
    return any(n >= 3 for n in groups.values())


def _random_number(s: str) -> bool:
    """A long number that is not a run or a repetition: `7895435154470962` (16+ digits)."""
    return len(s) >= 16 and len(set(s)) >= 6 and not _sequential(s)


@register("low_randomness")
def has_low_randomness(secret: str) -> bool:
    """Words, identifiers, numbers and repetitive strings rather than generated values.

    Drops `combination`, `db-credentials-v2`, `must_be_changed`, `MyAppName`, `12345678`,
    `abcabcabc`, `1a2b3c4d5e`; keeps `aIUnrNfVHdPyjWz...`, `vzihlaquknriqlht`, `Xk9#mP2$qL`,
    `hunter2`, and numbers of 16 digits or more that are not runs (numeric API keys).
    """
    s = secret.strip()
    if re.fullmatch(r"[0-9]+", s):
        return not _random_number(s)
    if len(s) < 6 or _NUMBER.fullmatch(s):  # numbers, versions, times
        return True
    if shannon_entropy(s) < 2.5 or len(set(s)) < 5 or _sequential(s) or _counting_run(s):
        return True
    # `#add-password`, `:db_name`, `@admin-user`: an identifier with a sigil
    return _is_identifier(s.strip("#@:!?*.-_/"))


# `Key=Dept,Value=Research`, `Name,Values=web`: a list of names and values (AWS CLI shorthand,
# query strings), where a credential name is one key among others.
_KEY_VALUE_LIST = re.compile(r"[,&;][ \t]*[A-Za-z_][\w.:-]{0,40}=")


@register("key_value_list")
def is_key_value_list(secret: str) -> bool:
    """Values that go on into further `name=value` pairs: `Stack,Value=Test`,
    `EventName,AttributeValue=ConsoleLogin`; not `a,b=c` short runs inside random text."""
    return bool(_KEY_VALUE_LIST.search(secret))


# Pieces of regular-expression syntax; one can be chance (`a-z` in a password), two are a pattern.
_REGEX_PIECES = re.compile(
    r"\\[wdsbWDSB]|\[\^|\[[^\]]{0,40}[A-Za-z0-9]-[A-Za-z0-9][^\]]{0,40}\]|\][*+?]|\]\{\d*,?\d*\}|"
    r"\(\?[:=!<PiIsmx]|\.[*+]|[*+]\?|\{\d+,\d*\}|\$\)|\|\^"
)


@register("regex_pattern")
def is_regex_pattern(secret: str) -> bool:
    """Regular expressions assigned to a token or key name in lexers, parsers and
    validators: `[^\\W\\d]\\w*`, `[!#$%&'*+.^_|~0-9A-Za-z]{1,}`."""
    return len({m.group(0)[:2] for m in _REGEX_PIECES.finditer(secret)}) >= 2


# `Token=None`, `key: str = None`: a parameter's default in a signature, not a value.
_DEFAULT_ARGUMENT = re.compile(r"^[A-Za-z_][\w.\[\]]*=(?:None|null|nil|undefined|true|false|True|False|-?\d{1,6})$")


@register("borrowed_name")
def is_borrowed_name(secret: str) -> bool:
    """Names of things rather than keys, where a word may be jargon: `WebhookConfigurations`,
    `lambdaFunctionRecommendations`, `SecurityGroupForVpcs`. For values of generic names
    such as `key`, which are names far more often than keys; never for passwords."""
    s = secret.strip()
    return len(s) >= 12 and s.isascii() and _is_identifier(s, borrowed_words=True)


@register("word_or_identifier")
def is_word_or_identifier(secret: str) -> bool:
    """`low_randomness` for values people choose, such as passwords, which may be short.

    Drops words, identifiers, short numbers and repetitive strings (`hidden`, `db_pass`,
    `1234`, `aabbcc`), but keeps random strings of four characters or more (`jzkd`,
    `Ose5yN`, `wuuswocs`) and numbers of six digits or more that are not runs (`608115805`).
    """
    s = secret.strip()
    if len(s) < 4:
        return True
    if re.fullmatch(r"[0-9]+", s):
        return len(s) < 6 or len(set(s)) < 4 or _sequential(s)
    if _NUMBER.fullmatch(s):  # versions, times, amounts, 0x4f
        return True
    if len(set(s)) < min(5, len(s) // 2 + 1) or _sequential(s) or _counting_run(s):
        return True
    if shannon_entropy(s) < min(2.5, 0.6 * math.log2(len(s))):
        return True
    if s.isalpha() and (s.islower() or s[1:].islower()):
        # one word (`invalid`, `hidden`): it must read clearly as English, since short
        # random passwords (`kjkenick`) often pass for words at the usual margin
        return _pronounceable(s, margin=0.5)
    return _is_identifier(s.strip("#@:!?*.-_/"))


@register("non_ascii")
def has_non_ascii(secret: str) -> bool:
    """Text with non-ASCII characters: translations and docstrings (`密码`, `Contraseña`)
    rather than generated secrets."""
    return not secret.isascii()


_JWT_SHAPE = re.compile(r"^eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}$")


@register("jwt_value")
def is_jwt_value(secret: str) -> bool:
    """A JSON Web Token: left to the JWT rule, so a generic rule does not report it twice."""
    return bool(_JWT_SHAPE.match(secret))


# --------------------------------------------------------------------------------------
# Structure checks for rules whose secret has a known encoding.
# --------------------------------------------------------------------------------------


def _b64decode(text: str, urlsafe: bool = False) -> bytes | None:
    core = text.strip().rstrip("=")
    core += "=" * (-len(core) % 4)
    try:
        if urlsafe:
            if not re.fullmatch(r"[A-Za-z0-9_-]*=*", core):
                return None
            return base64.urlsafe_b64decode(core)
        return base64.b64decode(core, validate=True)
    except (binascii.Error, ValueError):
        return None


def _printable(raw: bytes) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any((ord(c) < 32 and c not in "\t\r\n") or ord(c) == 127 for c in text):
        return None
    return text


_DOC_USERPASS = {"aladdin:open sesame", "user:pass", "username:password", "user:password"}


@register("not_userpass")
def is_not_userpass(secret: str) -> bool:
    """Drops base64 that does not decode to `user:password` (HTTP Basic, docker `auth`).

    Also drops the documentation pair of RFC 7617, placeholder or templated passwords,
    and `user:user`. An empty password is kept only when the user part is itself a
    long random token (`sk_live_...:` is how some APIs take a key).
    """
    raw = _b64decode(secret) or _b64decode(secret, urlsafe=True)
    text = _printable(raw) if raw is not None else None
    if text is None or ":" not in text or text.lstrip().startswith(("{", "[")):
        return True
    user, _, password = text.partition(":")
    if text.lower() in _DOC_USERPASS:
        return True
    if not password:
        return not (len(user) >= 16 and shannon_entropy(user) >= 3.5)
    if len(password) < 3 or password == user:
        return True
    return is_placeholder(password) or is_template(password)


@register("not_base64")
def is_not_base64(secret: str) -> bool:
    """Drops values that are not base64 of printable text (npm `_password` is base64)."""
    raw = _b64decode(secret)
    return raw is None or _printable(raw) is None or is_placeholder(_printable(raw) or "")


def _b64url_json(part: str) -> str:
    raw = _b64decode(part, urlsafe=True)
    return raw.decode("utf-8", "replace") if raw else ""


@register("not_jwt")
def is_not_jwt(secret: str) -> bool:
    """Drops three-part tokens whose header is not a JOSE header (`{"alg": ...}`)."""
    parts = secret.split(".")
    if len(parts) < 3:
        return True
    header = _b64url_json(parts[0])
    payload = _b64url_json(parts[1])
    if not header.startswith("{") or not re.search(r'"(alg|typ|kid|enc)"', header):
        return True
    return not payload.lstrip().startswith("{")


_JWT_SAMPLE = re.compile(r'"sub"\s*:\s*"1234567890".*"name"\s*:\s*"John Doe"', re.S)


@register("jwt_example")
def is_jwt_example(secret: str) -> bool:
    """Drops the well-known documentation token (sub 1234567890, name John Doe)."""
    parts = secret.split(".")
    return len(parts) >= 2 and bool(_JWT_SAMPLE.search(_b64url_json(parts[1])))


def _pem_base64(body: str) -> str:
    """The base64 characters of a key body, without line breaks, quotes or `\\n` escapes."""
    body = re.sub(r"\\[rn]", "", body)
    return re.sub(r"[^A-Za-z0-9+/=]", "", body)


_PEM_PLACEHOLDER = re.compile(r"(?i)example|redacted|placeholder|xxxxxxxx|yourkey|privatekey")


@register("pem_placeholder")
def is_pem_placeholder(secret: str) -> bool:
    """Key bodies that are obviously not key material: too short, repetitive, or words."""
    b64 = _pem_base64(secret)
    if len(b64) < 32 or _PEM_PLACEHOLDER.search(b64):
        return True
    return len(set(b64)) < 16 or shannon_entropy(b64) < 4.0


_OPENSSH_MAGIC = b"openssh-key-v1\x00"


def _openssh_cipher(secret: str) -> str | None:
    """The cipher name in an OpenSSH private key body, or None if it cannot be read."""
    b64 = _pem_base64(secret).rstrip("=")
    chunk = b64[: (min(len(b64), 128) // 4) * 4]
    try:
        raw = base64.b64decode(chunk)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_OPENSSH_MAGIC) or len(raw) < len(_OPENSSH_MAGIC) + 4:
        return None
    start = len(_OPENSSH_MAGIC)
    n = int.from_bytes(raw[start : start + 4], "big")
    name = raw[start + 4 : start + 4 + n]
    if not 1 <= n <= 40 or len(name) != n or not re.fullmatch(rb"[a-z0-9@.\-]+", name):
        return None
    return name.decode()


@register("openssh_encrypted")
def is_openssh_encrypted(secret: str) -> bool:
    """Drops OpenSSH keys whose header names a cipher (they go to the encrypted rule)."""
    cipher = _openssh_cipher(secret)
    return cipher is not None and cipher != "none"


@register("openssh_unencrypted")
def is_openssh_unencrypted(secret: str) -> bool:
    """Drops OpenSSH keys that are not readably encrypted (they go to the plain rule)."""
    cipher = _openssh_cipher(secret)
    return cipher is None or cipher == "none"


@register("letters_only")
def is_letters_only(secret: str) -> bool:
    """Plain words (camelCase or snake_case identifiers) rather than random values."""
    return bool(re.fullmatch(r"[A-Za-z_-]+", secret)) and not re.search(
        r"[A-Z].*[A-Z].*[A-Z]", secret[1:]
    )


@register("no_digit")
def has_no_digit(secret: str) -> bool:
    return not any(c.isdigit() for c in secret)


def unknown_filters(names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n not in FILTERS]
