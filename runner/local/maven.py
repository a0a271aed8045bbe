"""Jars from Maven, copied once into the project's state folder: Cassandra's and the connector's.

Each set is the runtime dependencies of a POM in `tools/<name>/pom.xml` (the project's own, else
the runner's), copied by maven-dependency-plugin. A file lock lets concurrent runs share one
download; a scratch folder renamed at the end means an interrupted one never looks complete.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.child_env import child_env
from runner.errors import ServiceError
from runner.java import find_java_home
from runner.paths import remove_tree, state_dir, state_root

DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies"
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"  # the runner repository's


def ensure_cassandra_jars(project_dir: Path) -> Path:
    """Copy the Cassandra server jars from Maven into `<project>/.runner/cassandra/lib` once.

    Returns:
        The folder holding the jars (the server's classpath).
    """
    lib = state_dir(project_dir, "cassandra") / "lib"
    _copy_dependencies(project_dir, _pom(project_dir, "cassandra"), lib, "cassandra-all-*.jar")
    return lib


def ensure_connector_jars(project_dir: Path) -> list[Path]:
    """Copy spark-cassandra-connector and the jars pyspark lacks into `.runner/spark-jars`.

    Returns:
        The jar files, sorted, for `spark.jars`.
    """
    folder = state_dir(project_dir, "spark-jars")
    marker = "spark-cassandra-connector_*.jar"
    _copy_dependencies(project_dir, _pom(project_dir, "spark"), folder, marker)
    return sorted(folder.glob("*.jar"))


def _pom(project_dir: Path, name: str) -> Path:
    for tools in (project_dir / "tools", TOOLS_DIR):
        if (tools / name / "pom.xml").exists():
            return tools / name / "pom.xml"
    raise ServiceError(
        f"no Maven POM for the {name} jars in {project_dir / 'tools' / name}",
        hint=f"restore tools/{name}/pom.xml from the runner repository",
    )


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _copy_dependencies(project_dir: Path, pom: Path, dest: Path, marker: str) -> None:
    """Fill `dest` with the runtime dependencies of `pom`, unless a jar matching `marker` is in."""
    if any(dest.glob(marker)):
        return
    with _file_lock(dest.parent / f".{dest.name}.lock"):
        if any(dest.glob(marker)):
            return
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServiceError(
                "Maven (mvn) is not installed; it is needed once to fetch the Cassandra jars",
                hint="install Maven 3.8+ (apt-get install maven) and run again",
            )
        root = [state_root(project_dir)]
        tmp = dest.with_name(dest.name + ".partial")
        remove_tree(tmp, root)
        cmd = [mvn, "-q", "-B", "-f", str(pom), DEPENDENCY_PLUGIN, "-DincludeScope=runtime"]
        cmd.append(f"-DoutputDirectory={tmp}")
        env = child_env({"JAVA_HOME": str(find_java_home())})  # no RUNNER_*_PASSWORD
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0 or not any(tmp.glob(marker)):
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ServiceError(
                f"Maven could not copy the dependencies of {pom}:\n{tail}",
                hint=f"run `{' '.join(cmd)}` to see the full output; check ~/.m2/settings.xml",
            )
        remove_tree(dest, root)
        tmp.rename(dest)
