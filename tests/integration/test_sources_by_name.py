"""Source headers are matched to the declared columns by name, in any order.

Spark reads a CSV by position, so before this a file whose habito* and activacion* columns were
swapped (header included) built green with habit and activation swapped.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest

from runner.project import Project, load_project
from runner.spark.sources import register_source
from tests.conftest import ROOT
from tests.integration.test_marts_original import copy_project

pytestmark = pytest.mark.slow

SEEDS = ROOT / "seeds"


def sample_rows(table: str, records: int) -> list[list[str]]:
    """The header and first `records` records of a seed file, as csv fields."""
    with (SEEDS / f"{table}.csv").open(newline="") as fh:
        reader = csv.reader(fh)
        return [row for _, row in zip(range(records + 1), reader, strict=False)]


def csv_text(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def write_rows(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(csv_text(rows))
    return path


def read_view(spark, project: Project, table: str, raw_dir: Path) -> pd.DataFrame:
    """The source view of `table` read from `raw_dir` (in file order: one partition)."""
    view = register_source(spark, project, project.sources[("raw", table)],
                           {"raw_dir": str(raw_dir)})
    return spark.table(view).toPandas()


def project_copy(path: Path) -> Path:
    """The project's files in `path`, with a `seeds` folder (raw_dir's default must exist)."""
    copy_project(path)
    (path / "seeds").mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Project:
    return load_project(project_copy(tmp_path_factory.mktemp("by_name")))


def _reorder(rows: list[list[str]], names: list[str]) -> list[list[str]]:
    position = [rows[0].index(n) for n in names]
    return [[row[i] for i in position] for row in rows]


def test_swapped_habit_and_activation_columns_are_read_by_name(spark, project, tmp_path):
    rows = sample_rows("lk_onboarding", 200)
    header = rows[0]
    a, b = header.index("habito"), header.index("activacion")
    names = header[:a] + header[b : b + 2] + header[a : a + 2] + header[b + 2 :]
    assert names != header
    clean = read_view(spark, project, "lk_onboarding",
                      write_rows(tmp_path / "clean" / "lk_onboarding.csv", rows).parent)
    swapped = read_view(spark, project, "lk_onboarding",
                        write_rows(tmp_path / "swapped" / "lk_onboarding.csv",
                                   _reorder(rows, names)).parent)
    assert swapped["habito"].tolist() == [r[a] or None for r in rows[1:]]
    assert swapped["activacion"].tolist() == [r[b] or None for r in rows[1:]]
    declared = [c.name for c in project.sources[("raw", "lk_onboarding")].columns]
    assert list(swapped.columns[: len(declared)]) == declared
    pd.testing.assert_frame_equal(swapped[declared + ["_line"]], clean[declared + ["_line"]])


def test_multi_line_column_moved_is_read_by_name(spark, project, tmp_path):
    """The address, three lines long, moved right after the unnamed index (which must stay
    first: an unnamed field elsewhere is no column)."""
    rows = sample_rows("dim_users", 50)
    names = ["", "address", *[n for n in rows[0][1:] if n != "address"]]
    clean = read_view(spark, project, "dim_users",
                      write_rows(tmp_path / "clean" / "dim_users.csv", rows).parent)
    moved = read_view(spark, project, "dim_users",
                      write_rows(tmp_path / "moved" / "dim_users.csv",
                                 _reorder(rows, names)).parent)
    declared = [c.name for c in project.sources[("raw", "dim_users")].columns]
    assert moved["address"].tolist() == [r[4] for r in rows[1:]]
    pd.testing.assert_frame_equal(moved[declared], clean[declared])
    assert moved["_line"].tolist() == [2 + 3 * i for i in range(50)]


def test_a_header_that_is_not_the_declared_columns_stops_the_build(run_runner, tmp_path):
    project_dir = project_copy(tmp_path)
    raw = tmp_path / "raw"
    for table in ["dim_users", "bt_users_transactions"]:
        write_rows(raw / f"{table}.csv", sample_rows(table, 20))
    rows = sample_rows("lk_onboarding", 20)
    rows[0] = [("habit" if n == "habito" else n) for n in rows[0]]
    write_rows(raw / "lk_onboarding.csv", [[*r, "x"] for r in rows])
    result = run_runner(["run", "--target", "spark_only", "--vars", f"{{raw_dir: {raw}}}"],
                        project_dir=project_dir)
    text = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "missing habito; not declared habit, x" in text
