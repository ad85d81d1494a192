"""Errors a user can hit, each with its exit code.

The library raises these; only ``cli.main`` turns them into a message on stderr and an
exit status. The table of exit codes lives here and in the README, nowhere else.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit statuses of the ``tasksift`` command."""

    OK = 0
    ERROR = 1  # bad input: missing or empty corpus, unreadable file, ...
    USAGE = 2  # bad flag or value (click's own usage errors)
    MISMATCH = 3  # task, model or prompts differ from the index's
    INDEX_NOT_FOUND = 4
    INDEX_CORRUPT = 5  # unreadable, incompatible or inconsistent index
    MODEL_UNAVAILABLE = 6  # embedding model or reranker cannot be loaded
    INDEX_LOCKED = 7  # another `tasksift index` is writing this index
    PARTIAL = 8  # the run finished, but some inputs were skipped
    READER_FAILED = 9  # --strict: a reader failed on a file (error, time limit, crash)
    INTERRUPTED = 130


class TasksiftError(Exception):
    """Base class: a one-line message for the user and an exit code."""

    exit_code: ExitCode = ExitCode.ERROR


class InputError(TasksiftError):
    """The corpus, a query or a file given on the command line is unusable."""


class NoDocumentsError(InputError):
    """The corpus holds no document that can be indexed."""


class UsageError(InputError):
    """An option value tasksift does not accept, found past the command-line parser."""

    exit_code = ExitCode.USAGE


class UnknownTaskError(UsageError):
    """A task name that tasksift does not know."""


class MismatchError(TasksiftError):
    """A search or update asks for a task, model or prompt the index was not built with."""

    exit_code = ExitCode.MISMATCH


class IndexNotFoundError(TasksiftError):
    exit_code = ExitCode.INDEX_NOT_FOUND


class CorruptIndexError(TasksiftError):
    exit_code = ExitCode.INDEX_CORRUPT


class ModelLoadError(TasksiftError):
    exit_code = ExitCode.MODEL_UNAVAILABLE


class IndexLockedError(TasksiftError):
    exit_code = ExitCode.INDEX_LOCKED


class IndexWriteError(TasksiftError):
    """Writing the index failed (disk full, permission denied); the old index is intact."""


class ReaderFailedError(TasksiftError):
    """``--strict``: a reader raised, ran out of time or crashed on a file."""

    exit_code = ExitCode.READER_FAILED


class PartialError(TasksiftError):
    """The run finished, but some inputs were skipped (each already reported)."""

    exit_code = ExitCode.PARTIAL


def first_line(exc: BaseException) -> str:
    """An exception's message as one line for the user: its first line, else its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
