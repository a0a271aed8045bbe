"""Independent reference of the business rules, computed with pandas from the raw CSV files.

Written from `BUSINESS_RULES.md`, not from the SQL models, so the integration tests compare two
implementations of the same contract. No Spark and no SQL: A/B buckets use `xxhash64()` below, a
pure-Python port of Spark's `XXH64` (seed 42), which the integration tests check against Spark's
own `xxhash64`.

Where the rules leave a choice open, the choice is the one the models document:
- a row gets one reason, the first failing check in the order of the quarantine catalogue
  (macros/quarantine_rules.sql), which the checks below follow;
- conflicting duplicates are looked for among rows that passed the per-row checks;
- segments come from the clean transactions only (a quarantined transaction says nothing);
- `week_year` falls back to the ISO week of `first_login_dt` when empty.
- an unparseable `birth_dt` (which no rule uses) does not quarantine its row: the value is
  NULL, the row kept, and the row counted under `unparseable_birth_dt` (`nulled_counts`).
"""

from __future__ import annotations

import csv
import math
import re
import struct
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_VARS: dict[str, Any] = {
    "user_id_pattern": "^MLB[0-9]+$",
    "segments": [1, 2],
    "include_unknown_segment": False,
    "onboarding_days": 30,
    "habit_min_days": 5,
    "habit_min_collections": 5,
    "ab_salt": "onboarding-2022",
    "control_share": 0.05,
    "alpha": 0.05,
    "srm_alpha": 0.001,
}

COLUMNS: dict[str, list[str]] = {
    "lk_onboarding": [
        "row_index", "unnamed_0", "first_login_dt", "week_year", "user_id", "habito", "habito_dt",
        "activacion", "activacion_dt", "setup", "setup_dt", "return", "return_dt",
    ],
    "dim_users": [
        "row_index", "user_id", "name", "email", "address", "birth_dt", "phone", "type", "rubro",
    ],
    "bt_users_transactions": ["row_index", "user_id", "transaction_dt", "type", "segment"],
}

# Typed columns checked for `unparseable_<column>`, in the order they are checked.
PARSED: dict[str, dict[str, str]] = {
    "lk_onboarding": {
        "first_login_dt": "date", "week_year": "int", "habito": "flag", "habito_dt": "date",
        "activacion": "flag", "activacion_dt": "date", "setup": "flag", "setup_dt": "date",
        "return": "flag", "return_dt": "date",
    },
    "dim_users": {"birth_dt": "date", "type": "int", "rubro": "int"},
    "bt_users_transactions": {"transaction_dt": "timestamp", "type": "int", "segment": "int"},
}
# Of those, the columns whose unparseable value is set to NULL, the row kept (a 'field' check).
NULLED: dict[str, set[str]] = {"dim_users": {"birth_dt"}}

MILESTONE_DATES = ["return_dt", "activacion_dt", "setup_dt", "habito_dt"]
METRICS = ["drop", "activation", "setup", "habit"]
# Domain codes (macros/codes.sql): segments, and the transaction types that are collections.
INDIVIDUALS = 1
SELLERS = 2
COLLECTION_TYPES = (8, 9)
SEGMENT_NAMES = {INDIVIDUALS: "individuals", SELLERS: "sellers"}
Z_95 = 1.959963984540054


class _Invalid:
    """A value present in the file that does not parse."""


INVALID = _Invalid()

# --------------------------------------------------------------------------------------------
# xxhash64, as Spark computes it for a UTF-8 string


_M64 = (1 << 64) - 1
_P1, _P2, _P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
_P4, _P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & _M64


def _round(acc: int, lane: int) -> int:
    return (_rotl((acc + lane * _P2) & _M64, 31) * _P1) & _M64


def xxhash64(text: str, seed: int = 42) -> int:
    """Spark SQL's `xxhash64(text)`: XXH64 of the UTF-8 bytes, seed 42, as a signed 64-bit int.

    Example:
        >>> xxhash64("Spark")
        -4294468057691064905
    """
    data = text.encode("utf-8")
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + _P1 + _P2) & _M64, (seed + _P2) & _M64, seed & _M64, (seed - _P1) & _M64]
        while i + 32 <= n:
            lanes = struct.unpack_from("<4Q", data, i)
            v = [_round(a, lane) for a, lane in zip(v, lanes, strict=True)]
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M64
        for a in v:
            h = ((h ^ _round(0, a)) * _P1 + _P4) & _M64
    else:
        h = (seed + _P5) & _M64
    h = (h + n) & _M64
    while i + 8 <= n:
        (lane,) = struct.unpack_from("<Q", data, i)
        h = (_rotl(h ^ _round(0, lane), 27) * _P1 + _P4) & _M64
        i += 8
    if i + 4 <= n:
        (word,) = struct.unpack_from("<I", data, i)
        h = (_rotl(h ^ ((word * _P1) & _M64), 23) * _P2 + _P3) & _M64
        i += 4
    while i < n:
        h = (_rotl(h ^ ((data[i] * _P5) & _M64), 11) * _P1) & _M64
        i += 1
    h ^= h >> 33
    h = (h * _P2) & _M64
    h ^= h >> 29
    h = (h * _P3) & _M64
    h ^= h >> 32
    return h - (1 << 64) if h >= 1 << 63 else h


def ab_bucket(user_id: str, salt: str) -> int:
    """`pmod(xxhash64(concat(salt, ':', user_id)), 10000)`.

    Example:
        >>> 0 <= ab_bucket("MLB1", "onboarding-2022") < 10000
        True
    """
    return xxhash64(f"{salt}:{user_id}") % 10000


# --------------------------------------------------------------------------------------------
# parsing


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip(" ")
    return value or None


def parse_value(value: str | None, kind: str) -> Any:
    """Parse one raw value: None when empty, INVALID when present but not of `kind`.

    Example:
        >>> parse_value("2022-01-03 00:00:00", "date"), parse_value("1.0", "flag")
        (datetime.date(2022, 1, 3), 1)
        >>> parse_value("2022-01-03 10:00:00.123456789", "timestamp")
        datetime.datetime(2022, 1, 3, 10, 0, 0, 123456)
    """
    text = _text(value)
    if text is None:
        return None
    try:
        if kind == "date":
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}( 00:00:00)?", text):
                return INVALID
            return date.fromisoformat(text[:10])
        if kind == "flag":
            if not re.fullmatch(r"[01](\.0*)?", text):
                return INVALID
            return int(text[0])
        if kind == "int":
            match = re.fullmatch(r"([+-]?\d+)(\.0*)?", text)
            number = int(match.group(1)) if match else None
            return number if number is not None and -(2**31) <= number < 2**31 else INVALID
        if kind == "timestamp":
            match = re.fullmatch(
                r"(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?", text
            )
            if not match:
                return INVALID
            day, clock, frac = match.groups()
            stamp = datetime.fromisoformat(f"{day} {clock or '00:00:00'}")
            micros = int((frac or "0")[:6].ljust(6, "0"))  # truncate, never round
            return stamp.replace(microsecond=micros)
    except ValueError:
        return INVALID
    raise ValueError(f"unknown kind {kind}")


# --------------------------------------------------------------------------------------------
# loading and cleaning


def load_raw(raw_dir: str | Path, table: str) -> pd.DataFrame:
    """Read one CSV as strings; a record whose field count differs from the header is malformed."""
    columns = COLUMNS[table]
    rows = []
    with (Path(raw_dir) / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        for fields in reader:
            malformed = len(fields) != len(columns)
            values = (fields + [""] * len(columns))[: len(columns)]
            rows.append({**dict(zip(columns, values, strict=True)), "malformed": malformed})
    return pd.DataFrame(rows, columns=[*columns, "malformed"], dtype=object)


def _row_checks(df: pd.DataFrame, table: str, pattern: str) -> pd.DataFrame:
    """Parse typed columns and give each row its first per-row failure (None = passes).

    `nulled`: the `unparseable_<column>` of the NULLED columns that did not parse (set to NULL).
    """
    out = df.copy()
    out["user_id"] = out["user_id"].map(_text)
    reasons: list[str | None] = []
    nulled: list[list[str]] = []
    parsed_cols: dict[str, list[Any]] = {c: [] for c in PARSED[table]}
    for record in out.to_dict("records"):
        reason = None
        if record["malformed"]:
            reason = "malformed_record"
        elif record["user_id"] is None or not re.search(pattern, record["user_id"]):
            reason = "malformed_user_id"
        fields = []
        for column, kind in PARSED[table].items():
            value = parse_value(record[column], kind)
            if value is INVALID and column in NULLED.get(table, ()):
                fields.append(f"unparseable_{column}")
                value = None
            elif value is INVALID:
                reason = reason or f"unparseable_{column}"
                value = None
            parsed_cols[column].append(value)
        reasons.append(reason)
        nulled.append(fields)
    for column, values in parsed_cols.items():
        out[column] = pd.Series(values, index=out.index, dtype=object)
    out["reason"] = reasons
    out["nulled"] = pd.Series(nulled, index=out.index, dtype=object)
    return out


def clean_onboarding(raw: pd.DataFrame, vars: dict[str, Any]) -> pd.DataFrame:
    """Every onboarding row with its reason; `kept` marks the one row kept per clean user."""
    df = _row_checks(raw, "lk_onboarding", vars["user_id_pattern"])
    missing = df["reason"].isna() & df["first_login_dt"].isna()
    df.loc[missing, "reason"] = "missing_first_login_dt"

    value_cols = ["user_id", *PARSED["lk_onboarding"]]
    df["version"] = [repr(tuple(r)) for r in df[value_cols].itertuples(index=False)]
    candidates = df[df["reason"].isna()]
    versions = candidates.groupby("user_id")["version"].nunique()
    conflicting = set(versions[versions > 1].index)
    mask = df["reason"].isna() & df["user_id"].isin(conflicting)
    df.loc[mask, "reason"] = "conflicting_duplicate"

    def before_login(row: pd.Series) -> bool:
        return any(
            row[c] is not None and row[c] < row["first_login_dt"] for c in MILESTONE_DATES
        )

    mask = df["reason"].isna() & df.apply(before_login, axis=1)
    df.loc[mask, "reason"] = "date_before_first_login"

    df["order"] = pd.to_numeric(df["row_index"], errors="coerce")
    df = df.sort_values(["order"], kind="stable")
    df["duplicate_copy"] = df["reason"].isna() & df.duplicated(["user_id"], keep="first")
    df["kept"] = df["reason"].isna() & ~df["duplicate_copy"]
    return df.sort_index()


def clean_users(raw: pd.DataFrame, vars: dict[str, Any]) -> pd.DataFrame:
    """Every dim_users row with its reason (None = kept)."""
    df = _row_checks(raw, "dim_users", vars["user_id_pattern"])
    df["kept"] = df["reason"].isna()
    return df


def clean_transactions(
    raw: pd.DataFrame, vars: dict[str, Any], known_users: set[str]
) -> pd.DataFrame:
    """Every transaction row with its reason (None = kept; identical rows are all kept)."""
    df = _row_checks(raw, "bt_users_transactions", vars["user_id_pattern"])
    mask = df["reason"].isna() & df["transaction_dt"].isna()
    df.loc[mask, "reason"] = "missing_transaction_dt"
    mask = df["reason"].isna() & ~df["user_id"].isin(known_users)
    df.loc[mask, "reason"] = "unknown_user"
    df["kept"] = df["reason"].isna()
    return df


# --------------------------------------------------------------------------------------------
# users, segments, metrics


def resolve_segment(transactions: pd.DataFrame, has_rubro: bool) -> tuple[int | None, bool]:
    """(segment, segment_inconsistent) of one user from his clean transactions and rubro."""
    if ((transactions["segment"] == SELLERS) | transactions["type"].isin(COLLECTION_TYPES)).any():
        return SELLERS, False
    if (transactions["segment"] == INDIVIDUALS).any():
        return INDIVIDUALS, has_rubro
    return (SELLERS if has_rubro else None), False


def user_metrics(
    onboarding: pd.DataFrame,
    users: pd.DataFrame,
    transactions: pd.DataFrame,
    vars: dict[str, Any],
) -> pd.DataFrame:
    """One row per clean onboarding user: segment, group, flags, habit, window counts."""
    clean = onboarding[onboarding["kept"]]
    rubro_users = set(users.loc[users["kept"] & users["rubro"].notna(), "user_id"])
    tx = transactions[transactions["kept"]]
    tx_by_user = dict(tuple(tx.groupby("user_id")))
    empty = tx.iloc[0:0]
    days = vars["onboarding_days"]
    rows = []
    for r in clean.to_dict("records"):
        uid = r["user_id"]
        user_tx = tx_by_user.get(uid, empty)
        segment, inconsistent = resolve_segment(user_tx, uid in rubro_users)
        login = r["first_login_dt"]
        tx_days = [ts.date() for ts in user_tx["transaction_dt"]]
        in_window = [0 <= (d - login).days < days for d in tx_days]
        window_days = {d for d, w in zip(tx_days, in_window, strict=True) if w}
        window_types = [t for t, w in zip(user_tx["type"], in_window, strict=True) if w]
        collections = sum(1 for t in window_types if t in COLLECTION_TYPES)
        if segment == SELLERS:
            habit = int(collections >= vars["habit_min_collections"])
        else:
            habit = int(len(window_days) >= vars["habit_min_days"])
        bucket = ab_bucket(uid, vars["ab_salt"])
        rows.append(
            {
                "user_id": uid,
                "segment": segment,
                "segment_name": SEGMENT_NAMES.get(segment, f"segment_{segment}")
                if segment is not None
                else "unknown",
                "segment_inconsistent": inconsistent,
                "ab_bucket": bucket,
                # exact decimal arithmetic, as Spark does with the literal (0.07 * 10000 = 700)
                "ab_group": "control"
                if bucket < Decimal(str(vars["control_share"])) * 10000
                else "treatment",
                "first_login_dt": login,
                "week_year": r["week_year"]
                if r["week_year"] is not None
                else login.isocalendar()[1],
                "drop": int(r["return"] == 0),
                "activation": int(r["activacion_dt"] is not None),
                "setup": int(r["setup_dt"] is not None),
                "habit": habit,
                "habit_source": int(r["habito"] == 1),
                "transactions_in_window": len(window_types),
                "collections_in_window": collections,
                "transaction_types": sorted({int(t) for t in window_types if t is not None}),
            }
        )
    return pd.DataFrame(rows)


def in_population(metrics: pd.DataFrame, vars: dict[str, Any]) -> pd.Series:
    """Users of the analysis population: a selected segment, or unknown when included."""
    segments = vars["segments"]
    segments = [segments] if isinstance(segments, int) else list(segments)
    known = metrics["segment"].isin(segments)
    unknown = metrics["segment"].isna() & bool(vars["include_unknown_segment"])
    return known | unknown


# --------------------------------------------------------------------------------------------
# statistics


def normal_two_sided_p(z: float) -> float:
    """Two-sided p-value of a standard normal statistic.

    Example:
        >>> round(normal_two_sided_p(1.959963984540054), 12)
        0.05
    """
    return math.erfc(abs(z) / math.sqrt(2))


def ab_statistics(
    x_c: int, n_c: int, x_t: int, n_t: int, alpha: float
) -> dict[str, float | bool | None]:
    """Two-proportion z-test (pooled), 95% CI of the difference (unpooled), lift."""
    rate_c = x_c / n_c if n_c else None
    rate_t = x_t / n_t if n_t else None
    out: dict[str, float | bool | None] = {
        "rate_control": rate_c,
        "rate_treatment": rate_t,
        "diff": None, "relative_lift": None, "z": None, "p_value": None,
        "ci_low": None, "ci_high": None, "significant": None,
    }
    if rate_c is None or rate_t is None:
        return out
    diff = rate_t - rate_c
    out["diff"] = diff
    out["relative_lift"] = diff / rate_c if rate_c else None
    pooled = (x_c + x_t) / (n_c + n_t)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    if se > 0:
        out["z"] = diff / se
        out["p_value"] = normal_two_sided_p(diff / se)
        out["significant"] = out["p_value"] < alpha
    se_diff = math.sqrt(rate_c * (1 - rate_c) / n_c + rate_t * (1 - rate_t) / n_t)
    out["ci_low"] = diff - Z_95 * se_diff
    out["ci_high"] = diff + Z_95 * se_diff
    return out


def srm_statistics(n_c: int, n_t: int, share: float, srm_alpha: float) -> dict[str, Any]:
    """Chi-square (1 d.f.) of the group sizes against the planned control share."""
    n = n_c + n_t
    expected_c, expected_t = n * share, n * (1 - share)
    if expected_c <= 0 or expected_t <= 0:
        return {"srm_chi2": None, "srm_p_value": None, "srm_detected": None}
    chi2 = (n_c - expected_c) ** 2 / expected_c + (n_t - expected_t) ** 2 / expected_t
    p_value = math.erfc(math.sqrt(chi2 / 2))
    return {"srm_chi2": chi2, "srm_p_value": p_value, "srm_detected": p_value < srm_alpha}


# --------------------------------------------------------------------------------------------
# the whole reference


@dataclass(frozen=True)
class Reference:
    """Everything the integration tests compare the marts with."""

    onboarding: pd.DataFrame  # every raw onboarding row with reason / kept
    users: pd.DataFrame  # every raw dim_users row with reason / kept
    transactions: pd.DataFrame  # every raw transaction row with reason / kept
    all_users: pd.DataFrame  # every clean onboarding user with segment and metrics
    population: pd.DataFrame  # the analysis population
    vars: dict[str, Any]

    def quarantine_counts(self) -> dict[tuple[str, str], int]:
        """(source, reason) -> quarantined rows."""
        out: dict[tuple[str, str], int] = {}
        for source, df in [
            ("lk_onboarding", self.onboarding),
            ("dim_users", self.users),
            ("bt_users_transactions", self.transactions),
        ]:
            for reason, count in df["reason"].dropna().value_counts().items():
                out[(source, str(reason))] = int(count)
        return out

    def nulled_counts(self) -> dict[tuple[str, str], int]:
        """(source, 'field' check) -> kept rows whose value it set to NULL (every such check)."""
        out: dict[tuple[str, str], int] = {}
        for source, df in [
            ("lk_onboarding", self.onboarding),
            ("dim_users", self.users),
            ("bt_users_transactions", self.transactions),
        ]:
            nulled = df.loc[df["kept"], "nulled"]
            for column in sorted(NULLED.get(source, ())):
                check = f"unparseable_{column}"
                out[(source, check)] = int(sum(check in fields for fields in nulled))
        return out

    def segment_names(self) -> list[str]:
        """Segment names the marts list, in order, without `all`."""
        segments = self.vars["segments"]
        segments = [segments] if isinstance(segments, int) else list(segments)
        names = [SEGMENT_NAMES.get(s, f"segment_{s}") for s in segments]
        return names + (["unknown"] if self.vars["include_unknown_segment"] else [])

    def _group(self, segment_name: str, ab_group: str) -> pd.DataFrame:
        pop = self.population
        if segment_name != "all":
            pop = pop[pop["segment_name"] == segment_name]
        if ab_group != "all":
            pop = pop[pop["ab_group"] == ab_group]
        return pop

    def funnel(self) -> pd.DataFrame:
        """Users per segment x group x stage (registration, activation, setup, habit)."""
        rows = []
        for segment_name in [*self.segment_names(), "all"]:
            for ab_group in ["control", "treatment", "all"]:
                pop = self._group(segment_name, ab_group)
                counts = [len(pop), *(int(pop[m].sum()) for m in ["activation", "setup", "habit"])]
                stages = ["registration", "activation", "setup", "habit"]
                for order, (stage, users) in enumerate(zip(stages, counts, strict=True), start=1):
                    previous = counts[order - 2] if order > 1 else counts[0]
                    rows.append(
                        {
                            "segment_name": segment_name,
                            "ab_group": ab_group,
                            "stage": stage,
                            "stage_order": order,
                            "users": users,
                            "rate_of_registered": users / counts[0] if counts[0] else None,
                            "rate_of_previous": users / previous if previous else None,
                        }
                    )
        return pd.DataFrame(rows)

    def segment_summary(self) -> pd.DataFrame:
        """Users and rates per segment and for all."""
        rows = []
        for segment_name in [*self.segment_names(), "all"]:
            pop = self._group(segment_name, "all")
            row: dict[str, Any] = {"segment_name": segment_name, "users": len(pop)}
            for m in [*METRICS, "habit_source"]:
                row[f"{m}_rate"] = pop[m].mean() if len(pop) else None
            rows.append(row)
        return pd.DataFrame(rows)

    def ab_results(self) -> pd.DataFrame:
        """The experiment statistics per metric x segment (and all)."""
        rows = []
        for segment_name in [*self.segment_names(), "all"]:
            control = self._group(segment_name, "control")
            treatment = self._group(segment_name, "treatment")
            srm = srm_statistics(
                len(control), len(treatment), self.vars["control_share"], self.vars["srm_alpha"]
            )
            for metric in METRICS:
                stats = ab_statistics(
                    int(control[metric].sum()), len(control),
                    int(treatment[metric].sum()), len(treatment),
                    self.vars["alpha"],
                )
                rows.append(
                    {
                        "metric": metric,
                        "segment_name": segment_name,
                        "n_control": len(control),
                        "n_treatment": len(treatment),
                        **stats,
                        **srm,
                    }
                )
        return pd.DataFrame(rows)

    def weekly_cohorts(self) -> pd.DataFrame:
        """Users and rates per week_year x segment x group, with `all` roll-ups."""
        pop = self.population
        frames = []
        for seg_all in (False, True):
            for group_all in (False, True):
                df = pop.assign(
                    segment_name="all" if seg_all else pop["segment_name"],
                    ab_group="all" if group_all else pop["ab_group"],
                )
                agg = df.groupby(["week_year", "segment_name", "ab_group"]).agg(
                    users=("user_id", "size"),
                    drop_rate=("drop", "mean"),
                    activation_rate=("activation", "mean"),
                    setup_rate=("setup", "mean"),
                    habit_rate=("habit", "mean"),
                )
                frames.append(agg.reset_index())
        return pd.concat(frames, ignore_index=True)


def compute_reference(raw_dir: str | Path, vars: dict[str, Any] | None = None) -> Reference:
    """Apply BUSINESS_RULES.md to the three CSV files of `raw_dir`."""
    merged = {**DEFAULT_VARS, **(vars or {})}
    onboarding = clean_onboarding(load_raw(raw_dir, "lk_onboarding"), merged)
    users = clean_users(load_raw(raw_dir, "dim_users"), merged)
    known = set(onboarding.loc[onboarding["kept"], "user_id"])
    transactions = clean_transactions(load_raw(raw_dir, "bt_users_transactions"), merged, known)
    all_users = user_metrics(onboarding, users, transactions, merged)
    population = all_users[in_population(all_users, merged)].reset_index(drop=True)
    return Reference(onboarding, users, transactions, all_users, population, merged)


if __name__ == "__main__":  # a quick look at the figures: python tests/reference.py <raw_dir>
    import sys

    ref = compute_reference(sys.argv[1] if len(sys.argv) > 1 else "data/original")
    print("quarantine:", ref.quarantine_counts())
    print("clean users:", len(ref.all_users), "population:", len(ref.population))
    print(ref.population.groupby(["segment_name", "ab_group"]).size())
    print(ref.population.groupby("segment_name")[METRICS + ["habit_source"]].sum())
    print(ref.all_users["segment"].value_counts(dropna=False))
    print(ref.ab_results().to_string())
