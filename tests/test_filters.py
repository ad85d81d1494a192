"""--path and --type restrict results inside the search, not after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import invoke
from tasksift.options import DocumentFilter

QUERY = "how does a river bank erode during floods"


@pytest.fixture(scope="module")
def crowded_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 documents about river banks, and one about a bank loan in a folder of its own."""
    from tasksift.cli.main import main

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


def _dense_documents(index_dir: Path, where: DocumentFilter, exact: bool, k: int) -> list[str]:
    """The top ``k`` documents of a filtered dense search, exactly or through the graph's
    filter (hnswlib's, inside the graph search), for a batch of copies of the query."""
    from tasksift.index.reader import load_index
    from tasksift.onnx.embedder import open_index_embedder
    from tasksift.search.dense import DenseRetriever
    from tasksift.search.retriever import RowSubset

    index = load_index(index_dir)
    embedder, _ = open_index_embedder(index_dir, index.manifest)
    subset = RowSubset.of(index, where)
    found = DenseRetriever(index, embedder, exact).query([QUERY] * 12, subset)
    ids = [[str(index.documents.ids[index.documents.codes[r]]) for r in q.top_documents(k).rows]
           for q in found]  # fmt: skip
    assert all(mine == ids[0] for mine in ids)  # the copies agree, whatever the batch
    return ids[0]


def test_unfiltered_search_crowds_the_small_subset_out(
    crowded_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hits = _ids(invoke(capsys, "search", QUERY, "-i", crowded_index, "-k", "50", "-f", "jsonl"))
    assert len(hits) == 50 and "finance/bank-loan.md" not in hits


def test_path_filter_finds_the_small_subset(
    crowded_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = invoke(
        capsys, "search", QUERY, "-i", crowded_index, "-k", "3", "--path", "finance/*",
        "-f", "jsonl",
    )  # fmt: skip
    assert _ids(result) == ["finance/bank-loan.md"]


@pytest.mark.parametrize("exact", [True, False], ids=["exact-subset", "graph-filter"])
def test_the_dense_side_finds_the_small_subset_either_way(crowded_index: Path, exact: bool) -> None:
    where = DocumentFilter(paths=("finance/*",))
    assert _dense_documents(crowded_index, where, exact, 3) == ["finance/bank-loan.md"]


def test_type_filter_and_repeated_globs(
    crowded_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = invoke(capsys, "search", QUERY, "-i", crowded_index, "--type", "md", "-f", "jsonl")
    assert set(_ids(markdown)) == {"rivers/notes.md", "finance/bank-loan.md"}
    both = invoke(
        capsys, "search", QUERY, "-i", crowded_index, "-k", "2", "--path", "finance/*",
        "--path", "rivers/bank-00*", "--chunks", "-f", "jsonl",
    )  # fmt: skip
    found = _ids(both)
    assert len(found) == 2 and all(d.startswith(("finance/", "rivers/bank-00")) for d in found)
    none = invoke(
        capsys, "search", QUERY, "-i", crowded_index, "--path", "nowhere/*", "-f", "jsonl"
    )
    assert none.code == 0 and none.stdout == ""


def test_filtered_results_equal_a_search_of_the_subset_alone(crowded_index: Path) -> None:
    where = DocumentFilter(paths=("rivers/bank-1*",))
    exact = _dense_documents(crowded_index, where, True, 5)
    graph = _dense_documents(crowded_index, where, False, 5)
    assert graph == exact
    assert len(exact) == 5 and all(d.startswith("rivers/bank-1") for d in exact)
