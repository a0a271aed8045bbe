"""The project lock: a second command is refused at once, told which build holds the lock and
which process to stop (the client, not the warm engine, when the engine runs the build)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.errors import ProjectLockedError
from runner.lock import LockHolder, project_lock, this_process


def _refusal(project: Path) -> ProjectLockedError:
    with pytest.raises(ProjectLockedError) as err, project_lock(project, this_process(["run"])):
        pass
    return err.value


def test_a_build_in_a_process_is_named_with_its_pid(tmp_path: Path) -> None:
    holder = LockHolder(pid=4321, command="runner build -s segment_summary")
    with project_lock(tmp_path, holder):
        err = _refusal(tmp_path)
    assert str(err) == (
        f"another runner (pid 4321) is building this project ({tmp_path.resolve()}): "
        "`runner build -s segment_summary`\n"
        "hint: wait for it to finish, or stop it with Ctrl-C where it runs or `kill 4321`; "
        "the lock is released when that process ends")


def test_a_build_in_the_engine_names_its_client_not_the_engine(tmp_path: Path) -> None:
    holder = LockHolder(pid=4321, command="runner run -s +slow", engine_pid=999)
    with project_lock(tmp_path, holder):
        err = _refusal(tmp_path)
    assert err.message == (
        f"another runner (pid 4321) is building this project ({tmp_path.resolve()}): "
        "`runner run -s +slow` in the warm engine (pid 999)")
    assert err.hint is not None
    assert "`kill 4321` (its client: the engine cancels the build and keeps serving)" in err.hint
    assert "999" not in err.hint


def test_clean_is_named_as_using_the_project(tmp_path: Path) -> None:
    with project_lock(tmp_path, this_process(["clean"], "using")):
        err = _refusal(tmp_path)
    assert f"another runner (pid {os.getpid()}) is using this project" in err.message
    assert "`runner clean`" in err.message


def test_the_lock_is_free_again_after_the_command(tmp_path: Path) -> None:
    with project_lock(tmp_path, this_process(["build"])):
        pass
    with project_lock(tmp_path, this_process(["build"])):
        assert (tmp_path / ".runner" / "locks" / "project.json").exists()
    assert not (tmp_path / ".runner" / "locks" / "project.json").exists()


def test_an_unrecorded_holder_is_still_refused_clearly(tmp_path: Path) -> None:
    with project_lock(tmp_path, this_process(["build"])):
        (tmp_path / ".runner" / "locks" / "project.json").write_text("not json")
        err = _refusal(tmp_path)
    assert err.message == f"another runner is using this project ({tmp_path.resolve()})"


def test_retry_takes_the_lock_before_reading_the_last_run(make_project) -> None:
    project = make_project({"models/a.sql": "select 1 as id"})
    with project_lock(project, LockHolder(pid=4321, command="runner build")):
        result = CliRunner().invoke(main, ["retry", "--project-dir", str(project)])
    assert result.exit_code == 1
    # the lock, not the missing run_results.json the build is about to write
    assert result.output.count("Error:") == 1
    assert "Error: another runner (pid 4321) is building this project" in result.output
    assert "run_results.json" not in result.output
