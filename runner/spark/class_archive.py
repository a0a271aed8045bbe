"""A class-data-sharing archive of the classes Spark loads, so its JVM starts about twice as fast.

A JVM started with `-XX:SharedArchiveFile` maps the classes from the archive instead of finding,
reading and verifying each one in the jars. Measured on 2 cores: session start plus a first
query takes 3 s instead of 6 s, and a build of the original data 2 s less. `runner setup` writes
the archive once, from a short training job, into `.runner/spark-cds/`; its name holds a digest
of the Java and PySpark jars it was made with, so a new Java or PySpark simply has none yet.
Builds use it when it is there and start as before when it is not.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ARCHIVE_DIR = Path(".runner") / "spark-cds"
# An archive that does not fit the JVM is skipped; say nothing about it on the console.
QUIET = "-Xlog:cds=off,cds+dynamic=off"


def archive_path(project_dir: Path) -> Path:
    """Where the archive for this Java and PySpark lives (it may not exist)."""
    import pyspark

    from runner.spark.session import ensure_java_home

    ensure_java_home()
    java = Path(os.environ.get("JAVA_HOME", "")) / "bin" / "java"
    jars = Path(pyspark.__file__).parent / "jars"
    digest = hashlib.sha256()
    for item in [str(java.resolve()), pyspark.__version__,
                 *(f"{j.name}:{j.stat().st_size}" for j in sorted(jars.glob("*.jar")))]:
        digest.update(item.encode() + b"\n")
    return project_dir.resolve() / ARCHIVE_DIR / f"spark-{digest.hexdigest()[:16]}.jsa"


def java_options(project_dir: Path) -> list[str]:
    """The JVM options that use the archive, or none when there is no archive yet."""
    path = archive_path(project_dir)
    return [f"-XX:SharedArchiveFile={path}", QUIET] if path.is_file() else []


def ensure_archive(project_dir: Path) -> Path:
    """Write the archive if it is missing: a training job in its own JVM dumps it at exit.

    The file is written under a temporary name and renamed only after that JVM exited cleanly:
    a JVM crashes on a truncated archive.

    Returns:
        The archive.
    """
    path = archive_path(project_dir)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        subprocess.run([sys.executable, "-m", "runner.spark.class_archive", str(partial)],
                       check=True, capture_output=True, timeout=600)
        if not partial.is_file() or partial.stat().st_size == 0:
            raise RuntimeError(f"the training JVM wrote no archive to {partial}")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def _train(archive: Path) -> None:
    """Run queries that load what builds load (CSV, SQL functions, windows, joins, Parquet)."""
    from runner.config import SparkTarget
    from runner.spark.session import create_session

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv = work / "raw.csv"
        csv.write_text("id,user_id,day,amount\n" + "".join(
            f'{i},MLB{i % 97},2022-01-{1 + i % 28:02d},"{i * 1.5}"\n' for i in range(2000)))
        spark = create_session(SparkTarget(master="local[2]"), work / "warehouse", {
            "spark.driver.extraJavaOptions": f"-XX:ArchiveClassesAtExit={archive}"})
        gateway = spark.sparkContext._gateway
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
