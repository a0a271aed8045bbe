"""`runner debug`: check the project, the profile and each connection, one line per check."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from runner.errors import RunnerError

Check = tuple[str, bool, str]


def run_checks(project_dir: Path, profiles_dir: Path | None, target: str | None) -> Iterator[Check]:
    from runner.compile import compile_project
    from runner.config import RunConfig, find_profiles_file

    try:
        cp = compile_project(RunConfig(project_dir=project_dir, profiles_dir=profiles_dir,
                                       target_name=target, command="debug"))
    except RunnerError as exc:
        yield ("project", False, str(exc).splitlines()[0])
        return
    yield ("project", True, f"{cp.project.dir} ({len(cp.models)} models, SQL parses)")
    prof = find_profiles_file(cp.project.dir, profiles_dir)
    yield ("profile", True, f"{prof or 'built-in dev target'}; target {cp.target.name}")
    java = shutil.which("java")
    if java:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
        yield ("java", True, out.splitlines()[0] if out else java)
    else:
        yield ("java", False, "java not found on PATH (Java 17 is required)")
    yield ("spark", True, f"master {cp.target.spark.master}")
    cass = cp.target.cassandra
    if cass is None:
        yield ("cassandra", True, "not configured for this target (marts stay Parquet)")
    else:
        from runner.cassandra import client as cassandra
        from runner.local import cassandra_node
        from runner.local import services

        where = f"{cass.hosts[0]}:{cass.port}"
        if cass.managed and not cassandra_node.status(
            services.state_dir(cp.project.dir, "cassandra")
        ).running:
            yield ("cassandra", True, "local node not running; `runner up` or a build starts it")
        else:
            try:
                session = cassandra.connect(cass)
                version = session.execute("SELECT release_version FROM system.local").one()[0]
                session.cluster.shutdown()
                yield ("cassandra", True, f"{where} Cassandra {version}")
            except RunnerError as exc:
                yield ("cassandra", False, str(exc).splitlines()[0])
    sup = cp.target.superset
    if sup is None:
        yield ("superset", True, "not configured for this target")
    else:
        import requests

        try:
            ok = requests.get(f"{sup.url}/health", timeout=5).ok
            yield ("superset", ok, f"{sup.url} health {'OK' if ok else 'failing'}")
        except requests.RequestException:
            msg = "not running; `runner up` starts it" if sup.managed else "unreachable"
            yield ("superset", sup.managed, f"{sup.url} {msg}")
