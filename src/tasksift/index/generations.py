"""Generations: find an index, write a complete generation and make it live, clean up.

A write builds ``.gen-<time>.partial`` beside the live generation, renames it and then
replaces ``CURRENT`` atomically; the previous generation stays until the next write, so
that a search that read ``CURRENT`` just before the swap can still open it. Parts that did
not change are hard-linked from the previous generation.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tasksift.errors import CorruptIndexError, IndexNotFoundError, IndexWriteError
from tasksift.index.sidecar import (
    PartRecord,
    Sidecar,
    fsync,
)
from tasksift.lexical.record import LEXICAL_DIR, LexicalRecord

if TYPE_CHECKING:
    import hnswlib
    import numpy as np

from tasksift.index.hnsw_file import VECTORS_FILE
from tasksift.index.location import CURRENT_FILE
from tasksift.index.manifest import PARTS_DIR, Manifest
from tasksift.index.sidecar import VECTORS_SUFFIX

PENDING_PREFIX = ".pending-"
MANIFEST_FILE = "manifest.json"


def generation_dir(index_dir: Path) -> Path:
    """The live generation folder of ``index_dir``."""
    if not index_dir.exists():
        raise IndexNotFoundError(f"index not found: {index_dir}")
    current = index_dir / CURRENT_FILE
    try:
        name = current.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise CorruptIndexError(
            f"{index_dir} is not a tasksift index (no {CURRENT_FILE} file)"
        ) from None
    except OSError as exc:
        raise CorruptIndexError(f"cannot read {current}: {exc.strerror}") from None
    folder = index_dir / name
    if not name or "/" in name or not folder.is_dir():
        raise CorruptIndexError(f"index {index_dir} points at a missing generation {name!r}")
    return folder


@dataclass(frozen=True)
class StagedPart:
    """A part for a new generation, and the folder whose ``parts/`` holds its files (a
    previous generation, or a writer's pending folder)."""

    record: PartRecord
    source: Path


def write_generation(
    index_dir: Path,
    manifest: Manifest,
    parts: Sequence[StagedPart],
    graph: hnswlib.Index | Path | Callable[[Path], None] | None,
    lexical: Callable[[Path, Sidecar], LexicalRecord] | None = None,
    part_vectors: Callable[[StagedPart], np.ndarray] | None = None,
) -> Manifest:
    """Write a complete new generation and make it live; the old one stays until then.

    ``parts`` are hard-linked (copied where links fail). ``graph`` is an hnswlib index to
    save, a function that saves one to the path it is given (and may then let it go, so
    that the lexical side has its memory), the vectors file of a previous generation to
    reuse unchanged, or None for a checkpoint, whose parts keep their vectors instead
    (linked from their source, or written from ``part_vectors``). ``lexical`` writes the
    lexical side into the folder it is given, reading the new generation's sidecar, and
    returns its record. Returns the manifest as written (with file sizes and the lexical
    record).
    """
    name = f"gen-{time.time_ns():020d}"
    staging = index_dir / f".{name}.partial"
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        (staging / PARTS_DIR).mkdir(parents=True)
        records = [_stage_part(part, staging, graph is None, part_vectors) for part in parts]
        manifest = replace(manifest, parts=tuple(records))
        if graph is not None:
            vectors = staging / VECTORS_FILE
            if isinstance(graph, Path):
                _link_or_copy(graph, vectors)
            elif callable(graph):
                graph(vectors)
            else:
                graph.save_index(str(vectors))
            fsync(vectors)
            manifest = replace(manifest, vectors_bytes=vectors.stat().st_size)
        if lexical is not None:
            sidecar = Sidecar(staging, records, sum(r.rows for r in records))
            manifest = replace(manifest, lexical=lexical(staging / LEXICAL_DIR, sidecar))
        copy = {"manifest": json.loads(manifest.to_json())}
        (staging / MANIFEST_FILE).write_text(json.dumps(copy, indent=1), encoding="utf-8")
        fsync(staging / MANIFEST_FILE)
        staging.rename(index_dir / name)
        _point_current(index_dir, name)
    except OSError as exc:
        _discard(index_dir, name)
        raise IndexWriteError(
            f"cannot write index {index_dir}: {exc.strerror or exc}; the previous index, if any, "
            "is unchanged"
        ) from None
    remove_stale_generations(index_dir)
    return manifest


def _stage_part(
    part: StagedPart,
    staging: Path,
    checkpoint: bool,
    part_vectors: Callable[[StagedPart], np.ndarray] | None,
) -> PartRecord:
    """Link a part's files into ``staging`` (and, in a checkpoint, its vectors)."""
    for source, target in zip(
        part.record.files(part.source), part.record.files(staging), strict=True
    ):
        _link_or_copy(source, target)
    if checkpoint:
        name = f"{part.record.name}{VECTORS_SUFFIX}"
        source, target = part.source / PARTS_DIR / name, staging / PARTS_DIR / name
        if source.is_file():
            _link_or_copy(source, target)
        elif part_vectors is not None:
            import numpy as np

            np.save(target, part_vectors(part))
    return part.record


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _point_current(index_dir: Path, name: str) -> None:
    pending = index_dir / f".{CURRENT_FILE}.{secrets.token_hex(3)}"
    try:
        pending.write_text(name + "\n", encoding="utf-8")
        fsync(pending)
        os.replace(pending, index_dir / CURRENT_FILE)
    finally:
        pending.unlink(missing_ok=True)
    fsync(index_dir)


def _discard(index_dir: Path, name: str) -> None:
    """Remove what a failed write of generation ``name`` left, unless it went live."""
    shutil.rmtree(index_dir / f".{name}.partial", ignore_errors=True)
    try:
        live = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        live = None
    if live != name:
        shutil.rmtree(index_dir / name, ignore_errors=True)


def remove_stale_generations(index_dir: Path) -> None:
    """Drop what killed or failed writes left, and all generations but the live one and the
    one before it. Only a holder of the writer lock may call this.

    The previous generation is kept so that a search that read ``CURRENT`` just before the
    swap can still open it.
    """
    try:
        live = (index_dir / CURRENT_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        live = None
    others = sorted(p for p in index_dir.glob("gen-*") if p.is_dir() and p.name != live)
    older = [p for p in others if live is not None and p.name < live]
    previous = older[-1] if older else None
    mine = index_dir / f"{PENDING_PREFIX}{os.getpid()}"  # this writer's own, in use
    pending = [p for p in index_dir.glob(f"{PENDING_PREFIX}*") if p != mine]
    stale_writes = [*index_dir.glob(".gen-*.partial"), *pending]
    for stale in [*(p for p in others if p != previous), *stale_writes]:
        shutil.rmtree(stale, ignore_errors=True)
    for pending in index_dir.glob(f".{CURRENT_FILE}.*"):
        pending.unlink(missing_ok=True)


def index_size_on_disk(index_dir: Path) -> dict[str, int]:
    """Bytes of each file of the live generation; a folder (``lexical/``) counts as one."""
    folder = generation_dir(index_dir)
    return {
        p.name: sum(f.stat().st_size for f in p.iterdir()) if p.is_dir() else p.stat().st_size
        for p in sorted(folder.iterdir())
    }
