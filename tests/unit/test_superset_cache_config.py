"""The Redis and Superset configs the runner writes for Superset's cache (no service started)."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from runner.config import SupersetTarget
from runner.local import redis_server
from runner.local.superset_config import config_text


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


def test_superset_config_caches_in_redis_with_the_password_from_its_file() -> None:
    secret = Path("/p/.runner/secrets/redis.password")
    text = config_text(Path("/p/.runner/superset"), 6390, secret)
    tree = ast.parse(text)
    assigned = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}  # fmt: skip
    for name in ("DATA_CACHE_CONFIG", "CACHE_CONFIG", "FILTER_STATE_CACHE_CONFIG",
                 "EXPLORE_FORM_DATA_CACHE_CONFIG"):  # fmt: skip
        assert name in assigned, name
    assert "NullCache" not in text
    assert f"Path({str(secret)!r}).read_text()" in text  # read by Superset, not passed to it
    assert "_REDIS_PORT = 6390" in text
    assert f"DATA_CACHE_CONFIG = _cache({redis_server.DATA_DB}," in text
    assert f"FILTER_STATE_CACHE_CONFIG = {{**_cache({redis_server.USER_DB}," in text
    assert '"socket_timeout": 5.0' in text  # every Redis call has a timeout


def test_the_cache_port_is_a_target_setting() -> None:
    assert SupersetTarget().cache_port == 6379
    assert SupersetTarget(cache_port=6390).cache_port == 6390
