"""The app: every command group registered on it, and ``main``, where errors end."""

from __future__ import annotations

import inspect
import sys
from functools import cache
from typing import Annotated

import typer
from rich.markup import escape
from typer.core import TyperGroup, TyperOption

from tasksift import __version__
from tasksift.cli import adapting, evaluation, indexing, inspection, searching, serving, tasks
from tasksift.cli.console import print_error, stderr
from tasksift.errors import ExitCode, NoHitsError, PartialError, TasksiftError

COMMAND_GROUPS = (
    indexing,
    searching,
    evaluation,
    inspection,
    tasks,
    serving,
    adapting,
)  # in help's order


def _flags_show_no_type(option: TyperOption, ctx: typer.Context) -> str | None:
    """Help shows a type beside options that take a value, not beside flags (typer's rich
    help would show ``<bool>`` after ``--rerank``, ``--help`` and the like)."""
    return None if option.is_flag else _option_type(option, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flags_show_no_type  # type: ignore[method-assign]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tasksift {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Task-aware semantic search over local documents."""


def _reflowed(doc: str) -> str:
    """A docstring as help: each paragraph on one line, so that help reflows at any width
    (typer keeps a docstring's single line breaks in later paragraphs)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(doc).split("\n\n"))


def build_app() -> typer.Typer:
    """The ``tasksift`` app with every command group's commands."""
    app = typer.Typer(
        name="tasksift",
        help="Task-aware semantic search over local documents.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode="rich",
    )
    app.callback()(_root)
    for group in COMMAND_GROUPS:
        group.register(app)
    for command in app.registered_commands:
        if command.help is None and command.callback is not None and command.callback.__doc__:
            command.help = _reflowed(command.callback.__doc__)
    return app


app = build_app()


@cache
def command() -> TyperGroup:
    """The app as a click command, built once: a service runs it for every forwarded search
    (typer would build it again from the functions' signatures on each call, ~60 ms)."""
    return typer.main.get_command(app)  # type: ignore[return-value]


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; the one place where errors become messages and exit codes. The
    context's ``obj`` is this function, so that ``serve`` runs forwarded command lines
    exactly as here."""
    try:
        result = command().main(args=argv, prog_name="tasksift", standalone_mode=False, obj=run)
        code = result if isinstance(result, int) else ExitCode.OK
    except PartialError as exc:
        stderr().print(f"[yellow]warning:[/] {escape(str(exc))}", soft_wrap=True)
        code = exc.exit_code
    except NoHitsError as exc:  # a normal outcome: a note, not an error
        stderr().print(f"note: {escape(str(exc))}", soft_wrap=True)
        code = exc.exit_code
    except TasksiftError as exc:
        print_error(str(exc))
        code = exc.exit_code
    except typer.TyperException as exc:  # typer's own click: usage errors and the like
        message = exc.format_message().replace("Value error, ", "")
        ctx = getattr(exc, "ctx", None)
        if message:  # empty when typer has already shown the help
            print_error(message + (f" (see `{ctx.command_path} --help`)" if ctx else ""))
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        stderr().print("interrupted")
        code = ExitCode.INTERRUPTED
    except BrokenPipeError:
        code = ExitCode.OK
    return int(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its code."""
    sys.exit(run(argv))
