"""Fuzzing the source files: whatever bytes a raw file holds, the build reads it or refuses it
cleanly, and data_quality accounts for every record.

One example mutates one file of a small sample of the seeds (bytes, quotes, delimiters, line
ends, encodings, truncation, huge fields, BOM, empty file, header only), then runs
`runner build` of the models and tests data_quality needs, in-process on the session's one
SparkSession. It must exit 0, or 1 with an `Error:` (a file it cannot read); never 2, never a
traceback. On exit 0 every source's data_quality adds up (its own test,
assert_data_quality_adds_up, ran too) and a mutation that keeps the file valid CSV keeps every
record. Examples: 25, derandomized (CI); `RUNNER_FUZZ_EXAMPLES=500` for a longer random run.
"""

from __future__ import annotations

import codecs
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runner.errors import DataSourceError
from runner.project import Project, load_project
from runner.spark.sources import register_source
from tests.conftest import ROOT
from tests.integration.test_sources_by_name import (
    csv_text,
    project_copy,
    read_view,
    sample_rows,
    write_rows,
)

pytestmark = pytest.mark.slow

TABLES = ["lk_onboarding", "dim_users", "bt_users_transactions"]
RECORDS = 200
_EXAMPLES = os.environ.get("RUNNER_FUZZ_EXAMPLES")


def _settings(examples: int) -> settings:
    return settings(
        max_examples=int(_EXAMPLES) * examples // 25 if _EXAMPLES else examples,
        derandomize=_EXAMPLES is None,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


FUZZ_BUILD = _settings(25)  # a build per example
FUZZ_VIEW = _settings(100)  # a source view per example
BYTES = [b'"', b",", b"\n", b"\r", b"\r\n", b"\x00", b"\xff", "é".encode(), b"x", b" ", b";"]
KINDS = ["edits", "stray_quote", "truncate", "huge_field", "crlf", "cr", "bom", "utf16", "latin1",
         "semicolons", "empty", "header_only", "blank_lines"]


@dataclass(frozen=True)
class Mutation:
    """A mutated raw file and what its records must become: `same` (valid CSV: every record),
    `near` (within `edits` of them) or `any` (read or refused)."""

    table: str
    kind: str
    data: bytes
    expect: str
    edits: int = 0


def _whole_file(original: bytes, kind: str) -> tuple[bytes, str]:
    text = original.decode()
    if kind == "crlf":
        return original.replace(b"\n", b"\r\n"), "same"
    if kind == "cr":
        return original.replace(b"\n", b"\r"), "same"
    if kind == "bom":
        return codecs.BOM_UTF8 + original, "same"
    if kind == "utf16":
        return text.encode("utf-16"), "any"
    if kind == "latin1":
        return text.replace("MLB", "MLÉ").encode("latin-1", errors="replace"), "same"
    if kind == "semicolons":
        return original.replace(b",", b";"), "any"
    if kind == "empty":
        return b"", "any"
    if kind == "header_only":
        return original.split(b"\n", 1)[0] + b"\n", "any"
    if kind == "blank_lines":
        return original.replace(b"\n", b"\n\n"), "same"
    raise AssertionError(kind)


@st.composite
def mutations(draw) -> Mutation:
    kind = draw(st.sampled_from(KINDS))
    table = draw(st.sampled_from(TABLES))
    original = SAMPLES[table]
    header_end = original.index(b"\n") + 1
    if kind == "edits":
        data = bytearray(original)
        count = draw(st.integers(1, 4))
        for _ in range(count):
            at = draw(st.integers(header_end, len(data)))
            op = draw(st.sampled_from(["insert", "delete", "replace"]))
            new = draw(st.sampled_from(BYTES))
            if op == "insert":
                data[at:at] = new
            else:
                data[at : at + 1] = b"" if op == "delete" else new
        return Mutation(table, kind, bytes(data), "near", count)
    if kind == "stray_quote":
        at = draw(st.integers(header_end, len(original)))
        return Mutation(table, kind, original[:at] + b'"' + original[at:], "near", 1)
    if kind == "truncate":
        cut = draw(st.integers(header_end, len(original)))
        return Mutation(table, kind, original[:cut], "any")
    if kind == "huge_field":  # a 3 MB user_id, and a quoted value of 100,000 lines
        lines = original.split(b"\n")
        k = draw(st.integers(1, len(lines) - 2))
        lines[k] = lines[k].replace(b"MLB", b"MLB" + b"y" * 3_000_000, 1)
        if lines[-2].endswith(b","):
            lines[-2] += b'"' + b"z\n" * 100_000 + b'"'
        return Mutation(table, kind, b"\n".join(lines), "same")
    data, expect = _whole_file(original, kind)
    return Mutation(table, kind, data, expect)


SAMPLES = {table: csv_text(sample_rows(table, RECORDS)).encode() for table in TABLES}


@pytest.fixture(scope="module")
def fuzz_project(tmp_path_factory) -> Path:
    project = project_copy(tmp_path_factory.mktemp("fuzz"))
    shutil.copytree(ROOT / "tests" / "data", project / "tests" / "data")
    return project


@pytest.fixture(scope="module")
def loaded_project(fuzz_project) -> Project:
    return load_project(fuzz_project)


def _write_raw(project_dir: Path, mutation: Mutation) -> Path:
    raw = project_dir / "raw"
    raw.mkdir(exist_ok=True)
    for table in TABLES:
        (raw / f"{table}.csv").write_bytes(SAMPLES[table])
    (raw / f"{mutation.table}.csv").write_bytes(mutation.data)
    return raw


def _first_checks(dq: pd.DataFrame) -> dict[str, pd.Series]:
    """Each source file's first check (the one that examines every record)."""
    return {source: rows.sort_values(["rows_in", "rows_kept"], ascending=False).iloc[0]
            for source, rows in dq[dq["source"].isin(TABLES)].groupby("source")}


def _assert_adds_up(dq: pd.DataFrame, mutation: Mutation) -> None:
    waterfall = dq[dq["source"].isin(TABLES) & ~dq["check"].isin(
        ["identical_duplicate", "identical_transaction_rows"])]
    bad = waterfall[waterfall["rows_in"] != waterfall["rows_kept"] + waterfall["rows_quarantined"]]
    assert bad.empty, bad.to_string()
    first = _first_checks(dq)
    for table in TABLES:
        records = first[table]["rows_in"] if table in first else 0
        if table != mutation.table or mutation.expect == "same":
            assert records == RECORDS, (table, records)
        elif mutation.expect == "near":
            assert abs(records - RECORDS) <= mutation.edits, (table, records)


@FUZZ_VIEW
@given(mutation=mutations())
def test_a_source_view_has_one_row_per_record_of_any_raw_file(spark, loaded_project, mutation):
    """The view of a mutated file, read whole: Spark's rows are the scan's records."""
    raw = _write_raw(loaded_project.dir, mutation)
    table = loaded_project.sources[("raw", mutation.table)]
    try:
        view = register_source(spark, loaded_project, table, {"raw_dir": str(raw)})
    except DataSourceError:
        event(f"{mutation.kind}: refused")
        assert mutation.expect == "any", mutation.kind
        return
    rows, records, lines, corrupt = spark.sql(
        f"select count(1), max(_file_records), count(distinct _line), count(_corrupt_record) "
        f"from {view}").collect()[0]
    event(f"{mutation.kind}: {'corrupt rows' if corrupt else 'read'}")
    assert rows == lines == (records or 0), (mutation.kind, rows, records, lines)
    if mutation.expect == "same":
        assert rows == RECORDS, (mutation.kind, rows)
    elif mutation.expect == "near":
        assert abs(rows - RECORDS) <= mutation.edits, (mutation.kind, rows)


@FUZZ_BUILD
@given(mutation=mutations())
def test_any_raw_file_is_read_or_refused_and_every_record_counted(
    fuzz_project, run_runner, mutation
):
    raw = _write_raw(fuzz_project, mutation)
    marts = fuzz_project / "target" / "marts"
    shutil.rmtree(marts, ignore_errors=True)
    result = run_runner(
        ["build", "--target", "spark_only", "-s", "+data_quality +quarantined_rows",
         "--exclude", "accepted_values_* not_null_* unique_*",
         "--vars", yaml.safe_dump({"raw_dir": str(raw)}, default_flow_style=True)],
        project_dir=fuzz_project,
    )
    event(f"{mutation.kind}: exit {result.exit_code}")
    what = f"{mutation.kind} of {mutation.table}:\n{result.output[-3000:]}"
    assert result.exit_code in (0, 1), what
    assert "Traceback" not in result.output, what
    if result.exit_code == 1:
        text = " ".join(result.output.split())
        assert "Error:" in text and f"raw.{mutation.table}:" in text, what
        assert mutation.expect == "any", what
        return
    assert "assert_data_quality_adds_up" in result.output, what
    _assert_adds_up(pd.read_parquet(marts / "data_quality"), mutation)


def test_a_stray_quote_costs_its_own_record(spark, tmp_path):
    """Row 200 of the onboarding sample with a stray quote before its user_id: Spark's
    multiLine reader used to make it swallow the other 1,877 rows (population 461 -> 49)."""
    project = load_project(project_copy(tmp_path))
    rows = sample_rows("lk_onboarding", 5000)
    clean = read_view(spark, project, "lk_onboarding",
                      write_rows(tmp_path / "clean" / "lk_onboarding.csv", rows).parent)
    lines = (tmp_path / "clean" / "lk_onboarding.csv").read_text().split("\n")
    lines[200] = lines[200].replace(",MLB", ',"MLB', 1)
    broken = tmp_path / "broken" / "lk_onboarding.csv"
    broken.parent.mkdir()
    broken.write_text("\n".join(lines))
    view = read_view(spark, project, "lk_onboarding", broken.parent)
    assert len(view) == len(clean) == len(rows) - 1
    assert (view["_file_records"] == len(clean)).all()
    corrupt = view[view["_corrupt_record"].notna()]
    assert corrupt["_line"].tolist() == [201]
    assert corrupt["_corrupt_record"].tolist() == [lines[200]]
    declared = [c.name for c in project.sources[("raw", "lk_onboarding")].columns]
    kept = view[view["_line"] != 201].reset_index(drop=True)
    expected = clean[clean["_line"] != 201].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[[*declared, "_line"]], expected[[*declared, "_line"]])
    assert (kept["_line"] == kept["row_index"].astype(int) + 2).all()


def test_records_of_varying_height_get_their_lines_from_a_lookup(spark, tmp_path):
    """More line runs than a CASE holds (addresses of 1 to 4 lines): `_line` is joined."""
    project = load_project(project_copy(tmp_path))
    rows = sample_rows("dim_users", 300)
    for i, row in enumerate(rows[1:]):
        row[4] = "\n".join(f"line {k}" for k in range(i * 7 % 4 + 1))
    view = read_view(spark, project, "dim_users",
                     write_rows(tmp_path / "raw" / "dim_users.csv", rows).parent)
    starts = [2]
    for row in rows[1:-1]:
        starts.append(starts[-1] + row[4].count("\n") + 1)
    assert sorted(view["_line"]) == starts
    assert (project.target_dir / "sources" / "src__raw__dim_users.lines.parquet").is_file()
    users = view.set_index("_line")["user_id"]
    assert [users[line] for line in starts] == [row[1] for row in rows[1:]]
