"""The task commands and their guard: similar, dupes (and the guard every task command
shares), through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import assert_one_line_error, invoke, minilm_with_prompts, run_cli

PER_TASK_PROMPTS = {
    "query": "query: ",
    "document": "passage: ",
    "similarity": "similar: ",
    "classification": "classify: ",
    "clustering": "cluster: ",
}


@pytest.fixture(scope="module")
def task_model(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the bundled MiniLM whose config has a different prompt for every task."""
    folder = tmp_path_factory.mktemp("task-model") / "minilm-per-task"
    return minilm_with_prompts(minilm_path, folder, PER_TASK_PROMPTS)


@pytest.fixture(scope="module")
def per_task_indexes(task_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The mini corpus indexed with that model for retrieval and for similarity."""
    from conftest import MINI_CORPUS

    root = tmp_path_factory.mktemp("per-task")
    corpus = root / "corpus"
    shutil.copytree(MINI_CORPUS, corpus)
    indexes = {}
    for task in ("retrieval", "similarity"):
        result = run_cli("index", corpus, "-i", root / task, "-m", task_model, "-q", "--task", task)
        assert result.code == 0, result.stderr
        indexes[task] = root / task
    return indexes


def test_a_task_command_is_refused_on_vectors_made_for_another_task(per_task_indexes: dict) -> None:
    retrieval = per_task_indexes["retrieval"]
    for command in (["dupes"], ["similar", "nature/beaver-dams.txt"]):
        refused = run_cli(*command, "-i", retrieval)
        assert_one_line_error(refused)
        assert refused.code == 3
        assert "--task similarity" in refused.stderr and "--any-task" in refused.stderr
        knowingly = run_cli(*command, "-i", retrieval, "--any-task", "-f", "jsonl")
        assert knowingly.code == 0, knowingly.stderr
        assert "--any-task: running on vectors made for retrieval" in knowingly.stderr
    built_for_it = run_cli("dupes", "-i", per_task_indexes["similarity"], "-f", "jsonl")
    assert built_for_it.code == 0 and built_for_it.stderr == ""
    info = json.loads(run_cli("info", "-i", retrieval, "-f", "json").stdout)
    assert info["serves"]["dupes"].startswith("refused")


def test_identical_prompts_make_another_task_safe_and_say_why(built_index: Path) -> None:
    result = run_cli("dupes", "-i", built_index, "--explain", "-f", "jsonl")  # no prompts at all
    assert result.code == 0, result.stderr
    assert "document prompt for similarity is the same (no prompt)" in result.stderr
    info = json.loads(run_cli("info", "-i", built_index, "-f", "json").stdout)
    assert info["serves"]["similar"].startswith("runs:") and "same" in info["serves"]["similar"]


def test_info_and_refusals_import_no_numpy(per_task_indexes: dict) -> None:
    for args in (["info", "-f", "json"], ["dupes"]):
        result = run_cli(
            *args, "-i", per_task_indexes["retrieval"], interpreter=("-X", "importtime")
        )
        imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
        assert not {"numpy", "pyarrow", "torch"} & imported, args


def test_similar_to_a_document_and_to_a_text(
    built_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    found = invoke(capsys, "similar", "nature/beaver-dams.txt", "-i", built_index, "-f", "jsonl")
    assert found.code == 0, found.stderr
    ids = [h["doc_id"] for h in found.jsonl()]
    assert "nature/beaver-dams.txt" not in ids and len(ids) == 7
    assert ids[0] == "nature/riverbank-erosion.md"
    scores = [h["score"] for h in found.jsonl()]
    assert scores == sorted(scores, reverse=True)
    text = invoke(capsys, "similar", "--text", "whisk oil into egg yolk slowly", "-i",
                  built_index, "-k", "1", "-f", "jsonl")  # fmt: skip
    assert text.jsonl()[0]["doc_id"] == "kitchen/mayonnaise.md"
    kitchen = invoke(capsys, "similar", "nature/beaver-dams.txt", "-i", built_index, "--path",
                     "kitchen/*", "-f", "jsonl")  # fmt: skip
    assert {h["doc_id"].split("/")[0] for h in kitchen.jsonl()} == {"kitchen"}
    missing = invoke(capsys, "similar", "nowhere.txt", "-i", built_index)
    assert_one_line_error(missing)
    assert missing.code == 1 and "not a document of this index" in missing.stderr


def test_dupes_of_the_sample_corpus_are_its_three_near_duplicates(sample_index: Path) -> None:
    result = run_cli("dupes", "-i", sample_index, "-f", "jsonl")
    assert result.code == 0, result.stderr
    groups = [sorted(m["id"] for m in g["members"]) for g in result.jsonl()]
    assert sorted(groups) == [
        ["cooking/simple-tomato-sauce.md", "cooking/tomato-sauce-quick.txt"],
        ["health/sleep-hygiene-tips.txt", "health/sleep-hygiene.md"],
        ["lending-and-banking/small-business-loan-approval-v2.md",
         "lending-and-banking/small-business-loan-approval.md"],
    ]  # fmt: skip
    for group in result.jsonl():
        assert group["members"][0]["id"] == group["representative"]
        assert group["members"][0]["similarity"] == pytest.approx(1.0)
        assert all(p["similarity"] >= 0.9 for p in group["pairs"])
    loose = run_cli("dupes", "-i", sample_index, "--threshold", "0.75", "-f", "jsonl").jsonl()
    assert len(loose) > 3  # a lower threshold groups related, not duplicated, documents
    passages = run_cli("dupes", "-i", sample_index, "--chunks", "-f", "tsv")
    rows = [line.split("\t") for line in passages.stdout.splitlines()]
    assert rows and {r[1].split("#")[0] for r in rows} <= {
        "lending-and-banking/small-business-loan-approval-v2.md",
        "lending-and-banking/small-business-loan-approval.md",
        "cooking/simple-tomato-sauce.md",
        "cooking/tomato-sauce-quick.txt",
        "health/sleep-hygiene-tips.txt",
        "health/sleep-hygiene.md",
    }
    table = run_cli("dupes", "-i", sample_index, "-f", "table", env={"COLUMNS": "120"})
    assert "3 groups at cosine >= 0.9" in table.stdout and "(representative)" in table.stdout


def test_cluster_command_outputs(sample_index: Path) -> None:
    per_document = run_cli("cluster", "-n", "6", "-i", sample_index, "-f", "tsv")
    assert per_document.code == 0, per_document.stderr
    rows = [line.split("\t") for line in per_document.stdout.splitlines()]
    assert len(rows) == 62 and {r[1] for r in rows} == {str(n) for n in range(6)}
    again = run_cli("cluster", "-n", "6", "-i", sample_index, "-f", "tsv")
    assert again.stdout == per_document.stdout  # deterministic for a seed
    summary = json.loads(run_cli("cluster", "-n", "6", "-i", sample_index, "-f", "json").stdout)
    assert sum(c["size"] for c in summary["clusters"]) == 62
    assert all(c["label"] and c["central"] for c in summary["clusters"])
    table = run_cli("cluster", "--auto", "-i", sample_index, "-f", "table", env={"COLUMNS": "120"})
    assert table.code == 0 and "clusters (kmeans+silhouette" in table.stdout
    both = run_cli("cluster", "-i", sample_index)
    assert_one_line_error(both)
    assert both.code == 2


def test_classify_and_its_evaluation(sample_index: Path, tmp_path: Path) -> None:
    topics = ["cooking", "health", "law", "lending-and-banking", "machine-learning",
              "rivers-and-ecology"]  # fmt: skip
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"{t}\t{t.replace('-', ' ')}\n" for t in topics))
    result = run_cli("classify", "--labels", labels, "-i", sample_index, "-f", "jsonl")
    assert result.code == 0, result.stderr
    predictions = {r["item"]: r for r in result.jsonl()}
    assert len(predictions) == 62
    right = sum(r["label"] == item.split("/")[0] for item, r in predictions.items())
    assert right / 62 >= 0.85
    assert all(r["runner_up"] in topics and r["score"] >= r["runner_up_score"]
               for r in predictions.values())  # fmt: skip
    gold = tmp_path / "gold.tsv"
    gold.write_text("".join(f"{item}\t{item.split('/')[0]}\n" for item in predictions))
    report = run_cli("eval", "--labels", labels, "--gold", gold, "-i", sample_index, "-f", "json")
    assert report.code == 0, report.stderr
    figures = json.loads(report.stdout)
    assert figures["accuracy"] == pytest.approx(right / 62) and figures["items"] == 62
    one = run_cli("classify", "--labels", labels, "--text", "knead the dough and let it rise",
                  "-i", sample_index, "-f", "tsv")  # fmt: skip
    assert one.stdout.split("\t")[:2] == ["1", "cooking"]
    bad = tmp_path / "bad.tsv"
    bad.write_text("cooking\tfood\n")
    refused = run_cli("classify", "--labels", bad, "-i", sample_index)
    assert_one_line_error(refused)
    assert refused.code == 1 and "at least 2" in refused.stderr


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["index"],
        ["search"],
        ["eval"],
        ["info"],
        ["models"],
        ["similar"],
        ["dupes"],
        ["cluster"],
        ["classify"],
        ["adapt"],
    ],  # fmt: skip
)
def test_help_reads_cleanly_at_80_columns(command: list[str]) -> None:
    result = run_cli(*command, "--help", env={"COLUMNS": "80"})
    assert result.code == 0, result.stderr
    assert "<bool>" not in result.stdout  # flags take no value and show none
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
