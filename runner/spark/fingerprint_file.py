"""The fingerprint a model's stored rows were computed with, kept beside them.

`runner.spark.materializations` writes `_fingerprint.json` into the staged Parquet folder of a
persisted model or a table-like model's copy, so it is swapped in with the rows; `runner.reuse`
reads it back to tell whether the stored rows are still current.
"""

from __future__ import annotations

import json
from pathlib import Path

FINGERPRINT_FILE = "_fingerprint.json"  # Spark skips files starting with "_" when it reads


def fingerprint_text(fingerprint: str) -> str:
    """The content of a `_fingerprint.json`.

    Example:
        >>> fingerprint_text("abc")
        '{"fingerprint": "abc"}\\n'
    """
    return json.dumps({"fingerprint": fingerprint}) + "\n"


def stored_fingerprint(folder: Path) -> str | None:
    """The fingerprint a complete persisted folder was written with; None if there is none."""
    if not (folder / "_SUCCESS").exists():
        return None
    try:
        value = json.loads((folder / FINGERPRINT_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
