"""`paperchat ingest`, `papers` and `search`: build a collection and look into it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from paperchat.rag.errors import PaperchatError
from paperchat.rag.settings import BUNDLED_PAPERS
from paperchat.ui.common import CollectionOpt, JsonOpt, KOpt, err, out, read_lines, settings_for
from paperchat.ui.filters import AuthorOpt, CategoryOpt, VenueOpt, YearOpt, filter_from


class _LineProgress:
    """Progress for a log or a pipe: one line on stderr every few seconds (papers done, rate, time left)."""

    def __init__(self, total: int, every: float = 5.0):
        import time

        self._clock = time.monotonic
        self.total, self.every, self.done = total, every, 0
        self.started = self._last = self._clock()

    def advance(self, n: int) -> None:
        self.done += n
        now = self._clock()
        if now - self._last >= self.every:
            self._last = now
            rate = self.done / max(now - self.started, 1e-9)
            left = f", about {_duration((self.total - self.done) / rate)} left" if self.total and rate else ""
            of = f" of {self.total:,}" if self.total else ""
            err.print(f"ingesting: {self.done:,}{of} papers, {rate:,.0f} papers/s{left}", highlight=False)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m" if seconds >= 3600 else \
        f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class _Stopped:
    """SIGTERM during an ingest stops it the way Ctrl-C does (after the batch being written), remembered for
    the exit status."""

    def __init__(self):
        self.signal: int | None = None

    def __enter__(self):
        import signal

        def stop(signum, frame):
            self.signal = signum
            raise KeyboardInterrupt

        self._previous = signal.signal(signal.SIGTERM, stop)
        return self

    def __exit__(self, *exc):
        import signal

        signal.signal(signal.SIGTERM, self._previous)

    @property
    def status(self) -> int:
        return 128 + (self.signal or 2)  # 130 after Ctrl-C, 143 after SIGTERM


def _progress_bar(total: int):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn()]
    bar = Progress(*columns, console=err, transient=True, speed_estimate_period=20)
    task = bar.add_task("ingest", total=total or None, rate="")

    def advance(n: int) -> None:
        bar.advance(task, n)
        speed = bar.tasks[0].speed
        bar.update(task, rate=f"{speed:,.0f} papers/s" if speed else "")

    return bar, advance


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(help="Paper files or folders (default: the bundled "
                                                       "papers)")] = None,
    collection: CollectionOpt = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Force a reader: listing, jsonl, json, csv, beir, "
                                            "arxiv, bibtex, ris, csljson, pdf (default: detect from each file)")]
    = None,
    prune: Annotated[bool, typer.Option("--prune", help="Remove papers of these files no longer in them")] = False,
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Skip malformed records and count them")] = False,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, max=100_000, help="Papers per write "
                                                   "batch (default 512, or PAPERCHAT_INGEST__BATCH_SIZE)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output")] = False,
) -> None:
    """Read paper files, chunk, embed and store them; re-running only embeds what changed."""
    import contextlib

    from paperchat.ingest.pipeline import IngestInterrupted, estimate_papers, ingest_paths

    settings = settings_for(ctx, collection)
    if batch_size is not None:
        settings = settings.model_copy(update={"ingest": settings.ingest.model_copy(update={"batch_size": batch_size})})
    files = [p.resolve() for p in (paths or [BUNDLED_PAPERS])]
    total = sum(estimate_papers(p) for p in files) if not quiet else 0
    bar, advance = (contextlib.nullcontext(), lambda n: None) if quiet else \
        _progress_bar(total) if err.is_terminal else (contextlib.nullcontext(), _LineProgress(total).advance)
    try:
        with _Stopped() as stopped, bar:
            report = ingest_paths(files, settings, fmt=fmt, prune=prune, skip_bad=skip_bad, progress=advance)
    except IngestInterrupted as exc:
        err.print(f"[yellow]{escape(str(exc))}[/yellow]")
        raise typer.Exit(stopped.status) from None
    except KeyboardInterrupt:
        err.print("[yellow]ingest interrupted before anything was written; run the same command again[/yellow]")
        raise typer.Exit(stopped.status) from None
    for line in report.skipped[:20]:
        err.print(f"[yellow]skipped[/yellow] {escape(line)}")
    if len(report.skipped) > 20:
        err.print(f"... and {len(report.skipped) - 20} more skipped")
    for path, reason in report.skipped_files[:20]:
        err.print(f"[yellow]skipped[/yellow] {escape(path)}: {escape(reason)}")
    for line in report.skip_groups():
        err.print(escape(line))
    out.print(escape(report.summary()), soft_wrap=True)  # one line, however narrow the terminal: scripts read it


def papers(ctx: typer.Context, collection: CollectionOpt = None, as_json: JsonOpt = False) -> None:
    """Count and list the papers in the collection."""
    from paperchat.rag.store import PaperStore

    settings = settings_for(ctx, collection)
    store = PaperStore(settings, settings.embedding_model, None, create=False)
    try:
        rows = store.papers() if store.exists else []
    finally:
        store.close()
    if as_json:
        print(json.dumps({"collection": settings.collection, "count": len(rows),
                          "papers": [r.as_dict() for r in rows]}, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(title=escape(f"{len(rows)} papers in {settings.collection!r}"))
    table.add_column("#", justify="right")
    table.add_column("title")
    years = any(r.year for r in rows)
    if years:
        table.add_column("year", justify="right")
    table.add_column("id", style="dim")
    for i, r in enumerate(rows, 1):
        table.add_row(str(i), escape(r.title), *([str(r.year or "")] if years else []), escape(r.paper_id))
    out.print(table)


def _hits_json(hits) -> list[dict]:
    return [{"paper_id": h.paper_id, "title": h.title, "score": h.score, "year": h.year, "authors": h.authors,
             "venue": h.venue, "doi": h.doi, "url": h.url} for h in hits]


def batch_item(lineno: int, text: str | None, field: str) -> tuple[object, dict]:
    """(id, object) of one batch line; PaperchatError saying what is wrong with the line otherwise."""
    if text is None:
        raise PaperchatError(f"line {lineno}: not UTF-8 text")
    try:
        item = json.loads(text)
    except ValueError as exc:
        raise PaperchatError(f"line {lineno}: not a JSON object ({exc})") from None
    except RecursionError:
        raise PaperchatError(f"line {lineno}: JSON nested too deeply") from None
    if not isinstance(item, dict):
        raise PaperchatError(f"line {lineno}: expected a JSON object like {{\"id\": ..., \"{field}\": ...}}, "
                             f"got {type(item).__name__}")
    item_id = item.get("id", lineno)
    value = item.get(field)
    if not isinstance(value, str) or not value.strip():
        got = "missing" if value is None else f"a {type(value).__name__}" if not isinstance(value, str) else "empty"
        raise BatchLineError(item_id, f"line {lineno}: {field!r} must be a non-empty string, got {got}")
    return item_id, item


class BatchLineError(PaperchatError):
    """A batch line whose id is known but whose content is not usable."""

    def __init__(self, item_id: object, message: str):
        super().__init__(message)
        self.item_id = item_id


def run_batch(source: str, field: str, answer) -> None:
    """One output line per input line, in input order; a bad line gets {"id", "error"}, never a crash."""
    for lineno, text in read_lines(source):
        if text is not None and not text.strip():
            continue
        item_id: object = lineno
        try:
            item_id, item = batch_item(lineno, text, field)
            result = {"id": item_id, **answer(item)}
        except BatchLineError as exc:
            result = {"id": exc.item_id, "error": str(exc)}
        except PaperchatError as exc:
            result = {"id": item_id, "error": str(exc) if str(exc).startswith("line ") else f"line {lineno}: {exc}"}
        print(json.dumps(result, ensure_ascii=False), flush=True)


def search(
    ctx: typer.Context,
    query: Annotated[str | None, typer.Argument(help="What to look for")] = None,
    k: KOpt = 10,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
    jsonl: Annotated[str | None, typer.Option("--jsonl", help="Batch: read {id, query} lines from a file "
                                              "or - for stdin, write {id, results} lines")] = None,
    year: YearOpt = None,
    author: AuthorOpt = None,
    venue: VenueOpt = None,
    category: CategoryOpt = None,
) -> None:
    """Hybrid search (dense + BM25, fused): one row per paper, best first."""
    from paperchat.rag.retrieval import Retriever
    from paperchat.rag.text import clean_text

    if not query and not jsonl:
        raise typer.BadParameter("give a QUERY or --jsonl FILE")
    where = filter_from(year, author, venue, category)
    settings = settings_for(ctx, collection)
    retriever = Retriever(settings)
    try:
        if not retriever.store.exists or not retriever.store.count():
            raise PaperchatError(empty_collection_message(settings))
        if jsonl:
            run_batch(jsonl, "query", lambda item: {
                "results": _hits_json(retriever.search(clean_text(item["query"]), k, where))})
            return
        hits = retriever.search(clean_text(query), k, where)
    finally:
        retriever.close()
    if as_json:
        print(json.dumps({"query": query, "filter": where.model_dump() if where else None,
                          "results": _hits_json(hits)}, ensure_ascii=False))
        return
    if not hits:
        out.print("No papers found." + (f" (filter: {escape(where.describe())})" if where else ""))
        return
    from rich.table import Table

    title = query + (f"  [filter: {where.describe()}]" if where else "")
    table = Table(title=escape(title))
    years = any(h.year for h in hits)  # a column only when the papers have years
    for col in ("#", "score", "title", *(["year"] if years else []), "id"):
        table.add_column(col)
    for i, h in enumerate(hits, 1):
        table.add_row(str(i), f"{h.score:.4f}", escape(h.title), *([str(h.year or "")] if years else []),
                      escape(h.paper_id))
    out.print(table)


def empty_collection_message(settings) -> str:
    """What to do when there is nothing to search: the exact command that ingests."""
    target = "" if settings.collection == "papers" else f" --collection {settings.collection}"
    home = "" if str(settings.home) == ".paperchat" else f" --home {settings.home}"
    return (f"the collection {settings.collection!r} is empty or does not exist: add papers with "
            f"`paperchat{home} ingest{target}` (the bundled papers) or `paperchat{home} ingest{target} FILES...`")
