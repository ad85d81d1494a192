"""LoRA adapters (PEFT folders) on an embedding model: read, fingerprint and apply them.

An adapter folder holds PEFT's ``adapter_config.json`` and weights, and, when
``tasksift adapt`` wrote it, ``tasksift_adapter.json`` (the task it was trained for, the
base model's name and weights fingerprint, how it was trained). ``read_adapter`` reads
what an index records without importing anything heavy, so that a mismatch is refused
before any model loads; ``apply_adapter`` imports peft (the ``tasksift[adapt]`` extra) and
merges the adapter into the model's weights, so encoding costs what it costs without one.

A model may also *ship* task adapters (Jina's way: one LoRA per task on one backbone,
chosen by name): named PEFT folders under its ``adapters/`` folder
(``adapters/retrieval/adapter_config.json``, ...). ``shipped_adapters`` lists them;
``load_task_adapters`` loads them all, unmerged, for the embedder to switch between by the
name the index's prompts record. Their weights count in the model's weights fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasksift.errors import InputError, MismatchError, ModelLoadError, first_line

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

CONFIG_FILE = "adapter_config.json"
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
TASKSIFT_FILE = "tasksift_adapter.json"
SHIPPED_FOLDER = "adapters"  # a model's own task adapters, one named PEFT folder each
INSTALL_HINT = "adapters need peft: pip install 'tasksift[adapt]'"


@dataclass(frozen=True)
class AdapterRecord:
    """What an index records about its adapter; ``fingerprint`` is what the guard compares."""

    path: str
    fingerprint: str  # sha256 over adapter_config.json and the weight file
    rank: int
    alpha: float
    target_modules: tuple[str, ...]
    task: str | None  # the task it was trained for; None: not made by `tasksift adapt`
    base_model: str | None  # the model it was trained on, as its config names it
    base_fingerprint: str | None = None  # that model's weights, when `tasksift adapt` made it

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "fingerprint": self.fingerprint,
            "rank": self.rank,
            "alpha": self.alpha,
            "target_modules": list(self.target_modules),
            "task": self.task,
            "base_model": self.base_model,
            "base_fingerprint": self.base_fingerprint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> AdapterRecord | None:
        if data is None:
            return None
        return cls(**{**data, "target_modules": tuple(data["target_modules"])})

    @property
    def short(self) -> str:
        """The fingerprint's first hex digits, for messages."""
        return self.fingerprint.removeprefix("sha256:")[:12]


def read_adapter(path: str | Path) -> AdapterRecord:
    """The record of the LoRA adapter in folder ``path``; InputError when it is not one."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise InputError(f"adapter not found: {folder} is not a folder")
    config = _read_json(folder / CONFIG_FILE, "PEFT adapter config")
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise InputError(
            f"{folder} holds a {config.get('peft_type')!r} adapter; tasksift applies LoRA ones"
        )
    weights = _weights_file(folder)
    if weights is None:
        raise InputError(f"{folder} has no adapter weights ({' or '.join(WEIGHT_FILES)})")
    ours = _read_json(folder / TASKSIFT_FILE, "") if (folder / TASKSIFT_FILE).is_file() else {}
    targets = config.get("target_modules") or ()
    return AdapterRecord(
        path=str(folder.resolve()),
        fingerprint=adapter_fingerprint(folder),
        rank=int(config.get("r", 0)),
        alpha=float(config.get("lora_alpha", 0)),
        target_modules=tuple(sorted([targets] if isinstance(targets, str) else targets)),
        task=ours.get("task"),
        base_model=ours.get("base_model") or config.get("base_model_name_or_path"),
        base_fingerprint=ours.get("base_fingerprint"),
    )


def adapter_fingerprint(folder: Path) -> str:
    """sha256 over the adapter's config and weights (name and bytes of each)."""
    digest = hashlib.sha256()
    for path in (folder / CONFIG_FILE, _weights_file(folder)):
        if path is None:
            continue
        digest.update(path.name.encode())
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode())
    return "sha256:" + digest.hexdigest()


def _weights_file(folder: Path) -> Path | None:
    return next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path.parent} is not a PEFT adapter folder (no {path.name})") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {what or path.name} {path}: {first_line(exc)}") from None
    if not isinstance(data, dict):
        raise InputError(f"{path} is not a JSON object")
    return data


def check_base(record: AdapterRecord, model_name: str, model_fingerprint: str) -> None:
    """Refuse an adapter `tasksift adapt` trained on other weights than the model's."""
    if record.base_fingerprint is not None and record.base_fingerprint != model_fingerprint:
        raise MismatchError(
            f"adapter {record.path} was trained on model {record.base_model!r} "
            f"({record.base_fingerprint[:19]}...), not on {model_name!r} "
            f"({model_fingerprint[:19]}...); give the model it was trained on with --model, "
            "or train one for this model: tasksift adapt"
        )


def apply_adapter(model: SentenceTransformer, record: AdapterRecord) -> None:
    """Merge the adapter at ``record.path`` into ``model``, checked to be the recorded one."""
    folder = Path(record.path)
    try:
        now = adapter_fingerprint(folder) if folder.is_dir() else None
    except OSError:
        now = None
    if now != record.fingerprint:
        state = "is missing" if now is None else "changed"
        raise MismatchError(
            f"the adapter at {folder} {state} since the index was built (it recorded "
            f"{record.short}); give its new place with --adapter, or rebuild the index: "
            "tasksift index CORPUS --adapter PATH --rebuild"
        )
    peft = import_peft()
    module = model[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft's deprecation warnings about transformers
            adapted = peft.PeftModel.from_pretrained(module.model, str(folder))
        module.model = adapted.merge_and_unload()
    except Exception as exc:
        raise ModelLoadError(f"cannot apply adapter {folder}: {first_line(exc)}") from exc


def import_peft() -> Any:
    """The peft module, or ModelLoadError saying how to install it."""
    try:
        import peft
    except ImportError:
        raise ModelLoadError(INSTALL_HINT) from None
    return peft


def shipped_adapters(model_folder: Path | None) -> dict[str, Path]:
    """The task adapters a model folder ships: name -> PEFT folder (empty when none)."""
    folder = model_folder / SHIPPED_FOLDER if model_folder is not None else None
    if folder is None or not folder.is_dir():
        return {}
    return {
        sub.name: sub
        for sub in sorted(folder.iterdir())
        if (sub / CONFIG_FILE).is_file() and _weights_file(sub) is not None
    }


def load_task_adapters(model: SentenceTransformer, adapters: dict[str, Path]) -> None:
    """Load the model's shipped ``adapters`` into its transformer by name, unmerged; the
    embedder activates one per encode (``set_adapter``)."""
    peft = import_peft()
    module = model[0]
    (first, path), *rest = adapters.items()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # peft's deprecation warnings about transformers
            wrapped = peft.PeftModel.from_pretrained(module.model, str(path), adapter_name=first)
            for name, other in rest:
                wrapped.load_adapter(str(other), adapter_name=name)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the model's task adapters: {first_line(exc)}") from exc
    wrapped.eval()
    module.model = wrapped
