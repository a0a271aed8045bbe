"""Superset's config for the runner's managed Superset; Superset loads it (SUPERSET_CONFIG_PATH).

This file runs inside Superset's own venv, never in the runner: `runner up` copies it to
`.runner/superset/superset_config.py` and writes its settings next to it, in
`superset_config.json` (paths, ports, the Redis password's file; never a secret), see
`runner.local.superset_config`. Its folder is no package, so the runner never imports it; ruff
and mypy check it like the runner's own code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any

import redis as _redis
from flask_caching.backends.rediscache import RedisCache as _RedisCache
from superset.utils.log import DBEventLogger

# Lower-case names stay out of Superset's and Flask's config (they copy the upper-case ones).
_settings: dict[str, Any] = json.loads(Path(__file__).with_name("superset_config.json").read_text())
_timeout: float = _settings["redis_timeout"]

_STATE = Path(_settings["state"])
SECRET_KEY = (_STATE / "secret_key").read_text().strip()
SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(_STATE / "superset.db") + "?check_same_thread=false"
DATA_DIR = str(_STATE / "home")
# Closed by default: requests must name this machine (no DNS rebinding), no proxy headers are
# trusted, Talisman's security headers are on, nobody signs up, anonymous users see nothing.
TRUSTED_HOSTS = ["127.0.0.1", "localhost"]
ENABLE_PROXY_FIX = False
TALISMAN_ENABLED = True
AUTH_USER_REGISTRATION = False
PUBLIC_ROLE_LIKE = None
PREVENT_UNSAFE_DB_CONNECTIONS = True
SUPERSET_WEBSERVER_TIMEOUT = 120

# Caches in the project's Redis; its password comes from its 0600 file, read here.
_REDIS_PORT: int = _settings["redis_port"]
_REDIS_PASSWORD = Path(_settings["redis_password_file"]).read_text().strip()
_log = logging.getLogger("runner.cache")


class SoftRedisCache(_RedisCache):
    """A Redis that fails or is down is a cache miss (logged), never a failed request."""

    def _soft(self, name: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(super(), name)(*args, **kwargs)
        except _redis.RedisError as exc:
            _log.warning("Redis cache %s failed: %s", name, exc)
            return default

    def get(self, key: str) -> Any:
        return self._soft("get", None, key)

    def get_many(self, *keys: str) -> Any:
        return self._soft("get_many", [None] * len(keys), *keys)

    def has(self, key: str) -> Any:
        return self._soft("has", False, key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> Any:
        return self._soft("set", False, key, value, timeout)

    def add(self, key: str, value: Any, timeout: int | None = None) -> Any:
        return self._soft("add", False, key, value, timeout)

    def set_many(self, mapping: dict[str, Any], timeout: int | None = None) -> Any:
        return self._soft("set_many", [], mapping, timeout)

    def delete(self, key: str) -> Any:
        return self._soft("delete", False, key)

    def delete_many(self, *keys: str) -> Any:
        return self._soft("delete_many", [], *keys)


class _EventLogger(DBEventLogger):
    """Superset's action log without the rows of chart-data requests (an SQLite commit each,
    a third of a cached chart's cost); dashboard views and every other action are logged."""

    def log_with_context(self, action: str, *args: Any, **kwargs: Any) -> Any:
        from flask import has_request_context, request

        if has_request_context() and _CHART_DATA.match(request.path):
            return None
        return super().log_with_context(action, *args, **kwargs)


_CHART_DATA = re.compile(r"^/api/v1/chart/(\d+/)?data/?$")
EVENT_LOGGER = _EventLogger()


# CACHE_TYPE is an import path: make this module importable under its own name.
sys.modules.setdefault("superset_config", type(sys)("superset_config"))
sys.modules["superset_config"].SoftRedisCache = SoftRedisCache  # type: ignore[attr-defined]


def _cache(db: int, prefix: str, days: int) -> dict[str, Any]:
    return {
        "CACHE_TYPE": "superset_config.SoftRedisCache",
        "CACHE_REDIS_HOST": "127.0.0.1",
        "CACHE_REDIS_PORT": _REDIS_PORT,
        "CACHE_REDIS_PASSWORD": _REDIS_PASSWORD,
        "CACHE_REDIS_DB": db,
        "CACHE_KEY_PREFIX": prefix,
        "CACHE_DEFAULT_TIMEOUT": days * 86400,
        "CACHE_OPTIONS": {"socket_timeout": _timeout, "socket_connect_timeout": _timeout},
    }


# Chart data stays until the next build empties its db (runner/local/superset_cache.py).
DATA_CACHE_CONFIG = _cache(_settings["data_db"], "superset_data_", 7)
CACHE_CONFIG = _cache(_settings["data_db"], "superset_meta_", 1)
FILTER_STATE_CACHE_CONFIG = {**_cache(_settings["user_db"], "superset_filter_", 90),
                             "REFRESH_TIMEOUT_ON_RETRIEVAL": True}
EXPLORE_FORM_DATA_CACHE_CONFIG = {**_cache(_settings["user_db"], "superset_explore_", 7),
                                  "REFRESH_TIMEOUT_ON_RETRIEVAL": True}
_VIEWED = _redis.Redis(host="127.0.0.1", port=_REDIS_PORT, db=_settings["user_db"],
                       password=_REDIS_PASSWORD, socket_timeout=_timeout,
                       socket_connect_timeout=_timeout)


def FLASK_APP_MUTATOR(app: Any) -> None:
    from flask import request
    from flask_jwt_extended import verify_jwt_in_request
    from pyhive.sqlalchemy_hive import HiveDialect
    from sqlalchemy import text
    from superset.db_engine_specs.hive import HiveEngineSpec

    viewed_prefix: str = _settings["viewed_prefix"]
    viewed_index: str = _settings["viewed_index"]
    viewed_max: int = _settings["viewed_max"]
    viewed_ttl: int = _settings["viewed_ttl"]

    # FAB checks public perms before the JWT; resolve the bearer token first.
    @app.before_request
    def _jwt_user_first() -> None:
        if request.headers.get("Authorization", "").startswith("Bearer "):
            verify_jwt_in_request(optional=True)

    # Remember each chart-data request a viewer made, for the warm-up after the next build.
    @app.after_request
    def _remember_chart_query(resp: Any) -> Any:
        if (request.method == "POST" and request.path.rstrip("/") == "/api/v1/chart/data"
                and resp.status_code == 200):
            body = request.get_json(silent=True)
            if isinstance(body, dict) and not body.get("force") \
                    and body.get("result_type", "full") == "full":
                raw = json.dumps({"query": request.query_string.decode(), "body": body},
                                 sort_keys=True)
                key = hashlib.sha256(raw.encode()).hexdigest()
                try:
                    pipe = _VIEWED.pipeline()
                    pipe.set(viewed_prefix + key, raw, ex=viewed_ttl)
                    pipe.zadd(viewed_index, {key: time.time()})
                    pipe.zremrangebyrank(viewed_index, 0, -viewed_max - 1)
                    pipe.execute()
                except _redis.RedisError as exc:
                    _log.warning("could not remember a chart query: %s", exc)
        return resp

    # Spark answers SHOW TABLES with (namespace, tableName, isTemporary); PyHive reads column 0.
    def _name(row: Any) -> Any:
        return row[1] if len(row) >= 3 else row[0]

    def get_table_names(self: Any, connection: Any, schema: str | None = None,
                        **kw: Any) -> list[Any]:
        q = "SHOW TABLES"
        if schema:
            q += " IN " + self.identifier_preparer.quote_identifier(schema)
        return [_name(r) for r in connection.execute(text(q))]

    def get_view_names(cls: Any, database: Any, inspector: Any, schema: str | None) -> set[Any]:
        with database.get_raw_connection(schema=schema) as conn:
            cur = conn.cursor()
            cur.execute("SHOW VIEWS" + (f" IN `{schema}`" if schema else ""))
            return {_name(r) for r in cur.fetchall()}

    HiveDialect.get_table_names = get_table_names
    HiveEngineSpec.get_view_names = classmethod(get_view_names)

    # Every chart-data request on a virtual dataset asks for the database's default schema (for
    # its RLS cache key), which opens a Thrift session: remember the answer per database URI.
    default_schema = HiveEngineSpec.get_default_schema.__func__
    schemas: dict[tuple[Any, ...], Any] = {}

    def get_default_schema(cls: Any, database: Any, catalog: Any) -> Any:
        key = (database.id, database.sqlalchemy_uri, catalog)
        if key not in schemas:
            schemas[key] = default_schema(cls, database, catalog)
        return schemas[key]

    HiveEngineSpec.get_default_schema = classmethod(get_default_schema)

    # The cache key of a virtual dataset's chart parses the dataset's SQL (sqlglot) for its RLS
    # tables on every request: parse each SQL once; the predicates stay per user and live.
    import superset.utils.rls as rls
    from superset.sql.parse import SQLScript

    @functools.lru_cache(maxsize=256)
    def tables_of(sql: str, engine: str, catalog: Any, schema: Any) -> frozenset[Any]:
        return frozenset(table.qualify(catalog=catalog, schema=schema)
                         for statement in SQLScript(sql, engine=engine).statements
                         for table in statement.tables)

    def collect_rls_predicates_for_sql(sql: str, database: Any, catalog: Any,
                                       schema: Any) -> list[Any]:
        try:
            tables = tables_of(sql, database.db_engine_spec.engine, catalog, schema)
            default_catalog = database.get_default_catalog()
            return sorted({predicate for table in tables
                           for predicate in rls.get_predicates_for_table(table, database,
                                                                         default_catalog)})
        except Exception:  # noqa: BLE001 - as Superset's own: a parse failure must not break caching
            return []

    rls.collect_rls_predicates_for_sql = collect_rls_predicates_for_sql
