"""schema.yml / sources.yml: pydantic models, lines kept by the loader, errors at file:line."""

from __future__ import annotations

import doctest

import pytest
from click.testing import CliRunner

from runner import yaml_files
from runner.cli import main
from runner.errors import ConfigError
from runner.project import load_project
from runner.yaml_files import SchemaFile, find_line, parse_yaml, validate_yaml
from tests.conftest import ROOT

MODELS = {
    "models/users.sql": "select 1 as user_id",
    "models/orders.sql": "select 1 as order_id from {{ ref('users') }}",
}


def _compile(make_project, files: dict[str, str]):
    project = make_project({**MODELS, **files})
    return CliRunner().invoke(main, ["compile", "--project-dir", str(project)])


def _assert_one_error(result, message: str, hint: str | None = None) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert "Traceback" not in result.output
    assert "Unexpected error" not in result.output
    assert f"Error: {message}\n" in result.output
    if hint is not None:
        assert f"hint: {hint}\n" in result.output


# (file, text, the exact first line of the error, its hint or None)
ERRORS = [
    # a model entry without `name:` (was `Unexpected error: KeyError: 'name'`, exit 2)
    ("models/schema.yml",
     "version: 2\nmodels:\n  - name: users\n  - description: Orders.\n",
     "models/schema.yml:4: model entry has no 'name'", "add `name:` to it"),
    ("models/schema.yml",
     "models:\n  - name: users\n    columns: user_id\n",
     "models/schema.yml:3: model 'users': 'columns' must be a list, not 'user_id'", None),
    ("models/schema.yml",
     "models:\n  - name: users\n    columns: [user_id]\n",
     ("models/schema.yml:3: model 'users': each item of 'columns' must be a mapping, "
     "not 'user_id'"), None),
    ("models/schema.yml",
     "models:\n  - name: users\n    columns:\n      - name: user_id\n        tset: [unique]\n",
     "models/schema.yml:5: column 'user_id' of model 'users': unknown key 'tset'",
     "allowed keys: name, data_tests, data_type, description, meta, tests"),
    ("models/schema.yml",
     "models:\n  - name: users\n    materialized: table\n",
     "models/schema.yml:3: model 'users': unknown key 'materialized'",
     "allowed keys: name, columns, config, data_tests, description, docs, meta, tests"),
    ("models/schema.yml",
     "modles:\n  - name: users\n",
     "models/schema.yml:1: unknown top-level key 'modles'",
     "allowed keys: models, sources, unit_tests, version"),
    ("models/schema.yml",
     "models:\n  - name: users\n    tests: [a]\n    data_tests: [b]\n",
     "models/schema.yml:2: model 'users': give either 'tests' or 'data_tests', not both", None),
    ("models/schema.yml",
     "models:\n  - name: users\n    description: 3\n",
     "models/schema.yml:3: model 'users': 'description' must be a string, not 3", None),
    ("models/schema.yml",
     "version: 1\n",
     "models/schema.yml:1: 'version' must be 2, not 1", None),
    ("models/schema.yml",
     "- name: users\n",
     "models/schema.yml:1: the file must be a mapping, not a list", None),
    ("models/schema.yml",
     "models:\n  - name: users\n  - name: user\n",
     "models/schema.yml:3: YAML documents model 'user' but there is no user.sql",
     "fix the name in the YAML or remove the entry"),
    ("models/schema.yml",
     "models:\n  - name: users\n  - name: Users\n",
     ("models/schema.yml:3: model 'users' is documented twice: here and at "
     "models/schema.yml:2"), "merge the two entries into one"),
    ("models/schema.yml",
     "models:\n  - name: users\n    columns:\n      - name: [user_id\n",
     "models/schema.yml:5:1: invalid YAML: expected ',' or ']', but got '<stream end>'", None),
    ("models/sources.yml",
     "sources:\n  - name: raw\n    tables:\n      - file: users.csv\n",
     "models/sources.yml:4: table entry of source 'raw' has no 'name'", "add `name:` to it"),
    ("models/sources.yml",
     "sources:\n  - name: raw\n    format: parquet\n",
     "models/sources.yml:3: source 'raw': 'format' must be 'csv', not 'parquet'", None),
    ("models/sources.yml",
     ("sources:\n  - name: raw\n    tables:\n      - name: users\n        columns:\n"
     "          - {name: user_id, tests: [unique]}\n"),
     ("models/sources.yml:6: column 'user_id' of table 'users': tests on source columns are "
     "not run: declare them on the staging model"), None),
    ("models/sources.yml",
     ("sources:\n  - name: raw\n    tables:\n      - name: users\n  - name: raw\n"
     "    tables:\n      - name: users\n"),
     ("models/sources.yml:7: source table raw.users is declared twice (also in "
     "models/sources.yml)"), "keep one declaration of each table"),
]


@pytest.mark.parametrize("file, text, message, hint", ERRORS)
def test_yaml_errors_name_file_and_line(make_project, file, text, message, hint):
    _assert_one_error(_compile(make_project, {file: text}), message, hint)


def test_first_problem_in_file_order_and_a_count(make_project):
    text = "models:\n  - name: users\n    foo: 1\n  - description: x\n"
    _assert_one_error(
        _compile(make_project, {"models/schema.yml": text}),
        "models/schema.yml:3: model 'users': unknown key 'foo' (and 1 more)",
    )


def test_the_offending_line_is_underlined(make_project):
    text = "version: 2\nmodels:\n  - name: users\n  - description: Orders.\n"
    result = _compile(make_project, {"models/schema.yml": text})
    underline = "^" * len("- description: Orders.")
    assert f"\n    - description: Orders.\n    {underline}\n" in result.output


def test_dbt_lenient_keys_and_nulls_are_accepted(make_project):
    text = (
        "version: 2\nmodels:\n  - name: users\n    description:\n    meta: {owner: me}\n"
        "    docs: {show: false}\n    columns:\n      - name: user_id\n        data_tests: [unique]\n"
        "        meta: {pii: false}\n  - name: orders\n    columns:\n    tests:\n"
        "unit_tests:\n  - name: t1\n    model: users\n    given: []\n"
    )
    project = load_project(make_project({**MODELS, "models/schema.yml": text}))
    users = project.models["users"]
    assert users.description == ""
    assert users.columns[0].tests == ("unique",)
    assert project.models["orders"].columns == ()
    [unit] = project.unit_tests
    assert (str(unit.path), unit.line, unit.definition["name"]) == ("models/schema.yml", 15, "t1")


def test_sources_table_path_and_format_default_to_the_source(make_project):
    text = (
        "sources:\n  - name: raw\n    path: \"{{ var('raw_dir') }}\"\n    tables:\n"
        "      - name: users\n      - {name: events, file: ev.csv, path: other}\n"
    )
    project = load_project(make_project({**MODELS, "models/sources.yml": text}))
    users, events = project.sources[("raw", "users")], project.sources[("raw", "events")]
    assert (users.file, users.path_template, users.format) == (
        "users.csv", "{{ var('raw_dir') }}", "csv")
    assert (events.file, events.path_template) == ("ev.csv", "other")


def test_loader_keeps_lines_of_entries_keys_and_items():
    data = parse_yaml(
        "base: &b {x: 1}\nmodels:\n  - name: a\n    <<: *b\n  - {name: b}\n", "f.yml"
    )
    assert data["models"][0] == {"name": "a", "x": 1}
    assert find_line(data, "models") == 2
    assert find_line(data, "models", 1) == 5
    assert find_line(data, "models", 0, "name") == 3
    assert find_line(data, "models", 7) is None


def test_specs_remember_where_they_start():
    text = "models:\n  - name: a\n\n  - name: b\n    columns:\n      - name: c\n"
    spec = validate_yaml(SchemaFile, parse_yaml(text, "f.yml"), "f.yml", text)
    assert [m.line for m in spec.models] == [2, 4]
    assert spec.models[1].columns[0].line == 6


def test_real_project_loads_every_doc_and_source():
    project = load_project(ROOT)
    assert len(project.models) == 14
    assert all(m.yaml_path is not None and m.description for m in project.models.values())
    assert sorted(t for _, t in project.sources) == [
        "bt_users_transactions", "dim_users", "lk_onboarding"]
    assert sum(len(m.tests) + sum(len(c.tests) for c in m.columns)
               for m in project.models.values()) > 50


def test_doctests():
    assert doctest.testmod(yaml_files).failed == 0


def test_config_error_is_raised_not_printed():
    with pytest.raises(ConfigError, match="model entry has no 'name'"):
        text = "models:\n  - {description: x}\n"
        validate_yaml(SchemaFile, parse_yaml(text, "f.yml"), "f.yml", text)
