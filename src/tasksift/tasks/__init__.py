"""One command per task, each on an index built for that task (see ``guard``).

``similar`` and ``dupes`` serve similarity, ``cluster`` clustering, ``classify``
classification; ``search`` (in ``tasksift.search``) serves retrieval. ``common`` holds what
they share: document vectors from the stored chunk vectors, and encoding given texts with
the index's document-side prompt.
"""
