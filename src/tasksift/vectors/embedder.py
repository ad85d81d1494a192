"""The embedding model: the ``Embedder`` protocol every encoder meets (torch here, ONNX in
``tasksift.onnx.embedder``), sentence-transformers behind it, and loading a model checked
against an index's weights fingerprint."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tasksift.errors import MismatchError, ModelLoadError, first_line

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer
from tasksift.vectors.adapters import (
    AdapterRecord,
    apply_adapter,
    check_base,
    load_task_adapters,
    shipped_adapters,
)
from tasksift.vectors.models import (
    ModelSource,
    loadable_target,
    locate_model,
    verify_bundled_weights,
    weights_fingerprint,
)


class Embedder(Protocol):
    """What the pipeline needs of an embedding model."""

    name: str
    dimension: int
    max_seq_length: int
    fingerprint: str

    def encode(
        self, texts: list[str], prompt: str, adapter: str | None = None, batch_size: int = 32
    ) -> np.ndarray:
        """Unit-length float32 vectors of ``prompt + text`` for each text."""
        ...

    @property
    def tokenizer(self) -> Tokenizer: ...


class SentenceTransformerEmbedder:
    """An :class:`Embedder` over a sentence-transformers model, with a LoRA adapter merged
    in or none. ``weights_fingerprint`` is the model's weights'; ``fingerprint`` is what
    its vectors come from: those weights and the adapter. ``task_adapters`` are the ones
    the model ships (``adapters/NAME``), one of which ``encode(adapter=NAME)`` activates;
    a model without them gets ``task=NAME`` (Jina's remote code chooses its own)."""

    def __init__(
        self,
        model: SentenceTransformer,
        source: ModelSource,
        fingerprint: str,
        adapter: AdapterRecord | None = None,
        task_adapters: frozenset[str] = frozenset(),
    ) -> None:
        self._model = model
        self.task_adapters = task_adapters
        self.source = source
        self.name = source.name
        self.weights_fingerprint = fingerprint
        self.adapter = adapter
        self.fingerprint = fingerprint
        if adapter is not None:
            both = f"{fingerprint}+{adapter.fingerprint}".encode()
            self.fingerprint = "sha256:" + hashlib.sha256(both).hexdigest()
        dimension = getattr(model, "get_embedding_dimension", None) or (
            model.get_sentence_embedding_dimension
        )
        self.dimension = int(dimension() or 0)
        self.max_seq_length = int(model.max_seq_length)

    @property
    def model(self) -> SentenceTransformer:
        return self._model

    @property
    def prompts(self) -> dict[str, str]:
        return dict(self._model.prompts)

    @property
    def tokenizer(self) -> Tokenizer:
        backend = getattr(self._model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise ModelLoadError(
                f"model {self.name} has no fast (Rust) tokenizer; tasksift needs one to chunk by "
                "tokens"
            )
        return backend

    def encode(
        self, texts: list[str], prompt: str, adapter: str | None = None, batch_size: int = 32
    ) -> np.ndarray:
        shipped = bool(self.task_adapters)
        extra: dict[str, Any] = {"task": adapter} if adapter and not shipped else {}
        with self._task_adapter(adapter) if shipped else contextlib.nullcontext():
            vectors = self._model.encode(
                texts,
                prompt=prompt,
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
                **extra,
            )
        return np.asarray(vectors, dtype=np.float32)

    @contextlib.contextmanager
    def _task_adapter(self, name: str | None) -> Iterator[None]:
        """The shipped adapter ``name`` active (None: the bare model) while encoding."""
        wrapped = self._model[0].model
        if name is None:
            with wrapped.disable_adapter():
                yield
            return
        if name not in self.task_adapters:
            raise ModelLoadError(
                f"model {self.name} ships task adapters {', '.join(sorted(self.task_adapters))}"
                f", not {name!r}, which this task's prompts name; build the index for a task "
                "it has an adapter for (--task), or with another --profile"
            )
        wrapped.set_adapter(name)
        yield


def quiet_transformers() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def load_embedder(
    name: str,
    *,
    trust_remote_code: bool = False,
    device: str | None = None,
    expected_fingerprint: str | None = None,
    adapter: AdapterRecord | None = None,
) -> SentenceTransformerEmbedder:
    """Load ``name`` (the default model, a local folder or a Hugging Face id) for encoding,
    with ``adapter`` merged into it when given.

    With ``expected_fingerprint`` (an index's), refuse a model whose weights differ.
    """
    source = locate_model(name)
    if source.bundled:
        verify_bundled_weights(source.path)
    target = loadable_target(source)
    quiet_transformers()
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(target, device=device, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise ModelLoadError(_load_failure_message(source.name, exc, trust_remote_code)) from exc
    fingerprint = (
        weights_fingerprint(source.path) if source.path is not None else _state_fingerprint(model)
    )
    if expected_fingerprint is not None and fingerprint != expected_fingerprint:
        raise MismatchError(
            f"the weights of model '{source.name}' changed since the index was built "
            f"({fingerprint[:19]}... now, {expected_fingerprint[:19]}... then); rebuild the "
            "index: tasksift index CORPUS --rebuild"
        )
    if adapter is not None:
        check_base(adapter, source.name, fingerprint)
        apply_adapter(model, adapter)
    shipped = shipped_adapters(source.path)
    if shipped:
        load_task_adapters(model, shipped)
    return SentenceTransformerEmbedder(model, source, fingerprint, adapter, frozenset(shipped))


def _state_fingerprint(model: SentenceTransformer) -> str:
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return "sha256-state:" + digest.hexdigest()


def _load_failure_message(name: str, exc: Exception, trust_remote_code: bool) -> str:
    text = first_line(exc)
    if "trust_remote_code" in str(exc) and not trust_remote_code:
        return f"model {name} runs its own code; if you trust it, rerun with --trust-remote-code"
    if Path(name).is_absolute() or name.startswith((".", "~")):
        return f"cannot load model from {name}: {text}"
    return (
        f"cannot load model {name!r}: {text}. It is not a local folder and could not be fetched "
        "from the Hugging Face Hub (offline?); download it where there is network "
        "(huggingface-cli download) or pass a local folder with --model"
    )
