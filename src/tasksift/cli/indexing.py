"""``tasksift index``: read, chunk, embed and store a corpus for a task, or update it."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tasksift.cli.console import stderr, stdout_is_terminal
from tasksift.cli.options import AdapterOption, DocumentPrompt, IndexPath, Instruction, QueryPrompt
from tasksift.errors import UsageError
from tasksift.options import (
    CHECKPOINT_DOCUMENTS,
    CHECKPOINT_SECONDS,
    MAX_FILE_BYTES,
    MAX_SECONDS_PER_FILE,
    ReadingOptions,
    default_checkpoint_seconds,
)
from tasksift.prompts import Task

if TYPE_CHECKING:
    from tasksift.pipeline import IndexSummary
    from tasksift.pipeline.engine import Engine


def register(app: typer.Typer) -> None:
    app.command()(index)


class IndexEngine(str, Enum):
    """Where `index` reads, chunks and embeds."""

    LOCAL = "local"
    RAY = "ray"


CorpusArgument = Annotated[
    Path,
    typer.Argument(
        metavar="CORPUS",
        help="Folder of documents, or a BEIR-style corpus.jsonl[.gz] (_id, title, text).",
    ),
]
IndexTask = Annotated[
    Task | None,
    typer.Option(
        "--task",
        "-t",
        help="Task the prompts are chosen for, and the commands it serves: retrieval "
        "(search), similarity (similar, dupes), clustering (cluster), classification "
        "(classify). New index: retrieval.",
        show_default=False,
    ),
]
IndexModel = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="all-MiniLM-L6-v2 (new index default), a Hugging Face id or a local folder.",
        show_default=False,
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        help="Prompt profile to use instead of the one matched by model name.",
        show_default=False,
    ),
]
ChunkTokens = Annotated[
    int | None,
    typer.Option(
        min=8,
        help="Tokens per chunk. Default: all that fit the model after the document prompt.",
        show_default=False,
    ),
]
Overlap = Annotated[
    int | None,
    typer.Option(
        min=0, help="Tokens shared by neighbouring chunks. New index: 32.", show_default=False
    ),
]
Language = Annotated[
    str | None,
    typer.Option(
        help="Language of the lexical (BM25) side: its stemmer and stopwords, e.g. "
        "english, french, german, or none. New index: english.",
        show_default=False,
    ),
]
BatchSize = Annotated[int, typer.Option(min=1, help="Chunks per model batch.")]
TrustRemoteCode = Annotated[
    bool,
    typer.Option("--trust-remote-code", help="Allow models that run their own code (Nomic, Jina)."),
]
Rebuild = Annotated[
    bool, typer.Option("--rebuild", help="Build from scratch, with new settings if given.")
]
CheckpointEvery = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Commit a first run every this many documents. Default: after every "
        f"{CHECKPOINT_SECONDS:.0f} s of work.",
        show_default=False,
    ),
]
EngineOption = Annotated[
    IndexEngine,
    typer.Option(
        help="local: read, chunk and embed in this process; ray: on a Ray cluster (needs "
        "`pip install tasksift\\[ray]`; a folder corpus must be at the same path on every "
        "node)."
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        help="With --engine ray: the cluster, e.g. ray://head:10001 or auto. Default: a "
        "local Ray instance.",
        show_default=False,
    ),
]
MaxSecondsPerFile = Annotated[
    float,
    typer.Option(
        min=0,
        help="Stop reading a file after this many seconds and skip it (0: no limit, and "
        "files are read in this process, where a reader that crashes ends the run).",
    ),
]
MaxFileSize = Annotated[
    float,
    typer.Option(min=0, help="Skip files larger than this many MB, unread (0: no limit)."),
]
Strict = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Stop with an error (exit 9) at the first file a reader fails on (an error, "
        "the time limit, a crash) instead of skipping it.",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def index(
    corpus: CorpusArgument,
    index_path: IndexPath = None,
    task: IndexTask = None,
    model: IndexModel = None,
    adapter: AdapterOption = None,
    query_prompt: QueryPrompt = None,
    document_prompt: DocumentPrompt = None,
    instruction: Instruction = None,
    profile: ProfileOption = None,
    chunk_tokens: ChunkTokens = None,
    overlap: Overlap = None,
    language: Language = None,
    batch_size: BatchSize = 32,
    trust_remote_code: TrustRemoteCode = False,
    rebuild: Rebuild = False,
    checkpoint_every: CheckpointEvery = None,
    engine: EngineOption = IndexEngine.LOCAL,
    address: Address = None,
    max_seconds_per_file: MaxSecondsPerFile = MAX_SECONDS_PER_FILE,
    max_file_size: MaxFileSize = MAX_FILE_BYTES / 1e6,
    strict: Strict = False,
    quiet: Quiet = False,
) -> None:
    """Index CORPUS (a folder or a .jsonl[.gz] file) for a task, or update its index.

    On an existing index only new and changed documents are embedded and removed ones are
    dropped; the settings are the index's, and asking for others needs --rebuild.

    The task decides the prompts the vectors are made with, and so the command they serve:
    --task retrieval for `tasksift search "question"`; --task similarity for `tasksift
    similar notes/a.md` and `tasksift dupes`; --task clustering for `tasksift cluster -n 8`;
    --task classification for `tasksift classify --labels labels.tsv`.
    """
    from tasksift.pipeline import IndexOptions, build_index
    from tasksift.progress import reporter_for

    default_home = corpus.parent if corpus.is_file() else corpus
    target = index_path if index_path is not None else default_home / ".tasksift"
    options = IndexOptions(
        model=model,
        task=task,
        query_prompt=query_prompt,
        document_prompt=document_prompt,
        instruction=instruction,
        profile=profile,
        chunk_tokens=chunk_tokens,
        overlap=overlap,
        language=language,
        trust_remote_code=trust_remote_code,
        adapter=adapter,
        batch_size=batch_size,
        rebuild=rebuild,
        checkpoint_documents=checkpoint_every or CHECKPOINT_DOCUMENTS,
        checkpoint_seconds=0.0 if checkpoint_every else default_checkpoint_seconds(),
        reading=ReadingOptions(
            max_seconds=max_seconds_per_file,
            max_bytes=round(max_file_size * 1e6) if max_file_size else None,
            strict=strict,
        ),
    )
    runner = _engine(engine, address)
    show = not quiet and stdout_is_terminal() and stderr().is_terminal
    with reporter_for(stderr(), show=show, warnings=not quiet) as reporter:
        s = build_index(corpus, target, options, reporter, runner)
    if s.lexical_added and not quiet:
        stderr().print(
            f"note: added the lexical (BM25) side from the {s.chunks} stored chunks; nothing "
            "was embedded again",
            soft_wrap=True,
        )
    typer.echo(_summary(s))


def _engine(engine: IndexEngine, address: str | None) -> Engine | None:
    """The engine ``--engine`` and ``--address`` ask for (None: the local one)."""
    if engine is IndexEngine.RAY:
        from tasksift.pipeline.ray_engine import RayEngine

        return RayEngine(address)
    if address is not None:
        raise UsageError("--address needs --engine ray")
    return None


def _summary(s: IndexSummary) -> str:
    """The one line a run ends with."""
    return (
        f"indexed {s.documents} documents ({s.added} added, {s.changed} changed, {s.removed} "
        f"removed, {s.unchanged} unchanged), {s.chunks} chunks, {s.embedded} embedded, "
        f"{s.skipped} skipped, {s.failed} failed in {s.seconds:.1f} s "
        f"({s.chunks_per_second:.1f} chunks/s) -> {s.index_dir}"
    )
