"""Cluster scale: the local Spark standalone cluster against `local[*]`, and Cassandra writes to
a 3-node ring against one node. `bench/run.py --cluster` calls `main`.

    .venv/bin/python bench/run.py --cluster [--sizes 100x,heavy] [--write-size 100x]

A scratch copy of the project (.runner/bench/cluster) gets its own targets: `cluster` (master
and 2 workers, each worker 1 core and 2.5 GB, executors of 2 GB; a ring of 127.0.0.1-3 on port
9742, RF 3, LOCAL_QUORUM), `cluster_spark` (the same master, Parquet marts only),
`local_spark` (`local[*]`, Parquet marts only), `ring` (`local[*]` writing to the ring) and
`one_node` (`local[*]` writing to one node on 127.0.0.1:9743, RF 1). Each run is `runner run`
in a process of its own (no tests: the transform and the writes). Transforms: `cluster_spark`
and `local_spark` interleaved on each size. Writes: `--full-refresh` runs of `ring` and
`one_node` (every row written into new tables); rows per second of the largest mart from its
`cassandra` timing in run_results.json. Everything is stopped at the end by PID file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import SIZES, ensure_dataset
from procstats import run_sampled
from projects import BENCH_NAME, prepare_project

RUNNER = Path(sys.executable).with_name("runner")
JAVA17 = "/usr/lib/jvm/java-17-openjdk-amd64"
LARGEST_MART = "user_onboarding_metrics"
MASTER_PORT, UI_PORT, RING_PORT, NODE_PORT = 7377, 8880, 9742, 9743
HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
RING = {"class": "NetworkTopologyStrategy", "datacenter1": 3}


def log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S}  {message}", flush=True)


def _env() -> dict[str, str]:
    env = {**os.environ, "RUNNER_ENGINE": "process", "NO_COLOR": "1", "COLUMNS": "200"}
    if Path(JAVA17).exists():
        env["JAVA_HOME"] = JAVA17
    return env


def profiles() -> dict[str, Any]:
    """The scratch project's targets (see the module docstring)."""
    master = f"spark://127.0.0.1:{MASTER_PORT}"
    spark_cluster = {
        "master": master, "managed": True, "ui_port": UI_PORT, "driver_memory": "1g",
        "workers": [{"cores": 1, "memory": "2560m"}, {"cores": 1, "memory": "2560m"}],
        "conf": {"spark.executor.memory": "2g"},
    }
    ring = {"hosts": HOSTS, "port": RING_PORT, "keyspace": f"{BENCH_NAME}_ring",
            "replication": RING, "local_dc": "datacenter1", "consistency": "LOCAL_QUORUM",
            "managed": True}
    one = {"hosts": ["127.0.0.1"], "port": NODE_PORT, "keyspace": f"{BENCH_NAME}_one",
           "managed": True}
    local = {"master": "local[*]"}
    outputs = {
        "cluster": {"threads": 2, "spark": spark_cluster, "cassandra": ring},
        "cluster_spark": {"threads": 2, "spark": {**spark_cluster, "managed": False}},
        "local_spark": {"spark": local},
        "ring": {"spark": local, "cassandra": {**ring, "managed": False}},
        "one_node": {"spark": local, "cassandra": one},
    }
    return {"fintech_onboarding": {"target": "local_spark", "outputs": outputs}}


def runner(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(RUNNER), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        env=_env(), capture_output=True, text=True, check=False, timeout=3600,
    )
    if check and done.returncode != 0:
        raise SystemExit(f"runner {' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr}")
    return done


def run_once(project: Path, data: Path, target: str, *extra: str) -> dict[str, Any]:
    """`runner run -t TARGET`: wall time, JVM peak RSS and CPU, the largest mart's write."""
    args = [str(RUNNER), "run", "--project-dir", str(project), "--profiles-dir", str(project),
            "-t", target, "--vars", json.dumps({"raw_dir": str(data)}), *extra]
    load = round(os.getloadavg()[0], 1)
    done, stats, wall = run_sampled(args, cwd=project, env=_env())
    if done.returncode != 0:
        raise SystemExit(f"runner run -t {target} failed:\n{done.stdout[-3000:]}")
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    out: dict[str, Any] = {"wall_s": round(wall, 1), "memory": stats.as_dict(), "load_1min": load}
    for r in results:
        if r["unique_id"].endswith(f".{LARGEST_MART}") and r["timing"].get("cassandra"):
            seconds, rows = r["timing"]["cassandra"], r["rows_affected"]
            out |= {"write_s": round(seconds, 1), "rows": rows,
                    "rows_per_s": round(rows / seconds) if seconds else None}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100x,heavy", help=f"transforms: {','.join(SIZES)}")
    parser.add_argument("--write-size", default="100x", help="size of the write comparison")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [s for s in args.sizes.split(",") if s]
    for size in [*sizes, args.write_size]:
        if size not in SIZES:
            parser.error(f"unknown size {size!r}; use {', '.join(SIZES)}")
    out = args.out or ROOT / "bench" / "results" / f"cluster-{datetime.now():%Y%m%d-%H%M%S}.json"
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
                              "transform": {}, "writes": {}}

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))

    project = ROOT / ".runner" / "bench" / "cluster"
    if project.exists():
        runner(project, "down", check=False)
        shutil.rmtree(project)
    prepare_project(ROOT, project)
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles(), sort_keys=False))
    data = {s: ensure_dataset(SIZES[s], ROOT / ".runner" / "bench-data", log)[0]
            for s in dict.fromkeys([*sizes, args.write_size])}
    try:
        began = time.monotonic()
        runner(project, "up", "-t", "cluster")
        runner(project, "up", "-t", "one_node")
        report["services_up_s"] = round(time.monotonic() - began, 1)
        log(f"cluster, ring and single node up in {report['services_up_s']}s")
        for size in sizes:
            runs: dict[str, list[dict[str, Any]]] = {"cluster_spark": [], "local_spark": []}
            for _ in range(args.repeat):
                for target in runs:
                    runs[target].append(run_once(project, data[size], target))
                    log(f"{size} transform on {target}: {runs[target][-1]['wall_s']}s")
            report["transform"][size] = runs
            save()
        size = args.write_size
        writes: dict[str, list[dict[str, Any]]] = {"ring": [], "one_node": []}
        for _ in range(args.repeat):
            for target in writes:
                writes[target].append(run_once(project, data[size], target, "--full-refresh"))
                w = writes[target][-1]
                log(
                    f"{size} writes to {target}: {w.get('rows')} rows in {w.get('write_s')}s "
                    f"({w.get('rows_per_s')} rows/s)"
                )
        report["writes"][size] = writes
    finally:
        runner(project, "down", check=False)
        report["finished_at"] = datetime.now(UTC).isoformat()
        save()
    print_summary(report)
    log(f"figures written to {out}")
    return 0


def print_summary(report: dict[str, Any]) -> None:
    for size, runs in report["transform"].items():
        walls = {t: min(r["wall_s"] for r in rs) for t, rs in runs.items() if rs}
        if len(walls) == 2:
            ratio = walls["cluster_spark"] / walls["local_spark"]
            print(
                f"{size}: cluster {walls['cluster_spark']}s, local[*] {walls['local_spark']}s "
                f"(cluster / local = {ratio:.2f})"
            )
    for size, runs in report["writes"].items():
        for target, rs in runs.items():
            best = max((r.get("rows_per_s") or 0 for r in rs), default=0)
            print(f"{size} {LARGEST_MART} to {target}: {best} rows/s")


if __name__ == "__main__":
    raise SystemExit(main())
