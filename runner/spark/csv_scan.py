"""Find the records of a CSV file by line number, and the malformed ones, before Spark reads it.

Spark's multiLine CSV reader lets one stray quote swallow the rest of the file into a single
corrupt record. This scan splits the file into records (`runner.spark.csv_records`) and calls a
record malformed when it breaks RFC 4180: a quote inside an unquoted field or a closing quote
followed by text, a field count other than the header's, a record still inside quotes at the end
of the file or after `MAX_RECORD_BYTES`, or a line inside a quoted field that would be a whole
record on its own (the file's next records, swallowed). The lines after a malformed record are
tried one by one until one starts a well-formed record again: a malformed record costs its own
lines only. Spark then reads the well-formed records alone, which it splits the same way.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from runner.spark.csv_records import Batch, Dialect, parse_records
from runner.spark.line_runs import RunsBuilder

BLOCK_BYTES = 16 * 2**20  # the largest window parsed at once
FIRST_WINDOW = 64 * 2**10  # after a malformed record: parse a small window first, then grow
LINE_WINDOW = 4 * 2**10  # first window when asking whether a line starts a good record
MAX_RECORD_BYTES = 16 * 2**20  # a longer record is malformed (a header too)
UTF8_BOM = b"\xef\xbb\xbf"


class CsvFormatError(ValueError):
    """The file's header cannot be read as CSV field names."""


@dataclass(frozen=True)
class Header:
    """The first record of a file: its field names and where the data records start."""

    names: tuple[str, ...]
    end: int  # byte offset after the header's line break
    lines: int  # lines the header spans
    dialect: Dialect  # with the header's field count


@dataclass(frozen=True)
class Malformed:
    """Lines `line`..`end_line` (bytes `start`..`end`) that do not form a well-formed record."""

    line: int
    end_line: int
    start: int
    end: int


@dataclass(frozen=True, eq=False)
class CsvScan:
    """What the scan found: the well-formed records' start lines and the malformed records."""

    header: Header
    records: int  # well-formed data records
    runs: np.ndarray  # their start lines, as line runs (runner.spark.line_runs)
    malformed: tuple[Malformed, ...]

    @property
    def total(self) -> int:
        """Records in the file: well-formed plus malformed."""
        return self.records + len(self.malformed)


def read_header(path: Path) -> Header:
    """Parse the first record of `path` as UTF-8 field names.

    Raises:
        CsvFormatError: the file is empty, UTF-16 or not UTF-8, or its first record is not
            well-formed CSV.
    """
    with path.open("rb") as fh:
        head = fh.read(MAX_RECORD_BYTES)
    if not head:
        raise CsvFormatError("the file is empty: it has no header")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFormatError("the file is UTF-16 text; save it as UTF-8")
    dialect = Dialect.detect(head)
    skip = len(UTF8_BOM) if head.startswith(UTF8_BOM) else 0
    arr = np.frombuffer(head, np.uint8)
    batch = parse_records(arr, skip, len(arr), at_eof=len(head) < MAX_RECORD_BYTES,
                           dialect=dialect)
    if not len(batch.ends):
        raise CsvFormatError("the header does not end within 16 MiB (an unclosed quote?)")
    if not batch.good[0]:
        raise CsvFormatError("the header is not well-formed CSV (a stray or unclosed quote)")
    if batch.blank[0]:
        raise CsvFormatError("the first line is empty: the header must be the first line")
    text = head[skip : int(batch.ends[0])]
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            f"the header is not UTF-8 text ({exc.reason} at byte {skip + exc.start}); "
            "save the file as UTF-8"
        ) from exc
    names = next(csv.reader(io.StringIO(decoded.removesuffix("\r"), newline="")), [])
    return Header(tuple(names), int(batch.next_starts[0]), int(batch.span[0]),
                  dialect.with_fields(len(names)))


def scan_records(path: Path, header: Header) -> CsvScan:
    """Split the data records of `path` (after `header`) into well-formed and malformed ones."""
    with path.open("rb") as fh:
        return _Scanner(fh, header).run()


class _Scanner:
    """The scan's state: a buffer of the file from the first byte still needed."""

    def __init__(self, fh: BinaryIO, header: Header) -> None:
        self.fh = fh
        self.header = header
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.eof = False
        self.pos = header.end  # file offset of the next record
        self.line = 1 + header.lines  # line number at self.pos
        self.runs = RunsBuilder()
        self.malformed: list[Malformed] = []

    def run(self) -> CsvScan:
        window = BLOCK_BYTES
        while True:
            self._fill(self.pos, self.pos + window)
            lo = self.pos - self.base
            hi = min(len(self.buf), lo + window)
            if lo >= hi:
                break
            at_eof = self.eof and hi == len(self.buf)
            batch = self._parse(lo, hi, at_eof)
            bad = np.flatnonzero(~batch.good)
            self._accept(batch, int(bad[0]) if len(bad) else len(batch.ends))
            if at_eof and not len(bad):
                break
            tail = hi - (self.pos - self.base)
            if len(bad) or batch.tail_bad or tail > MAX_RECORD_BYTES:
                self._skip_malformed()
                window = FIRST_WINDOW
            else:  # grow, past the unfinished record so that the next parse can end it
                window = min(max(window * 2, tail * 2), max(BLOCK_BYTES, tail * 2))
        return CsvScan(self.header, self.runs.count, self.runs.array(), tuple(self.malformed))

    def _parse(self, lo: int, hi: int, at_eof: bool, strict: bool = False) -> Batch:
        arr = np.frombuffer(self.buf, np.uint8)
        return parse_records(arr, lo, hi, at_eof=at_eof, dialect=self.header.dialect,
                             strict=strict)

    def _accept(self, batch: Batch, count: int) -> None:
        """Take the first `count` records of `batch` (all well formed), skipping blank lines."""
        if not count:
            return
        lines = self.line + batch.start_lines[:count]
        self.runs.add(lines[~batch.blank[:count]])
        self.line += int(batch.start_lines[count - 1] + batch.span[count - 1])
        self.pos = self.base + int(batch.next_starts[count - 1])

    def _skip_malformed(self) -> None:
        """Record the malformed record at `self.pos`; move to the next line that starts a
        well-formed record. The lines in between (blank ones too) belong to the malformed one."""
        start, line = self.pos, self.line
        pos, current = start, line
        while True:
            nxt = self._next_line(pos)
            if nxt is None:
                end = self.base + len(self.buf)
                self.malformed.append(Malformed(line, current, start, end))
                self.pos, self.line = end, current + 1
                return
            pos, current = nxt, current + 1
            if self._starts_good_record(pos):
                self.malformed.append(Malformed(line, current - 1, start, pos))
                self.pos, self.line = pos, current
                return

    def _starts_good_record(self, pos: int) -> bool:
        size = LINE_WINDOW
        while True:
            self._fill(pos, pos + size)
            lo = pos - self.base
            hi = min(len(self.buf), lo + size)
            at_eof = self.eof and hi == len(self.buf)
            batch = self._parse(lo, hi, at_eof, strict=True)
            if len(batch.ends):
                return bool(batch.good[0] and not batch.blank[0])
            if batch.tail_bad or at_eof or size >= MAX_RECORD_BYTES:
                return False
            size *= 4

    def _next_line(self, pos: int) -> int | None:
        """File offset of the line after the one at `pos`; None when there is none."""
        newline = self.header.dialect.newline
        while True:
            found = self.buf.find(newline, pos - self.base)
            if found >= 0:
                nxt = self.base + found + 1
                self._fill(pos, nxt + 1)
                return nxt if nxt - self.base < len(self.buf) else None
            if self.eof:
                return None
            self._fill(pos, self.base + len(self.buf) + BLOCK_BYTES)

    def _fill(self, keep: int, upto: int) -> None:
        """Drop the bytes before `keep` (when many) and read until the buffer reaches `upto`."""
        drop = keep - self.base
        if drop > BLOCK_BYTES:
            self.buf = self.buf[drop:]
            self.base = keep
        need = upto - (self.base + len(self.buf))
        if need > 0 and not self.eof:
            size = max(need, BLOCK_BYTES)
            self.fh.seek(self.base + len(self.buf))
            chunk = self.fh.read(size)
            self.eof = len(chunk) < size
            self.buf += chunk
