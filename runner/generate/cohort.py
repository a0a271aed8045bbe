"""The onboarding cohort: blocks of users, their ids and milestones, at the original's proportions.

The `block` column numbers them: 0 plain users (block A of the original), 1 sellers (block B:
`rubro` set, most of them `MLB4` + the digits of a block-A id with an identical onboarding row),
2 malformed `-1` ids and 3 exact duplicates of block-A rows (2 and 3 make block C, whose dates
are written as `YYYY-MM-DD 00:00:00`).
"""

from __future__ import annotations

import numpy as np

from runner.generate.days import MISSING, WINDOW
from runner.generate.ids import seller_id, unique_ids, unique_own_seller_ids
from runner.generate.sampling import draw, spike_decay, truncated_exponential

# Column arrays of the onboarding rows by name, all of the same length.
Cohort = dict[str, np.ndarray]

# Shares of the original (13,000 distinct ids).
_SELLER_SHARE = 2000 / 13000
_MALFORMED_SHARE = 1000 / 13000
_DUPLICATE_SHARE = 500 / 13000
_NO_TIMESTAMP_SHARE = 3 / 10658  # of independent users (A, own B); their copies add ~1
_SELLER_COPY_SHARE = 1342 / 2000
_MALFORMED_EMPTY_HABITO = 499 / 1000
_MALFORMED_RETURN_BEFORE = 494 / 1000

# Users per first-login day, 2022-01-01 .. 2022-01-31 (block A of the original).
_FIRST_LOGIN_WEIGHTS = (
    146, 204, 352, 369, 371, 372, 342, 242, 249, 339, 351, 325, 366, 324, 268, 255,
    357, 374, 375, 356, 314, 247, 247, 331, 380, 373, 360, 373, 316, 346, 376,
)
# (activacion, setup, return, habito) -> users of block A; habit without activation is injected.
_FLAG_WEIGHTS = {
    (0, 0, 0, 0): 2042, (0, 0, 1, 0): 1972, (0, 1, 0, 0): 328, (0, 1, 1, 0): 962,
    (1, 0, 0, 0): 405, (1, 0, 0, 1): 7, (1, 0, 1, 0): 1092, (1, 0, 1, 1): 216,
    (1, 1, 0, 0): 213, (1, 1, 0, 1): 2, (1, 1, 1, 0): 1785, (1, 1, 1, 1): 973,
}


def build_cohort(rng: np.random.Generator, users: int) -> Cohort:
    """Onboarding rows: users A, B, malformed (-1) then the duplicate rows, as column arrays.

    Args:
        rng: random generator of the cohort.
        users: distinct user ids.

    Returns:
        Column arrays of length users + duplicates; the first `users` rows are the distinct users.
    """
    n_b = round(users * _SELLER_SHARE)
    n_m = round(users * _MALFORMED_SHARE)
    n_a = users - n_b - n_m
    n_dup = min(round(users * _DUPLICATE_SHARE), n_a - n_m)
    n_copy = round(n_b * _SELLER_COPY_SHARE)

    a_num = unique_ids(rng, n_a, np.empty(0, np.int64))
    copyable = np.flatnonzero(~np.isin(seller_id(a_num), a_num))  # MLB4+digits not taken
    copy_src = np.sort(rng.choice(copyable, min(n_copy, len(copyable)), replace=False))
    n_own = n_b - len(copy_src)
    copy_num = seller_id(a_num[copy_src])
    own_num = unique_own_seller_ids(rng, n_own, a_num)
    if len(np.unique(np.concatenate([a_num, copy_num, own_num]))) != n_a + n_b:
        raise RuntimeError("generated user ids are not unique")
    base = _base_milestones(rng, n_a + n_own)

    take_a = np.arange(n_a)
    rows_b = np.concatenate([n_a + np.arange(n_own), copy_src])  # B copies share block-A values
    rows_m = take_a[:n_m]
    rows_d = take_a[n_m : n_m + n_dup]
    src = np.concatenate([take_a, rows_b, rows_m, rows_d])
    cohort = {key: values[src] for key, values in base.items()}

    n_rows = users + n_dup
    block = np.repeat(np.array([0, 1, 2, 3], np.int8), [n_a, n_b, n_m, n_dup])
    cohort["block"] = block
    cohort["num"] = np.concatenate([a_num, own_num, copy_num, a_num[rows_m], a_num[rows_d]])
    cohort["malformed"] = block == 2
    cohort["uid"] = np.concatenate([np.arange(users), rows_d])  # duplicates point at their user
    cohort["midnight"] = block >= 2
    stale = np.full(n_rows, -1, np.int64)
    stale[:n_a] = take_a
    stale[users:] = n_a + n_m + np.arange(n_dup)
    stale[n_a + n_b : users] = n_a + rows_m
    cohort["stale"] = stale

    m = slice(n_a + n_b, users)
    empty_habito = rng.random(n_m) < _MALFORMED_EMPTY_HABITO
    cohort["habito"][m] = np.where(empty_habito, -1, cohort["habito"][m])
    cohort["habito_dt"][m] = np.where(empty_habito, MISSING, cohort["habito_dt"][m])
    fl = cohort["first_login"][m]
    eligible = 1 - _FIRST_LOGIN_WEIGHTS[0] / sum(_FIRST_LOGIN_WEIGHTS)  # not on 2022-01-01
    back = (rng.random(n_m) < _MALFORMED_RETURN_BEFORE / eligible) & (fl > 0)
    cohort["return_dt"][m] = np.where(back, fl - 1, cohort["return_dt"][m])
    return cohort


def _base_milestones(rng: np.random.Generator, n: int) -> Cohort:
    """First login, milestone flags and dates (day offsets) of `n` independent users.

    Args:
        rng: random generator.
        n: number of users.

    Returns:
        Arrays first_login, habito (0/1), habito_dt, activacion_dt, setup_dt, return_dt;
        a missing date is `MISSING`.
    """
    fl = draw(rng, np.arange(31), _FIRST_LOGIN_WEIGHTS, n)
    cells = np.array(list(_FLAG_WEIGHTS), np.int8)
    act, setup, ret, habit = cells[draw(rng, np.arange(len(cells)), _FLAG_WEIGHTS.values(), n)].T

    n_no_ts = min(max(1, round(n * _NO_TIMESTAMP_SHARE)), int(habit.sum()))
    act[rng.choice(np.flatnonzero(habit), n_no_ts, replace=False)] = 0

    act_d = draw(rng, np.arange(-26, 32), _activation_delay_weights(), n)
    act_d = np.maximum(act_d, -fl)  # never before 2022-01-01
    setup_d = draw(rng, np.arange(30), spike_decay(30, 0.587, 1.5, 0.045), n)
    ret_d = draw(rng, np.arange(1, 31), spike_decay(30, 0.527, 2.5, 0.05), n)
    dropped = ret == 0
    act_d = np.where(dropped & (act_d > 0) & (rng.random(n) < 0.8), 0, act_d)
    setup_d = np.where(dropped & (setup_d > 0) & (rng.random(n) < 0.95), 0, setup_d)

    act_d = np.where(habit == 1, np.minimum(act_d, WINDOW - 1), act_d)
    start = np.where(act == 1, np.maximum(act_d, 0), 0)
    habit_d = start + truncated_exponential(rng, WINDOW - start, 12.0)
    habit_d = np.where(dropped, start, habit_d)

    def dated(flag: np.ndarray, delay: np.ndarray) -> np.ndarray:
        return np.where(flag == 1, fl + delay, MISSING).astype(np.int32)

    return {
        "first_login": fl.astype(np.int32),
        "habito": habit.astype(np.int8),
        "habito_dt": dated(habit, habit_d),
        "activacion_dt": dated(act, act_d),
        "setup_dt": dated(setup, setup_d),
        "return_dt": dated(ret, ret_d),
    }


def _activation_delay_weights() -> np.ndarray:
    """Probabilities of activacion_dt - first_login_dt for -26..31 days.

    Returns:
        58 probabilities: 8.1% before first login, 40% same day (drops add 5%), 0.45% at 31.
    """
    before = spike_decay(26, 0.0, 2.5, 0.02)[::-1] * 0.081
    same_day, late = 0.40, 0.0045  # late: 0.28% after drops and habit clamp the rest
    after = spike_decay(30, 0.0, 3.0, 0.061) * (1 - 0.081 - same_day - late)
    return np.concatenate([before, [same_day], after, [late]])
