"""The small parts of the inventory on their own: privilege reach per provider, owner rules
and CODEOWNERS matching, and the time formats providers export."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nhiguard.inventory import owners as O
from nhiguard.inventory.parse import environment_from_tags, owner_from_tags, parse_time
from nhiguard.model.identity import Grant
from nhiguard.posture.privilege import reach
from nhiguard.settings import ConfigError


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
    ("2024-03-01T10:20:30+00:00", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2024-03-01T10:20:30Z", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2024-03-01T12:20:30+02:00", datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC)),
    ("2024-03-01 10:20:30.123456789Z", datetime(2024, 3, 1, 10, 20, 30, 123456, tzinfo=UTC)),
    ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
    ("N/A", None), ("no_information", None), ("not_supported", None), ("", None),
    ("9999-12-31T23:59:59Z", None),  # GCP's "never expires"
])
def test_parse_time(text, expected):
    assert parse_time(text) == expected


def test_a_value_that_is_no_date_is_an_error():
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_tags_name_owners_and_environments():
    assert owner_from_tags({"team": "payments"}) == "payments"
    assert owner_from_tags({"Owner": "sre"}) == "sre"
    assert owner_from_tags({"purpose": "x"}) is None
    assert environment_from_tags({"env": "prod"}) == "production"
    assert environment_from_tags({"Environment": "stg"}) == "staging"
    assert environment_from_tags({"stage": "Blue-Green"}) == "blue-green"  # kept as the estate spells it
