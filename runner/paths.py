"""Where the runner keeps things, and the only ways it deletes or replaces a folder.

Project layout:
    <project>/<target-path>/   build outputs (compiled SQL, marts' Parquet copies, artifacts):
                               `TargetLayout` names each of them
    <project>/.runner/<name>/  local state of each service and tool (jars, nodes, venvs, secrets)

Every delete goes through `remove_tree` and every write under them through `prepare_write`; both
resolve symlinks (`resolve_inside`) and refuse anything outside those two folders, so a name that
looks like a path (`..`, `/etc`) or a planted symlink never makes the runner touch the wrong thing.
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


# The project's own folders, which a target folder may not be, hold or lie in: `runner clean`
# deletes it, and a build writes into it.
PROJECT_FOLDERS = (".git", STATE_DIR_NAME, ".venv", "models", "macros", "seeds", "tests",
                   "dashboards")


def check_target_path(
    project_dir: Path, target_path: str, protected: Iterable[str | Path] = ()
) -> Path:
    """The target folder: a subfolder of the project, apart from the project's own folders.

    The paths are resolved (symlinks included), so a `target` that is a symlink to a folder
    elsewhere is refused too.

    Args:
        project_dir: the project folder.
        target_path: `target-path` as written in the project file.
        protected: more folders it may not be, hold or lie in (besides `PROJECT_FOLDERS`):
            the configured model, macro, test and dashboard paths, the profiles folder.

    Returns:
        The absolute target folder.

    Example:
        >>> check_target_path(Path("/p"), "target")
        PosixPath('/p/target')
        >>> check_target_path(Path("/p"), "..")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        runner.errors.ConfigError: runner_project.yml: target-path '..' is not a subfolder ...
        hint: use a folder inside the project of its own, e.g. target-path: target
        >>> check_target_path(Path("/p"), "models/out")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        runner.errors.ConfigError: runner_project.yml: target-path 'models/out' is inside ...
        hint: use a folder inside the project of its own, e.g. target-path: target
    """
    project = Path(os.path.realpath(project_dir))
    resolved = Path(os.path.realpath(project / target_path))
    hint = "use a folder inside the project of its own, e.g. target-path: target"
    where = f"runner_project.yml: target-path '{target_path}'"
    if project not in resolved.parents:
        raise ConfigError(f"{where} is not a subfolder of the project", hint=hint)
    for folder in (*PROJECT_FOLDERS, *protected):
        own = Path(os.path.realpath(project / folder))
        if project not in own.parents:  # e.g. model-paths: ["."], a profiles folder above
            continue
        name = own.relative_to(project).as_posix()
        if own == resolved:
            raise ConfigError(f"{where} is the project's folder '{name}'", hint=hint)
        if own in resolved.parents:
            raise ConfigError(f"{where} is inside the project's folder '{name}'", hint=hint)
        if resolved in own.parents:
            raise ConfigError(f"{where} holds the project's folder '{name}'", hint=hint)
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


def resolve_inside(path: Path, allowed: Iterable[Path], verb: str = "write") -> Path:
    """`path` with its folders' symlinks resolved, when it lies strictly inside one of `allowed`.

    The one guard of every delete and write under `target/` and `.runner/`: the roots and the
    folders of `path` are resolved (symlinks included), so neither `..` in a name nor a symlink
    planted inside the root leads outside it. The last component is kept as it is: a delete
    removes a symlink itself, never what it points to; a write refuses one that leads outside.

    Args:
        path: the file or folder to write or delete.
        allowed: the roots it must lie strictly inside (never a root itself).
        verb: what is refused, for the message.

    Returns:
        The real path (its folders resolved).

    Raises:
        RunnerError: it is a root, or not inside one.

    Example:
        >>> resolve_inside(Path("/tmp/p/t/../../etc/x"), [Path("/tmp/p/t")])
        Traceback (most recent call last):
        ...
        runner.errors.RunnerError: refusing to write /tmp/p/t/../../etc/x: not inside /tmp/p/t
    """
    real = Path(os.path.realpath(path.parent)) / path.name
    roots = [Path(os.path.realpath(r)) for r in allowed]
    inside = path.name not in ("", ".", "..") and any(root in real.parents for root in roots)
    if inside and verb != "delete" and real.is_symlink():
        inside = any(root in Path(os.path.realpath(real)).parents for root in roots)
    if not inside:
        raise RunnerError(
            f"refusing to {verb} {path}: not inside {', '.join(str(r) for r in roots)}"
        )
    return real


def prepare_write(path: Path, root: Path) -> Path:
    """`path`, checked by `resolve_inside` to lie inside `root`, with its folder created.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     prepare_write(Path(tmp) / "compiled" / "m.sql", Path(tmp)).parent.is_dir()
        True
    """
    resolve_inside(path, [root])
    path.parent.mkdir(parents=True, exist_ok=True)
    return resolve_inside(path, [root])


def remove_tree(path: Path, allowed: Iterable[Path]) -> None:
    """Delete a folder (or file) that lies strictly inside one of `allowed`; else raise.

    Symlinks are resolved first (`resolve_inside`); a symlink itself is removed, never followed.

    Example:
        >>> remove_tree(Path("/etc"), [Path("/tmp/p/target")])
        Traceback (most recent call last):
        ...
        runner.errors.RunnerError: refusing to delete /etc: not inside /tmp/p/target
    """
    target = resolve_inside(path, allowed, "delete")
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)


def staged_path(final: Path, root: Path | None = None) -> Path:
    """A fresh hidden sibling of `final` to write into before `swap_in`.

    The parent folder is created, and the staged siblings a killed writer left behind are
    removed (one build at a time writes a project's outputs: `runner.lock`). `final` must lie
    strictly inside `root` (default: its folder), symlinks resolved (`resolve_inside`).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     staged_path(Path(tmp) / "marts" / "m").name.startswith(".m.staged-")
        True
    """
    root = final.parent if root is None else root
    prepare_write(final, root)
    for stale in final.parent.glob(f".{final.name}.staged-*"):
        remove_tree(stale, [root])
    return final.with_name(f".{final.name}.staged-{uuid.uuid4().hex[:8]}")


def swap_in(
    staged: Path, final: Path, *, keep: Path | None = None, root: Path | None = None
) -> Path:
    """Replace `final` by the complete `staged` folder; the old one goes only afterwards.

    Readers see the old folder or the new one, never a half-written one: both renames are
    atomic on one file system.

    Args:
        staged: the complete new folder, from `staged_path(final)`.
        final: where it goes.
        keep: where the old folder is moved (replacing what was there), e.g. a mart's previous
            copy that `runner diff` reads; without it the old folder is deleted.
        root: the folder all of them must lie strictly inside (default: each one's folder).

    Returns:
        `final`.
    """
    for path in (staged, final, *([keep] if keep is not None else [])):
        resolve_inside(path, [path.parent if root is None else root])
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        final.rename(old)
    staged.rename(final)
    if keep is not None and old.exists():
        remove_tree(keep, [keep.parent if root is None else root])
        prepare_write(keep, keep.parent if root is None else root)
        old.rename(keep)
    remove_tree(old, [final.parent if root is None else root])
    return final
