"""Stage-then-swap (runner.paths): the one way a folder of outputs is replaced."""

from __future__ import annotations

from pathlib import Path

from runner.paths import TargetLayout, staged_path, swap_in


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
    }  # fmt: skip
    assert layout.previous_copy("m") == Path("target/marts-previous/m")
