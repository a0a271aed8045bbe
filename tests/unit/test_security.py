"""Closed doors, the pure parts: secret files, child environments, logins (issue 11, item 6).

The services themselves are checked in tests/integration/test_security.py.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import child_env, secret_files
from runner.config import CassandraTarget, SupersetTarget, Target
from runner.errors import ConfigError
from runner.local import processes, superset_config, superset_server, thrift
from runner.local.cassandra_roles import ensure_roles, reader_login
from runner.local.services import _thrift_reader
from runner.superset.client import login_of
from runner.superset.sync import uri_with_login


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_secret_is_private_random_and_kept(tmp_path: Path):
    path = secret_files.secret_path(tmp_path, "x.password")
    value, created = secret_files.ensure_secret(path)
    assert created and len(value) >= 40
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    assert secret_files.ensure_secret(path) == (value, False)
    os.chmod(path, 0o644)  # loosened by hand: tightened again when read
    assert secret_files.read_secret(path) == value and _mode(path) == 0o600


def test_write_private_never_leaves_a_readable_file(tmp_path: Path):
    path = tmp_path / "conf" / "spark.conf"
    path.parent.mkdir()
    path.write_text("old")
    os.chmod(path, 0o644)
    secret_files.write_private(path, "spark.cassandra.auth.password s3cret\n")
    assert _mode(path) == 0o600 and path.read_text().endswith("s3cret\n")
    assert [p.name for p in path.parent.iterdir()] == ["spark.conf"]


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("RUNNER_CASSANDRA_PASSWORD", False),
        ("RUNNER_SUPERSET_PASSWORD", False),
        ("RUNNER_SUPERSET_SECRET_KEY", False),
        ("AWS_SECRET_ACCESS_KEY", False),
        ("GITHUB_TOKEN", False),
        ("PYSPARK_GATEWAY_SECRET", True),  # pyspark's own, needed to reach a running gateway
        ("RUNNER_CASSANDRA_USERNAME", True),
        ("JAVA_HOME", True),
    ],
)
def test_child_env_drops_secrets(monkeypatch: pytest.MonkeyPatch, name: str, kept: bool):
    monkeypatch.setenv(name, "value-1234")
    assert (name in child_env.child_env()) is kept


def test_spawned_service_gets_no_secret_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    secret = "spawn-secret-8c1f"
    monkeypatch.setenv("RUNNER_CASSANDRA_PASSWORD", secret)
    env = {**os.environ, "RUNNER_SUPERSET_PASSWORD": secret}  # even when a caller passes one
    proc = processes.spawn(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        log_file=tmp_path / "x.log", pid_file=tmp_path / "x.pid", env=env, cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 10
        while b"sleep" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert secret.encode() not in Path(f"/proc/{proc.pid}/environ").read_bytes()
        assert _mode(tmp_path / "x.log") == 0o600
    finally:
        proc.kill()
        proc.wait()


def test_runner_secrets_leave_environ_only_inside_the_block(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RUNNER_CASSANDRA_PASSWORD", "p")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "k")  # the build's Spark may read raw data on S3
    with child_env.runner_secrets_out_of_environ():
        out = subprocess.run(["env"], capture_output=True, text=True, check=True).stdout
        assert "RUNNER_CASSANDRA_PASSWORD" not in out and "AWS_SECRET_ACCESS_KEY=k" in out
    assert os.environ["RUNNER_CASSANDRA_PASSWORD"] == "p"


def test_superset_has_no_default_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("RUNNER_SUPERSET_USERNAME", raising=False)
    monkeypatch.delenv("RUNNER_SUPERSET_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="no Superset password for http://127.0.0.1:8088"):
        login_of(SupersetTarget())
    assert login_of(SupersetTarget(), "generated") == ("admin", "generated")
    monkeypatch.setenv("RUNNER_SUPERSET_PASSWORD", "chosen")
    assert login_of(SupersetTarget(), "generated") == ("admin", "chosen")


def test_managed_superset_password_is_generated_once_and_status_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("RUNNER_SUPERSET_USERNAME", raising=False)
    monkeypatch.delenv("RUNNER_SUPERSET_PASSWORD", raising=False)
    target = SupersetTarget(managed=True)
    (user, password), generated = superset_server.admin_login(tmp_path, target)
    path = tmp_path / ".runner" / "secrets" / "superset-admin.password"
    assert user == "admin" and generated and password != "admin" and len(password) >= 40
    assert path.read_text().strip() == password and _mode(path) == 0o600
    assert superset_server.admin_login(tmp_path, target) == ((user, password), False)
    assert f"`cat {path}`" in superset_server.status(tmp_path).detail
    assert str(path) in superset_server._password_note(tmp_path, user)
    # A password of the user's own replaces the generated one, whose file goes.
    monkeypatch.setenv("RUNNER_SUPERSET_PASSWORD", "chosen-by-me")
    assert superset_server.admin_login(tmp_path, target) == (("admin", "chosen-by-me"), False)
    assert not path.exists()
    assert "$RUNNER_SUPERSET_PASSWORD" in superset_server.status(tmp_path).detail


def test_superset_config_is_closed():
    config = superset_config.PROGRAM.read_text()
    for line in ('TRUSTED_HOSTS = ["127.0.0.1", "localhost"]', "ENABLE_PROXY_FIX = False",
                 "TALISMAN_ENABLED = True", "AUTH_USER_REGISTRATION = False"):
        assert line in config
    assert "environ" not in config  # the secret key comes from its 0600 file only


def test_thrift_password_file_holds_a_hash_only(tmp_path: Path):
    user, password = thrift.thrift_login(tmp_path)
    assert user == "runner" and thrift.thrift_login(tmp_path) == (user, password)
    text = thrift.users_file_text((user, password))
    assert text.startswith("runner:") and password not in text


def test_database_uri_gets_the_thrift_login():
    uri = uri_with_login("hive://runner@127.0.0.1:10000/default?auth=NONE", ("runner", "a/b@c"))
    assert uri == "hive://runner:a%2Fb%40c@127.0.0.1:10000/default?auth=CUSTOM"


@pytest.mark.parametrize("user", ["cassandra", "runner_admin", "runner_reader"])
def test_reserved_cassandra_logins_are_refused(tmp_path: Path, user: str):
    with pytest.raises(ConfigError, match=f"the Cassandra login '{user}' is reserved"):
        ensure_roles("127.0.0.1", 1, tmp_path, (user, "pw"), CassandraTarget())


def test_thrift_reads_with_the_reader_role_on_a_managed_node_with_a_login(tmp_path: Path):
    node = tmp_path / ".runner" / "cassandra"
    secret_files.write_private(node / "secrets" / "reader.password", "r-pw\n")
    login = CassandraTarget(managed=True, username="builder", password="x")  # type: ignore[arg-type]
    target = Target(name="dev", cassandra=login)
    assert reader_login(node) == ("runner_reader", "r-pw")
    assert _thrift_reader(tmp_path, target) == ("runner_reader", "r-pw")
    no_login = Target(name="dev", cassandra=CassandraTarget(managed=True))
    assert _thrift_reader(tmp_path, no_login) is None


def test_maven_gets_no_password_in_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from runner.local import maven

    seen: dict[str, dict[str, str]] = {}

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        seen["env"] = kwargs["env"]  # type: ignore[assignment]
        out = Path(next(a for a in cmd if a.startswith("-DoutputDirectory=")).split("=", 1)[1])
        out.mkdir(parents=True)
        (out / "cassandra-all-4.1.jar").write_text("")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setenv("RUNNER_CASSANDRA_PASSWORD", "cassandra-pw")
    monkeypatch.setenv("RUNNER_SUPERSET_PASSWORD", "superset-pw")
    monkeypatch.setenv("SOME_API_TOKEN", "token-value")
    monkeypatch.setattr(maven.shutil, "which", lambda name: "/usr/bin/mvn")
    monkeypatch.setattr(maven.subprocess, "run", run)
    monkeypatch.setattr(maven, "find_java_home", lambda: Path("/jdk"))
    maven.ensure_cassandra_jars(tmp_path)
    env = seen["env"]
    assert env["JAVA_HOME"] == "/jdk" and "PATH" in env
    assert not [k for k in env if "PASSWORD" in k or "TOKEN" in k]
    assert "cassandra-pw" not in env.values() and "superset-pw" not in env.values()
