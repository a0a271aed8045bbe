"""Faker-like pt_BR personal data: names, e-mails, three-line addresses, birth dates, phones."""

from __future__ import annotations

import unicodedata
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from runner.generate.columns import padded, take
from runner.generate.sampling import draw
from runner.generate.words import (
    AREA_CODES,
    CITY_SUFFIXES,
    EMAIL_DOMAINS,
    FEMALE,
    MALE,
    NEIGHBOURHOODS,
    PHONE_FORMATS,
    STATES,
    STREET_TYPES,
    SURNAMES,
    TOLL_FREE,
    TOLL_FREE_FORMATS,
)

_NAME_PREFIX_SHARE = 2252 / 13000
_BIRTH_FIRST, _BIRTH_LAST = np.datetime64("1907-11-10", "D"), np.datetime64("2023-10-30", "D")


def fake_people(rng: np.random.Generator, n: int) -> list[pa.Array]:
    """Draw name, e-mail, quoted address, birth date and phone of n people.

    Args:
        rng: random generator.
        n: number of people.

    Returns:
        Five Arrow string arrays, in the order of their columns in dim_users.csv.
    """
    t = _word_tables()
    n_first, n_last = len(MALE) + len(FEMALE), len(SURNAMES)

    male = rng.random(n) < 0.5
    female_first = len(MALE) + rng.integers(0, len(FEMALE), n)
    first = np.where(male, rng.integers(0, len(MALE), n), female_first)
    titled = rng.random(n) < _NAME_PREFIX_SHARE
    title = np.where(titled, np.where(male, rng.integers(1, 3, n), rng.integers(3, 6, n)), 0)
    name = pc.binary_join_element_wise(
        take(t["title"], title), take(t["first"], first), take(t["last"], _int(rng, n_last, n)),
        " ",
    )
    name = pc.utf8_ltrim(name, " ")  # no title: drop the leading separator

    # e-mail of an unrelated random name: first+last, last+first, initial+last or first+NN
    pattern = rng.integers(0, 4, n)
    f2, l2 = _int(rng, n_first, n), _int(rng, n_last, n)
    head = np.choose(pattern, [f2, n_first + l2, n_first + n_last + f2, f2])
    tail = np.choose(pattern, [l2, n_last + f2, l2, n_last + n_first + _int(rng, 100, n)])
    email = pc.binary_join_element_wise(
        take(t["email_head"], head), take(t["email_tail"], tail), "@",
        take(t["domain"], _int(rng, 3, n)), "",
    )

    street_first = 2 + _int(rng, n_first, n)
    lead = np.choose(_int(rng, 3, n), [np.zeros(n, np.int64), np.ones(n, np.int64), street_first])
    number = np.where(
        rng.random(n) < 0.85,
        np.choose(draw(rng, np.arange(3), (15, 60, 25), n), [
            rng.integers(1, 10, n), rng.integers(10, 100, n), rng.integers(100, 1000, n)]),
        0,
    )
    cep = pc.binary_join_element_wise(
        take(padded(5), _int(rng, 100_000, n)), take(t["cep_sep"], _int(rng, 2, n)),
        take(padded(3), _int(rng, 1000, n)), "",
    )
    address = pc.binary_join_element_wise(
        '"', take(t["street_type"], _int(rng, len(STREET_TYPES), n)), " ",
        take(t["street_lead"], lead), take(t["last"], _int(rng, n_last, n)),
        take(t["house_number"], number), "\n",
        take(t["neighbourhood"], _int(rng, len(NEIGHBOURHOODS), n)), "\n", cep, " ",
        take(t["last"], _int(rng, n_last, n)),
        take(t["city_suffix"], _int(rng, len(CITY_SUFFIXES), n)), " / ",
        take(t["state"], _int(rng, len(STATES), n)), '"', "",
    )

    birth = take(t["birth"], _int(rng, len(t["birth"]), n))

    fmt = draw(rng, np.arange(len(t["phone_sep"])), t["phone_weight"], n)
    regular = fmt < len(PHONE_FORMATS)
    phone_head = np.where(
        regular,
        fmt * len(AREA_CODES) + _int(rng, len(AREA_CODES), n),
        len(PHONE_FORMATS) * len(AREA_CODES)
        + (fmt - len(PHONE_FORMATS)) * len(TOLL_FREE) + _int(rng, len(TOLL_FREE), n),
    )
    middle = np.where(regular, _int(rng, 10_000, n), 10_000 + _int(rng, 1000, n))
    phone = pc.binary_join_element_wise(
        take(t["phone_head"], phone_head), take(t["phone_middle"], middle),
        take(t["phone_sep"], fmt), take(padded(4), _int(rng, 10_000, n)), "",
    )
    return [name, email, address, birth, phone]


@cache
def _word_tables() -> dict[str, Any]:
    """Lookup tables for `fake_people`, built once.

    Returns:
        Arrow string arrays (plus `phone_weight`, a tuple) by name.
    """
    first = MALE + FEMALE
    first_slug = [_slug(v) for v in first]
    last_slug = [_slug(v) for v in SURNAMES]
    birth_days = np.arange(_BIRTH_FIRST, _BIRTH_LAST + 1)
    regular_heads = [tpl.format(area) for tpl, _, _ in PHONE_FORMATS for area in AREA_CODES]
    toll_heads = [tpl.format(code) for tpl, _, _ in TOLL_FREE_FORMATS for code in TOLL_FREE]
    phone_formats = PHONE_FORMATS + TOLL_FREE_FORMATS
    return {
        "title": pa.array(["", "Sr.", "Dr.", "Sra.", "Dra.", "Srta."]),
        "first": pa.array(first),
        "last": pa.array(SURNAMES),
        "email_head": pa.array(first_slug + last_slug + [v[0] for v in first_slug]),
        "email_tail": pa.array(last_slug + first_slug + [f"{v:02d}" for v in range(100)]),
        "domain": pa.array(EMAIL_DOMAINS),
        "street_type": pa.array(STREET_TYPES),
        "street_lead": pa.array(["", "de "] + [f"{v} " for v in first]),
        "house_number": pa.array([""] + [f", {v}" for v in range(1, 1000)]),
        "neighbourhood": pa.array(NEIGHBOURHOODS),
        "cep_sep": pa.array(["", "-"]),
        "city_suffix": pa.array(CITY_SUFFIXES),
        "state": pa.array(STATES),
        "birth": pa.array(np.datetime_as_string(birth_days).tolist()),
        "phone_head": pa.array(regular_heads + toll_heads),
        "phone_middle": pa.concat_arrays([padded(4), padded(3)]),
        "phone_sep": pa.array([sep for _, sep, _ in phone_formats]),
        "phone_weight": tuple(w for _, _, w in phone_formats),
    }


def _int(rng: np.random.Generator, high: int, n: int) -> np.ndarray:
    """Uniform integers in 0..high-1.

    Args:
        rng: random generator.
        high: exclusive upper bound.
        n: number of draws.

    Returns:
        int64 array.
    """
    return rng.integers(0, high, n)


def _slug(text: str) -> str:
    """E-mail form of a name: ASCII, lower case, spaces as dashes.

    Args:
        text: a name.

    Returns:
        The slug.

    Example:
        >>> _slug("João Pedro")
        'joao-pedro'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return ascii_text.lower().replace(" ", "-")
