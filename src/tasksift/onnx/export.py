"""Export a sentence-transformers model (an embedder or a cross-encoder) to ONNX and check it.

One ``ExportSpec`` says what differs between the kinds: which output of the model the
graph returns, torch's outputs for the kind's probes, and what the check records beside
the settings. The rest is shared: the model's own preprocessing gives the graph's inputs,
attention is traced in its plain (eager) form, the Rust tokenizer is saved beside the
graph, and the export is run on every probe and compared with torch (``check``).
Torch is imported here only, inside ``export_to``.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tasksift.onnx.check import Check, Kind, write_check
from tasksift.onnx.runtime import (
    INPUT_NAMES,
    MODEL_FILE,
    TOKENIZER_FILE,
    Input,
    OnnxModel,
    OnnxUnavailable,
    RunSettings,
)

if TYPE_CHECKING:
    import torch

OPSET = 17


@dataclass(frozen=True)
class ExportSpec:
    """What one export needs: the model (a ``SentenceTransformer`` or a ``CrossEncoder``),
    the output its graph returns from the model's output features, the probes as the
    model reads them (a prompt included) and torch's outputs for them."""

    kind: Kind
    model: Any
    output: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    probes: tuple[Input, ...]
    reference: Callable[[], np.ndarray]  # torch's output rows for ``probes``
    details: dict[str, Any] = field(default_factory=dict)  # recorded in the check


def export_to(spec: ExportSpec, folder: Path) -> Check:
    """Write the graph, the tokenizer and the check of ``spec`` into ``folder``; the check."""
    import torch

    model = spec.model
    tokenizer = getattr(model.tokenizer, "backend_tokenizer", None)
    if tokenizer is None:
        raise OnnxUnavailable("the model has no fast (Rust) tokenizer")
    preprocess = getattr(model, "preprocess", None) or model.tokenize  # renamed in ST 5.x
    sample = preprocess(list(spec.probes[:2]))
    names = tuple(name for name in INPUT_NAMES if name in sample)

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return spec.output(self.model(dict(zip(names, tensors, strict=True))))

    dynamic = {name: {0: "batch", 1: "tokens"} for name in names}
    with warnings.catch_warnings(), torch.no_grad(), _eager_attention(model):
        warnings.simplefilter("ignore")
        model.eval()
        torch.onnx.export(
            Graph(),
            tuple(sample[name] for name in names),
            str(folder / MODEL_FILE),
            input_names=list(names),
            output_names=["output"],
            dynamic_axes={**dynamic, "output": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    tokenizer.save(str(folder / TOKENIZER_FILE))
    settings = RunSettings(
        inputs=names,
        max_length=int(model.max_seq_length),
        padding_side=getattr(model.tokenizer, "padding_side", "right"),
        truncation_side=getattr(model.tokenizer, "truncation_side", "right"),
    )
    check = _check(spec, OnnxModel(folder, settings))
    write_check(folder, check)
    return check


def _check(spec: ExportSpec, onnx: OnnxModel) -> Check:
    """Every probe run by the export and by torch, compared as ``spec.kind`` requires."""
    kind = spec.kind
    reference = kind.outputs(np.asarray(spec.reference(), dtype=np.float32))
    ours = kind.outputs(onnx.run(spec.probes, kind.batch_size))
    agreement, reason = kind.compare(reference, ours)
    return Check(
        kind=kind,
        settings=onnx.settings,
        passed=reason is None,
        reason=None if reason is None else f"probe {reason}",
        agreement=agreement,
        probes=len(spec.probes),
        probe=spec.probes[1],
        expected=tuple(float(x) for x in np.atleast_1d(reference[1])),
        details=spec.details,
    )


@contextlib.contextmanager
def _eager_attention(model: Any) -> Iterator[None]:
    """Trace plain (eager) attention: its ONNX graph runs about 10% faster on CPU than the
    traced scaled-dot-product kernel (bench/rerank.py). The model's own is restored."""
    inner = next((m for m in model.modules() if hasattr(m, "set_attn_implementation")), None)
    before = getattr(getattr(inner, "config", None), "_attn_implementation", None)
    try:
        inner.set_attn_implementation("eager")
        switched = True
    except Exception:  # a model without the switch is traced as it is
        switched = False
    try:
        yield
    finally:
        if switched and before is not None:
            inner.set_attn_implementation(before)
