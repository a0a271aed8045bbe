"""Names are not paths: models, tests and sources are letters, digits and `_`."""

from __future__ import annotations

import doctest

import pytest
from click.testing import CliRunner

from runner import project as project_module
from runner.cli import main
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
