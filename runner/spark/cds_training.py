"""The training job of the class-data-sharing archive (`runner.spark.class_archive`).

Run as `python -m runner.spark.cds_training ARCHIVE`: its JVM dumps the classes it loaded into
ARCHIVE when it exits.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from runner.config import SparkTarget
from runner.spark.session import create_session


def _train(archive: Path) -> None:
    """Run queries that load what builds load (CSV, SQL functions, windows, joins, Parquet)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv = work / "raw.csv"
        csv.write_text("id,user_id,day,amount\n" + "".join(
            f'{i},MLB{i % 97},2022-01-{1 + i % 28:02d},"{i * 1.5}"\n' for i in range(2000)))
        spark = create_session(SparkTarget(master="local[2]"), work / "warehouse", {
            "spark.driver.extraJavaOptions": f"-XX:ArchiveClassesAtExit={archive}"})
        gateway = spark.sparkContext._gateway
        assert gateway is not None
        spark.read.option("header", True).option("multiLine", True).csv(str(csv)) \
            .createOrReplaceTempView("raw")
        spark.sql("""
            with parsed as (
                select user_id, try_cast(day as date) as day, cast(amount as double) as amount,
                       map_filter(map('a', user_id, 'b', day), (k, v) -> v is not null) as raw,
                       sha2(to_json(named_struct('u', user_id)), 256) as fp
                from raw where user_id rlike '^MLB[0-9]+$'
            ),
            ranked as (
                select *, row_number() over (partition by user_id order by day) as n,
                       count(1) over (partition by user_id) as c
                from parsed
            )
            select r.user_id, count(distinct r.day) as days, sum(r.amount) as amount,
                   array_sort(collect_set(r.n)) as ns, max(size(r.raw)) as m, min(r.fp) as fp
            from ranked as r left join (select distinct user_id from parsed) as u
                on r.user_id = u.user_id
            group by grouping sets ((r.user_id), ())
        """).write.parquet(str(work / "out"))
        spark.read.parquet(str(work / "out")).count()
        spark.stop()
        process = gateway.proc  # the archive is written when the JVM exits: wait for it
        gateway.shutdown()
        if process.stdin is not None:
            process.stdin.close()
        if process.wait(timeout=300) != 0:
            raise SystemExit(f"the training JVM exited with {process.returncode}")


if __name__ == "__main__":
    _train(Path(sys.argv[1]))
