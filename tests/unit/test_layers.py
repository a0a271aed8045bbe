"""The import layers of runner/ (`[tool.importlinter]` in pyproject.toml, `lint-imports`).

The real tree keeps them; a copy of it with one import planted against them breaks them, and
the report names that import. Each check runs `lint-imports` on a folder, as `make check` does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = "runner/ imports only go down"


def _lint_imports(folder: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the runner/ and pyproject.toml of `folder` (it imports from its cwd)."""
    cli = "import sys; from importlinter.cli import lint_imports_command as m; sys.exit(m())"
    return subprocess.run([sys.executable, "-c", cli, "--no-cache"], cwd=folder,
                          capture_output=True, text=True, timeout=120, check=False)


def _copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "runner", tmp_path / "runner",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_tree_keeps_its_layers() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{CONTRACT} KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "reported"),
    [
        # base reaching the CLI
        ("runner/errors.py", "import runner.cli", "runner.errors -> runner.cli"),
        # an adapter reaching the local services (what spark.session did before issue 20)
        ("runner/spark/session.py", "from runner.local import processes",
         "runner.spark.session -> runner.local.processes"),
        # the compile core reaching the build
        ("runner/compile.py", "from runner import build", "runner.compile -> runner.build"),
        # independent siblings: the Cassandra client may not use Superset's
        ("runner/cassandra/client.py", "from runner.superset import client",
         "runner.cassandra.client -> runner.superset.client"),
    ],
)
def test_an_upward_import_breaks_the_layers(
    tmp_path: Path, module: str, planted: str, reported: str
) -> None:
    folder = _copy_tree(tmp_path)
    with (folder / module).open("a") as handle:
        handle.write(f"\n{planted}  # planted by test_layers\n")
    result = _lint_imports(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{CONTRACT} BROKEN" in result.stdout
    assert f"- {reported} (l." in result.stdout


def test_a_module_without_a_layer_breaks_the_layers(tmp_path: Path) -> None:
    folder = _copy_tree(tmp_path)
    (folder / "runner" / "helpers.py").write_text('"""Placed nowhere."""\n')
    result = _lint_imports(folder)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "- runner.helpers\n" in result.stdout
