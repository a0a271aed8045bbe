"""Superset's own virtualenv, `<project>/.runner/superset/venv`, installed once with exact pins.

Superset pins its own versions of Flask, SQLAlchemy, pandas and much more, so it gets a venv of
its own instead of sharing the runner's; PyHive, which the Thrift readiness check uses, lives
there too. The pins are `tools/superset/requirements.txt` (a pip constraints file); the venv is
reinstalled when they or `SUPERSET_PACKAGES` change.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from runner.child_env import child_env
from runner.errors import ServiceError
from runner.local.processes import open_log, tail
from runner.paths import ensure_private_dir, state_dir

SUPERSET_VERSION = "6.1.0"
SUPERSET_PACKAGES = (
    f"apache-superset[hive]=={SUPERSET_VERSION}",
    "flask-caching<2.4",  # 2.5 breaks create_app (SupersetMetastoreCache kwargs)
    "rich",  # imported by the superset CLI, not declared
    "cachetools",  # imported by db_engine_specs/aws_iam.py, not declared
    "gunicorn",
)
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"  # the runner repository's
PINS = Path("superset") / "requirements.txt"
STAMP = ".runner-requirements"


def superset_dir(project_dir: Path) -> Path:
    """`<project>/.runner/superset`: venv, config, metadata DB, logs."""
    return state_dir(project_dir, "superset")


def venv_python(project_dir: Path) -> Path:
    """The python of the Superset venv (it may not be installed yet)."""
    return superset_dir(project_dir) / "venv" / "bin" / "python"


def requirements_file(project_dir: Path) -> Path:
    """The pins: the project's `tools/superset/requirements.txt`, else the runner's own.

    Raises:
        ServiceError: neither exists.
    """
    for tools in (project_dir / "tools", TOOLS_DIR):
        if (tools / PINS).is_file():
            return tools / PINS
    raise ServiceError(
        f"no Superset pins in {project_dir / 'tools' / PINS}",
        hint="restore tools/superset/requirements.txt from the runner repository",
    )


def venv_ready(project_dir: Path) -> bool:
    """Whether the venv is installed with the current pins."""
    python = venv_python(project_dir)
    stamp = python.parent.parent / STAMP
    return python.exists() and stamp.exists() and stamp.read_text() == _digest(project_dir)


def ensure_superset_venv(project_dir: Path) -> Path:
    """Create the Superset venv with the pinned packages, unless it is installed already.

    Returns:
        The venv's python.

    Raises:
        ServiceError: pip failed; the message has the tail of `install.log`.
    """
    python = venv_python(project_dir)
    if venv_ready(project_dir):
        return python
    venv = python.parent.parent
    pins = requirements_file(project_dir)
    log = venv.parent / "install.log"
    ensure_private_dir(venv.parent)
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter, not our venv's
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "-c", str(pins), *SUPERSET_PACKAGES],
    ]
    with open_log(log, append=False) as out:
        for cmd in steps:
            proc = subprocess.run(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(), check=False
            )
            if proc.returncode:
                raise ServiceError(
                    f"installing Superset failed: {tail(log)}",
                    hint=f"see {log}; the pins are in {pins}",
                )
    (venv / STAMP).write_text(_digest(project_dir))
    return python


def _digest(project_dir: Path) -> str:
    pins = requirements_file(project_dir).read_bytes()
    return hashlib.sha256(pins + "\n".join(SUPERSET_PACKAGES).encode()).hexdigest()
