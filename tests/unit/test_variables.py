"""Typed vars: `var-types:` in the project file, checked before anything compiles or runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from runner.cli import main
from runner.errors import ConfigError
from runner.project import load_project
from runner.variables import VarSpec, to_typed_value, validate_vars
from tests.conftest import ROOT

HINT_CONTROL_SHARE = "hint: control_share (runner_project.yml:"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The real project (models, macros, data tests, vars) in a tmp folder; seeds linked."""
    root = tmp_path_factory.mktemp("typed_vars")
    for name in ["runner_project.yml", "profiles.yml"]:
        shutil.copy(ROOT / name, root / name)
    for folder in ["models", "macros", "tests/data"]:
        shutil.copytree(ROOT / folder, root / folder)
    (root / "seeds").symlink_to(ROOT / "seeds")
    return root


def cli(project: Path, *args: str):
    return CliRunner().invoke(main, [*args, "--project-dir", str(project)])


@pytest.mark.parametrize(
    ("given", "error"),
    [
        # |float made it 0: everyone in treatment, every statistic NULL
        ("{control_share: abc}",
         'control_share = "abc" is not allowed: expected a number from 0 to 1'),
        # a quoted "false" was truthy
        ('{include_unknown_segment: "false"}',
         'include_unknown_segment = "false" is not allowed: '
         "expected true or false (a YAML boolean, unquoted)"),
        # |int failed inside Spark, or not at all
        ('{onboarding_days: "30 days"}',
         'onboarding_days = "30 days" is not allowed: expected an integer >= 1'),
        # a share above 1 put everyone in control
        ("{control_share: 2.0}",
         "control_share = 2.0 is not allowed: expected a number from 0 to 1"),
        # '1,x' was split and cast in the macro, failing only at render
        ("{segments: '1,x'}",
         'segments = "1,x" is not allowed: expected a non-empty list of distinct integers, '
         "each one of [1, 2], e.g. [1, 2]"),
        ("{segments: [1, 1]}", "segments = [1, 1] is not allowed"),
        ("{onboarding_days: 30.0}", "onboarding_days = 30.0 is not allowed"),
        ("{alpha: 0}",
         "alpha = 0 is not allowed: expected a number greater than 0 and less than 1"),
        ("{ab_salt: 2022}", 'ab_salt = 2022 is not allowed: expected a string'),
        ("{ab_group_column: 'x; drop table'}", "ab_group_column = \"x; drop table\" is not"),
        ('{user_id_pattern: "^MLB[0-9+$"}',
         "user_id_pattern = \"^MLB[0-9+$\" is not allowed: expected a regular expression"),
        ('{user_id_pattern: "^(?P<id>MLB)"}',
         "user_id_pattern = \"^(?P<id>MLB)\" is not allowed: expected a regular expression "
         "(a string Python's re and Java can compile); (?P<name>...) is Python-only syntax; "
         "Java writes (?<name>...)"),
    ],
)
def test_bad_var_is_one_error_naming_var_value_and_allowed(project, given, error):
    result = cli(project, "compile", "--vars", given)
    assert result.exit_code == 1, result.output
    assert f"Error: --vars: {error}" in result.output
    assert result.output.count("Error:") == 1
    assert "Traceback" not in result.output


def test_bad_var_error_names_the_declaration(project):
    result = cli(project, "compile", "--vars", "{control_share: abc}")
    assert HINT_CONTROL_SHARE in result.output
    assert "Share of users hashed to control" in result.output


def test_missing_raw_dir(project):
    result = cli(project, "ls", "--vars", "{raw_dir: no_such_folder}")
    assert result.exit_code == 1
    assert (f'Error: --vars: raw_dir = "no_such_folder" is not allowed: expected an existing '
            f"folder (absolute, or relative to the project folder); "
            f"{project / 'no_such_folder'} is not a folder") in result.output


def test_unknown_var_is_an_error_with_a_guess(project):
    result = cli(project, "compile", "--vars", "{control_shar: 0.1}")
    assert result.exit_code == 1
    assert "Error: --vars: unknown variable control_shar\n" in result.output
    assert "hint: did you mean control_share?" in result.output


def test_every_bad_var_in_one_error(project):
    result = cli(project, "compile", "--vars", "{control_share: abc, alpha: 0}")
    assert result.exit_code == 1
    assert result.output.count("Error:") == 1
    assert 'control_share = "abc" is not allowed' in result.output
    assert "--vars: alpha = 0 is not allowed" in result.output


def test_valid_overrides_reach_the_sql_typed(project):
    result = cli(project, "compile", "--vars", "{control_share: 0.1, onboarding_days: 14}")
    assert result.exit_code == 0, result.output
    compiled = project / "target" / "compiled" / "models"
    assignments = (compiled / "intermediate" / "int_ab_assignments.sql").read_text()
    assert "ab_bucket < 0.1 * 10000" in assignments
    window = (compiled / "intermediate" / "int_user_window_activity.sql").read_text()
    assert "u.first_login_dt) < 14\n" in window


def test_int_given_to_a_float_var_is_a_float(project):
    assert validate_vars(load_project(project), {"control_share": 0})["control_share"] == 0.0


@pytest.mark.parametrize("command", [["run", "-t", "spark_only"], ["show", "segment_summary"]])
def test_bad_var_stops_before_spark_and_writes_nothing(project, command):
    result = cli(project, *command, "--vars", "{control_share: abc}")
    assert result.exit_code == 1, result.output
    assert 'Error: --vars: control_share = "abc" is not allowed' in result.output
    assert not (project / "target" / "marts").exists()
    assert not (project / "target" / "run_results.json").exists()


# -- the project file ------------------------------------------------------------------------

PROJECT = """name: t
profile: t
vars:
  share: {share}
  days: 30
var-types:
  share: {{type: float, min: 0, max: 1, description: "a share"}}
  days: {{type: int, min: 1, description: "a window"}}
"""


def test_bad_default_points_at_its_line(make_project):
    root = make_project({"runner_project.yml": PROJECT.format(share=5)})
    with pytest.raises(ConfigError) as info:
        validate_vars(load_project(root), {})
    assert str(info.value).startswith(
        "runner_project.yml:4: vars: share = 5 is not allowed: expected a number from 0 to 1\n"
        "    share: 5\n"
    )
    assert "hint: share (runner_project.yml:7): a share" in str(info.value)


@pytest.mark.parametrize(
    ("block", "entry", "error"),
    [
        ("vars", "other: 1",
         "runner_project.yml:6: vars: other has no declaration under var-types:"),
        ("var-types", "other: {type: int, description: x}",
         "runner_project.yml:9: var-types: other has no default under vars:"),
        ("var-types", "other: {type: ints, description: x}",
         "runner_project.yml:9: var-types: other: type: Input should be 'int', 'float'"),
        ("var-types", "other: {type: int}",
         "runner_project.yml:9: var-types: other: description: Field required"),
        ("var-types", "other: {type: str, pattern: '[', description: x}",
         "runner_project.yml:9: var-types: other: pattern: Value error, not a valid regular"),
    ],
)
def test_declaration_errors(make_project, block, entry, error):
    text = PROJECT.format(share=0.5)
    if block == "vars":
        text = text.replace("  days: 30\n", f"  days: 30\n  {entry}\n")
    else:
        text += f"  {entry}\n"
    root = make_project({"runner_project.yml": text})
    with pytest.raises(ConfigError) as info:
        validate_vars(load_project(root), {})
    assert str(info.value).startswith(error), str(info.value)


def test_project_without_var_types_keeps_untyped_vars(make_project):
    root = make_project({}, vars_="  a: '1'")
    assert validate_vars(load_project(root), {"b": "x"}) == {"a": "1", "b": "x"}


# -- one value against one declaration -------------------------------------------------------


def spec(**kwargs) -> VarSpec:
    return VarSpec(description="d", **kwargs)


@pytest.mark.parametrize(
    ("declared", "value", "typed"),
    [
        (spec(type="int", min=0), 0, 0),
        (spec(type="float", min=0, max=1), 1, 1.0),
        (spec(type="bool"), False, False),
        (spec(type="str", nullable=True), None, None),
        (spec(type="list[int]", values=[1, 2]), [2, 1], [2, 1]),
        (spec(type="regex"), "^MLB[0-9]+$", "^MLB[0-9]+$"),
        (spec(type="path"), ".", "."),
    ],
)
def test_typed_value(declared, value, typed):
    assert to_typed_value(declared, value, ROOT) == typed


@pytest.mark.parametrize(
    ("declared", "value"),
    [
        (spec(type="int"), True),  # a bool is not an int
        (spec(type="int"), "30"),
        (spec(type="float"), "0.1"),
        (spec(type="bool"), "false"),
        (spec(type="bool"), 0),
        (spec(type="str"), None),  # not nullable
        (spec(type="list[int]"), []),
        (spec(type="list[int]"), [1, True]),
        (spec(type="list[int]"), 1),
        (spec(type="float", min=0, max=1, exclusive=True), 1.0),
        (spec(type="int", values=[1, 2]), 3),
        (spec(type="path"), "tests/unit/test_variables.py"),  # a file, not a folder
    ],
)
def test_rejected_value(declared, value):
    with pytest.raises(ValueError, match="is not allowed: expected"):
        to_typed_value(declared, value, ROOT)


def test_model_var_typo_suggests_the_declared_name(make_project):
    root = make_project(
        {"models/a.sql": "select {{ var('control_shar') }} as x"}, vars_="  control_share: 0.1"
    )
    result = cli(root, "compile")
    assert result.exit_code == 1
    assert "Error: models/a.sql:1: variable 'control_shar' is not defined" in result.output
    assert "hint: did you mean var('control_share')?" in result.output


def test_unit_test_overrides_do_not_recheck_a_default_the_run_replaced(project, tmp_path):
    # a copy without seeds/ built with --vars raw_dir: the unit tests' own overrides compile
    moved = tmp_path / "no_seeds"
    shutil.copytree(project, moved, symlinks=True)
    (moved / "seeds").unlink()
    result = cli(moved, "compile", "--vars", f"{{raw_dir: {ROOT / 'seeds'}}}")
    assert result.exit_code == 0, result.output
    result = cli(moved, "compile")
    assert result.exit_code == 1 and 'raw_dir = "seeds" is not allowed' in result.output


def test_only_overrides_checks_the_overrides_alone(project):
    typed = validate_vars(load_project(project), {"onboarding_days": 14}, only_overrides=True)
    assert typed == {"onboarding_days": 14}
    with pytest.raises(ConfigError, match="onboarding_days = 0 is not allowed"):
        validate_vars(load_project(project), {"onboarding_days": 0}, only_overrides=True)
