"""--rerank: the cross-encoder's order, its checked ONNX export used without torch, the
fallbacks to torch, best windows, batches, eval and explain."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, invoke, run_cli, tiny_bert

QUERY = "how do banks decide on loans"
FORBIDDEN = {"torch", "transformers", "sentence_transformers", "huggingface_hub"}


@pytest.fixture(scope="module")
def tiny_cross_encoder(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(minilm_path, tmp_path_factory.mktemp("reranker") / "tiny-ce", labels=1)


@pytest.fixture(scope="module")
def first_use(built_index: Path, tiny_cross_encoder: Path, user_cache: Path) -> tuple:
    """The first `search --rerank` with the tiny cross-encoder, a real process: it exports
    the model to the (test session's) user cache. Returns the run and the export folder."""
    env = {"TASKSIFT_CACHE_DIR": str(user_cache), "HF_HUB_OFFLINE": "1"}
    args = ("search", QUERY, "-i", built_index, "--rerank", "--rerank-model",
            tiny_cross_encoder, "-k", "4")  # fmt: skip
    result = run_cli(*args, env=env)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASKSIFT_CACHE_DIR", str(user_cache))
        from tasksift.onnx.check import Kind
        from tasksift.onnx.cross_encoder import model_key
        from tasksift.onnx.store import export_folder

        folder = export_folder(user_cache, Kind.CROSS_ENCODER, model_key(tiny_cross_encoder))
    return result, folder, args, env


def _all_chunks(capsys: pytest.CaptureFixture[str], index: Path) -> list[dict]:
    """Every chunk of ``index`` (doc_id, start, snippet: its text), whatever its layout."""
    every = invoke(capsys, "search", "x", "-i", index, "--mode", "dense", "--chunks",
                   "-k", "100000", "-f", "jsonl")  # fmt: skip
    return every.jsonl()


def test_first_use_exports_a_checked_model_that_later_runs_use_without_torch(
    first_use: tuple,
) -> None:
    result, folder, args, env = first_use
    assert result.code == 0, result.stderr
    assert result.stderr.count("note: first use of reranker") == 1, result.stderr
    check = json.loads((folder / "check.json").read_text())
    assert check["passed"] and check["agreement"] <= 1e-3 and check["probes"] >= 8
    assert (folder / "model.onnx").is_file() and (folder / "tokenizer.json").is_file()
    again = run_cli(*args, env=env, interpreter=("-X", "importtime"))
    assert again.code == 0, again.stderr[-2000:]
    heavy = _heavy_imports(again.stderr)
    assert not heavy, sorted(heavy)[:10]
    assert "note:" not in again.stderr
    assert again.stdout == result.stdout


def _heavy_imports(stderr: str) -> set[str]:
    imported = {line.split("|")[-1].strip() for line in stderr.splitlines() if "|" in line}
    return {m for m in imported if m.split(".")[0] in FORBIDDEN}


def test_a_reranker_in_the_hugging_face_cache_is_found_without_importing_anything_heavy(
    first_use: tuple, tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-ce"
    shutil.copytree(tiny_cross_encoder, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    _, _, args, env = first_use
    hub_args = ["tiny-org/tiny-ce" if a == tiny_cross_encoder else a for a in args]
    result = run_cli(*hub_args, env={**env, "HF_HUB_CACHE": str(repo.parent)},
                     interpreter=("-X", "importtime"))  # fmt: skip
    assert result.code == 0, result.stderr[-2000:]
    assert not _heavy_imports(result.stderr)  # same weights and files: the same export
    assert "note:" not in result.stderr
    assert [json.loads(line)["doc_id"] for line in result.stdout.splitlines()] == [
        json.loads(line)["doc_id"] for line in first_use[0].stdout.splitlines()
    ]


def test_rerank_order_is_the_cross_encoder_order(
    built_index: Path, tiny_cross_encoder: Path, first_use: tuple,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from sentence_transformers import CrossEncoder

    chunks = _all_chunks(capsys, built_index)
    # Every chunk is a candidate, so the expected order does not depend on the dense search.
    result = invoke(
        capsys, "search", QUERY, "-i", built_index, "--rerank", "--rerank-model",
        tiny_cross_encoder, "--candidates", len(chunks), "--chunks", "-k", len(chunks),
        "-f", "jsonl",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "note:" not in result.stderr  # the ONNX export answered
    hits = result.jsonl()
    scores = CrossEncoder(str(tiny_cross_encoder)).predict([(QUERY, c["snippet"]) for c in chunks])
    expected = sorted(range(len(chunks)), key=lambda i: scores[i], reverse=True)
    assert [(h["doc_id"], h["start"]) for h in hits] == [
        (chunks[i]["doc_id"], chunks[i]["start"]) for i in expected
    ]
    for hit, i in zip(hits, expected, strict=True):
        assert hit["rerank_score"] == pytest.approx(float(scores[i]), abs=1e-4)
        assert -1.0 <= hit["score"] <= 1.0  # the first-stage score is shown too


def test_onnx_and_torch_agree_on_best_windows_of_long_texts(
    tiny_cross_encoder: Path, first_use: tuple
) -> None:
    from sentence_transformers import CrossEncoder

    from tasksift.onnx.check import read_check
    from tasksift.onnx.cross_encoder import OnnxPairScorer
    from tasksift.onnx.runtime import OnnxModel
    from tasksift.rerank.loading import TorchPairScorer
    from tasksift.rerank.reranker import Reranker

    folder = first_use[1]
    settings = dataclasses.replace(read_check(folder).settings, max_length=48)
    onnx = Reranker(OnnxPairScorer(OnnxModel(folder, settings)), "tiny")
    torch = Reranker(TorchPairScorer(CrossEncoder(str(tiny_cross_encoder), max_length=48)), "t")
    long = " ".join(f"sentence {i} about rivers, loans and rice." for i in range(40))
    texts = [long, "a short text", long[::-1], "loans " * 100]
    ours, theirs = onnx.score(QUERY, texts), torch.score(QUERY, texts)
    assert ours == pytest.approx(theirs, abs=1e-4)
    windows = onnx._windows(QUERY, [long])[0]
    assert len(windows) > 3
    each = Reranker(onnx.scorer, "tiny", windows=False).score(QUERY, windows)
    assert ours[0] == pytest.approx(max(each), abs=1e-6)  # the best window's score
    truncated = Reranker(onnx.scorer, "tiny", windows=False).score(QUERY, [long])[0]
    assert truncated == pytest.approx(each[0], abs=1e-3)  # truncation sees the first window


def test_windows_cover_a_long_text_on_word_boundaries(minilm_path: Path) -> None:
    from tokenizers import Tokenizer

    from tasksift.rerank.reranker import text_windows

    tokenizer = Tokenizer.from_file(str(minilm_path / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    text = " ".join(f"word{i} unbelievably-hyphenated tokenization" for i in range(60))
    encoding = tokenizer.encode(text, add_special_tokens=False)
    room = 40
    windows = text_windows(text, encoding.offsets, encoding.word_ids, room)
    assert len(windows) > 2
    position = 0
    for window in windows:
        start = text.index(window)
        assert start == 0 or not (text[start - 1].isalnum() and text[start].isalnum())
        end = start + len(window)
        assert end == len(text) or not (text[end - 1].isalnum() and text[end].isalnum())
        assert start <= position  # no gap between windows: every token is in one
        position = start + len(window)
        assert len(tokenizer.encode(window, add_special_tokens=False).ids) <= room
    assert position == len(text)
    assert text_windows("short", [(0, 5)], [0], room) == ["short"]


@pytest.mark.parametrize("damage", ["truncated model", "wrong probe score", "no tokenizer"])
def test_a_damaged_export_falls_back_to_torch_once_and_is_redone(
    built_index: Path, tiny_cross_encoder: Path, first_use: tuple, tmp_path: Path, user_cache: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], damage: str,
) -> None:  # fmt: skip
    _, folder, args, _ = first_use
    cache = tmp_path / "cache"
    shutil.copytree(user_cache, cache)
    monkeypatch.setenv("TASKSIFT_CACHE_DIR", str(cache))
    mine = cache / folder.relative_to(user_cache)
    if damage == "truncated model":
        (mine / "model.onnx").write_bytes((mine / "model.onnx").read_bytes()[:2000])
    elif damage == "wrong probe score":
        check = json.loads((mine / "check.json").read_text())
        check["expected"][0] += 0.5
        (mine / "check.json").write_text(json.dumps(check))
    else:
        (mine / "tokenizer.json").unlink()
    fallback = invoke(capsys, *args, "-f", "jsonl")
    assert fallback.code == 0, fallback.stderr
    assert fallback.stderr.count("note: fast rerank path unavailable") == 1, fallback.stderr
    assert "exported again next time" in fallback.stderr
    assert not mine.exists()
    redone = invoke(capsys, *args, "-f", "jsonl")
    assert redone.stderr.count("note: first use of reranker") == 1
    for a, b in zip(fallback.jsonl(), redone.jsonl(), strict=True):
        assert a["doc_id"] == b["doc_id"]
        assert a["rerank_score"] == pytest.approx(b["rerank_score"], abs=1e-4)


def test_fast_path_off_reranks_with_torch_and_says_so(
    first_use: tuple, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = first_use[2]
    fast = invoke(capsys, *args, "-f", "jsonl")
    monkeypatch.setenv("TASKSIFT_FAST_PATH", "0")
    torch = invoke(capsys, *args, "-f", "jsonl")
    assert fast.code == torch.code == 0
    assert "note:" not in fast.stderr
    assert torch.stderr.count("note:") == 2  # one from each side: the query and the reranker
    assert torch.stderr.count("TASKSIFT_FAST_PATH=0") == 2
    for a, b in zip(fast.jsonl(), torch.jsonl(), strict=True):
        assert a["doc_id"] == b["doc_id"]
        assert a["rerank_score"] == pytest.approx(b["rerank_score"], abs=1e-4)


def test_a_failed_check_is_kept_and_not_retried(
    first_use: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import tasksift.onnx.check
    import tasksift.onnx.export

    args = first_use[2]
    monkeypatch.setenv("TASKSIFT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tasksift.onnx.check, "MAX_SCORE_DIFF", -1.0)  # no export can pass
    failed = invoke(capsys, *args)
    assert failed.code == 0, failed.stderr
    assert failed.stderr.count("note: fast rerank path unavailable (its check failed") == 1
    (check_file,) = (tmp_path / "cache").rglob("check.json")
    assert not json.loads(check_file.read_text())["passed"]
    assert not (check_file.parent / "model.onnx").exists()

    def no_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(tasksift.onnx.export, "export_to", no_export)
    again = invoke(capsys, *args)
    assert again.code == 0 and "its check failed" in again.stderr


def test_an_unwritable_cache_falls_back_to_torch(
    first_use: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TASKSIFT_CACHE_DIR", str(blocker))
    result = invoke(capsys, *first_use[2])
    assert result.code == 0, result.stderr
    assert result.stderr.count("note: fast rerank path unavailable") == 1


def test_missing_reranker_is_a_clear_error(
    built_index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(
        capsys, "search", "rice", "-i", built_index, "--rerank",
        "--rerank-model", "no-such-org/no-such-reranker",
    )  # fmt: skip
    assert_one_line_error(result)
    assert result.code == 6
    assert "no-such-org/no-such-reranker" in result.stderr
    assert result.stdout == ""
    # found missing before torch or sentence-transformers is imported, so at once
    timed = run_cli("search", "rice", "-i", built_index, "--rerank", "--rerank-model",
                    "no-such-org/no-such-reranker", interpreter=("-X", "importtime"))  # fmt: skip
    assert timed.code == 6
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines()}
    assert not {"torch", "sentence_transformers"} & imported


def test_a_classifier_is_refused_before_loading(
    built_index: Path, minilm_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tiny_bert(minilm_path, tmp_path / "nli", labels=3)
    result = invoke(capsys, "search", "rice", "-i", built_index, "--rerank",
                    "--rerank-model", folder)  # fmt: skip
    assert_one_line_error(result)
    assert result.code == 6 and "3 outputs" in result.stderr


def test_batch_rerank_scores_all_queries_together_like_single_searches(
    built_index: Path, tiny_cross_encoder: Path, first_use: tuple, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from tasksift.options import SearchRequest
    from tasksift.search.searcher import Searcher

    queries = [QUERY, "rice on the stove", "river bank plants"]
    path = tmp_path / "queries.txt"
    path.write_text("\n".join(queries) + "\n")
    common = ("-i", built_index, "--rerank", "--rerank-model", tiny_cross_encoder, "-k", "3")
    batch = invoke(capsys, "search", "-Q", path, *common, "-f", "jsonl")
    assert batch.code == 0, batch.stderr
    for answer, query in zip(batch.jsonl(), queries, strict=True):
        single = invoke(capsys, "search", query, *common, "-f", "jsonl").jsonl()
        assert [(h["doc_id"], h["rerank_score"]) for h in answer["results"]] == [
            (h["doc_id"], h["rerank_score"]) for h in single
        ]
    searcher = Searcher.open(built_index, SearchRequest(), rerank_model=str(tiny_cross_encoder))
    calls = []
    score_pairs = searcher.reranker.scorer.score_pairs
    searcher.reranker.scorer.score_pairs = lambda pairs: calls.append(pairs) or score_pairs(pairs)
    searcher.search(queries, 3)
    assert len(calls) == 1 and {q for q, _ in calls[0]} == set(queries)


def test_eval_shows_each_first_stage_beside_its_reranked_run(
    built_index: Path, tiny_cross_encoder: Path, first_use: tuple, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    import ir_measures
    from ir_measures import AP, nDCG

    queries = tmp_path / "q.tsv"
    queries.write_text("loan\twhat does a bank check before lending\nrice\tcooking rice\n")
    qrels = tmp_path / "qrels.trec"
    qrels.write_text("loan 0 money/loan-approval.md 2\nrice 0 kitchen/rice.txt 1\n")
    rerank = ("--rerank", "--rerank-model", tiny_cross_encoder)
    report = invoke(capsys, "eval", "-Q", queries, "--qrels", qrels, "-i", built_index,
                    "--mode", "all", *rerank, "-f", "json")  # fmt: skip
    assert report.code == 0, report.stderr
    data = json.loads(report.stdout)
    assert list(data["runs"]) == [
        "hybrid", "hybrid + rerank", "dense", "dense + rerank", "lexical", "lexical + rerank"
    ]  # fmt: skip
    assert data["rerank"]["backend"] == "onnx" and data["rerank"]["candidates"] == 100
    run = invoke(capsys, "search", "-Q", queries, "-i", built_index, *rerank, "--candidates",
                 "100", "-k", "100", "-f", "trec")  # fmt: skip
    (tmp_path / "run.trec").write_text(run.stdout)
    expected = ir_measures.calc_aggregate(
        [nDCG @ 10, AP],
        ir_measures.read_trec_qrels(str(qrels)),
        ir_measures.read_trec_run(str(tmp_path / "run.trec")),
    )
    assert data["runs"]["hybrid + rerank"]["nDCG@10"] == pytest.approx(expected[nDCG @ 10])
    assert data["runs"]["hybrid + rerank"]["MAP"] == pytest.approx(expected[AP])


def test_explain_shows_the_rerank_score_beside_the_first_stage(
    built_index: Path, tiny_cross_encoder: Path, first_use: tuple,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    args = ("search", QUERY, "-i", built_index, "--rerank", "--rerank-model",
            tiny_cross_encoder, "--explain", "-k", "3")  # fmt: skip
    hits = invoke(capsys, *args, "-f", "jsonl").jsonl()
    first_stage = invoke(capsys, "search", QUERY, "-i", built_index, "--chunks", "-k", "50",
                         "--explain", "-f", "jsonl").jsonl()  # fmt: skip
    for hit in hits:
        why = hit["explain"]
        assert why["rerank_score"] == hit["rerank_score"]
        assert why["fused_score"] == hit["score"] and why["dense_score"] is not None
        before = first_stage[why["first_stage_rank"] - 1]
        assert (before["doc_id"], before["start"]) == (hit["doc_id"], hit["start"])
    table = invoke(capsys, *args, "-f", "table").stdout
    assert "rerank" in table and "was #" in table


def test_scores_are_remembered_across_modes(tiny_cross_encoder: Path, first_use: tuple) -> None:
    from tasksift.rerank.loading import load_reranker

    reranker = load_reranker(str(tiny_cross_encoder))
    calls = []
    score_pairs = reranker.scorer.score_pairs
    reranker.scorer.score_pairs = lambda pairs: calls.append(len(pairs)) or score_pairs(pairs)
    first = reranker.score_many(["q1", "q2"], [["a", "b"], ["a"]])
    second = reranker.score_many(["q1"], [["b", "c"]])
    assert calls == [3, 1]  # only ("q1", "c") is new
    assert second[0][0] == first[0][1] and np.isfinite(second[0][1])
