"""--rerank orders results by a cross-encoder's scores."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from conftest import assert_one_line_error, invoke, run_cli


@pytest.fixture(scope="module")
def tiny_cross_encoder(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised two-layer BERT cross-encoder, saved like a real one."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("reranker") / "tiny-cross-encoder"
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=1,
    )
    torch.manual_seed(7)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _all_chunks(index: Path) -> list[dict]:
    generation = index / (index / "CURRENT").read_text().strip()
    return pq.read_table(generation / "chunks.parquet").to_pylist()


def test_rerank_order_is_the_cross_encoder_order(
    built_index: Path, tiny_cross_encoder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sentence_transformers import CrossEncoder

    query = "how do banks decide on loans"
    chunks = _all_chunks(built_index)
    # Every chunk is a candidate, so the expected order does not depend on the dense search.
    result = invoke(
        capsys, "search", query, "-i", built_index, "--rerank", "--rerank-model",
        tiny_cross_encoder, "--candidates", len(chunks), "--chunks", "-k", len(chunks),
        "-f", "jsonl",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    hits = result.jsonl()
    scores = CrossEncoder(str(tiny_cross_encoder)).predict([(query, c["text"]) for c in chunks])
    expected = sorted(range(len(chunks)), key=lambda i: scores[i], reverse=True)
    assert [(h["doc_id"], h["start"]) for h in hits] == [
        (chunks[i]["doc_id"], chunks[i]["start"]) for i in expected
    ]
    for hit, i in zip(hits, expected, strict=True):
        assert hit["rerank_score"] == pytest.approx(float(scores[i]), abs=1e-5)
        assert -1.0 <= hit["score"] <= 1.0  # the dense score is shown too


def test_rerank_per_document_keeps_each_documents_best_chunk(
    built_index: Path, tiny_cross_encoder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(
        capsys, "search", "rice", "-i", built_index, "--rerank", "--rerank-model",
        tiny_cross_encoder, "-k", "3", "-f", "jsonl",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    hits = result.jsonl()
    assert len(hits) == 3 and len({h["doc_id"] for h in hits}) == 3
    scores = [h["rerank_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_missing_reranker_is_a_clear_error(
    built_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(
        capsys, "search", "rice", "-i", built_index, "--rerank",
        "--rerank-model", "no-such-org/no-such-reranker",
    )  # fmt: skip
    assert_one_line_error(result)
    assert result.code == 6
    assert "no-such-org/no-such-reranker" in result.stderr
    assert result.stdout == ""
    # found missing before torch or sentence-transformers is imported, so at once
    timed = run_cli("search", "rice", "-i", built_index, "--rerank", "--rerank-model",
                    "no-such-org/no-such-reranker", interpreter=("-X", "importtime"))  # fmt: skip
    assert timed.code == 6
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines()}
    assert not {"torch", "sentence_transformers"} & imported


def test_batch_rerank_matches_single_reranked_searches(
    built_index: Path, tiny_cross_encoder: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    queries = ["how do banks decide on loans", "rice on the stove", "river bank plants"]
    path = tmp_path / "queries.txt"
    path.write_text("\n".join(queries) + "\n")
    common = ("-i", built_index, "--rerank", "--rerank-model", tiny_cross_encoder, "-k", "3")
    batch = invoke(capsys, "search", "-Q", path, *common, "-f", "jsonl")
    assert batch.code == 0, batch.stderr
    for answer, query in zip(batch.jsonl(), queries, strict=True):
        single = invoke(capsys, "search", query, *common, "-f", "jsonl").jsonl()
        assert [(h["doc_id"], h["rerank_score"]) for h in answer["results"]] == [
            (h["doc_id"], h["rerank_score"]) for h in single
        ]
