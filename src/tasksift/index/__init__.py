"""The index on disk: an hnswlib graph, a sidecar of chunk rows in parts, a lexical side,
and the manifest that records how they were made.

On disk an index is a folder::

    INDEX/
      CURRENT                 name of the live generation (replaced atomically)
      gen-<time_ns>/
        manifest.json         the manifest: model, task, prompts, ..., and the parts
        vectors.hnsw          hnswlib index, cosine space (complete generations)
        parts/                the sidecar: one row per chunk, in immutable parts (``sidecar``)
          <part>.parquet      every column; schema metadata b"tasksift" = manifest JSON
          <part>.arrow        the columns a search shows, memory-mapped
          <part>.vectors.npy  the part's vectors, in a checkpoint (no graph yet)
        lexical/              BM25 index of the same chunks (see ``lexical``)
      .pending-<pid>/         parts of a running write, not yet committed
      .lock                   held while `tasksift index` writes

A write builds a new generation beside the live one and then swaps ``CURRENT``; a reader
that follows ``CURRENT`` sees either the old complete state or the new one, never a mix.
Parts that did not change are hard-linked from the previous generation, so that a commit
writes what it adds. Format 1 generations have one ``chunks.parquet`` instead of parts.

Modules: ``manifest`` (the typed records), ``generations`` (find an index, write a
generation and swap ``CURRENT``, clean up), ``hnsw_file`` (the graph file: building,
loading, its header check, vectors read through a memory map), ``sidecar`` (parts, their
schema, reading columns and rows), ``rows`` (rows grouped by document), ``reader``
(``LoadedIndex``: a generation opened and checked).
"""
