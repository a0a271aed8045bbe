"""bt_users_transactions.csv: the transactions of the users with habit (or of a chosen share).

By default every transacting user has 5 rows sharing one timestamp, users with habit but no
activation have empty timestamps, a few users transact before their first login and a small share
on several distinct days; the multi-day profile (`heavy`, or more than 5 per user) spreads a
Poisson number of transactions over many days.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runner.generate.columns import to_strings, write_header, write_rows
from runner.generate.days import DAY_LO, MISSING, WINDOW, calendar_dates
from runner.generate.sampling import draw

if TYPE_CHECKING:
    from pathlib import Path

    from runner.generate.cohort import Cohort

TRANSACTIONS_FILE = "bt_users_transactions.csv"
TRANSACTIONS_COLUMNS = ("", "user_id", "transaction_dt", "type", "segment")

_BEFORE_LOGIN_SHARE = 7 / 1535  # of transacting users
_MIDNIGHT_SHARE = 156 / 1531
_MULTI_DAY_SHARE = 0.004  # of individuals with transactions, default profile only
_MULTI_DAY_MIN = 4
# Days from habito_dt back to the (single) transaction day.
_TX_BEFORE_HABIT_WEIGHTS = (12, 30, 25, 15, 8, 4, 2.5, 1.5, 1, 1)
_TX_CHUNK_ROWS = 2_000_000
_TX_TIME_POOL = 66
_HEAVY_TIME_POOL = 4096


def write_transactions(
    path: Path,
    cohort: Cohort,
    user_ids: pa.Array,
    rng: np.random.Generator,
    users: int,
    tx_users_share: float | None,
    tx_per_user: int,
    multi: bool,
) -> int:
    """Write bt_users_transactions.csv.

    Args:
        path: output file.
        cohort: onboarding rows from `build_cohort`.
        user_ids: id strings of the distinct users.
        rng: random generator of the transactions.
        users: distinct users.
        tx_users_share: share of users with transactions; None = the users with habito = 1.
        tx_per_user: transactions per user (exact), or their mean when `multi`.
        multi: spread each user's transactions over several days.

    Returns:
        Rows written.
    """
    habito = cohort["habito"][:users]
    with_habit = np.flatnonzero(habito == 1)
    if tx_users_share is None:
        chosen = with_habit
    else:
        n_tx = round(tx_users_share * users)
        if n_tx <= len(with_habit):
            chosen = np.sort(rng.choice(with_habit, n_tx, replace=False))
        else:
            others = np.flatnonzero(habito != 1)
            extra = rng.choice(others, n_tx - len(with_habit), replace=False)
            chosen = np.sort(np.concatenate([with_habit, extra]))
    chosen = rng.permutation(chosen)  # user order of the chunks; rows are shuffled per chunk
    n = len(chosen)

    fl = cohort["first_login"][chosen]
    act_dt = cohort["activacion_dt"][chosen]
    activated = act_dt != MISSING
    act = np.where(activated, act_dt - fl, 0)
    has_habit = habito[chosen] == 1
    seller = cohort["block"][chosen] == 1
    no_ts = has_habit & ~activated
    start = np.clip(np.maximum(act, 0), 0, WINDOW - 1)
    room = WINDOW - start

    # one anchor day per user: a few days before habito_dt, else anywhere after activation
    habit_day = np.where(has_habit, cohort["habito_dt"][chosen] - fl, 0)
    back = draw(rng, np.arange(len(_TX_BEFORE_HABIT_WEIGHTS)), _TX_BEFORE_HABIT_WEIGHTS, n)
    anywhere = start + (rng.random(n) * room).astype(np.int64)
    anchor = np.clip(np.where(has_habit, habit_day - back, anywhere), start, WINDOW - 1)
    candidates = np.flatnonzero(activated & (act < 0) & ~no_ts)  # activated before first login
    k = min(len(candidates), max(1, round(n * _BEFORE_LOGIN_SHARE)))
    before = np.zeros(n, bool)
    before[rng.choice(candidates, k, replace=False)] = True
    anchor = np.where(before, -1 - (rng.random(n) * np.minimum(-act, 5)).astype(np.int64), anchor)
    single = no_ts | before

    if multi:
        count = 1 + rng.poisson(tx_per_user - 1, n)
        days = np.minimum(np.minimum(count, room), 1 + (rng.random(n) ** 2 * room).astype(np.int64))
    else:
        count = np.full(n, tx_per_user)
        days = np.ones(n, np.int64)
        candidates = np.flatnonzero(~seller & ~single & (room > 5))
        k = min(len(candidates), max(_MULTI_DAY_MIN, round(_MULTI_DAY_SHARE * len(candidates))))
        picked = rng.choice(candidates, k, replace=False)
        days[picked] = np.where(np.arange(k) < (k + 1) // 2, 5, 3)  # half reach 5 distinct days
        days = np.minimum(days, count)
    days = np.where(single, 1, np.maximum(days, 1))

    pool_size = _HEAVY_TIME_POOL if multi else _TX_TIME_POOL
    stamps = _timestamp_table(rng, pool_size)
    user_time = _time_of_day(rng, n, pool_size)
    digits = pa.array([str(v) for v in range(10)])

    ends = np.cumsum(count)
    written, lo = 0, 0
    with path.open("wb") as fh:
        write_header(fh, TRANSACTIONS_COLUMNS)
        while lo < n:
            first_row = ends[lo - 1] if lo else 0
            hi = max(lo + 1, int(np.searchsorted(ends, first_row + _TX_CHUNK_ROWS, side="right")))
            owner = np.repeat(np.arange(lo, hi), count[lo:hi])
            total = len(owner)
            pos = np.arange(total) - np.repeat(ends[lo:hi] - count[lo:hi] - first_row, count[lo:hi])

            day = anchor[owner]
            spread = np.flatnonzero(days[lo:hi] > 1) + lo
            if len(spread):
                keys = rng.random((len(spread), WINDOW))
                keys[np.arange(WINDOW)[None, :] < start[spread][:, None]] = 2.0
                offsets = np.argsort(keys, axis=1)  # valid days first, in random order
                slot = np.full(hi - lo, -1)
                slot[spread - lo] = np.arange(len(spread))
                rows = slot[owner - lo]
                m = rows >= 0
                day[m] = offsets[rows[m], pos[m] % days[owner[m]]]

            per_row = multi | (days[owner] > 1)
            tod = np.where(per_row, _time_of_day(rng, total, pool_size), user_time[owner])
            stamp = (fl[owner] + day - DAY_LO) * (pool_size + 1) + tod
            stamp = np.where(no_ts[owner], len(stamps) - 1, stamp)
            is_seller = seller[owner]
            r = rng.random(total)
            kind = np.where(is_seller, 8 + (r * 2).astype(np.int64), 1 + (r * 7).astype(np.int64))

            shuffle = rng.permutation(total)
            owner, stamp = owner[shuffle], stamp[shuffle]
            kind, is_seller = kind[shuffle], is_seller[shuffle]
            write_rows(fh, [
                to_strings(np.arange(written, written + total)),
                pc.take(user_ids, pa.array(chosen[owner])),
                pc.take(stamps, pa.array(stamp)),
                pc.take(digits, pa.array(kind)),
                pc.take(digits, pa.array(1 + is_seller.astype(np.int64))),
            ])
            written += total
            lo = hi
    return written


def _time_of_day(rng: np.random.Generator, n: int, pool_size: int) -> np.ndarray:
    """Indexes into the time-of-day pool; 0 (midnight) for about a tenth.

    Args:
        rng: random generator.
        n: number of draws.
        pool_size: times of day besides midnight.

    Returns:
        int64 indexes in 0..pool_size.
    """
    return np.where(rng.random(n) < _MIDNIGHT_SHARE, 0, rng.integers(1, pool_size + 1, n))


def _timestamp_table(rng: np.random.Generator, pool_size: int) -> pa.Array:
    """Nanosecond timestamp strings: every day of the calendar × midnight and the pool, then ''.

    Args:
        rng: random generator (draws the pool of times of day).
        pool_size: times of day besides midnight.

    Returns:
        Arrow string array indexed by `(day - DAY_LO) * (pool_size + 1) + time`.
    """
    nanos = np.sort(rng.integers(1, 86_400 * 10**9, pool_size))
    seconds, frac = np.divmod(nanos, 10**9)
    times = ["00:00:00.000000000"] + [
        f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.{f:09d}"
        for s, f in zip(seconds.tolist(), frac.tolist(), strict=True)
    ]
    dates = calendar_dates()
    day_col = pa.array(np.repeat(dates, len(times)).tolist())
    time_col = pa.array(times * len(dates))
    return pa.concat_arrays([pc.binary_join_element_wise(day_col, time_col, " "), pa.array([""])])
