"""Output: every command's results as rich tables, JSON, JSON Lines, TSV or TREC runs.

``emit`` is the one writer; the other modules build a command's :class:`~emit.Output`
(``hits`` for search and similar, ``metadata`` for info and models, ``reports`` for eval and
the task commands) from pure data. Data goes to stdout; messages go to stderr (see ``cli``).
Nothing here searches or loads.
"""
