"""The benchmark's raw data sets: generated once with the project's generator, then cached.

Each size is a folder under `.runner/bench-data/<size>/` holding the three CSV files and
`bench-data.json` (the generator's arguments and row counts); a folder whose JSON matches the
arguments is reused, anything else is generated again.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ORIGINAL_USERS = 13_000
MARKER = "bench-data.json"


@dataclass(frozen=True)
class DataSize:
    """One benchmark size: `generate_dataset(out_dir, users, seed, heavy=heavy)`."""

    name: str
    users: int
    heavy: bool = False
    seed: int = 42


SIZES: dict[str, DataSize] = {
    "1x": DataSize("1x", ORIGINAL_USERS),
    "10x": DataSize("10x", ORIGINAL_USERS * 10),
    "100x": DataSize("100x", ORIGINAL_USERS * 100),
    # 1 M users, 40% of them with ~50 transactions on many days: ~20 M transaction rows
    "heavy": DataSize("heavy", 1_000_000, heavy=True),
}


def ensure_dataset(size: DataSize, cache_dir: Path, log=print) -> tuple[Path, dict[str, int]]:
    """The folder with `size`'s CSV files, generated when missing; returns it and its rows."""
    from runner.generate import generate_dataset

    folder = cache_dir / size.name
    marker = folder / MARKER
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("args") == asdict(size):
            return folder, recorded["rows"]
    log(f"generating {size.name} data ({size.users:,} users{', heavy' if size.heavy else ''}) "
        f"into {folder} ...")
    marker.unlink(missing_ok=True)
    started = time.perf_counter()
    rows = generate_dataset(folder, users=size.users, seed=size.seed, heavy=size.heavy)
    seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"args": asdict(size), "rows": rows, "seconds": seconds}))
    log(f"  {', '.join(f'{k}: {v:,}' for k, v in rows.items())} rows in {seconds:.0f}s")
    return folder, rows


def original_dataset(project_dir: Path) -> tuple[Path, dict[str, int]] | None:
    """The original CSV exports (`../shared/data/original`) when this checkout has them."""
    folder = (project_dir / ".." / "shared" / "data" / "original").resolve()
    if not (folder / "lk_onboarding.csv").exists():
        return None
    return folder, {}
