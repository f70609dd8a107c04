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
    r"insert|replace|fake|foobar|xxxx|\*\*\*|\.\.\.|<[^>]*>|lorem|todo|fixme|secret_here|"
    r"not[_-]?a[_-]?real|test[_-]?(key|token|secret|password)|password123|p@ssw0rd|"
    r"^(password|secret|token|passwd|pass|pwd|null|none|nil|undefined|true|false|admin|root|"
    r"test|testing|default|empty|string|value|key|required|optional|tiger|xyz|abc|foo|bar|baz|"
    r"qux|hunter2|secret1|s3cr3t|passw0rd|pa55word|letmein|sekrit)$)"
)
# `[PASSWORD]`, `[token]`: a bracketed name in documentation.
_BRACKETED = re.compile(r"^\[[^\]]*\]$")
# `secret123`, `Admin@2024`, `password!`: a default word with a few digits or symbols.
_DEFAULT_WORD = re.compile(
    r"(?i)^(password|passwd|pass|secret|token|admin|administrator|root|test|user|guest|demo|"
    r"changeme|default|qwerty|letmein|welcome|master|login)[-_!@#$.*]?\d{0,6}[!@#$.*]?$"
)
# `MY-PASSWORD`, `db_password`, `apitoken`: letters only, and naming what should go there.
_NAMES_ITSELF = re.compile(
    r"(?i)^[a-z_.-]*(pass(word|wd)?|pwd|secret|token|api[_-]?key|credential)s?[a-z_.-]*$"
)


@register("placeholder")
def is_placeholder(secret: str) -> bool:
    """Documentation stand-ins: 'your-key-here', 'xxxx', 'changeme', '<token>', '****'."""
    if _PLACEHOLDER_WORDS.search(secret) or _BRACKETED.match(secret):
        return True
    if _NAMES_ITSELF.match(secret) or _DEFAULT_WORD.match(secret):
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
    r"(?:^|[_.:/@-])%[sd](?:$|[_.:/@-]))"
)


@register("template")
def is_template(secret: str) -> bool:
    """Values filled in elsewhere: ${VAR}, $VAR, {{ x }}, %(x)s, <x>, process.env.X.

    Also when percent-encoded inside a URL (`%24%7BDB_PASSWORD%7D`).
    """
    if _TEMPLATE.search(secret):
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
    rf"^{_IDENT}(?:{_SEP}{_IDENT}|\([^()]*\)|\[[^\[\]]*\])+$|"  # a.b, a->b, A::b, f(x), m[k]
    rf"^{_IDENT}(?:{_SEP}{_IDENT})*\(.*\)$|"  # f(g(x))
    r"^(this|self|req|request|config|cfg|env|options|opts|params|args)\b"
)


def _randomish(word: str) -> bool:
    """A generated-looking identifier segment (mixed case and digits, or long and varied),
    unless it reads as words (`CloudFrontOriginAccessIdentityList`, `X25519PrivateKey`)."""
    classes = sum(bool(re.search(p, word)) for p in ("[a-z]", "[A-Z]", "[0-9]"))
    varied = (len(word) >= 12 and classes == 3) or (
        len(word) >= 20 and shannon_entropy(word) >= 4.0
    )
    if not varied or _is_identifier(word):
        return False
    return not any(len(h) >= 5 and h.isalpha() and _pronounceable(h) for h in _HUMP.findall(word))


@register("code_reference")
def is_code_reference(secret: str) -> bool:
    """Identifiers, attribute paths and calls: `self.password`, `get_secret()`, `cfg->pw`.

    A dotted value whose parts look generated (`Xk29fLq0aZp1.Jd8...`) is a token, not code.
    """
    if not _CODE_REF.match(secret):
        return False
    return not any(_randomish(w) for w in re.findall(r"[A-Za-z0-9_$]+", secret))


_PATHLIKE = re.compile(
    r"^(\.{1,2}/|~/|[A-Za-z]:\\|\\\\|file:)[^\s]*$|"  # ./x ../x ~/x C:\x \\share file:
    r"^/(?:[\w.@-]+/)+[\w.@-]*$|^/[\w@-]+\.\w{1,6}$|"  # /etc/app/key, /key.pem
    r"^[\w.-]+/[\w./-]+\.\w{1,5}$|"  # secrets/db.txt
    r"^[\w.-]+\.(?i:pem|key|crt|cer|der|p12|pfx|jks|keystore|json|ya?ml|txt|env|"
    r"properties|cfg|conf|ini|toml|xml|asc|gpg|pub)$"
)


@register("path")
def is_path(secret: str) -> bool:
    """File system paths and file names: `/run/secrets/db`, `./key.pem`, `tls.key`."""
    return bool(_PATHLIKE.match(secret))


_REFERENCE = re.compile(
    r"(?i)^(?:[a-z][a-z0-9+.-]{1,20}://|"  # any URL (URLs with credentials have their own rules)
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


@register("hashed_or_encrypted")
def is_hashed_or_encrypted(secret: str) -> bool:
    """Password hashes and ciphertexts (`$2b$12$...`, `ENC[...]`, `{cipher}...`)."""
    return bool(_HASHED_OR_ENCRYPTED.match(secret))


# --------------------------------------------------------------------------------------
# Randomness: a secret someone generated, rather than a word, a name or a number.
# --------------------------------------------------------------------------------------

# The commonest letter pairs of English text: a word has nearly all its pairs here, a
# random string of letters about a quarter of them.
_COMMON_BIGRAMS = frozenset(
    """
    th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le
    ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec
    pr no ct us ac ot il tr ly nc et ut ss so rs un lo wa ge ie wh ee wi em ad ol rt po we na
    ul ni ts mo ow pa im mi ai sh ir su id os iv ia am fi ci vi pl ig tu ev ld ry mp fe bl ab
    gh ty op wo sa ay ex ke fr oo av ag if ap gr od bo sp rd do uc bu ei ov by rm ep tt oc fa
    ef cu rn sc gi da yo cr cl du ga qu ue ff ba ey ls va um pp ua up lu go ht ru ug ds lt pi
    rc rr eg au ck ew mu br bi pt ak pu ui rg ib tl ny ki rk ys ob mm fu ph og ms ye ud mb ip my
    ub oi rl gu dr hr cc tw ft wn nu ks hu kn oy ze nv vo ok ox xp xt sk sm sn sw wr ya yp ka ko
    ja jo ju oa eo iz az ez dl gn lf lk lm lv mn nk nn pm rb rv sl ym yl
    """.split()
)
_VOWELS = set("aeiouy")
_HUMP = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def _pronounceable(word: str) -> bool:
    """True for letter strings that read like (English) words: `downgrades`, `filename`.

    70% of the letter pairs must be common ones (50% for words of up to five letters, which
    have few pairs); a random string of letters has about a quarter.
    """
    w = word.lower()
    if not any(c in _VOWELS for c in w):
        return False
    pairs = [w[i : i + 2] for i in range(len(w) - 1)]
    need = 5 if len(w) <= 5 else 7
    return not pairs or sum(p in _COMMON_BIGRAMS for p in pairs) * 10 >= need * len(pairs)


def _humps(part: str) -> list[str] | None:
    """`dbHostName2` -> [db, Host, Name, 2]; None if the part is not letters and digits."""
    humps = _HUMP.findall(part)
    return humps if "".join(humps) == part else None


def _is_identifier(s: str) -> bool:
    """Names made of words: `must_be_changed`, `db-credentials-v2`, `MyAppName`, `PKCS7Types`.

    A generated value splits into many short humps (`veadCL8Sby90`: vead/CL/8/Sby/90) or
    has humps that are not words; a name has humps of three letters or more on average,
    its long humps read as words, and numbers in it are short.
    """
    parts = [p for p in re.split(r"[_.\-]+", s) if p]
    if not parts:
        return True
    humps: list[str] = []
    for part in parts:
        part_humps = _humps(part)
        if part_humps is None:
            return False
        humps += part_humps
    if len(humps) > 8 or sum(len(h) for h in humps) < 3 * len(humps):
        return False
    max_digits = 4 if len(parts) > 1 else 2
    wordy = 0
    for h in humps:
        if h.isdigit():
            if len(h) > max_digits:
                return False
        elif len(h) >= 4:
            if _pronounceable(h):
                wordy += 1
            elif not (h.isupper() and len(h) <= 5):  # an acronym: PKCS, HTTPS
                return False
    return wordy > 0


def _sequential(s: str) -> bool:
    """`abcdefgh`, `abcxyz123`, `1a2b3c4d`, `zyxw9876`: 70% steps of one, at stride 1 or 2."""
    codes = [ord(c) for c in s]
    for stride in (1, 2):
        pairs = list(zip(codes, codes[stride:], strict=False))
        steps = sum(1 for a, b in pairs if abs(b - a) == 1)
        if pairs and steps * 10 >= 7 * len(pairs):
            return True
    return False


@register("low_randomness")
def has_low_randomness(secret: str) -> bool:
    """Words, identifiers, numbers and repetitive strings rather than generated values.

    Drops `combination`, `db-credentials-v2`, `must_be_changed`, `MyAppName`, `12345678`,
    `abcabcabc`, `1a2b3c4d5e`; keeps `aIUnrNfVHdPyjWz...`, `vzihlaquknriqlht`, `Xk9#mP2$qL`, `hunter2`.
    """
    s = secret.strip()
    if len(s) < 6 or re.fullmatch(r"[-+]?[0-9][0-9.,_:]*", s):  # numbers, versions, times
        return True
    if shannon_entropy(s) < 2.5 or len(set(s)) < 5 or _sequential(s):
        return True
    # `#add-password`, `:db_name`, `@admin-user`: an identifier with a sigil
    return _is_identifier(s.strip("#@:!?*.-_/"))


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
