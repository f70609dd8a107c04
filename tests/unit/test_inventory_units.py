"""The small parts of the inventory on their own: privilege reach per provider, owner rules
and CODEOWNERS matching, the time formats providers export, and each importer on files
that are broken in the ways real ones are."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from nhiguard.inventory import aws as iam
from nhiguard.inventory import gcp, github, k8s
from nhiguard.inventory import owners as O
from nhiguard.inventory.parse import (
    ImportContext,
    ImportError_,
    environment_from_tags,
    owner_from_tags,
    parse_time,
)
from nhiguard.model.identity import Grant
from nhiguard.posture.privilege import reach
from nhiguard.report.common import printable
from nhiguard.settings import ConfigError
from tests import helpers_inventory as X


def aws(*actions: str, resources=("*",), effect="Allow", not_action=False) -> Grant:
    return Grant(tuple(actions), tuple(resources), "policy p", effect, not_action)


@pytest.mark.parametrize(("grants", "admin", "wild", "escalates"), [
    ([aws("*")], True, False, False),
    ([aws("s3:GetObject", not_action=True)], True, False, False),  # NotAction on *: nearly everything
    ([aws("s3:*")], False, True, False),
    ([aws("s3:*", resources=("arn:aws:s3:::one-bucket/*",))], False, False, False),
    ([aws("iam:PassRole", "ec2:RunInstances")], False, False, True),
    ([aws("iam:PassRole")], False, False, False),  # passing a role needs something to pass it to
    ([aws("iam:Pass*"), aws("ec2:Run*")], False, False, True),
    ([aws("iam:CreateAccessKey")], False, False, True),
    ([aws("iam:CreateAccessKey"), aws("iam:CreateAccessKey", effect="Deny")], False, False, False),
    ([aws("s3:GetObject", "ec2:Describe*")], False, False, False),
])
def test_aws_reach(grants, admin, wild, escalates):
    r = reach("aws", grants)
    assert (bool(r.admin), bool(r.wildcards), bool(r.escalations)) == (admin, wild, escalates)


@pytest.mark.parametrize(("actions", "admin", "escalates"), [
    (("* *",), True, False),
    (("get secrets",), False, True),
    (("list pods", "get pods"), False, False),
    (("create pods/exec",), False, True),
    (("* pods/*",), False, True),
    (("impersonate serviceaccounts",), False, True),
])
def test_kubernetes_reach(actions, admin, escalates):
    r = reach("kubernetes", [Grant(actions, ("cluster",), "ClusterRoleBinding b")])
    assert (bool(r.admin), bool(r.escalations)) == (admin, escalates)


def test_gcp_and_github_reach():
    assert reach("gcp", [Grant(("*",), ("projects/p",), "roles/owner")]).admin
    assert reach("gcp", [Grant(("iam.serviceAccountKeys.create",), ("projects/p",), "roles/x")]).escalations
    assert not reach("gcp", [Grant(("storage.objects.get",), ("projects/p",), "roles/viewer")]).escalations
    assert reach("github", [Grant(("administration:write",), ("all",), "app")]).admin
    gh = reach("github", [Grant(("contents:write", "metadata:read"), ("all",), "app")])
    assert not gh.admin and gh.wildcards == ["contents:write on all repositories"]


def test_owner_rules_match_in_order_with_gitignore_globs():
    rules = O.parse_rules(["path:services/api/**=api-team", "path:*.env=root-env", "image:registry.test/data/*=data",
                           "tag:team=payments=payments-team", "account:1234*=platform"], "owners")
    assert O.match(rules, copies=[{"path": "services/api/deep/x.py"}]) == "api-team"
    assert O.match(rules, copies=[{"path": "a.env"}]) == "root-env"
    assert O.match(rules, copies=[{"path": "sub/a.env"}]) == "root-env"  # no slash: any depth, as in .gitignore
    assert O.match(O.parse_rules(["path:services/*.py=x"], "owners"), copies=[{"path": "services/a/b.py"}]) is None
    assert O.match(rules, copies=[{"image": "registry:registry.test/data/etl:1"}]) == "data"  # any tag
    assert O.match(rules, copies=[{"image": "registry.test/other/etl"}]) is None
    assert O.match(rules, copies=[{"image": "registry.test/data/etl"}]) == "data"
    assert O.match(rules, tags={"team": "payments"}) == "payments-team"
    assert O.match(rules, tags={"team": "other"}) is None
    assert O.match(rules, account="123456789012") == "platform"


@pytest.mark.parametrize("bad", ["path:x", "nowhere:x=y", "tag:team=a", "path:=y", "path:x= "])
def test_bad_owner_rules_are_config_errors(bad):
    with pytest.raises(ConfigError, match="owners"):
        O.parse_rules([bad], "owners")


def test_codeowners_last_matching_line_wins(tmp_path):
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text(
        "# owners\n*  @org/all\n/deploy/  @org/platform\ndocs/*.md @org/docs\n*.tf @org/infra @someone\n")
    co = O.CodeOwners()
    assert co.owner(str(tmp_path), "src/a.py") == "@org/all"
    assert co.owner(str(tmp_path), "deploy/prod/aws.ini") == "@org/platform"
    assert co.owner(str(tmp_path), "other/deploy/x") == "@org/all"  # /deploy/ is anchored
    assert co.owner(str(tmp_path), "deploy/main.tf") == "@org/infra"
    assert co.owner(str(tmp_path), "docs/a.md") == "@org/docs"
    assert co.owner(str(tmp_path), "docs/sub/a.md") == "@org/all"
    assert co.owner(str(tmp_path / ".git"), "deploy/x") == "@org/platform"  # a .git target means its work tree
    assert O.CodeOwners().owner(str(tmp_path / "nowhere"), "a") is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-03-01T10:20:30+00:00", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),  # AWS credential report
    ("2024-03-01T10:20:30Z", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),  # AWS JSON, GitHub, kubectl
    ("2024-03-01t10:20:30z", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2024-03-01T12:20:30+02:00", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2023-05-16T08:47:09.000-07:00", datetime(2023, 5, 16, 15, 47, 9, tzinfo=UTC)),  # GitHub: fraction and offset
    ("2023-05-16T08:47:09.5-07:00", datetime(2023, 5, 16, 15, 47, 9, 500000, tzinfo=UTC)),
    ("2023-05-16T08:47:09.123456-0700", datetime(2023, 5, 16, 15, 47, 9, 123456, tzinfo=UTC)),
    ("2023-05-16T08:47:09-07", datetime(2023, 5, 16, 15, 47, 9, tzinfo=UTC)),
    ("2023-05-16T08:47:09+0000", datetime(2023, 5, 16, 8, 47, 9, tzinfo=UTC)),
    ("2024-03-01 10:20:30.123456789Z", datetime(2024, 3, 1, 10, 20, 30, 123456, tzinfo=UTC)),  # nanoseconds: cut
    ("2024-03-01 10:20:30.1234567+01:00", datetime(2024, 3, 1, 9, 20, 30, 123456, tzinfo=UTC)),
    ("2024-03-01T10:20:30.1Z", datetime(2024, 3, 1, 10, 20, 30, 100000, tzinfo=UTC)),
    ("2024-03-01 10:20:30", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),  # no zone: UTC
    ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
    (" 2024-03-01T10:20:30Z ", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("N/A", None), ("no_information", None), ("not_supported", None), ("", None), (None, None),
    ("9999-12-31T23:59:59Z", None),  # GCP's "never expires"
    ("9999-12-31T23:59:59-01:00", None),
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "last tuesday", "2024-13-01", "2024-03-01T10:20:30.000-07:00x",
                                  "1700000000", "2024-03-01T25:00:00Z"])
def test_a_value_that_is_no_date_is_an_error(text):
    with pytest.raises(ValueError):
        parse_time(text)


def test_tags_name_owners_and_environments():
    assert owner_from_tags({"team": "payments"}) == "payments"
    assert owner_from_tags({"Owner": "sre"}) == "sre"
    assert owner_from_tags({"purpose": "x"}) is None
    assert environment_from_tags({"env": "prod"}) == "production"
    assert environment_from_tags({"Environment": "stg"}) == "staging"
    assert environment_from_tags({"stage": "Blue-Green"}) == "blue-green"  # kept as the estate spells it


# ------------------------------------------------------------------ importers on broken files


KEY = "AKIAQWERTYUIOPASDFGH"


def ctx(name: str = "x.json", account: str = "", **extra) -> ImportContext:
    return ImportContext(f"kind:{name}", b"k" * 32, account, **extra)


def test_a_credential_report_without_a_column_it_reads_is_refused_naming_it():
    header = X.REPORT_HEADER.split(",")
    row = X.report_row("ci", 100, key1=(50, 1)).split(",")
    for dropped in (["access_key_1_active"], [c for c in header if c.startswith(("access_key_2", "cert_"))]):
        keep = [i for i, c in enumerate(header) if c not in dropped]
        data = "\n".join(",".join(cells[i] for i in keep) for cells in (header, row)).encode()
        with pytest.raises(ImportError_) as exc:
            iam.credential_report(data, ctx())
        named = str(exc.value).split(" the import reads")[0]
        assert all(c in named for c in dropped if not c.endswith(("_region", "_service"))), named
        assert "access_key_1_last_rotated" not in named
    # the region and service of a last use only describe it: the report is read, with a note
    keep = [i for i, c in enumerate(header) if not c.endswith(("_region", "_service"))]
    data = "\n".join(",".join(cells[i] for i in keep) for cells in (header, row)).encode()
    result = iam.credential_report(data, ctx())
    assert not result.problems and len(result.identities) == 2
    assert any("access_key_1_last_used_region" in n and "left empty" in n for n in result.notes)


def test_credential_report_rows_of_the_wrong_length_say_how_long_they_are():
    rows = [X.report_row("a", 10), "short,row,x,y,z", X.report_row("b", 10) + ",extra,cols,more"]
    result = iam.credential_report(X.credential_report(rows), ctx())
    assert result.problems == ["row 3: 5 columns where the header has 22; skipped",
                               "row 4: 25 columns where the header has 22; skipped"]
    assert result.records == 3 and [i.name for i in result.identities] == ["a"]


@pytest.mark.parametrize(("data", "says"), [
    (b"", "the file is empty"),
    (b"  \n\n", "the file is empty"),
    (b"user,arn,user_creation_time\nJos\xe9,x,y\n", "not UTF-8 text (byte 31 is 0xe9)"),
    ("user,arn".encode("utf-16"), "UTF-16"),
    (b'{"Users": []}', "a JSON document without a Content field"),
    (b'{"Content": "not base64!"}', "Content field is not base64"),
    (b"name,value\nx,1\n", "no user, arn, user_creation_time columns in its header (it starts 'name,value')"),
    (b"hello\n", "neither CSV nor the base64 of one"),
])
def test_a_file_that_is_no_credential_report_says_what_it_is(data, says):
    with pytest.raises(ImportError_) as exc:
        iam.credential_report(data, ctx())
    assert says in str(exc.value)


def test_the_json_get_credential_report_prints_is_decoded_and_imported():
    import base64
    import json

    csv_bytes = X.credential_report([X.report_row("ci", 100, key1=(50, 1))])
    doc = {"Content": base64.b64encode(csv_bytes).decode(), "ReportFormat": "text/csv",
           "GeneratedTime": X.ago_z(0)}
    for data in (json.dumps(doc).encode(), base64.b64encode(csv_bytes) + b"\n"):
        result = iam.credential_report(data, ctx())
        assert [i.name for i in result.identities] == ["ci", "ci key 1"] and not result.problems
        assert any("base64" in n for n in result.notes)
    [holding] = iam.credential_report(json.dumps(doc).encode(), ctx()).holdings
    assert holding.as_of == parse_time(doc["GeneratedTime"])  # the report says when it was made


def test_a_bad_date_in_an_access_key_listing_is_one_warning_on_an_imported_key():
    data = json.dumps(X.access_keys("ci", [("AKIAABCDEFGHIJKLMNOP", 3, "Active")])).replace(
        X.ago(3), "last tuesday").encode()
    result = iam.access_keys(data, ctx())
    assert result.warnings == ["AKIAABCDEFGHIJKLMNOP: CreateDate is not a date: 'last tuesday'; left empty"]
    assert not result.problems and [i.external_id for i in result.identities] == ["AKIAABCDEFGHIJKLMNOP"]


def test_get_access_key_last_used_output_is_about_the_key_the_option_or_file_name_names():
    out = X.key_last_used("ci", KEY, 3)
    del out["AccessKeyId"]  # as the AWS CLI prints it
    data = json.dumps(out).encode()
    for context in (ctx(access_key_id=KEY), ctx(f"{KEY}.json"), ctx(f"last-used-{KEY}.json")):
        result = iam.access_keys(data, context)
        [key] = result.identities
        assert key.external_id == KEY and key.last_used is not None and not result.problems
    unnamed = iam.access_keys(data, ctx())
    assert not unnamed.identities and "give --key" in unnamed.problems[0] and unnamed.records == 1
    two = iam.access_keys(data + b"\n" + data, ctx(access_key_id=KEY))
    assert not two.identities and len(two.problems) == 2 and "cannot tell them apart" in two.problems[0]


def test_malformed_kubernetes_items_are_reported_and_the_rest_imported():
    binding = X.k8s_binding("RoleBinding", "rb", "ClusterRole", "view", [("ci", "deployer")], ns="ci")
    data = X.k8s_list([X.k8s_sa("ci", "deployer"), {"kind": "ServiceAccount", "metadata": "oops"}, "str-item",
                       None, {**binding, "roleRef": None}, {**binding, "metadata": {**binding["metadata"], "name": "rb2"},
                                                            "subjects": [{"kind": "ServiceAccount", "name": "deployer",
                                                                          "namespace": "ci"}, 7]},
                       {**X.k8s_sa("ci", "labelled"), "metadata": {"name": "labelled", "labels": ["x"]}},
                       {"kind": "Pod", "metadata": "not ours to judge"}])
    result = k8s.inventory(data, ctx(account="prod"))
    assert result.problems == ["items[1]: ServiceAccount whose metadata is a string; skipped",
                               "items[2]: a string where an object belongs; skipped",
                               "items[3]: null where an object belongs; skipped",
                               "items[4]: RoleBinding ci/rb: no roleRef; skipped",
                               "items[6]: ServiceAccount labelled: metadata.labels is a list; skipped"]
    assert result.warnings == ["RoleBinding rb2 -> ClusterRole view: subjects[1] is a number; left out"]
    [sa] = result.identities
    assert sa.external_id == "prod/ci/deployer" and [g.source for g in sa.grants] == ["RoleBinding rb2 -> ClusterRole view"]
    assert not result.notes  # the cluster is named


def test_imports_without_account_note_that_identities_merge_across_clusters_and_orgs():
    assert "--account CLUSTER" in k8s.inventory(X.k8s_list([X.k8s_sa("ci", "a")]), ctx()).notes[0]
    assert "--account ORG" in github.pats(X.github_pats([{}]), ctx()).notes[0]
    assert not github.pats(X.github_pats([{}]), ctx(account="acme")).notes


def test_credentials_past_their_expiry_are_expired():
    pats = json.loads(X.github_pats([{"name": "old"}, {"name": "new"}]))
    pats[0].update(token_expired=False, access_granted_at="2023-05-16T08:47:09.000-07:00",
                   token_expires_at="2023-11-16T08:47:09.000-07:00")
    old, new = github.pats(json.dumps(pats).encode(), ctx(account="acme")).identities
    assert (old.status, old.expires, new.status) == ("expired", datetime(2023, 11, 16, 15, 47, 9, tzinfo=UTC), "active")
    keys = json.loads(X.gcp_keys("p1", "a", [("ab01", 400, "USER_MANAGED"), ("cd02", 3, "USER_MANAGED")]))
    keys[0]["validBeforeTime"] = X.ago_z(30)
    keys[1]["validBeforeTime"] = (X.NOW + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [k.status for k in gcp.sa_keys(json.dumps(keys).encode(), ctx()).identities] == ["expired", "active"]


@pytest.mark.parametrize(("text", "shown"), [
    ("ab\u202ecd\x07e", "ab\\u202ecd\\x07e"),  # right-to-left override, bell
    ("\u2066x\u2069\u200f\u061c", "\\u2066x\\u2069\\u200f\\u061c"),
    ("line\u2028break\x1b[2J\x9b", "line\\u2028break\\x1b[2J\\x9b"),
    ("plain ünïcode ✓", "plain ünïcode ✓"),
])
def test_printable_escapes_controls_and_bidirectional_overrides(text, shown):
    assert printable(text) == shown
