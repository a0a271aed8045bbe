from __future__ import annotations

import pytest

from runner.config import load_project_config, load_target, parse_vars
from runner.errors import ConfigError


def test_parse_vars_yaml_and_json():
    assert parse_vars("{a: 1, b: [1, 2]}") == {"a": 1, "b": [1, 2]}
    assert parse_vars('{"a": "x"}') == {"a": "x"}
    assert parse_vars(None) == {}


@pytest.mark.parametrize("bad", ["[1, 2]", "{a: [}", "just text"])
def test_parse_vars_rejects_non_mappings(bad):
    with pytest.raises(ConfigError, match="--vars"):
        parse_vars(bad)


def test_missing_project_file_has_hint(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path)
    assert "no runner_project.yml" in str(info.value)
    assert "--project-dir" in str(info.value)


def test_invalid_project_field(tmp_path):
    (tmp_path / "runner_project.yml").write_text("name: x\nmodel-paths: 3\n")
    with pytest.raises(ConfigError, match="model-paths|model_paths"):
        load_project_config(tmp_path)


def test_yaml_error_has_line_and_column(tmp_path):
    (tmp_path / "runner_project.yml").write_text("name: x\nvars: {a: 1\n")
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path)
    assert "runner_project.yml:" in str(info.value)


PROFILES = """
p:
  target: dev
  outputs:
    dev:
      spark: {master: "{{ env_var('T_MASTER', 'local[3]') }}"}
      cassandra: {hosts: [h1], port: 9999, password: "{{ env_var('T_PW', '') }}"}
    other:
      spark: {master: "spark://x:7077"}
"""


def test_profile_targets_env_vars_and_secrets(tmp_path, monkeypatch):
    (tmp_path / "profiles.yml").write_text(PROFILES)
    monkeypatch.delenv("T_MASTER", raising=False)
    target = load_target(tmp_path, "p", None, tmp_path)
    assert target.name == "dev" and target.spark.master == "local[3]"
    assert target.cassandra.port == 9999
    monkeypatch.setenv("T_PW", "s3cret")
    monkeypatch.setenv("T_MASTER", "local[1]")
    target = load_target(tmp_path, "p", None, tmp_path)
    assert target.spark.master == "local[1]"
    assert target.cassandra.credentials()[1] == "s3cret"
    assert "s3cret" not in repr(target)  # SecretStr hides it
    assert load_target(tmp_path, "p", "other", tmp_path).cassandra is None


def test_credentials_fall_back_to_environment(tmp_path, monkeypatch):
    (tmp_path / "profiles.yml").write_text(PROFILES)
    monkeypatch.setenv("RUNNER_CASSANDRA_USERNAME", "alice")
    monkeypatch.setenv("RUNNER_CASSANDRA_PASSWORD", "pw1")
    target = load_target(tmp_path, "p", None, tmp_path)
    assert target.cassandra.credentials() == ("alice", "pw1")


def test_unknown_target_lists_available(tmp_path):
    (tmp_path / "profiles.yml").write_text(PROFILES)
    with pytest.raises(ConfigError) as info:
        load_target(tmp_path, "p", "prd", tmp_path)
    assert "target 'prd' not found" in str(info.value)
    assert "dev, other" in str(info.value)


def test_unknown_profile_field_is_an_error(tmp_path):
    (tmp_path / "profiles.yml").write_text("p:\n  outputs:\n    dev:\n      sparkk: {}\n")
    with pytest.raises(ConfigError, match="sparkk"):
        load_target(tmp_path, "p", None, tmp_path)


def test_no_profiles_file_gives_builtin_dev(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RUNNER_PROFILES_DIR", raising=False)
    target = load_target(tmp_path, "p")
    assert target.name == "dev" and target.cassandra.managed and target.superset.managed


def test_unmanaged_thrift_login_from_profile_or_env(monkeypatch):
    from runner.config import SupersetTarget, Target

    monkeypatch.delenv("RUNNER_THRIFT_USERNAME", raising=False)
    monkeypatch.delenv("RUNNER_THRIFT_PASSWORD", raising=False)
    assert SupersetTarget().thrift_credentials() is None
    monkeypatch.setenv("RUNNER_THRIFT_USERNAME", "reader")
    assert SupersetTarget().thrift_credentials() is None  # a user without a password: none
    monkeypatch.setenv("RUNNER_THRIFT_PASSWORD", "s3cret-thrift")
    assert SupersetTarget().thrift_credentials() == ("reader", "s3cret-thrift")
    target = Target(superset=SupersetTarget(thrift_username="u", thrift_password="from-profile"))
    assert target.superset is not None
    assert target.superset.thrift_credentials() == ("u", "from-profile")
    assert "from-profile" in target.secrets()  # scrubbed from every message
