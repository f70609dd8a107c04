"""New credentials created: access keys for another user, console passwords for users,
federation tokens, Roles Anywhere trust anchors, SSH keys pushed to instances, service
account keys and token Secrets, GitHub tokens and keys. A new credential outlives the
stolen one it was made with."""

from __future__ import annotations

from typing import Any

from nhiguard.model.severity import Severity
from nhiguard.watch.detector import Context, Detector, Signal, routine

DETECTOR = Detector("watch.new-credentials", "Credentials created", Severity.MEDIUM, ("NHI7:2025", "NHI1:2025"),
                    ("T1098.001",), "a credential made with a stolen one keeps the attacker in after the first is "
                    "revoked, and every new long-lived secret is one more to leak")

# action -> (what, severity)
_AWS = {
    "iam:CreateLoginProfile": ("a console password created for {target}", Severity.HIGH),
    "iam:UpdateLoginProfile": ("the console password of {target} changed", Severity.HIGH),
    "iam:UploadSSHPublicKey": ("an SSH key uploaded for {target}", Severity.MEDIUM),
    "iam:CreateServiceSpecificCredential": ("a service-specific credential created for {target}", Severity.MEDIUM),
    "iam:UploadSigningCertificate": ("a signing certificate uploaded for {target}", Severity.MEDIUM),
    "sts:GetFederationToken": ("a federation token issued (it survives revoking the key that made it)", Severity.HIGH),
    "rolesanywhere:CreateTrustAnchor": ("a Roles Anywhere trust anchor created: outside certificates may get roles",
                                        Severity.HIGH),
    "rolesanywhere:CreateProfile": ("a Roles Anywhere profile created", Severity.MEDIUM),
    "ec2-instance-connect:SendSSHPublicKey": ("an SSH key pushed to instance {target}", Severity.MEDIUM),
    "ec2-instance-connect:SendSerialConsoleSSHPublicKey": ("an SSH key pushed to the serial console of {target}",
                                                           Severity.HIGH),
    "ec2:GetPasswordData": ("the Windows administrator password of {target} read", Severity.MEDIUM),
    "iam:CreateUser": ("user {target} created", Severity.LOW),
}
_GCP = {
    "google.iam.admin.v1.CreateServiceAccountKey": ("a service-account key created", Severity.HIGH),
    "google.iam.admin.v1.UploadServiceAccountKey": ("a service-account key uploaded", Severity.HIGH),
    "google.iam.credentials.v1.GenerateAccessToken": ("an access token minted for a service account", Severity.LOW),
    "google.iam.admin.v1.CreateServiceAccount": ("a service account created", Severity.LOW),
}
_GITHUB = {
    "personal_access_token.request_created": ("a fine-grained token requested access", Severity.LOW),
    "personal_access_token.access_granted": ("a fine-grained token granted access", Severity.MEDIUM),
    "oauth_authorization.create": ("an OAuth token created", Severity.MEDIUM),
    "public_key.create": ("an SSH key added to an account", Severity.MEDIUM),
    "deploy_key.create": ("a deploy key added", Severity.MEDIUM),
    "org_credential_authorization.grant": ("a credential authorised for SSO", Severity.LOW),
    "hook.create": ("a webhook created (it receives every event, and can carry a secret out)", Severity.LOW),
}


# permissions a GCP call used that mint credentials, whatever its method (a deployment can)
_GCP_PERMISSIONS = {"iam.serviceAccountKeys.create": ("a service-account key created", Severity.HIGH),
                    "storage.hmacKeys.create": ("a Cloud Storage HMAC key created", Severity.HIGH)}


# REST routes that make credentials, for calls logged only as api.request (made with a token)
_GITHUB_API = {"/user/keys": ("an SSH key added to the token's user", Severity.HIGH),
               "/keys": ("a deploy key added", Severity.HIGH),
               "/user/gpg_keys": ("a GPG key added to the token's user", Severity.MEDIUM),
               "/hooks": ("a webhook created (it receives every event, and can carry a secret out)",
                          Severity.MEDIUM)}


def relevant(action: str) -> bool:
    service, _, op = action.partition(":")
    return (action in _AWS or action == "iam:CreateAccessKey" or service == "gcp"  # any method: see permissions
            or service == "github" and (op in _GITHUB or op == "api.request")
            or action in ("k8s:create secrets", "k8s:create serviceaccounts", "k8s:create serviceaccounts/token"))


def check(ctx: Context) -> list[Signal]:
    return routine(ctx, _check(ctx))


def _check(ctx: Context) -> list[Signal]:
    e = ctx.event
    if not e.success:
        return []
    p = e.params
    if e.action == "iam:CreateAccessKey":
        target = str(p.get("userName") or p.get("_caller_user") or "")
        caller = str(p.get("_caller_user") or "")
        if target and target != caller:
            return [Signal(DETECTOR, f"an access key created for another user, {target}, by {e.principal}", "",
                           f"CreateAccessKey:{target}", {"target_user": target, "caller": e.principal},
                           Severity.HIGH)]
        return [Signal(DETECTOR, f"{target or e.principal} created an access key for itself", "",
                       f"CreateAccessKey:{target}", {"target_user": target}, Severity.LOW)]
    if e.action in ("iam:CreateLoginProfile", "iam:UpdateLoginProfile"):
        return _login_profile(e)
    if e.action in _AWS:
        what, sev = _AWS[e.action]
        target = str(p.get("userName") or p.get("instanceId") or e.resource or "")
        return [Signal(DETECTOR, what.format(target=target or "a user"), "", f"{e.action}:{target}",
                       {"action": e.action, "target": target or None}, sev)]
    service, _, op = e.action.partition(":")
    if service == "gcp" and op in _GCP:
        what, sev = _GCP[op]
        return [Signal(DETECTOR, f"{what}: {e.resource}", "", f"{op}:{e.resource}", {"resource": e.resource}, sev)]
    if service == "gcp":
        for perm in p.get("permissions") or ():
            if perm in _GCP_PERMISSIONS:
                what, sev = _GCP_PERMISSIONS[perm]
                return [Signal(DETECTOR, f"{what} by {op} ({e.resource or e.account})", "", f"{perm}:{e.resource}",
                               {"permission": perm, "method": op, "resource": e.resource}, sev)]
    if service == "github" and op in _GITHUB:
        what, sev = _GITHUB[op]
        return [Signal(DETECTOR, f"{what} in {e.resource}", "", f"{op}:{e.resource}", {"resource": e.resource}, sev)]
    if e.action == "github:api.request" and str(p.get("request_method") or "").upper() == "POST":
        route = str(p.get("route") or p.get("url_path") or "")
        for suffix, (what, sev) in _GITHUB_API.items():
            if route.rstrip("/").endswith(suffix):
                return [Signal(DETECTOR, f"{what} through the API ({route}) by {e.principal or 'a token'}", "",
                               f"api:{route}", {"route": route}, sev)]
    if e.action == "k8s:create secrets" and p.get("secret_type") == "kubernetes.io/service-account-token" \
            and not _control_plane(e.principal):
        return [Signal(DETECTOR, f"a long-lived service-account token Secret {e.resource} created by {e.principal}",
                       "", f"sa-token:{e.resource}", {"secret": e.resource}, Severity.HIGH)]
    if e.action == "k8s:create serviceaccounts" and not _control_plane(e.principal):
        ns = str(p.get("namespace") or "")
        return [Signal(DETECTOR, f"service account {e.resource} created by {e.principal}", "",
                       f"sa:{e.resource}", {"service_account": e.resource},
                       Severity.MEDIUM if ns in ("kube-system", "kube-public") else Severity.LOW)]
    if e.action == "k8s:create serviceaccounts/token" and not _control_plane(e.principal):
        return [Signal(DETECTOR, f"a token minted for service account {e.resource} by {e.principal}", "",
                       f"token-request:{e.resource}", {"service_account": e.resource}, Severity.LOW)]
    return []


def _login_profile(e: Any) -> list[Signal]:
    """A console password set for a user: by the user itself (low), as an administrator's
    reset the user must change at first sign-in (medium), or set for another user to a
    password the caller knows (high: a way in that survives the stolen key)."""
    what, sev = _AWS[e.action]
    p = e.params
    target = str(p.get("userName") or e.resource or "")
    caller = str(p.get("_caller_user") or p.get("_session") or "")
    if target and target == caller:
        what, sev = f"{target} set its own console password", Severity.LOW
    elif p.get("passwordResetRequired") is True:
        what, sev = what.format(target=target or "a user") + " (to be changed at first sign-in)", Severity.MEDIUM
    else:
        what = what.format(target=target or "a user")
    return [Signal(DETECTOR, what, "", f"{e.action}:{target}", {"action": e.action, "target": target or None,
                                                                "reset_required": p.get("passwordResetRequired")},
                   sev)]


def _control_plane(principal: str) -> bool:
    """Kubernetes' own components (system:kube-controller-manager, system:node:..., and the
    controllers' service accounts in kube-system), which make tokens and accounts as their
    job; any other service account doing it is a workload's credential at work."""
    if principal.startswith("system:serviceaccount:"):
        return principal.startswith("system:serviceaccount:kube-system:")
    return principal.startswith("system:")
