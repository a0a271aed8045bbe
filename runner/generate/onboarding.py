"""lk_onboarding.csv: one row per cohort row, all blocks shuffled together."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runner.generate.columns import CHUNK_ROWS, to_strings, write_header, write_rows
from runner.generate.days import DAY_HI, DAY_LO, EPOCH, MISSING, calendar_dates

if TYPE_CHECKING:
    from pathlib import Path

    from runner.generate.cohort import Cohort

ONBOARDING_FILE = "lk_onboarding.csv"
ONBOARDING_COLUMNS = (
    "", "Unnamed: 0", "first_login_dt", "week_year", "user_id", "habito", "habito_dt",
    "activacion", "activacion_dt", "setup", "setup_dt", "return", "return_dt",
)


def write_onboarding(
    path: Path, cohort: Cohort, user_ids: pa.Array, rng: np.random.Generator
) -> int:
    """Write lk_onboarding.csv with rows of all blocks shuffled.

    Args:
        path: output file.
        cohort: onboarding rows from `build_cohort`.
        user_ids: id strings of the distinct users.
        rng: random generator of the row order.

    Returns:
        Rows written.
    """
    n_rows = len(cohort["uid"])
    order = rng.permutation(n_rows)
    dates = _date_table()
    weeks = pa.array([str(_iso_week(d)) for d in range(31)])
    habito_text = pa.array(["", "0.0", "1.0"])
    flag_text = pa.array(["0", "1"])
    with path.open("wb") as fh:
        write_header(fh, ONBOARDING_COLUMNS)
        for lo in range(0, n_rows, CHUNK_ROWS):
            rows = order[lo : lo + CHUNK_ROWS]
            col = {key: values[rows] for key, values in cohort.items()}
            mid = col["midnight"]
            stale = pc.binary_join_element_wise(to_strings(col["stale"]), ".0", "")
            stale = pc.if_else(pa.array(col["stale"] < 0), "", stale)
            fields = [to_strings(np.arange(lo, lo + len(rows))), stale]
            fields.append(_dates(dates, col["first_login"], mid))
            fields.append(pc.take(weeks, pa.array(col["first_login"])))
            fields.append(pc.take(user_ids, pa.array(col["uid"])))
            fields.append(pc.take(habito_text, pa.array(col["habito"] + 1)))
            fields.append(_dates(dates, col["habito_dt"], mid))
            for name in ("activacion_dt", "setup_dt", "return_dt"):
                present = (col[name] != MISSING).astype(np.int8)
                fields += [pc.take(flag_text, pa.array(present)), _dates(dates, col[name], mid)]
            write_rows(fh, fields)
    return n_rows


def _iso_week(day: int) -> int:
    """ISO week number of a day offset from 2022-01-01.

    Args:
        day: day offset.

    Returns:
        ISO week number.

    Example:
        >>> _iso_week(0), _iso_week(2)
        (52, 1)
    """
    return (EPOCH + day).astype(object).isocalendar()[1]


def _date_table() -> pa.Array:
    """Date strings for `DAY_LO..DAY_HI`, then '', then the same with ` 00:00:00`, then ''.

    Returns:
        Arrow string array indexed by `_dates`.
    """
    plain = calendar_dates()
    return pa.array(plain + [""] + [f"{d} 00:00:00" for d in plain] + [""])


def _dates(table: pa.Array, days: np.ndarray, midnight: np.ndarray) -> pa.Array:
    """Format day offsets (`MISSING` = empty) as plain or midnight date strings.

    Args:
        table: `_date_table()`.
        days: day offsets.
        midnight: rows written as `YYYY-MM-DD 00:00:00`.

    Returns:
        Arrow string array.
    """
    span = DAY_HI - DAY_LO
    idx = np.where(days == MISSING, span, days - DAY_LO) + midnight * (span + 1)
    return pc.take(table, pa.array(idx.astype(np.int32)))
