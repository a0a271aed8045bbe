"""Stage-then-swap (runner.paths): the one way a folder of outputs is replaced."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.config import load_project_config
from runner.datatests.collect import DataTest
from runner.datatests.failing_rows import run_test
from runner.errors import ConfigError, RunnerError
from runner.paths import TargetLayout, prepare_write, remove_tree, staged_path, swap_in


def _folder(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    (path / "part-0").write_text(text)
    return path


def _content(path: Path) -> str:
    return (path / "part-0").read_text()


def test_staged_path_is_a_hidden_sibling_and_clears_what_a_killed_writer_left(tmp_path: Path):
    final = tmp_path / "marts" / "m"
    stale = _folder(tmp_path / "marts" / ".m.staged-0badf00d", "left")
    other = _folder(tmp_path / "marts" / ".m.new.staged-1", "another name's")
    staged = staged_path(final)
    assert staged.parent == final.parent and staged.name.startswith(".m.staged-")
    assert not staged.exists() and not stale.exists() and other.exists()


def test_swap_in_replaces_the_old_folder_and_deletes_it(tmp_path: Path):
    final = _folder(tmp_path / "failures" / "t", "old")
    staged = _folder(staged_path(final), "new")
    assert swap_in(staged, final) == final
    assert _content(final) == "new"
    assert [p.name for p in final.parent.iterdir()] == ["t"]


def test_swap_in_keeps_the_old_folder_where_asked(tmp_path: Path):
    final = _folder(tmp_path / "marts" / "m", "old")
    keep = _folder(tmp_path / "marts-previous" / "m", "older")
    swap_in(_folder(staged_path(final), "new"), final, keep=keep)
    assert _content(final) == "new" and _content(keep) == "old"
    assert [p.name for p in final.parent.iterdir()] == ["m"]


def test_swap_in_of_a_first_copy_keeps_nothing(tmp_path: Path):
    final = tmp_path / "marts" / "m"
    keep = tmp_path / "marts-previous" / "m"
    swap_in(_folder(staged_path(final), "new"), final, keep=keep)
    assert _content(final) == "new" and not keep.exists()


def test_target_layout_names_what_a_build_writes() -> None:
    # Analysts and scripts read these paths (dbt's target/): renaming one is a breaking change.
    layout = TargetLayout(Path("target"))
    assert {
        "marts": layout.marts, "marts_previous": layout.marts_previous,
        "persisted": layout.persisted, "compiled": layout.compiled,
        "test_failures": layout.test_failures, "sources": layout.sources,
        "spark_warehouse": layout.spark_warehouse, "docs": layout.docs,
        "manifest": layout.manifest, "run_results": layout.run_results,
    } == {
        "marts": Path("target/marts"), "marts_previous": Path("target/marts-previous"),
        "persisted": Path("target/persisted"), "compiled": Path("target/compiled"),
        "test_failures": Path("target/test_failures"), "sources": Path("target/sources"),
        "spark_warehouse": Path("target/spark-warehouse"), "docs": Path("target/docs"),
        "manifest": Path("target/manifest.json"), "run_results": Path("target/run_results.json"),
    }
    assert layout.previous_copy("m") == Path("target/marts-previous/m")


# An attacker's (or a careless user's) path: each is refused, and nothing outside is touched.


def _outside(tmp_path: Path) -> Path:
    return _folder(tmp_path / "victim", "precious")


def test_a_symlink_inside_target_is_removed_never_followed(tmp_path: Path):
    outside = _outside(tmp_path)
    target = tmp_path / "p" / "target"
    target.mkdir(parents=True)
    (target / "link").symlink_to(outside)
    remove_tree(target / "link", [target])
    assert not (target / "link").is_symlink() and _content(outside) == "precious"


def test_a_delete_through_a_symlinked_folder_is_refused(tmp_path: Path):
    outside = _outside(tmp_path)
    target = tmp_path / "p" / "target"
    target.mkdir(parents=True)
    (target / "marts").symlink_to(tmp_path)  # target/marts/victim is really <tmp>/victim
    with pytest.raises(RunnerError, match="refusing to delete .*: not inside"):
        remove_tree(target / "marts" / "victim", [target])
    with pytest.raises(RunnerError, match="refusing to write"):
        staged_path(target / "marts" / "victim", target)
    assert _content(outside) == "precious"


@pytest.mark.parametrize("name", ["..", "../victim", "../../victim", "/tmp/x", "."])
def test_a_name_that_leaves_its_root_is_refused(tmp_path: Path, name: str):
    outside = _outside(tmp_path)
    root = tmp_path / "target" / "test_failures"
    root.mkdir(parents=True)
    with pytest.raises(RunnerError, match="refusing to delete"):
        remove_tree(root / name, [root])
    with pytest.raises(RunnerError, match="refusing to write"):
        prepare_write(root / name, root)
    assert _content(outside) == "precious"


def test_a_write_through_a_planted_symlinked_file_is_refused(tmp_path: Path):
    outside = tmp_path / "victim.sql"
    outside.write_text("precious")
    compiled = tmp_path / "target" / "compiled"
    compiled.mkdir(parents=True)
    (compiled / "m.sql").symlink_to(outside)
    with pytest.raises(RunnerError, match="refusing to write"):
        prepare_write(compiled / "m.sql", compiled)
    assert outside.read_text() == "precious"


def test_swap_in_refuses_a_final_folder_outside_its_root(tmp_path: Path):
    outside = _outside(tmp_path)
    root = tmp_path / "target"
    staged = _folder(staged_path(root / "marts" / "m", root), "new")
    with pytest.raises(RunnerError, match="refusing to write"):
        swap_in(staged, root / ".." / "victim", root=root)
    assert _content(outside) == "precious"


def test_a_failing_test_named_like_a_path_stores_and_deletes_nothing_outside(tmp_path: Path):
    outside = _outside(tmp_path)
    failures = tmp_path / "p" / "target" / "test_failures"
    failures.mkdir(parents=True)
    test = DataTest(name="../../../victim", kind="not_null", path=Path("m.yml"), sql="select 1",
                    refs=("m",))

    class Spark:  # refused before Spark is asked to write
        def sql(self, text: str) -> object:
            return object()

    with pytest.raises(RunnerError, match="refusing to write"):
        run_test(Spark(), test, failures)  # type: ignore[arg-type]
    assert _content(outside) == "precious"


TARGET_PATHS = [
    # (target-path, the error after "target-path '<value>' ")
    (".", "is not a subfolder of the project"),
    ("..", "is not a subfolder of the project"),
    ("../elsewhere", "is not a subfolder of the project"),
    ("/tmp", "is not a subfolder of the project"),
    (".git", "is the project's folder '.git'"),
    (".runner", "is the project's folder '.runner'"),
    ("models", "is the project's folder 'models'"),
    ("models/out", "is inside the project's folder 'models'"),
    ("macros", "is the project's folder 'macros'"),
    ("seeds", "is the project's folder 'seeds'"),
    ("tests", "is the project's folder 'tests'"),
    ("dashboards", "is the project's folder 'dashboards'"),
    ("lib/marts", "is the project's folder 'lib/marts'"),  # model-paths: [lib/marts]
    ("lib", "holds the project's folder 'lib/marts'"),
    ("conf", "is the project's folder 'conf'"),  # the profiles folder, from RUNNER_PROFILES_DIR
]


@pytest.mark.parametrize("value, error", TARGET_PATHS)
def test_a_target_path_on_the_projects_own_folders_is_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, error: str
):
    project = tmp_path / "p"
    (project / "conf").mkdir(parents=True)
    (project / "conf" / "profiles.yml").write_text("t: {}\n")
    monkeypatch.setenv("RUNNER_PROFILES_DIR", str(project / "conf"))
    (project / "runner_project.yml").write_text(
        f"name: t\nmodel-paths: [models, lib/marts]\ntarget-path: '{value}'\n")
    with pytest.raises(ConfigError) as info:
        load_project_config(project)
    assert str(info.value).startswith(f"runner_project.yml: target-path '{value}' {error}")
    assert "hint: use a folder inside the project of its own, e.g. target-path: target" in str(
        info.value)


def test_a_target_folder_that_is_a_symlink_out_of_the_project_is_refused(tmp_path: Path):
    project = tmp_path / "p"
    project.mkdir()
    (project / "runner_project.yml").write_text("name: t\n")
    (project / "target").symlink_to(_outside(tmp_path))
    with pytest.raises(ConfigError, match="target-path 'target' is not a subfolder"):
        load_project_config(project)


@pytest.mark.parametrize("value", ["target", "build/target", "./out"])
def test_a_target_path_of_its_own_is_accepted(tmp_path: Path, value: str):
    (tmp_path / "runner_project.yml").write_text(f"name: t\ntarget-path: '{value}'\n")
    assert load_project_config(tmp_path).target_path == value


def test_clean_refuses_a_target_path_on_the_projects_own_folder(make_project):
    project = make_project({"models/m.sql": "select 1 as x"})
    config = project / "runner_project.yml"
    config.write_text(config.read_text() + "target-path: models\n")
    result = CliRunner().invoke(main, ["clean", "--project-dir", str(project)])
    assert result.exit_code == 1, result.output
    assert ("Error: runner_project.yml: target-path 'models' is the project's folder 'models'"
            in result.output)
    assert (project / "models" / "m.sql").exists()


def test_a_profiles_folder_above_the_project_does_not_refuse_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "profiles.yml").write_text("t: {}\n")
    monkeypatch.setenv("RUNNER_PROFILES_DIR", str(tmp_path))
    project = tmp_path / "p"
    project.mkdir()
    (project / "runner_project.yml").write_text("name: t\nmodel-paths: [../shared]\n")
    assert load_project_config(project).target_path == "target"


def test_clean_refuses_a_target_that_is_the_profiles_dir_it_was_given(make_project):
    project = make_project({"models/m.sql": "select 1 as x", "conf/profiles.yml": "t: {}\n"})
    config = project / "runner_project.yml"
    config.write_text(config.read_text() + "target-path: conf\n")
    result = CliRunner().invoke(main, ["clean", "--project-dir", str(project),
                                       "--profiles-dir", str(project / "conf")])
    assert result.exit_code == 1, result.output
    assert ("Error: runner_project.yml: target-path 'conf' is the project's folder 'conf'"
            in result.output)
    assert (project / "conf" / "profiles.yml").exists()
