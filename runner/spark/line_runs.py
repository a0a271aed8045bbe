"""The start line of every record, kept as runs of records a constant number of lines apart.

A file of one-line records is one run (line = ordinal + 2); a file whose addresses span three
lines is one run of stride 3. Runs break only where the stride changes: around a malformed
record, a blank line or a record of another height. Spark numbers the records it reads
(0, 1, ...) and turns that ordinal into a line with `line_expression`.

A run is a row `[first, last, line, stride]`: records `first`..`last` (ordinals, inclusive)
start at `line + (ordinal - first) * stride`. Consecutive runs may share their boundary record.
"""

from __future__ import annotations

import numpy as np

FIRST, LAST, LINE, STRIDE = range(4)


def find_runs(lines: np.ndarray, first: int = 0) -> np.ndarray:
    """Runs of `lines`, the start lines of records `first`, `first + 1`, ...

    Example:
        >>> find_runs(np.array([2, 3, 4, 7, 10, 13, 14])).tolist()
        [[0, 2, 2, 1], [2, 5, 4, 3], [5, 6, 13, 1]]
    """
    if len(lines) == 1:
        return np.array([[first, first, lines[0], 0]], np.int64)
    steps = np.diff(lines)
    cuts = np.flatnonzero(steps[1:] != steps[:-1]) + 1
    begin = np.concatenate(([0], cuts))
    end = np.concatenate((cuts, [len(lines) - 1]))
    return np.column_stack((begin + first, end + first, lines[begin], steps[begin])).astype(
        np.int64)


class RunsBuilder:
    """Runs of the start lines of records added batch by batch, in file order."""

    def __init__(self) -> None:
        self.count = 0
        self._chunks: list[np.ndarray] = []
        self._last_line = 0

    def add(self, lines: np.ndarray) -> None:
        """Append the start lines of the next records."""
        if not len(lines):
            return
        if self.count:  # the step from the previous batch's last record starts the new runs
            runs = find_runs(np.concatenate(([self._last_line], lines)), self.count - 1)
            previous = self._chunks[-1][-1]
            head = runs[0]
            if previous[FIRST] == previous[LAST] or previous[STRIDE] == head[STRIDE]:
                previous[LAST] = head[LAST]
                previous[STRIDE] = head[STRIDE]
                runs = runs[1:]
        else:
            runs = find_runs(lines)
        if len(runs):
            self._chunks.append(runs)
        self.count += len(lines)
        self._last_line = int(lines[-1])

    def array(self) -> np.ndarray:
        """All runs, shape (n, 4)."""
        if not self._chunks:
            return np.zeros((0, 4), np.int64)
        return np.concatenate(self._chunks)


def record_lines(runs: np.ndarray, count: int) -> np.ndarray:
    """The start line of each of `count` records, expanded from `runs`.

    Example:
        >>> record_lines(find_runs(np.array([2, 3, 4, 7, 10, 13, 14])), 7).tolist()
        [2, 3, 4, 7, 10, 13, 14]
    """
    ordinals = np.arange(count, dtype=np.int64)
    run = np.searchsorted(runs[:, LAST], ordinals)
    return runs[run, LINE] + (ordinals - runs[run, FIRST]) * runs[run, STRIDE]


def line_expression(runs: np.ndarray, ordinal: str, overflow: str) -> str:
    """A Spark SQL expression: the start line of the record numbered by column `ordinal`.

    Args:
        runs: the runs of the file's well-formed records.
        ordinal: the column holding each record's ordinal.
        overflow: an expression for an ordinal past the last record (e.g. a `raise_error`).

    Example:
        >>> line_expression(find_runs(np.array([2, 5, 8])), "_ord", "null")
        'CASE WHEN _ord <= 2 THEN 2 + (_ord - 0) * 3 ELSE null END'
    """
    whens = " ".join(
        f"WHEN {ordinal} <= {last} THEN {line} + ({ordinal} - {first}) * {stride}"
        for first, last, line, stride in runs.tolist()
    )
    return f"CASE {whens} ELSE {overflow} END" if whens else overflow
