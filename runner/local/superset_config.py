"""The config the runner writes for its managed Superset (see superset_server): a program and
its settings.

The program is `runner/local/in_superset/superset_config.py`, copied as it is; it runs inside
Superset's venv and reads its settings from `superset_config.json` beside it (paths, ports, the
file of Redis's password; `ConfigSettings`).

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

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from runner.local.redis_server import DATA_DB, TIMEOUT, USER_DB

VIEWED_INDEX = "runner:viewed"
VIEWED_PREFIX = "runner:viewed:"
VIEWED_MAX = 300
VIEWED_TTL = 30 * 86400

PROGRAM = Path(__file__).with_name("in_superset") / "superset_config.py"
CONFIG_FILE = "superset_config.py"  # Superset's SUPERSET_CONFIG_PATH
SETTINGS_FILE = "superset_config.json"  # read by the program, beside it


@dataclass(frozen=True)
class ConfigSettings:
    """What the config program reads from `superset_config.json`: no secret, only where they are.

    Attributes:
        state: Superset's state folder (secret_key, superset.db, home/).
        redis_port: the project's Redis, on 127.0.0.1.
        redis_password_file: Redis's password (0600), read by the program itself, so it is never
            in a child's environment or on a command line.
        redis_timeout: seconds for every Redis call.
        data_db: the Redis database of chart data and metadata, emptied by a build.
        user_db: the Redis database of filter state, explore form data and viewed charts.
        viewed_prefix, viewed_index, viewed_max, viewed_ttl: how viewed chart-data requests
            are remembered for `runner.local.superset_cache`.
    """

    state: str
    redis_port: int
    redis_password_file: str
    redis_timeout: float = TIMEOUT
    data_db: int = DATA_DB
    user_db: int = USER_DB
    viewed_prefix: str = VIEWED_PREFIX
    viewed_index: str = VIEWED_INDEX
    viewed_max: int = VIEWED_MAX
    viewed_ttl: int = VIEWED_TTL


def config_files(state: Path, redis_port: int, password_file: Path) -> dict[str, str]:
    """The files of the config for the Superset whose state is in `state`, by name.

    Example:
        >>> files = config_files(Path("/s"), 6379, Path("/p/.runner/secrets/redis.password"))
        >>> sorted(files), json.loads(files[SETTINGS_FILE])["redis_port"]
        (['superset_config.json', 'superset_config.py'], 6379)
    """
    settings = ConfigSettings(str(state), redis_port, str(password_file))
    return {
        CONFIG_FILE: PROGRAM.read_text(),
        SETTINGS_FILE: json.dumps(asdict(settings), indent=2) + "\n",
    }
