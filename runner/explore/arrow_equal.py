"""Per-row equality of two Arrow columns of one type, vectorized down to nested lists and maps
(`runner diff` compares a mart's copies with it)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FLOAT_TOLERANCE = 1e-9  # relative: a rate summed in another order is the same rate


def arrays_equal(a: pa.Array | pa.ChunkedArray, b: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Per row, whether two arrays of one type hold the same value (null equals null; floats
    within a relative 1e-9; lists and maps element by element).

    Example:
        >>> arrays_equal(pa.array([1.0, None, 3.0]), pa.array([1.0, None, 4.0])).tolist()
        [True, True, False]
        >>> arrays_equal(pa.array([[1, 2], [3]]), pa.array([[1, 2], [3, 4]])).tolist()
        [True, False]
    """
    a, b = combine(a), combine(b)
    if a.equals(b):
        return np.ones(len(a), dtype=bool)
    both_null = np.asarray(pc.and_(a.is_null(), b.is_null()))
    t = a.type
    if pa.types.is_map(t):
        as_list = pa.list_(pa.struct([t.key_field, t.item_field]))
        return arrays_equal(a.cast(as_list), b.cast(as_list))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        lengths_a = np.asarray(pc.list_value_length(a).fill_null(-1))
        lengths_b = np.asarray(pc.list_value_length(b).fill_null(-1))
        same = lengths_a == lengths_b
        rows = np.flatnonzero(same & (lengths_a > 0))
        sub_a, sub_b = a.take(pa.array(rows, pa.int64())), b.take(pa.array(rows, pa.int64()))
        items = arrays_equal(pc.list_flatten(sub_a), pc.list_flatten(sub_b))
        parents = np.asarray(pc.list_parent_indices(sub_a))
        bad_rows = np.unique(parents[~items])
        same[rows[bad_rows]] = False
        return same
    if pa.types.is_struct(t):
        same = np.asarray(pc.equal(a.is_null(), b.is_null()))
        for i in range(t.num_fields):
            same &= arrays_equal(pc.struct_field(a, [i]), pc.struct_field(b, [i])) | both_null
        return same
    if pa.types.is_floating(t):
        x = np.asarray(a.to_numpy(zero_copy_only=False), dtype=float)
        y = np.asarray(b.to_numpy(zero_copy_only=False), dtype=float)
        close = np.isclose(x, y, rtol=FLOAT_TOLERANCE, atol=0.0) | (np.isnan(x) & np.isnan(y))
        return np.asarray(close) & ~np.asarray(pc.xor(a.is_null(), b.is_null()))
    return np.asarray(pc.equal(a, b).fill_null(False)) | both_null


def combine(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous array."""
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array
