"""The recorded prompts are the ones really put in front of chunks and queries."""

from __future__ import annotations

import json
from pathlib import Path

import hnswlib
import numpy as np
import pytest

from conftest import invoke, minilm_with_prompts, sidecar_table

QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "


@pytest.fixture(scope="module")
def prompted_model(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local copy of the bundled MiniLM whose config ships query and document prompts."""
    folder = tmp_path_factory.mktemp("prompted") / "minilm-with-prompts"
    prompts = {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT}
    return minilm_with_prompts(minilm_path, folder, prompts)


def _stored(index: Path) -> tuple[dict, list[dict], np.ndarray]:
    generation = index / (index / "CURRENT").read_text().strip()
    table = sidecar_table(index)
    manifest = json.loads((generation / "manifest.json").read_text())["manifest"]
    graph = hnswlib.Index(space="cosine", dim=manifest["model"]["dimension"])
    graph.load_index(str(generation / "vectors.hnsw"))
    vectors = np.asarray(graph.get_items(table.column("label").to_pylist()), dtype=np.float32)
    return manifest, table.to_pylist(), vectors


def test_chunk_and_query_vectors_use_the_recorded_prompts(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path, prompted_model: Path, minilm
) -> None:
    from sentence_transformers import SentenceTransformer

    index = tmp_path / "index"
    built = invoke(capsys, "index", corpus, "-i", index, "-m", prompted_model, "-q")
    assert built.code == 0, built.stderr
    manifest, rows, vectors = _stored(index)
    assert manifest["prompts"]["query"] == QUERY_PROMPT
    assert manifest["prompts"]["document"] == DOCUMENT_PROMPT

    model = SentenceTransformer(str(prompted_model), device="cpu")
    expected = model.encode([DOCUMENT_PROMPT + r["text"] for r in rows], normalize_embeddings=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    unprompted = minilm.encode([r["text"] for r in rows], normalize_embeddings=True)
    assert np.abs(vectors - unprompted).max() > 1e-2  # the prompt really changed the vectors

    query = "how to rescue a split sauce"
    found = invoke(
        capsys,
        "search",
        query,
        "-i",
        index,
        "--mode",
        "dense",
        "--chunks",
        "-k",
        "3",
        "-f",
        "jsonl",
    )
    assert found.code == 0, found.stderr
    query_vector = model.encode(QUERY_PROMPT + query, normalize_embeddings=True)
    for hit in found.jsonl():
        label = next(
            i
            for i, r in enumerate(rows)
            if r["start"] == hit["start"] and r["doc_id"] == hit["doc_id"]
        )
        assert hit["score"] == pytest.approx(float(query_vector @ vectors[label]), abs=1e-5)


def test_query_vector_equals_the_model_with_the_query_prompt(
    prompted_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    from sentence_transformers import SentenceTransformer

    from tasksift.index.reader import read_manifest
    from tasksift.onnx.embedder import load_index_model
    from tasksift.vectors.encoding import Role, encode_with_prompt

    index = tmp_path / "index"
    assert invoke(capsys, "index", corpus, "-i", index, "-m", prompted_model, "-q").code == 0
    manifest = read_manifest(index)
    queries = ["why do river banks collapse", "mortgage interest"]
    ours = encode_with_prompt(load_index_model(manifest), manifest.prompts, Role.QUERY, queries)
    model = SentenceTransformer(str(prompted_model), device="cpu")
    reference = model.encode([QUERY_PROMPT + q for q in queries], normalize_embeddings=True)
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_profile_prompts_override_nothing_for_the_symmetric_default(built_index: Path) -> None:
    from tasksift.index.reader import read_manifest

    manifest = read_manifest(built_index)
    assert manifest.prompts.profile == "symmetric"
    assert (manifest.prompts.query, manifest.prompts.document) == ("", "")


def test_explicit_prompts_win_over_the_model_config(
    capsys: pytest.CaptureFixture[str], corpus: Path, tmp_path: Path, prompted_model: Path
) -> None:
    from tasksift.index.reader import read_manifest

    index = tmp_path / "index"
    built = invoke(
        capsys, "index", corpus, "-i", index, "-m", prompted_model, "-q",
        "--query-prompt", "Q: ", "--document-prompt", "D: ",
    )  # fmt: skip
    assert built.code == 0, built.stderr
    prompts = read_manifest(index).prompts
    assert (prompts.query, prompts.document) == ("Q: ", "D: ")
