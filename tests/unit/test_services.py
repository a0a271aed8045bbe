"""`runner setup`, `down` and `status` of runner.local.services, with the installers replaced by
recorders (no Maven, pip or apt-get download)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner.local import maven, redis_server, services, superset_venv
from runner.results import Event, Info
from runner.spark import class_archive

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def installers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every installer `setup` should call; returns the names in call order."""
    calls: list[str] = []
    for module, name in (
        (maven, "ensure_cassandra_jars"),
        (maven, "ensure_connector_jars"),
        (class_archive, "ensure_archive"),
        (superset_venv, "ensure_superset_venv"),
        (redis_server, "ensure_redis_binary"),
    ):
        monkeypatch.setattr(module, name, lambda project_dir, name=name: calls.append(name))
    return calls


def test_setup_installs_jars_archive_superset_and_chromium(
    installers: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def chromium() -> Path:
        installers.append("chromium")
        return tmp_path

    monkeypatch.setattr(services, "ensure_chromium", chromium)
    events: list[Event] = []
    services.setup(tmp_path, events.append)
    assert installers == [
        "ensure_cassandra_jars",
        "ensure_connector_jars",
        "ensure_archive",
        "ensure_superset_venv",
        "ensure_redis_binary",
        "chromium",
    ]
    messages = [e.message for e in events if isinstance(e, Info)]
    assert any(m.startswith("Superset environment ready") for m in messages)
    assert any(m.startswith("Chromium ready") for m in messages)


def test_setup_says_how_to_install_chromium_without_root(
    installers: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(services, "ensure_chromium", lambda: None)
    events: list[Event] = []
    services.setup(tmp_path, events.append)
    assert isinstance(events[-1], Info)
    assert "sudo apt-get install chromium" in events[-1].message


def test_chromium_is_not_installed_by_a_non_root_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services.shutil, "which", lambda name: None)
    monkeypatch.setattr(services.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(services.subprocess, "run", pytest.fail)
    assert services.ensure_chromium() is None


def test_down_and_status_of_a_project_without_services(tmp_path: Path) -> None:
    assert services.down(tmp_path) == []
    lines = services.status(tmp_path)
    assert [(line.name, line.running) for line in lines] == [
        ("cassandra", False),
        ("thrift", False),
        ("redis", False),
        ("superset", False),
    ]


def test_superset_venv_pins_are_found(tmp_path: Path) -> None:
    # The runner's own tools/ folder, for a project that has none.
    assert superset_venv.requirements_file(tmp_path) == ROOT / "tools" / "superset" / (
        "requirements.txt"
    )
    assert not superset_venv.venv_ready(tmp_path)


def _imported(module: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` a fresh interpreter has loaded after importing `module`."""
    code = f"import sys, {module}; print(*sorted(m for m in sys.modules if m in {names!r}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_services_import_neither_build_nor_cli() -> None:
    # The build and the work after it (runner.publish) use the services, never the other way round.
    above = ("runner.build", "runner.cli", "runner.publish")
    assert _imported("runner.local.services", above) == []


def test_a_build_imports_neither_the_local_services_nor_the_dashboard_sync() -> None:
    # The commands call runner.publish after the build: the build knows nothing of dashboards.
    after = ("runner.local.services", "runner.publish", "runner.superset.sync",
             "runner.superset.sync_state", "runner.local.superset_cache")
    assert _imported("runner.build", after) == []
