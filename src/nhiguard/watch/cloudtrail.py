"""AWS CloudTrail records as Events. The identity is the credential where it is a long-term
one (an IAM user's AKIA access key), the role where the caller holds a role's session
(whoever assumed it: EC2 instances, Lambda, CI over OIDC, people over SSO), the root user
of the account, or the user when an IAM user signed in to the console (temporary keys)."""

from __future__ import annotations

import re
from typing import Any

from nhiguard.model.event import Event
from nhiguard.watch.fields import obj, text
from nhiguard.watch.timeparse import epoch

_RESPONSE_NEEDED = frozenset({"ConsoleLogin", "CreateAccessKey"})
_API_VERSION = re.compile(r"20\d{6}(?:v\d+)?$")
# request parameters that name what a call acted on, in the order they are preferred
_RESOURCE_KEYS = ("userName", "roleName", "groupName", "policyArn", "secretId", "name", "trailName", "bucketName",
                  "functionName", "instanceId", "snapshotId", "imageId", "dBSnapshotIdentifier", "keyId",
                  "logGroupName", "detectorId", "clusterName")


def event(rec: dict[str, Any], place: str) -> Event | None:
    ui = obj(rec, "userIdentity")
    source = text(rec, "eventSource", required=True)
    name = text(rec, "eventName", required=True)
    address = text(rec, "sourceIPAddress")
    agent = text(rec, "userAgent")
    kind = ui.get("type") or ""
    arn = ui.get("arn") or ""
    key_id = ui.get("accessKeyId") or ""
    account = rec.get("recipientAccountId") or ui.get("accountId") or ""
    nonhuman: bool | None = None
    if kind == "IAMUser":
        if key_id.startswith("AKIA"):
            ident = "aws:" + key_id
        else:  # console sign-in sessions and events without a key: the user
            ident = "aws:" + (arn or f"user/{ui.get('userName', '')}")
    elif kind == "AssumedRole":
        issuer = ((ui.get("sessionContext") or {}).get("sessionIssuer") or {})
        role = issuer.get("arn") or arn.rsplit("/", 1)[0]
        ident = "aws:" + role
        session = arn.rsplit("/", 1)[-1]
        role_name = issuer.get("userName") or role.rsplit("/", 1)[-1]
        if role_name.startswith("AWSReservedSSO_") or "@" in session or "/aws-reserved/sso.amazonaws.com/" in role:
            nonhuman = False  # a person through IAM Identity Center or a federation
        else:
            nonhuman = True
    elif kind == "Root":
        ident = f"aws:root:{ui.get('accountId') or account}"
        nonhuman = False
    elif kind in ("AWSService", "AWSAccount"):
        ident = "aws-service:" + str(ui.get("invokedBy") or address or kind)
        nonhuman = True
    elif kind in ("IdentityCenterUser", "SAMLUser", "WebIdentityUser", "FederatedUser", "Directory"):
        ident = "aws:" + (arn or str(ui.get("userName") or ui.get("principalId") or kind))
        nonhuman = False if kind in ("IdentityCenterUser", "SAMLUser") else None
    else:
        ident = "aws:" + (arn or key_id or str(ui.get("principalId") or "unknown"))
    when = epoch(rec.get("eventTime"))
    service = source.split(".", 1)[0]
    params = rec.get("requestParameters")
    if not isinstance(params, dict):
        params = {}
    resource = ""
    for k in _RESOURCE_KEYS:
        v = params.get(k)
        if isinstance(v, str) and v:
            resource = v
            break
    count = 1
    if name[-1:].isdigit() or name[-2:-1] == "v":
        name = _API_VERSION.sub("", name)  # Lambda's UpdateFunctionCode20150331v2
    if name == "BatchGetSecretValue":
        ids = params.get("secretIdList")
        count = len(ids) if isinstance(ids, list) else 1
    elif name == "GetObject":
        extra = rec.get("additionalEventData")
        if isinstance(extra, dict) and isinstance(extra.get("bytesTransferredOut"), int | float):
            count = int(extra["bytesTransferredOut"])
    error = rec.get("errorCode") or ""
    params = dict(params)
    params["_caller_user"] = ui.get("userName") or ""
    params["_access_key"] = key_id
    if kind == "AssumedRole":
        params["_session"] = arn.rsplit("/", 1)[-1]
    if name in _RESPONSE_NEEDED:
        params["_response"] = _response_summary(name, rec.get("responseElements"))
        ctx = ui.get("sessionContext")
        params["_mfa"] = ((ctx.get("attributes") or {}).get("mfaAuthenticated")) if isinstance(ctx, dict) else None
        params["_additional"] = rec.get("additionalEventData") if name == "ConsoleLogin" else None
    return Event(when, "cloudtrail", ident, kind, arn or str(ui.get("userName") or ""), f"{service}:{name}",
                 service, resource, address, agent,
                 not error, str(error), str(account), str(rec.get("awsRegion") or ""), count, place, nonhuman,
                 params)


def _response_summary(name: str, resp: Any) -> dict[str, Any] | None:
    """The parts of a response detectors need, never a credential (responses of
    CreateAccessKey, GetFederationToken and AssumeRole hold secret keys)."""
    if not isinstance(resp, dict):
        return None
    if name == "ConsoleLogin":
        return {"ConsoleLogin": resp.get("ConsoleLogin")}
    if name == "CreateAccessKey":
        key = resp.get("accessKey") or {}
        return {"accessKeyId": key.get("accessKeyId"), "userName": key.get("userName")}
    return None
