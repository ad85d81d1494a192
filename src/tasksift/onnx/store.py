"""Where exports live, how they are keyed, and the one policy for keeping them.

An export is a folder ``ROOT/onnx/<kind>/<key>`` holding ``model.onnx``, ``tokenizer.json``
and ``check.json``. ROOT is the index folder for an index's embedder (searches need nothing
outside the index) and the user cache for cross-encoders (every index shares them). The key
(``export_key``) hashes everything the export depends on, ``EXPORT_FORMAT`` included, so a
folder is never rewritten in place: a new one is written under a staging name and renamed.
The policy, the same for both kinds:

* an export is reused while its key is the one asked for, and every open checks it again
  (``check.verify``); one that fails is damaged: the user cache's is removed at once and
  exported again at its next use; an index's is left to the next ``tasksift index``, which
  exports it again (searches never write an index);
* an export that failed its check when made keeps its ``check.json`` without the model,
  so that it is not tried again until its folder is deleted;
* an export nothing names any more is removed: an index keeps only the export its live
  manifest names, the cache only the export of each model folder's current files; the
  earlier layout's folders (``INDEX/query-encoder``, ``CACHE/rerankers``) go with them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasksift.errors import first_line
from tasksift.onnx.check import Check, Kind, read_check, verify
from tasksift.onnx.runtime import MODEL_FILE, DamagedExport, NotExported, OnnxModel, OnnxUnavailable

if TYPE_CHECKING:
    from tasksift.onnx.export import ExportSpec

CACHE_ENV = "TASKSIFT_CACHE_DIR"
EXPORTS = "onnx"
EXPORT_FORMAT = 3  # part of every key: bump when exports change, so that older ones are redone
LEGACY_FOLDERS = {Kind.EMBEDDER: "query-encoder", Kind.CROSS_ENCODER: "rerankers"}


def cache_root() -> Path:
    """tasksift's user cache: $TASKSIFT_CACHE_DIR, else $XDG_CACHE_HOME/tasksift, else
    ~/.cache/tasksift."""
    explicit = os.environ.get(CACHE_ENV, "")
    if explicit:
        return Path(explicit).expanduser()
    xdg = Path(os.environ.get("XDG_CACHE_HOME", "") or "~/.cache").expanduser()
    return (xdg if xdg.is_absolute() else Path.home() / ".cache") / "tasksift"


def export_key(*parts: str) -> str:
    """The key of an export that depends on ``parts`` (weights fingerprints, prompts...)."""
    return hashlib.sha256(json.dumps([EXPORT_FORMAT, *parts]).encode()).hexdigest()[:24]


def export_folder(root: Path, kind: Kind, key: str) -> Path:
    """The folder of the export ``key`` of ``kind`` under ``root``."""
    return root / EXPORTS / kind.value / key


def open_export(folder: Path, kind: Kind) -> tuple[OnnxModel, Check]:
    """The export in ``folder``, checked: NotExported when there is none, OnnxUnavailable
    when its check failed when made, DamagedExport when it cannot be trusted."""
    if not folder.is_dir():
        raise NotExported(f"{folder} does not exist")
    check = read_check(folder)
    if check is None or check.kind is not kind:
        raise DamagedExport(f"{folder} has no readable check of a {kind.value}")
    if not check.passed:
        raise OnnxUnavailable(f"its check failed: {check.reason}; delete {folder} to try again")
    model = OnnxModel(folder, check.settings)
    verify(model, check)
    return model, check


def save_export(spec: ExportSpec, root: Path, key: str) -> tuple[Path, Check]:
    """The folder and check of the export ``key`` under ``root``, made from ``spec`` unless
    a usable one, or one that failed its check, is there. Written under a staging name and
    renamed; a failed check is kept without the model. OnnxUnavailable when the export
    fails."""
    folder = export_folder(root, spec.kind, key)
    try:
        return folder, open_export(folder, spec.kind)[1]
    except NotExported:
        pass
    except DamagedExport:
        remove_export(folder)
    except OnnxUnavailable:
        check = read_check(folder)
        if check is not None and not check.passed:
            return folder, check
    return folder, _write(spec, folder)


def _write(spec: ExportSpec, folder: Path) -> Check:
    from tasksift.onnx.export import export_to

    staging = folder.parent / f".{folder.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir(parents=True)
        check = export_to(spec, staging)
        if not check.passed:
            (staging / MODEL_FILE).unlink()
        shutil.rmtree(folder, ignore_errors=True)
        staging.rename(folder)
    except OnnxUnavailable:
        raise
    except Exception as exc:  # any failure leaves the torch path, never a broken export
        if isinstance(exc, OSError) and (done := read_check(folder)) is not None:
            return done  # another process exported it meanwhile
        raise OnnxUnavailable(f"export failed: {first_line(exc)[:200]}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return check


def remove_export(folder: Path) -> None:
    """Drop an export (a damaged one: the next export or use makes it again)."""
    shutil.rmtree(folder, ignore_errors=True)


def remove_other_exports(root: Path, kind: Kind, keep: Path | None) -> None:
    """Drop every export of ``kind`` under ``root`` but ``keep``, the earlier layout's too."""
    for parent in (root / EXPORTS / kind.value, root / LEGACY_FOLDERS[kind]):
        if parent.is_dir():
            for folder in parent.iterdir():
                if folder != keep:
                    shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                parent.rmdir()  # only when nothing is left in it


def remove_earlier_layout(root: Path, kind: Kind) -> None:
    """Drop the folder of ``kind``'s exports as written before the two kinds shared one
    path (the user cache's: its keys are never asked for again)."""
    shutil.rmtree(root / LEGACY_FOLDERS[kind], ignore_errors=True)


def file_stats(folder: Path) -> list[list[Any]]:
    """Path, size and mtime of every file under ``folder``."""
    stats = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            stats.append([path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns])
    return stats


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically; a cache that cannot be written is only slower."""
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging.write_text(json.dumps(data), encoding="utf-8")
        staging.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
