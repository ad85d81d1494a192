"""The library side of ``tasksift cluster``: clusters, their labels and central documents,
on the sample corpus (six topic folders) indexed once through the real CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tasksift.errors import InputError
from tasksift.index.reader import LoadedIndex, load_index
from tasksift.tasks.cluster import Clustering, cluster_documents
from tasksift.tasks.common import DocumentVectors


@pytest.fixture(scope="module")
def loaded(sample_index: Path) -> LoadedIndex:
    return load_index(sample_index, lexical=True)


@pytest.fixture(scope="module")
def six(loaded: LoadedIndex) -> Clustering:
    return cluster_documents(loaded, n=6, seed=0)


def _folder(doc_id: str) -> str:
    return doc_id.split("/", 1)[0]


def test_six_clusters_agree_with_the_folders(loaded: LoadedIndex, six: Clustering) -> None:
    from sklearn.metrics import adjusted_rand_score

    ids = list(loaded.documents.ids)
    assert sorted(six.assignments) == ids
    truth = [_folder(i) for i in ids]
    found = [six.assignments[i] for i in ids]
    assert adjusted_rand_score(truth, found) >= 0.7  # measured 0.85 (seed 0)
    assert [c.number for c in six.clusters] == list(range(6))
    sizes = [c.size for c in six.clusters]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == len(ids)
    assert six.method == "kmeans" and six.seed == 0


def test_same_seed_same_clustering(loaded: LoadedIndex, six: Clustering) -> None:
    again = cluster_documents(loaded, n=6, seed=0)
    assert again == six
    no_lexical = load_index(loaded.path)  # labels from the manifest's analyzer record
    assert cluster_documents(no_lexical, n=6, seed=0) == six


def test_labels_are_words_of_their_cluster(loaded: LoadedIndex, six: Clustering) -> None:
    texts: dict[int, list[str]] = {}
    for doc_id, text in zip(
        loaded.column("doc_id").to_pylist(),
        loaded.column("text").to_pylist(),
        strict=True,
    ):
        texts.setdefault(six.assignments[doc_id], []).append(text.lower())
    for cluster in six.clusters:
        assert cluster.label == ", ".join(cluster.terms[:3])
        assert len(cluster.terms) >= 3
        words = set(re.findall(r"[^\W_]+", " ".join(texts[cluster.number])))
        for term in cluster.terms:
            assert any(ch.isalpha() for ch in term) and len(term) > 1, term
            assert term in words, (term, cluster.number)
    labels = " ".join(c.label for c in six.clusters)
    assert "loan" in labels and "river" in labels  # two of the folders' topics, as words


def test_central_documents_belong_to_their_cluster(loaded: LoadedIndex, six: Clustering) -> None:
    vectors = DocumentVectors.of(loaded)
    row = {doc_id: i for i, doc_id in enumerate(vectors.ids)}
    for cluster in six.clusters:
        assert 1 <= len(cluster.central) <= min(5, cluster.size)
        assert all(six.assignments[d] == cluster.number for d in cluster.central)
        members = [d for d, c in six.assignments.items() if c == cluster.number]
        centroid = vectors.matrix[[row[d] for d in members]].mean(axis=0)
        similarity = vectors.matrix[[row[d] for d in cluster.central]] @ centroid
        assert np.all(np.diff(similarity) <= 1e-6)  # closest first
        others = vectors.matrix[[row[d] for d in members if d not in cluster.central]]
        assert (others @ centroid <= similarity[-1] + 1e-6).all()


def test_auto_chooses_a_plausible_number(loaded: LoadedIndex) -> None:
    auto = cluster_documents(loaded, auto=True, seed=0)
    assert 3 <= len(auto.clusters) <= 12
    assert auto.method == "kmeans+silhouette"
    chosen = max(auto.scores, key=lambda k: (auto.scores[k], -k))
    assert len(auto.clusters) == chosen
    assert set(auto.assignments.values()) == set(range(chosen))  # every document placed
    assert cluster_documents(loaded, auto=True, seed=0) == auto
    assert cluster_documents(loaded, n=chosen, seed=0).assignments == auto.assignments


@pytest.mark.parametrize(
    ("n", "auto"), [(0, False), (1, False), (-3, False), (10_000, False), (None, False), (6, True)]
)
def test_bad_requests_are_input_errors(loaded: LoadedIndex, n: int | None, auto: bool) -> None:
    with pytest.raises(InputError) as raised:
        cluster_documents(loaded, n=n, auto=auto)
    assert "\n" not in str(raised.value)
    count = len(loaded.documents.ids)
    if n == 10_000:
        assert str(count) in str(raised.value)


def test_as_many_clusters_as_documents(loaded: LoadedIndex) -> None:
    count = len(loaded.documents.ids)
    each = cluster_documents(loaded, n=count, seed=0)
    assert len(each.clusters) == count and {c.size for c in each.clusters} == {1}
    assert all(c.central == (d,) for d, n in each.assignments.items() for c in [each.clusters[n]])
