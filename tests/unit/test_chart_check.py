"""Charts are part of the graph: `runner compile` checks dashboards/ against the marts' columns,
and `runner ls --resource-type chart|all` lists the charts a selection touches (no Spark)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import main
from tests.conftest import ROOT


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real project, dashboards included, in a tmp folder; seeds linked."""
    for name in ["runner_project.yml", "profiles.yml"]:
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ["models", "macros", "tests/data", "dashboards"]:
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "seeds").symlink_to(ROOT / "seeds")
    return tmp_path


def cli(project: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--project-dir", str(project)])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_project_compiles_with_its_dashboards(project):
    result = cli(project, "compile")
    assert result.exit_code == 0, result.output


def test_a_mart_column_renamed_under_a_chart_fails_compile_at_the_yaml_line(project):
    edit(project / "models/marts/segment_summary.sql",
         "    p.habit_rate,", "    p.habit_rate as habit_share,")
    result = cli(project, "compile")
    assert result.exit_code == 1
    out = result.output
    match = re.search(r"dashboards/datasets\.yml:(\d+):(\d+): dataset 'segment_summary' names "
                      r"column 'habit_rate', which model segment_summary does not select", out)
    assert match, out
    line = (project / "dashboards/datasets.yml").read_text().splitlines()[int(match[1]) - 1]
    assert line[int(match[2]) - 1:].startswith("habit_rate")
    assert "did you mean 'habit_share'?" in out
    assert "fintech-onboarding.segment_table" in out  # the charts that show it


def test_a_chart_naming_a_missing_column_fails_compile_at_its_line(project):
    path = project / "dashboards/onboarding.yml"
    edit(path, "    x: segment_name\n", "    x: segment_label\n")
    result = cli(project, "compile")
    assert result.exit_code == 1
    match = re.search(r"dashboards/onboarding\.yml:(\d+)\S*: .*'segment_label'", result.output)
    assert match, result.output
    assert "segment_label" in path.read_text().splitlines()[int(match[1]) - 1]


def test_a_metric_reading_a_column_its_dataset_lacks_fails(project):
    edit(project / "dashboards/datasets.yml",
         'expression: "AVG(setup)"', 'expression: "AVG(set_up)"')
    result = cli(project, "compile")
    assert result.exit_code == 1
    assert re.search(r"dashboards/datasets\.yml:\d+: metric 'setup_rate' of dataset "
                     r"'user_onboarding_metrics' reads column 'set_up'", result.output), (
        result.output)


def test_ls_lists_the_charts_a_change_touches(project, tmp_path_factory):
    assert cli(project, "compile").exit_code == 0
    state = tmp_path_factory.mktemp("state")
    shutil.copy(project / "target/manifest.json", state / "manifest.json")
    edit(project / "models/marts/segment_summary.sql",
         "    p.habit_rate,", "    p.habit_rate + 0 as habit_rate,")
    args = ["ls", "-s", "state:modified+", "--state", str(state)]
    assert cli(project, *args, "--resource-type", "chart").output.split() == [
        "fintech-onboarding.segment_rates", "fintech-onboarding.segment_table"]
    listed = cli(project, *args, "--resource-type", "all").output.split()
    assert "segment_summary" in listed and listed[-2:] == [
        "fintech-onboarding.segment_rates", "fintech-onboarding.segment_table"]
    rows = [json.loads(line) for line in cli(
        project, *args, "--resource-type", "chart", "--output", "json").output.splitlines()]
    assert {r["resource_type"] for r in rows} == {"chart"}
    assert rows[0]["depends_on"] == ["segment_summary"]
    assert rows[0]["path"] == "dashboards/onboarding.yml"


def test_an_upstream_change_reaches_every_chart_downstream(project, tmp_path_factory):
    assert cli(project, "compile").exit_code == 0
    state = tmp_path_factory.mktemp("state")
    shutil.copy(project / "target/manifest.json", state / "manifest.json")
    edit(project / "models/intermediate/int_user_metrics.sql",
         "o.first_login_dt,", "o.first_login_dt,  -- edited")
    out = cli(project, "ls", "-s", "state:modified+", "--state", str(state),
              "--resource-type", "chart").output.split()
    assert "fintech-onboarding.habit_rate" in out and "fintech-onboarding.cohort_rates" in out
    assert "fintech-onboarding.last_build" not in out  # build_info is no model
