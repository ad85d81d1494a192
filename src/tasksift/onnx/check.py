"""What an export must agree on with the torch model, and the check every load repeats.

Each ``Kind`` has its probes (inputs no export may get wrong: accents, scripts, one
letter, longer than the model reads) and its tolerance: an embedder's vectors within
cosine ``MIN_COSINE`` of torch's, a cross-encoder's scores within ``MAX_SCORE_DIFF`` and
in the same order. An export is checked on all probes when it is made; its ``Check``
(written beside it) keeps one probe and torch's output for it, which every load runs
again (``verify``), so that a damaged or tampered export is never used.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from tasksift.onnx.runtime import DamagedExport, Input, OnnxModel, RunSettings

CHECK_FILE = "check.json"
CHECK_FORMAT = 3  # records without one are an embedder's from before (``_from_format_2``)
MIN_COSINE = 0.9999
MAX_SCORE_DIFF = 1e-3
TIE = 1e-5  # probe scores closer than this may swap places
_LONG = "Erosion of the outer bank of a meander undercuts the roots of riverside trees. "
PROBE_TEXTS = (
    "what is the capital of France",
    "How do banks decide whether to approve a small business loan?",
    "river bank erosion",
    "Vitamin D supplementation and bone mineral density in older adults",
    "¿Dónde está la biblioteca? Über naïve café façades — 東京の天気",
    "a",
    "0-dimensional biomaterials show inductive properties.",
    " ".join(["a long query that goes past the model's maximum sequence length"] * 60),
)
PROBE_PAIRS = (
    ("what is the capital of France", "Paris is the capital and largest city of France."),
    (
        "How do banks decide whether to approve a small business loan?",
        "Lenders weigh cash flow, collateral and the owner's credit history before approving.",
    ),
    ("river bank erosion", "Willow roots hold the soil of a river bank together."),
    ("vitamin D and bone density", "0-dimensional biomaterials show inductive properties."),
    ("¿Dónde está la biblioteca?", "Über naïve café façades — 東京の天気"),
    ("a", "b"),
    ("why do rivers meander", _LONG * 60),  # longer than any model reads: truncated
    (_LONG * 40, "a short answer"),  # a query longer than the model reads
)


class Kind(Enum):
    """What an export computes: unit vectors of texts, or one score per (query, text)."""

    EMBEDDER = "embedder"
    CROSS_ENCODER = "cross-encoder"

    @property
    def probes(self) -> tuple[Input, ...]:
        return PROBE_TEXTS if self is Kind.EMBEDDER else PROBE_PAIRS

    @property
    def batch_size(self) -> int:
        """Inputs per onnxruntime call: small batches of pairs run fastest (bench/rerank.py)."""
        return 32 if self is Kind.EMBEDDER else 4

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        """The graph's output rows as compared: unit vectors, or scores."""
        if self is Kind.CROSS_ENCODER:
            return raw.reshape(-1)
        return raw / np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-12)

    def compare(self, reference: np.ndarray, ours: np.ndarray) -> tuple[float, str | None]:
        """How closely ``ours`` agrees with torch's ``reference`` (the lowest cosine, or
        the largest score difference), and why that is not close enough (None: it is)."""
        if self is Kind.EMBEDDER:
            cosine = float(np.min(np.sum(ours * reference, axis=1)))
            reason = None if cosine >= MIN_COSINE else f"cosine {cosine:.6f} < {MIN_COSINE}"
            return cosine, reason
        diff = float(np.max(np.abs(ours - reference)))
        if not diff <= MAX_SCORE_DIFF:
            return diff, f"scores differ by {diff:.2g} > {MAX_SCORE_DIFF}"
        if not same_order(reference, ours):
            return diff, "the probes rank differently"
        return diff, None


def same_order(reference: np.ndarray, ours: np.ndarray) -> bool:
    """Whether ``ours`` ranks the items as ``reference`` does, up to ties (scores within
    ``TIE`` of each other may swap)."""
    in_our_order = reference[np.argsort(-ours, kind="stable")]
    return bool(np.all(np.diff(in_our_order) <= TIE))


@dataclass(frozen=True)
class Check:
    """An export's check: how to run it, whether it agreed with torch, and the probe a
    load runs again with torch's output for it."""

    kind: Kind
    settings: RunSettings
    passed: bool
    reason: str | None
    agreement: float | None  # lowest probe cosine, or largest probe score difference
    probes: int
    probe: Input  # as the model reads it: the prompt included
    expected: tuple[float, ...]  # torch's output row for ``probe``
    details: dict[str, Any]  # per kind: the prompt, the dimension, the activation

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {**data, "format": CHECK_FORMAT, "kind": self.kind.value}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        """A check record, this format's or an earlier embedder's."""
        if "format" not in data:
            data = _from_format_2(data)
        settings = data["settings"]
        return cls(
            kind=Kind(data["kind"]),
            settings=RunSettings(
                inputs=tuple(settings["inputs"]),
                max_length=int(settings["max_length"]),
                padding_side=settings.get("padding_side") or "right",
                truncation_side=settings.get("truncation_side") or "right",
            ),
            passed=bool(data["passed"]),
            reason=data.get("reason"),
            agreement=data.get("agreement"),
            probes=int(data.get("probes", 0)),
            probe=data["probe"] if isinstance(data["probe"], str) else tuple(data["probe"]),
            expected=tuple(float(x) for x in data["expected"]),
            details=dict(data.get("details") or {}),
        )


def _from_format_2(old: dict[str, Any]) -> dict[str, Any]:
    """An embedder's record as indexes wrote it before the two kinds shared one path (it
    kept its prompt apart from its probe, and passed on its cosine alone); such an index
    still searches on it until ``tasksift index`` exports it again."""
    cosine = float(old.get("min_cosine", 0.0))
    prompt = old.get("query_prompt", "")
    settings = {k: old.get(k) for k in ("inputs", "padding_side", "truncation_side")}
    return {
        "kind": Kind.EMBEDDER.value,
        "settings": {**settings, "max_length": old["max_seq_length"]},
        "passed": cosine >= MIN_COSINE,
        "agreement": cosine,
        "probe": prompt + old["probe"],
        "expected": old["probe_vector"],
        "details": {"prompt": prompt, "dimension": old.get("dimension")},
    }


def read_check(folder: Path) -> Check | None:
    """The check beside an export; None when it is missing or unreadable."""
    try:
        return Check.from_dict(json.loads((folder / CHECK_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_check(folder: Path, check: Check) -> None:
    (folder / CHECK_FILE).write_text(json.dumps(check.to_dict()), encoding="utf-8")


def verify(model: OnnxModel, check: Check) -> None:
    """Run the recorded probe again: DamagedExport unless it gives torch's output."""
    try:
        ours = check.kind.outputs(model.run([check.probe], 1))
    except Exception as exc:
        raise DamagedExport(f"its probe cannot be run: {type(exc).__name__}") from None
    reference = np.asarray([check.expected], dtype=np.float32)
    if reference.size != ours.size:
        raise DamagedExport(f"its check on load failed: {ours.size} outputs, not {reference.size}")
    reference = check.kind.outputs(reference.reshape(ours.shape))
    _, reason = check.kind.compare(reference, ours)
    if reason is not None:
        raise DamagedExport(f"its check on load failed: {reason}")
