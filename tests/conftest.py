"""Shared test helpers: the repo root and small projects written to tmp folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

def _original_data() -> Path:
    """The original CSVs (never copied into the repo): $RUNNER_ORIGINAL_DATA, else shared/."""
    if os.environ.get("RUNNER_ORIGINAL_DATA"):
        return Path(os.environ["RUNNER_ORIGINAL_DATA"]).resolve()
    return (ROOT.parent / "shared" / "data" / "original").resolve()


ORIGINAL_DATA = _original_data()


def write_project(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: text} under root; returns root."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def make_project(tmp_path: Path):
    """Build a minimal project (project file + local profile) plus the given files."""

    def make(files: dict[str, str], vars_: str = "") -> Path:
        base = {
            "runner_project.yml": "name: t\nprofile: t\n" + (f"vars:\n{vars_}\n" if vars_ else ""),
            "profiles.yml": "t:\n  target: local\n  outputs:\n    local:\n      spark: {master: 'local[2]'}\n",
        }
        return write_project(tmp_path, {**base, **files})

    return make
