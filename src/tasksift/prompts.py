"""Task prompts: built-in profiles per model family, and the resolution of a model's prompts.

A *profile* says, for each task, what text goes in front of queries and of documents (and,
for adapter models such as Jina, which ``encode(task=...)`` adapter each side uses). The
resolved :class:`PromptSet` is what an index records and what every search must match.

Resolution order for each side: command-line override, then the profile's literal prompt,
then a prompt the model ships in ``config_sentence_transformers.json``, then no prompt.
Pure data: nothing heavy is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from fnmatch import fnmatchcase
from pathlib import Path, PurePath

from tasksift.errors import InputError, UnknownTaskError


class Task(str, Enum):
    RETRIEVAL = "retrieval"
    SIMILARITY = "similarity"
    CLASSIFICATION = "classification"
    CLUSTERING = "clustering"

    @property
    def symmetric(self) -> bool:
        """True when queries and documents share one prompt."""
        return self is not Task.RETRIEVAL

    @classmethod
    def parse(cls, name: str) -> Task:
        try:
            return cls(name.lower())
        except ValueError:
            choices = ", ".join(t.value for t in cls)
            raise UnknownTaskError(f"unknown task {name!r}; available: {choices}") from None


@dataclass(frozen=True)
class TaskPrompts:
    """What a profile fixes for one task. ``None`` leaves that side to the model's config."""

    query: str | None = None
    document: str | None = None
    query_adapter: str | None = None
    document_adapter: str | None = None


@dataclass(frozen=True)
class Profile:
    """Prompt conventions of one model family."""

    name: str
    description: str
    patterns: tuple[str, ...]  # fnmatch patterns on the model name's last component, lowercase
    tasks: Mapping[Task, TaskPrompts] = field(default_factory=dict)
    # Instruct-style families: the query prompt is this template filled with an instruction.
    instruction_template: str | None = None
    default_instructions: Mapping[Task, str] = field(default_factory=dict)
    trust_remote_code: bool = False

    def matches(self, model_name: str) -> bool:
        last = PurePath(model_name.rstrip("/")).name.lower()
        return any(fnmatchcase(last, pattern) for pattern in self.patterns)


@dataclass(frozen=True)
class PromptSet:
    """The prompts (and adapters) an index was built with; searches must use the same."""

    query: str
    document: str
    query_adapter: str | None = None
    document_adapter: str | None = None
    instruction: str | None = None
    profile: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "query": self.query,
            "document": self.document,
            "query_adapter": self.query_adapter,
            "document_adapter": self.document_adapter,
            "instruction": self.instruction,
            "profile": self.profile,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, str | None]) -> PromptSet:
        return cls(
            query=data["query"] or "",
            document=data["document"] or "",
            query_adapter=data.get("query_adapter"),
            document_adapter=data.get("document_adapter"),
            instruction=data.get("instruction"),
            profile=data.get("profile"),
        )


def _symmetric(prompt: str, adapter: str | None = None) -> TaskPrompts:
    return TaskPrompts(prompt, prompt, adapter, adapter)


def _query_only(prompt: str) -> dict[Task, TaskPrompts]:
    """Families that prompt retrieval queries only, and nothing else."""
    return {task: TaskPrompts(prompt if task is Task.RETRIEVAL else "", "") for task in Task}


_BGE_QUERY = "Represent this sentence for searching relevant passages: "
_NO_PROMPT = {task: _symmetric("") for task in Task}

PROFILES: tuple[Profile, ...] = (
    Profile(
        "e5-instruct",
        "E5 instruct (multilingual-e5-*-instruct, e5-mistral-7b-instruct)",
        ("*e5*instruct*",),
        {Task.RETRIEVAL: TaskPrompts(document="")},
        instruction_template="Instruct: {instruction}\nQuery: ",
        default_instructions={
            Task.RETRIEVAL: "Given a web search query, retrieve relevant passages that answer the "
            "query",
            Task.SIMILARITY: "Retrieve semantically similar text.",
            Task.CLASSIFICATION: "Classify the topic of the given text.",
            Task.CLUSTERING: "Identify the main topic of the given text.",
        },
    ),
    Profile(
        "e5",
        "E5 v2 and multilingual E5 (intfloat/e5-*-v2, intfloat/multilingual-e5-*)",
        ("e5-*-v2", "multilingual-e5-*", "e5-small", "e5-base", "e5-large"),
        {
            Task.RETRIEVAL: TaskPrompts("query: ", "passage: "),
            Task.SIMILARITY: _symmetric("query: "),
            Task.CLASSIFICATION: _symmetric("query: "),
            Task.CLUSTERING: _symmetric("query: "),
        },
    ),
    Profile(
        "bge-en-v1.5",
        "BGE v1.5 English (BAAI/bge-*-en-v1.5)",
        ("bge-*-en-v1.5",),
        _query_only(_BGE_QUERY),
    ),
    Profile(
        "gte",
        "GTE, BGE-M3, Granite embedding: symmetric, no prompt",
        ("gte-*", "bge-m3", "granite-embedding-*"),
        _NO_PROMPT,
    ),
    Profile(
        "nomic-v1.5",
        "Nomic Embed v1.5 (nomic-ai/nomic-embed-text-v1.5)",
        ("nomic-embed-text-v1*",),
        {
            Task.RETRIEVAL: TaskPrompts("search_query: ", "search_document: "),
            Task.SIMILARITY: _symmetric("classification: "),
            Task.CLASSIFICATION: _symmetric("classification: "),
            Task.CLUSTERING: _symmetric("clustering: "),
        },
        trust_remote_code=True,
    ),
    Profile(
        "arctic-v2",
        "Snowflake Arctic Embed v2 (snowflake-arctic-embed-m-v2.0, -l-v2.0)",
        ("snowflake-arctic-embed-*-v2*",),
        _query_only("query: "),
    ),
    Profile(
        "arctic-v1",
        "Snowflake Arctic Embed v1 (xs, s, m, l, m-v1.5, m-long)",
        ("snowflake-arctic-embed-*",),
        _query_only(_BGE_QUERY),
    ),
    Profile(
        "mxbai",
        "mixedbread mxbai-embed-large-v1 (BGE-style query prompt)",
        ("mxbai-embed-*",),
        _query_only(_BGE_QUERY),
    ),
    Profile(
        "embeddinggemma",
        "Google EmbeddingGemma (google/embeddinggemma-300m)",
        ("embeddinggemma*",),
        {
            Task.RETRIEVAL: TaskPrompts("task: search result | query: ", "title: none | text: "),
            Task.SIMILARITY: _symmetric("task: sentence similarity | query: "),
            Task.CLASSIFICATION: _symmetric("task: classification | query: "),
            Task.CLUSTERING: _symmetric("task: clustering | query: "),
        },
    ),
    Profile(
        "qwen3-embedding",
        "Qwen3-Embedding (Qwen/Qwen3-Embedding-0.6B, -4B, -8B)",
        ("qwen3-embedding*",),
        {Task.RETRIEVAL: TaskPrompts(document="")},
        instruction_template="Instruct: {instruction}\nQuery:",
        default_instructions={
            Task.RETRIEVAL: "Given a web search query, retrieve relevant passages that answer the "
            "query",
            Task.SIMILARITY: "Retrieve semantically similar text",
            Task.CLASSIFICATION: "Classify the topic of the given text",
            Task.CLUSTERING: "Identify the main topic of the given text",
        },
    ),
    Profile(
        "jina-v3",
        "Jina Embeddings v3: a LoRA adapter per task, chosen by encode(task=...)",
        ("jina-embeddings-v3*",),
        {
            Task.RETRIEVAL: TaskPrompts(None, None, "retrieval.query", "retrieval.passage"),
            Task.SIMILARITY: TaskPrompts(None, None, "text-matching", "text-matching"),
            Task.CLASSIFICATION: TaskPrompts(None, None, "classification", "classification"),
            Task.CLUSTERING: TaskPrompts(None, None, "separation", "separation"),
        },
        trust_remote_code=True,
    ),
    Profile(
        "jina-v5",
        "Jina Embeddings v5 text (small, nano): LoRA adapters per task plus prompts",
        ("jina-embeddings-v5*",),
        {
            Task.RETRIEVAL: TaskPrompts("Query: ", "Document: ", "retrieval", "retrieval"),
            Task.SIMILARITY: TaskPrompts(None, None, "text-matching", "text-matching"),
            Task.CLASSIFICATION: TaskPrompts(None, None, "classification", "classification"),
            Task.CLUSTERING: TaskPrompts(None, None, "clustering", "clustering"),
        },
        trust_remote_code=True,
    ),
    Profile(
        "zembed",
        "ZeroEntropy zembed-1: the query and document prompts its config ships",
        ("zembed-*",),
    ),
    Profile(
        "symmetric",
        "Symmetric models with no prompt (all-MiniLM, all-mpnet, paraphrase-*)",
        ("all-minilm-*", "all-mpnet-*", "paraphrase-*", "multi-qa-*"),
        _NO_PROMPT,
    ),
)

# Names under which a model's own config (config_sentence_transformers.json) may carry the
# prompt of each side, in order of preference. sentence-transformers always creates empty
# "query" and "document" entries, so only non-empty prompts count.
_CONFIG_NAMES: dict[tuple[Task, str], tuple[str, ...]] = {
    (Task.RETRIEVAL, "query"): ("query", "retrieval.query", "Retrieval-query"),
    (Task.RETRIEVAL, "document"): (
        "document",
        "passage",
        "corpus",
        "retrieval.passage",
        "Retrieval-document",
    ),
    (Task.SIMILARITY, "query"): ("similarity", "STS", "text-matching"),
    (Task.CLASSIFICATION, "query"): ("classification", "Classification"),
    (Task.CLUSTERING, "query"): ("clustering", "Clustering"),
}


def find_profile(model_name: str, profile_name: str | None = None) -> Profile | None:
    """The profile named ``profile_name``, else the first whose pattern matches the model."""
    if profile_name:
        for profile in PROFILES:
            if profile.name == profile_name:
                return profile
        choices = ", ".join(p.name for p in PROFILES)
        raise InputError(f"unknown prompt profile {profile_name!r}; available: {choices}")
    return next((p for p in PROFILES if p.matches(model_name)), None)


def _from_config(config_prompts: Mapping[str, str], task: Task, side: str) -> str:
    key = (task, "query" if task.symmetric else side)
    for name in _CONFIG_NAMES.get(key, ()):
        prompt = config_prompts.get(name)
        if prompt:
            return prompt
    return ""


def resolve_prompts(
    model_name: str,
    task: Task,
    config_prompts: Mapping[str, str] | None = None,
    *,
    profile_name: str | None = None,
    query_prompt: str | None = None,
    document_prompt: str | None = None,
    instruction: str | None = None,
) -> PromptSet:
    """Decide the prompts for ``task``: overrides, then profile, then model config, then none."""
    profile = find_profile(model_name, profile_name)
    fixed = profile.tasks.get(task, TaskPrompts()) if profile else TaskPrompts()
    config_prompts = config_prompts if config_prompts is not None else {}

    query = fixed.query if fixed.query is not None else _from_config(config_prompts, task, "query")
    document = (
        fixed.document
        if fixed.document is not None
        else _from_config(config_prompts, task, "document")
    )

    if profile and profile.instruction_template:
        instruction = instruction or profile.default_instructions.get(task)
        templated = profile.instruction_template.format(instruction=instruction)
        query = templated
        document = templated if task.symmetric else document
    elif instruction is not None:
        instruct = ", ".join(p.name for p in PROFILES if p.instruction_template)
        raise InputError(
            f"--instruction applies to instruct-style profiles ({instruct}); "
            "for this model set the prompt itself with --query-prompt"
        )

    if task.symmetric:
        both = query_prompt is not None and document_prompt is not None
        if both and query_prompt != document_prompt:
            raise InputError(
                f"task {task.value!r} uses one prompt for both sides; "
                "give --query-prompt and --document-prompt the same text, or only one"
            )
        shared = query_prompt if query_prompt is not None else document_prompt
        if shared is not None:
            query = document = shared
    else:
        query = query_prompt if query_prompt is not None else query
        document = document_prompt if document_prompt is not None else document

    return PromptSet(
        query=query,
        document=document,
        query_adapter=fixed.query_adapter,
        document_adapter=fixed.document_adapter,
        instruction=instruction if profile and profile.instruction_template else None,
        profile=profile.name if profile else None,
    )


FROM_MODEL_CONFIG = "(the model's own prompt, if its config has one)"


class _AnyConfigPrompt(dict):
    """Stands for a model config that has every prompt, to show what a profile leaves open."""

    def get(self, key: str, default: object = None) -> str:
        return FROM_MODEL_CONFIG


def describe_profiles() -> list[tuple[str, str, str, Task, PromptSet]]:
    """Rows for ``tasksift models``: profile, description, patterns, task, default prompts."""
    rows = []
    for profile in PROFILES:
        example = profile.patterns[0]
        for task in Task:
            prompts = resolve_prompts(example, task, _AnyConfigPrompt(), profile_name=profile.name)
            rows.append(
                (profile.name, profile.description, ", ".join(profile.patterns), task, prompts)
            )
    return rows


def config_prompts(folder: Path | None) -> dict[str, str]:
    """Prompts a model ships in ``config_sentence_transformers.json`` (empty when none)."""
    if folder is None:
        return {}
    config = folder / "config_sentence_transformers.json"
    try:
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in prompts.items()}
