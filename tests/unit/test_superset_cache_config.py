"""The Redis and Superset configs the runner writes for Superset's cache (no service started).

The Superset config is loaded as Superset loads it, with stand-ins for Superset's modules.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from runner.config import SupersetTarget
from runner.local import redis_server, superset_server
from runner.local.superset_config import (
    CONFIG_FILE,
    SETTINGS_FILE,
    VIEWED_INDEX,
    VIEWED_MAX,
    VIEWED_PREFIX,
    VIEWED_TTL,
)


def test_redis_config_is_closed_and_keeps_no_plaintext_password() -> None:
    text = redis_server.config_text(Path("/p/.runner/redis"), 6390, "s3cret-Pass")
    lines = text.splitlines()
    assert "bind 127.0.0.1" in lines and "protected-mode yes" in lines and "port 6390" in lines
    assert "s3cret-Pass" not in text
    digest = hashlib.sha256(b"s3cret-Pass").hexdigest()
    assert f"user default on #{digest} ~* &* +@all -@admin" in lines
    assert 'save ""' in lines and "appendonly no" in lines  # nothing on disk
    assert "set-proc-title no" in lines  # the PID check reads the config path in cmdline
    assert not any(line.startswith("requirepass") for line in lines)


class _Fake:
    """Stands for a Superset, Flask or PyHive class the config subclasses or patches."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass


class _App:
    """A Flask app that keeps the request hooks the config registers."""

    def __init__(self) -> None:
        self.hooks: dict[str, Callable[..., Any]] = {}

    def before_request(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.hooks["before"] = fn
        return fn

    def after_request(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.hooks["after"] = fn
        return fn


def _fake_modules(monkeypatch: pytest.MonkeyPatch) -> dict[str, ModuleType]:
    """Superset's, Flask's and PyHive's modules the config imports, as empty stand-ins."""
    names = ["flask", "flask_caching", "flask_caching.backends",
             "flask_caching.backends.rediscache", "flask_jwt_extended", "pyhive",
             "pyhive.sqlalchemy_hive", "sqlalchemy", "superset", "superset.utils",
             "superset.utils.log", "superset.utils.rls", "superset.db_engine_specs",
             "superset.db_engine_specs.hive", "superset.sql", "superset.sql.parse"]
    modules = {name: ModuleType(name) for name in names}
    modules["flask_caching.backends.rediscache"].RedisCache = _Fake
    modules["superset.utils.log"].DBEventLogger = _Fake
    modules["superset.utils"].rls = modules["superset.utils.rls"]
    modules["pyhive.sqlalchemy_hive"].HiveDialect = type("HiveDialect", (), {})
    asked: list[Any] = []  # the default schema is asked of Thrift once per database
    hive = type("HiveEngineSpec", (), {
        "get_default_schema": classmethod(lambda cls, db, catalog: asked.append(db) or "default"),
        "asked": asked,
    })
    modules["superset.db_engine_specs.hive"].HiveEngineSpec = hive
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    modules["sqlalchemy"].text = str
    modules["superset.sql.parse"].SQLScript = _Fake
    modules["flask_jwt_extended"].verify_jwt_in_request = lambda optional: None
    return modules


def _load_written_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Write the config as `runner up` does, then load it as Superset does (by file path)."""
    state = tmp_path / ".runner" / "superset"
    secret = tmp_path / ".runner" / "secrets" / "redis.password"
    secret.parent.mkdir(parents=True)
    secret.write_text("s3cret-Pass\n")
    assert superset_server._write_config(state, 6390, secret)
    assert not superset_server._write_config(state, 6390, secret)  # unchanged: no restart
    _fake_modules(monkeypatch)
    monkeypatch.setitem(sys.modules, "superset_config", ModuleType("superset_config"))
    spec = importlib.util.spec_from_file_location("superset_config", state / CONFIG_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_superset_config_caches_in_redis_with_the_password_from_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _load_written_config(tmp_path, monkeypatch)
    state = tmp_path / ".runner" / "superset"
    for name in (CONFIG_FILE, SETTINGS_FILE, "secret_key"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name
    settings = (state / SETTINGS_FILE).read_text()
    assert "s3cret-Pass" not in settings  # the password stays in its own file
    assert config.SECRET_KEY == (state / "secret_key").read_text().strip()
    assert config.SQLALCHEMY_DATABASE_URI == f"sqlite:///{state}/superset.db?check_same_thread=false"
    assert config.DATA_DIR == str(state / "home")
    options = {"socket_timeout": redis_server.TIMEOUT,
               "socket_connect_timeout": redis_server.TIMEOUT}  # every Redis call has a timeout
    redis = {"CACHE_TYPE": "superset_config.SoftRedisCache", "CACHE_REDIS_HOST": "127.0.0.1",
             "CACHE_REDIS_PORT": 6390, "CACHE_REDIS_PASSWORD": "s3cret-Pass",
             "CACHE_OPTIONS": options}
    assert config.DATA_CACHE_CONFIG == {**redis, "CACHE_REDIS_DB": redis_server.DATA_DB,
                                        "CACHE_KEY_PREFIX": "superset_data_",
                                        "CACHE_DEFAULT_TIMEOUT": 7 * 86400}
    assert config.CACHE_CONFIG["CACHE_REDIS_DB"] == redis_server.DATA_DB
    for name in ("FILTER_STATE_CACHE_CONFIG", "EXPLORE_FORM_DATA_CACHE_CONFIG"):
        cache = getattr(config, name)
        assert cache["CACHE_REDIS_DB"] == redis_server.USER_DB, name
        assert cache["REFRESH_TIMEOUT_ON_RETRIEVAL"] is True, name
    # CACHE_TYPE names this class by the module name Superset loads the config under.
    assert sys.modules["superset_config"].SoftRedisCache is config.SoftRedisCache
    viewed = config._VIEWED.connection_pool.connection_kwargs
    assert (viewed["port"], viewed["db"], viewed["password"]) == (6390, redis_server.USER_DB,
                                                                 "s3cret-Pass")


def test_superset_config_remembers_viewed_chart_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _load_written_config(tmp_path, monkeypatch)
    calls: list[tuple[Any, ...]] = []

    class Pipe:
        def __getattr__(self, name: str) -> Callable[..., None]:
            return lambda *args, **kwargs: calls.append((name, *args, *kwargs.values()))

    monkeypatch.setattr(config, "_VIEWED", type("R", (), {"pipeline": lambda self: Pipe()})())
    body = {"queries": [{"metrics": ["count"]}]}
    request = type("Request", (), {
        "method": "POST", "path": "/api/v1/chart/data", "query_string": b"",
        "headers": {}, "get_json": lambda self, silent: body,
    })()
    sys.modules["flask"].request = request
    app = _App()
    config.FLASK_APP_MUTATOR(app)
    response = type("Response", (), {"status_code": 200})()
    assert app.hooks["after"](response) is response
    raw = json.dumps({"query": "", "body": body}, sort_keys=True)
    key = hashlib.sha256(raw.encode()).hexdigest()
    assert calls == [
        ("set", VIEWED_PREFIX + key, raw, VIEWED_TTL),
        ("zadd", VIEWED_INDEX, {key: calls[1][2][key]}),
        ("zremrangebyrank", VIEWED_INDEX, 0, -VIEWED_MAX - 1),
        ("execute",),
    ]
    hive = sys.modules["superset.db_engine_specs.hive"].HiveEngineSpec
    database = SimpleNamespace(id=1, sqlalchemy_uri="hive://thrift")
    assert [hive.get_default_schema(database, None) for _ in range(2)] == ["default"] * 2
    assert hive.asked == [database]
    rows = [("", "segment_summary", False), ("legacy",)]  # Spark's SHOW TABLES, then PyHive's
    connection = SimpleNamespace(execute=lambda query: rows)
    dialect = sys.modules["pyhive.sqlalchemy_hive"].HiveDialect()
    assert dialect.get_table_names(connection) == ["segment_summary", "legacy"]


def test_the_cache_port_is_a_target_setting() -> None:
    assert SupersetTarget().cache_port == 6379
    assert SupersetTarget(cache_port=6390).cache_port == 6390
