"""Reuse on real Spark: a build reuses every model and test whose fingerprint is unchanged (a
no-op rebuild computes nothing), `build -s one_mart` reads unchanged persisted upstream models
from the previous build, and a changed input, var or --full-refresh computes again."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.integration.conftest import read_mart

FILES = {
    "models/sources.yml": (
        "version: 2\nsources:\n  - name: raw\n    path: \"{{ var('raw_dir') }}\"\n    tables:\n"
        "      - name: orders\n        file: orders.csv\n        columns:\n"
        "          - {name: row_index}\n          - {name: customer}\n          - {name: amount}\n"
    ),
    "models/stg_orders.sql": (
        "select customer, cast(amount as double) as amount from {{ source('raw', 'orders') }}"
    ),
    "models/int_totals.sql": (
        "{{ config(persist=true) }}\n"
        "select customer, sum(amount) as total, count(*) as orders\n"
        "from {{ ref('stg_orders') }} group by customer"
    ),
    "models/big_spenders.sql": (
        "{{ config(materialized='table') }}\n"
        "select customer from {{ ref('int_totals') }} where total >= {{ var('threshold') }}"
    ),
    "models/order_counts.sql": (
        "{{ config(materialized='table') }}\nselect sum(orders) as n from {{ ref('int_totals') }}"
    ),
    "data/orders.csv": ",customer,amount\n0,ana,10\n1,bob,3\n2,ana,7\n",
}


def _parts(project: Path) -> dict[str, int]:
    """The persisted rows' files and their inodes: a recomputation replaces them."""
    folder = project / "target" / "persisted" / "int_totals"
    return {p.name: p.stat().st_ino for p in folder.glob("part-*")}


def test_selection_build_reuses_unchanged_upstream(make_project, run_runner):
    project = make_project(FILES, vars_="  raw_dir: data\n  threshold: 10")
    first = run_runner(["build"], project_dir=project)
    assert first.exit_code == 0, first.output
    assert "persisted view (2 rows)" in first.output
    written = _parts(project)
    assert written

    again = run_runner(["build", "-s", "big_spenders"], project_dir=project)
    assert again.exit_code == 0, again.output
    assert "REUSED table model big_spenders (1 rows)" in again.output  # itself unchanged
    assert "Persisted upstream" not in again.output
    assert _parts(project) == written  # not recomputed
    assert sorted(read_mart(project, "big_spenders")["customer"]) == ["ana"]

    # The mart's own SQL changed: still reused upstream, the mart is rebuilt from it.
    (project / "models/big_spenders.sql").write_text(
        "{{ config(materialized='table') }}\n"
        "select customer from {{ ref('int_totals') }} where total < {{ var('threshold') }}"
    )
    edited = run_runner(["build", "-s", "big_spenders"], project_dir=project)
    assert "Reused from the previous build (unchanged): int_totals" in edited.output
    assert sorted(read_mart(project, "big_spenders")["customer"]) == ["bob"]


def test_changed_input_bytes_recompute_upstream(make_project, run_runner):
    project = make_project(FILES, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    written = _parts(project)

    # Same size, same modification time, new bytes (bob's 3 becomes 9): the digest sees it.
    data = project / "data/orders.csv"
    before = data.stat()
    data.write_text(",customer,amount\n0,ana,10\n1,bob,9\n2,ana,7\n")
    os.utime(data, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert data.stat().st_size == before.st_size
    changed = run_runner(["build", "-s", "order_counts"], project_dir=project)
    assert changed.exit_code == 0, changed.output
    assert "Persisted upstream for the next builds: int_totals" in changed.output
    assert "Reused" not in changed.output
    assert _parts(project) != written

    # int_totals reads no var: a changed threshold leaves it reused, big_spenders computes.
    threshold = run_runner(["build", "-s", "big_spenders", "--vars", "{threshold: 9}"],
                           project_dir=project)
    assert "Reused from the previous build (unchanged): int_totals" in threshold.output
    assert "OK table (2 rows) big_spenders" in threshold.output
    assert sorted(read_mart(project, "big_spenders")["customer"]) == ["ana", "bob"]


def test_full_refresh_recomputes_upstream(make_project, run_runner):
    project = make_project(FILES, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    written = _parts(project)
    refreshed = run_runner(["build", "-s", "big_spenders", "--full-refresh"], project_dir=project)
    assert refreshed.exit_code == 0, refreshed.output
    assert "Persisted upstream for the next builds: int_totals" in refreshed.output
    assert _parts(project) != written


# -- a whole build reused: models, data tests and unit tests --------------------------------

TESTED = {
    **FILES,
    "models/schema.yml": (
        "version: 2\nmodels:\n"
        "  - name: int_totals\n    columns:\n"
        "      - name: customer\n        tests: [not_null, unique]\n"
        "  - name: big_spenders\n    columns:\n"
        "      - name: customer\n        tests: [not_null]\n"
        "unit_tests:\n"
        "  - name: totals_add_up\n    model: int_totals\n    given:\n"
        "      - input: ref('stg_orders')\n"
        "        rows: [{customer: a, amount: 1.0}, {customer: a, amount: 2.0}]\n"
        "    expect:\n      rows: [{customer: a, total: 3.0, orders: 2}]\n"
    ),
    "tests/data/assert_few_orders.sql": (
        "{{ config(severity='warn') }}\nselect * from {{ ref('order_counts') }} where n > 1"
    ),
}
NODES = ["model.stg_orders", "model.int_totals", "model.big_spenders", "model.order_counts",
         "test.not_null_int_totals_customer", "test.unique_int_totals_customer",
         "test.not_null_big_spenders_customer", "test.assert_few_orders",
         "unit_test.totals_add_up"]


def _results(project: Path) -> dict[str, dict]:
    data = json.loads((project / "target" / "run_results.json").read_text())
    return {r["unique_id"]: r for r in data["results"]}


def _reused(project: Path) -> set[str]:
    return {uid for uid, r in _results(project).items() if r["reused"]}


def _marts(project: Path) -> dict[str, int]:
    """Each mart copy's first data file and its inode: a rebuild replaces them."""
    return {p.parent.name: p.stat().st_ino
            for p in (project / "target" / "marts").glob("*/part-*.parquet")}


def test_second_build_reuses_every_model_and_test(make_project, run_runner):
    project = make_project(TESTED, vars_="  raw_dir: data\n  threshold: 10")
    first = run_runner(["build"], project_dir=project)
    assert first.exit_code == 0, first.output
    assert sorted(_results(project)) == sorted(NODES)
    assert _reused(project) == set()
    assert _results(project)["test.assert_few_orders"]["status"] == "warn"
    marts, persisted = _marts(project), _parts(project)

    again = run_runner(["build"], project_dir=project)
    assert again.exit_code == 0, again.output
    assert ("Nothing changed since the last build: reusing 4 of 4 models, 4 of 4 tests, "
            "1 of 1 unit tests") in again.output
    assert "REUSED table model big_spenders (1 rows)" in again.output
    assert "REUSED view model int_totals (2 rows)" in again.output
    assert "REUSED PASS unique_int_totals_customer" in again.output
    assert "REUSED WARN 1 assert_few_orders" in again.output
    assert "REUSED PASS totals_add_up" in again.output
    assert "START" not in again.output and " OK " not in again.output
    assert "Changes:" not in again.output  # no mart rebuilt
    assert "REUSED=9" in again.output
    assert _reused(project) == set(NODES)
    results = _results(project)
    assert results["model.big_spenders"]["status"] == "success"
    assert results["model.big_spenders"]["message"].startswith("reused (unchanged)")
    assert (results["test.assert_few_orders"]["status"],
            results["test.assert_few_orders"]["failures"]) == ("warn", 1)
    assert results["unit_test.totals_add_up"]["status"] == "pass"
    assert _marts(project) == marts and _parts(project) == persisted

    # a third build keeps reusing
    assert run_runner(["build"], project_dir=project).exit_code == 0
    assert _reused(project) == set(NODES)


def test_changed_input_recomputes_what_reads_it(make_project, run_runner):
    project = make_project(TESTED, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    data = project / "data/orders.csv"
    data.write_text(",customer,amount\n0,ana,10\n1,bob,30\n2,ana,7\n")
    changed = run_runner(["build"], project_dir=project)
    assert changed.exit_code == 0, changed.output
    assert "Nothing changed" not in changed.output
    assert "Reusing what did not change: 0 of 4 models, 0 of 4 tests, 1 of 1 unit tests" in (
        changed.output)
    assert _reused(project) == {"unit_test.totals_add_up"}  # reads given rows only
    assert sorted(read_mart(project, "big_spenders")["customer"]) == ["ana", "bob"]


def test_changed_var_recomputes_its_readers_and_downstream_only(make_project, run_runner):
    project = make_project(TESTED, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    changed = run_runner(["build", "--vars", "{threshold: 3}"], project_dir=project)
    assert changed.exit_code == 0, changed.output
    assert "OK table (2 rows) big_spenders" in changed.output
    computed = {"model.big_spenders", "test.not_null_big_spenders_customer"}
    assert _reused(project) == set(NODES) - computed
    assert sorted(read_mart(project, "big_spenders")["customer"]) == ["ana", "bob"]
    # the same vars again: all reused
    assert run_runner(["build", "--vars", "{threshold: 3}"], project_dir=project).exit_code == 0
    assert _reused(project) == set(NODES)


def test_failed_test_is_not_reused(make_project, run_runner):
    files = {**TESTED, "tests/data/assert_no_bob.sql": (
        "select * from {{ ref('int_totals') }} where customer = 'bob'")}
    project = make_project(files, vars_="  raw_dir: data\n  threshold: 10")
    first = run_runner(["build"], project_dir=project)
    assert first.exit_code == 1, first.output
    assert _results(project)["test.assert_no_bob"]["status"] == "fail"
    # the failing test's downstream was skipped: not reused either
    assert _results(project)["model.big_spenders"]["status"] == "skipped"

    again = run_runner(["build"], project_dir=project)
    assert again.exit_code == 1, again.output
    results = _results(project)
    assert (results["test.assert_no_bob"]["status"], results["test.assert_no_bob"]["reused"]) == (
        "fail", False)
    assert "FAIL 1 assert_no_bob" in again.output
    assert results["model.int_totals"]["reused"]
    assert results["model.big_spenders"]["status"] == "skipped"
    assert "Nothing changed" not in again.output

    # retry runs the failed test again (never reused) and what it skipped
    retried = run_runner(["retry"], project_dir=project)
    assert retried.exit_code == 1, retried.output
    assert "FAIL 1 assert_no_bob" in retried.output
    assert _results(project)["model.big_spenders"]["status"] == "skipped"


def test_full_refresh_reuses_nothing(make_project, run_runner):
    project = make_project(TESTED, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    marts = _marts(project)
    refreshed = run_runner(["build", "--full-refresh"], project_dir=project)
    assert refreshed.exit_code == 0, refreshed.output
    assert "REUSED" not in refreshed.output and "Reusing" not in refreshed.output
    assert _reused(project) == set()
    assert set(_marts(project).items()).isdisjoint(marts.items())
    # and what it computed is reused next time
    assert run_runner(["build"], project_dir=project).exit_code == 0
    assert _reused(project) == set(NODES)


def test_deleted_mart_copy_recomputes_it_and_downstream(make_project, run_runner):
    project = make_project(TESTED, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    shutil.rmtree(project / "target" / "persisted" / "int_totals")
    again = run_runner(["build"], project_dir=project)
    assert again.exit_code == 0, again.output
    assert _reused(project) == {"model.stg_orders", "unit_test.totals_add_up"}
