"""Clustering: group an index's documents by their vectors and label each group.

Documents are the task commands' document vectors (``common.DocumentVectors``: the
normalized mean of each document's stored chunk vectors), clustered with scikit-learn's
KMeans. Each cluster is labelled by c-TF-IDF (class-based TF-IDF, as in BERTopic) over the
analyzer's terms of its documents' chunk texts, each term shown as the word it most often
was in that cluster ("approval", not the stem "approv"). scikit-learn is imported only when
clustering runs.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tasksift.errors import InputError

if TYPE_CHECKING:
    import numpy as np

    from tasksift.index.reader import LoadedIndex
    from tasksift.lexical.analyzer import Analyzer

N_INIT = 10  # KMeans restarts for the clustering returned
SCAN_N_INIT = 3  # restarts per k while choosing k (``auto``)
MAX_AUTO_K = 20
SILHOUETTE_SAMPLE = 3000  # documents the silhouette is computed on, at most
LABEL_TERMS = 3
TERMS = 10
CENTRAL = 5


@dataclass(frozen=True)
class Cluster:
    """One cluster: ``number`` 0 is the largest."""

    number: int
    size: int
    label: str  # its first LABEL_TERMS terms, e.g. "loan, credit, bank"
    terms: tuple[str, ...]  # most distinctive first, as readable words
    central: tuple[str, ...]  # doc ids closest to the centroid, closest first


@dataclass(frozen=True)
class Clustering:
    """Every document's cluster, and the clusters, largest first."""

    assignments: dict[str, int]  # doc id -> cluster number (-1 would be noise; KMeans has none)
    clusters: list[Cluster]
    method: str  # "kmeans" (n given) or "kmeans+silhouette" (auto)
    seed: int
    scores: dict[int, float] = field(default_factory=dict)  # auto: silhouette of each k tried


def cluster_documents(
    index: LoadedIndex, n: int | None = None, auto: bool = False, seed: int = 0
) -> Clustering:
    """Cluster the documents of ``index`` into ``n`` clusters, or into a number chosen
    (``auto``) by the silhouette; deterministic for a ``seed``.

    ``auto`` runs KMeans for every k from 2 to min(20, sqrt(documents)), keeps the k of the
    highest mean silhouette (cosine; on a fixed sample of 3,000 documents past that size)
    and clusters with it as ``n=k`` would. Measured against HDBSCAN: on the sample corpus
    (62 documents, six topic folders) it picks 5, adjusted Rand index 0.79 with the folders;
    HDBSCAN (min_cluster_size 5) finds 4-5 clusters and calls 7-14 documents noise
    (0.51-0.72). On the Python FAQ (170 answers, 8 pages) HDBSCAN calls 27-100 % of the
    documents noise, 0-4 clusters, for min_cluster_size 3 to 10: in 384 dimensions densities
    flatten out (BERTopic reduces them with UMAP first, not a tasksift dependency). The bound
    sqrt(n) avoids the silhouette's bias toward tiny clusters on small corpora (on the sample
    corpus it rises again past k = 17, three documents a cluster); 20 bounds the cost and
    the labels to read. On a corpus without strong groups the silhouette picks few clusters
    (SciFact, one field of science: 2); give ``n`` there.
    """
    import numpy as np

    from tasksift.tasks.common import DocumentVectors

    _check_request(n, auto, len(index.documents.ids))
    vectors = DocumentVectors.of(index)
    scores = silhouette_scores(vectors.matrix, seed) if auto else {}
    k = max(scores, key=lambda key: (scores[key], -key)) if auto else int(n or 0)
    labels = _by_size(_kmeans(vectors.matrix, k, seed, N_INIT))
    terms = cluster_terms(index, labels, _analyzer(index))
    clusters = [
        Cluster(
            number=c,
            size=int(np.count_nonzero(labels == c)),
            label=", ".join(terms[c][:LABEL_TERMS]),
            terms=terms[c],
            central=_central(vectors.ids, vectors.matrix, labels, c),
        )
        for c in range(len(terms))
    ]
    assignments = dict(zip(vectors.ids.tolist(), labels.tolist(), strict=True))
    method = "kmeans+silhouette" if auto else "kmeans"
    return Clustering(assignments, clusters, method, seed, scores)


def _check_request(n: int | None, auto: bool, documents: int) -> None:
    """InputError (one line) unless exactly one of ``n`` and ``auto`` is usable here."""
    if auto and n is not None:
        raise InputError("give a number of clusters or ask for auto, not both")
    if auto:
        if _auto_range(documents).stop <= 2:
            raise InputError(
                f"the index holds {documents} documents, too few to choose a number of "
                "clusters; give one"
            )
        return
    if n is None:
        raise InputError("give a number of clusters or ask for auto")
    if n < 2 or n > documents:
        raise InputError(
            f"the number of clusters must be from 2 to the number of documents ({documents}), "
            f"not {n}"
        )


def _auto_range(documents: int) -> range:
    """The k that ``auto`` tries: 2 .. min(MAX_AUTO_K, sqrt(documents), documents - 1)."""
    return range(2, min(MAX_AUTO_K, math.isqrt(documents), documents - 1) + 1)


def silhouette_scores(matrix: np.ndarray, seed: int) -> dict[int, float]:
    """Mean silhouette (cosine) of KMeans with each k of the ``auto`` range."""
    from sklearn.metrics import silhouette_score

    sample = SILHOUETTE_SAMPLE if len(matrix) > SILHOUETTE_SAMPLE else None
    scores: dict[int, float] = {}
    for k in _auto_range(len(matrix)):
        labels = _kmeans(matrix, k, seed, SCAN_N_INIT)
        if len(set(labels.tolist())) < 2:  # duplicates collapsed every cluster into one
            scores[k] = -1.0
            continue
        score = silhouette_score(
            matrix, labels, metric="cosine", sample_size=sample, random_state=seed
        )
        scores[k] = round(float(score), 6)
    return scores


def _kmeans(matrix: np.ndarray, k: int, seed: int, n_init: int) -> np.ndarray:
    """KMeans labels; on unit vectors its Euclidean distance ranks as cosine does."""
    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():  # fewer distinct points than k: some clusters stay empty
        warnings.simplefilter("ignore", ConvergenceWarning)
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(matrix)


def _by_size(raw: np.ndarray) -> np.ndarray:
    """Labels renumbered 0 = largest (ties: the one holding the first document), gaps closed."""
    import numpy as np

    present = np.unique(raw)
    first = {int(c): int(np.flatnonzero(raw == c)[0]) for c in present}
    sizes = np.bincount(raw)
    order = sorted(first, key=lambda c: (-int(sizes[c]), first[c]))
    mapping = np.full(int(raw.max()) + 1, -1, dtype=np.int64)
    mapping[order] = np.arange(len(order))
    return mapping[raw]


def _central(ids: np.ndarray, matrix: np.ndarray, labels: np.ndarray, c: int) -> tuple[str, ...]:
    """Doc ids of cluster ``c`` most similar (cosine) to its centroid, closest first."""
    import numpy as np

    members = np.flatnonzero(labels == c)
    similarity = matrix[members] @ matrix[members].mean(axis=0)
    closest = members[np.argsort(-similarity, kind="stable")[:CENTRAL]]
    return tuple(str(i) for i in ids[closest])


def _analyzer(index: LoadedIndex) -> Analyzer:
    """The index's analyzer (its lexical side, else its manifest's record), else the default."""
    from tasksift.lexical.analyzer import Analyzer

    if index.lexical is not None:
        return index.lexical.analyzer
    record = index.manifest.lexical
    return record.analyzer if record else Analyzer()


def cluster_terms(
    index: LoadedIndex, labels: np.ndarray, analyzer: Analyzer
) -> list[tuple[str, ...]]:
    """Each cluster's most distinctive terms by c-TF-IDF, as readable words.

    ``labels`` holds each document's cluster (in ``index.documents.ids`` order). A term's
    weight in cluster c is sqrt(tf(t, c)) * log(1 + A / f(t)): tf its count among the terms
    of c's chunk texts, A the mean number of terms per cluster, f(t) its count in all
    clusters. The square root is BERTopic's ``reduce_frequent_words``: with raw counts, words
    common everywhere ("about", "you", "can") made the labels of the sample corpus and of the
    Python FAQ; with it they make way for "flour", "cholesterol", "tuple". Terms without a
    letter, or of one character, make no label.
    """
    row_cluster = labels[index.documents.codes].tolist()
    words: list[Counter[str]] = [Counter() for _ in range(int(labels.max()) + 1)]
    for text, c in zip(index.column("text").to_pylist(), row_cluster, strict=True):
        words[c].update(analyzer.words(text))
    counts, surfaces = _term_counts(words, analyzer)
    total: Counter[str] = Counter()
    for counted in counts:
        total.update(counted)
    mean_terms = sum(total.values()) / max(len(counts), 1)
    return [
        _top_terms(counted, surface, total, mean_terms)
        for counted, surface in zip(counts, surfaces, strict=True)
    ]


def _term_counts(
    words: Iterable[Counter[str]], analyzer: Analyzer
) -> tuple[list[Counter[str]], list[dict[str, Counter[str]]]]:
    """Per cluster, term counts and, per term, the counts of the words that became it."""
    terms_of: dict[str, list[str]] = {}
    counts: list[Counter[str]] = []
    surfaces: list[dict[str, Counter[str]]] = []
    for counter in words:
        counted: Counter[str] = Counter()
        surface: dict[str, Counter[str]] = {}
        for word, count in counter.items():
            terms = terms_of.get(word)
            if terms is None:
                terms = terms_of[word] = analyzer.terms(word)
            for term in terms:  # a stopword has none; a CJK run has bigrams
                counted[term] += count
                shown = word if len(terms) == 1 else term
                surface.setdefault(term, Counter())[shown] += count
        counts.append(counted)
        surfaces.append(surface)
    return counts, surfaces


def _top_terms(
    counted: Counter[str], surface: dict[str, Counter[str]], total: Counter[str], mean: float
) -> tuple[str, ...]:
    """The TERMS terms of highest c-TF-IDF, each as its most frequent word (ties: first A-Z)."""
    weight = {t: math.sqrt(n) * math.log(1 + mean / total[t]) for t, n in counted.items()}
    shown: list[str] = []
    for term in sorted(weight, key=lambda t: (-weight[t], t)):
        word = min(surface[term].items(), key=lambda item: (-item[1], item[0]))[0]
        if len(word) > 1 and any(ch.isalpha() for ch in word) and word not in shown:
            shown.append(word)
            if len(shown) == TERMS:
                break
    return tuple(shown)
