"""The floor: import PySpark, start a session with the runner's settings, run one query, stop.

Prints one JSON line with the seconds of each step. Run by bench/run.py in its own process.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

started = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyspark.sql  # noqa: F401

from runner.config import SparkTarget
from runner.spark.session import create_session

steps: dict[str, float] = {"import": time.perf_counter() - started}
t0 = time.perf_counter()
with tempfile.TemporaryDirectory() as warehouse:
    spark = create_session(SparkTarget(), Path(warehouse), {})
    steps["session"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    assert spark.sql("select 1 as one").collect()[0]["one"] == 1
    steps["query"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    spark.stop()
    steps["stop"] = time.perf_counter() - t0
print(json.dumps(steps))
