"""Which log a record comes from, by its shape, and the Event it becomes."""

from __future__ import annotations

import json
from typing import Any

from nhiguard.model.event import Event
from nhiguard.watch import cloudtrail, gcp_audit, github_audit, k8s_audit

_CLOUDTRAIL_KEYS = {k.lower(): k for k in (
    "eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion", "sourceIPAddress",
    "userAgent", "errorCode", "errorMessage", "requestParameters", "responseElements", "additionalEventData",
    "requestID", "eventID", "readOnly", "resources", "eventType", "apiVersion", "managementEvent",
    "recipientAccountId", "sharedEventID", "vpcEndpointId", "eventCategory", "tlsDetails", "sessionCredentialFromConsole")}


class Unrecognised(ValueError):
    """A JSON object that is no audit record nhiguard reads."""


class BadRecord(ValueError):
    """An audit record that cannot become an Event: no time, a time that is no time or no
    plausible one, a field of the wrong type (an address that is no string, a user that is
    no object)."""


def event(rec: dict[str, Any], place: str, cluster: str = "") -> Event | None:
    try:
        return _event(rec, place, cluster)
    except (ValueError, TypeError, AttributeError) as exc:
        if isinstance(exc, Unrecognised):
            raise
        raise BadRecord(f"{place}: {exc}" if isinstance(exc, ValueError) else f"{place}: fields of the wrong type") \
            from None


def _event(rec: dict[str, Any], place: str, cluster: str = "") -> Event | None:
    """The record's Event; None for records that are deliberately skipped (a request's
    earlier stages); Unrecognised for objects of no known log."""
    if "eventSource" in rec and "eventName" in rec:
        return cloudtrail.event(rec, place)
    if "eventsource" in rec and "eventname" in rec:  # data-lake exports (Athena, Snowflake) lower-case the keys
        return cloudtrail.event({_CLOUDTRAIL_KEYS.get(k, k): v for k, v in rec.items()}, place)
    if rec.get("kind") == "Event" and (str(rec.get("apiVersion", "")).startswith("audit.k8s.io")
                                       or "verb" in rec or "auditID" in rec):
        return k8s_audit.event(rec, place, cluster)
    if rec.get("category") in ("kube-audit", "kube-audit-admin") and isinstance(rec.get("properties"), dict):
        inner = rec["properties"].get("log")  # AKS diagnostic logs wrap each audit event as a string
        try:
            doc = json.loads(inner) if isinstance(inner, str) else None
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python's json reads
            doc = None
        if isinstance(doc, dict):
            if not (doc.get("requestReceivedTimestamp") or doc.get("stageTimestamp")):
                doc["requestReceivedTimestamp"] = rec.get("time") or rec.get("TimeGenerated")  # the wrapper's
            return k8s_audit.event(doc, place, cluster)
    if "protoPayload" in rec:
        return gcp_audit.event(rec, place)
    if "action" in rec and ("actor" in rec or "created_at" in rec or "@timestamp" in rec or "_document_id" in rec):
        return github_audit.event(rec, place)
    raise Unrecognised(place)
