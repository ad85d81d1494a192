"""Models that ship task adapters (Jina's way: a LoRA per task, chosen by name): an index
is built with the adapter its task's prompts name, records it, and refuses a search that
names another. On the tiny random BERT shipping two PEFT adapters of its own."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import MINI_CORPUS, assert_one_line_error, run_cli, sidecar_table, tiny_task_model

pytest.importorskip("peft")

QUERY = "how do banks decide on loans"


@pytest.fixture(scope="module")
def shipping(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with adapters for retrieval and classification (Jina v5's names)."""
    root = tmp_path_factory.mktemp("shipping")
    return tiny_task_model(minilm_path, root, ("retrieval", "classification"))


@pytest.fixture(scope="module")
def indexes(shipping: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The mini corpus indexed with that model for retrieval and for classification."""
    root = tmp_path_factory.mktemp("task-indexes")
    shutil.copytree(MINI_CORPUS, root / "corpus")
    built = {}
    for task in ("retrieval", "classification"):
        index = root / task
        result = run_cli("index", root / "corpus", "-i", index, "-m", shipping, "--task", task,
                         "-q")  # fmt: skip
        assert result.code == 0, result.stderr
        built[task] = index
    return built


def reference(model: Path, adapter: str | None):
    """sentence-transformers with the named adapter applied by PEFT (None: the bare model)."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model), device="cpu")
    if adapter is not None:
        st[0].model = PeftModel.from_pretrained(st[0].model, str(model / "adapters" / adapter))
    return st


def test_each_index_records_and_embeds_with_its_tasks_adapter(indexes, shipping) -> None:
    texts = sidecar_table(indexes["retrieval"]).column("text").to_pylist()
    vectors = {}
    for task, index in indexes.items():
        info = json.loads(run_cli("info", "-i", index, "-f", "json").stdout)
        prompts = info["prompts"]
        assert (prompts["query_adapter"], prompts["document_adapter"]) == (task, task)
        assert info["adapter"] is None and prompts["profile"] == "jina-v5"
        from tasksift.index.reader import load_index

        table = sidecar_table(index)
        assert table.column("text").to_pylist() == texts
        stored = load_index(index).vectors.of(np.asarray(table.column("label").to_numpy()))
        prompt = prompts["document"]
        expected = reference(shipping, task).encode(texts, prompt=prompt, normalize_embeddings=True)
        assert np.min(np.sum(stored * expected, axis=1)) > 1 - 1e-4
        vectors[task] = stored
    assert np.max(np.sum(vectors["retrieval"] * vectors["classification"], axis=1)) < 0.9999


def test_search_uses_the_index_adapter_and_refuses_another(indexes) -> None:
    index = indexes["retrieval"]
    found = run_cli("search", QUERY, "-i", index, "-f", "json", "--adapter", "retrieval")
    assert found.code == 0, found.stderr[-2000:]
    assert json.loads(found.stdout)["results"]
    other = run_cli("search", QUERY, "-i", index, "--adapter", "classification")
    assert other.code == 3
    assert_one_line_error(other)
    assert "task adapter retrieval" in other.stderr and "'classification'" in other.stderr


def test_a_task_the_model_has_no_adapter_for_is_refused(indexes, shipping, tmp_path) -> None:
    corpus = indexes["retrieval"].parent / "corpus"
    result = run_cli("index", corpus, "-i", tmp_path / "i", "-m", shipping, "--task", "clustering")
    assert result.code == 1
    assert_one_line_error(result)
    assert "ships task adapters classification, retrieval" in result.stderr
    assert not (tmp_path / "i").exists()
