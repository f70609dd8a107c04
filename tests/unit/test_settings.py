"""Settings precedence: defaults < config file < environment < flags."""

from __future__ import annotations

import pytest

from nhiguard.settings import ConfigError, Settings, build_settings


def test_defaults(tmp_path):
    s = build_settings({}, environ={}, cwd=tmp_path)
    assert s == Settings()
    assert s.max_file_size == 50 * 1024 * 1024


def test_precedence(tmp_path):
    (tmp_path / "nhiguard.toml").write_text('max_file_size = "1MB"\njobs = 3\nfail_on = "high"\n')
    s = build_settings({"jobs": 5}, environ={"NHIGUARD_FAIL_ON": "critical"}, cwd=tmp_path)
    assert (s.max_file_size, s.jobs, s.fail_on) == (1024 * 1024, 5, "critical")


def test_pyproject_section(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.nhiguard]\nrespect_gitignore = true\nrules = ["r.yml"]\n')
    s = build_settings({}, environ={}, cwd=tmp_path)
    assert s.respect_gitignore is True
    assert s.rules == (str(tmp_path / "r.yml"),)


@pytest.mark.parametrize("content", ['bogus = 1', 'jobs = "many"', 'max_file_size = "lots"', "not toml ["])
def test_bad_config_is_a_clear_error(tmp_path, content):
    (tmp_path / "nhiguard.toml").write_text(content)
    with pytest.raises(ConfigError, match="nhiguard.toml"):
        build_settings({}, environ={}, cwd=tmp_path)


def test_settings_are_immutable():
    with pytest.raises(AttributeError):
        Settings().jobs = 2  # type: ignore[misc]


def test_a_single_rules_file_in_config_is_relative_to_the_config(tmp_path):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "nhiguard.toml").write_text('rules = "sec/r.yml"\n')
    s = build_settings({}, config_file=str(tmp_path / "conf" / "nhiguard.toml"), environ={}, cwd=tmp_path)
    assert s.rules == (str(tmp_path / "conf" / "sec" / "r.yml"),)


@pytest.mark.parametrize("flags,environ,toml,message", [
    ({}, {"NHIGUARD_FINGERPRINT_KEY": ""}, "", "NHIGUARD_FINGERPRINT_KEY is empty"),
    ({}, {}, 'fingerprint_key = " "\n', "fingerprint_key is empty"),
    ({"since": ""}, {}, "", "--since is empty"),
    ({"store": ""}, {}, "", "--store is empty"),
])
def test_an_empty_value_is_not_taken_for_the_default(tmp_path, flags, environ, toml, message):
    if toml:
        (tmp_path / "nhiguard.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message):
        build_settings(flags, environ=environ, cwd=tmp_path)


@pytest.mark.parametrize("flags", [
    {"staged": True, "since": "main"},
    {"staged": True, "no_history": True},
    {"since": "main", "no_history": True},
    {"staged": True, "all_objects": True},
    {"no_history": True, "all_objects": True},
])
def test_conflicting_git_modes_are_refused(tmp_path, flags):
    with pytest.raises(ConfigError, match="cannot be combined"):
        build_settings(flags, environ={}, cwd=tmp_path)


def test_all_objects_with_since_is_allowed(tmp_path):
    s = build_settings({"since": "main", "all_objects": True}, environ={}, cwd=tmp_path)
    assert s.since == "main" and s.all_objects
