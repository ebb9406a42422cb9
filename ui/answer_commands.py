"""`paperchat ask` and `paperchat chat`: answers with numbered references, for people and scripts."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated

import typer

from paperchat.rag.condense import history_entry
from paperchat.rag.errors import PaperchatError
from paperchat.ui.cli import CollectionOpt, JsonOpt, app, err, out, settings_for

ModeOpt = Annotated[str | None, typer.Option("--mode", help="llm or extractive (default: llm when an "
                                             "endpoint is configured, else extractive)")]


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


def _assistant(collection: str | None):
    from paperchat.rag.assistant import Assistant

    return Assistant(settings_for(collection))


def _check_mode(mode: str | None) -> None:
    if mode not in (None, "llm", "extractive"):
        raise typer.BadParameter("--mode must be llm or extractive")


def _batch(assistant, source, mode) -> None:
    for lineno, line in enumerate(source, 1):
        if not line.strip():
            continue
        item_id = lineno
        try:
            item = json.loads(line)
            item_id = item.get("id", lineno)
            answer = assistant.ask(item["question"], item.get("history") or [], mode=mode)
            print(json.dumps({"id": item_id, **answer.model_dump()}, ensure_ascii=False), flush=True)
        except (ValueError, KeyError, TypeError, AttributeError, PaperchatError) as exc:
            print(json.dumps({"id": item_id, "error": f"line {lineno}: {exc}"}, ensure_ascii=False), flush=True)


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="Your question")] = None,
    collection: CollectionOpt = None,
    as_json: JsonOpt = False,
    mode: ModeOpt = None,
    jsonl: Annotated[str | None, typer.Option("--jsonl", help="Batch: read {id, question, history} lines "
                                              "from a file or - for stdin; write one answer object per line")] = None,
) -> None:
    """Answer a question from the papers, citing them by number and title."""
    _check_mode(mode)
    if not question and not jsonl:
        raise typer.BadParameter("give a QUESTION or --jsonl FILE")
    assistant = _assistant(collection)
    if jsonl:
        with (sys.stdin if jsonl == "-" else open(jsonl, encoding="utf-8")) as source:
            _batch(assistant, source, mode)
        return
    answer = assistant.ask(question, [], mode=mode)
    if as_json:
        print(json.dumps(answer.model_dump(), ensure_ascii=False))
    else:
        out.print(render_text(answer), highlight=False, markup=False, soft_wrap=True)


@app.command()
def chat(collection: CollectionOpt = None, mode: ModeOpt = None) -> None:
    """A conversation in the terminal: follow-up questions keep their context. Ctrl-D or 'exit' ends it."""
    _check_mode(mode)
    assistant = _assistant(collection)
    store = assistant.retriever.store
    count = len(store.papers()) if store.exists else 0
    out.print(f"paperchat — {count} papers in {assistant.settings.collection!r}, answers by {assistant.model_name}. "
              "Ask a question; 'new' starts over, 'exit' quits.", markup=False, highlight=False)
    history: list[dict] = []
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
            answer = _stream_one(assistant, question, history, mode)
        except PaperchatError as exc:
            err.print(f"error: {exc}", highlight=False, markup=False)
            continue
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": history_entry(answer)}]


def _stream_one(assistant, question, history, mode):
    """Print the answer as it streams (LLM mode), then its references."""
    started, answer = time.perf_counter(), None
    for event in assistant.stream(question, history, mode=mode):
        if event.kind == "delta" and answer is None:
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif event.kind == "reset":
            sys.stdout.write(f"\n[{event.text or 'restarting'}]\n")
        elif event.kind == "answer":
            answer = event.answer
    sys.stdout.write("\n\n")
    rendered = render_text(answer)
    out.print(rendered[len(answer.answer):].strip(), highlight=False, markup=False, soft_wrap=True)
    out.print(f"({1000 * (time.perf_counter() - started):.0f} ms)", style="dim")
    return answer
