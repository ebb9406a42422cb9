"""What every `paperchat` command shares: the consoles, the common options, settings from typer's context,
logging, and reading batch input (JSON Lines) safely.

Heavy modules (chromadb, onnxruntime, gradio) are imported inside the commands so that
`paperchat --help` starts fast.
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from paperchat.rag.errors import PaperchatError
from paperchat.rag.settings import Settings, load_settings

out = Console(highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)
log = logging.getLogger("paperchat")

MAX_K = 100


class Mode(enum.StrEnum):
    """How answers are written: by an LLM at an OpenAI-compatible endpoint, or offline from the papers' sentences."""

    llm = "llm"
    extractive = "extractive"


CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Chroma collection name")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
ModeOpt = Annotated[Mode | None, typer.Option("--mode", help="llm or extractive (default: llm when an endpoint "
                                              "is configured, else extractive)", case_sensitive=False)]
KOpt = Annotated[int, typer.Option("--k", min=1, max=MAX_K, help=f"Papers to return (1-{MAX_K})")]


@dataclass
class CliState:
    """What the top-level options say, carried in typer's context to every command."""

    home: Path | None = None
    verbose: int = 0


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def settings_for(ctx: typer.Context, collection: str | None = None) -> Settings:
    """Settings from env/.env with the command line on top; a bad setting is a one-line error."""
    cli = state(ctx)
    update: dict = {}
    if cli.home is not None:
        update["home"] = cli.home
    if collection:
        update["collection"] = collection
    settings = load_settings(**update)
    configure_logging(settings.log_level, cli.verbose)
    return settings


def configure_logging(level: str = "WARNING", verbose: int = 0) -> None:
    """paperchat's own log lines on stderr: -v is INFO, -vv DEBUG, else PAPERCHAT_LOG_LEVEL."""
    chosen = logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else getattr(logging, level)
    if not any(getattr(h, "_paperchat", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handler._paperchat = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(chosen)


def mode_value(mode: Mode | None) -> str | None:
    return mode.value if mode is not None else None


def read_lines(source: str) -> Iterator[tuple[int, str | None]]:
    """(line number, text) of a JSON Lines batch from a file or `-` (stdin). A line that is not UTF-8 comes
    as (n, None) so the caller reports that line; a missing, non-regular or unreadable file is one error."""
    if source == "-":
        stream = sys.stdin.buffer
        yield from _decoded(stream)
        return
    path = Path(source)
    if not path.exists():
        raise PaperchatError(f"{source}: file not found")
    if not path.is_file():
        raise PaperchatError(f"{source}: not a regular file (give a JSON Lines file or - for standard input)")
    try:
        with path.open("rb") as stream:
            yield from _decoded(stream)
    except OSError as exc:
        raise PaperchatError(f"{source}: cannot read the file: {exc.strerror or exc}") from None


def _decoded(stream) -> Iterator[tuple[int, str | None]]:
    for lineno, raw in enumerate(stream, 1):
        try:
            yield lineno, raw.decode("utf-8")
        except UnicodeDecodeError:
            yield lineno, None
