"""Data-volume spikes: far more data reads in an hour (objects downloaded, secrets and
parameters read, repositories cloned, Secrets read from a cluster) than the identity's
busiest hour so far. Exfiltration with a valid credential looks like use, only more."""

from __future__ import annotations

from nhiguard.model.event import Event
from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.volume-spike", "Data-read spike", Severity.MEDIUM, ("NHI2:2025",), ("T1530", "T1555.006"),
                    "stolen credentials are used to take data and secrets in bulk, which no workload does all at once")

READS = frozenset({
    "s3:GetObject", "secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "ssm:GetParameter",
    "ssm:GetParameters", "ssm:GetParametersByPath", "ec2:GetPasswordData", "kms:Decrypt", "dynamodb:Scan",
    "github:git.clone", "github:git.fetch", "github:repo.download_zip", "k8s:get secrets", "k8s:list secrets",
    "gcp:storage.objects.get", "gcp:google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion",
})
SECRET_READS = frozenset({"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "ssm:GetParameter",
                          "ssm:GetParameters", "ssm:GetParametersByPath", "ec2:GetPasswordData", "k8s:get secrets",
                          "k8s:list secrets",
                          "gcp:google.cloud.secretmanager.v1.SecretManagerService.AccessSecretVersion"})


def units(e_action: str, count: int) -> int:
    """Reads an event counts for: items for batch calls, one per call otherwise (bytes of
    a download are evidence, not a count of reads)."""
    return count if e_action == "secretsmanager:BatchGetSecretValue" else 1


def secret_names(e: Event) -> list[str]:
    """The secrets a read names (a batch names several; a list of Secrets names none, and
    counts as one read of its namespace)."""
    ids = e.params.get("secretIdList")
    if isinstance(ids, list) and ids:
        return [str(i) for i in ids[:100]]
    names = e.params.get("names")
    if isinstance(names, list) and names:
        return [str(n) for n in names[:100]]
    for key in ("secretId", "name", "parameterName"):
        v = e.params.get(key)
        if isinstance(v, str) and v:
            return [v]
    return [e.resource or e.action]


def relevant(action: str) -> bool:
    return action in READS


def check(ctx: Context) -> list[Signal]:
    e, p, s = ctx.event, ctx.profile, ctx.settings
    if e.action not in READS or not e.success:
        return []
    # the hour's counters already include this event (the engine counts them before the checks)
    if e.action in SECRET_READS:
        secrets, usual = len(p.hour_secrets), p.max_hour_secrets
        floor = max(s.volume_min // 2, 2)
        threshold = max(floor, int(s.volume_factor * usual) + 1) if ctx.established else floor
        if secrets < threshold:
            return []
        return [Signal(DETECTOR, f"{secrets} different secrets read this hour ({e.action}, latest "
                       f"{e.resource or 'unnamed'})",
                       f"at most {usual} different secrets in an hour before" if ctx.established else
                       f"no baseline yet: {floor} different secrets in an hour is a bulk read",
                       f"secrets@{int(p.hour_start)}", {"secrets_this_hour": secrets, "busiest_hour_before": usual,
                                                       "action": e.action, "hour_start": int(p.hour_start)},
                       Severity.HIGH)]
    now, usual = p.hour_reads, p.max_hour_reads
    if not ctx.established:
        return []
    threshold = max(s.volume_min, int(s.volume_factor * max(usual, 1)) + 1)
    if now < threshold:
        return []
    return [Signal(DETECTOR, f"{now} data reads this hour ({e.action}, latest {e.resource or 'unnamed'})",
                   f"busiest hour before: {usual} reads", f"reads@{int(p.hour_start)}",
                   {"reads_this_hour": now, "busiest_hour_before": usual, "action": e.action,
                    "hour_start": int(p.hour_start)})]
