"""Arrow string columns and the CSV lines they are written as."""

from __future__ import annotations

from functools import cache
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_ROWS = 1_000_000


def to_strings(values: np.ndarray) -> pa.Array:
    """Decimal strings of integers.

    Args:
        values: integers.

    Returns:
        Arrow string array.

    Example:
        >>> to_strings(np.array([7, 42])).to_pylist()
        ['7', '42']
    """
    return pc.cast(pa.array(values), pa.string())


def take(table: pa.Array, idx: np.ndarray) -> pa.Array:
    """Look strings up by index.

    Args:
        table: Arrow string array.
        idx: indexes.

    Returns:
        Arrow string array.

    Example:
        >>> take(pa.array(["a", "b"]), np.array([1, 1, 0])).to_pylist()
        ['b', 'b', 'a']
    """
    return pc.take(table, pa.array(idx))


@cache
def padded(width: int) -> pa.Array:
    """Zero-padded decimal strings `0..10**width - 1`, built once per width.

    Args:
        width: number of digits.

    Returns:
        Arrow string array.

    Example:
        >>> padded(2)[7].as_py()
        '07'
    """
    return pa.array([f"{v:0{width}d}" for v in range(10**width)])


def write_header(fh: BinaryIO, columns: tuple[str, ...]) -> None:
    """Write a header line (none of the header names needs quoting).

    Args:
        fh: binary file.
        columns: column names.
    """
    fh.write((",".join(columns) + "\n").encode())


def write_rows(fh: BinaryIO, fields: list[pa.Array]) -> None:
    """Write rows of already formatted (and, where needed, quoted) fields as CSV lines.

    Args:
        fh: binary file.
        fields: Arrow string arrays of equal length, one per column.
    """
    lines = pc.binary_join_element_wise(pc.binary_join_element_wise(*fields, ","), "", "\n")
    if lines.null_count:
        raise ValueError("a CSV field is null")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    fh.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])
