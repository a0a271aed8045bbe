"""Where the runner keeps things, and the only ways it deletes or replaces a folder.

Project layout:
    <project>/<target-path>/   build outputs (compiled SQL, marts' Parquet copies, artifacts):
                               `TargetLayout` names each of them
    <project>/.runner/<name>/  local state of each service and tool (jars, nodes, venvs, secrets)

Every delete goes through `remove_tree`, which refuses anything outside those two folders, so a
name that looks like a path (`..`, `/etc`) can never make the runner delete the wrong thing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from runner.errors import ConfigError, RunnerError

STATE_DIR_NAME = ".runner"


def state_root(project_dir: Path) -> Path:
    """`<project>/.runner`, the folder of all local state."""
    return project_dir.resolve() / STATE_DIR_NAME


def state_dir(project_dir: Path, name: str) -> Path:
    """`<project>/.runner/<name>`: one service's or tool's own folder (not created)."""
    return state_root(project_dir) / name


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by its owner only (0700)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def check_target_path(project_dir: Path, target_path: str) -> Path:
    """The target folder, which must be a subfolder of the project (never the project itself).

    Example:
        >>> check_target_path(Path("/p"), "target")
        PosixPath('/p/target')
        >>> check_target_path(Path("/p"), "..")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        runner.errors.ConfigError: runner_project.yml: target-path '..' is not a subfolder ...
        hint: use a folder inside the project, e.g. target-path: target
    """
    project = Path(os.path.abspath(project_dir))
    resolved = Path(os.path.abspath(project / target_path))
    if resolved == project or project not in resolved.parents or resolved.name == STATE_DIR_NAME:
        raise ConfigError(
            f"runner_project.yml: target-path '{target_path}' is not a subfolder of the project",
            hint="use a folder inside the project, e.g. target-path: target",
        )
    return resolved


@dataclass(frozen=True)
class TargetLayout:
    """What a build writes under the target folder, each named once (dbt's `target/`).

    `root` is the target folder: absolute, or relative to the project for the paths that
    artifacts and messages show.

    Example:
        >>> layout = TargetLayout(Path("target"))
        >>> layout.marts.as_posix(), layout.previous_copy("m").as_posix()
        ('target/marts', 'target/marts-previous/m')
    """

    root: Path

    @property
    def marts(self) -> Path:
        """The Parquet copy of every table-like model, `<marts>/<model>/`."""
        return self.root / "marts"

    @property
    def marts_previous(self) -> Path:
        """The copies that the last build replaced (`runner diff` compares both)."""
        return self.root / "marts-previous"

    def previous_copy(self, name: str) -> Path:
        """Where a mart's Parquet copy goes when a build replaces it."""
        return self.marts_previous / name

    @property
    def persisted(self) -> Path:
        """The rows of `persist: true` views, with their fingerprints (`runner.reuse`)."""
        return self.root / "persisted"

    @property
    def compiled(self) -> Path:
        """Compiled SQL: models by their path, `tests/`, `unit_tests/`."""
        return self.root / "compiled"

    @property
    def test_failures(self) -> Path:
        """The failing rows of tests run with --store-failures, `<test_failures>/<test>/`."""
        return self.root / "test_failures"

    @property
    def sources(self) -> Path:
        """Working copies of source files: good records of a malformed CSV, line numbers."""
        return self.root / "sources"

    @property
    def spark_warehouse(self) -> Path:
        """Spark's `spark.sql.warehouse.dir`."""
        return self.root / "spark-warehouse"

    @property
    def docs(self) -> Path:
        """The static docs site (`runner docs generate`)."""
        return self.root / "docs"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def run_results(self) -> Path:
        return self.root / "run_results.json"

    @property
    def reuse_record(self) -> Path:
        """Each node's last good result and fingerprint (`runner.reuse_record`)."""
        return self.root / "reuse_record.json"


def remove_tree(path: Path, allowed: Iterable[Path]) -> None:
    """Delete a folder (or file) that lies strictly inside one of `allowed`; else raise.

    Example:
        >>> remove_tree(Path("/etc"), [Path("/tmp/p/target")])
        Traceback (most recent call last):
        ...
        runner.errors.RunnerError: refusing to delete /etc: not inside /tmp/p/target
    """
    target = Path(os.path.abspath(path))
    roots = [Path(os.path.abspath(r)) for r in allowed]
    if not any(root in target.parents for root in roots):
        raise RunnerError(
            f"refusing to delete {target}: not inside {', '.join(str(r) for r in roots)}"
        )
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)


def staged_path(final: Path) -> Path:
    """A fresh hidden sibling of `final` to write into before `swap_in`.

    The parent folder is created, and the staged siblings a killed writer left behind are
    removed (one build at a time writes a project's outputs: `runner.lock`).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     staged_path(Path(tmp) / "marts" / "m").name.startswith(".m.staged-")
        True
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.staged-*"):
        remove_tree(stale, [final.parent])
    return final.with_name(f".{final.name}.staged-{uuid.uuid4().hex[:8]}")


def swap_in(staged: Path, final: Path, *, keep: Path | None = None) -> Path:
    """Replace `final` by the complete `staged` folder; the old one goes only afterwards.

    Readers see the old folder or the new one, never a half-written one: both renames are
    atomic on one file system.

    Args:
        staged: the complete new folder, from `staged_path(final)`.
        final: where it goes.
        keep: where the old folder is moved (replacing what was there), e.g. a mart's previous
            copy that `runner diff` reads; without it the old folder is deleted.

    Returns:
        `final`.
    """
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    staged.rename(final)
    if keep is not None and old.exists():
        remove_tree(keep, [keep.parent])
        keep.parent.mkdir(parents=True, exist_ok=True)
        old.rename(keep)
    remove_tree(old, [final.parent])
    return final
