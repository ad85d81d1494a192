"""LoRA adapters: an index records and guards its adapter, searches and task commands load
it, the ONNX query path carries it; `tasksift adapt` trains one from an index's chunks.

All on a tiny random BERT sentence-transformer with PEFT adapters of its own (real files,
real CLI processes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    MINI_CORPUS,
    assert_one_line_error,
    random_lora,
    run_cli,
    sidecar_table,
    tiny_bert,
    tiny_embedder,
    tree_digest,
)

pytest.importorskip("peft")

QUERY = "how do banks decide on loans"


@pytest.fixture(scope="module")
def tiny(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_embedder(minilm_path, tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def plain(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The mini corpus indexed with the tiny model and no adapter: (corpus, index)."""
    root = tmp_path_factory.mktemp("plain")
    shutil.copytree(MINI_CORPUS, root / "corpus")
    result = run_cli("index", root / "corpus", "-i", root / "index", "-m", tiny, "-q")
    assert result.code == 0, result.stderr
    return root / "corpus", root / "index"


@pytest.fixture(scope="module")
def trained(plain: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    """`tasksift adapt` on the plain index, a few steps: (its output, the adapter folder)."""
    out = tmp_path_factory.mktemp("trained") / "adapter"
    steps = ["--max-steps", "3", "--batch-size", "4", "--learning-rate", "0.05"]
    result = run_cli("adapt", "-i", plain[1], "--out", out, *steps, "--hard-negatives")
    assert result.code == 0, result.stderr
    return result.stdout, out


@pytest.fixture(scope="module")
def loras(trained, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The trained adapter, and another one (random) for the same model."""
    return trained[1], random_lora(tiny, tmp_path_factory.mktemp("loras") / "other", 2)


@pytest.fixture(scope="module")
def adapted(plain, loras, tiny: Path, tmp_path_factory: pytest.TempPathFactory):
    """The mini corpus indexed with the tiny model and the trained adapter: (corpus, index)."""
    index = tmp_path_factory.mktemp("adapted") / "index"
    result = run_cli("index", plain[0], "-i", index, "-m", tiny, "--adapter", loras[0], "-q")
    assert result.code == 0, result.stderr
    return plain[0], index


def test_adapt_reports_before_and_after_and_how_to_reindex(trained, plain, tiny: Path) -> None:
    stdout, out = trained
    assert "held-out MRR@10" in stdout and " before, " in stdout
    assert f"tasksift index {plain[0].resolve()} --adapter {out.resolve()}" in stdout
    facts = json.loads((out / "tasksift_adapter.json").read_text())
    assert facts["task"] == "retrieval" and facts["base_model"] == str(tiny.resolve())
    assert facts["trained"]["steps"] == 3 and facts["trained"]["pairs"]["sentence"] > 0
    assert facts["trained"]["hard_negatives"] is True


def peft_model(tiny: Path, lora: Path | None):
    """The reference: sentence-transformers with the adapter applied by PEFT, not merged."""
    from peft import PeftModel
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny), device="cpu")
    if lora is not None:
        model[0].model = PeftModel.from_pretrained(model[0].model, str(lora))
    return model


def test_index_records_the_adapter_and_info_shows_it(adapted, loras) -> None:
    result = run_cli("info", "-i", adapted[1], "-f", "json")
    assert result.code == 0, result.stderr
    record = json.loads(result.stdout)
    adapter = record["adapter"]
    assert adapter["path"] == str(loras[0].resolve())
    assert adapter["fingerprint"].startswith("sha256:")
    assert (adapter["rank"], adapter["alpha"]) == (8, 16.0)
    assert adapter["target_modules"] == ["query", "value"]  # peft's default for BERT
    assert adapter["task"] == "retrieval"
    assert adapter["base_fingerprint"] == record["model"]["fingerprint"]
    assert record["fast_path"]["passed"]


def test_vectors_and_onnx_queries_are_the_model_plus_adapter(adapted, tiny, loras) -> None:
    """Stored chunk vectors and the torch-free query encoder both match PEFT's unmerged
    adapter within 1e-4 cosine, and differ from the model without it."""
    from tasksift.index.reader import load_index
    from tasksift.onnx.embedder import open_index_embedder

    index = load_index(adapted[1])
    table = sidecar_table(adapted[1])
    stored = index.vectors.of(np.asarray(table.column("label").to_numpy()))
    reference, base = peft_model(tiny, loras[0]), peft_model(tiny, None)
    texts = table.column("text").to_pylist()
    expected = reference.encode(texts, normalize_embeddings=True)
    assert np.min(np.sum(stored * expected, axis=1)) > 1 - 1e-4
    assert np.max(np.sum(stored * base.encode(texts, normalize_embeddings=True), axis=1)) < 0.9999

    embedder, note = open_index_embedder(adapted[1], index.manifest)
    assert note is None and type(embedder).__name__ != "SentenceTransformerEmbedder"
    query = embedder.encode([QUERY], "")[0]
    assert float(query @ reference.encode([QUERY], normalize_embeddings=True)[0]) > 1 - 1e-4


def test_search_and_task_commands_load_the_adapter(adapted, loras) -> None:
    """Search takes the index's own adapter and stays torch-free (its ONNX encoder has the
    adapter merged in); a task command on the torch path merges it into the model."""
    torch_path = {"TASKSIFT_FAST_PATH": "0"}
    found = run_cli("search", QUERY, "-i", adapted[1], "--adapter", loras[0], "-f", "json",
                    interpreter=("-X", "importtime"))  # fmt: skip
    assert found.code == 0, found.stderr[-2000:]
    assert json.loads(found.stdout)["results"]
    imported = {line.split("|")[-1].strip() for line in found.stderr.splitlines() if "|" in line}
    heavy = {"torch", "transformers", "sentence_transformers", "peft"}
    assert not {m for m in imported if m.split(".")[0] in heavy}  # a cold search stays light
    similar = run_cli("similar", "--text", QUERY, "-i", adapted[1], "-f", "json", env=torch_path)
    assert similar.code == 0, similar.stderr
    assert json.loads(similar.stdout)["results"]


def test_a_search_with_another_adapter_is_refused(adapted, loras, plain) -> None:
    other = run_cli("search", QUERY, "-i", adapted[1], "--adapter", loras[1])
    assert other.code == 3
    assert_one_line_error(other)
    assert "built with adapter" in other.stderr and str(loras[1]) in other.stderr
    none = run_cli("search", QUERY, "-i", plain[1], "--adapter", loras[0])
    assert none.code == 3
    assert_one_line_error(none)
    assert "built with no adapter" in none.stderr


def test_an_update_with_another_adapter_is_refused(adapted, loras) -> None:
    corpus, index = adapted
    before = tree_digest(index)
    result = run_cli("index", corpus, "-i", index, "--adapter", loras[1])
    assert result.code == 3
    assert_one_line_error(result)
    assert tree_digest(index) == before


def test_adapt_refuses_to_overwrite(adapted, loras, tmp_path) -> None:
    """Not the index's own adapter, even with --overwrite; nothing else without it."""
    own = run_cli("adapt", "-i", adapted[1], "--out", loras[0], "--overwrite")
    assert own.code == 1
    assert_one_line_error(own)
    assert "was built with" in own.stderr
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    taken = run_cli("adapt", "-i", adapted[1], "--out", tmp_path / "taken")
    assert taken.code == 1
    assert_one_line_error(taken)
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_adapt_refuses_bad_pairs(adapted, tmp_path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"query": "loans", "doc_id": "money/loan-approval.md"}\n{"query": 1}\n')
    result = run_cli("adapt", "-i", adapted[1], "--out", tmp_path / "out", "--pairs", pairs)
    assert result.code == 1
    assert_one_line_error(result)
    assert f"{pairs}:2" in result.stderr
    assert not (tmp_path / "out").exists()


def test_adapt_on_given_pairs_alone(plain, tmp_path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        '{"query": "loan approval", "doc_id": "money/loan-approval.md"}\n'
        '{"query": "pasta sauce", "text": "Tomatoes, garlic and basil simmered slowly."}\n'
    )
    steps = ["--max-steps", "2", "--batch-size", "2", "--no-pseudo-queries", "--max-length", "16"]
    out = tmp_path / "out"
    result = run_cli("adapt", "-i", plain[1], "--out", out, "--pairs", pairs, *steps)
    assert result.code == 0, result.stderr
    facts = json.loads((out / "tasksift_adapter.json").read_text())
    assert facts["trained"]["pairs"] == {"given": 2} and not facts["trained"]["pseudo_queries"]
    assert facts["trained"]["max_length"] == 16
    alone = run_cli("adapt", "-i", plain[1], "--out", tmp_path / "o2", *steps)
    assert alone.code == 2
    assert_one_line_error(alone)
    assert "--pairs" in alone.stderr


def test_enough_given_pairs_are_held_out_for_the_figure(plain, tmp_path) -> None:
    """With 100 pairs or more, the figure is on the user's own held-out pairs."""
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("".join(f"question {n}\tanswer passage number {n}\n" for n in range(120)))
    steps = ["--max-steps", "2", "--batch-size", "4", "-q"]
    result = run_cli("adapt", "-i", plain[1], "--out", tmp_path / "o", "--pairs", pairs, *steps)
    assert result.code == 0, result.stderr
    assert "held-out MRR@10 (12 of your pairs among " in result.stdout
    facts = json.loads((tmp_path / "o" / "tasksift_adapter.json").read_text())
    assert facts["held_out"]["from"] == "your pairs" and facts["held_out"]["queries"] == 12
    assert facts["trained"]["pairs"]["given"] == 108


def test_the_same_seed_trains_the_same_adapter(plain, tmp_path) -> None:
    steps = ["--max-steps", "2", "--batch-size", "4", "--seed", "5", "-q"]
    weights = []
    for name in ("a", "b"):
        result = run_cli("adapt", "-i", plain[1], "--out", tmp_path / name, *steps)
        assert result.code == 0, result.stderr
        weights.append((tmp_path / name / "adapter_model.safetensors").read_bytes())
    assert weights[0] == weights[1]


def test_a_folder_that_is_not_an_adapter_is_refused(adapted, tiny, tmp_path) -> None:
    result = run_cli("search", QUERY, "-i", adapted[1], "--adapter", tiny)
    assert result.code == 1
    assert_one_line_error(result)
    assert "not a PEFT adapter folder" in result.stderr
    missing = run_cli("index", adapted[0], "-i", tmp_path / "i", "--adapter", tmp_path / "no")
    assert missing.code == 1
    assert_one_line_error(missing)
    assert not (tmp_path / "i").exists()


EXAMPLES = {
    "money": ["banks approve loans after reading cash flow", "a mortgage rate is fixed or "
              "variable", "interest compounds on savings", "credit scores guide lenders",
              "a loan needs collateral when income is thin"],
    "kitchen": ["knead the dough until it is smooth", "simmer the stock for an hour",
                "a sharp knife is safer than a dull one", "salt the pasta water well",
                "rest the meat before slicing it"],
    "nature": ["rivers carry sediment to the sea", "wetlands filter water for the valley",
               "salmon swim upstream to spawn", "forests hold the soil on slopes",
               "floods renew the plains beside a river"],
}  # fmt: skip


@pytest.fixture(scope="module")
def examples_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("examples") / "examples.tsv"
    lines = [f"{label}\t{text}" for label, texts in EXAMPLES.items() for text in texts]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def classifying(plain, tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini corpus indexed with the tiny model for classification."""
    index = tmp_path_factory.mktemp("classifying") / "index"
    result = run_cli("index", plain[0], "-i", index, "-m", tiny, "--task", "classification",
                     "-q")  # fmt: skip
    assert result.code == 0, result.stderr
    return index


def test_adapt_from_examples_trains_a_classification_adapter(
    classifying, examples_file, tmp_path
) -> None:
    """Same-label pairs, held-out accuracy before and after, how to re-index for the task."""
    out = tmp_path / "classes"
    steps = ["--max-steps", "3", "--learning-rate", "0.05"]
    result = run_cli("adapt", "-i", classifying, "--out", out, "--examples", examples_file, *steps)
    assert result.code == 0, result.stderr
    assert "held-out accuracy (3 examples, nearest centroid of the 12 others):" in result.stdout
    assert f"--task classification --adapter {out.resolve()}" in result.stdout
    facts = json.loads((out / "tasksift_adapter.json").read_text())
    assert facts["task"] == "classification" and facts["trained"]["pairs"]["example"] == 36
    assert 0.0 <= facts["held_out"]["accuracy_after"] <= 1.0


def test_adapt_takes_examples_for_classification_only(
    classifying, plain, examples_file, tmp_path
) -> None:
    wrong = run_cli("adapt", "-i", plain[1], "--out", tmp_path / "a", "--examples", examples_file)
    assert wrong.code == 1
    assert_one_line_error(wrong)
    assert "--examples trains classification and clustering adapters" in wrong.stderr
    missing = run_cli("adapt", "-i", classifying, "--out", tmp_path / "b")
    assert missing.code == 1
    assert_one_line_error(missing)
    assert "--examples FILE" in missing.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_adapt_distils_a_cross_encoder(plain, minilm_path, tmp_path) -> None:
    """--teacher scores each pair's passage and mined negative; the adapter learns the
    margin, and the adapter's facts name the teacher."""
    teacher = tiny_bert(minilm_path, tmp_path / "tiny-ce", labels=1)
    out = tmp_path / "distilled"
    steps = ["--max-steps", "2", "--batch-size", "4"]
    cache = {"TASKSIFT_CACHE_DIR": str(tmp_path / "cache")}  # its export is this test's own
    result = run_cli("adapt", "-i", plain[1], "--out", out, "--teacher", teacher, *steps, "-q",
                     env=cache)  # fmt: skip
    assert result.code == 0, result.stderr
    assert f"distilled from {teacher}" in result.stdout and "held-out MRR@10" in result.stdout
    trained = json.loads((out / "tasksift_adapter.json").read_text())["trained"]
    assert trained["teacher"] == str(teacher) and trained["steps"] == 2


def test_a_teacher_is_for_retrieval_adapters(classifying, examples_file, tmp_path) -> None:
    result = run_cli("adapt", "-i", classifying, "--out", tmp_path / "o", "--examples",
                     examples_file, "--teacher", tmp_path / "ce")  # fmt: skip
    assert result.code == 1
    assert_one_line_error(result)
    assert "--teacher distils" in result.stderr and not (tmp_path / "o").exists()
