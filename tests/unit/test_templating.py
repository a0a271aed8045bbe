from __future__ import annotations

import pytest

from runner.errors import CompilationError
from runner.project import load_project
from runner.templating import Renderer, map_lines

MODELS = {
    "models/a.sql": "select 1 as x",
    "models/sub/b.sql": "{{ config(materialized='table', tags=['t1']) }}\nselect x from {{ ref('a') }}",
    "macros/m.sql": "{% macro twice(c) %}2 * {{ c }}{% endmacro %}\n"
                    "{% macro quad(c) %}2 * {{ twice(c) }}{% endmacro %}",
}


def render(make_project, files, vars_=None, name=None):
    project = load_project(make_project(files))
    renderer = Renderer(project, vars_ or {})
    return renderer.render(project.models[name or "c"])


def test_ref_source_config_var_and_nested_macros(make_project):
    files = {
        **MODELS,
        "models/src.yml": "sources:\n  - name: raw\n    path: data\n    tables:\n      - name: t\n",
        "models/c.sql": "select {{ quad('x') }}, {{ var('k') }} from {{ ref('b') }} "
                        "join {{ source('raw', 't') }}",
    }
    cm = render(make_project, files, {"k": 7})
    assert cm.sql.strip() == "select 2 * 2 * x, 7 from `b` join `src__raw__t`"
    assert cm.refs == ("b",)
    assert cm.sources == (("raw", "t"),)
    assert cm.config.materialized == "view"


def test_config_call_sets_materialization_and_tags(make_project):
    cm = render(make_project, MODELS, name="b")
    assert cm.config.materialized == "table"
    assert cm.config.tags == ["t1"]


def test_folder_config_from_project_file(make_project):
    files = {**MODELS, "runner_project.yml": "name: t\nprofile: t\nmodels:\n  sub:\n    materialized: table\n    tags: [deep]\n",
             "models/sub/d.sql": "select 1"}
    cm = render(make_project, files, name="d")
    assert (cm.config.materialized, cm.config.tags) == ("table", ["deep"])


def test_unknown_ref_names_file_line_and_suggests(make_project):
    files = {**MODELS, "models/c.sql": "select *\nfrom {{ ref('aa') }}"}
    with pytest.raises(CompilationError) as info:
        render(make_project, files)
    text = str(info.value)
    assert text.startswith("models/c.sql:2: model 'aa' not found")
    assert "did you mean ref('a')?" in text


def test_undefined_var_points_to_line(make_project):
    files = {**MODELS, "models/c.sql": "select\n  {{ var('missing') }}"}
    with pytest.raises(CompilationError) as info:
        render(make_project, files)
    assert "models/c.sql:2: variable 'missing' is not defined" in str(info.value)
    assert "--vars" in str(info.value)


def test_jinja_syntax_error_has_line(make_project):
    files = {**MODELS, "models/c.sql": "select 1\n{% if %}\n"}
    with pytest.raises(CompilationError) as info:
        render(make_project, files)
    assert str(info.value).startswith("models/c.sql:2: Jinja syntax error")


def test_invalid_config_value(make_project):
    files = {**MODELS, "models/c.sql": "{{ config(materialized='nope') }}\nselect 1"}
    with pytest.raises(CompilationError) as info:
        render(make_project, files)
    assert "invalid config for model c" in str(info.value)


def test_env_var_with_default(make_project, monkeypatch):
    monkeypatch.setenv("RUNNER_TEST_X", "42")
    files = {**MODELS, "models/c.sql": "select {{ env_var('RUNNER_TEST_X') }}, {{ env_var('NOPE_X', '1') }}"}
    assert render(make_project, files).sql.strip() == "select 42, 1"


def test_is_incremental_false_for_views(make_project):
    files = {**MODELS, "models/c.sql": "select {% if is_incremental() %}1{% else %}0{% endif %}"}
    assert render(make_project, files).sql.strip() == "select 0"


@pytest.mark.parametrize(
    "source, rendered, expected",
    [
        ("a\nb\nc", "a\nb\nc", (1, 2, 3)),  # identity
        ("{{ config() }}\nselect\nfrom t", "\nselect\nfrom t", (1, 2, 3)),
        ("select\n{{ m() }}\nfrom t", "select\nx,\ny\nfrom t", (1, 2, 2, 3)),  # macro expands
    ],
)
def test_map_lines(source, rendered, expected):
    assert map_lines(source, rendered) == expected


def test_duplicate_model_names_rejected(make_project):
    files = {**MODELS, "models/x/a.sql": "select 2"}
    from runner.errors import ConfigError

    with pytest.raises(ConfigError, match="two models are named 'a'"):
        load_project(make_project(files))
