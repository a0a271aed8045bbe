"""The in-repo baseline: one plain PySpark job computing the five analysis marts from the three
raw CSV files, written from the business rules the way a data engineer would hand-write it.

No tests, no quarantine table, no data_quality mart, no runner code: read the CSVs (multiLine
only for dim_users, whose addresses span lines), parse and drop the rows the rules reject, build
one row per user, aggregate, compute the experiment statistics on the driver, write Parquet.
`bench/compare.py` runs it beside `runner run` on the same data and checks that both give the
same marts.

    .venv/bin/python bench/baseline_job.py --raw-dir DIR --out DIR [--master local[*]]

Prints one JSON line: {"seconds": {"session": s, "marts": s, "total": s}}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from decimal import Decimal
from pathlib import Path

VARS = {"user_id_pattern": "^MLB[0-9]+$", "segments": [1, 2], "onboarding_days": 30,
        "habit_min_days": 5, "habit_min_collections": 5, "ab_salt": "onboarding-2022",
        "control_share": 0.05, "alpha": 0.05, "srm_alpha": 0.001}
COLUMNS = {
    "lk_onboarding": ["row_index", "unnamed_0", "first_login_dt", "week_year", "user_id",
                      "habito", "habito_dt", "activacion", "activacion_dt", "setup", "setup_dt",
                      "return", "return_dt"],
    "dim_users": ["row_index", "user_id", "name", "email", "address", "birth_dt", "phone",
                  "type", "rubro"],
    "bt_users_transactions": ["row_index", "user_id", "transaction_dt", "type", "segment"],
}
TYPES = {
    "lk_onboarding": {"first_login_dt": "date", "week_year": "int", "habito": "flag",
                      "habito_dt": "date", "activacion": "flag", "activacion_dt": "date",
                      "setup": "flag", "setup_dt": "date", "return": "flag", "return_dt": "date"},
    "dim_users": {"birth_dt": "date", "type": "int", "rubro": "int"},
    "bt_users_transactions": {"transaction_dt": "timestamp", "type": "int", "segment": "int"},
}
SEGMENT_NAMES = {1: "individuals", 2: "sellers"}
METRICS = ["drop", "activation", "setup", "habit"]
TS = r"^(\d{4}-\d{2}-\d{2})(?:[ T](\d{2}:\d{2}:\d{2})(?:\.(\d+))?)?$"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()
    started = time.perf_counter()
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (SparkSession.builder.master(args.master).appName("baseline")
             .config("spark.driver.memory", "2g")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    session = time.perf_counter() - started
    build_marts(spark, args.raw_dir, args.out)
    total = time.perf_counter() - started
    spark.stop()
    print(json.dumps({"seconds": {"session": round(session, 2),
                                  "marts": round(total - session, 2), "total": round(total, 2)}}))


def build_marts(spark, raw_dir: Path, out: Path) -> None:
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    onboarding = parsed(spark, raw_dir, "lk_onboarding").where(F.col("first_login_dt").isNotNull())
    versions = onboarding.groupBy("user_id").agg(
        F.countDistinct(F.to_json(F.struct("user_id", *TYPES["lk_onboarding"]))).alias("n"))
    onboarding = onboarding.join(versions.where("n = 1").select("user_id"), "user_id")
    before = [F.col(c) < F.col("first_login_dt")
              for c in ("return_dt", "activacion_dt", "setup_dt", "habito_dt")]
    onboarding = onboarding.where(~F.coalesce(before[0] | before[1] | before[2] | before[3],
                                              F.lit(False)))
    first = Window.partitionBy("user_id").orderBy(F.col("row_index").cast("long"))
    onboarding = (onboarding.withColumn("copy", F.row_number().over(first))
                  .where("copy = 1").drop("copy").cache())  # read twice below

    rubro = (parsed(spark, raw_dir, "dim_users").where(F.col("rubro").isNotNull())
             .select("user_id").distinct().withColumn("has_rubro", F.lit(True)))
    transactions = (parsed(spark, raw_dir, "bt_users_transactions")
                    .where(F.col("transaction_dt").isNotNull())
                    .join(onboarding.select("user_id", "first_login_dt"), "user_id").cache())

    collection = F.col("type").isin(8, 9)
    segments = transactions.groupBy("user_id").agg(
        F.max((F.col("segment") == 2) | collection).alias("any_seller"),
        F.max(F.col("segment") == 1).alias("any_individual"))
    days = F.datediff("transaction_dt", "first_login_dt")
    window = (transactions.withColumn("day", F.to_date("transaction_dt"))
              .where((days >= 0) & (days < VARS["onboarding_days"]))
              .groupBy("user_id").agg(
                  F.count(F.lit(1)).cast("int").alias("transactions_in_window"),
                  F.count(F.when(collection, 1)).cast("int").alias("collections_in_window"),
                  F.array_sort(F.collect_set("day")).alias("transaction_days"),
                  F.array_sort(F.collect_set("type")).alias("transaction_types"),
                  F.array_sort(F.collect_list(F.when(collection, F.col("day"))))
                  .alias("collection_dates")))

    users = (onboarding.join(segments, "user_id", "left").join(rubro, "user_id", "left")
             .join(window, "user_id", "left"))
    segment = (F.when(F.col("any_seller"), 2).when(F.col("any_individual"), 1)
               .when(F.col("has_rubro"), 2))
    bucket = F.pmod(F.xxhash64(F.concat(F.lit(VARS["ab_salt"]), F.lit(":"), "user_id")),
                    F.lit(10000))
    share = F.lit(Decimal(str(VARS["control_share"]))) * 10000
    seller = F.col("segment") == 2
    n_days = F.when(F.col("transaction_days").isNotNull(), F.size("transaction_days")).otherwise(0)
    n_collections = F.coalesce(F.col("collections_in_window"), F.lit(0))
    habit = F.when(seller, n_collections >= VARS["habit_min_collections"]).otherwise(
        n_days >= VARS["habit_min_days"]).cast("int")
    habit_day = F.when(seller, _nth("collection_dates", VARS["habit_min_collections"])
                       ).otherwise(_nth("transaction_days", VARS["habit_min_days"]))
    metrics = (
        users.withColumn("segment", segment)
        .where(F.col("segment").isin(*VARS["segments"]))
        .withColumn("habit", habit)
        .select(
            "user_id", "segment",
            F.when(seller, "sellers").otherwise("individuals").alias("segment_name"),
            F.when(bucket < share, "control").otherwise("treatment").alias("ab_group"),
            bucket.alias("ab_bucket"), "first_login_dt",
            F.coalesce("week_year", F.weekofyear("first_login_dt")).alias("week_year"),
            F.when(F.col("return") == 0, 1).otherwise(0).alias("drop"),
            F.col("activacion_dt").isNotNull().cast("int").alias("activation"),
            F.col("setup_dt").isNotNull().cast("int").alias("setup"),
            "habit",
            F.coalesce("habito", F.lit(0)).alias("habit_source"),
            F.datediff("activacion_dt", "first_login_dt").alias("days_to_activation"),
            F.datediff("setup_dt", "first_login_dt").alias("days_to_setup"),
            F.coalesce("transactions_in_window", F.lit(0)).alias("transactions_in_window"),
            n_collections.alias("collections_in_window"),
            F.map_filter(F.create_map(
                F.lit("registration"), "first_login_dt", F.lit("return"), "return_dt",
                F.lit("activation"), "activacion_dt", F.lit("setup"), "setup_dt",
                F.lit("habit"), F.when(F.col("habit") == 1, habit_day)),
                lambda k, v: v.isNotNull()).alias("milestones"),
            F.coalesce("transaction_types", F.array().cast("array<int>"))
            .alias("transaction_types")))
    metrics.write.mode("overwrite").parquet(str(out / "user_onboarding_metrics"))
    metrics = spark.read.parquet(str(out / "user_onboarding_metrics"))
    write_summaries(spark, metrics, out)


def write_summaries(spark, metrics, out: Path) -> None:
    """segment_summary, onboarding_funnel, weekly_cohorts and ab_test_results from the users."""
    from pyspark.sql import functions as F

    rates = [F.avg(m).alias(f"{m}_rate") for m in [*METRICS, "habit_source"]]
    summary = metrics.rollup("segment_name").agg(F.count(F.lit(1)).alias("users"), *rates)
    summary.fillna({"segment_name": "all"}).write.mode("overwrite").parquet(
        str(out / "segment_summary"))

    counts = (metrics.cube("segment_name", "ab_group")
              .agg(F.count(F.lit(1)).alias("registration"),
                   *[F.sum(m).alias(m) for m in ("activation", "setup", "habit")])
              .fillna({"segment_name": "all", "ab_group": "all"}).collect())
    by_key = {(r["segment_name"], r["ab_group"]): r for r in counts}
    stages = ["registration", "activation", "setup", "habit"]
    funnel = []
    for name in [*(SEGMENT_NAMES[s] for s in VARS["segments"]), "all"]:
        for group in ("control", "treatment", "all"):
            row = by_key.get((name, group))
            users = [int(row[s] or 0) if row else 0 for s in stages]
            for order, stage in enumerate(stages):
                previous = users[order - 1] if order else users[0]
                funnel.append((name, group, stage, order + 1, users[order],
                               users[order] / users[0] if users[0] else None,
                               users[order] / previous if previous else None))
    spark.createDataFrame(funnel, "segment_name string, ab_group string, stage string, "
                          "stage_order int, users bigint, rate_of_registered double, "
                          "rate_of_previous double").write.mode("overwrite").parquet(
        str(out / "onboarding_funnel"))

    week = F.min(F.date_trunc("week", "first_login_dt").cast("date")).alias("week_start")
    cohorts = (metrics.cube("week_year", "segment_name", "ab_group")
               .agg(week, F.count(F.lit(1)).alias("users"),
                    *[F.avg(m).alias(f"{m}_rate") for m in METRICS])
               .where(F.col("week_year").isNotNull())
               .fillna({"segment_name": "all", "ab_group": "all"}))
    cohorts.write.mode("overwrite").parquet(str(out / "weekly_cohorts"))

    sums = {(r["segment_name"], r["ab_group"]): r for r in metrics.cube("segment_name", "ab_group")
            .agg(F.count(F.lit(1)).alias("n"), *[F.sum(m).alias(m) for m in METRICS])
            .fillna({"segment_name": "all", "ab_group": "all"}).collect()}
    results = []
    for name in [*(SEGMENT_NAMES[s] for s in VARS["segments"]), "all"]:
        control, treatment = sums.get((name, "control")), sums.get((name, "treatment"))
        n_c, n_t = (int(control["n"]) if control else 0), (int(treatment["n"]) if treatment else 0)
        srm = srm_test(n_c, n_t)
        for metric in METRICS:
            x_c = int(control[metric]) if control else 0
            x_t = int(treatment[metric]) if treatment else 0
            results.append((metric, name, n_c, n_t, *z_test(x_c, n_c, x_t, n_t), *srm))
    spark.createDataFrame(results, "metric string, segment_name string, n_control bigint, "
                          "n_treatment bigint, rate_control double, rate_treatment double, "
                          "diff double, relative_lift double, z double, p_value double, "
                          "ci_low double, ci_high double, significant boolean, srm_chi2 double, "
                          "srm_p_value double, srm_detected boolean").write.mode(
        "overwrite").parquet(str(out / "ab_test_results"))


def parsed(spark, raw_dir: Path, table: str):
    """A CSV read as strings, typed; rows with a malformed record, a bad user id or a value that
    does not parse are dropped. One projection parses every value once, next to its text."""
    from pyspark.sql import functions as F

    columns, types = COLUMNS[table], TYPES[table]
    schema = ", ".join(f"`{c}` string" for c in [*columns, "_corrupt_record"])
    df = (spark.read.schema(schema).option("header", True).option("mode", "PERMISSIVE")
          .option("escape", '"').option("multiLine", table == "dim_users")
          .csv(str(raw_dir / f"{table}.csv")))
    texts = df.select("_corrupt_record", *[
        _text(F.col(c)).alias(c) if c in types or c == "user_id" else F.col(c) for c in columns])
    typed = texts.select("*", *[_parse(F.col(c), kind).alias(f"_typed_{c}")
                                for c, kind in types.items()])
    keep = F.col("_corrupt_record").isNull() & F.coalesce(
        F.col("user_id").rlike(VARS["user_id_pattern"]), F.lit(False))
    for column in types:
        keep = keep & (F.col(column).isNull() | F.col(f"_typed_{column}").isNotNull())
    return typed.where(keep).select(*[
        F.col(f"_typed_{c}").alias(c) if c in types else F.col(c) for c in columns])


def _nth(array: str, n: int):
    """The day the n-th one was reached (a threshold of 0: at the first login)."""
    from pyspark.sql import functions as F

    return F.element_at(array, n) if n > 0 else F.col("first_login_dt")


def _text(col):
    from pyspark.sql import functions as F

    trimmed = F.trim(col)
    return F.when(trimmed != "", trimmed)


def _parse(text, kind: str):
    from pyspark.sql import functions as F

    if kind == "date":
        valid = text.rlike(r"^\d{4}-\d{2}-\d{2}( 00:00:00)?$")
        return F.when(valid, F.to_date(F.substring(text, 1, 10), "yyyy-MM-dd"))
    if kind == "flag":
        return F.when(text.rlike(r"^[01](\.0*)?$"), F.substring(text, 1, 1).cast("int"))
    if kind == "int":
        number = F.regexp_extract(text, r"^([+-]?\d+)(\.0*)?$", 1).cast("decimal(38,0)")
        fits = number.between(-(2**31), 2**31 - 1)
        return F.when(text.rlike(r"^([+-]?\d+)(\.0*)?$") & fits, number.cast("int"))
    clock = F.regexp_extract(text, TS, 2)
    stamp = F.concat(F.regexp_extract(text, TS, 1), F.lit(" "),
                     F.when(clock == "", "00:00:00").otherwise(clock), F.lit("."),
                     F.rpad(F.substring(F.regexp_extract(text, TS, 3), 1, 6), 6, "0"))
    return F.when(text.rlike(TS), F.to_timestamp(stamp, "yyyy-MM-dd HH:mm:ss.SSSSSS"))


def z_test(x_c: int, n_c: int, x_t: int, n_t: int) -> tuple:
    """Rates, diff, lift, pooled z, two-sided p, unpooled 95% CI, significance."""
    if not n_c or not n_t:
        return (x_c / n_c if n_c else None, x_t / n_t if n_t else None, *([None] * 7))
    rate_c, rate_t = x_c / n_c, x_t / n_t
    diff = rate_t - rate_c
    pooled = (x_c + x_t) / (n_c + n_t)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    z = diff / se if se > 0 else None
    p = math.erfc(abs(z) / math.sqrt(2)) if z is not None else None
    se_diff = math.sqrt(rate_c * (1 - rate_c) / n_c + rate_t * (1 - rate_t) / n_t)
    return (rate_c, rate_t, diff, diff / rate_c if rate_c else None, z, p,
            diff - 1.959963984540054 * se_diff, diff + 1.959963984540054 * se_diff,
            p < VARS["alpha"] if p is not None else None)


def srm_test(n_c: int, n_t: int) -> tuple:
    """Chi-square (1 d.f.) of the group sizes against the planned control share."""
    n, share = n_c + n_t, VARS["control_share"]
    if n * share <= 0 or n * (1 - share) <= 0:
        return (None, None, None)
    chi2 = (n_c - n * share) ** 2 / (n * share) + (n_t - n * (1 - share)) ** 2 / (n * (1 - share))
    p = math.erfc(math.sqrt(chi2 / 2))
    return (chi2, p, p < VARS["srm_alpha"])


if __name__ == "__main__":
    main()
