"""Secrets the runner keeps for its local services: files only their owner can read.

Generated passwords live in `<project>/.runner/secrets/` (0700), one file each (0600):
`superset-admin.password` (the Superset login when $RUNNER_SUPERSET_PASSWORD is not set) and
`thrift.password` (Superset's login to the Spark Thrift Server). A Cassandra node keeps its own
role passwords in its state folder (`runner.local.cassandra_roles`). Nothing here ever puts a
secret on a command line or in an environment variable.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from runner.paths import ensure_private_dir, state_dir

SECRETS_DIR = "secrets"


def secret_path(project_dir: Path, name: str) -> Path:
    """`<project>/.runner/secrets/<name>` (the folder is created 0700)."""
    return ensure_private_dir(state_dir(project_dir, SECRETS_DIR)) / name


def generate_password() -> str:
    """A random password of 43 URL-safe characters (256 bits).

    Example:
        >>> len(generate_password()), generate_password() != generate_password()
        (43, True)
    """
    return secrets.token_urlsafe(32)


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text`, readable by its owner only (0600) from the first byte on.

    The text goes to a fresh file that is renamed over `path`, so a reader sees the old content
    or the new one, and the file never exists with wider permissions.
    """
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_secret(path: Path) -> str | None:
    """The secret in `path` (its permissions tightened to 0600), or None when there is none."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    os.chmod(path, 0o600)
    return text or None


def ensure_secret(path: Path) -> tuple[str, bool]:
    """The secret in `path`, generated (`generate_password`) and written 0600 when missing.

    Returns:
        The secret, and whether this call generated it.
    """
    found = read_secret(path)
    if found is not None:
        return found, False
    value = generate_password()
    write_private(path, value + "\n")
    return value, True
