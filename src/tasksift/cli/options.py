"""Options several commands share, and each command's own ``--format`` choices."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from tasksift.cli.console import stdout_is_terminal
from tasksift.options import DocumentFilter, FusionMethod, OutputFormat, SearchMode
from tasksift.prompts import Task


class Formats:
    """The output formats one command writes: its ``--format`` option offers those alone,
    so that any other is a usage error (exit 2) that lists them, before any work."""

    def __init__(self, *formats: OutputFormat) -> None:
        self.formats = formats
        choices = Enum("Format", {f.name: f.value for f in formats}, type=str)  # type: ignore[misc]
        default = "jsonl" if OutputFormat.JSONL in formats else "json"
        self.option: Any = Annotated[
            choices | None,  # type: ignore[valid-type]
            typer.Option(
                "--format",
                "-f",
                help=f"Output format. Default: table on a terminal, else {default}.",
                show_default=False,
            ),
        ]

    def chosen(self, requested: Enum | None) -> OutputFormat:
        """The format to write: the one asked for, else the default for where stdout goes."""
        from tasksift.output.emit import choose_format

        asked = None if requested is None else OutputFormat(requested.value)
        return choose_format(asked, stdout_is_terminal(), self.formats)


_ALL = tuple(OutputFormat)
_TABLE_JSON = (OutputFormat.TABLE, OutputFormat.JSON)
_RECORDS = (OutputFormat.TABLE, OutputFormat.JSON, OutputFormat.JSONL, OutputFormat.TSV)
SEARCH_FORMATS = Formats(*_ALL)  # search, similar: ranked hits, TREC runs included
REPORT_FORMATS = Formats(*_TABLE_JSON)  # eval, info, models: one document
RECORD_FORMATS = Formats(*_RECORDS)  # dupes, classify, cluster: records, not rankings
SearchFormat = SEARCH_FORMATS.option
ReportFormat = REPORT_FORMATS.option
RecordFormat = RECORD_FORMATS.option

IndexPath = Annotated[
    Path | None,
    typer.Option(
        "--index",
        "-i",
        help="Index folder. Default: for `index`, DIR/.tasksift; for the other commands, the "
        "nearest .tasksift folder from here upward, else $TASKSIFT_INDEX.",
        show_default=False,
    ),
]
TaskOption = Annotated[
    Task | None,
    typer.Option("--task", "-t", help="Task the prompts are chosen for.", show_default=False),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Embedding model: all-MiniLM-L6-v2 (bundled), a Hugging Face id or a local folder.",
        show_default=False,
    ),
]
AdapterOption = Annotated[
    str | None,
    typer.Option(
        "--adapter",
        help="A LoRA adapter folder (PEFT; `tasksift adapt` makes one) merged into the model. "
        "A search may also name a task adapter the model ships (adapters/NAME), checked "
        "against the one the index's task chose. Needs `pip install tasksift\\[adapt]` (peft).",
        show_default=False,
    ),
]
QueryPrompt = Annotated[
    str | None,
    typer.Option("--query-prompt", help="Text put in front of queries.", show_default=False),
]
DocumentPrompt = Annotated[
    str | None,
    typer.Option("--document-prompt", help="Text put in front of documents.", show_default=False),
]
Instruction = Annotated[
    str | None,
    typer.Option(
        "--instruction",
        help="Task description for instruct-style models (E5 instruct, Qwen3-Embedding).",
        show_default=False,
    ),
]
PathGlobs = Annotated[
    list[str] | None,
    typer.Option(
        "--path",
        help="Only documents whose path matches this glob (repeatable; * spans /).",
        show_default=False,
    ),
]
Types = Annotated[
    list[str] | None,
    typer.Option(
        "--type",
        help="Only documents with this extension, e.g. md (repeatable).",
        show_default=False,
    ),
]
AnyTask = Annotated[
    bool,
    typer.Option(
        "--any-task",
        help="Run even on an index built for another task whose prompts differ.",
    ),
]
LabelsOption = Annotated[
    Path | None,
    typer.Option(
        "--labels", help="Labels, one a line: label<TAB>description (zero-shot).",
        show_default=False,
    ),
]  # fmt: skip
ExamplesOption = Annotated[
    Path | None,
    typer.Option(
        "--examples", help="Labelled examples, one a line: label<TAB>text (few-shot).",
        show_default=False,
    ),
]  # fmt: skip
MethodOption = Annotated[
    str,
    typer.Option("--method", help="Few-shot vote: centroid (each label's mean example) or knn."),
]
RerankOption = Annotated[
    bool,
    typer.Option(
        "--rerank",
        help="Rescore the first stage's best chunks with a cross-encoder (exported to ONNX "
        "on first use, then run without torch).",
    ),
]
RerankModel = Annotated[str, typer.Option(help="Cross-encoder: Hugging Face id or local folder.")]
Candidates = Annotated[
    int,
    typer.Option(
        min=1,
        help="Chunks the reranker rescores per query; each costs about 20-30 ms on 2 CPU cores "
        "(256 tokens, MiniLM-L6-sized).",
    ),
]
ModeOption = Annotated[
    SearchMode | None,
    typer.Option(
        "--mode",
        help="hybrid: dense and lexical (BM25) fused, the default when the index has a "
        "lexical side; dense or lexical alone.",
        show_default=False,
    ),
]
FusionOption = Annotated[
    FusionMethod | None,
    typer.Option(
        "--fusion",
        help="How hybrid fuses: adaptive (convex with a dense weight set per query from both "
        "sides' scores, by the rule the index records), convex (alpha * dense + (1 - alpha) * "
        "lexical, min-max normalized; alpha 0.7 unless --alpha) or rrf (reciprocal rank "
        "fusion). Default: adaptive, or convex with --alpha.",
        show_default=False,
    ),
]
AlphaOption = Annotated[
    float | None,
    typer.Option(
        "--alpha",
        min=0.0,
        max=1.0,
        help="A fixed weight of the dense side (convex fusion) instead of the adaptive one.",
        show_default=False,
    ),
]
MinRelevance = Annotated[
    float | None,
    typer.Option(
        "--min-relevance",
        min=0.0,
        max=1.0,
        help="Keep only hits whose estimated relevance reaches P; none left: exit 10.",
        metavar="P",
        show_default=False,
    ),
]
FusionDepth = Annotated[
    int,
    typer.Option("--fusion-depth", min=1, help="Candidates each retriever gives hybrid fusion."),
]


def document_filter(path_globs: list[str] | None, types: list[str] | None) -> DocumentFilter:
    """``--path`` and ``--type`` as one filter."""
    return DocumentFilter(tuple(path_globs or ()), tuple(types or ()))
