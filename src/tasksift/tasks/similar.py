"""``tasksift similar``: the documents nearest to a document of the index, or to a text.

A document is represented by its document vector (the normalized mean of its chunks'
stored vectors: no model is needed); a text is encoded with the index's document prompt,
so that both sides of the comparison were made alike. The nearest chunks come from the
graph (filtered inside it when asked), each document ranked by its best chunk, the source
document left out.
"""

from __future__ import annotations

import contextlib

import numpy as np

from tasksift.errors import InputError
from tasksift.index.reader import LoadedIndex
from tasksift.options import DocumentFilter
from tasksift.search.dense import (
    EXACT_FILTER_LIMIT,
    AllowedLabels,
    exact_search,
    top_documents,
)
from tasksift.search.hits import Hit, rank_hits


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
    allowed = AllowedLabels.of(index, where) if where else None
    wanted = k + (1 if exclude is not None else 0)
    subset = None if allowed is None else allowed.labels
    found = None
    if subset is None or len(subset) > EXACT_FILTER_LIMIT:  # a small subset: exactly
        with contextlib.suppress(RuntimeError):  # too few neighbours reachable: exactly
            found = top_documents(index, vector[None, :], wanted, allowed)[0]
    if found is None:
        found = exact_search(index, vector[None, :], wanted, subset)[0]
    return rank_hits([h for h in found if h.doc_id != exclude], k)
