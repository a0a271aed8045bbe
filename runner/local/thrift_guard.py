"""The Thrift server's guard classes: its login check and its read-only rule, compiled once.

`tools/thrift-guard/src` holds four small Java classes (see their comments):
`PasswordFileAuthenticator` (hive.server2.authentication=CUSTOM: a login must match a line of
the 0600 password file) and `ReadOnlyExtension` (a `spark.sql.extensions` entry: sessions may only
read). They are compiled with the JDK's `javac` against the jars pyspark ships, the exact Spark
the server runs, so setting them up needs no network: the jar goes to
`<project>/.runner/thrift-guard/`, named after a digest of the sources and the Spark version.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from runner.child_env import child_env
from runner.errors import ServiceError
from runner.java import find_java_home
from runner.paths import ensure_private_dir, state_dir

TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"  # the runner repository's
SOURCES = Path("thrift-guard") / "src"
AUTH_CLASS = "local.runner.thrift.PasswordFileAuthenticator"
EXTENSION_CLASS = "local.runner.thrift.ReadOnlyExtension"
AUTH_FILE_PROPERTY = "runner.thrift.auth.file"


def spark_home() -> Path:
    """The pyspark package folder (bin/spark-submit, jars/), found without importing pyspark."""
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("pyspark is not installed in the runner's environment",
                           hint="reinstall the runner: pip install -e .")
    return Path(spec.submodule_search_locations[0])


def sources_dir(project_dir: Path) -> Path:
    """The guard's Java sources: the project's `tools/thrift-guard/src`, else the runner's own."""
    for tools in (project_dir / "tools", TOOLS_DIR):
        if (tools / SOURCES).is_dir():
            return tools / SOURCES
    raise ServiceError(
        f"no Thrift guard sources in {project_dir / 'tools' / SOURCES}",
        hint="restore tools/thrift-guard/ from the runner repository",
    )


def ensure_guard_jar(project_dir: Path) -> Path:
    """Compile the guard classes into `.runner/thrift-guard/thrift-guard-<digest>.jar` once.

    Returns:
        The jar (for the Thrift server's driver classpath).

    Raises:
        ServiceError: there is no `javac` (a JRE without the JDK), or it failed.
    """
    sources = sources_dir(project_dir)
    files = sorted(sources.rglob("*.java"))
    jars = spark_home() / "jars"
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(sources)).encode() + b"\0" + path.read_bytes())
    digest.update("\n".join(sorted(p.name for p in jars.glob("spark-*.jar"))).encode())
    folder = ensure_private_dir(state_dir(project_dir, "thrift-guard"))
    jar = folder / f"thrift-guard-{digest.hexdigest()[:12]}.jar"
    if jar.is_file():
        return jar
    javac = find_java_home() / "bin" / "javac"
    if not javac.is_file():
        raise ServiceError(
            f"no javac in {javac.parent}: the Thrift server's login check is compiled at set-up",
            hint="install a JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME",
        )
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        classes = Path(tmp) / "classes"
        cmd = [str(javac), "--release", "17", "-nowarn", "-cp", f"{jars}/*", "-d", str(classes),
               *map(str, files)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise ServiceError(f"compiling {sources} failed:\n{tail}", hint=f"run: {' '.join(cmd)}")
        partial = Path(tmp) / jar.name
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(classes.rglob("*.class")):
                archive.write(path, path.relative_to(classes).as_posix())
        for old in folder.glob("thrift-guard-*.jar"):
            old.unlink()
        shutil.move(partial, jar)
    return jar
