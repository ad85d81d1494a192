"""A search whose task, model or prompts differ from the index's is refused with exit 3."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import invoke, run_cli, tree_digest

MISMATCHES = {
    "task": (["--task", "similarity"], ["'retrieval'", "'similarity'", "--task retrieval"]),
    "model": (["--model", "intfloat/e5-small-v2"], ["all-MiniLM-L6-v2", "intfloat/e5-small-v2"]),
    "query prompt": (["--query-prompt", "query: "], ["query prompt", "'query: '"]),
    "document prompt": (["--document-prompt", "passage: "], ["document prompt", "'passage: '"]),
}


@pytest.mark.parametrize("kind", MISMATCHES)
def test_mismatch_is_refused_and_leaves_the_index_unchanged(built_index: Path, kind: str) -> None:
    flags, phrases = MISMATCHES[kind]
    before = tree_digest(built_index)
    result = run_cli("search", "loan approval", "--index", built_index, *flags)
    assert result.code == 3, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr
    assert "tasksift index" in result.stderr  # the other way out: build a matching index
    assert tree_digest(built_index) == before


def test_refusal_happens_before_any_model_is_loaded(built_index: Path) -> None:
    result = run_cli(
        "search", "q", "-i", built_index, "--task", "clustering", interpreter=("-X", "importtime")
    )
    assert result.code == 3
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    models = {"torch", "onnxruntime", "sentence_transformers", "transformers"}
    assert "tasksift.guard" in imported  # the guard ran ...
    assert not {m for m in imported if m.split(".")[0] in models}  # ... and no model library


def test_matching_flags_are_accepted(built_index: Path) -> None:
    result = run_cli(
        "search", "loan", "-i", built_index, "-k", "1", "--task", "retrieval",
        "--model", "all-MiniLM-L6-v2", "--query-prompt", "", "--document-prompt", "",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert len(result.jsonl()) == 1


def test_changed_model_weights_are_refused(
    minilm_path: Path,
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    from safetensors.torch import load_file, save_file

    model = tmp_path / "my-minilm"
    shutil.copytree(minilm_path, model)
    index = tmp_path / "index"
    assert invoke(capsys, "index", corpus, "-i", index, "-m", model, "-q").code == 0
    weights = load_file(str(model / "model.safetensors"))
    first = sorted(weights)[0]
    weights[first] = weights[first] * 1.01
    save_file(weights, str(model / "model.safetensors"))
    monkeypatch.setenv("TASKSIFT_FAST_PATH", "0")  # the ONNX export keeps the old weights
    result = invoke(capsys, "search", "loan", "-i", index)
    assert result.code == 3 and result.stdout == ""
    assert "weights" in result.stderr and "changed" in result.stderr
    (corpus / "new.txt").write_text("A new note that an update would have to embed.")
    update = invoke(capsys, "index", corpus, "-i", index, "-q")
    assert update.code == 3 and "weights" in update.stderr
