"""``tasksift dupes``: groups of near-duplicate documents, or of repeated passages.

Candidates come from the graph, not from all pairs: every chunk asks the chunk graph for
its nearest chunks, and the documents those belong to become candidate pairs, kept when the
cosine of the two document vectors (the normalized mean of their chunks) reaches the
threshold. Kept pairs are joined into groups (union-find); each group lists its
members, their pairwise similarities and a representative (the member most similar to the
others). With ``chunks=True`` the same is done for chunks of different documents. Work and
memory grow with the number of documents times the neighbours asked for, not with its
square.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tasksift.index.reader import LoadedIndex
from tasksift.search.dense import DenseRetriever
from tasksift.tasks.common import DocumentVectors

DEFAULT_THRESHOLD = 0.9
NEIGHBOURS = 10  # nearest chunks asked for per document (or chunk)
BATCH = 4096  # queries per graph call, so that memory stays bounded


@dataclass(frozen=True)
class Member:
    item: str  # doc id, or "doc id#chunk" with chunks=True
    similarity: float  # to the group's representative (1.0 for the representative)


@dataclass(frozen=True)
class Group:
    number: int
    representative: str
    members: tuple[Member, ...]  # representative first, then by similarity
    pairs: tuple[tuple[str, str, float], ...]  # every pair of members, with its cosine


def duplicate_groups(
    index: LoadedIndex, threshold: float = DEFAULT_THRESHOLD, chunks: bool = False
) -> list[Group]:
    """Groups of near-duplicates, largest first, then by their best similarity."""
    if chunks:
        names, vectors = _chunk_items(index)
    else:
        documents = DocumentVectors.of(index)
        names, vectors = [str(d) for d in documents.ids], documents.matrix
    pairs = _candidate_pairs(index, chunks)
    pairs = {(i, j) for i, j in pairs if float(vectors[i] @ vectors[j]) >= threshold}
    groups = _union(len(names), pairs)
    found = [_group(names, vectors, members) for members in groups if len(members) > 1]
    found.sort(key=lambda g: (-len(g.members), -max(p[2] for p in g.pairs), g.representative))
    return [Group(n, g.representative, g.members, g.pairs) for n, g in enumerate(found, 1)]


def _chunk_items(index: LoadedIndex) -> tuple[list[str], np.ndarray]:
    """Names ("doc#ordinal") and vectors of every chunk, in row order."""
    ids = index.column("doc_id").to_pylist()
    ordinals = index.column("ordinal").to_pylist()
    names = [f"{d}#{o}" for d, o in zip(ids, ordinals, strict=True)]
    return names, index.vectors.of(index.labels)


def _candidate_pairs(index: LoadedIndex, chunks: bool) -> set[tuple[int, int]]:
    """Pairs (i < j) of chunks (rows) of different documents, or of documents, that are
    among each other's nearest chunks in the graph."""
    count = min(NEIGHBOURS, index.manifest.chunks)
    labels, codes = index.labels, index.documents.codes
    pairs: set[tuple[int, int]] = set()
    index.graph.set_ef(max(4 * count, 32))  # near-duplicates are easy to find: a small ef
    for begin in range(0, len(labels), BATCH):
        queries = index.vectors.of(labels[begin : begin + BATCH])
        try:
            found, _ = index.graph.knn_query(queries, k=count)
        except RuntimeError:  # too few neighbours reachable (deleted elements): exactly
            exactly = DenseRetriever(index, None, exact=True).for_vectors(queries, None)
            found = index.labels[np.stack([q.top_rows(count).rows for q in exactly])]
        rows = np.searchsorted(labels, found)  # neighbour rows, one line per query row
        mine = np.arange(begin, begin + len(queries))[:, None]
        other = codes[rows] != codes[mine]  # neighbours in another document
        first, second = np.broadcast_to(mine, rows.shape)[other], rows[other]
        if not chunks:
            first, second = codes[first], codes[second]
        low, high = np.minimum(first, second).tolist(), np.maximum(first, second).tolist()
        pairs.update(zip(low, high, strict=True))
    return pairs


def _union(count: int, pairs: set[tuple[int, int]]) -> list[list[int]]:
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in sorted({i for pair in pairs for i in pair}):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _group(names: list[str], vectors: np.ndarray, members: list[int]) -> Group:
    similarity = vectors[members] @ vectors[members].T
    central = int(np.argmax(similarity.sum(axis=1)))
    order = sorted(range(len(members)), key=lambda m: (m != central, -similarity[central, m]))
    listed = tuple(Member(names[members[m]], float(similarity[central, m])) for m in order)
    pairs = tuple(
        (names[members[a]], names[members[b]], float(similarity[a, b]))
        for a in range(len(members))
        for b in range(a + 1, len(members))
    )
    return Group(0, names[members[central]], listed, pairs)
