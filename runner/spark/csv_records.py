"""Split a window of CSV bytes into records with numpy, and tell which are well formed.

A record ends at a line break with an even number of quotes before it (counted from the window's
start, which is always a record's start). Everything is computed on the positions of the bytes
that matter (quote, line break, comma), never byte by byte in Python.

Field counts cost a pass over the bytes, so they are checked only where Spark cannot be left to
judge: records spanning more lines than most records of the window (a stray quote may have
swallowed the next records) and records long enough to pass Spark's column limit, which fails
the whole read. Any other record with the wrong number of fields is one record to Spark too,
and Spark marks it corrupt itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

QUOTE, COMMA, LF, CR = 34, 44, 10, 13
SPARK_MAX_COLUMNS = 20480  # univocity's maxColumns in Spark: more fails the read


@dataclass(frozen=True)
class Dialect:
    """How the file ends its lines (as Spark detects it: from the first line break) and how
    many fields a record has (0: any, for the header)."""

    newline: bytes = b"\n"  # b"\n", or b"\r" for a file of CR-only line ends
    crlf: bool = False  # lines end with CR LF: a bare LF does not end a record
    fields: int = 0

    @classmethod
    def detect(cls, head: bytes) -> Dialect:
        """The line ends of a file, from its first line break.

        Example:
            >>> heads = (b"a\\nb", b"a\\r\\nb", b"a\\rb")
            >>> [(d.newline, d.crlf) for d in map(Dialect.detect, heads)]
            [(b'\\n', False), (b'\\n', True), (b'\\r', False)]
        """
        lf, cr = head.find(b"\n"), head.find(b"\r")
        if cr >= 0 and (lf < 0 or cr < lf):
            return cls(b"\n", True) if head[cr + 1 : cr + 2] == b"\n" else cls(b"\r", False)
        return cls()

    def with_fields(self, fields: int) -> Dialect:
        return replace(self, fields=fields)


@dataclass(frozen=True, eq=False)
class Batch:
    """The complete records of a window, in order (positions are offsets in the array).

    `ends`: where each record's content ends (its line break, or the end of the file);
    `next_starts`: where the next record starts; `start_lines`: the line of each record's start,
    counted from the window's first line (0); `span`: line breaks the record consumes; `good`: well
    formed (blank lines, which Spark skips, count as good); `blank`: an empty line; `tail_bad`:
    the bytes after the last complete record are already known to be malformed.
    """

    ends: np.ndarray
    next_starts: np.ndarray
    start_lines: np.ndarray
    span: np.ndarray
    good: np.ndarray
    blank: np.ndarray
    tail_bad: bool


def parse_records(
    arr: np.ndarray, lo: int, hi: int, *, at_eof: bool, dialect: Dialect, strict: bool = False
) -> Batch:
    """Split `arr[lo:hi]`, which starts at a record's start, into records.

    Args:
        arr: the bytes as uint8.
        lo: where the first record starts.
        hi: end of the window; with `at_eof`, the end of the file, so the last bytes form a
            record even without a line break.
        at_eof: whether `hi` is the end of the file.
        dialect: line ends and the expected field count.
        strict: check the field count of every record, not only of those Spark cannot judge.

    Returns:
        The window's complete records.

    Example:
        >>> b = parse_records(np.frombuffer(b'1,"x\\ny"\\n2,3\\n4,"5\\n', np.uint8), 0, 18,
        ...                   at_eof=True, dialect=Dialect(fields=2))
        >>> b.start_lines.tolist(), b.good.tolist()
        ([0, 2, 3], [True, True, False])
    """
    seg = arr[lo:hi]
    n = len(seg)
    newlines = np.flatnonzero(seg == dialect.newline[0])
    quotes = np.flatnonzero(seg == QUOTE)
    closed = (np.searchsorted(quotes, newlines) & 1) == 0
    end_line = np.flatnonzero(closed)  # the newline (by index) that ends each record
    ends = newlines[end_line]
    tail_start = int(ends[-1]) + 1 if len(ends) else 0
    final = at_eof and tail_start < n
    if final:
        ends = np.append(ends, n)
        end_line = np.append(end_line, len(newlines))
    count = len(ends)
    starts = np.concatenate(([0], ends[:-1] + 1)).astype(np.int64)
    start_lines = np.concatenate(([0], end_line[:-1] + 1)).astype(np.int64)
    span = end_line - start_lines + 1
    has_cr = np.zeros(count, bool)
    if dialect.crlf and count:
        has_cr = (ends > starts) & (seg[np.maximum(ends - 1, 0)] == CR)
    blank = ends - has_cr == starts
    bad = np.zeros(count, bool)
    if dialect.crlf and count:
        bad |= ~has_cr  # a bare LF, which Spark does not take for a line end here
        bad[-1] &= not final
    if final and len(quotes) % 2:
        bad[-1] = True  # the file ends inside quotes
    violation, tail_bad = _quote_violations(seg, quotes, ends, dialect)
    bad |= violation
    if dialect.fields:
        # more lines than most records here: maybe records swallowed by a stray quote
        typical = int(np.bincount(span).argmax()) if count else 1
        judged = strict | (span > typical) | (ends - starts >= SPARK_MAX_COLUMNS)
        tail_lines = len(newlines) - (int(end_line[-1]) + 1 if len(end_line) else 0)
        if judged.any() or tail_lines >= typical:
            fields, like_records = _field_counts(seg, quotes, newlines, ends, dialect.fields)
            bad |= judged & (fields != dialect.fields) & ~blank
            rec = np.searchsorted(end_line, like_records[~closed[like_records - 1]])
            bad[rec[rec < count]] = True
            tail_bad = tail_bad or bool((rec >= count).any())
    return Batch(
        ends=ends + lo,
        next_starts=np.minimum(ends + 1, n) + lo,
        start_lines=start_lines,
        span=span,
        good=~bad,
        blank=blank & ~bad,
        tail_bad=tail_bad,
    )


def _quote_violations(
    seg: np.ndarray, quotes: np.ndarray, ends: np.ndarray, dialect: Dialect
) -> tuple[np.ndarray, bool]:
    """Records holding a quote that opens a field anywhere but at its start, or that closes a
    field and is followed by more text (or, in a CR-only file, an LF outside quotes)."""
    violation = np.zeros(len(ends), bool)
    n = len(seg)
    if not len(quotes) and dialect.newline == b"\n":
        return violation, False
    opening = (np.arange(len(quotes)) & 1) == 0
    adjacent = quotes[1:] == quotes[:-1] + 1  # an escaped quote ("") inside a quoted field
    before = seg[np.maximum(quotes - 1, 0)]
    before_ok = (quotes == 0) | (before == COMMA) | (before == LF)
    before_ok |= np.concatenate(([False], adjacent))
    if dialect.newline == b"\r":
        before_ok |= before == CR
    after = seg[np.minimum(quotes + 1, n - 1)]
    after_ok = (quotes + 1 >= n) | (after == COMMA) | (after == LF) | (after == CR)
    after_ok |= np.concatenate((adjacent, [False]))
    wrong = quotes[np.where(opening, ~before_ok, ~after_ok)]
    if dialect.newline == b"\r":
        lfs = np.flatnonzero(seg == LF)
        wrong = np.sort(np.concatenate((wrong, lfs[(np.searchsorted(quotes, lfs) & 1) == 0])))
    rec = np.searchsorted(ends, wrong)
    violation[rec[rec < len(ends)]] = True
    return violation, bool((rec >= len(ends)).any())


def _field_counts(
    seg: np.ndarray, quotes: np.ndarray, newlines: np.ndarray, ends: np.ndarray, fields: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fields of each record, and the complete lines (by index, > 0) that would be a whole
    record of `fields` fields if read alone (starting outside quotes, closing its own).

    Commas are counted in one pass per run of bytes between a quote or a line break and the
    next: within such a run the quote parity is constant.
    """
    bounds = np.unique(np.concatenate(([0], quotes + 1, newlines + 1)))
    bounds = bounds[bounds < len(seg)]
    commas = _count_commas(seg, bounds)
    parity = np.searchsorted(quotes, bounds) & 1
    record = np.searchsorted(ends, bounds)
    outside = np.bincount(record, weights=commas * (parity == 0), minlength=len(ends) + 1)
    line = np.searchsorted(newlines, bounds)
    line_starts = np.concatenate(([0], newlines + 1))
    quotes_before = np.searchsorted(quotes, line_starts)
    line_parity = quotes_before & 1
    alone = np.bincount(line, weights=commas * (parity == line_parity[line]),
                        minlength=len(line_starts))
    closes = (np.diff(quotes_before) & 1) == 0  # its own quotes pair up
    complete = np.arange(1, len(newlines))  # lines 1.. that end with a line break
    like_records = complete[(alone[complete] == fields - 1) & closes[complete]]
    return outside[: len(ends)].astype(np.int64) + 1, like_records


def _count_commas(seg: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Commas in each run `seg[bounds[i]:bounds[i + 1]]`, summed as uint16 (a third of the
    time of int64); the rare run long enough to overflow is counted again."""
    if not len(bounds):
        return bounds
    is_comma = (seg == COMMA).view(np.uint8)
    counts = np.add.reduceat(is_comma, bounds, dtype=np.uint16).astype(np.int64)
    stops = np.append(bounds[1:], len(seg))
    for i in np.flatnonzero(stops - bounds > np.iinfo(np.uint16).max):
        counts[i] = np.count_nonzero(is_comma[bounds[i] : stops[i]])
    return counts
