"""User ids: `MLB<digits>` of plain users and sellers, unique, and the malformed `-1` suffix."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runner.generate.columns import to_strings
from runner.generate.sampling import draw

_SELLER_OWN_END2_SHARE = 216 / 658  # of sellers without a block-A twin: last digit 2


def unique_ids(
    rng: np.random.Generator, n: int, taken: np.ndarray, end2_share: float = 0.0
) -> np.ndarray:
    """Draw n distinct plain ids that are not in `taken`, redrawing collisions.

    Args:
        rng: random generator.
        n: number of ids.
        taken: ids that must not be drawn.
        end2_share: share of ids whose last digit is 2 instead of 0.

    Returns:
        int64 id numbers.
    """
    nums = _plain_ids(rng, n) + 2 * (rng.random(n) < end2_share)
    for _ in range(100):
        seen = np.concatenate([taken, nums])
        _, first = np.unique(seen, return_index=True)
        bad = np.ones(len(seen), bool)
        bad[first] = False
        bad = bad[len(taken) :]
        if not bad.any():
            return nums
        k = int(bad.sum())
        nums[bad] = _plain_ids(rng, k) + 2 * (rng.random(k) < end2_share)
    raise RuntimeError("could not draw unique user ids; the id space is too small")


def _plain_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw block-A id digits: 7..11 digits, last digit 0, 11-digit ids start with 100..106.

    Args:
        rng: random generator.
        n: number of ids.

    Returns:
        int64 id numbers (not yet unique).
    """
    digits = draw(rng, np.arange(7, 12), (5, 45, 487, 5796, 3667), n)
    low = np.where(digits == 11, 1_000_000_000, 10 ** (digits - 2))
    high = np.where(digits == 11, 1_066_600_000, 10 ** (digits - 1))
    return (low + (rng.random(n) * (high - low)).astype(np.int64)) * 10


def seller_id(nums: np.ndarray) -> np.ndarray:
    """Prefix the digits with 4 (`MLB123` -> `MLB4123`).

    Args:
        nums: id numbers.

    Returns:
        The prefixed id numbers.

    Example:
        >>> seller_id(np.array([123, 5000])).tolist()
        [4123, 45000]
    """
    width = np.floor(np.log10(nums)).astype(np.int64) + 1
    return 4 * 10**width + nums


def unique_own_seller_ids(rng: np.random.Generator, n: int, a_num: np.ndarray) -> np.ndarray:
    """Draw seller ids `MLB4...` with no block-A counterpart that clash with no other id.

    Args:
        rng: random generator.
        n: number of ids.
        a_num: block-A ids.

    Returns:
        int64 id numbers.
    """
    width = np.floor(np.log10(a_num)).astype(np.int64)
    lead4 = a_num // 10**width == 4
    without4 = a_num[lead4] - 4 * 10 ** width[lead4]  # "4" + these digits is a block-A id
    taken = np.concatenate([a_num, without4])
    return seller_id(unique_ids(rng, n, taken, _SELLER_OWN_END2_SHARE))


def user_id_strings(num: np.ndarray, malformed: np.ndarray) -> pa.Array:
    """Format `MLB<digits>` plus the `-1` suffix where malformed.

    Args:
        num: id numbers.
        malformed: rows that get the `-1` suffix.

    Returns:
        Arrow string array.

    Example:
        >>> user_id_strings(np.array([10, 20]), np.array([False, True])).to_pylist()
        ['MLB10', 'MLB20-1']
    """
    suffix = pc.take(pa.array(["", "-1"]), pa.array(malformed.astype(np.int8)))
    return pc.binary_join_element_wise("MLB", to_strings(num), suffix, "")
