"""`runner debug`: check the project, the profile and each connection, one line per check."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import requests

from runner.cassandra.client import connect
from runner.child_env import child_env
from runner.compile import compile_project
from runner.config import CassandraTarget, RunConfig, SupersetTarget, find_profiles_file
from runner.errors import RunnerError
from runner.java import find_java_home, java_bin
from runner.local import cassandra_node
from runner.paths import state_dir

Check = tuple[str, bool, str]


def run_checks(project_dir: Path, profiles_dir: Path | None, target: str | None) -> Iterator[Check]:
    """Yield (name, passed, detail) for the project, the profile, Java, Spark, Cassandra and
    Superset; stops after the project check when the project does not compile."""
    cfg = RunConfig(
        project_dir=project_dir, profiles_dir=profiles_dir, target_name=target, command="debug"
    )
    try:
        cp = compile_project(cfg)
    except RunnerError as exc:
        yield ("project", False, str(exc).splitlines()[0])
        return
    yield ("project", True, f"{cp.project.dir} ({len(cp.models)} models, SQL parses)")
    prof = find_profiles_file(cp.project.dir, profiles_dir)
    yield ("profile", True, f"{prof or 'built-in dev target'}; target {cp.target.name}")
    yield _check_java()
    yield ("spark", True, f"master {cp.target.spark.master}")
    cass = cp.target.cassandra
    if cass is None:
        yield ("cassandra", True, "not configured for this target (marts stay Parquet)")
    else:
        yield _check_cassandra(cp.project.dir, cass)
    sup = cp.target.superset
    if sup is None:
        yield ("superset", True, "not configured for this target")
    else:
        yield _check_superset(sup)


def _check_java() -> Check:
    try:
        home = find_java_home()
    except RunnerError as exc:
        return ("java", False, exc.message)
    out = subprocess.run(
        [str(java_bin(home)), "-version"], capture_output=True, text=True, env=child_env(),
        check=False,
    ).stderr
    return ("java", True, f"{out.splitlines()[0] if out else 'java'} ({home})")


def _check_cassandra(project_dir: Path, cass: CassandraTarget) -> Check:
    where = f"{cass.hosts[0]}:{cass.port}"
    if cass.managed and not cassandra_node.status(state_dir(project_dir, "cassandra")).running:
        return ("cassandra", True, "local node not running; `runner up` or a build starts it")
    try:
        session = connect(cass)
    except RunnerError as exc:
        return ("cassandra", False, str(exc).splitlines()[0])
    try:
        version = session.execute("SELECT release_version FROM system.local").one()[0]
    finally:
        session.cluster.shutdown()
    return ("cassandra", True, f"{where} Cassandra {version}")


def _check_superset(sup: SupersetTarget) -> Check:
    try:
        ok = requests.get(f"{sup.url}/health", timeout=5).ok
    except requests.RequestException:
        msg = "not running; `runner up` starts it" if sup.managed else "unreachable"
        return ("superset", sup.managed, f"{sup.url} {msg}")
    return ("superset", ok, f"{sup.url} health {'OK' if ok else 'failing'}")
