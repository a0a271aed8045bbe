"""The `superset_config.py` the runner writes for its managed Superset (see superset_server).

Caches live in the project's Redis (`runner.local.redis_server`): chart data and Superset's
metadata cache in the database a build empties (`DATA_DB`), filter state and explore form data
in `USER_DB`. The config reads Redis's password from its 0600 file itself, so the password is
never in a child's environment or on a command line. A Redis that fails or is down is a cache
miss (logged), never a failed chart.

Every chart-data request a browser makes (`POST /api/v1/chart/data`, not forced) is remembered
in `USER_DB` (`VIEWED_INDEX`, `VIEWED_PREFIX` + sha256 of the request; at most `VIEWED_MAX`,
30 days): after a build, `runner.local.superset_cache` replays them so the first viewer finds
the cache filled with the new numbers.
"""

from __future__ import annotations

from pathlib import Path

from runner.local.redis_server import DATA_DB, TIMEOUT, USER_DB

VIEWED_INDEX = "runner:viewed"
VIEWED_PREFIX = "runner:viewed:"
VIEWED_MAX = 300
VIEWED_TTL = 30 * 86400

CONFIG_TEMPLATE = '''\
"""Superset config written by runner/local/superset_config.py; edits are overwritten."""
import functools
import hashlib
import json
import logging
import re
import sys
import time
from pathlib import Path

import redis as _redis
from flask_caching.backends.rediscache import RedisCache as _RedisCache
from superset.utils.log import DBEventLogger

_STATE = Path({state!r})
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
_REDIS_PORT = {port}
_REDIS_PASSWORD = Path({password_file!r}).read_text().strip()
_log = logging.getLogger("runner.cache")


class SoftRedisCache(_RedisCache):
    """A Redis that fails or is down is a cache miss (logged), never a failed request."""

    def _soft(self, name, default, *args, **kwargs):
        try:
            return getattr(super(), name)(*args, **kwargs)
        except _redis.RedisError as exc:
            _log.warning("Redis cache %s failed: %s", name, exc)
            return default

    def get(self, key):
        return self._soft("get", None, key)

    def get_many(self, *keys):
        return self._soft("get_many", [None] * len(keys), *keys)

    def has(self, key):
        return self._soft("has", False, key)

    def set(self, key, value, timeout=None):
        return self._soft("set", False, key, value, timeout)

    def add(self, key, value, timeout=None):
        return self._soft("add", False, key, value, timeout)

    def set_many(self, mapping, timeout=None):
        return self._soft("set_many", [], mapping, timeout)

    def delete(self, key):
        return self._soft("delete", False, key)

    def delete_many(self, *keys):
        return self._soft("delete_many", [], *keys)


class _EventLogger(DBEventLogger):
    """Superset's action log without the rows of chart-data requests (an SQLite commit each,
    a third of a cached chart's cost); dashboard views and every other action are logged."""

    def log_with_context(self, action, *args, **kwargs):
        from flask import has_request_context, request

        if has_request_context() and _CHART_DATA.match(request.path):
            return None
        return super().log_with_context(action, *args, **kwargs)


_CHART_DATA = re.compile(r"^/api/v1/chart/(\\d+/)?data/?$")
EVENT_LOGGER = _EventLogger()


# CACHE_TYPE is an import path: make this module importable under its own name.
sys.modules.setdefault("superset_config", type(sys)("superset_config"))
sys.modules["superset_config"].SoftRedisCache = SoftRedisCache


def _cache(db, prefix, days):
    return {{
        "CACHE_TYPE": "superset_config.SoftRedisCache",
        "CACHE_REDIS_HOST": "127.0.0.1",
        "CACHE_REDIS_PORT": _REDIS_PORT,
        "CACHE_REDIS_PASSWORD": _REDIS_PASSWORD,
        "CACHE_REDIS_DB": db,
        "CACHE_KEY_PREFIX": prefix,
        "CACHE_DEFAULT_TIMEOUT": days * 86400,
        "CACHE_OPTIONS": {{"socket_timeout": {timeout}, "socket_connect_timeout": {timeout}}},
    }}


# Chart data stays until the next build empties db {data_db} (runner/superset/warm.py).
DATA_CACHE_CONFIG = _cache({data_db}, "superset_data_", 7)
CACHE_CONFIG = _cache({data_db}, "superset_meta_", 1)
FILTER_STATE_CACHE_CONFIG = {{**_cache({user_db}, "superset_filter_", 90),
                             "REFRESH_TIMEOUT_ON_RETRIEVAL": True}}
EXPLORE_FORM_DATA_CACHE_CONFIG = {{**_cache({user_db}, "superset_explore_", 7),
                                  "REFRESH_TIMEOUT_ON_RETRIEVAL": True}}
_VIEWED = _redis.Redis(host="127.0.0.1", port=_REDIS_PORT, db={user_db},
                       password=_REDIS_PASSWORD, socket_timeout={timeout},
                       socket_connect_timeout={timeout})


def FLASK_APP_MUTATOR(app):
    from flask import request
    from flask_jwt_extended import verify_jwt_in_request
    from pyhive.sqlalchemy_hive import HiveDialect
    from sqlalchemy import text
    from superset.db_engine_specs.hive import HiveEngineSpec

    # FAB checks public perms before the JWT; resolve the bearer token first.
    @app.before_request
    def _jwt_user_first():
        if request.headers.get("Authorization", "").startswith("Bearer "):
            verify_jwt_in_request(optional=True)

    # Remember each chart-data request a viewer made, for the warm-up after the next build.
    @app.after_request
    def _remember_chart_query(resp):
        if (request.method == "POST" and request.path.rstrip("/") == "/api/v1/chart/data"
                and resp.status_code == 200):
            body = request.get_json(silent=True)
            if isinstance(body, dict) and not body.get("force") \\
                    and body.get("result_type", "full") == "full":
                raw = json.dumps({{"query": request.query_string.decode(), "body": body}},
                                 sort_keys=True)
                key = hashlib.sha256(raw.encode()).hexdigest()
                try:
                    pipe = _VIEWED.pipeline()
                    pipe.set({viewed_prefix!r} + key, raw, ex={viewed_ttl})
                    pipe.zadd({viewed_index!r}, {{key: time.time()}})
                    pipe.zremrangebyrank({viewed_index!r}, 0, -{viewed_max} - 1)
                    pipe.execute()
                except _redis.RedisError as exc:
                    _log.warning("could not remember a chart query: %s", exc)
        return resp

    # Spark answers SHOW TABLES with (namespace, tableName, isTemporary); PyHive reads column 0.
    def _name(row):
        return row[1] if len(row) >= 3 else row[0]

    def get_table_names(self, connection, schema=None, **kw):
        q = "SHOW TABLES"
        if schema:
            q += " IN " + self.identifier_preparer.quote_identifier(schema)
        return [_name(r) for r in connection.execute(text(q))]

    @classmethod
    def get_view_names(cls, database, inspector, schema):
        with database.get_raw_connection(schema=schema) as conn:
            cur = conn.cursor()
            cur.execute("SHOW VIEWS" + (f" IN `{{schema}}`" if schema else ""))
            return {{_name(r) for r in cur.fetchall()}}

    HiveDialect.get_table_names = get_table_names
    HiveEngineSpec.get_view_names = get_view_names

    # Every chart-data request on a virtual dataset asks for the database's default schema (for
    # its RLS cache key), which opens a Thrift session: remember the answer per database URI.
    default_schema = HiveEngineSpec.get_default_schema.__func__
    schemas = {{}}

    @classmethod
    def get_default_schema(cls, database, catalog):
        key = (database.id, database.sqlalchemy_uri, catalog)
        if key not in schemas:
            schemas[key] = default_schema(cls, database, catalog)
        return schemas[key]

    HiveEngineSpec.get_default_schema = get_default_schema

    # The cache key of a virtual dataset's chart parses the dataset's SQL (sqlglot) for its RLS
    # tables on every request: parse each SQL once; the predicates stay per user and live.
    import superset.utils.rls as rls
    from superset.sql.parse import SQLScript

    @functools.lru_cache(maxsize=256)
    def tables_of(sql, engine, catalog, schema):
        return frozenset(table.qualify(catalog=catalog, schema=schema)
                         for statement in SQLScript(sql, engine=engine).statements
                         for table in statement.tables)

    def collect_rls_predicates_for_sql(sql, database, catalog, schema):
        try:
            tables = tables_of(sql, database.db_engine_spec.engine, catalog, schema)
            default_catalog = database.get_default_catalog()
            return sorted({{predicate for table in tables
                           for predicate in rls.get_predicates_for_table(table, database,
                                                                         default_catalog)}})
        except Exception:  # as Superset's own: a parse failure must not break caching
            return []

    rls.collect_rls_predicates_for_sql = collect_rls_predicates_for_sql
'''


def config_text(state: Path, redis_port: int, password_file: Path) -> str:
    """The text of `superset_config.py` for the Superset whose state is in `state`.

    Example:
        >>> text = config_text(Path("/s"), 6379, Path("/p/.runner/secrets/redis.password"))
        >>> compile(text, "superset_config.py", "exec") is not None, "NullCache" in text
        (True, False)
    """
    return CONFIG_TEMPLATE.format(
        state=str(state), port=redis_port, password_file=str(password_file), timeout=TIMEOUT,
        data_db=DATA_DB, user_db=USER_DB, viewed_prefix=VIEWED_PREFIX, viewed_index=VIEWED_INDEX,
        viewed_max=VIEWED_MAX, viewed_ttl=VIEWED_TTL,
    )
