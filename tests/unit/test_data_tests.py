"""Data tests without Spark: YAML syntax, compiled SQL, names, errors, selection, plan."""

from __future__ import annotations

import doctest
import importlib
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from runner.artifacts import result_status, run_results
from runner.build import plan_steps
from runner.compile import compile_project
from runner.config import RunConfig
from runner.manifest import build_manifest
from runner.results import NodeResult, RunResult
from runner.cli import main
from runner.datatests.collect import parse_entry
from runner.datatests.generic import FailureCount

MODELS = {
    "models/users.sql": "select 1 as user_id, 'control' as ab_group, 0.5 as rate",
    "models/orders.sql": "select 1 as order_id, 1 as user_id from {{ ref('users') }}",
    "models/report.sql": "select * from {{ ref('orders') }}",
}


def _schema(model: str, columns: str = "", tests: str = "") -> str:
    text = f"version: 2\nmodels:\n  - name: {model}\n"
    if tests:
        text += "    tests:\n" + "".join(f"      {line}\n" for line in tests.splitlines())
    if columns:
        text += "    columns:\n" + "".join(f"      {line}\n" for line in columns.splitlines())
    return text


def _compile(make_project, schema: str, extra: dict[str, str] | None = None, **cfg):
    project = make_project({**MODELS, "models/schema.yml": schema, **(extra or {})})
    return compile_project(RunConfig(project_dir=project, command="compile", **cfg),
                           check_sql=False)


def _cli(make_project, schema: str, extra: dict[str, str] | None = None):
    project = make_project({**MODELS, "models/schema.yml": schema, **(extra or {})})
    return CliRunner().invoke(main, ["compile", "--project-dir", str(project)])


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("not_null", ("not_null", {})),
        ({"unique": None}, ("unique", {})),
        ({"accepted_values": {"values": [1]}}, ("accepted_values", {"values": [1]})),
        # the `- name: x / test_name: y` form
        ({"test_name": "unique", "name": "pk"}, ("unique", {"name": "pk"})),
    ],
)
def test_parse_entry(entry, expected):
    assert parse_entry(entry) == expected


# title, YAML under the model (columns / model-level tests), test name, compiled SQL
COMPILED = [
    ("not_null", "- name: user_id\n  tests: [not_null]", "",
     "not_null_users_user_id", "select * from `users` where `user_id` is null"),
    ("unique", "- name: user_id\n  data_tests: [unique]", "",
     "unique_users_user_id",
     "select `user_id` as unique_field, count(*) as n_records from `users`\n"
     "where `user_id` is not null group by `user_id` having count(*) > 1"),
    ("accepted_values, quoted", "- name: ab_group\n  tests:\n"
     "    - accepted_values: {values: [control, \"it's\"]}", "",
     "accepted_values_users_ab_group__control__it_s",
     "select `ab_group` as value_field, count(*) as n_records from `users`\n"
     "where `ab_group` is not null and `ab_group` not in ('control', 'it\\'s') "
     "group by `ab_group`"),
    ("expression, whole condition", "", "- expression: {expression: \"rate between 0 and 1\"}",
     "expression_users__rate_between_0_and_1",
     "select * from `users` where not (rate between 0 and 1)"),
    ("expression on a column", "- name: rate\n  tests:\n    - expression: {expression: '<= 1'}",
     "", "expression_users_rate__lte_1", "select * from `users` where not (`rate` <= 1)"),
    ("dbt_utils alias", "", "- dbt_utils.expression_is_true: {expression: 'rate >= 0'}",
     "expression_users__rate_gte_0", "select * from `users` where not (rate >= 0)"),
    ("unique_combination_of_columns", "",
     "- unique_combination_of_columns: {combination_of_columns: [user_id, ab_group]}",
     "unique_combination_of_columns_users__user_id__ab_group",
     "select `user_id`, `ab_group`, count(*) as n_records from `users`\n"
     "group by `user_id`, `ab_group` having count(*) > 1"),
    ("where in config", "- name: user_id\n  tests:\n"
     "    - not_null: {config: {where: \"ab_group = 'control'\"}}", "",
     "not_null_users_user_id",
     "select * from (select * from `users` where ab_group = 'control') where `user_id` is null"),
    ("where at top level, dbt 1.8 arguments", "- name: ab_group\n  tests:\n"
     "    - accepted_values: {arguments: {values: [a]}, where: 'rate > 0'}", "",
     "accepted_values_users_ab_group__a",
     "select `ab_group` as value_field, count(*) as n_records from "
     "(select * from `users` where rate > 0)\n"
     "where `ab_group` is not null and `ab_group` not in ('a') group by `ab_group`"),
    ("explicit name", "- name: user_id\n  tests:\n    - unique: {name: users_pk}", "",
     "users_pk", None),
    # named from the arguments as written: --vars does not rename it
    ("Jinja in an argument", "", "- expression: {expression: \"rate <= {{ var('max', 1) }}\"}",
     "expression_users__rate_lte_var_max_1", "select * from `users` where not (rate <= 1)"),
]


@pytest.mark.parametrize("title, columns, tests, name, sql", COMPILED,
                         ids=[c[0] for c in COMPILED])
def test_compiled_sql(make_project, title, columns, tests, name, sql):
    cp = _compile(make_project, _schema("users", columns, tests))
    assert list(cp.tests) == [name]
    test = cp.tests[name]
    if sql is not None:
        assert test.sql == sql
    assert (test.model, test.refs, test.severity) == ("users", ("users",), "error")
    assert (cp.project.target_dir / "compiled" / "tests" / f"{name}.sql").exists()


CONDITIONS = {
    "not_null": ("- name: user_id\n  tests: [not_null]", "", FailureCount("`user_id` is null")),
    "accepted_values": (
        "- name: ab_group\n  tests:\n    - accepted_values: {values: [a, b]}", "",
        FailureCount("`ab_group` is not null and `ab_group` not in ('a', 'b')",
                     distinct="`ab_group`")),
    "expression": ("- name: rate\n  tests:\n    - expression: {expression: '<= 1'}", "",
                   FailureCount("not (`rate` <= 1)")),
    "where": ("- name: user_id\n  tests:\n    - not_null: {config: {where: 'rate > 0'}}", "",
              FailureCount("(rate > 0) and (`user_id` is null)")),
    "unique": ("- name: user_id\n  tests: [unique]", "",
               FailureCount("`user_id` is not null", distinct="`user_id`",
                            partition=("`user_id`",))),
    "combination": ("", "- unique_combination_of_columns: {combination_of_columns: [user_id]}",
                    FailureCount("true", distinct="struct(`user_id`)", partition=("`user_id`",))),
    # reads a second model, maybe not built when its own model's pass runs
    "relationships": ("- name: user_id\n  tests:\n"
                      "    - relationships: {to: \"ref('orders')\", field: user_id}", "", None),
}


@pytest.mark.parametrize("title", sorted(CONDITIONS))
def test_failure_count_of_generic_tests(make_project, title):
    """How one pass over the model counts a test's failing rows; None: its own query only."""
    columns, tests, count = CONDITIONS[title]
    cp = _compile(make_project, _schema("users", columns, tests))
    (test,) = cp.tests.values()
    assert test.count == count


def test_relationships_refers_to_the_other_model(make_project):
    cp = _compile(make_project, _schema(
        "orders", "- name: user_id\n  tests:\n"
        "    - relationships: {to: \"ref('users')\", field: user_id, severity: warn}"))
    test = cp.tests["relationships_orders_user_id__users__user_id"]
    assert test.refs == ("orders", "users")
    assert test.attached == ("orders",)
    assert test.severity == "warn"
    assert "not exists (select 1 from `users` as parent where parent.`user_id` = child.`user_id`)" \
        in test.sql


def test_custom_generic_test_macro(make_project):
    macro = (
        "{% macro test_at_most(model, column_name, max_value) %}\n"
        "select * from {{ model }} where {{ column_name }} > {{ max_value }}\n{% endmacro %}\n"
        "{% macro test_has_rows(model) %}\n"
        "select 1 as empty from (select count(*) as n from {{ model }}) where n = 0\n"
        "{% endmacro %}"
    )
    cp = _compile(
        make_project,
        _schema("users", "- name: rate\n  tests:\n    - at_most: {max_value: 1}",
                "- has_rows:\n    config: {severity: warn}"),
        {"macros/tests.sql": macro},
    )
    assert cp.tests["at_most_users_rate__1"].sql == "select * from `users` where rate > 1"
    assert cp.tests["at_most_users_rate__1"].macro == "test_at_most"
    assert cp.tests["has_rows_users"].severity == "warn"
    manifest = build_manifest(cp.project, cp.models, cp.tests)
    assert manifest["nodes"]["test.at_most_users_rate__1"]["depends_on"]["macros"] == [
        "test_at_most"
    ]


def test_singular_test(make_project):
    cp = _compile(make_project, _schema("users"), {
        "tests/data/assert_orders_have_users.sql":
            "{{ config(severity='warn') }}\nselect o.* from {{ ref('orders') }} o "
            "left anti join {{ ref('users') }} u on o.user_id = u.user_id",
    })
    test = cp.tests["assert_orders_have_users"]
    assert (test.kind, test.severity, test.model) == ("singular", "warn", None)
    assert test.refs == ("orders", "users")
    assert test.attached == ("orders", "users")


def test_tests_of_disabled_models_are_left_out(make_project):
    cp = _compile(make_project, _schema(
        "orders", "- name: user_id\n  tests:\n    - not_null\n"
        "    - relationships: {to: \"ref('users')\", field: user_id}\n"
        "    - unique: {config: {enabled: false}}"),
        {"models/users.sql": "{{ config(enabled=false) }} select 1 as user_id",
         "models/orders.sql": "select 1 as user_id"})
    assert list(cp.tests) == ["not_null_orders_user_id"]


# YAML that cannot be compiled -> the exact message the CLI prints
ERRORS = [
    ("- name: user_id\n  tests: [not_nul]",
     "Error: models/schema.yml:6: unknown test 'not_nul' on model users",
     "hint: built-in tests: accepted_values, expression, not_null, relationships, unique, "
     "unique_combination_of_columns; or define a macro test_not_nul(model, column_name) in "
     "macros/"),
    ("- name: ab_group\n  tests: [accepted_values]",
     "Error: models/schema.yml:6: test accepted_values on users.ab_group: "
     "missing argument 'values'",
     "hint: arguments of accepted_values: values, quote"),
    ("- name: ab_group\n  tests:\n    - accepted_values: {values: [a], valeus: [b]}",
     "Error: models/schema.yml:7: test accepted_values on users.ab_group: "
     "unknown argument 'valeus'",
     "hint: arguments of accepted_values: values, quote"),
    ("- name: user_id\n  tests:\n    - unique: {config: {severity: fatal}}",
     "Error: models/schema.yml:7: test unique on users.user_id: severity must be warn or error, "
     "not 'fatal'", "hint: set config: {severity: warn} or {severity: error}"),
    ("- name: user_id\n  tests:\n    - unique: {config: {serverity: warn}}",
     "Error: models/schema.yml:7: test unique on users.user_id: unknown config 'serverity'",
     "hint: config keys: severity, where, store_failures, enabled"),
    ("- name: user_id\n  tests: [unique, unique]",
     "Error: models/schema.yml: two tests are named 'unique_users_user_id' "
     "(models/schema.yml and models/schema.yml)",
     "hint: give one of them its own `name:` (or rename the .sql file)"),
    ("- name: user_id\n  tests:\n    - relationships: {to: \"ref('user')\", field: user_id}",
     "Error: models/schema.yml:7: test relationships on users.user_id: model 'user' not found",
     "hint: did you mean ref('users')?"),
]


@pytest.mark.parametrize("columns, message, hint", ERRORS)
def test_definition_errors(make_project, columns, message, hint):
    result = _cli(make_project, _schema("users", columns))
    assert result.exit_code == 1
    assert message in result.output
    assert hint in result.output
    assert "Traceback" not in result.output


def test_model_level_test_needs_a_column(make_project):
    result = _cli(make_project, _schema("users", tests="- not_null"))
    assert result.exit_code == 1
    assert ("Error: models/schema.yml:5: test not_null on users: it must be declared under a "
            "column (or given column_name:)") in result.output


SCHEMA = _schema("users", "- name: user_id\n  tests: [unique, not_null]") + (
    "  - name: orders\n    columns:\n      - name: user_id\n        tests:\n"
    "          - relationships: {to: \"ref('users')\", field: user_id}\n"
)


@pytest.mark.parametrize(
    "select, exclude, expected",
    [
        ([], [], ["not_null_users_user_id", "relationships_orders_user_id__users__user_id",
                  "unique_users_user_id"]),
        (["users"], [], ["not_null_users_user_id", "relationships_orders_user_id__users__user_id",
                         "unique_users_user_id"]),  # a test on any selected parent runs
        (["orders"], [], ["relationships_orders_user_id__users__user_id"]),
        (["unique_users_user_id"], [], ["unique_users_user_id"]),  # by test name
        (["*_users_user_id"], [], ["not_null_users_user_id", "unique_users_user_id"]),
        (["users"], ["not_null_users_user_id"], [
            "relationships_orders_user_id__users__user_id", "unique_users_user_id"]),
        (["report"], [], []),
    ],
)
def test_select_tests(make_project, select, exclude, expected):
    cp = _compile(make_project, SCHEMA, select=tuple(select), exclude=tuple(exclude))
    assert cp.selected_tests == expected


def test_plan_runs_each_test_after_the_last_model_it_reads(make_project):
    cp = _compile(make_project, SCHEMA, {
        "tests/data/assert_report.sql": "select * from {{ ref('report') }} where 1 = 0",
    })
    plan = [f"{s.resource_type}:{s.name}" for s in plan_steps(cp, "build")]
    assert plan == [
        "model:users", "test:not_null_users_user_id", "test:unique_users_user_id",
        "model:orders", "test:relationships_orders_user_id__users__user_id",
        "model:report", "test:assert_report",
    ]
    assert [s.name for s in plan_steps(cp, "run")] == ["users", "orders", "report"]
    assert all(s.resource_type == "test" for s in plan_steps(cp, "test"))


def test_manifest_test_nodes(make_project):
    cp = _compile(make_project, SCHEMA)
    node = build_manifest(cp.project, cp.models, cp.tests)["nodes"][
        "test.relationships_orders_user_id__users__user_id"]
    assert node["resource_type"] == "test"
    assert node["depends_on"]["nodes"] == ["model.orders", "model.users"]
    assert node["attached_node"] == "model.orders"
    assert node["column_name"] == "user_id"
    assert node["test_metadata"] == {"name": "relationships",
                                     "kwargs": {"to": "ref('users')", "field": "user_id"}}
    assert node["config"] == {"severity": "error", "where": None, "store_failures": None}
    assert node["compiled_path"] == (
        "target/compiled/tests/relationships_orders_user_id__users__user_id.sql")


@pytest.mark.parametrize(
    "status, failures, expected",
    [("success", 0, "pass"), ("error", 3, "fail"), ("warn", 2, "warn"), ("error", None, "error"),
     ("skipped", None, "skipped")],
)
def test_run_results_test_status(status, failures, expected):
    result = NodeResult("t", status, "", resource_type="test", failures=failures)
    assert result_status(result) == expected
    run = RunResult("test", datetime.now(timezone.utc), datetime.now(timezone.utc), [result], "x")
    entry = run_results(RunConfig(command="test"), run)["results"][0]
    assert (entry["unique_id"], entry["status"], entry["failures"]) == ("test.t", expected,
                                                                        failures)


@pytest.mark.parametrize("name", ["runner.datatests.collect", "runner.datatests.generic",
                                  "runner.datatests.failing_rows", "runner.datatests.one_pass",
                                  "runner.artifacts", "runner.retry",
                                  "runner.interrupts"])
def test_doctests(name):
    assert doctest.testmod(importlib.import_module(name)).failed == 0


# -- selection: tests are nodes under their models (runner.selection) ------------------------

UNITS = ("unit_tests:\n  - name: orders_rows\n    model: orders\n"
         "    given: [{input: \"ref('users')\", rows: [{user_id: 1}]}]\n"
         "    expect: {rows: [{order_id: 1}]}\n")
NIGHTLY = SCHEMA.replace("tests: [unique, not_null]",
                         "tests: [unique, {not_null: {config: {tags: [nightly]}}}]")
EXTRA = {
    "tests/data/assert_orders.sql": "select * from {{ ref('orders') }} where order_id is null",
    "models/_unit_tests.yml": UNITS,
}


@pytest.mark.parametrize(
    "select, exclude, mode, tests, units",
    [
        # a model brings its generic, singular and unit tests
        (["orders"], [], "eager", ["assert_orders",
                                   "relationships_orders_user_id__users__user_id"],
         ["orders_rows"]),
        # a test reading two models: with either (eager), only with both (cautious)
        (["users"], [], "eager", ["not_null_users_user_id",
                                  "relationships_orders_user_id__users__user_id",
                                  "unique_users_user_id"], []),
        (["users"], [], "cautious", ["not_null_users_user_id", "unique_users_user_id"], []),
        (["users orders"], [], "cautious", ["assert_orders", "not_null_users_user_id",
                                            "relationships_orders_user_id__users__user_id",
                                            "unique_users_user_id"], ["orders_rows"]),
        # buildable: users is an ancestor of orders
        (["orders"], [], "buildable", ["assert_orders",
                                       "relationships_orders_user_id__users__user_id"],
         ["orders_rows"]),
        (["orders"], [], "empty", [], []),
        # the test's own tag, its type
        (["tag:nightly"], [], "eager", ["not_null_users_user_id"], []),
        (["test_type:singular"], [], "eager", ["assert_orders"], []),
        (["test_type:generic,users"], [], "eager", [
            "not_null_users_user_id", "relationships_orders_user_id__users__user_id",
            "unique_users_user_id"], []),
        # excluding a model excludes the tests that read it
        (["orders"], ["users"], "eager", ["assert_orders"], ["orders_rows"]),
        ([], ["tag:nightly test_type:unit"], "eager", [
            "assert_orders", "relationships_orders_user_id__users__user_id",
            "unique_users_user_id"], []),
    ],
)
def test_tests_are_selected_under_their_models(make_project, select, exclude, mode, tests,
                                               units):
    cp = _compile(make_project, NIGHTLY, EXTRA, select=tuple(select), exclude=tuple(exclude),
                  indirect_selection=mode)
    assert cp.selected_tests == tests
    assert cp.selected_unit_tests == units


def test_ls_takes_indirect_selection(make_project):
    project = make_project({**MODELS, "models/schema.yml": SCHEMA})

    def ls(*args: str) -> list[str]:
        result = CliRunner().invoke(main, ["ls", "--project-dir", str(project),
                                           "--resource-type", "test", "-s", "orders", *args])
        assert result.exit_code == 0, result.output
        return result.output.split()

    assert ls() == ["relationships_orders_user_id__users__user_id"]
    assert ls("--indirect-selection", "cautious") == []
    assert ls("--indirect-selection", "eager") == ls()


def test_manifest_records_test_tags(make_project):
    cp = _compile(make_project, NIGHTLY)
    nodes = build_manifest(cp.project, cp.models, cp.tests)["nodes"]
    assert nodes["test.not_null_users_user_id"]["tags"] == ["nightly"]
    assert nodes["test.unique_users_user_id"]["tags"] == []
