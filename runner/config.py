"""Project file (`runner_project.yml`) and profiles (`profiles.yml`) as validated pydantic models.

Secrets never live in the repo: profile values may call `{{ env_var('NAME', 'default') }}`, and
Cassandra/Superset credentials fall back to environment variables when the profile omits them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from runner.errors import ConfigError, Location, RunnerError
from runner.paths import TargetLayout, check_target_path
from runner.yaml_files import load_yaml, to_config_error

PROJECT_FILE = "runner_project.yml"
PROFILES_FILE = "profiles.yml"
PROFILES_DIR_ENV = "RUNNER_PROFILES_DIR"

CASSANDRA_USER_ENV = "RUNNER_CASSANDRA_USERNAME"
CASSANDRA_PASSWORD_ENV = "RUNNER_CASSANDRA_PASSWORD"
SUPERSET_USER_ENV = "RUNNER_SUPERSET_USERNAME"
SUPERSET_PASSWORD_ENV = "RUNNER_SUPERSET_PASSWORD"
THRIFT_USER_ENV = "RUNNER_THRIFT_USERNAME"
THRIFT_PASSWORD_ENV = "RUNNER_THRIFT_PASSWORD"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SparkWorker(_Strict):
    """One worker of a local standalone cluster (`runner up`, spark.managed)."""

    cores: int = Field(1, ge=1, description="Cores the worker offers executors")
    memory: str = Field("1g", description="Memory the worker offers executors (e.g. 1g, 768m)")


class SparkTarget(_Strict):
    """How to get a SparkSession."""

    master: str = Field(
        "local[*]", description="Any Spark master URL: local[*], spark://h:7077, yarn"
    )
    app_name: str = Field("runner", description="Spark application name")
    driver_memory: str = Field("2g", description="spark.driver.memory (local mode: the whole JVM)")
    conf: dict[str, str] = Field(default_factory=dict, description="Extra spark.* settings")
    managed: bool = Field(
        False,
        description="`runner up` starts a standalone master at `master` "
        "(spark://127.0.0.1:PORT) and `workers` on this machine",
    )
    workers: list[SparkWorker] = Field(
        default_factory=lambda: [SparkWorker(), SparkWorker()],
        description="The workers of a managed master, each its own JVM",
    )
    ui_port: int = Field(
        8080, description="Web UI of a managed master on 127.0.0.1; worker N uses ui_port + N"
    )
    engine: Literal["daemon", "process"] = Field(
        "process",
        description="daemon: `runner up` starts the warm engine (one Spark session kept between "
        "commands) and build/run/test use it while it runs; process: every command starts its "
        "own Spark ($RUNNER_ENGINE overrides; on CI the default is process)",
    )


Consistency = Literal[
    "ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"
]


class CassandraTarget(_Strict):
    """Where marts materialized as `cassandra` are written."""

    hosts: list[str] = Field(default_factory=lambda: ["127.0.0.1"], description="Contact points")
    port: int = Field(9042, description="CQL native port")
    keyspace: str = Field("fintech_analytics", description="Keyspace of the marts")
    replication: dict[str, Any] = Field(
        default_factory=lambda: {"class": "SimpleStrategy", "replication_factor": 1},
        description="Keyspace replication map, as in CREATE KEYSPACE",
    )
    local_dc: str | None = Field(None, description="Local datacenter for the load-balancing policy")
    username: str | None = Field(None, description=f"Login; else ${CASSANDRA_USER_ENV}")
    password: SecretStr | None = Field(
        None, description=f"Password; else ${CASSANDRA_PASSWORD_ENV}"
    )
    connect_timeout: float = Field(10.0, description="Seconds to wait for the first connection")
    consistency: Consistency | None = Field(
        None,
        description="Consistency level of mart writes; default LOCAL_QUORUM "
        "(LOCAL_ONE when the keyspace has one replica)",
    )
    managed: bool = Field(
        False,
        description="Local nodes the runner starts itself: one per host (127.0.0.x addresses)",
    )

    def credentials(self) -> tuple[str | None, str | None]:
        user = self.username or os.environ.get(CASSANDRA_USER_ENV) or None
        pw = self.password.get_secret_value() if self.password else None
        pw = pw or os.environ.get(CASSANDRA_PASSWORD_ENV) or None
        return user, pw


class SupersetTarget(_Strict):
    """The Superset the dashboards are registered in."""

    url: str = Field("http://127.0.0.1:8088", description="Base URL of Superset")
    username: str | None = Field(None, description=f"Login; else ${SUPERSET_USER_ENV}")
    password: SecretStr | None = Field(None, description=f"Password; else ${SUPERSET_PASSWORD_ENV}")
    thrift_host: str = Field("127.0.0.1", description="Spark Thrift Server Superset queries")
    thrift_port: int = Field(10000, description="Spark Thrift Server port")
    thrift_username: str | None = Field(
        None, description=f"Thrift login Superset queries with (unmanaged); else ${THRIFT_USER_ENV}"
    )
    thrift_password: SecretStr | None = Field(
        None, description=f"Its password (unmanaged); else ${THRIFT_PASSWORD_ENV}"
    )
    database_name: str = Field("fintech_analytics", description="Superset database name")
    managed: bool = Field(False, description="Local Superset and Thrift server the runner starts")
    cache_port: int = Field(
        6379, description="Port of the local Redis a managed Superset caches in (127.0.0.1)"
    )

    def credentials(self) -> tuple[str | None, str | None]:
        user = self.username or os.environ.get(SUPERSET_USER_ENV) or None
        pw = self.password.get_secret_value() if self.password else None
        pw = pw or os.environ.get(SUPERSET_PASSWORD_ENV) or None
        return user, pw

    def thrift_credentials(self) -> tuple[str, str] | None:
        """The login of an unmanaged Thrift server, when one is configured."""
        user = self.thrift_username or os.environ.get(THRIFT_USER_ENV) or None
        pw = self.thrift_password.get_secret_value() if self.thrift_password else None
        pw = pw or os.environ.get(THRIFT_PASSWORD_ENV) or None
        return (user, pw) if user and pw else None


class Target(_Strict):
    """One output of a profile: Spark plus optional Cassandra and Superset."""

    name: str = ""
    threads: int = Field(
        3, ge=1, description="Models and tests run at once on the one Spark session (dbt's threads)"
    )
    spark: SparkTarget = Field(default_factory=SparkTarget)
    cassandra: CassandraTarget | None = None
    superset: SupersetTarget | None = None

    def secrets(self) -> list[str | None]:
        """Every secret value of this target, for scrubbing messages."""
        out: list[str | None] = []
        if self.cassandra:
            out.append(self.cassandra.credentials()[1])
        if self.superset:
            out.append(self.superset.credentials()[1])
            thrift = self.superset.thrift_credentials()
            out.append(thrift[1] if thrift else None)
        return out


class Profile(_Strict):
    target: str = "dev"
    outputs: dict[str, Target]


class ModelConfig(BaseModel):
    """Config of one model: from folder defaults in the project file, YAML, then `config()`."""

    model_config = ConfigDict(extra="allow")

    materialized: Literal["view", "table", "ephemeral", "cassandra", "incremental"] = "view"
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    partition_key: list[str] = Field(default_factory=list, description="Cassandra partition key")
    clustering_key: list[str] = Field(
        default_factory=list, description="Cassandra clustering columns, 'col' or 'col desc'"
    )
    persist: bool = Field(
        False,
        description="A view several models read: computed once into target/persisted/ (Parquet)",
    )
    allow_empty: bool = Field(
        False, description="A table-like model may produce 0 rows (else the build fails)"
    )
    unique_key: str | list[str] | None = Field(
        None,
        description="Incremental models: the column(s) by which a new row replaces a stored one "
        "(merge); without it new rows are appended",
    )


class ProjectConfig(_Strict):
    """The project file."""

    name: str
    version: str = "1.0"
    profile: str | None = Field(None, description="Profile name in profiles.yml; default: name")
    model_paths: list[str] = Field(default_factory=lambda: ["models"], alias="model-paths")
    macro_paths: list[str] = Field(default_factory=lambda: ["macros"], alias="macro-paths")
    test_paths: list[str] = Field(default_factory=lambda: ["tests/data"], alias="test-paths")
    dashboard_paths: list[str] = Field(
        default_factory=lambda: ["dashboards"], alias="dashboard-paths"
    )
    target_path: str = Field("target", alias="target-path")
    vars: dict[str, Any] = Field(default_factory=dict)
    var_types: dict[str, Any] = Field(
        default_factory=dict,
        alias="var-types",
        description="What each var may be; checked by runner/variables.py",
    )
    models: dict[str, Any] = Field(default_factory=dict, description="Per-folder model configs")

    @property
    def target_layout(self) -> TargetLayout:
        """The target folder's layout relative to the project, as artifacts and messages show it
        (`Project.target_layout` is the absolute one)."""
        return TargetLayout(Path(self.target_path))


def load_project_config(project_dir: Path) -> ProjectConfig:
    """Read and validate `runner_project.yml` in `project_dir`."""
    path = project_dir / PROJECT_FILE
    if not path.exists():
        raise ConfigError(
            f"no {PROJECT_FILE} in {project_dir.resolve()}",
            hint="run from the project folder or point to it with --project-dir",
        )
    data = load_yaml(path, display=PROJECT_FILE) or {}
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise to_config_error(exc, data, ProjectConfig, PROJECT_FILE, path.read_text()) from None
    check_target_path(project_dir, config.target_path, project_folders(project_dir, config))
    return config


def project_folders(
    project_dir: Path, config: ProjectConfig, profiles_dir: Path | None = None
) -> list[str]:
    """The folders of a project that its target folder may not be, hold or lie in: the model,
    macro, test and dashboard paths and the profiles folder (`paths.check_target_path`)."""
    profiles = find_profiles_file(project_dir, profiles_dir)
    own = [*config.model_paths, *config.macro_paths, *config.test_paths, *config.dashboard_paths]
    return own + ([str(profiles.parent.resolve())] if profiles is not None else [])


def find_profiles_file(project_dir: Path, profiles_dir: Path | None) -> Path | None:
    """--profiles-dir, then $RUNNER_PROFILES_DIR, then ~/.runner, then the project folder."""
    if profiles_dir is not None:
        path = profiles_dir / PROFILES_FILE
        if not path.exists():
            raise ConfigError(
                f"{path} not found", hint="--profiles-dir must name a folder with profiles.yml"
            )
        return path
    candidates = []
    if os.environ.get(PROFILES_DIR_ENV):
        candidates.append(Path(os.environ[PROFILES_DIR_ENV]) / PROFILES_FILE)
    candidates += [Path.home() / ".runner" / PROFILES_FILE, project_dir / PROFILES_FILE]
    return next((p for p in candidates if p.exists()), None)


def env_var(
    name: str, default: str | None = None, *, error: type[RunnerError] = ConfigError
) -> str:
    """The value of environment variable `name`: `{{ env_var() }}` in profiles and models.

    Args:
        name: the variable to read.
        default: the value when it is not set.
        error: raised when it is not set and there is no default (models use CompilationError).

    Example:
        >>> env_var("RUNNER_DOCTEST_SURELY_UNSET", "fallback")
        'fallback'
    """
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise error(
        f"environment variable '{name}' is not set", hint=f"export {name}=... or give a default"
    )


def _render_values(value: Any) -> Any:
    """Render `{{ env_var(...) }}` inside every string of a profile."""
    if isinstance(value, dict):
        return {k: _render_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_values(v) for v in value]
    if isinstance(value, str) and "{{" in value:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined)
        rendered = env.from_string(value).render(env_var=env_var)
        return rendered if rendered != "" else None
    return value


def load_target(
    project_dir: Path,
    profile_name: str,
    target_name: str | None = None,
    profiles_dir: Path | None = None,
) -> Target:
    """Resolve the target to run against.

    Without a profiles file, the built-in `dev` target is used: local Spark, a local Cassandra
    node and a local Superset that the runner manages itself.
    """
    path = find_profiles_file(project_dir, profiles_dir)
    if path is None:
        if target_name not in (None, "dev"):
            raise ConfigError(
                f"target '{target_name}' requested but no profiles.yml was found",
                hint="create profiles.yml (see README) or pass --profiles-dir",
            )
        return default_dev_target()
    data = load_yaml(path) or {}
    if profile_name not in data:
        raise ConfigError(
            f"profile '{profile_name}' not found in {path}",
            location=Location(path),
            hint=f"add a top-level `{profile_name}:` entry, or set `profile:` in {PROJECT_FILE}",
        )
    try:
        profile = Profile.model_validate(_render_values(data[profile_name]))
    except ValidationError as exc:
        raise to_config_error(exc, data[profile_name], Profile, path, path.read_text()) from None
    name = target_name or profile.target
    if name not in profile.outputs:
        raise ConfigError(
            f"target '{name}' not found in profile '{profile_name}'",
            location=Location(path),
            hint=f"available targets: {', '.join(sorted(profile.outputs))}",
        )
    return profile.outputs[name].model_copy(update={"name": name})


def default_dev_target() -> Target:
    return Target(
        name="dev",
        spark=SparkTarget(),
        cassandra=CassandraTarget(managed=True),
        superset=SupersetTarget(managed=True),
    )


def parse_vars(text: str | None) -> dict[str, Any]:
    """Parse `--vars` given as YAML or JSON.

    Example:
        >>> parse_vars("{raw_dir: data, segments: [1, 2]}")
        {'raw_dir': 'data', 'segments': [1, 2]}
    """
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigError(
                f"--vars is not valid YAML or JSON: {exc}",
                hint="""write it as a mapping, e.g. --vars '{raw_dir: data, alpha: 0.01}'""",
            ) from exc
    if not isinstance(value, dict):
        raise ConfigError(
            "--vars must be a mapping of names to values",
            hint="""e.g. --vars '{control_share: 0.1}'""",
        )
    return value


@dataclass(frozen=True)
class RunConfig:
    """Everything a command needs, parsed from the CLI (or given by a test)."""

    project_dir: Path = Path(".")
    profiles_dir: Path | None = None
    target_name: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    full_refresh: bool = False
    fail_fast: bool = False
    store_failures: bool = False
    state_path: Path | None = None
    indirect_selection: str = "eager"  # which tests come with the selected models (dbt's)
    command: str = "build"
    args: dict[str, Any] = field(default_factory=dict)
