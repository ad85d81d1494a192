"""Split from tasksift.fastrerank: TODO."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

CACHE_ENV = "TASKSIFT_CACHE_DIR"


def cache_root() -> Path:
    """tasksift's user cache: $TASKSIFT_CACHE_DIR, else $XDG_CACHE_HOME/tasksift, else
    ~/.cache/tasksift."""
    explicit = os.environ.get(CACHE_ENV, "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = Path(os.environ.get("XDG_CACHE_HOME", "") or "~/.cache").expanduser()
    return (xdg if xdg.is_absolute() else Path.home() / ".cache") / "tasksift"


def _file_stats(folder: Path) -> list[list[Any]]:
    stats = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            stats.append([path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns])
    return stats


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically; a cache that cannot be written is only slower."""
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.write_text(json.dumps(data), encoding="utf-8")
        staging.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
