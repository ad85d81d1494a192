"""The one ONNX path: both kinds (an embedder, a cross-encoder) exported, stored, checked on
load and fallen back from through the same functions, with tiny models made here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_bert

QUERY_PROMPT = "query: "


@pytest.fixture(scope="module")
def tiny_embedder(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory):
    """A two-layer BERT as tasksift loads embedders (sentence-transformers adds mean
    pooling)."""
    from tasksift.vectors.embedder import load_embedder

    folder = tiny_bert(minilm_path, tmp_path_factory.mktemp("embedder") / "tiny", labels=None)
    return load_embedder(str(folder))


@pytest.fixture(scope="module")
def tiny_cross_encoder(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory):
    from sentence_transformers import CrossEncoder

    folder = tiny_bert(minilm_path, tmp_path_factory.mktemp("ce") / "tiny-ce", labels=1)
    return CrossEncoder(str(folder), device="cpu"), folder


@pytest.fixture(scope="module")
def exports(tiny_embedder, tiny_cross_encoder, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Both kinds exported through ``save_export`` under one root: kind -> (folder, check)."""
    from tasksift.onnx.cross_encoder import cross_encoder_spec
    from tasksift.onnx.embedder import export_embedder
    from tasksift.prompts import PromptSet

    root = tmp_path_factory.mktemp("exports")
    record = export_embedder(tiny_embedder, PromptSet(QUERY_PROMPT, "passage: "), root)
    assert record.passed, record.reason
    from tasksift.onnx.check import Kind, read_check
    from tasksift.onnx.store import save_export

    embedder_folder = root / record.directory
    cross = save_export(cross_encoder_spec(tiny_cross_encoder[0]), root, "tiny-ce")
    return {
        Kind.EMBEDDER: (embedder_folder, read_check(embedder_folder)),
        Kind.CROSS_ENCODER: cross,
    }


def test_both_kinds_are_exported_checked_and_stored_alike(exports: dict) -> None:
    from tasksift.onnx.check import Kind

    for kind, (folder, check) in exports.items():
        assert folder.parent == folder.parent.parent.parent / "onnx" / kind.value
        assert {p.name for p in folder.iterdir()} == {"model.onnx", "tokenizer.json", "check.json"}
        assert check.kind is kind and check.passed and check.probes == len(kind.probes)
        assert not list(folder.parent.glob(".*partial"))  # the staging folder was renamed
    embedder_check = exports[Kind.EMBEDDER][1]
    assert embedder_check.agreement >= 0.9999
    assert embedder_check.probe.startswith(QUERY_PROMPT)  # the probe as the model reads it
    assert exports[Kind.CROSS_ENCODER][1].agreement <= 1e-3


def test_the_exports_give_torchs_outputs(exports: dict, tiny_embedder, tiny_cross_encoder) -> None:
    from tasksift.onnx.check import Kind
    from tasksift.onnx.cross_encoder import OnnxPairScorer
    from tasksift.onnx.embedder import OnnxEmbedder
    from tasksift.onnx.store import open_export

    texts = ["river banks", "¿qué es una vacuna?", "x", "loans " * 300]
    embedder = OnnxEmbedder(*open_export(exports[Kind.EMBEDDER][0], Kind.EMBEDDER))
    ours = embedder.encode(texts, QUERY_PROMPT)
    theirs = tiny_embedder.encode(texts, QUERY_PROMPT)
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.9999
    assert embedder.encode([], QUERY_PROMPT).shape == (0, tiny_embedder.dimension)
    pairs = [("river banks", text) for text in texts]
    scorer = OnnxPairScorer(open_export(exports[Kind.CROSS_ENCODER][0], Kind.CROSS_ENCODER)[0])
    reference = tiny_cross_encoder[0].predict(pairs, show_progress_bar=False)
    np.testing.assert_allclose(scorer.score_pairs(pairs), reference, atol=1e-4)


@pytest.mark.parametrize("kind_name", ["EMBEDDER", "CROSS_ENCODER"])
@pytest.mark.parametrize("damage", ["expected output", "truncated model", "other kind"])
def test_the_check_on_load_refuses_a_tampered_export(
    exports: dict, tmp_path: Path, kind_name: str, damage: str
) -> None:
    from tasksift.onnx.check import Kind
    from tasksift.onnx.runtime import DamagedExport
    from tasksift.onnx.store import open_export

    kind = Kind[kind_name]
    folder = tmp_path / "export"
    shutil.copytree(exports[kind][0], folder)
    if damage == "expected output":
        check = json.loads((folder / "check.json").read_text())
        check["expected"] = [x + 0.5 for x in check["expected"]]
        (folder / "check.json").write_text(json.dumps(check))
    elif damage == "truncated model":
        (folder / "model.onnx").write_bytes((folder / "model.onnx").read_bytes()[:3000])
    else:
        other = exports[Kind.CROSS_ENCODER if kind is Kind.EMBEDDER else Kind.EMBEDDER][0]
        shutil.copy(other / "model.onnx", folder / "model.onnx")  # the check is not its own
    with pytest.raises(DamagedExport):
        open_export(folder, kind)
    with pytest.raises(DamagedExport):  # an export is only opened as its own kind
        open_export(
            exports[kind][0], Kind.CROSS_ENCODER if kind is Kind.EMBEDDER else Kind.EMBEDDER
        )


def test_a_damaged_cross_encoder_export_falls_back_and_is_removed(
    tiny_cross_encoder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tasksift.onnx.cross_encoder import open_onnx_scorer
    from tasksift.onnx.fallback import onnx_or_torch

    monkeypatch.setenv("TASKSIFT_CACHE_DIR", str(tmp_path / "cache"))
    model, folder = tiny_cross_encoder
    scorer, note = open_onnx_scorer("tiny", folder, lambda: model)
    assert "first use of reranker tiny" in note
    (export,) = (tmp_path / "cache" / "onnx" / "cross-encoder").iterdir()
    check = json.loads((export / "check.json").read_text())
    check["expected"][0] += 0.5
    (export / "check.json").write_text(json.dumps(check))
    used, note = onnx_or_torch("rerank", lambda: open_onnx_scorer("tiny", folder, lambda: model),
                               lambda: "torch")  # fmt: skip
    assert used == "torch" and note.startswith("fast rerank path unavailable (its check on load")
    assert note.endswith("; it is exported again next time") and not export.exists()
    again, note = open_onnx_scorer("tiny", folder, lambda: model)
    assert "first use" in note and again.score_pairs([("a", "b")]).shape == (1,)


def test_a_failed_check_is_kept_without_the_model_and_not_redone(
    tiny_embedder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tasksift.onnx.check
    import tasksift.onnx.export
    from tasksift.index.manifest import OnnxEmbedderRecord
    from tasksift.onnx.embedder import export_embedder, open_onnx_embedder
    from tasksift.onnx.runtime import OnnxUnavailable
    from tasksift.prompts import PromptSet

    prompts = PromptSet(QUERY_PROMPT, "passage: ")
    monkeypatch.setattr(tasksift.onnx.check, "MIN_COSINE", 1.5)  # no export can pass
    record = export_embedder(tiny_embedder, prompts, tmp_path)
    assert not record.passed and record.reason.startswith("probe cosine")
    kept = (tmp_path / record.directory).iterdir()
    assert {p.name for p in kept} == {"check.json", "tokenizer.json"}  # no model

    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(tasksift.onnx.export, "export_to", no_export)
    assert export_embedder(tiny_embedder, prompts, tmp_path) == record
    with pytest.raises(OnnxUnavailable, match="probe cosine"):
        open_onnx_embedder(tmp_path, OnnxEmbedderRecord.from_dict(record.to_dict()))


def test_the_cache_keeps_one_export_per_model_folder(
    tiny_cross_encoder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A model whose files change gets a new key, and the export of its former one goes;
    so does the cache's earlier layout (``rerankers/``), whose keys are never asked for."""
    from tasksift.onnx.cross_encoder import open_onnx_scorer

    cache = tmp_path / "cache"
    monkeypatch.setenv("TASKSIFT_CACHE_DIR", str(cache))
    (cache / "rerankers" / "0123").mkdir(parents=True)
    model, source = tiny_cross_encoder
    folder = shutil.copytree(source, tmp_path / "model")
    open_onnx_scorer("tiny", folder, lambda: model)
    assert not (cache / "rerankers").exists()
    (first,) = (cache / "onnx" / "cross-encoder").iterdir()
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "note": "edited"}))
    _, note = open_onnx_scorer("tiny", folder, lambda: model)
    assert "first use of reranker tiny" in note
    (second,) = (cache / "onnx" / "cross-encoder").iterdir()
    assert second.name != first.name and (second / "model.onnx").is_file()


def test_an_index_of_the_earlier_layout_keeps_its_export_until_exported_again(
    exports: dict, tiny_embedder, tmp_path: Path
) -> None:
    """Indexes written before the two kinds shared one path hold ``query-encoder/<key>``
    with the embedder's own check format: opened as they are, replaced by the next export."""
    from tasksift.onnx.check import Kind, read_check
    from tasksift.onnx.embedder import export_embedder, remove_unused_exports
    from tasksift.onnx.store import open_export
    from tasksift.prompts import PromptSet

    folder = shutil.copytree(exports[Kind.EMBEDDER][0], tmp_path / "query-encoder" / "k")
    made = read_check(folder)
    (folder / "check.json").write_text(json.dumps(_format_2(made.to_dict())))
    check = open_export(folder, Kind.EMBEDDER)[1]
    assert (check.kind, check.passed, check.settings) == (Kind.EMBEDDER, True, made.settings)
    assert (check.probe, check.expected) == (made.probe, made.expected)
    record = export_embedder(tiny_embedder, PromptSet(QUERY_PROMPT, "passage: "), tmp_path)
    remove_unused_exports(tmp_path, record)
    assert record.directory.startswith("onnx/embedder/")
    assert (tmp_path / record.directory / "model.onnx").is_file()
    assert not (tmp_path / "query-encoder").exists()


def _format_2(new: dict) -> dict:
    """An embedder's check ``new`` as indexes wrote it before one ONNX path."""
    settings = new["settings"]
    return {
        "inputs": settings["inputs"],
        "max_seq_length": settings["max_length"],
        "padding_side": settings["padding_side"],
        "query_prompt": QUERY_PROMPT,
        "dimension": len(new["expected"]),
        "min_cosine": new["agreement"],
        "probe": new["probe"][len(QUERY_PROMPT) :],
        "probe_vector": new["expected"],
    }


def test_the_switch_sends_both_kinds_to_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasksift.onnx.fallback import onnx_or_torch
    from tasksift.onnx.runtime import NotExported

    def never() -> tuple[str, None]:
        raise AssertionError("ONNX used")

    def missing() -> tuple[str, None]:
        raise NotExported("none yet")

    assert onnx_or_torch("query", lambda: ("onnx", None), lambda: "torch") == ("onnx", None)
    assert onnx_or_torch("query", missing, lambda: "torch") == (
        "torch",
        "fast query path unavailable (none yet); using sentence-transformers",
    )
    monkeypatch.setenv("TASKSIFT_FAST_PATH", "0")
    for path in ("query", "rerank"):
        used, note = onnx_or_torch(path, never, lambda: "torch")
        assert (
            used == "torch"
            and note == f"{path} path on sentence-transformers (TASKSIFT_FAST_PATH=0)"
        )
