"""The cohort's calendar: dates are int day offsets from 2022-01-01 until they are written."""

from __future__ import annotations

import numpy as np

EPOCH = np.datetime64("2022-01-01", "D")
# Lookup tables of dates cover the day offsets [DAY_LO, DAY_HI).
DAY_LO, DAY_HI = -31, 95
MISSING = -10_000  # no date (an empty field)
WINDOW = 30  # days after first login that habito_dt and the transactions fall in


def calendar_dates() -> list[str]:
    """ISO dates of the day offsets `DAY_LO..DAY_HI - 1`, the index of every date table.

    Returns:
        `YYYY-MM-DD` strings.

    Example:
        >>> dates = calendar_dates()
        >>> dates[-DAY_LO], len(dates) == DAY_HI - DAY_LO
        ('2022-01-01', True)
    """
    return np.datetime_as_string(EPOCH + np.arange(DAY_LO, DAY_HI)).tolist()
