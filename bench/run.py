"""Benchmark `runner build`: wall time per phase and peak memory at 1x, 10x, 100x and heavy data.

    .venv/bin/python bench/run.py [--sizes 1x,10x,100x,heavy] [--repeat 3] [--transform-only]
                                  [--out bench/results/<name>.json]
    .venv/bin/python bench/run.py --cluster [--sizes 100x,heavy]   # see bench/cluster.py

Each size is generated once with the project's generator (cached in .runner/bench-data/), then
`runner build` runs as a subprocess in a scratch copy of the project (.runner/bench/project), so
the figures include everything an analyst waits for. The figures come from the run's
target/run_results.json (phases and per-node timing), the process tree sampled from /proc
(peak RSS of the Python process and of the JVM), and the output (Superset sync time). See
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import SIZES, ensure_dataset, original_dataset
from procstats import run_sampled
from projects import prepare_project, write_many_models

RUNNER = Path(sys.executable).with_name("runner")
JAVA17 = "/usr/lib/jvm/java-17-openjdk-amd64"
SUPERSET_SYNC = re.compile(
    r"Superset(?: synced|: dashboards unchanged, \d+ datasets marked changed) in ([\d.]+)s")
LARGEST_MART = "user_onboarding_metrics"


def log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S}  {message}", flush=True)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["RUNNER_ENGINE"] = "process"  # every build starts cold (bench/compare.py measures warm)
    if Path(JAVA17).exists():
        env["JAVA_HOME"] = JAVA17
    return env


def build_once(
    project: Path, data_dir: Path, target: str, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """One `runner build` in `project`: per-phase seconds, memory and rows."""
    load_before = load_average()
    launched = datetime.now(UTC)
    args = [str(RUNNER), "build", "--project-dir", str(project), "--profiles-dir", str(project),
            "--target", target, "--vars", json.dumps({"raw_dir": str(data_dir)}), *extra]
    done, stats, wall = run_sampled(args, cwd=project, env=_env())
    if done.returncode != 0:
        tail = "\n".join(done.stdout.splitlines()[-30:])
        raise SystemExit(f"runner build failed (exit {done.returncode}):\n{tail}")
    results = json.loads((project / "target" / "run_results.json").read_text())
    started = datetime.fromisoformat(results["started_at"])
    # The phases follow each other and add up to the wall time; the nodes below overlap, as
    # models and tests run several at once.
    phases: dict[str, float] = {"startup": (started - launched).total_seconds()}
    phases |= {k: v for k, v in results["phases"].items() if k != "models"}
    phases["models and tests"] = results["phases"].get("models", 0.0)
    sync = SUPERSET_SYNC.search(done.stdout)
    if sync:
        phases["superset sync"] = float(sync.group(1))
    phases["other (exit, artifacts, service checks)"] = wall - sum(phases.values())
    phases["wall"] = wall
    rows: dict[str, int | None] = {}
    nodes: dict[str, float] = {"tests (sum)": 0.0, "cassandra writes (sum)": 0.0}
    for r in results["results"]:
        name = r["unique_id"].split(".", 1)[1]
        if r["resource_type"] == "test":
            nodes["tests (sum)"] += r["execution_time"]
            continue
        spent = r["timing"].get("cassandra")
        nodes[f"model {name}"] = r["execution_time"] - (spent or 0.0)
        if spent is not None:
            nodes[f"cassandra {name}"] = spent
            nodes["cassandra writes (sum)"] += spent
        rows[name] = r["rows_affected"]
    run = {"phases": phases, "nodes": nodes, "memory": stats.as_dict(), "rows": rows,
           "load_1min": [load_before, load_average()]}
    uom = nodes.get(f"cassandra {LARGEST_MART}")
    if uom and rows.get(LARGEST_MART):
        run["cassandra_rows_per_s"] = rows[LARGEST_MART] / uom
    return run


def chart_latencies(project: Path, rounds: int) -> dict[str, Any]:
    """Query every chart of the bench dashboard `rounds` times; p50/p95 seconds."""
    import yaml

    from runner.config import load_project_config, load_target
    from runner.local import superset_server
    from runner.superset.client import SupersetClient

    config = load_project_config(project)
    target = load_target(project, config.profile or config.name, "bench", project)
    if target.superset is None:
        return {}
    login = superset_server.admin_login(project, target.superset)[0]
    client = SupersetClient(target.superset.url, *login)
    slug = yaml.safe_load((project / "dashboards" / "onboarding.yml").read_text())["slug"]
    charts = client.dashboard_charts(slug)
    seconds: list[float] = []
    for _ in range(rounds):
        for chart_id in charts.values():
            began = time.perf_counter()
            client.chart_data(chart_id)
            seconds.append(time.perf_counter() - began)
    seconds.sort()
    return {"charts": len(charts), "queries": len(seconds),
            "p50_s": statistics.median(seconds),
            "p95_s": seconds[max(0, round(len(seconds) * 0.95) - 1)]}


def null_job(repeat: int) -> list[dict[str, Any]]:
    runs = []
    for _ in range(repeat):
        done, stats, wall = run_sampled([sys.executable, str(Path(__file__).with_name(
            "null_job.py"))], env=_env())
        if done.returncode != 0:
            raise SystemExit(f"null Spark job failed:\n{done.stdout[-2000:]}")
        steps = json.loads(done.stdout.strip().splitlines()[-1])
        runs.append({"phases": {**steps, "wall": wall}, "memory": stats.as_dict(),
                     "load_1min": [load_average()]})
    return runs


def compile_and_ls(folder: Path, repeat: int) -> dict[str, list[dict[str, Any]]]:
    """`runner compile` and `runner ls` on the generated 500-model project; JVM must not start."""
    write_many_models(folder)
    out: dict[str, list[dict[str, Any]]] = {"compile": [], "ls": []}
    for _ in range(repeat):
        for command, runs in out.items():
            done, stats, wall = run_sampled(
                [str(RUNNER), command, "--project-dir", str(folder), "--profiles-dir",
                 str(folder)], cwd=folder, env=_env(), interval=0.05)
            if done.returncode != 0:
                raise SystemExit(f"runner {command} failed:\n{done.stdout[-2000:]}")
            runs.append({"phases": {"wall": wall}, "memory": stats.as_dict(),
                                 "load_1min": [load_average()]})
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """median, min and max of every figure across runs."""
    def stat(values: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
                "max": round(max(values), 3)}

    phases = {k: stat([r["phases"].get(k, 0.0) for r in runs]) for k in runs[0]["phases"]}
    nodes = {k: stat([r["nodes"].get(k, 0.0) for r in runs]) for k in runs[0].get("nodes", {})}
    memory = {k: stat([float(r["memory"][k]) for r in runs])
              for k in runs[0]["memory"] if k != "jvm_started"}
    out = {"phases": phases, "nodes": nodes, "memory": memory,
           "jvm_started": any(r["memory"]["jvm_started"] for r in runs),
           "load_1min": stat([x for r in runs for x in r["load_1min"]])}
    rates = [r["cassandra_rows_per_s"] for r in runs if "cassandra_rows_per_s" in r]
    if rates:
        out["cassandra_rows_per_s"] = stat(rates)
    return out


def _cell(s: dict[str, float], unit: str = "s") -> str:
    return f"{s['median']:.2f}{unit} ({s['min']:.2f}–{s['max']:.2f})"


def _rows(label: str, cells: list[str], width: int) -> None:
    print(f"{label:<{width}}" + "".join(f"{c:>28}" for c in cells))


def print_table(title: str, summaries: dict[str, dict[str, Any]]) -> None:
    """Phases (they add up to the wall time), then nodes (they overlap), memory and load."""
    names, values = list(summaries), list(summaries.values())
    width = 40
    print(f"\n{title}: median (min–max)")
    _rows("", names, width)
    for part in ("phases", "nodes"):
        keys: list[str] = []
        for s in values:
            keys += [k for k in s.get(part, {}) if k not in keys]
        if part == "nodes" and keys:
            print("  nodes (run several at once, so they overlap):")
        for key in keys:
            _rows(key, [_cell(s[part][key]) if key in s.get(part, {}) else "" for s in values],
                  width)
    for key, label in [("python_peak_mib", "python peak RSS (MiB)"),
                       ("jvm_peak_mib", "JVM peak RSS (MiB)"), ("jvm_cpu_s", "JVM CPU (s)")]:
        _rows(label, [_cell(s["memory"][key], "") for s in values], width)
    _rows("JVM started", ["yes" if s["jvm_started"] else "no" for s in values], width)
    _rows("load average (1 min)", [_cell(s["load_1min"], "") for s in values], width)
    for s, n in zip(values, names, strict=True):
        if "cassandra_rows_per_s" in s:
            r = s["cassandra_rows_per_s"]
            print(f"  {n}: Cassandra {LARGEST_MART}: {r['median']:,.0f} rows/s "
                  f"({r['min']:,.0f}–{r['max']:,.0f})")
        if s.get("charts"):
            c = s["charts"]
            print(f"  {n}: chart queries ({c['charts']} charts x "
                  f"{c['queries'] // max(1, c['charts'])}): p50 {c['p50_s']:.3f}s, "
                  f"p95 {c['p95_s']:.3f}s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--cluster" in argv:  # the cluster-scale comparison: bench/cluster.py
        import cluster

        return cluster.main([a for a in argv if a != "--cluster"])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1x,10x,100x,heavy",
                        help=f"comma-separated: original,{','.join(SIZES)}")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per size")
    parser.add_argument("--warmup", type=int, default=1,
                        help="unmeasured runs per size first (page cache, tables, services)")
    parser.add_argument("--transform-only", action="store_true",
                        help="target spark_only: Parquet marts, no Cassandra or Superset")
    parser.add_argument("--chart-rounds", type=int, default=3,
                        help="times each dashboard chart is queried after a size's builds")
    parser.add_argument("--skip", default="",
                        help="comma-separated parts to leave out: null,compile,build")
    parser.add_argument("--keep-services", action="store_true",
                        help="leave the bench's own Cassandra, Thrift server and Superset running")
    parser.add_argument("--no-full-write", dest="full_write", action="store_false",
                        help="leave out the extra --full-refresh build per size (all Cassandra "
                        "rows written)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        if size not in SIZES and size != "original":
            parser.error(f"unknown size {size!r}; use original or {', '.join(SIZES)}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "bench" / "results" / f"bench-{stamp}.json"
    target = "spark_only" if args.transform_only else "bench"
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                     / 2**30, 1), "load_1min_at_start": load_average()},
        "args": {"sizes": sizes, "repeat": args.repeat, "warmup": args.warmup, "target": target},
        "sizes": {},
    }
    log(f"load average {os.getloadavg()} on {os.cpu_count()} CPUs; results go to {out}")

    if "null" not in skip:
        log("null Spark job (import, session, one query, stop)")
        runs = null_job(args.repeat)
        report["null_spark_job"] = {"runs": runs, "summary": summarize(runs)}
        print_table("Null Spark job", {"floor": report["null_spark_job"]["summary"]})
    if "compile" not in skip:
        log("runner compile / runner ls on a generated 500-model project")
        both = compile_and_ls(ROOT / ".runner" / "bench" / "many_models", args.repeat)
        report["many_models"] = {k: {"runs": v, "summary": summarize(v)} for k, v in both.items()}
        print_table("500 models", {k: v["summary"] for k, v in report["many_models"].items()})

    if "build" not in skip:
        from runner.spark.class_archive import ensure_archive

        log(f"Spark class archive: {ensure_archive(ROOT)}")  # what `runner setup` leaves
        project = prepare_project(ROOT, ROOT / ".runner" / "bench" / "project")
        summaries: dict[str, dict[str, Any]] = {}
        try:
            if target == "bench":
                log("starting the bench's own Cassandra, Thrift server and Superset")
                _runner(project, "up", "--target", target)
            summaries = _build_sizes(args, sizes, project, target, report, out)
        finally:
            if target == "bench" and not args.keep_services:
                _runner(project, "down")
        if summaries:
            print_table(f"runner build --target {target}", summaries)
    report["finished_at"] = datetime.now(UTC).isoformat()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    log(f"figures written to {out}")
    return 0


def _runner(project: Path, *args: str) -> None:
    done = subprocess.run([str(RUNNER), *args, "--project-dir", str(project), "--profiles-dir",
                           str(project)], env=_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"runner {args[0]} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _build_sizes(
    args: argparse.Namespace, sizes: list[str], project: Path, target: str,
    report: dict[str, Any], out: Path,
) -> dict[str, dict[str, Any]]:
    """Build each size warm-up + repeat times; returns the summaries by size."""
    summaries: dict[str, dict[str, Any]] = {}
    for size in sizes:
        found = (original_dataset(ROOT) if size == "original"
                 else ensure_dataset(SIZES[size], ROOT / ".runner" / "bench-data", log))
        if found is None:
            log("no original data (../shared/data/original): skipped")
            continue
        data_dir, input_rows = found
        runs = []
        for i in range(args.warmup + args.repeat):
            measured = i >= args.warmup
            log(f"{size}: runner build --target {target} "
                f"({'run ' + str(i - args.warmup + 1) if measured else 'warm-up'})")
            run = build_once(project, data_dir, target)
            log(f"  {run['phases']['wall']:.1f}s wall, JVM CPU {run['memory']['jvm_cpu_s']}s, "
                f"load {run['load_1min']}")
            if measured:
                runs.append(run)
        summary = summarize(runs)
        if target == "bench" and args.chart_rounds:
            summary["charts"] = chart_latencies(project, args.chart_rounds)
        summaries[size] = summary
        report["sizes"][size] = {"input_rows": input_rows, "runs": runs, "summary": summary}
        if target == "bench" and args.full_write:
            # Rebuilds of the same data send no Cassandra row (only changes are sent): one more
            # build with --full-refresh measures writing every row.
            log(f"{size}: runner build --target {target} --full-refresh (full write)")
            run = build_once(project, data_dir, target, ("--full-refresh",))
            log(f"  {run['phases']['wall']:.1f}s wall, JVM CPU {run['memory']['jvm_cpu_s']}s")
            summaries[f"{size} full write"] = summarize([run])
            report["sizes"][size]["full_write"] = {"runs": [run],
                                                   "summary": summaries[f"{size} full write"]}
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2))
    return summaries


if __name__ == "__main__":
    raise SystemExit(main())
