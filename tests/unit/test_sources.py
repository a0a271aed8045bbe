"""Sources before Spark: the header matched by name, and the CSV scan that finds records by line.

The scan's properties are checked with hypothesis: on any RFC 4180 file it finds exactly the
records Python's csv module writes, at the same lines, whatever the read-block size; a stray
quote costs its own record only.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from runner.errors import DataSourceError
from runner.project import Column, SourceTable
from runner.spark import csv_scan
from runner.spark.csv_scan import CsvFormatError, CsvScan, read_header, scan_records
from runner.spark.line_runs import RunsBuilder, find_runs, line_expression, record_lines
from runner.spark.sources import header_columns, match_header, raw_text, write_good_records

LK_HEADER = (",Unnamed: 0,first_login_dt,week_year,user_id,habito,habito_dt,activacion,"
             "activacion_dt,setup,setup_dt,return,return_dt")
LK_ROW = "{i},{i}.0,2022-01-07,1,MLB{i},0.0,,1,2022-01-04,0,,1,2022-01-08"
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def _table(names: list[str]) -> SourceTable:
    return SourceTable("raw", "t", "t.csv", "data", "csv", tuple(Column(n) for n in names),
                       yaml_path=Path("models/sources.yml"))


def _scan(path: Path) -> CsvScan:
    return scan_records(path, read_header(path))


def _lines(scan: CsvScan) -> list[int]:
    return record_lines(scan.runs, scan.records).tolist()


def _lk(rows: int) -> str:
    return LK_HEADER + "\n" + "".join(LK_ROW.format(i=i) + "\n" for i in range(rows))


# -- header by name ---------------------------------------------------------------------------


def test_header_columns_name_the_index_columns():
    assert header_columns(LK_HEADER.split(",")[:3]) == ["row_index", "unnamed_0", "first_login_dt"]
    assert header_columns(["a", ""]) == ["a", ""]  # only the first field is the index


def test_match_header_maps_a_reordered_header_by_name():
    table = _table(["row_index", "habito", "activacion"])
    assert match_header(("", "activacion", "Habito"), table, Path("t.csv")) == [
        "row_index", "activacion", "habito"]


@pytest.mark.parametrize(
    "header, says",
    [
        (("", "habito"), "missing activacion"),
        (("", "habito", "activacion", "extra"), "not declared extra"),
        (("", "habito", "activacion", ""), "not declared (no name, field 4)"),
        (("", "habito", "activacion", "habito"), "named twice habito"),
    ],
)
def test_match_header_names_missing_unknown_and_repeated_columns(header, says):
    with pytest.raises(DataSourceError) as err:
        match_header(header, _table(["row_index", "habito", "activacion"]), Path("t.csv"))
    assert says in str(err.value)
    assert "Declared: row_index, habito, activacion" in str(err.value)


# -- the scan on hand-made files ----------------------------------------------------------------


def test_stray_quote_costs_its_own_line(tmp_path):
    """Today's reader turned line 201 of 2,078 into one record swallowing the rest."""
    lines = _lk(2077).splitlines()
    lines[200] = lines[200].replace(",MLB", ',"MLB')
    path = tmp_path / "lk.csv"
    path.write_text("\n".join(lines) + "\n")
    scan = _scan(path)
    assert (scan.records, scan.total) == (2076, 2077)
    [bad] = scan.malformed
    assert (bad.line, bad.end_line) == (201, 201)
    assert raw_text(path, bad, b"\n") == lines[200]
    assert _lines(scan) == [n for n in range(2, 2079) if n != 201]
    good = tmp_path / "good.csv"
    write_good_records(path, scan, good)
    assert good.read_text().splitlines() == lines[:200] + lines[201:]


def test_stray_quote_in_a_three_line_record_costs_that_record(tmp_path):
    record = '{i},MLB{i},Ana,a@x.com,"Rua {i}, 10\nCentro\nSao Paulo - SP",1990-01-01,1,,\n'
    text = ",user_id,name,email,address,birth_dt,phone,type,rubro\n" + "".join(
        record.format(i=i) for i in range(50))
    path = tmp_path / "users.csv"
    path.write_text(text.replace("MLB20,", '"MLB20,'))
    scan = _scan(path)
    [bad] = scan.malformed
    assert (bad.line, bad.end_line, scan.records) == (62, 64, 49)
    assert _lines(scan) == [2 + 3 * i for i in range(50) if i != 20]


@pytest.mark.parametrize(
    "text, records, lines",
    [
        ("a,b\r\n1,2\r\n3,4\r\n", 2, [2, 3]),
        ("a,b\r1,2\r3,4", 2, [2, 3]),
        ("a,b\n\n1,2\n\n\n3,4\n\n", 2, [3, 6]),
        ('\ufeffa,b\n1,"x\r\ny"\n3,4\n', 2, [2, 4]),
        ("a,b\n1,2\n3,4", 2, [2, 3]),
        ("a,b\n", 0, []),
        ("a,b", 0, []),
    ],
    ids=["crlf", "cr", "blank-lines", "bom-crlf-in-quotes", "no-final-newline", "header", "bare"],
)
def test_line_ends_blank_lines_and_bom(tmp_path, text, records, lines):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    scan = _scan(path)
    assert (scan.records, scan.malformed, _lines(scan)) == (records, (), lines)


@pytest.mark.parametrize(
    "text, malformed",
    [
        ('a,b\n1,"2\n3,4\n', [(2, 2)]),  # truncated inside quotes
        ("a,b\r\n1,2\n3,4\r\n", [(2, 2)]),  # a bare LF in a CRLF file: Spark would join lines
        ('a,b\n1,x"y\n3,4\n', [(2, 2)]),  # a quote inside an unquoted field
        ('a,b\n1,"x"y\n3,4\n', [(2, 2)]),  # text after a closing quote
        ("a,b\n" + "," * 30000 + "\n1,2\n", [(2, 2)]),  # past Spark's 20,480 columns
        ('a,b\n1,"x\n2,3\n4,5\n6,"\n7,8\n', [(2, 2), (5, 5)]),  # swallowed lines look like records
    ],
    ids=["truncated", "bare-lf", "mid-quote", "after-quote", "too-many-columns", "balanced-strays"],
)
def test_malformed_records_by_line(tmp_path, text, malformed):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    scan = _scan(path)
    assert [(m.line, m.end_line) for m in scan.malformed] == malformed


def test_one_line_record_with_wrong_field_count_is_left_to_spark(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2,3\n4\n5,6\n")
    scan = _scan(path)
    assert (scan.records, scan.malformed, _lines(scan)) == (3, (), [2, 3, 4])


@pytest.mark.parametrize(
    "content, says",
    [
        (b"", "empty"),
        ("a,b\n1,2\n".encode("utf-16"), "UTF-16"),
        ("a,\xe9\n1,2\n".encode("latin-1"), "not UTF-8"),
        (b'a,"b\n1,2\n', "not well-formed"),
        (b"\na,b\n", "first line is empty"),
    ],
)
def test_unreadable_headers(tmp_path, content, says):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    with pytest.raises(CsvFormatError, match=says):
        read_header(path)


# -- line runs ---------------------------------------------------------------------------------


@given(st.lists(st.integers(1, 4), min_size=1, max_size=60), st.integers(1, 7))
def test_runs_built_in_batches_give_every_line_back(steps, batch):
    lines = np.cumsum([2, *steps])
    builder = RunsBuilder()
    for i in range(0, len(lines), batch):
        builder.add(lines[i : i + batch])
    runs = builder.array()
    assert record_lines(runs, len(lines)).tolist() == lines.tolist()
    assert len(runs) <= len(find_runs(lines)) + 1


def test_line_expression_is_a_case_over_runs():
    sql = line_expression(find_runs(np.array([2, 3, 4, 7])), "o", "null")
    assert sql == ("CASE WHEN o <= 2 THEN 2 + (o - 0) * 1 WHEN o <= 3 THEN 4 + (o - 2) * 3 "
                   "ELSE null END")


# -- properties ----------------------------------------------------------------------------------

VALUES = st.text(st.sampled_from('ab,"\n é'), max_size=6)


def _write(rows: list[list[str]], terminator: str) -> tuple[str, list[int]]:
    """CSV text of `rows` (the first is the header) and each data record's start line."""
    out, starts, line = [], [], 1
    for i, row in enumerate(rows):
        buf = io.StringIO()
        csv.writer(buf, lineterminator=terminator).writerow(row)
        text = buf.getvalue()
        if i:
            starts.append(line)
        out.append(text)
        line += text.count("\n")
    return "".join(out), starts


def _record_alone(line: str, width: int) -> bool:
    """Whether `line`, read from outside quotes, closes its quotes and has `width` fields."""
    inside, commas = False, 0
    for char in line:
        inside ^= char == '"'
        commas += char == "," and not inside
    return not inside and commas == width - 1


@SETTINGS
@given(
    width=st.integers(2, 5),
    data=st.data(),
    terminator=st.sampled_from(["\n", "\r\n"]),
    block=st.sampled_from([7, 64, 2**20]),
)
def test_scan_finds_the_records_csv_writes(tmp_path, monkeypatch, width, data, terminator, block):
    rows = data.draw(st.lists(st.lists(VALUES, min_size=width, max_size=width), max_size=25))
    header = [f"c{i}" for i in range(width)]
    text, starts = _write([header, *rows], terminator)
    # a line inside a record that is a whole record by itself reads as swallowed records
    lines = text.split("\n")[:-1]
    assume(not any(_record_alone(lines[n - 1], width) for n in range(2, len(lines) + 1)
                   if n not in starts))
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    monkeypatch.setattr(csv_scan, "BLOCK_BYTES", max(block, 16))
    monkeypatch.setattr(csv_scan, "FIRST_WINDOW", block)
    monkeypatch.setattr(csv_scan, "LINE_WINDOW", block)
    scan = _scan(path)
    assert scan.malformed == ()
    assert _lines(scan) == starts


@SETTINGS
@given(rows=st.integers(1, 40), data=st.data(), block=st.sampled_from([9, 100, 2**20]))
def test_a_stray_quote_anywhere_costs_its_line_only(tmp_path, monkeypatch, rows, data, block):
    lines = _lk(rows).splitlines()
    k = data.draw(st.integers(1, rows))
    at = data.draw(st.integers(0, len(lines[k])))
    lines[k] = lines[k][:at] + '"' + lines[k][at:]
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(csv_scan, "BLOCK_BYTES", max(block, 16))
    monkeypatch.setattr(csv_scan, "FIRST_WINDOW", block)
    monkeypatch.setattr(csv_scan, "LINE_WINDOW", block)
    scan = _scan(path)
    assert [(m.line, m.end_line) for m in scan.malformed] == [(k + 1, k + 1)]
    assert _lines(scan) == [n for n in range(2, rows + 2) if n != k + 1]
