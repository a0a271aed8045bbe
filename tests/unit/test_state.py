"""`--select state:modified+ --state PATH` after each kind of edit, on temp projects (no Spark)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from runner.compile import compile_project, write_manifest
from runner.config import RunConfig

# staging/stg (uses macro cents -> macro round2) -> marts/orders -> marts/report
#                                                 -> marts/by_day
# staging/other -> marts/other_mart ; a macro `unused` nobody calls
FILES = {
    "runner_project.yml": (
        "name: t\nprofile: t\nmodels:\n  staging: {materialized: view}\n"
        "  marts: {materialized: table}\n"
    ),
    "macros/money.sql": (
        "{% macro round2(x) %}round({{ x }}, 2){% endmacro %}\n"
        "{% macro cents(x) %}{{ round2(x ~ ' / 100') }}{% endmacro %}\n"
        "{% macro unused() %}1{% endmacro %}\n"
    ),
    "macros/count.sql": "{% macro count(x) %}count({{ x }}){% endmacro %}\n",
    "models/staging/stg.sql": "select id, {{ cents('amount') }} as amount from t\n",
    "models/staging/other.sql": "select 1 as id, count(*) as n from t\n",
    "models/marts/orders.sql": "select * from {{ ref('stg') }}\n",
    "models/marts/report.sql": "select * from {{ ref('orders') }}\n",
    "models/marts/by_day.sql": "select * from {{ ref('orders') }}\n",
    "models/marts/other_mart.sql": "select * from {{ ref('other') }}\n",
    "models/schema.yml": (
        "version: 2\nmodels:\n"
        "  - name: orders\n    description: Orders.\n"
        "    columns:\n      - name: id\n        tests: [unique]\n"
        "  - name: report\n    config: {tags: [daily]}\n"
    ),
}


def _edit(project: Path, path: str, old: str, new: str) -> None:
    file = project / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, 1))


# (title, file, old text, new text, selected models, selected tests)
EDITS = [
    ("nothing changed", "models/marts/orders.sql", "", "", [], []),
    ("SQL edit of a leaf", "models/marts/by_day.sql", "select *", "select id", ["by_day"], []),
    ("SQL edit upstream", "models/marts/orders.sql", "select *", "select id, amount",
     ["orders", "by_day", "report"], ["unique_orders_id"]),
    ("config() in the SQL", "models/marts/report.sql", "select",
     "{{ config(persist=true) }}\nselect", ["report"], []),
    ("config in YAML", "models/schema.yml", "tags: [daily]", "tags: [daily, finance]",
     ["report"], []),
    ("config in the project file (folder)", "runner_project.yml",
     "staging: {materialized: view}", "staging: {materialized: table}",
     ["other", "stg", "orders", "other_mart", "by_day", "report"], ["unique_orders_id"]),
    ("macro called by a macro", "macros/money.sql", "round({{ x }}, 2)", "round({{ x }}, 3)",
     ["stg", "orders", "by_day", "report"], ["unique_orders_id"]),
    ("macro called directly", "macros/money.sql", "x ~ ' / 100'", "x ~ ' / 1000'",
     ["stg", "orders", "by_day", "report"], ["unique_orders_id"]),
    ("macro nobody calls", "macros/money.sql", "{% macro unused() %}1", "{% macro unused() %}2",
     [], []),
    # `count(*)` in other.sql is SQL, not a call of the macro `count`
    ("macro named like a SQL function", "macros/count.sql", "count({{ x }})", "sum({{ x }})",
     [], []),
    ("description only", "models/schema.yml", "description: Orders.", "description: All orders.",
     [], []),
    ("a test's definition", "models/schema.yml", "tests: [unique]", "tests: [unique, not_null]",
     [], ["not_null_orders_id"]),
]


@pytest.fixture
def saved(make_project, tmp_path):
    """A project and the manifest of its previous state, saved outside target/."""
    project = make_project(FILES)
    cp = compile_project(RunConfig(project_dir=project, command="compile"), check_sql=False)
    state = tmp_path / "prod-state"
    state.mkdir()
    shutil.copy(write_manifest(cp), state / "manifest.json")
    return project, state


@pytest.mark.parametrize(
    "title, path, old, new, models, tests", EDITS, ids=[e[0] for e in EDITS]
)
def test_state_modified_plus(saved, title, path, old, new, models, tests):
    project, state = saved
    if old:
        _edit(project, path, old, new)
    cfg = RunConfig(project_dir=project, command="ls", select=("state:modified+",),
                    state_path=state)
    cp = compile_project(cfg, check_sql=False)
    assert cp.selected == models
    assert cp.selected_tests == sorted(set(tests))


def test_state_new_model(saved):
    project, state = saved
    (project / "models" / "marts" / "fresh.sql").write_text("select * from {{ ref('orders') }}")
    cfg = RunConfig(project_dir=project, command="ls", select=("state:new",), state_path=state)
    assert compile_project(cfg, check_sql=False).selected == ["fresh"]


def test_state_accepts_the_manifest_file_itself(saved):
    project, state = saved
    _edit(project, "models/marts/by_day.sql", "select *", "select id")
    cfg = RunConfig(project_dir=project, command="ls", select=("state:modified",),
                    state_path=state / "manifest.json")
    assert compile_project(cfg, check_sql=False).selected == ["by_day"]


# -- state: of tests -------------------------------------------------------------------------

UNITS = (
    "unit_tests:\n  - name: by_day_rows\n    model: by_day\n"
    "    given: [{input: \"ref('orders')\", rows: [{id: 1}]}]\n"
    "    expect: {rows: [{id: 1}]}\n"
)


@pytest.fixture
def saved_units(make_project, tmp_path):
    project = make_project({**FILES, "models/_unit_tests.yml": UNITS})
    cp = compile_project(RunConfig(project_dir=project, command="compile"), check_sql=False)
    state = tmp_path / "prod-state"
    state.mkdir()
    shutil.copy(write_manifest(cp), state / "manifest.json")
    return project, state


def _state_select(project: Path, state: Path, mode: str = "eager"):
    cfg = RunConfig(project_dir=project, command="ls", select=("state:modified",),
                    state_path=state, indirect_selection=mode)
    return compile_project(cfg, check_sql=False)


def test_a_unit_test_whose_rows_changed_is_modified(saved_units):
    project, state = saved_units
    _edit(project, "models/_unit_tests.yml", "rows: [{id: 1}]}", "rows: [{id: 2}]}")
    cp = _state_select(project, state)
    assert (cp.selected, cp.selected_tests, cp.selected_unit_tests) == ([], [], ["by_day_rows"])


@pytest.mark.parametrize("mode", ["eager", "empty"])
def test_a_test_of_a_modified_model_is_modified(saved_units, mode):
    # the tests come as modified themselves, not only by indirect selection
    project, state = saved_units
    _edit(project, "models/marts/orders.sql", "select *", "select id, amount")
    cp = _state_select(project, state, mode)
    assert (cp.selected, cp.selected_tests) == (["orders"], ["unique_orders_id"])
    _edit(project, "models/marts/by_day.sql", "select *", "select id")
    assert _state_select(project, state, mode).selected_unit_tests == ["by_day_rows"]


def test_a_manifest_without_unit_tests_compares_them_by_their_model(saved_units):
    project, state = saved_units
    manifest = json.loads((state / "manifest.json").read_text())
    del manifest["unit_tests"]
    (state / "manifest.json").write_text(json.dumps(manifest))
    assert _state_select(project, state).selected_unit_tests == []
    _edit(project, "models/marts/by_day.sql", "select *", "select id")
    assert _state_select(project, state, "empty").selected_unit_tests == ["by_day_rows"]
