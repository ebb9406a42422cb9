"""The `paperchat` command: this module builds the app and registers every command; the commands live in
`library_commands` (ingest, papers, search, collections), `answer_commands` (ask, chat, serve) and
`eval_commands` (eval and its subcommands). They get the top-level options from typer's context.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from paperchat.rag.errors import PaperchatError
from paperchat.ui import answer_commands, collection_commands, eval_commands, library_commands
from paperchat.ui.common import CliState, err


def _version(value: bool) -> None:
    if value:
        import paperchat

        print(f"paperchat {paperchat.__version__}")
        raise typer.Exit()


def main_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option("--home", help="Data directory (default ./.paperchat, or "
                                              "PAPERCHAT_HOME)")] = None,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="Log what happens on stderr "
                                         "(-v: info, -vv: debug; or PAPERCHAT_LOG_LEVEL)")] = 0,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit")] = False,
) -> None:
    """Ask questions of a collection of research papers. Answers cite the papers by title."""
    ctx.obj = CliState(home=home, verbose=verbose)


def build_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                      callback=main_options)
    app.command("ingest")(library_commands.ingest)
    app.command("papers")(library_commands.papers)
    app.command("search")(library_commands.search)
    app.command("ask")(answer_commands.ask)
    app.command("chat")(answer_commands.chat)
    app.command("serve")(answer_commands.serve)
    app.add_typer(collection_commands.app, name="collections")
    app.add_typer(eval_commands.eval_app, name="eval")
    return app


app = build_app()


def main() -> None:
    """Entry point: PaperchatError becomes one line on stderr and exit status 1."""
    try:
        app()
    except PaperchatError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)


if __name__ == "__main__":
    main()
