"""dim_users.csv: one shuffled record per distinct user; sellers get `rubro`, most also `type`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runner.generate.columns import CHUNK_ROWS, to_strings, write_header, write_rows
from runner.generate.people import fake_people

if TYPE_CHECKING:
    from pathlib import Path

    from runner.generate.cohort import Cohort

USERS_FILE = "dim_users.csv"
USERS_COLUMNS = ("", "user_id", "name", "email", "address", "birth_dt", "phone", "type", "rubro")

_SELLER_TYPE_SHARE = 1310 / 2000


def write_users(
    path: Path,
    cohort: Cohort,
    user_ids: pa.Array,
    rng: np.random.Generator,
    rng_people: np.random.Generator,
    users: int,
) -> int:
    """Write dim_users.csv: one record per distinct user, shuffled, with three-line addresses.

    Args:
        path: output file.
        cohort: onboarding rows from `build_cohort`.
        user_ids: id strings of the distinct users.
        rng: random generator of rubro, type and the record order.
        rng_people: random generator of the personal data.
        users: distinct users.

    Returns:
        Records written.
    """
    seller = cohort["block"][:users] == 1
    rubro = np.where(seller, rng.integers(1, 10, users), 0)
    typed = seller & (rng.random(users) < _SELLER_TYPE_SHARE)
    code = np.where(typed, rng.integers(8, 10, users), 0)
    order = rng.permutation(users)
    codes = pa.array([""] + [f"{v}.0" for v in range(1, 10)])
    with path.open("wb") as fh:
        write_header(fh, USERS_COLUMNS)
        for lo in range(0, users, CHUNK_ROWS):
            rows = order[lo : lo + CHUNK_ROWS]
            fields = [to_strings(np.arange(lo, lo + len(rows))), pc.take(user_ids, pa.array(rows))]
            fields += fake_people(rng_people, len(rows))
            fields += [pc.take(codes, pa.array(code[rows])), pc.take(codes, pa.array(rubro[rows]))]
            write_rows(fh, fields)
    return users
