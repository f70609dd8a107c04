"""AWS access keys: STS GetCallerIdentity, signed with Signature Version 4.

GetCallerIdentity needs no permission and changes nothing; AWS answers it for any valid
key with the key's account, user id and ARN, and refuses an unknown, deleted or inactive
key (InvalidClientTokenId) or a wrong secret (SignatureDoesNotMatch). The key id and its
secret are found as two findings paired in one file; each is verified with the other.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import urllib.parse
from datetime import UTC, datetime

from nhiguard.remediate.verify import Candidate, Http, Verification

ID_RULE = "nhiguard.aws.access-key-id"
SECRET_RULE = "nhiguard.aws.secret-access-key"
BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
_REFUSED = ("InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "UnrecognizedClient")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(method: str, url: str, body: bytes, key_id: str, secret: str, region: str, service: str,
         now: datetime | None = None) -> dict[str, str]:
    """The headers of a SigV4-signed request (no session token)."""
    now = now or datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    payload = hashlib.sha256(body).hexdigest()
    canonical_headers = f"content-type:{content_type}\nhost:{host}\nx-amz-date:{amz_date}\n"
    signed = "content-type;host;x-amz-date"
    canonical = "\n".join([method, parts.path or "/", parts.query, canonical_headers, signed, payload])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), day), region), service), "aws4_request")
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Amz-Date": amz_date,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, "
                             f"Signature={signature}"}


def _tag(xml: str, name: str) -> str | None:
    m = re.search(rf"<{name}>([^<]*)</{name}>", xml)
    return m.group(1) if m else None


class AwsStsVerifier:
    name = "aws"
    default_endpoint = "https://sts.amazonaws.com"
    calls = "STS GetCallerIdentity (POST /, SigV4-signed; needs no permission)"

    def handles(self, c: Candidate) -> bool:
        return c.rule_id in (ID_RULE, SECRET_RULE)

    def verify(self, c: Candidate, endpoint: str, http: Http) -> Verification:
        key_id = c.secret if c.rule_id == ID_RULE else c.paired.get(ID_RULE)
        secret = c.secret if c.rule_id == SECRET_RULE else c.paired.get(SECRET_RULE)
        if not key_id or not secret:
            return Verification("unknown", self.name, message="an access key is verified with its secret "
                                "(or the secret with its key id), found beside it")
        if key_id.startswith("ASIA"):
            return Verification("unknown", self.name, message="a temporary key needs its session token")
        url = endpoint + "/"
        headers = sign("POST", url, BODY, key_id, secret, "us-east-1", "sts")
        resp = http.request("POST", url, headers, BODY)
        text = resp.body.decode("utf-8", "replace")
        if resp.status == 200:
            ident = {k: v for k in ("Account", "Arn", "UserId") if (v := _tag(text, k))}
            return Verification("live", self.name, ident)
        code = _tag(text, "Code") or f"HTTP {resp.status}"
        if code in _REFUSED:
            return Verification("revoked", self.name, message=f"aws: {code}")
        return Verification("unknown", self.name, message=f"aws: {code}")
