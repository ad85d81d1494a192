"""The Ray engine (``tasksift index --engine ray``): an index built on a local Ray
instance answers exactly like one built in process, updates send only changed documents,
and workers' skips and errors reach the driver.

One Ray instance (2 CPUs) serves the module; the tests that need it skip when the ``ray``
extra is not installed. Small read and embedding batches make the sample corpus go through
several tasks and actor calls, so that batch composition differs from a local run's.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import SAMPLE_CORPUS, invoke, run_cli
from tasksift.documents import ReadReport
from tasksift.errors import InputError, UsageError
from tasksift.pipeline import ray_engine
from tasksift.pipeline.plan import SilentReporter

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(
    not HAS_RAY, reason="the ray extra is not installed: pip install -e '.[ray]'"
)
QUERIES = [
    "how does a lender decide whether to approve a small business loan",
    "plants that keep a river bank from washing away",
    "why does my mayonnaise split",
]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[None]:
    if not HAS_RAY:
        pytest.skip("the ray extra is not installed: pip install -e '.[ray]'")
    import ray

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")  # workers inherit the environment Ray starts with
        ray.init(
            num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False
        )
    yield
    ray.shutdown()


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_engine, "READ_DOCUMENTS", 8)
    monkeypatch.setattr(ray_engine, "EMBED_DOCUMENTS", 16)


def index_with_ray(capsys: pytest.CaptureFixture[str], corpus: Path, *args: str | Path):
    result = invoke(capsys, "index", corpus, "--engine", "ray", *args)
    assert result.code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def ray_sample(ray_instance: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample corpus indexed through the CLI on Ray, in small batches."""
    from tasksift.cli.main import main

    root = tmp_path_factory.mktemp("ray-sample")
    shutil.copytree(SAMPLE_CORPUS, root / "corpus")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ray_engine, "READ_DOCUMENTS", 8)
        patch.setattr(ray_engine, "EMBED_DOCUMENTS", 16)
        with pytest.raises(SystemExit) as exited:
            main(["index", str(root / "corpus"), "--index", str(root / "index"), "--engine", "ray"])
    assert exited.value.code == 0
    return root / "index"


def chunk_rows(index_dir: Path) -> dict[tuple[str, int], tuple[str, np.ndarray]]:
    from tasksift.index.reader import load_index

    index = load_index(index_dir)
    vectors = index.vectors.of(index.labels)
    keys = zip(index.column("doc_id").to_pylist(), index.column("ordinal").to_pylist(), strict=True)
    texts = index.column("text").to_pylist()
    return {key: (text, vectors[i]) for i, (key, text) in enumerate(zip(keys, texts, strict=True))}


@needs_ray
def test_a_ray_built_index_holds_the_local_chunks_and_vectors(
    ray_sample: Path, sample_index: Path
) -> None:
    from tasksift.index.reader import read_manifest

    ray_rows, local_rows = chunk_rows(ray_sample), chunk_rows(sample_index)
    assert list(ray_rows) == list(local_rows)  # same chunks, in the same (pending) order
    assert [t for t, _ in ray_rows.values()] == [t for t, _ in local_rows.values()]
    ray_vectors = np.stack([v for _, v in ray_rows.values()])
    local_vectors = np.stack([v for _, v in local_rows.values()])
    assert np.abs(ray_vectors - local_vectors).max() <= 1e-6
    made, local = read_manifest(ray_sample), read_manifest(sample_index)
    assert made.model == local.model
    assert (made.task, made.prompts, made.chunking) == (local.task, local.prompts, local.chunking)
    assert (made.documents, made.chunks, made.complete) == (local.documents, local.chunks, True)


@needs_ray
def test_a_ray_built_index_answers_like_a_local_one(
    ray_sample: Path, sample_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for query in QUERIES:
        answers = [
            invoke(capsys, "search", query, "-i", index, "-k", "5", "-f", "jsonl").jsonl()
            for index in (ray_sample, sample_index)
        ]
        assert [h["doc_id"] for h in answers[0]] == [h["doc_id"] for h in answers[1]], query
        for made, local in zip(*answers, strict=True):
            assert made["score"] == pytest.approx(local["score"], abs=1e-5)


@needs_ray
def test_an_update_sends_only_changed_documents_and_counts_skips(
    ray_instance: None,
    indexed: Path,
    corpus: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    small_batches: None,
) -> None:
    sent: list[str] = []
    source = ray_engine.pending_tables

    def recorded(pending, report):
        sent.extend(pending.ids)
        return source(pending, report)

    monkeypatch.setattr(ray_engine, "pending_tables", recorded)
    (corpus / "kitchen" / "tea.md").write_text("# Tea\n\nGreen tea brews at 80 degrees.\n")
    (corpus / "kitchen" / "rice.txt").write_text("Rinse rice until the water runs clear.\n")
    (corpus / "empty.txt").write_text("  \n")
    (corpus / "broken.txt").write_bytes(b"caf\xe9 \xff\xfe not utf-8")
    result = index_with_ray(capsys, corpus, "-i", indexed)
    assert sorted(sent) == ["broken.txt", "empty.txt", "kitchen/rice.txt", "kitchen/tea.md"]
    assert "(1 added, 1 changed, 0 removed, 7 unchanged)" in result.stdout
    assert "9 chunks, 2 embedded, 2 skipped" in result.stdout
    assert "skipped broken.txt" in result.stderr  # a worker's warning, shown by the driver
    hit = invoke(capsys, "search", "brewing green tea", "-i", indexed, "-k", "1", "-f", "jsonl")
    assert hit.jsonl()[0]["doc_id"] == "kitchen/tea.md"


@needs_ray
def test_a_json_lines_corpus_goes_to_the_workers_from_the_driver(
    ray_instance: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        {"_id": "d1", "title": "Beavers", "text": "Beaver dams slow rivers down."},
        {"_id": "d2", "text": "Rinse rice before cooking it."},
        {"title": "no id"},
        {"_id": "d3", "title": "Loans", "text": "Lenders look at cash flow and collateral."},
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = index_with_ray(capsys, corpus, "-i", tmp_path / "index", "-q")
    assert "indexed 3 documents (3 added" in result.stdout
    rows = chunk_rows(tmp_path / "index")
    assert [key for key in rows] == [("d1", 0), ("d2", 0), ("d3", 0)]
    assert rows[("d1", 0)][0] == "Beavers Beaver dams slow rivers down."


# -- without a cluster


def test_a_worker_error_reaches_the_driver_with_its_type(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="same path on every node"):
        ray_engine._visible_corpus(str(tmp_path / "not-mounted"))
    failed = ray_engine._rows(["a.txt"], error=InputError("a worker's complaint"))
    failed = failed.append_column("vectors", pa.nulls(1, pa.binary()))
    with pytest.raises(InputError, match="a worker's complaint"):
        ray_engine._assemble(failed, 384, {"a.txt": 1}, ReadReport(), SilentReporter())


def test_without_ray_the_engine_asks_for_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], corpus: Path
) -> None:
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # `import ray` fails
    with pytest.raises(UsageError, match=r"pip install tasksift\[ray\]"):
        ray_engine.RayEngine()
    result = invoke(capsys, "index", corpus, "--engine", "ray")
    assert result.code == 2
    assert result.stderr.strip() == "error: the ray engine needs `pip install tasksift[ray]`"


def test_help_imports_no_ray() -> None:
    result = run_cli("index", "--help", interpreter=("-X", "importtime"))
    assert result.code == 0, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert not {m for m in imported if m.split(".")[0] == "ray"}
    assert "--engine" in result.stdout and "--address" in result.stdout
