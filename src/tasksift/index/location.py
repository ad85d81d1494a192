"""Where an index is: ``--index``, the nearest ``.tasksift`` folder, or $TASKSIFT_INDEX.

Standard library only, so that a search through a running service (``serve.client``)
finds its index without importing numpy or pyarrow.
"""

from __future__ import annotations

import os
from pathlib import Path

from tasksift.errors import IndexNotFoundError

CURRENT_FILE = "CURRENT"
DEFAULT_INDEX_DIRNAME = ".tasksift"
INDEX_ENV_VAR = "TASKSIFT_INDEX"


def find_index(explicit: Path | None, start: Path | None = None) -> Path:
    """``--index``, else the nearest ``.tasksift`` from ``start`` upward, else $TASKSIFT_INDEX."""
    if explicit is not None:
        return explicit
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_INDEX_DIRNAME
        if (candidate / CURRENT_FILE).is_file():
            return candidate
    from_env = os.environ.get(INDEX_ENV_VAR)
    if from_env:
        return Path(from_env)
    raise IndexNotFoundError(
        f"no index given and none found: no {DEFAULT_INDEX_DIRNAME}/ in {here} or above, and "
        f"${INDEX_ENV_VAR} is not set; build one with `tasksift index DIR` or pass --index"
    )
