"""Defence evasion: audit trails stopped, deleted or narrowed, flow and DNS logs removed,
threat detection and configuration recording switched off, an account taken out of its
organisation, GitHub's secret scanning, Dependabot, Advanced Security, audit streaming,
two-factor and SAML requirements and IP allow lists disabled or loosened. Done with a
non-human identity it is almost never maintenance."""

from __future__ import annotations

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal

DETECTOR = Detector("watch.defence-evasion", "Logging or detection switched off", Severity.HIGH, ("NHI5:2025",),
                    ("T1562.008", "T1562.001"),
                    "attackers blind the defenders before they act; every later step depends on logs that are gone")

EVASION = {
    "cloudtrail:StopLogging": ("CloudTrail logging stopped", Severity.CRITICAL),
    "cloudtrail:DeleteTrail": ("a CloudTrail trail deleted", Severity.CRITICAL),
    "cloudtrail:UpdateTrail": ("a CloudTrail trail changed", Severity.MEDIUM),
    "cloudtrail:PutEventSelectors": ("CloudTrail event selectors changed (what is logged)", Severity.HIGH),
    "cloudtrail:DeleteEventDataStore": ("a CloudTrail Lake event data store deleted", Severity.CRITICAL),
    "ec2:DeleteFlowLogs": ("VPC flow logs deleted", Severity.HIGH),
    "route53resolver:DeleteResolverQueryLogConfig": ("DNS query logging deleted", Severity.HIGH),
    "route53resolver:DisassociateResolverQueryLogConfig": ("DNS query logging detached", Severity.HIGH),
    "route53:DeleteQueryLoggingConfig": ("DNS query logging deleted", Severity.HIGH),
    "organizations:LeaveOrganization": ("the account tried to leave its organisation (and its guardrails)",
                                        Severity.CRITICAL),
    "guardduty:DeleteDetector": ("GuardDuty disabled", Severity.CRITICAL),
    "guardduty:UpdateDetector": ("GuardDuty settings changed", Severity.MEDIUM),
    "guardduty:CreateIPSet": ("a GuardDuty trusted-IP list created (alerts from it are silenced)", Severity.HIGH),
    "guardduty:UpdateIPSet": ("a GuardDuty trusted-IP list changed", Severity.HIGH),
    "guardduty:DeletePublishingDestination": ("GuardDuty findings export deleted", Severity.HIGH),
    "config:StopConfigurationRecorder": ("AWS Config recording stopped", Severity.HIGH),
    "config:DeleteConfigurationRecorder": ("AWS Config recorder deleted", Severity.HIGH),
    "config:DeleteDeliveryChannel": ("AWS Config delivery channel deleted", Severity.HIGH),
    "securityhub:DisableSecurityHub": ("Security Hub disabled", Severity.HIGH),
    "access-analyzer:DeleteAnalyzer": ("IAM Access Analyzer deleted", Severity.MEDIUM),
    "logs:DeleteLogGroup": ("a CloudWatch log group deleted", Severity.MEDIUM),
    "s3:PutBucketLogging": ("bucket access logging changed", Severity.LOW),
    "bedrock:DeleteModelInvocationLoggingConfiguration": ("Bedrock invocation logging deleted", Severity.HIGH),
    "gcp:google.logging.v2.ConfigServiceV2.DeleteSink": ("a log sink deleted", Severity.HIGH),
    "gcp:google.logging.v2.ConfigServiceV2.UpdateSink": ("a log sink changed", Severity.MEDIUM),
    "gcp:google.logging.v2.ConfigServiceV2.DeleteBucket": ("a log bucket deleted", Severity.HIGH),
    "gcp:google.logging.v2.ConfigServiceV2.UpdateBucket": ("a log bucket changed (retention, locks)", Severity.MEDIUM),
    "gcp:google.logging.v2.ConfigServiceV2.DeleteExclusion": ("a log exclusion deleted", Severity.LOW),
    "gcp:google.logging.v2.ConfigServiceV2.CreateExclusion": ("logs excluded from storage", Severity.HIGH),
    "gcp:google.logging.v2.LoggingServiceV2.DeleteLog": ("a log deleted", Severity.HIGH),
    "github:org.audit_log_streaming.destroy": ("audit-log streaming removed", Severity.HIGH),
    "github:audit_log_streaming.destroy": ("audit-log streaming removed", Severity.HIGH),
    "github:secret_scanning.disable": ("secret scanning disabled", Severity.HIGH),
    "github:secret_scanning_new_repos.disable": ("secret scanning for new repositories disabled", Severity.MEDIUM),
    "github:repository_secret_scanning_push_protection.disable": ("secret push protection disabled", Severity.HIGH),
    "github:org.disable_two_factor_requirement": ("the two-factor requirement removed", Severity.HIGH),
    "github:org.saml_disabled": ("SAML single sign-on disabled", Severity.HIGH),
    "github:ip_allow_list.disable": ("the IP allow list disabled", Severity.HIGH),
    "github:org.disable_oauth_app_restrictions": ("OAuth app restrictions disabled", Severity.MEDIUM),
    "github:dependabot_alerts.disable": ("Dependabot alerts disabled", Severity.MEDIUM),
    "github:dependabot_alerts_new_repos.disable": ("Dependabot alerts for new repositories disabled", Severity.LOW),
    "github:dependabot_security_updates.disable": ("Dependabot security updates disabled", Severity.MEDIUM),
    "github:dependabot_security_updates_new_repos.disable": ("Dependabot security updates for new repositories "
                                                             "disabled", Severity.LOW),
    "github:business_advanced_security.disabled": ("GitHub Advanced Security disabled for the enterprise",
                                                   Severity.HIGH),
    "github:advanced_security.disabled": ("GitHub Advanced Security disabled", Severity.HIGH),
    "github:org.update_saml_provider_settings": ("SAML provider settings changed (where sign-in is trusted)",
                                                 Severity.MEDIUM),
    "github:ip_allow_list_entry.create": ("an address added to the IP allow list", Severity.MEDIUM),
    # tightened, not loosened: still who signs in and how changed, worth a look when a token did it
    "github:org.saml_enabled": ("SAML single sign-on enabled (check the identity provider is yours)", Severity.LOW),
    "github:org.enable_two_factor_requirement": ("the two-factor requirement turned on", Severity.LOW),
    "github:org.enable_oauth_app_restrictions": ("OAuth app restrictions turned on", Severity.LOW),
    "github:ip_allow_list_entry.update": ("an IP allow list entry changed", Severity.MEDIUM),
    "github:ip_allow_list_entry.destroy": ("an IP allow list entry removed", Severity.LOW),
}


def relevant(action: str) -> bool:
    return action in EVASION


def check(ctx: Context) -> list[Signal]:
    e = ctx.event
    hit = EVASION.get(e.action)
    if hit is None:
        return []
    what, sev = hit
    if e.action == "cloudtrail:UpdateTrail" and not any(k in e.params for k in ("s3BucketName", "isMultiRegionTrail",
                                                                               "includeGlobalServiceEvents")):
        return []
    tried = "" if e.success else f" (attempted, refused: {e.error})"
    return [Signal(DETECTOR, f"{what}{tried}: {e.resource or e.account}", "", f"{e.action}:{e.resource}",
                   {"action": e.action, "resource": e.resource or None, "succeeded": e.success},
                   sev if e.success else Severity.MEDIUM)]
