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
