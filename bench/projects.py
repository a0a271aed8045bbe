"""The projects the benchmark builds: a scratch copy of this one, and a generated 500-model one.

The scratch copy lives in `.runner/bench/project`, with services of its own, so a benchmark
never touches the developer's `target/`, Cassandra, Thrift server or Superset (and nobody else's
`runner down` stops it half-way): its `bench` target is `dev` on other ports (Cassandra 9542,
Thrift 10500, Redis 6579, Superset 8588) with keyspace and Superset database `fintech_bench`. Its
`.runner/` links to the project's jars and Superset venv, so nothing is installed twice.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import yaml

BENCH_NAME = "fintech_bench"
CASSANDRA_PORT = 9542
THRIFT_PORT = 10500
SUPERSET_URL = "http://127.0.0.1:8588"
REDIS_PORT = 6579  # the bench Superset's cache
SHARED = ("cassandra/lib", "spark-jars", "spark-cds", "superset/venv")  # linked, not copied


def prepare_project(root: Path, scratch: Path) -> Path:
    """Copy the project's models, macros, tests and dashboards to `scratch`, with bench targets."""
    config = yaml.safe_load((root / "runner_project.yml").read_text())
    if scratch.exists():
        for entry in scratch.iterdir():
            if entry.name not in (".runner", "target"):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "runner_project.yml", scratch / "runner_project.yml")
    for key, default in [("model-paths", ["models"]), ("macro-paths", ["macros"]),
                         ("test-paths", ["tests/data"]), ("dashboard-paths", ["dashboards"])]:
        for folder in config.get(key, default):
            if (root / folder).is_dir():
                shutil.copytree(root / folder, scratch / folder)
    if (root / "seeds").is_dir():  # the default raw_dir (unit tests may name it)
        shutil.copytree(root / "seeds", scratch / "seeds")
    for dash in (scratch / config.get("dashboard-paths", ["dashboards"])[0]).glob("*.yml"):
        spec = yaml.safe_load(dash.read_text())
        if isinstance(spec, dict) and "slug" in spec:
            spec["slug"] = f"{spec['slug']}-bench"
            dash.write_text(yaml.safe_dump(spec, sort_keys=False))
    _write_profiles(root, scratch, config.get("profile") or config["name"])
    for name in ("cassandra", "superset", "thrift"):  # links of an older layout
        if (scratch / ".runner" / name).is_symlink():
            (scratch / ".runner" / name).unlink()
    for name in SHARED:
        (root / ".runner" / name).mkdir(parents=True, exist_ok=True)
        link = scratch / ".runner" / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to((root / ".runner" / name).resolve(), target_is_directory=True)
    return scratch


def _write_profiles(root: Path, scratch: Path, profile: str) -> None:
    profiles = yaml.safe_load((root / "profiles.yml").read_text())
    outputs = profiles[profile]["outputs"]
    bench = copy.deepcopy(outputs["dev"])
    bench.setdefault("cassandra", {}).update(keyspace=BENCH_NAME, port=CASSANDRA_PORT)
    bench.setdefault("superset", {}).update(
        database_name=BENCH_NAME, url=SUPERSET_URL, thrift_port=THRIFT_PORT,
        cache_port=REDIS_PORT,
    )
    wanted = {"bench": bench, "spark_only": outputs["spark_only"]}
    text = yaml.safe_dump({profile: {"target": "bench", "outputs": wanted}}, sort_keys=False)
    (scratch / "profiles.yml").write_text(text)


def write_many_models(folder: Path, count: int = 500) -> Path:
    """A project of `count` models in layers of 25, each reading up to three earlier models.

    Every model uses `ref`, `var`, `config` and a macro, so compile does the work it does on a
    real project (render, graph, sqlglot parse); nothing reads data.
    """
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "models").mkdir(parents=True)
    (folder / "macros").mkdir()
    (folder / "runner_project.yml").write_text(
        "name: many_models\nprofile: many_models\nvars: {factor: 3}\n"
        "models:\n  materialized: view\n"
    )
    (folder / "profiles.yml").write_text(
        "many_models:\n  target: spark_only\n  outputs:\n"
        "    spark_only:\n      spark: {master: 'local[2]'}\n"
    )
    (folder / "macros" / "scale.sql").write_text(
        "{% macro scale(column) %}({{ column }} * {{ var('factor') }}){% endmacro %}\n"
    )
    layer = 25
    for i in range(count):
        name = f"model_{i:04d}"
        if i < layer:
            body = (f"select id, id % 7 as grp, {i} as origin\n"
                    f"from values (1), (2), (3) as t(id)")
        else:
            start = (i // layer - 1) * layer
            parents = sorted({start + (i * k) % layer for k in (1, 3, 7)})
            first = f"model_{parents[0]:04d}"
            joins = "\n".join(
                f"left join {{{{ ref('model_{p:04d}') }}}} as p{p} on p{p}.id = a.id"
                for p in parents[1:]
            )
            body = (f"select a.id, a.grp, {{{{ scale('a.origin') }}}} as origin,\n"
                    f"    count(*) over (partition by a.grp) as peers\n"
                    f"from {{{{ ref('{first}') }}}} as a\n{joins}")
        materialized = "table" if i % 50 == 49 else "view"
        (folder / "models" / f"{name}.sql").write_text(
            f"{{{{ config(materialized='{materialized}', tags=['layer_{i // layer}']) }}}}\n"
            f"{body}\n"
        )
    return folder
