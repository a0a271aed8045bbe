"""sqlglot checks and the messages the CLI prints for user errors (no Spark needed)."""

from __future__ import annotations

from click.testing import CliRunner

from runner.cli import main


def cli(project, *args):
    return CliRunner().invoke(main, [*args, "--project-dir", str(project)])


def test_compile_reports_syntax_error_with_source_line_and_col(make_project):
    project = make_project({
        "models/a.sql": "{{ config(materialized='view') }}\n\nselect x,\n  from t where",
    })
    result = cli(project, "compile")
    assert result.exit_code == 1
    assert "Error: models/a.sql:4:" in result.output
    assert "SQL syntax error in model a" in result.output
    assert "Traceback" not in result.output


def test_compile_reports_every_broken_model(make_project):
    files = {f"models/m{i}.sql": "select from where" for i in range(12)}
    result = cli(make_project(files), "compile")
    assert result.exit_code == 1
    assert "12 model(s) do not parse" in result.output
    assert "... and 2 more" in result.output


def test_typo_in_ref(make_project):
    project = make_project({"models/orders.sql": "select 1 as x",
                            "models/b.sql": "select * from {{ ref('order') }}"})
    result = cli(project, "compile")
    assert result.exit_code == 1
    assert "Error: models/b.sql:1: model 'order' not found" in result.output
    assert "did you mean ref('orders')?" in result.output


def test_cycle(make_project):
    project = make_project({"models/a.sql": "select * from {{ ref('c') }}",
                            "models/b.sql": "select * from {{ ref('a') }}",
                            "models/c.sql": "select * from {{ ref('b') }}"})
    result = cli(project, "ls")
    assert result.exit_code == 1
    assert "dependency cycle:" in result.output
    for name in "abc":
        assert name in result.output.split("dependency cycle:")[1]


def test_jinja_error(make_project):
    project = make_project({"models/a.sql": "select {{ 1 +  }}"})
    result = cli(project, "compile")
    assert result.exit_code == 1
    assert "models/a.sql:1: Jinja syntax error" in result.output


def test_missing_project(tmp_path):
    result = CliRunner().invoke(main, ["ls", "--project-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no runner_project.yml" in result.output


def test_ls_orders_and_selects(make_project):
    project = make_project({"models/a.sql": "select 1 as x",
                            "models/b.sql": "select * from {{ ref('a') }}",
                            "models/c.sql": "{{ config(tags=['t']) }} select * from {{ ref('b') }}"})
    assert cli(project, "ls").output.split() == ["a", "b", "c"]
    assert cli(project, "ls", "-s", "+b").output.split() == ["a", "b"]
    assert cli(project, "ls", "-s", "tag:t").output.split() == ["c"]
    assert cli(project, "ls", "-s", "a+", "--exclude", "c").output.split() == ["a", "b"]


def test_compile_writes_compiled_sql(make_project):
    project = make_project({"models/a.sql": "select {{ 1 + 1 }} as x"})
    assert cli(project, "compile").exit_code == 0
    assert (project / "target/compiled/models/a.sql").read_text().strip() == "select 2 as x"


def test_bad_vars_message(make_project):
    project = make_project({"models/a.sql": "select 1"})
    result = cli(project, "ls", "--vars", "[1, 2]")
    assert result.exit_code == 1
    assert "--vars must be a mapping" in result.output
