"""--path and --type restrict results inside the search, not after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import invoke

QUERY = "how does a river bank erode during floods"


@pytest.fixture(scope="module")
def crowded_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 documents about river banks, and one about a bank loan in a folder of its own."""
    from tasksift.cli import main

    root = tmp_path_factory.mktemp("crowded")
    corpus = root / "corpus"
    (corpus / "rivers").mkdir(parents=True)
    (corpus / "finance").mkdir()
    for i in range(300):
        (corpus / "rivers" / f"bank-{i:03d}.txt").write_text(
            f"Survey {i}: the river bank eroded by {i % 40 + 2} centimetres during the floods, "
            "as the current undercut the outer bend and the soil collapsed into the water."
        )
    (corpus / "rivers" / "notes.md").write_text("Floods erode a river bank on the outer bend.")
    (corpus / "finance" / "bank-loan.md").write_text(
        "The bank approved the small business loan after reviewing two years of accounts."
    )
    with pytest.raises(SystemExit) as exited:
        main(["index", str(corpus), "-i", str(root / "index"), "-q"])
    assert exited.value.code == 0
    return root / "index"


def _ids(result) -> list[str]:
    assert result.code == 0, result.stderr
    return [hit["doc_id"] for hit in result.jsonl()]


def test_unfiltered_search_crowds_the_small_subset_out(
    crowded_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hits = _ids(invoke(capsys, "search", QUERY, "-i", crowded_index, "-k", "50", "-f", "jsonl"))
    assert "finance/bank-loan.md" not in hits


@pytest.mark.parametrize("exact_limit", [50_000, 0], ids=["exact-subset", "graph-filter"])
def test_path_filter_finds_the_small_subset(
    crowded_index: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    exact_limit: int,
) -> None:
    import tasksift.search.searcher

    monkeypatch.setattr(tasksift.search.searcher, "EXACT_FILTER_LIMIT", exact_limit)
    result = invoke(
        capsys, "search", QUERY, "-i", crowded_index, "-k", "3", "--path", "finance/*",
        "-f", "jsonl",
    )  # fmt: skip
    assert _ids(result) == ["finance/bank-loan.md"]


def test_type_filter_and_repeated_globs(
    crowded_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = invoke(capsys, "search", QUERY, "-i", crowded_index, "--type", "md", "-f", "jsonl")
    assert set(_ids(markdown)) == {"rivers/notes.md", "finance/bank-loan.md"}
    both = invoke(
        capsys, "search", QUERY, "-i", crowded_index, "-k", "2", "--path", "finance/*",
        "--path", "rivers/bank-00*", "--chunks", "-f", "jsonl",
    )  # fmt: skip
    assert all(d.startswith(("finance/", "rivers/bank-00")) for d in _ids(both))
    none = invoke(
        capsys, "search", QUERY, "-i", crowded_index, "--path", "nowhere/*", "-f", "jsonl"
    )
    assert none.code == 0 and none.stdout == ""


def test_filtered_results_equal_a_search_of_the_subset_alone(
    crowded_index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasksift.search.searcher

    exact = invoke(capsys, "search", QUERY, "-i", crowded_index, "-k", "5", "--path",
                   "rivers/bank-1*", "-f", "jsonl").jsonl()  # fmt: skip
    monkeypatch.setattr(tasksift.search.searcher, "EXACT_FILTER_LIMIT", 0)
    graph = invoke(capsys, "search", QUERY, "-i", crowded_index, "-k", "5", "--path",
                   "rivers/bank-1*", "-f", "jsonl").jsonl()  # fmt: skip
    assert [h["doc_id"] for h in graph] == [h["doc_id"] for h in exact]
    assert all(h["doc_id"].startswith("rivers/bank-1") for h in exact)
