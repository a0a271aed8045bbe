"""`runner lint`: sqlfluff with the project's rules, templater context and exact locations."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner import lint as lint_module
from runner.cli import main
from runner.lint import lint_project

REPO = Path(__file__).resolve().parents[2]

# A project macro with a top-level variable, rendering several lines: line numbers in the model
# only come out right when the report maps the rendered SQL back to the file.
MACRO = """{%- set column_names = ['id', 'amount'] -%}

{% macro columns() -%}
{{ column_names | join(',\\n        ') }}
{%- endmacro %}
"""

UPSTREAM = "select\n    1 as id,\n    2.0 as amount\n"

CLEAN = """{{ config(materialized='incremental') }}
{#- Two lines
    of comment. -#}
with base as (
    select
        {{ columns() }}
    from {{ ref('upstream') }}
    {%- if is_incremental() %}
    where id > (select max(e.id) from {{ this }} as e)
    {%- endif %}
)

select
    id,
    amount * {{ var('factor') }} as scaled_amount
from base
where id > 0
"""

# Line 15 ends in a space after the Jinja call, line 17's keyword is upper case.
DIRTY = CLEAN.replace("scaled_amount\n", "scaled_amount \n").replace("where id > 0", "WHERE id > 0")


@pytest.fixture
def project(make_project):
    def make(model: str = DIRTY) -> Path:
        return make_project(
            {
                ".sqlfluff": (REPO / ".sqlfluff").read_text(),
                "macros/cols.sql": MACRO,
                "models/upstream.sql": UPSTREAM,
                "models/scaled.sql": model,
            },
            vars_="  factor: 2",
        )

    return make


def _lint(path: Path, *args: str):
    return CliRunner().invoke(main, ["lint", "--project-dir", str(path), *args])


def test_the_projects_models_and_macros_pass():
    result = lint_project(REPO)
    sql_files = sorted(p.relative_to(REPO).as_posix() for d in ("models", "macros")
                       for p in (REPO / d).rglob("*.sql"))
    assert list(result.files) == sql_files
    assert [str(v) for v in result.violations] == []


def test_a_clean_model_passes(project):
    out = _lint(project(CLEAN))
    assert out.exit_code == 0, out.output
    assert out.output == "Linted 3 files: no violations.\n"


def test_violations_name_the_file_line_column_and_rule(project):
    out = _lint(project())
    assert out.exit_code == 1, out.output
    assert out.output.splitlines() == [
        "models/scaled.sql:15:50: LT01 Unnecessary trailing whitespace.",
        "models/scaled.sql:17:1: CP01 Keywords must be lower case.",
        "Linted 3 files: 2 violations in 1 file.",
    ]


def test_fix_rewrites_the_file_and_leaves_the_jinja_alone(project):
    path = project()
    out = _lint(path, "--fix")
    assert out.exit_code == 0, out.output
    assert out.output.splitlines() == [
        "Fixed models/scaled.sql",
        "Linted 3 files: fixed 1 file; no violations.",
    ]
    assert (path / "models/scaled.sql").read_text() == CLEAN
    assert (path / "macros/cols.sql").read_text() == MACRO


def test_select_lints_only_the_named_models(project):
    out = _lint(project(), "-s", "upstream")
    assert (out.exit_code, out.output) == (0, "Linted 1 file: no violations.\n")


def test_an_unknown_model_in_select_is_one_error(project):
    out = _lint(project(), "-s", "scaledd")
    assert out.exit_code == 1
    assert out.output.splitlines() == [
        "Error: -s/--select: no model named 'scaledd'",
        "hint: did you mean scaled?",
    ]


def test_an_undeclared_var_points_at_its_call(project):
    out = _lint(project(CLEAN.replace("var('factor')", "var('factr')")), "-s", "scaled")
    assert out.exit_code == 1
    assert out.output.splitlines()[0] == (
        "models/scaled.sql:15:17: TMP variable 'factr' is not defined (did you mean var('factor')?)"
    )


def test_doctests():
    assert doctest.testmod(lint_module).failed == 0
