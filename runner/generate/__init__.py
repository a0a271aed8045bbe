"""Synthetic onboarding data shaped like the original CSV exports, defects included.

`generate_dataset` writes `lk_onboarding.csv`, `dim_users.csv` and `bt_users_transactions.csv` with
the headers, value formats and quoting of the files in `data/original/` and reproduces, at the same
proportions, the structure and the defects described in `data/original/SCHEMA.md`. The modules:

* `cohort`: the onboarding rows (blocks of users and their milestones), with `ids` for the user
  ids and `days` for the calendar;
* `onboarding`, `users` (personal data from `people` and `words`), `transactions`: one CSV each;
* `sampling` (weighted random draws) and `columns` (Arrow string columns, CSV lines).

Everything is vectorised with numpy and assembled as Arrow string arrays, written in chunks. The
output is a pure function of the arguments: the same arguments always give the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runner.generate.cohort import build_cohort
from runner.generate.ids import user_id_strings
from runner.generate.onboarding import ONBOARDING_COLUMNS, ONBOARDING_FILE, write_onboarding
from runner.generate.transactions import (
    TRANSACTIONS_COLUMNS,
    TRANSACTIONS_FILE,
    write_transactions,
)
from runner.generate.users import USERS_COLUMNS, USERS_FILE, write_users

__all__ = [
    "HEAVY_TX_PER_USER",
    "HEAVY_TX_USERS_SHARE",
    "ONBOARDING_COLUMNS",
    "ONBOARDING_FILE",
    "SAMPLE_SEED",
    "SAMPLE_USERS",
    "TRANSACTIONS_COLUMNS",
    "TRANSACTIONS_FILE",
    "USERS_COLUMNS",
    "USERS_FILE",
    "generate_dataset",
    "write_sample",
]

SAMPLE_USERS = 2000
SAMPLE_SEED = 2022
HEAVY_TX_USERS_SHARE = 0.4
HEAVY_TX_PER_USER = 50


def generate_dataset(
    out_dir: Path,
    users: int = 13000,
    seed: int = 42,
    tx_users_share: float | None = None,
    tx_per_user: int = 5,
    heavy: bool = False,
) -> dict[str, int]:
    """Write the three raw CSV files of a synthetic onboarding cohort into `out_dir`.

    Args:
        out_dir: directory to write into (created when missing; existing files are replaced).
        users: distinct user ids (the original has 13,000; onboarding gets ~3.8% more rows).
        seed: random seed; the same arguments always produce the same bytes.
        tx_users_share: share of users with transactions; None = exactly the users with
            habito = 1 (as in the original); more than that adds non-habit users.
        tx_per_user: transactions per transacting user (the mean, when above 5).
        heavy: benchmark profile: `tx_per_user` 5 becomes 50 and `tx_users_share` None becomes
            0.4, so 1 M users give about 20 M transactions spread over many days.

    Returns:
        Data rows written per file name.
    """
    if users < 1:
        raise ValueError(f"users must be at least 1, got {users}")
    if tx_per_user < 1:
        raise ValueError(f"tx_per_user must be at least 1, got {tx_per_user}")
    if heavy:
        tx_per_user = HEAVY_TX_PER_USER if tx_per_user == 5 else tx_per_user
        tx_users_share = HEAVY_TX_USERS_SHARE if tx_users_share is None else tx_users_share
    if tx_users_share is not None and not 0.0 <= tx_users_share <= 1.0:
        raise ValueError(f"tx_users_share must be within [0, 1], got {tx_users_share}")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng_cohort, rng_order, rng_tx, rng_dims, rng_people = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)
    )
    cohort = build_cohort(rng_cohort, users)
    user_ids = user_id_strings(cohort["num"][:users], cohort["malformed"][:users])
    return {
        ONBOARDING_FILE: write_onboarding(out_dir / ONBOARDING_FILE, cohort, user_ids, rng_order),
        USERS_FILE: write_users(
            out_dir / USERS_FILE, cohort, user_ids, rng_dims, rng_people, users
        ),
        TRANSACTIONS_FILE: write_transactions(
            out_dir / TRANSACTIONS_FILE, cohort, user_ids, rng_tx, users, tx_users_share,
            tx_per_user, multi=heavy or tx_per_user > 5,
        ),
    }


def write_sample(seeds_dir: Path) -> dict[str, int]:
    """Regenerate the committed sample (`seeds/`): 2,000 users, seed 2022.

    Args:
        seeds_dir: the project's seeds directory.

    Returns:
        Data rows written per file name.
    """
    return generate_dataset(seeds_dir, users=SAMPLE_USERS, seed=SAMPLE_SEED)
