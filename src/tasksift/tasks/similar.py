"""``tasksift similar``: the documents nearest to a document of the index, or to a text.

A document is represented by its document vector (the normalized mean of its chunks'
stored vectors: no model is needed); a text is encoded with the index's document prompt,
so that both sides of the comparison were made alike. The nearest chunks come from the
graph (filtered inside it when asked), each document ranked by its best chunk, the source
document left out.
"""

from __future__ import annotations

import numpy as np

from tasksift.errors import InputError
from tasksift.index.reader import LoadedIndex
from tasksift.options import DocumentFilter
from tasksift.search.dense import DenseRetriever
from tasksift.search.hits import Hit, hits_of, rank_hits
from tasksift.search.retriever import RowSubset


def document_vector(index: LoadedIndex, doc_id: str) -> np.ndarray:
    """The normalized mean of ``doc_id``'s chunk vectors; InputError when it is not indexed."""
    groups = index.documents
    position = int(np.searchsorted(groups.ids, doc_id))
    if position >= len(groups.ids) or groups.ids[position] != doc_id:
        raise InputError(
            f"{doc_id!r} is not a document of this index; give its path relative to the "
            "corpus root, as `tasksift search` shows it"
        )
    vectors = index.vectors.of(index.labels[groups.rows_of(position)])
    mean = vectors.mean(axis=0)
    return mean / max(float(np.linalg.norm(mean)), 1e-12)


def similar_documents(
    index: LoadedIndex,
    vector: np.ndarray,
    k: int,
    exclude: str | None = None,
    where: DocumentFilter | None = None,
) -> list[Hit]:
    """The ``k`` documents nearest to ``vector``, each as its best chunk, without ``exclude``."""
    subset = RowSubset.of(index, where) if where else None
    wanted = k + (1 if exclude is not None else 0)
    (query,) = DenseRetriever(index, None).for_vectors(vector, subset)
    found = hits_of(index, query.top_documents(wanted))
    return rank_hits([h for h in found if h.doc_id != exclude], k)
