"""Names are not paths: models, tests and sources are letters, digits and `_`."""

from __future__ import annotations

import doctest

import pytest
from click.testing import CliRunner

from runner import project as project_module
from runner.cli import main
from runner.datatests.collect import build_test_name
from runner.errors import ConfigError, Location
from runner.project import validate_name

USERS = {"models/users.sql": "select 1 as user_id"}


@pytest.mark.parametrize("name", ["users", "stg_Users", "_x", "a1", "2021_cohort"])
def test_plain_names_pass(name):
    assert validate_name(name, "model", Location("m.sql")) == name


@pytest.mark.parametrize(
    "name, hint",
    [
        ("..", "give it a name"),
        ("/tmp/x", "rename it, e.g. 'tmp_x'"),
        ("a/../b", "rename it, e.g. 'a_b'"),
        ("my-model", "rename it, e.g. 'my_model'"),
        ("two words", "rename it, e.g. 'two_words'"),
        ("", "give it a name"),
        ("users.v2", "rename it, e.g. 'users_v2'"),
    ],
)
def test_names_that_could_be_paths_are_refused(name, hint):
    with pytest.raises(ConfigError) as info:
        validate_name(name, "model", Location("models/schema.yml", 3))
    assert str(info.value) == (
        f"models/schema.yml:3: model name '{name}' is not allowed: use only letters, digits "
        f"and _\nhint: {hint}"
    )


def _compile(make_project, files: dict[str, str]):
    project = make_project(files)
    return CliRunner().invoke(main, ["compile", "--project-dir", str(project)])


# (files, the exact first line of the error, its hint)
ERRORS = [
    ({"models/..sql": "select 1 as x"},
     "models/..sql: model name '.' is not allowed: use only letters, digits and _",
     "rename the file: a model is named after its file (letters, digits, _)"),
    ({"models/my-model.sql": "select 1 as x"},
     "models/my-model.sql: model name 'my-model' is not allowed: use only letters, digits and _",
     "rename the file: a model is named after its file (letters, digits, _)"),
    ({**USERS, "models/schema.yml": "models:\n  - name: ../users\n"},
     "models/schema.yml:2: model name '../users' is not allowed: use only letters, digits and _",
     "rename it, e.g. 'users'"),
    ({**USERS, "models/schema.yml":
      "models:\n  - name: users\n    columns:\n      - name: user_id\n        tests:\n"
      "          - unique:\n              name: /tmp/x\n"},
     "models/schema.yml:7: test name '/tmp/x' is not allowed: use only letters, digits and _",
     ("a test's `name:` is a name, not a path: letters, digits and _ (or leave it out for the "
     "default)")),
    ({**USERS, "models/schema.yml":
      "models:\n  - name: users\n    columns:\n      - name: user_id\n        tests:\n"
      "          - test_name: unique\n            name: ../../x\n"},
     "models/schema.yml:7: test name '../../x' is not allowed: use only letters, digits and _",
     None),
    ({**USERS, "tests/data/users-ok.sql": "select * from {{ ref('users') }} where false"},
     ("tests/data/users-ok.sql: test name 'users-ok' is not allowed: use only letters, digits "
     "and _"), "rename the file: a singular test is named after its file (letters, digits, _)"),
    ({**USERS, "models/sources.yml": "sources:\n  - name: raw/x\n    tables:\n      - name: t\n"},
     "models/sources.yml:2: source name 'raw/x' is not allowed: use only letters, digits and _",
     "rename it, e.g. 'raw_x'"),
    ({**USERS, "models/sources.yml": "sources:\n  - name: raw\n    tables:\n      - name: ../t\n"},
     ("models/sources.yml:4: source table name '../t' is not allowed: use only letters, digits "
     "and _"), "rename it, e.g. 't'"),
]


@pytest.mark.parametrize("files, message, hint", ERRORS)
def test_bad_names_stop_compile_with_one_error(make_project, files, message, hint):
    result = _compile(make_project, files)
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1
    assert "Traceback" not in result.output
    assert f"Error: {message}\n" in result.output
    if hint is not None:
        assert f"hint: {hint}\n" in result.output


def test_a_named_test_with_a_plain_name_compiles(make_project):
    result = _compile(make_project, {**USERS, "models/schema.yml":
                                     "models:\n  - name: users\n    columns:\n"
                                     "      - name: user_id\n        tests:\n"
                                     "          - unique: {name: users_pk}\n"})
    assert result.exit_code == 0, result.output


def test_doctests():
    assert doctest.testmod(project_module).failed == 0


ATTACK = "false --/../../../../victim"


def test_a_column_named_like_a_path_compiles_inside_target(make_project):
    # The generic test's name is built from the column: a slug with a hash, never a path.
    project = make_project({**USERS, "models/schema.yml":
                            "models:\n  - name: users\n    columns:\n"
                            f"      - name: \"{ATTACK}\"\n        tests: [not_null]\n"})
    before = set(project.parent.rglob("*"))
    result = _compile(make_project, {})
    assert result.exit_code == 0, result.output
    written = set(project.parent.rglob("*")) - before
    target = project / "target"
    assert written and [p for p in written if p != target and target not in p.parents] == []
    assert not [p for p in project.parent.rglob("*victim*") if p.suffix == ".sql"
                and not p.name.startswith("not_null_users_false_victim_")]
    names = [p.name for p in (project / "target" / "compiled" / "tests").iterdir()]
    assert names == [f"{build_test_name('not_null', 'users', ATTACK.lower(), {})}.sql"]
    assert names[0].startswith("not_null_users_false_victim_")


@pytest.mark.parametrize(
    "kind, model, column, kwargs, name",
    [  # ordinary names are kept as they always were (artifacts, docs and state: compare them)
        ("unique", "users", "user_id", {}, "unique_users_user_id"),
        ("accepted_values", "users", "ab_group", {"values": ["a", "b"]},
         "accepted_values_users_ab_group__a__b"),
        ("expression", "users", None, {"expression": "amount >= 0"},
         "expression_users__amount_gte_0"),
    ],
)
def test_ordinary_test_names_are_unchanged(kind, model, column, kwargs, name):
    assert build_test_name(kind, model, column, kwargs) == name


@pytest.mark.parametrize("column", [ATTACK, "a b", "a/b", "..", "ü", "a-b"])
def test_a_generated_test_name_is_always_a_slug(column):
    name = build_test_name("not_null", "users", column, {})
    assert validate_name(name, "test", Location("m.yml")) == name
    assert name != build_test_name("not_null", "users", column + "x", {})
