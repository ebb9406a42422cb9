"""`paperchat ask`, `chat` and `serve`: answers with numbered references, for people, scripts and browsers."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from paperchat.rag.condense import history_entry
from paperchat.rag.errors import PaperchatError
from paperchat.ui.common import CollectionOpt, JsonOpt, ModeOpt, err, mode_value, out, settings_for
from paperchat.ui.filters import AuthorOpt, CategoryOpt, VenueOpt, YearOpt, filter_from
from paperchat.ui.library_commands import empty_collection_message, run_batch


def render_text(answer) -> str:
    """The answer, then a numbered reference list (or the closest papers when not found)."""
    lines = [answer.answer, ""]
    if answer.status == "answered":
        lines.append("References:")
        lines += [f"[{c.n}] {c.title}" + (f" <{c.url}>" if c.url else "") for c in answer.citations]
    else:
        lines.append("Closest papers (not cited):")
        lines += [f"- {s.title}" for s in answer.sources[:5]]
    if answer.unsupported:
        lines += ["", "not supported by the passage it cites (check these):"]
        lines += [f"- {sentence}" for sentence in answer.unsupported]
    if answer.notice:
        lines += ["", f"note: {answer.notice}"]
    return "\n".join(lines)


def _assistant(ctx: typer.Context, collection: str | None):
    """The assistant over a collection that has papers; else the one-line error that says how to ingest."""
    from paperchat.rag.assistant import Assistant

    settings = settings_for(ctx, collection)
    assistant = Assistant(settings)
    store = assistant.retriever.store
    if not store.exists or not store.count():
        assistant.close()
        raise PaperchatError(empty_collection_message(settings))
    return assistant


def ask(
    ctx: typer.Context,
    question: Annotated[str | None, typer.Argument(help="Your question")] = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
    mode: ModeOpt = None,
    jsonl: Annotated[str | None, typer.Option("--jsonl", help="Batch: read {id, question, history} lines "
                                              "from a file or - for stdin; write one answer object per line")] = None,
    year: YearOpt = None,
    author: AuthorOpt = None,
    venue: VenueOpt = None,
    category: CategoryOpt = None,
    as_bib: Annotated[bool, typer.Option("--bib", help="Print the cited papers as BibTeX instead of the answer "
                                         "(original entries for papers from a .bib file)")] = False,
    as_ris: Annotated[bool, typer.Option("--ris", help="Print the cited papers as RIS instead of the answer")] = False,
) -> None:
    """Answer a question from the papers, citing them by number and title."""
    if not question and not jsonl:
        raise typer.BadParameter("give a QUESTION or --jsonl FILE")
    references = _references_format(as_bib, as_ris, as_json, jsonl)
    where = filter_from(year, author, venue, category)
    assistant = _assistant(ctx, collection)
    try:
        if jsonl:
            run_batch(jsonl, "question", lambda item: assistant.ask(
                item["question"], item.get("history") or [], mode=mode_value(mode), where=where).model_dump())
            return
        answer = assistant.ask(question, [], mode=mode_value(mode), where=where)
        if references:
            _print_references(answer, assistant.retriever.store, references)
            return
    finally:
        assistant.close()
    if as_json:
        print(json.dumps(answer.model_dump(), ensure_ascii=False))
    else:
        out.print(render_text(answer), markup=False, soft_wrap=True)


def _references_format(as_bib: bool, as_ris: bool, as_json: bool, jsonl: str | None) -> str | None:
    """'bib', 'ris' or None; the combinations that make no sense are usage errors."""
    if as_bib and as_ris:
        raise typer.BadParameter("choose one of --bib and --ris")
    chosen = "--bib" if as_bib else "--ris" if as_ris else None
    if chosen and (as_json or jsonl):
        other = "--json" if as_json else "--jsonl"
        raise typer.BadParameter(f"{chosen} prints one answer's references: not with {other} "
                                 "(the JSON citations carry doi, year, authors and venue)")
    return chosen and chosen.removeprefix("--")


def _print_references(answer, store, kind: str) -> None:
    """The cited papers as BibTeX or RIS on stdout; a note on stderr when nothing was cited."""
    from paperchat.rag import export

    records = export.cited_records(answer, store)
    if not records:
        err.print("no papers cited: the collection does not answer this question", markup=False)
        return
    sys.stdout.write(export.bibtex(records) if kind == "bib" else export.ris(records))
    sys.stdout.flush()


def chat(ctx: typer.Context, collection: CollectionOpt = None, mode: ModeOpt = None, year: YearOpt = None,
         author: AuthorOpt = None, venue: VenueOpt = None, category: CategoryOpt = None) -> None:
    """A conversation in the terminal: follow-up questions keep their context. Ctrl-D or 'exit' ends it."""
    where = filter_from(year, author, venue, category)
    assistant = _assistant(ctx, collection)
    count = len(assistant.retriever.store.papers())
    out.print(f"paperchat — {count} papers in {assistant.settings.collection!r}, answers by {assistant.model_name}"
              + (f", filter: {where.describe()}" if where else "") + ". Ask a question; 'new' starts over, "
              "'exit' quits.", markup=False)
    history: list[dict] = []
    try:
        while True:
            try:
                question = input("\n> ").strip()
            except (EOFError, KeyboardInterrupt):
                out.print()
                return
            if question in ("exit", "quit"):
                return
            if question == "new":
                history = []
                out.print("(new conversation)")
                continue
            if not question:
                continue
            try:
                answer = _stream_one(assistant, question, history, mode_value(mode), where)
            except PaperchatError as exc:
                err.print(f"error: {exc}", markup=False)
                continue
            history += [{"role": "user", "content": question},
                        {"role": "assistant", "content": history_entry(answer)}]
    finally:
        assistant.close()


def _stream_one(assistant, question, history, mode, where):
    """Print the answer as it streams, then its references. The streamed [n] are numbered as in the final
    answer, so they match the reference list printed under them."""
    started = time.perf_counter()
    stream = assistant.stream(question, history, mode=mode, where=where)
    for event in stream:
        if event.kind == "delta":
            sys.stdout.write(event.text)
        else:  # reset: the LLM failed mid-answer; the answer starts again offline
            sys.stdout.write(f"\n[{event.text or 'restarting'}]\n")
        sys.stdout.flush()
    answer = stream.answer()
    sys.stdout.write("\n\n")
    rendered = render_text(answer)
    out.print(rendered[len(answer.answer):].strip(), markup=False, soft_wrap=True)
    out.print(f"({1000 * (time.perf_counter() - started):.0f} ms)", style="dim")
    return answer


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the "
                                      "network (use --auth then)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on")] = 7860,
    collection: CollectionOpt = None,
    share: Annotated[bool, typer.Option("--share", help="Also publish a temporary public *.gradio.live "
                                        "link")] = False,
    auth: Annotated[str | None, typer.Option("--auth", metavar="USER:PASSWORD", help="Require a login "
                                             "(or set PAPERCHAT_AUTH)")] = None,
) -> None:
    """Serve the web UI: a chat with streamed, cited answers, a sources panel and an /ask API."""
    from paperchat.ui.web import serve as run_web

    run_web(settings_for(ctx, collection), host=host, port=port, share=share, auth=auth)
