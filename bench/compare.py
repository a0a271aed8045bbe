"""The runner beside the in-repo baseline (`bench/baseline_job.py`), in one run, as ratios; then
the everyday loop on the warm engine and an incremental day.

    .venv/bin/python bench/compare.py [--sizes original,1x,10x] [--repeat 2]
                                      [--parts compare,loop,incremental] [--out FILE]

compare: per size, interleaved, `--repeat` times each: the baseline job, `runner run` and
    `runner build` (all data tests), all with `-t spark_only` in a process of their own
    (RUNNER_ENGINE=process), wall time of the whole process and JVM peak RSS; medians and the
    ratios runner/baseline. Once per size, the baseline's marts are checked against the
    runner's (every shared column; floats to 1e-9).
loop: the warm engine on the original data (`runner engine start -t spark_only`, or with
    `--loop-target bench` the bench project's own Cassandra, Superset and Redis, the dashboard
    opened once in Chromium), a full `runner build` in it, then `--loop-rounds` times: edit
    segment_summary.sql and `runner build -s segment_summary` (upstream reused), and a full
    warm `runner build`.
incremental: tests/fixtures/incremental with `--incremental-days` days of generated
    transactions, a full build, then one new day appended, each in a process of its own.
Figures go to bench/results/compare-<time>.json; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from datasets import SIZES, ensure_dataset, original_dataset
from procstats import run_sampled
from projects import prepare_project

PYTHON = sys.executable
JAVA17 = "/usr/lib/jvm/java-17-openjdk-amd64"
MARTS = ["user_onboarding_metrics", "segment_summary", "onboarding_funnel", "ab_test_results",
         "weekly_cohorts"]
KEYS = {"user_onboarding_metrics": ["user_id"], "segment_summary": ["segment_name"],
        "onboarding_funnel": ["segment_name", "ab_group", "stage"],
        "ab_test_results": ["metric", "segment_name"],
        "weekly_cohorts": ["week_year", "segment_name", "ab_group"]}


def log(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S}  {message}", flush=True)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RUNNER_ENGINE", "CI")}
    if Path(JAVA17).exists():
        env["JAVA_HOME"] = JAVA17
    return {**env, **extra}


def runner(project: Path, *args: str, engine: str = "process") -> tuple[float, dict, str]:
    """`runner ARGS` in `project` as a user types it; wall seconds, process stats, output."""
    cmd = [PYTHON, "-m", "runner.engine.client", *args, "--project-dir", str(project),
           "--profiles-dir", str(project)]
    done, stats, wall = run_sampled(cmd, cwd=project, env=_env(RUNNER_ENGINE=engine))
    if done.returncode != 0:
        raise SystemExit(f"runner {' '.join(args)} failed (exit {done.returncode}):\n"
                         f"{done.stdout[-3000:]}")
    return wall, stats.as_dict(), done.stdout


def baseline(data: Path, out: Path) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    done, stats, wall = run_sampled(
        [PYTHON, str(Path(__file__).with_name("baseline_job.py")), "--raw-dir", str(data),
         "--out", str(out)], env=_env())
    if done.returncode != 0:
        raise SystemExit(f"baseline job failed:\n{done.stdout[-3000:]}")
    return wall, stats.as_dict()


def compare_marts(baseline_dir: Path, runner_dir: Path) -> dict[str, str]:
    """Every shared column of each mart, rows matched by key: 'equal' or what differs."""
    import pandas as pd

    verdicts = {}
    for mart in MARTS:
        a = pd.read_parquet(baseline_dir / mart)
        b = pd.read_parquet(runner_dir / mart)
        shared = [c for c in a.columns if c in b.columns]
        keys = KEYS[mart]
        a = a[shared].sort_values(keys).reset_index(drop=True)
        b = b[shared].sort_values(keys).reset_index(drop=True)
        if len(a) != len(b):
            verdicts[mart] = f"rows differ: baseline {len(a)}, runner {len(b)}"
            continue
        bad = []
        for column in shared:
            x, y = a[column], b[column]
            if x.dtype.kind == "f" or y.dtype.kind == "f":
                same = ((x.astype(float) - y.astype(float)).abs().fillna(0) <= 1e-9) & (
                    x.isna() == y.isna())
            else:  # element by element: pandas compares None == None as False
                same = pd.Series([u == v for u, v in zip(x.map(_plain), y.map(_plain),
                                                          strict=True)])
            if not same.all():
                bad.append(f"{column} ({int((~same).sum())} rows)")
        verdicts[mart] = "equal" if not bad else "differ: " + ", ".join(bad)
    return verdicts


def _plain(value: Any) -> Any:
    """Comparable form of a Parquet value (arrays, maps and NULLs as plain Python)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "tolist"):
        return repr(value.tolist())
    if isinstance(value, list):
        return repr(sorted(value) if value and isinstance(value[0], tuple) else value)
    return value


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def compare_size(size: str, data: Path, project: Path, repeat: int) -> dict[str, Any]:
    out = project / "target" / "baseline"
    vars_ = json.dumps({"raw_dir": str(data)})
    walls: dict[str, list[float]] = {"baseline": [], "runner run": [], "runner build": []}
    peaks: dict[str, list[float]] = {k: [] for k in walls}
    for i in range(repeat):
        log(f"{size}: round {i + 1} of {repeat} (load {os.getloadavg()[0]:.1f})")
        wall, stats = baseline(data, out)
        walls["baseline"].append(wall)
        peaks["baseline"].append(stats["jvm_peak_mib"])
        for command in ("run", "build"):
            wall, stats, _ = runner(project, command, "-t", "spark_only", "--vars", vars_)
            walls[f"runner {command}"].append(wall)
            peaks[f"runner {command}"].append(stats["jvm_peak_mib"])
        log("  " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in walls.items()))
    base = median(walls["baseline"])
    return {
        "wall_s": {k: median(v) for k, v in walls.items()},
        "runs_s": walls,
        "jvm_peak_mib": {k: median(v) for k, v in peaks.items()},
        "ratio_to_baseline": {k: round(median(v) / base, 2) for k, v in walls.items()},
        "marts": compare_marts(out, project / "target" / "marts"),
        "load_1min": round(os.getloadavg()[0], 1),
    }


def everyday_loop(project: Path, data: Path, rounds: int, target: str) -> dict[str, Any]:
    """The warm engine: first build, then edit one mart and build it, and full warm builds.

    With the `bench` target (Cassandra, Superset and Redis of the bench project), the dashboard
    is opened once in headless Chromium after the first build, so each build warms what a viewer
    looked at, as it does for a team."""
    vars_ = json.dumps({"raw_dir": str(data)})
    out: dict[str, Any] = {"target": target}
    if target != "spark_only":
        started = time.perf_counter()
        runner(project, "up", "-t", target)
        out["services_up_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    runner(project, "engine", "start", "-t", target)
    out["engine_start_s"] = round(time.perf_counter() - started, 1)
    try:
        first, _, _ = runner(project, "build", "-t", target, "--vars", vars_, engine="daemon")
        out["first_warm_build_s"] = round(first, 2)
        if target != "spark_only":
            out["dashboard_requests_viewed"] = _view_dashboard(project, target)
        mart = project / "models" / "marts" / "segment_summary.sql"
        original = mart.read_text()
        loop, full, lines, profile = [], [], [], {}
        try:
            for i in range(rounds):
                mart.write_text(original + f"\n-- edit {i}\n")
                wall, _, text = runner(project, "build", "-t", target, "-s", "segment_summary",
                                       "--vars", vars_, engine="daemon")
                if "Reused from the previous build" not in text:
                    log("  (upstream was not reused)")
                lines = [line for line in text.splitlines() if "Superset" in line]
                profile = _profile(project / "target" / "run_results.json")
                loop.append(wall)
                wall, _, _ = runner(project, "build", "-t", target, "--vars", vars_,
                                    engine="daemon")
                full.append(wall)
                log(f"  warm: build -s segment_summary {loop[-1]:.1f}s, full build {full[-1]:.1f}s")
        finally:
            mart.write_text(original)
        out |= {"edit_one_mart_build_s": loop, "full_warm_build_s": full,
                "edit_one_mart_median_s": median(loop), "full_warm_median_s": median(full),
                "edit_one_mart_superset_lines": lines,
                "edit_one_mart_profile": profile}
    finally:
        runner(project, "engine", "stop")
        if target != "spark_only":
            runner(project, "down")
    out["load_1min"] = round(os.getloadavg()[0], 1)
    return out


def _profile(run_results: Path) -> dict[str, Any]:
    """Where a build's time went: its phases and every node's seconds, slowest first."""
    data = json.loads(run_results.read_text())
    nodes = sorted(data["results"], key=lambda r: -r["execution_time"])
    return {"elapsed_s": round(data["elapsed_time"], 2),
            "phases_s": {k: round(v, 2) for k, v in data.get("phases", {}).items()},
            "nodes_s": {r["unique_id"]: round(r["execution_time"], 2) for r in nodes}}


def _view_dashboard(project: Path, target: str) -> int:
    """Open the bench dashboard once in headless Chromium (its requests are remembered)."""
    from load import capture

    from runner.config import load_project_config, load_target
    from runner.local import superset_server

    cfg = load_project_config(project)
    settings = load_target(project, cfg.profile or cfg.name, target, project).superset
    assert settings is not None
    login = superset_server.admin_login(project, settings)[0]
    slug = next(yaml_slug for yaml_slug in _slugs(project))
    return len(capture(settings.url.rstrip("/"), login, slug))


def _slugs(project: Path) -> list[str]:
    import yaml

    found = [yaml.safe_load(p.read_text()) for p in sorted((project / "dashboards").glob("*.yml"))]
    return [spec["slug"] for spec in found if isinstance(spec, dict) and "slug" in spec]


def incremental_day(folder: Path, days: int, users: int) -> dict[str, Any]:
    """tests/fixtures/incremental with `days` days of transactions, then one more day."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "tests" / "fixtures" / "incremental", folder)
    (folder / "data").mkdir()
    rng = random.Random(1)
    start = date(2024, 1, 1)
    logins = [start + timedelta(days=rng.randrange(days)) for _ in range(users)]
    (folder / "data" / "users.csv").write_text(",user_id,first_login_dt\n" + "".join(
        f"{i},U{i},{d}\n" for i, d in enumerate(logins)))
    per_day = users // 4
    index = 0

    def append(day: int) -> int:
        nonlocal index
        lines = []
        for _ in range(per_day):
            user = rng.randrange(users)
            lines.append(f"{index},U{user},{start + timedelta(days=day)} "
                         f"{rng.randrange(24):02d}:00:00,{rng.choice((1, 3, 8, 9))}\n")
            index += 1
        with (folder / "data" / "transactions.csv").open("a") as fh:
            fh.writelines(lines)
        return len(lines)

    (folder / "data" / "transactions.csv").write_text(",user_id,transaction_dt,type\n")
    for day in range(days):
        append(day)
    full, _, _ = runner(folder, "build", "--full-refresh")
    new = append(days)
    one_day, _, text = runner(folder, "build")
    return {"transactions_before": index - new, "new_day_rows": new, "full_build_s": round(full, 2),
            "new_day_build_s": round(one_day, 2), "ratio": round(one_day / full, 2),
            "merged": [line.split("OK ", 1)[1].split(" [")[0].rstrip(". ")
                       for line in text.splitlines() if "incremental," in line]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="original,10x")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--parts", default="compare,loop,incremental")
    parser.add_argument("--loop-rounds", type=int, default=3)
    parser.add_argument("--loop-target", default="spark_only",
                        help="spark_only, or bench: with Cassandra, Superset and Redis")
    parser.add_argument("--incremental-days", type=int, default=60)
    parser.add_argument("--incremental-users", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or ROOT / "bench" / "results" / f"compare-{stamp}.json"
    report: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(),
                              "cpus": os.cpu_count(), "load_1min_at_start": os.getloadavg()[0],
                              "args": vars(args) | {"out": str(out)}, "sizes": {}}
    project = prepare_project(ROOT, ROOT / ".runner" / "bench" / "compare")

    def save() -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, default=str))

    def data_for(size: str) -> Path | None:
        if size == "original":
            found = original_dataset(ROOT)
            return found[0] if found else None
        return ensure_dataset(SIZES[size], ROOT / ".runner" / "bench-data", log)[0]

    if "compare" in parts:
        for size in args.sizes.split(","):
            data = data_for(size)
            if data is None:
                log(f"{size}: no data, skipped")
                continue
            report["sizes"][size] = compare_size(size, data, project, args.repeat)
            save()
            log(f"{size}: {json.dumps(report['sizes'][size]['ratio_to_baseline'])}; marts "
                f"{report['sizes'][size]['marts']}")
    if "loop" in parts:
        data = data_for("original") or data_for("1x")
        assert data is not None
        report["everyday_loop"] = everyday_loop(project, data, args.loop_rounds,
                                                 args.loop_target)
        save()
        log(f"loop: {json.dumps(report['everyday_loop'])}")
    if "incremental" in parts:
        report["incremental"] = incremental_day(ROOT / ".runner" / "bench" / "incremental",
                                                args.incremental_days, args.incremental_users)
        save()
        log(f"incremental: {json.dumps(report['incremental'])}")
    report["finished_at"] = datetime.now(UTC).isoformat()
    save()
    print(json.dumps({k: v for k, v in report.items() if k != "args"}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
