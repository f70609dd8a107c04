"""`nhiguard inventory import|list|own`, `posture` and `report summary` through the real CLI,
on exports with the tools' own fields: every importer, bad records reported with the rest
kept, a leaked key linked to its IAM user, owners from CODEOWNERS, config, tags and by hand,
the posture checks, the summary (text and HTML), on SQLite and on the test PostgreSQL."""

from __future__ import annotations

import json
import secrets
import string
import subprocess
from pathlib import Path

import pytest

from tests import helpers_inventory as X
from tests.helpers_pg import pg_schema_url
from tests.integration.cli_helpers import nhiguard, spawn

KEY_ID = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))


def run(tmp_path: Path, *args, store=None, env=None, cwd=None):
    result = nhiguard(*args, "--store", store or tmp_path / "s.db", cwd=cwd or tmp_path, env=env)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    return result


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def listed(tmp_path: Path, *extra, store=None) -> dict[str, dict]:
    out = run(tmp_path, "inventory", "list", "-f", "json", *extra, store=store)
    assert out.code == 0, out.stderr
    return {i["external_id"]: i for i in json.loads(out.stdout)["identities"]}


def posture(tmp_path: Path, *extra, store=None) -> list[dict]:
    out = run(tmp_path, "posture", "-f", "json", *extra, store=store)
    assert out.code in (0, 1), out.stderr
    return json.loads(out.stdout)


def aws_estate(tmp_path: Path) -> dict[str, Path]:
    """An account: a CI user with an old key and a new one, an unused user, root, roles."""
    report = X.credential_report([
        X.report_row("<root_account>", 2000, password=True, password_used=20, mfa=True),
        X.report_row("ci-deployer", 900, key1=(800, 2), key2=(5, None)),
        X.report_row("old-batch", 1500, key1=(1400, 400)),
        X.report_row("svc-reports", 700, password=True, password_used=3, key1=(60, 1)),
    ])
    passrole = X.policy_doc({"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"})
    details = X.authorization_details(
        users=[X.iam_user("ci-deployer", attached=["AdministratorAccess"], tags={"team": "platform"}),
               X.iam_user("old-batch", inline={"runner": passrole}),
               X.iam_user("svc-reports", groups=["readers"])],
        groups=[{"Path": "/", "GroupName": "readers", "GroupId": "AGPAREADERS", "Arn": f"arn:aws:iam::{X.ACCOUNT}:group/readers",
                 "CreateDate": X.ago_z(900), "GroupPolicyList": [],
                 "AttachedManagedPolicies": [{"PolicyName": "ReadOnlyAccess",
                                              "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}]}],
        roles=[X.iam_role("gha-deploy", X.policy_doc({
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::{X.ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"},
            "Condition": {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}}}),
            inline={"deploy": X.policy_doc({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::site/*"})},
            last_used_days=1),
            X.iam_role("AWSServiceRoleForSupport", X.policy_doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                                                  "Principal": {"Service": "support.amazonaws.com"}}),
                       path="/aws-service-role/support.amazonaws.com/", last_used_days=None),
            X.iam_role("ec2-app", X.policy_doc({"Effect": "Allow", "Action": "sts:AssumeRole",
                                               "Principal": {"Service": "ec2.amazonaws.com"}}),
                       inline={"app": X.policy_doc({"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"})},
                       last_used_days=200)])
    keys = "\n".join(json.dumps(d) for d in (
        X.access_keys("ci-deployer", [(KEY_ID, 5, "Active")]),
        X.key_last_used("ci-deployer", KEY_ID, None)))
    return {"aws-credential-report": write(tmp_path, "report.csv", report),
            "aws-authorization-details": write(tmp_path, "details.json", details),
            "aws-access-keys": write(tmp_path, "keys.json", keys.encode())}


def leaky_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "deploy" / "prod").mkdir(parents=True)
    (repo / "deploy" / "dev").mkdir(parents=True)
    (repo / "deploy" / "prod" / "aws.ini").write_text(f"aws_access_key_id = {KEY_ID}\n")
    (repo / "deploy" / "dev" / "aws.ini").write_text(f"aws_access_key_id = {KEY_ID}\n")
    (repo / "CODEOWNERS").write_text("*  @acme/everyone\n/deploy/  @acme/platform\n")
    git = ["git", "-C", str(repo), "-c", "user.email=dev@example.test", "-c", "user.name=dev"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "deploy config"], check=True)
    return repo


# ------------------------------------------------------------------ importers


def test_aws_exports_merge_into_users_keys_and_roles(tmp_path):
    files = aws_estate(tmp_path)
    for kind, path in files.items():
        imported = run(tmp_path, "inventory", "import", kind, path)
        assert imported.code == 0, imported.stderr
    ids = listed(tmp_path)
    user = ids[f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer"]
    assert user["kind"] == "aws_iam_user" and "AdministratorAccess" in user["privileges"]
    assert user["owner"] == "platform" and user["owner_source"] == "tag"
    assert user["grants"][0]["actions"] == ["*"]
    # slot 2 of the credential report and the listed key are one key, named by its id
    key = ids[KEY_ID]
    assert key["parent"] == user["id"] and key["account"] == X.ACCOUNT and key["last_used"] is None
    assert set(key["sources"]) == {"aws-credential-report:report.csv", "aws-access-keys:keys.json"}
    assert f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer#key2" not in ids
    assert f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer#key1" in ids  # never listed by id: stays a slot
    group_user = ids[f"arn:aws:iam::{X.ACCOUNT}:user/svc-reports"]
    assert "group:readers" in group_user["privileges"] and "ReadOnlyAccess" in group_user["privileges"]
    role = ids[f"arn:aws:iam::{X.ACCOUNT}:role/gha-deploy"]
    assert role["kind"] == "aws_iam_role" and role["attributes"]["trusted"]["Federated"]
    # importing again changes nothing but the import time
    again = run(tmp_path, "inventory", "import", "aws-credential-report", files["aws-credential-report"])
    assert "0 new identities" in again.stderr and listed(tmp_path).keys() == ids.keys()


def test_keys_listed_before_the_credential_report_are_merged_too(tmp_path):
    files = aws_estate(tmp_path)
    for kind in ("aws-access-keys", "aws-credential-report", "aws-authorization-details"):
        assert run(tmp_path, "inventory", "import", kind, files[kind]).code == 0
    ids = listed(tmp_path)
    assert ids[KEY_ID]["parent"] == ids[f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer"]["id"]
    assert f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer#key2" not in ids


def test_gcp_azure_kubernetes_and_github_exports(tmp_path):
    project = "shop-prod-4711"
    imports = [
        ("gcp-service-accounts", X.gcp_service_accounts(project, [("api", False), ("legacy", True)]), ()),
        ("gcp-sa-keys", X.gcp_keys(project, "api", [("1f2e3d4c5b6a7988", 500, "USER_MANAGED"),
                                                    ("aa00bb11cc22dd33", 3, "SYSTEM_MANAGED")]), ()),
        ("gcp-iam-policy", X.gcp_policy(project, {"roles/owner": ["api"], "roles/viewer": ["legacy"]}), ()),
        ("azure-sp", json.dumps([X.azure_sp("11111111-2222-3333-4444-555555555555", "billing-sync",
                                            [("6c1f0d8e-aaaa-bbbb-cccc-000000000001", 900, 900)],
                                            tags=["team:billing"])]).encode(), ()),
        ("k8s", X.k8s_list([X.k8s_sa("payments", "api", annotations={"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}),
                            X.k8s_sa("payments", "default"), X.k8s_token("payments", "api-token", "api"),
                            X.k8s_token("payments", "gone-token", "deleted-sa"),
                            X.k8s_role("ClusterRole", "secret-reader", [(["get", "list"], ["secrets"])]),
                            X.k8s_binding("ClusterRoleBinding", "api-admin", "ClusterRole", "cluster-admin",
                                          [("payments", "api")]),
                            X.k8s_binding("RoleBinding", "default-reads", "ClusterRole", "secret-reader",
                                          [("payments", "default")], ns="payments")]), ("--account", "prod-eks")),
        ("github-pats", X.github_pats([{"name": "release bot", "never_expires": True, "used": 2,
                                        "permissions": {"repository": {"contents": "write"}}}]), ("--account", "acme")),
        ("github-installations", X.github_installations([("ci-helper", "all", {"contents": "write", "metadata": "read"}),
                                                         ("labeler", "selected", {"issues": "write"})]), ()),
        ("github-deploy-keys", X.github_deploy_keys([("prod deploy", False, None)]), ("--account", "acme/app")),
    ]
    for kind, data, extra in imports:
        path = write(tmp_path, f"{kind}.json", data)
        result = run(tmp_path, "inventory", "import", kind, path, *extra)
        assert result.code == 0, (kind, result.stderr)
    ids = listed(tmp_path)
    api = ids[f"api@{project}.iam.gserviceaccount.com"]
    assert api["privileges"] == ["roles/owner"] and api["account"] == project and api["status"] == "active"
    assert ids[f"legacy@{project}.iam.gserviceaccount.com"]["status"] == "disabled"  # the policy left it so
    key = ids[f"api@{project}.iam.gserviceaccount.com/keys/1f2e3d4c5b6a7988"]
    assert key["parent"] == api["id"] and key["expires"] is None and key["attributes"]["user_managed"] is True
    secret = ids["6c1f0d8e-aaaa-bbbb-cccc-000000000001"]
    assert secret["kind"] == "azure_client_secret" and secret["parent"] == ids["11111111-2222-3333-4444-555555555555"]["id"]
    sa = ids["prod-eks/payments/api"]
    assert sa["environment"] == "production" and sa["attributes"]["workload_identity"] == {"aws": "arn:aws:iam::1:role/x"}
    assert any(g["actions"] == ["* *"] for g in sa["grants"])
    token = ids["prod-eks/payments/api-token"]
    assert token["kind"] == "k8s_sa_token" and token["parent"] == sa["id"]
    pat = ids["acme/pat/12345"]
    assert pat["privileges"] == ["repository:contents:write"] and pat["expires"] is None
    assert ids["acme/app/keys/10"]["attributes"]["key_fingerprint"].startswith("SHA256:")
    # the token's value in the Secret's data never reaches the store
    assert b"ZXlKaGJHY2lPaUpTVXpJMU5pSXNJbXRwWkNJNklpSjk" not in (tmp_path / "s.db").read_bytes()
    checks = {(i["check_id"], i["name"]) for i in posture(tmp_path)}
    assert ("nhi.overprivileged", "api") in {(c, n.split("@")[0]) for c, n in checks}  # roles/owner
    assert ("nhi.overprivileged", "payments/api") in checks  # cluster-admin
    assert ("nhi.insecure-trust", "payments/default") in checks  # default SA with bindings
    assert ("nhi.orphaned", "payments/gone-token") in checks
    assert ("nhi.static-credential", "payments/api-token") in checks
    assert ("nhi.third-party-broad", "ci-helper") in checks and ("nhi.third-party-broad", "labeler") not in checks
    assert ("nhi.long-lived", "release bot") in checks and ("nhi.human-use", "release bot") in checks


@pytest.mark.parametrize("kind,data,problem", [
    ("aws-credential-report", b"user,arn\nx\n", "user_creation_time"),
    ("aws-credential-report", b"\xff\xfe\x00garbage", "not UTF-8"),
    ("aws-authorization-details", b'{"Users": []}', "get-account-authorization-details"),
    ("k8s", b'{"kind": "List", "items": [{"kind": "Pod"}]}', "ServiceAccount"),
    ("gcp-sa-keys", b"[1, 2", "not JSON"),
    ("github-deploy-keys", b"[]", "--account"),
    ("azure-sp", b"", "empty"),
])
def test_a_file_of_another_kind_is_a_clear_error(tmp_path, kind, data, problem):
    result = run(tmp_path, "inventory", "import", kind, write(tmp_path, "x", data))
    assert result.code == 2 and problem in result.stderr


def test_bad_records_are_reported_and_the_rest_imported(tmp_path):
    rows = [X.report_row("good", 100, key1=(50, 1)),
            "short,row",
            X.report_row("worse", 100).replace(f"arn:aws:iam::{X.ACCOUNT}:user/worse", "not-an-arn"),
            X.report_row("later", 10)]
    report = run(tmp_path, "inventory", "import", "aws-credential-report",
                 write(tmp_path, "r.csv", X.credential_report(rows)))
    assert report.code == 2 and "row 3" in report.stderr and "row 4 (worse): not an IAM ARN" in report.stderr
    keys = json.dumps(X.access_keys("good", [(KEY_ID, 50, "Active")])) + "\n{broken json\n" + json.dumps(
        X.access_keys("later", [("AKIAIOSFODNN7NOTVALID!", 1, "Active")]))
    listing = run(tmp_path, "inventory", "import", "aws-access-keys", write(tmp_path, "k.json", keys.encode()))
    assert listing.code == 2 and "line 2: not JSON" in listing.stderr and "no valid AccessKeyId" in listing.stderr
    ids = listed(tmp_path)
    assert {f"arn:aws:iam::{X.ACCOUNT}:user/good", f"arn:aws:iam::{X.ACCOUNT}:user/later", KEY_ID} <= set(ids)


def test_a_key_rotated_out_of_its_slot_is_marked_deleted_and_imports_count_truthfully(tmp_path):
    old, kept, later = KEY_ID, "AKIA" + "B" * 16, "AKIA" + "C" * 16
    ci = f"arn:aws:iam::{X.ACCOUNT}:user/ci"

    def imported(kind, name, data):
        result = run(tmp_path, "inventory", "import", kind, write(tmp_path, name, data))
        assert result.code == 0, result.stderr
        return result.stderr

    assert "3 new identities, 0 merged, 0 unchanged" in imported(
        "aws-credential-report", "r1.csv", X.credential_report([X.report_row("ci", 900, key1=(200, 2), key2=(1, None))]))
    listing = json.dumps(X.access_keys("ci", [(old, 200, "Active"), (kept, 1, "Active"), (later, 0, "Active")])).encode()
    assert "1 new identity, 2 merged, 0 unchanged" in imported("aws-access-keys", "k.json", listing)  # named slots
    assert "0 new identities, 0 merged, 3 unchanged" in imported("aws-access-keys", "k.json", listing)
    # slot 1 rotated: the report names a key made hours ago, and no longer the old one
    rotated = X.credential_report([X.report_row("ci", 900, key1=(0.1, None), key2=(1, None))])
    said = imported("aws-credential-report", "r2.csv", rotated)
    assert "1 new identity, 2 merged, 0 unchanged" in said
    assert f"ci: {old[:4]}...{old[-4:]} (created {X.ago(200)[:10]}, slot 1) is no longer in the report" in said
    ids = listed(tmp_path)
    assert ids[old]["status"] == "deleted" and "r2.csv" in ids[old]["attributes"]["status_reason"]
    assert ids[kept]["status"] == ids[f"{ci}#key1"]["status"] == "active"
    assert ids[later]["status"] == "active"  # made after the newest time the report shows: not its to judge
    assert "0 new identities, 0 merged, 3 unchanged" in imported("aws-credential-report", "r2.csv", rotated)
    imported("aws-access-keys", "k.json", listing)  # the older listing again, which still shows the old key
    assert listed(tmp_path)[old]["status"] == "deleted"  # a deleted key id never comes back


def test_the_credential_report_as_aws_prints_it_and_key_last_use_outputs(tmp_path):
    import base64

    report = X.credential_report([X.report_row("ci", 900, key1=(5, 2))])
    printed = json.dumps({"Content": base64.b64encode(report).decode(), "ReportFormat": "text/csv",
                          "GeneratedTime": X.ago_z(0)}, indent=4).encode()
    got = run(tmp_path, "inventory", "import", "aws-credential-report", write(tmp_path, "cr.json", printed))
    assert got.code == 0 and "2 new identities" in got.stderr and "base64 Content" in got.stderr
    last_used = X.key_last_used("ci", KEY_ID, 2)
    del last_used["AccessKeyId"]  # `aws iam get-access-key-last-used` does not print it
    path = write(tmp_path, "last-used.json", json.dumps(last_used).encode())
    unnamed = run(tmp_path, "inventory", "import", "aws-access-keys", path)
    assert unnamed.code == 2 and "--key" in unnamed.stderr and KEY_ID not in listed(tmp_path)
    named = run(tmp_path, "inventory", "import", "aws-access-keys", path, "--key", KEY_ID)
    assert named.code == 0, named.stderr
    assert listed(tmp_path)[KEY_ID]["last_used"] == X.ago_z(2)
    again = run(tmp_path, "inventory", "import", "aws-access-keys", path, "--key", KEY_ID)
    assert again.code == 0 and "0 new identities, 0 merged, 1 unchanged" in again.stderr
    by_name = run(tmp_path, "inventory", "import", "aws-access-keys", write(tmp_path, f"{KEY_ID}.json",
                                                                               json.dumps(last_used).encode()))
    assert by_name.code == 0 and "0 new identities, 1 merged" in by_name.stderr  # one more source
    for bad, says in ((("aws-access-keys", path, "--key", "AKIA123"), "not an access key id"),
                      (("aws-credential-report", path, "--key", KEY_ID), "only for aws-access-keys"),
                      (("aws-access-keys", path, path, "--key", KEY_ID), "give one FILE")):
        refused = run(tmp_path, "inventory", "import", *bad)
        assert refused.code == 2 and says in refused.stderr


@pytest.mark.parametrize(("kind", "data", "says"), [
    ("aws-credential-report", X.credential_report([X.report_row("ci", 9)]).replace(b"access_key_1_active,", b""),
     "without the access_key_1_active column the import reads"),
    ("aws-credential-report", "user,arn,user_creation_time\nJosé,a,b\n".encode("latin-1"), "not UTF-8 text"),
    ("aws-credential-report", b"", "the file is empty"),
    ("aws-credential-report", b'{"ReportFormat": "text/csv"}', "a JSON document without a Content field"),
])
def test_a_credential_report_that_cannot_be_read_truthfully_is_refused(tmp_path, kind, data, says):
    result = run(tmp_path, "inventory", "import", kind, write(tmp_path, "x", data))
    assert result.code == 2 and says in result.stderr and "record(s)" not in result.stderr


def test_malformed_kubernetes_items_are_reported_and_the_rest_imported(tmp_path):
    items = [X.k8s_sa("ci", "deployer"), {"kind": "ServiceAccount", "metadata": "oops"}, "str-item", None,
             {**X.k8s_binding("RoleBinding", "rb", "ClusterRole", "view", [("ci", "deployer")], ns="ci"),
              "roleRef": None, "subjects": None}, X.k8s_sa("billing", "invoices")]
    result = run(tmp_path, "inventory", "import", "k8s", write(tmp_path, "k.json", X.k8s_list(items)))
    assert result.code == 2 and "4 skipped" in result.stderr
    for says in ("items[1]: ServiceAccount whose metadata is a string", "items[2]: a string",
                 "items[3]: null", "items[4]: RoleBinding ci/rb: no roleRef",
                 "note: no --account: service accounts are keyed by namespace/name without a cluster"):
        assert says in result.stderr
    assert {"ci/deployer", "billing/invoices"} <= set(listed(tmp_path))


# ------------------------------------------------------------------ linking, owners, posture


def test_a_leaked_key_is_linked_to_its_user_with_owner_and_environments(tmp_path):
    repo = leaky_repo(tmp_path)
    assert run(tmp_path, "scan", repo, "-f", "json").code == 1
    for kind, path in aws_estate(tmp_path).items():
        run(tmp_path, "inventory", "import", kind, path)
    ids = listed(tmp_path)
    key = ids[KEY_ID]
    [finding] = key["findings"]
    assert {c["path"] for c in finding["copies"]} == {"deploy/prod/aws.ini", "deploy/dev/aws.ini"}
    assert not any(i["found_by_scan"] and i["findings"] and i["findings"][0]["id"] == finding["id"]
                   for i in ids.values())  # the finding is a copy of the key, not an identity of its own
    assert key["owner"] == "platform"  # its user's tag; CODEOWNERS comes after tags
    leaked = [i for i in posture(tmp_path) if i["identity"] == key["id"]]
    got = {i["check_id"]: i for i in leaked}
    # only the key id leaked: it names the key but cannot sign; serious, not critical
    assert got["nhi.leaked"]["severity"] == "high" and "only its key id" in got["nhi.leaked"]["message"]
    assert got["nhi.environment-crossing"]["evidence"]["environments"] == ["development", "production"]
    assert "nhi.long-lived" not in got  # five days old
    assert KEY_ID not in json.dumps(leaked)  # named by its short form only
    # once revoked, the leak is closed and the summary counts the time it took
    run(tmp_path, "triage", "set", finding["id"], "revoked", "-m", "rotated by platform")
    assert not [i for i in posture(tmp_path) if i["identity"] == key["id"] and i["check_id"] == "nhi.leaked"]
    summary = run(tmp_path, "report", "summary", "--html", tmp_path / "summary.html")
    assert summary.code == 0 and "closed: 1" in summary.stdout
    assert "of the" in summary.stdout and "active static credentials are long-lived" in summary.stdout
    page = (tmp_path / "summary.html").read_text()
    assert '<span class="figure" id="closed">1</span>' in page and "<svg" in page and "NHI7" in page


def test_found_secrets_get_owners_from_codeowners_config_and_by_hand(tmp_path):
    repo = leaky_repo(tmp_path)
    token = "ghp_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(36))
    (repo / "tools").mkdir()
    (repo / "tools" / "gh.env").write_text(f"GH_TOKEN={token}\n")
    run(tmp_path, "scan", repo)
    found = {i["name"].split()[0]: i for i in listed(tmp_path).values() if i["found_by_scan"]}
    assert found["AWS"]["owner"] == "@acme/platform" and found["AWS"]["owner_source"] == "codeowners"
    gh = next(i for i in listed(tmp_path).values() if i["kind"] == "github_pat")
    assert gh["owner"] == "@acme/everyone"
    cfg = tmp_path / "nhiguard.toml"
    cfg.write_text('owners = ["path:scripts/**=tooling-team", "path:tools=tooling-team"]\n')
    gh = next(i for i in listed(tmp_path).values() if i["kind"] == "github_pat")
    assert gh["owner"] == "@acme/everyone"  # config comes before CODEOWNERS only where a rule matches
    cfg.write_text('owners = ["path:tools/*.env=tooling-team"]\n')
    gh = next(i for i in listed(tmp_path).values() if i["kind"] == "github_pat")
    assert (gh["owner"], gh["owner_source"]) == ("tooling-team", "config")
    own = run(tmp_path, "inventory", "own", gh["id"][:8], "--owner", "release-eng", "--environment", "production")
    assert own.code == 0, own.stderr
    gh = next(i for i in listed(tmp_path).values() if i["kind"] == "github_pat")
    assert (gh["owner"], gh["owner_source"], gh["environment"]) == ("release-eng", "manual", "production")
    assert len(listed(tmp_path, "--owner", "release-eng")) == 1
    run(tmp_path, "inventory", "own", gh["id"], "--clear")
    assert next(i for i in listed(tmp_path).values() if i["kind"] == "github_pat")["owner"] == "tooling-team"
    assert run(tmp_path, "inventory", "own", "ffffffff", "--owner", "x").code == 2


def test_posture_checks_on_an_aws_account(tmp_path):
    for kind, path in aws_estate(tmp_path).items():
        run(tmp_path, "inventory", "import", kind, path)
    issues = posture(tmp_path)
    got = {(i["check_id"], i["name"]) for i in issues}
    assert ("nhi.overprivileged", "ci-deployer") in got  # AdministratorAccess
    assert ("nhi.overprivileged", "old-batch") in got  # iam:PassRole + ec2:RunInstances
    assert ("nhi.overprivileged", "svc-reports") not in got  # read-only
    assert ("nhi.unused", "old-batch key 1") in got  # last used 400 days ago
    assert ("nhi.unused", "ci-deployer key 1") not in got  # used two days ago
    assert not any(c == "nhi.unused" and n.startswith("AKIA") for c, n in got)  # five days old: too new to judge
    assert ("nhi.long-lived", "old-batch key 1") in got and ("nhi.long-lived", "svc-reports key 1") not in got
    assert ("nhi.static-credential", "ci-deployer key 1") in got  # a CI user with keys
    assert ("nhi.human-use", "svc-reports") in got  # machine user signing in to the console
    assert ("nhi.insecure-trust", "gha-deploy") in got  # GitHub OIDC without a subject
    assert ("nhi.insecure-trust", "ec2-app") not in got
    assert not any(n == "AWSServiceRoleForSupport" for _, n in got)  # AWS's own role
    assert ("nhi.unused", "ec2-app") in got and ("nhi.unused", "gha-deploy") not in got
    assert all(i["owasp"] and i["evidence"] is not None for i in issues)
    only = posture(tmp_path, "--check", "nhi.unused", "--unused-days", "500")
    assert {i["check_id"] for i in only} <= {"nhi.unused"} and ("nhi.unused", "old-batch key 1") not in {
        (i["check_id"], i["name"]) for i in only}
    table = run(tmp_path, "posture", "--fail-on", "critical")
    assert table.code == 1 and "NHI5" in table.stdout  # root's access key and the wide-open trust
    assert run(tmp_path, "posture", "--check", "nhi.unused", "--fail-on", "critical").code == 0


def test_one_secret_in_two_repositories_is_one_identity_reused_and_unowned(tmp_path):
    token = "glpat-" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))
    for name in ("billing", "reports"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ci.env").write_text(f"GITLAB_TOKEN={token}\n")
    assert run(tmp_path, "scan", "billing", "reports", "-f", "json").code == 1
    [gl] = [i for i in listed(tmp_path).values() if i["kind"] == "gitlab_pat"]
    assert len(gl["findings"]) == 1 and {Path(c["target"]).name for c in gl["findings"][0]["copies"]} == {"billing", "reports"}
    got = {i["check_id"]: i for i in posture(tmp_path) if i["identity"] == gl["id"]}
    assert [Path(t).name for t in got["nhi.reused"]["evidence"]["targets"]] == ["billing", "reports"] and got["nhi.reused"]["owasp"] == ["NHI9:2025"]
    assert got["nhi.unowned"]["owasp"] == ["NHI1:2025"]
    run(tmp_path, "triage", "set", gl["findings"][0]["id"], "false_positive", "-m", "a test fixture")
    assert not {i["check_id"] for i in posture(tmp_path) if i["identity"] == gl["id"]} & {"nhi.unowned", "nhi.leaked"}


def test_list_formats_and_filters(tmp_path):
    for kind, path in aws_estate(tmp_path).items():
        run(tmp_path, "inventory", "import", kind, path)
    table = run(tmp_path, "inventory", "list")
    assert table.code == 0 and "ci-deployer" in table.stdout and "identities" in table.stdout
    csv_out = run(tmp_path, "inventory", "list", "-f", "csv", "--kind", "aws_access_key").stdout.splitlines()
    assert csv_out[0].startswith("id,kind,provider,external_id") and len(csv_out) == 1 + 4
    assert set(listed(tmp_path, "--provider", "aws", "--unowned")) & {KEY_ID} == set()  # owned through its user
    missing = nhiguard("inventory", "list", "--store", tmp_path / "none.db", cwd=tmp_path)
    assert missing.code == 2 and "no store" in missing.stderr


def test_list_filters_ignore_case_and_say_when_nothing_matches(tmp_path):
    for kind, path in aws_estate(tmp_path).items():
        run(tmp_path, "inventory", "import", kind, path)
    assert listed(tmp_path, "--provider", "AWS", "--owner", "PLATFORM").keys() == listed(
        tmp_path, "--provider", "aws", "--owner", "platform").keys() != set()
    none = run(tmp_path, "inventory", "list", "--provider", "gcp")
    assert none.code == 0 and "no identity matches the filters" in none.stdout and "import" not in none.stdout.split(";")[0]


def test_names_from_providers_cannot_drive_or_reorder_the_terminal(tmp_path):
    pats = X.github_pats([{"name": "ab\u202ecd\x07e\u2066"}])
    run(tmp_path, "inventory", "import", "github-pats", write(tmp_path, "p.json", pats), "--account", "acme")
    table = run(tmp_path, "inventory", "list").stdout
    assert "ab\\u202ecd\\x07e\\u2066" in table and not any(c in table for c in "\u202e\x07\u2066")


def test_an_environment_set_by_hand_is_manual_survives_imports_and_can_be_forgotten(tmp_path):
    files = aws_estate(tmp_path)
    run(tmp_path, "inventory", "import", "aws-authorization-details", files["aws-authorization-details"])
    arn = f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer"
    user = listed(tmp_path)[arn]
    assert run(tmp_path, "inventory", "own", user["id"], "--environment", "staging").code == 0
    run(tmp_path, "inventory", "import", "aws-authorization-details", files["aws-authorization-details"])
    user = listed(tmp_path)[arn]
    assert (user["environment"], user["environment_source"]) == ("staging", "manual")
    assert user["owner"] == "platform"  # the owner was not touched
    both = run(tmp_path, "inventory", "own", user["id"], "--owner", "sre", "--clear")
    assert both.code == 2 and "give one of them" in both.stderr
    cleared = run(tmp_path, "inventory", "own", user["id"], "--clear-environment")
    assert cleared.code == 0 and "environment cleared" in cleared.stderr
    assert listed(tmp_path)[arn]["environment"] is None  # ci-deployer has no environment tag


# ------------------------------------------------------------------ live AWS (moto server), PostgreSQL


@pytest.fixture
def moto_iam(tmp_path):
    from tests.helpers_moto import moto_server

    with moto_server() as url:
        yield url


def test_live_import_from_the_iam_api(tmp_path, moto_iam, monkeypatch):
    import boto3

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    iam = boto3.client("iam", endpoint_url=moto_iam, region_name="us-east-1")
    iam.create_user(UserName="deploy-bot", Tags=[{"Key": "owner", "Value": "platform"}])
    key = iam.create_access_key(UserName="deploy-bot")["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(UserName="deploy-bot", PolicyName="all", PolicyDocument=json.dumps(
        X.policy_doc({"Effect": "Allow", "Action": "*", "Resource": "*"})))
    iam.create_role(RoleName="app", AssumeRolePolicyDocument=json.dumps(X.policy_doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": "*"}})))
    result = run(tmp_path, "inventory", "import", "aws", "--live", "--endpoint", moto_iam, env=env)
    assert result.code == 0, result.stderr
    ids = listed(tmp_path)
    user = next(i for i in ids.values() if i["name"] == "deploy-bot")
    assert ids[key]["parent"] == user["id"] and user["owner"] == "platform" and "inline:all" in user["privileges"]
    got = {(i["check_id"], i["name"]) for i in posture(tmp_path)}
    assert ("nhi.overprivileged", "deploy-bot") in got and ("nhi.insecure-trust", "app") in got
    down = run(tmp_path, "inventory", "import", "aws", "--live", "--endpoint", "http://127.0.0.1:9", env=env)
    assert down.code == 2 and "AWS IAM" in down.stderr


def test_inventory_on_postgresql_with_two_importers_at_once(tmp_path):
    files = aws_estate(tmp_path)
    with pg_schema_url() as url:
        procs = [spawn(["inventory", "import", kind, str(path), "--store", url], cwd=tmp_path)
                 for kind, path in files.items()]
        assert all(p.wait(120) == 0 for p in procs), [p.stderr.read() for p in procs]
        ids = listed(tmp_path, store=url)
        assert {KEY_ID, f"arn:aws:iam::{X.ACCOUNT}:user/ci-deployer"} <= set(ids)
        run(tmp_path, "inventory", "own", ids[KEY_ID]["id"], "--owner", "sre", store=url)
        assert listed(tmp_path, store=url)[KEY_ID]["owner"] == "sre"


def test_a_service_account_used_from_a_laptop_in_the_audit_logs_is_human_use(tmp_path):
    """NHI10 from behaviour: `watch` sees the account's token used by kubectl on a Mac, and
    posture reports it on the inventory identity."""
    objects = [X.k8s_sa("payments", "api")]
    write(tmp_path, "k8s.json", X.k8s_list(objects))
    run(tmp_path, "inventory", "import", "k8s", "k8s.json")

    def audit(minute: int, agent: str) -> dict:
        stamp = f"2026-11-02T10:{minute:02d}:00Z"
        return {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "get",
                "user": {"username": "system:serviceaccount:payments:api"}, "sourceIPs": ["52.58.0.1"],
                "userAgent": agent, "objectRef": {"resource": "secrets", "namespace": "payments", "name": "db"},
                "responseStatus": {"code": 200}, "requestReceivedTimestamp": stamp}

    log = tmp_path / "audit.jsonl"
    log.write_text("".join(json.dumps(audit(m, a)) + "\n" for m, a in (
        (1, "api/v1.2.3 (linux/amd64) kubernetes/abc"),
        (2, "kubectl/v1.30.1 (darwin/arm64) kubernetes/7c48c2b"),
        (3, "kubectl/v1.30.1 (darwin/arm64) kubernetes/7c48c2b"))))
    watched = nhiguard("watch", log, "--store", tmp_path / "s.db", "-f", "json", cwd=tmp_path)
    [alert] = [a for a in json.loads(watched.stdout)["alerts"] if a["detector"] == "watch.server-credential-on-desktop"]
    assert alert["inventory_id"] == listed(tmp_path)["payments/api"]["id"]
    issues = json.loads(run(tmp_path, "posture", "--check", "nhi.human-use", "-f", "json").stdout)
    [issue] = [i for i in issues if i["evidence"].get("alert") == alert["id"]]
    assert issue["severity"] == "high" and "used by a person" in issue["message"] and "kubectl" in issue["message"]
    assert nhiguard("alerts", "set", alert["id"], "false_positive", "--store", tmp_path / "s.db", cwd=tmp_path).code == 0
    after = json.loads(run(tmp_path, "posture", "--check", "nhi.human-use", "-f", "json").stdout)
    assert not [i for i in after if i["evidence"].get("alert") == alert["id"]]  # decided: no longer an issue


def test_a_leaked_key_with_its_secret_is_critical_while_active(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    secret = "".join(secrets.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    (repo / "aws.ini").write_text(f"aws_access_key_id = {KEY_ID}\naws_secret_access_key = {secret}\n")
    run(tmp_path, "scan", repo)
    for kind, path in aws_estate(tmp_path).items():
        run(tmp_path, "inventory", "import", kind, path)
    key = listed(tmp_path)[KEY_ID]
    [leak] = [i for i in posture(tmp_path) if i["identity"] == key["id"] and i["check_id"] == "nhi.leaked"]
    assert leak["severity"] == "critical" and "only its key id" not in leak["message"]
    assert len(leak["evidence"]["findings"]) == 2  # the key id and the secret paired with it


def test_users_gone_from_a_newer_credential_report_are_offboarded_with_their_keys(tmp_path):
    write(tmp_path, "r1.csv", X.credential_report([X.report_row("ci-deployer", 900, key1=(800, 2)),
                                                   X.report_row("old-batch", 1500, key1=(1400, 400))]))
    run(tmp_path, "inventory", "import", "aws-credential-report", "r1.csv")
    assert all(v["status"] == "active" for v in listed(tmp_path).values())
    write(tmp_path, "r2.csv", X.credential_report([X.report_row("ci-deployer", 900, key1=(800, 1))]))
    done = run(tmp_path, "inventory", "import", "aws-credential-report", "r2.csv")
    assert done.code == 0, done.stderr
    assert "old-batch is no longer in the report" in done.stderr
    after = listed(tmp_path).values()
    gone = [v for v in after if "old-batch" in (v.get("name") or "")]
    assert len(gone) == 2 and all(v["status"] == "deleted" for v in gone)  # the user and its key
    assert all(v["status"] == "active" for v in after if "ci-deployer" in (v.get("name") or ""))
    stale = [i for i in posture(tmp_path) if "old-batch" in i["name"]]
    assert stale == []  # offboarded: nothing left to rotate, remove or own
    write(tmp_path, "partial.csv", X.credential_report([X.report_row("other", 10, key1=(5, 1))]) + b"broken,row\n")
    assert run(tmp_path, "inventory", "import", "aws-credential-report", "partial.csv").code == 2
    # a report with a bad row is no full roster: ci-deployer (perhaps the bad row) stays
    assert all(v["status"] == "active" for v in listed(tmp_path).values() if "ci-deployer" in (v.get("name") or ""))
