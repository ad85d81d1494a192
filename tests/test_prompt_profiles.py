"""Prompt resolution: profiles, model configs, overrides and instructions."""

from __future__ import annotations

import pytest

from tasksift.errors import InputError, UnknownTaskError
from tasksift.prompts import PROFILES, Task, find_profile, resolve_prompts

BGE = "Represent this sentence for searching relevant passages: "


@pytest.mark.parametrize(
    ("model", "profile", "query", "document"),
    [
        ("intfloat/e5-base-v2", "e5", "query: ", "passage: "),
        ("intfloat/multilingual-e5-large", "e5", "query: ", "passage: "),
        ("BAAI/bge-small-en-v1.5", "bge-en-v1.5", BGE, ""),
        ("thenlper/gte-base", "gte", "", ""),
        ("BAAI/bge-m3", "gte", "", ""),
        ("nomic-ai/nomic-embed-text-v1.5", "nomic-v1.5", "search_query: ", "search_document: "),
        ("Snowflake/snowflake-arctic-embed-m-v1.5", "arctic-v1", BGE, ""),
        ("Snowflake/snowflake-arctic-embed-l-v2.0", "arctic-v2", "query: ", ""),
        ("mixedbread-ai/mxbai-embed-large-v1", "mxbai", BGE, ""),
        (
            "google/embeddinggemma-300m",
            "embeddinggemma",
            "task: search result | query: ",
            "title: none | text: ",
        ),
        ("sentence-transformers/all-MiniLM-L6-v2", "symmetric", "", ""),
        ("jinaai/jina-embeddings-v5-text-small", "jina-v5", "Query: ", "Document: "),
    ],
)
def test_retrieval_prompts_per_family(model: str, profile: str, query: str, document: str) -> None:
    prompts = resolve_prompts(model, Task.RETRIEVAL)
    assert (prompts.profile, prompts.query, prompts.document) == (profile, query, document)


def test_symmetric_tasks_use_one_prompt_on_both_sides() -> None:
    for task in (Task.SIMILARITY, Task.CLASSIFICATION, Task.CLUSTERING):
        prompts = resolve_prompts("intfloat/e5-small-v2", task)
        assert prompts.query == prompts.document == "query: "
    gemma = resolve_prompts("google/embeddinggemma-300m", Task.CLUSTERING)
    assert gemma.query == gemma.document == "task: clustering | query: "
    nomic = resolve_prompts("nomic-ai/nomic-embed-text-v1.5", Task.CLASSIFICATION)
    assert nomic.query == "classification: "


def test_instruct_families_fill_the_template() -> None:
    qwen = resolve_prompts("Qwen/Qwen3-Embedding-0.6B", Task.RETRIEVAL)
    assert qwen.query == (
        "Instruct: Given a web search query, retrieve relevant passages that answer the query"
        "\nQuery:"
    )
    assert qwen.document == ""
    custom = resolve_prompts(
        "intfloat/multilingual-e5-large-instruct", Task.RETRIEVAL, instruction="Find recipes"
    )
    assert custom.query == "Instruct: Find recipes\nQuery: "
    assert custom.instruction == "Find recipes"
    similar = resolve_prompts("Qwen/Qwen3-Embedding-4B", Task.SIMILARITY)
    assert similar.query == similar.document and similar.query.startswith("Instruct: ")


def test_instruction_for_a_non_instruct_model_is_an_error() -> None:
    with pytest.raises(InputError, match="instruct"):
        resolve_prompts("intfloat/e5-small-v2", Task.RETRIEVAL, instruction="anything")


def test_jina_adapters() -> None:
    v3 = resolve_prompts("jinaai/jina-embeddings-v3", Task.RETRIEVAL)
    assert (v3.query_adapter, v3.document_adapter) == ("retrieval.query", "retrieval.passage")
    v5 = resolve_prompts("jinaai/jina-embeddings-v5-text-nano", Task.CLUSTERING)
    assert v5.query_adapter == v5.document_adapter == "clustering"
    assert find_profile("jinaai/jina-embeddings-v3").trust_remote_code


def test_model_config_prompts_fill_what_no_profile_says() -> None:
    config = {"query": "", "document": "", "passage": "passage: ", "retrieval.query": "Q: "}
    prompts = resolve_prompts("/models/my-own-model", Task.RETRIEVAL, config)
    assert (prompts.profile, prompts.query, prompts.document) == (None, "Q: ", "passage: ")
    gemma_like = {"query": "q: ", "document": "d: ", "Clustering": "cluster: "}
    clustering = resolve_prompts("/models/x", Task.CLUSTERING, gemma_like)
    assert clustering.query == clustering.document == "cluster: "
    zembed = resolve_prompts(
        "zeroentropy/zembed-1", Task.RETRIEVAL, {"query": "Q", "document": "D"}
    )
    assert (zembed.profile, zembed.query, zembed.document) == ("zembed", "Q", "D")


def test_profile_wins_over_config_and_overrides_win_over_both() -> None:
    config = {"query": "from config: "}
    assert resolve_prompts("intfloat/e5-small-v2", Task.RETRIEVAL, config).query == "query: "
    overridden = resolve_prompts(
        "intfloat/e5-small-v2", Task.RETRIEVAL, config, query_prompt="mine: "
    )
    assert (overridden.query, overridden.document) == ("mine: ", "passage: ")


def test_symmetric_override_sets_both_sides_and_rejects_two_different() -> None:
    one = resolve_prompts("x", Task.SIMILARITY, document_prompt="same: ")
    assert one.query == one.document == "same: "
    with pytest.raises(InputError, match="one prompt"):
        resolve_prompts("x", Task.SIMILARITY, query_prompt="a", document_prompt="b")


def test_profile_by_name_and_unknown_names() -> None:
    assert resolve_prompts("/models/renamed", Task.RETRIEVAL, profile_name="e5").query == "query: "
    with pytest.raises(InputError, match="available"):
        resolve_prompts("x", Task.RETRIEVAL, profile_name="nope")
    with pytest.raises(UnknownTaskError, match="retrieval"):
        Task.parse("qa")


def test_every_profile_resolves_every_task() -> None:
    for profile in PROFILES:
        for task in Task:
            prompts = resolve_prompts(profile.patterns[0], task, profile_name=profile.name)
            if task.symmetric:
                assert prompts.query == prompts.document


def test_models_command_lists_every_profile(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from conftest import invoke

    result = invoke(capsys, "models", "--format", "json")
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["profile"] for r in rows} == {p.name for p in PROFILES}
    assert len(rows) == len(PROFILES) * len(Task)
    e5 = next(r for r in rows if r["profile"] == "e5" and r["task"] == "retrieval")
    assert (e5["prompts.query"], e5["prompts.document"]) == ("query: ", "passage: ")
    jina = next(r for r in rows if r["profile"] == "jina-v3" and r["task"] == "retrieval")
    assert jina["prompts.query"] is None and jina["prompts.query_adapter"] == "retrieval.query"
    table = invoke(capsys, "models", "--format", "table")
    assert "embeddinggemma" in table.stdout and "e5-instruct" in table.stdout
