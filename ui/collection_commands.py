"""`paperchat collections`: list, inspect, rename and delete the collections of a store."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from typing import Annotated

import typer
from rich.markup import escape

from paperchat.rag.errors import PaperchatError
from paperchat.ui.common import JsonOpt, out, settings_for

app = typer.Typer(help="List, inspect, rename and delete collections. With no subcommand: list them.",
                  no_args_is_help=False)

#: Paper fields `collections info` reports coverage of.
FIELDS = ("authors", "year", "venue", "doi", "arxiv_id", "url", "categories", "citation_key")


@app.callback(invoke_without_command=True)
def list_collections_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Every collection with its papers, chunks, embedding model and last ingest."""
    if ctx.invoked_subcommand is not None:
        return
    from paperchat.rag.store import PaperStore, list_collections

    settings = settings_for(ctx)
    rows = []
    for info in list_collections(settings):
        store = PaperStore(settings.model_copy(update={"collection": info.name}), info.embedding_model or "", None,
                           create=False)
        try:
            papers = len(store.paper_ids(where={"chunk": 0}))
        finally:
            store.close()
        rows.append({"name": info.name, "papers": papers, "chunks": info.chunks,
                     "embedding_model": info.embedding_model, "last_ingest": info.updated})
    if as_json:
        print(json.dumps({"collections": rows}, ensure_ascii=False))
        return
    if not rows:
        out.print(f"No collections in {escape(str(settings.home))} yet: `paperchat ingest` adds the bundled papers.")
        return
    from rich.table import Table

    table = Table(title=escape(f"collections in {settings.chroma.host or settings.home}"))
    for name in ("name", "papers", "chunks", "embedding model", "last ingest"):
        table.add_column(name, justify="right" if name in ("papers", "chunks") else "left")
    for r in rows:
        table.add_row(escape(r["name"]), str(r["papers"]), str(r["chunks"]), escape(r["embedding_model"] or "?"),
                      escape(r["last_ingest"] or "–"))
    out.print(table)


def _existing(ctx: typer.Context, name: str):
    from paperchat.rag.store import list_collections

    settings = settings_for(ctx, name)
    found = {c.name: c for c in list_collections(settings)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise PaperchatError(f"there is no collection {name!r} (collections: {known}; see `paperchat collections`)")
    return settings, found[name]


@app.command("info")
def info_cmd(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Collection name")],
             as_json: JsonOpt = False) -> None:
    """Sources ingested, papers per source, and which fields the papers have."""
    from paperchat.rag.store import PaperStore

    settings, info = _existing(ctx, name)
    store = PaperStore(settings, info.embedding_model or "", None, create=False)
    try:
        papers = store.papers()
    finally:
        store.close()
    sources = Counter(p.source for p in papers)
    fields = {f: sum(1 for p in papers if getattr(p, f)) for f in FIELDS}
    data = {"name": name, "papers": len(papers), "chunks": info.chunks, "embedding_model": info.embedding_model,
            "last_ingest": info.updated, "sources": dict(sources.most_common()), "fields": fields}
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    out.print(escape(f"{name}: {len(papers)} papers, {info.chunks} chunks, embedded with {info.embedding_model}, "
                     f"last ingest {info.updated or 'unknown'}"))
    out.print("sources:")
    for source, n in sources.most_common():
        out.print(escape(f"  {n:6d}  {source or '(unknown)'}"))
    out.print("fields present: " + escape(", ".join(f"{f} {n}/{len(papers)}" for f, n in fields.items())))


@app.command("delete")
def delete_cmd(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Collection name")],
               yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False) -> None:
    """Delete a collection and its keyword index (asks first; --yes for scripts)."""
    from paperchat.rag.store import delete_collection

    settings, info = _existing(ctx, name)
    if not yes and not typer.confirm(f"Delete collection {name!r} ({info.chunks} chunks)? This cannot be undone"):
        raise typer.Exit(1)
    delete_collection(settings, name)
    shutil.rmtree(settings.index_dir, ignore_errors=True)
    out.print(escape(f"deleted collection {name!r}"))


@app.command("rename")
def rename_cmd(ctx: typer.Context, old: Annotated[str, typer.Argument(help="Current name")],
               new: Annotated[str, typer.Argument(help="New name")]) -> None:
    """Rename a collection (its keyword index moves with it)."""
    from paperchat.rag.store import rename_collection

    settings, _ = _existing(ctx, old)
    rename_collection(settings, old, new)
    old_index, new_index = settings.index_dir, settings.model_copy(update={"collection": new}).index_dir
    if old_index.exists():
        shutil.rmtree(new_index, ignore_errors=True)
        old_index.rename(new_index)
    out.print(escape(f"renamed collection {old!r} to {new!r}"))
