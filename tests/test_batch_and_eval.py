"""Batch queries, JSON Lines corpora and `tasksift eval`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from conftest import MINI_CORPUS, invoke, run_cli

QUERIES = [
    ("loan", "what does a bank check before lending to a company", "money/loan-approval.md"),
    ("river", "plants that hold a river bank together", "nature/riverbank-erosion.md"),
    ("mayo", "rescue a split egg and oil sauce", "kitchen/mayonnaise.md"),
    ("thirst", "symptoms of not drinking enough", "health/dehydration.md"),
]


@pytest.fixture
def query_file(tmp_path: Path) -> Path:
    path = tmp_path / "queries.tsv"
    path.write_text("".join(f"{qid}\t{text}\n" for qid, text, _ in QUERIES), encoding="utf-8")
    return path


def test_batch_jsonl_answers_every_query(built_index: Path, query_file: Path) -> None:
    result = run_cli("search", "--queries", query_file, "-i", built_index, "-k", "3")
    assert result.code == 0, result.stderr
    answers = result.jsonl()  # not a terminal: one JSON object per query
    assert [a["id"] for a in answers] == [qid for qid, _, _ in QUERIES]
    for answer, (_, text, expected) in zip(answers, QUERIES, strict=True):
        assert answer["query"] == text
        assert [r["rank"] for r in answer["results"]] == [1, 2, 3]
        top = answer["results"][0]
        assert top["doc_id"] == expected
        assert {"path", "score", "start", "end", "snippet"} <= set(top)


def test_batch_matches_single_searches(
    built_index: Path, query_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    batch = invoke(capsys, "search", "-Q", query_file, "-i", built_index, "-k", "4", "-f", "tsv")
    assert batch.code == 0, batch.stderr
    rows = [line.split("\t") for line in batch.stdout.splitlines()]
    for qid, text, _ in QUERIES:
        single = invoke(capsys, "search", text, "-i", built_index, "-k", "4", "-f", "jsonl")
        expected = [(h["doc_id"], h["score"]) for h in single.jsonl()]
        got = [(r[2], float(r[3])) for r in rows if r[0] == qid]
        assert [d for d, _ in got] == [d for d, _ in expected]
        for (_, a), (_, b) in zip(got, expected, strict=True):
            assert a == pytest.approx(b, abs=1e-5)


def test_query_file_shapes_and_stdin(built_index: Path, tmp_path: Path) -> None:
    mixed = (
        'plain query about rice\nt1\tbeaver dams\n{"_id": "j1", "text": "credit score factors"}\n'
    )
    result = run_cli("search", "-Q", "-", "-i", built_index, "-k", "1", "-f", "trec", stdin=mixed)
    assert result.code == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines()]
    assert [(f[0], f[1], f[3], f[5]) for f in lines] == [
        ("1", "Q0", "1", "tasksift"),
        ("t1", "Q0", "1", "tasksift"),
        ("j1", "Q0", "1", "tasksift"),
    ]
    assert [f[2] for f in lines] == [
        "kitchen/rice.txt",
        "nature/beaver-dams.txt",
        "money/credit-score.txt",
    ]


def test_bad_lines_are_reported_and_skipped(built_index: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(
        b"good one about rice\n"
        b"\n"
        b"caf\xe9 latin-1\n" + b"long " * 1000 + b"\n" + b"word " * 300 + b"\n"
        b'{"text": "json without id"}\n'
        b"beaver dams\n"
    )
    result = run_cli("search", "-Q", path, "-i", built_index, "-k", "1", "-f", "tsv")
    assert result.code == 8, result.stderr
    assert "Traceback" not in result.stderr
    for number, reason in [(2, "empty"), (3, "UTF-8"), (4, "characters"), (6, "_id")]:
        assert f"line {number}:" in result.stderr and reason in result.stderr
    assert "4 queries skipped" in result.stderr
    # a query longer than the model reads is answered: the dense side reads its start
    assert "1 query (line 5) is longer" in result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["1", "5", "7"]


def test_batch_refuses_a_mismatch_like_a_single_search(built_index: Path, query_file: Path) -> None:
    result = run_cli("search", "-Q", query_file, "-i", built_index, "--task", "clustering")
    assert result.code == 3 and result.stdout == ""


def test_query_and_queries_are_exclusive(
    built_index: Path, query_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    both = invoke(capsys, "search", "x", "-Q", query_file, "-i", built_index)
    neither = invoke(capsys, "search", "-i", built_index)
    assert both.code == neither.code == 2
    missing = invoke(capsys, "search", "-Q", "/no/such/file", "-i", built_index)
    assert missing.code == 1 and "not found" in missing.stderr


# ---------------------------------------------------------------- JSON Lines corpora


def _beir_corpus(path: Path) -> None:
    records = [
        {"_id": f"doc-{p.stem}", "title": p.stem.replace("-", " "), "text": p.read_text()}
        for p in sorted(MINI_CORPUS.rglob("*.*"))
    ]
    lines = [json.dumps(r) for r in records] + ["not json", '{"title": "no id"}']
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def test_jsonl_corpus_uses_its_ids(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.jsonl.gz"
    _beir_corpus(corpus)
    built = run_cli("index", corpus, "-i", tmp_path / "idx")
    assert built.code == 0, built.stderr
    assert "line 9" in built.stderr and "line 10" in built.stderr
    assert "indexed 8 documents" in built.stdout and "2 skipped" in built.stdout
    hits = run_cli("search", "beaver dams", "-i", tmp_path / "idx", "-k", "2").jsonl()
    assert hits[0]["doc_id"] == "doc-beaver-dams"
    assert hits[0]["path"] == "corpus.jsonl.gz"
    assert hits[0]["snippet"].startswith("beaver dams Beavers build dams")  # title + " " + text


# ---------------------------------------------------------------- eval


def _qrels(tmp_path: Path, trec: bool) -> Path:
    path = tmp_path / ("qrels.trec" if trec else "qrels.tsv")
    rows = [(qid, doc, 2) for qid, _, doc in QUERIES] + [("loan", "kitchen/rice.txt", 1)]
    if trec:
        path.write_text("".join(f"{q} 0 {d} {g}\n" for q, d, g in rows))
    else:
        path.write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{g}\n" for q, d, g in rows)
        )
    return path


def test_eval_agrees_with_ir_measures_on_the_trec_run(
    built_index: Path, query_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import ir_measures
    from ir_measures import AP, RR, R, nDCG

    trec_qrels, beir_qrels = _qrels(tmp_path, trec=True), _qrels(tmp_path, trec=False)
    report = invoke(
        capsys, "eval", "-Q", query_file, "--qrels", trec_qrels, "-i", built_index, "-f", "json"
    )
    assert report.code == 0, report.stderr
    measures = json.loads(report.stdout)["runs"]["hybrid"]
    run_file = tmp_path / "run.trec"
    trec = invoke(capsys, "search", "-Q", query_file, "-i", built_index, "-k", "100", "-f", "trec")
    run_file.write_text(trec.stdout)
    expected = ir_measures.calc_aggregate(
        [nDCG @ 10, RR @ 10, R @ 100, AP],
        ir_measures.read_trec_qrels(str(trec_qrels)),
        ir_measures.read_trec_run(str(run_file)),
    )
    assert measures["nDCG@10"] == pytest.approx(expected[nDCG @ 10])
    assert measures["MRR@10"] == pytest.approx(expected[RR @ 10]) == 1.0
    assert measures["Recall@100"] == pytest.approx(expected[R @ 100]) == 1.0
    assert measures["MAP"] == pytest.approx(expected[AP])
    assert measures["nDCG@10"] < 1.0  # "loan"'s second relevant document ranks low
    beir = invoke(
        capsys, "eval", "-Q", query_file, "--qrels", beir_qrels, "-i", built_index, "-f", "json"
    )
    assert json.loads(beir.stdout)["runs"]["hybrid"] == measures


def test_eval_exact_reports_both_runs(
    built_index: Path, query_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qrels = _qrels(tmp_path, trec=True)
    result = invoke(
        capsys, "eval", "-Q", query_file, "--qrels", qrels, "-i", built_index, "--exact",
        "-f", "json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["runs"]) == {"hybrid", "hybrid exact"}
    assert report["ann_recall@10_vs_exact"] == pytest.approx(1.0)  # tiny index: ANN is exact
    assert report["runs"]["hybrid exact"] == pytest.approx(report["runs"]["hybrid"])
    table = invoke(capsys, "eval", "-Q", query_file, "--qrels", qrels, "-i", built_index,
                   "--exact", "-f", "table")  # fmt: skip
    assert "exact" in table.stdout and "nDCG@10" in table.stdout


def test_exact_search_equals_brute_force(built_index: Path) -> None:
    import numpy as np

    from tasksift.index.reader import load_index
    from tasksift.search.dense import DenseRetriever

    index = load_index(built_index)
    stored = np.asarray(index.graph.get_items(list(range(index.manifest.chunks))))
    query = stored[3] + 0.5 * stored[7]
    query /= np.linalg.norm(query)
    (found,) = DenseRetriever(index, None, exact=True).for_vectors(query, None)
    ranked = found.top_documents(5)
    doc_ids = index.column("doc_id").to_pylist()
    scores = stored @ query
    best: dict[str, float] = {}
    for label, doc in enumerate(doc_ids):
        best[doc] = max(best.get(doc, -2.0), float(scores[label]))
    expected = sorted(best, key=best.get, reverse=True)[:5]
    assert [doc_ids[int(index.labels[r])] for r in ranked.rows] == expected
    assert list(ranked.scores) == pytest.approx([best[d] for d in expected], abs=1e-6)


def test_bad_qrels(built_index: Path, query_file: Path, tmp_path: Path,
                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    bad = tmp_path / "bad.qrels"
    bad.write_text("loan Q0\n")
    result = invoke(capsys, "eval", "-Q", query_file, "--qrels", bad, "-i", built_index)
    assert result.code == 1 and "line 1" in result.stderr


def test_eval_reports_intervals_and_paired_differences(
    built_index: Path, query_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qrels = _qrels(tmp_path, trec=True)
    args = ("eval", "-Q", query_file, "--qrels", qrels, "-i", built_index, "--mode", "all")
    first = invoke(capsys, *args, "-f", "json")
    assert first.code == 0, first.stderr
    report = json.loads(first.stdout)
    assert report == json.loads(invoke(capsys, *args, "-f", "json").stdout)  # seeded
    for run, measures in report["runs"].items():
        for name, value in measures.items():
            low, high = report["intervals"][run][name]
            assert 0.0 <= low <= value <= high <= 1.0
    assert [(c["a"], c["b"]) for c in report["comparisons"]] == [
        ("hybrid", "dense"),
        ("hybrid", "lexical"),
    ]
    for comparison in report["comparisons"]:
        runs = report["runs"]
        for name, difference in comparison["measures"].items():
            expected = runs[comparison["b"]][name] - runs[comparison["a"]][name]
            assert difference["mean"] == pytest.approx(expected)
            assert 0.0 < difference["p_value"] <= 1.0
    table = invoke(capsys, *args, "-f", "table")
    assert "bootstrap" in table.stdout and "randomization" in table.stdout
    assert "dense" in table.stdout.split("paired differences")[1]


def test_eval_compare_runs_from_files_and_modes(
    built_index: Path, query_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qrels = _qrels(tmp_path, trec=False)
    good, bad = tmp_path / "good.trec", tmp_path / "bad.trec"
    good.write_text(invoke(capsys, "search", "-Q", query_file, "-i", built_index,
                           "-k", "100", "-f", "trec").stdout)  # fmt: skip
    # the right document at rank 11 for every query: nDCG@10 is 0 on each
    bad.write_text("".join(
        f"{qid} Q0 filler-{n} {n + 1} {100 - n} x\n" for qid, _, _ in QUERIES for n in range(10)
    ) + "".join(f"{qid} Q0 {doc} 11 50 x\n" for qid, _, doc in QUERIES))  # fmt: skip
    files = invoke(capsys, "eval", "--qrels", qrels, "--compare", bad, good, "-f", "json")
    assert files.code == 0, files.stderr  # two run files: no index, no queries needed
    report = json.loads(files.stdout)
    (comparison,) = report["comparisons"]
    assert (comparison["a"], comparison["b"]) == (str(bad), str(good))
    ndcg = comparison["measures"]["nDCG@10"]
    assert ndcg["mean"] == pytest.approx(report["runs"][str(good)]["nDCG@10"])
    assert ndcg["mean"] > 0.8
    # four queries, all better: the exact randomization test's smallest two-sided p, 2/16
    assert ndcg["p_value"] == pytest.approx(2 / 16)
    assert ndcg["interval"][0] > 0
    mixed = invoke(capsys, "eval", "-Q", query_file, "--qrels", qrels, "-i", built_index,
                   "--compare", good, "hybrid", "-f", "json")  # fmt: skip
    assert mixed.code == 0, mixed.stderr
    same = json.loads(mixed.stdout)["comparisons"][0]["measures"]["nDCG@10"]
    assert same["mean"] == pytest.approx(0.0, abs=1e-9) and same["p_value"] == 1.0


def test_eval_compare_refuses_bad_runs(
    built_index: Path, query_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    qrels = _qrels(tmp_path, trec=True)
    broken = tmp_path / "broken.trec"
    broken.write_text("loan Q0 doc 1 high x\n")
    cases = [
        (("--compare", broken, broken), "line 1"),
        (("--compare", "nowhere", "dense"), "neither a run file nor a mode"),
        (("--compare", "hybrid", "dense"), "--queries"),
    ]
    for extra, message in cases:
        result = invoke(capsys, "eval", "--qrels", qrels, "-i", built_index, *extra)
        assert result.code in (1, 2) and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
