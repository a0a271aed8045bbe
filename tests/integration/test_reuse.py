"""State-based reuse on real Spark: `build -s one_mart` reads unchanged persisted upstream
models from the previous build, and computes them again when an input file changed."""

from __future__ import annotations

import os
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
    assert "Reused from the previous build (unchanged): int_totals" in again.output
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

    threshold = run_runner(["build", "-s", "big_spenders", "--vars", "{threshold: 9}"],
                           project_dir=project)
    assert "Persisted upstream for the next builds: int_totals" in threshold.output  # vars count
    assert sorted(read_mart(project, "big_spenders")["customer"]) == ["ana", "bob"]


def test_full_refresh_recomputes_upstream(make_project, run_runner):
    project = make_project(FILES, vars_="  raw_dir: data\n  threshold: 10")
    assert run_runner(["build"], project_dir=project).exit_code == 0
    written = _parts(project)
    refreshed = run_runner(["build", "-s", "big_spenders", "--full-refresh"], project_dir=project)
    assert refreshed.exit_code == 0, refreshed.output
    assert "Persisted upstream for the next builds: int_totals" in refreshed.output
    assert _parts(project) != written
