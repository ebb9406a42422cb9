"""The `paperchat` command: ingest, list, search (and, later, ask, chat, serve, eval).

Heavy modules (chromadb, onnxruntime, gradio) are imported inside the commands so that
`paperchat --help` and `paperchat search` start fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from paperchat.rag.errors import PaperchatError
from paperchat.rag.settings import BUNDLED_PAPERS, Settings

app = typer.Typer(
    help="Ask questions of a collection of research papers. Answers cite the papers by title.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True, soft_wrap=True)

CollectionOpt = Annotated[str | None, typer.Option("--collection", "-c", help="Chroma collection name")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


class State:
    home: Path | None = None


def settings_for(collection: str | None = None) -> Settings:
    """Settings from env/.env, with command-line overrides on top."""
    settings = Settings()
    update = {}
    if State.home is not None:
        update["home"] = State.home
    if collection:
        update["collection"] = collection
    return settings.model_copy(update=update) if update else settings


@app.callback()
def main_options(
    home: Annotated[Path | None, typer.Option("--home", help="Data directory (default ./.paperchat)")] = None,
) -> None:
    State.home = home


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Paper files (default: the bundled papers)")] = None,
    collection: CollectionOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a reader: listing, jsonl, json, csv, "
                                            "beir, arxiv (default: detect)")] = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove papers of these files no longer in them")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed records and count them")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Read paper files, chunk, embed and store them; re-running only embeds what changed."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from paperchat.ingest.pipeline import estimate_papers, ingest_paths

    settings = settings_for(collection)
    files = [p.resolve() for p in (paths or [BUNDLED_PAPERS])]
    total = sum(estimate_papers(p) for p in files)
    columns = [TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=quiet, transient=True) as bar:
        task = bar.add_task("ingest", total=total or None)
        report = ingest_paths(files, settings, fmt=fmt, prune=prune, skip_bad=skip_bad,
                            progress=lambda n: bar.advance(task, n))
    for line in report.skipped[:20]:
        err.print(f"[yellow]skipped[/yellow] {escape(line)}", highlight=False)
    if len(report.skipped) > 20:
        err.print(f"... and {len(report.skipped) - 20} more skipped")
    out.print(report.summary(), highlight=False)


@app.command()
def papers(collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Count and list the papers in the collection."""
    from paperchat.rag.embeddings import embedder_name, make_embedder
    from paperchat.rag.store import PaperStore

    settings = settings_for(collection)
    embedder = make_embedder(settings)
    store = PaperStore(settings, embedder_name(embedder), None, create=False)
    rows = store.papers() if store.exists else []
    if as_json:
        print(json.dumps({"collection": settings.collection, "count": len(rows),
                          "papers": [r.as_dict() for r in rows]}, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} papers in {settings.collection!r}")
    table.add_column("#", justify="right")
    table.add_column("title")
    table.add_column("id", style="dim")
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), r.title, r.paper_id)
    out.print(table)


def _hits_json(hits) -> list[dict]:
    return [{"paper_id": h.paper_id, "title": h.title, "score": h.score} for h in hits]


def _search_batch(retriever, k: int, source) -> None:
    """One output line per input line, in input order; a bad line gets an error object, not a crash."""
    for lineno, line in enumerate(source, 1):
        if not line.strip():
            continue
        item: object = None
        try:
            item = json.loads(line)
            query = item["query"]
            result = {"id": item.get("id", lineno), "results": _hits_json(retriever.search(query, k))}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            query_id = item.get("id", lineno) if isinstance(item, dict) else lineno
            result = {"id": query_id, "error": f"line {lineno}: {exc!s}"}
        print(json.dumps(result, ensure_ascii=False), flush=True)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for")] = None,
    k: Annotated[int, typer.Option("--k", help="Papers to return")] = 10,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
    jsonl: Annotated[str | None, typer.Option("--jsonl", help="Batch: read {id, query} lines from a file "
                                              "or - for stdin, write {id, results} lines")] = None,
) -> None:
    """Hybrid search (dense + BM25, fused): one row per paper, best first."""
    from paperchat.rag.retrieval import Retriever

    if not query and not jsonl:
        raise typer.BadParameter("give a QUERY or --jsonl FILE")
    retriever = Retriever(settings_for(collection))
    if jsonl:
        with (sys.stdin if jsonl == "-" else open(jsonl, encoding="utf-8")) as source:
            _search_batch(retriever, k, source)
        return
    hits = retriever.search(query, k)
    if as_json:
        print(json.dumps({"query": query, "results": _hits_json(hits)}, ensure_ascii=False))
        return
    if not hits:
        out.print("No papers found." if retriever.store.exists else
                  "The collection is empty: run `paperchat ingest` first.")
        return
    from rich.table import Table

    table = Table(title=f"{query}")
    for col in ("#", "score", "title", "id"):
        table.add_column(col)
    for i, h in enumerate(hits, 1):
        table.add_row(str(i), f"{h.score:.4f}", h.title, h.paper_id)
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the "
                                      "network (use --auth then)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 7860,
    collection: CollectionOpt = None,
    share: Annotated[bool, typer.Option("--share", help="Also publish a temporary public *.gradio.live "
                                        "link")] = False,
    auth: Annotated[str | None, typer.Option("--auth", metavar="USER:PASSWORD", help="Require a login "
                                             "(or set PAPERCHAT_AUTH)")] = None,
) -> None:
    """Serve the web UI: a chat with streamed, cited answers, a sources panel and an /ask API."""
    from paperchat.ui.web import serve as run_web

    run_web(settings_for(collection), host=host, port=port, share=share, auth=auth)


from paperchat.ui import answer_commands, eval_commands  # noqa: E402,F401  (register ask, chat and eval on `app`)


def main() -> None:
    """Entry point: PaperchatError becomes one line on stderr and exit status 1."""
    try:
        app()
    except PaperchatError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
