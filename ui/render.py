"""How an Answer looks in the web UI: chat Markdown, the sources panel, the details, the export.

Pure functions of the typed results (no gradio here), so every view is unit-testable. Anything
that comes from a paper (titles, quotes, urls) or from the person asking is escaped before it
reaches HTML: a paper whose abstract says `<script>` shows the word, it does not run it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from paperchat.rag.condense import history_entry
from paperchat.rag.types import Answer, Citation, Source

#: Closest papers shown for a not_found answer.
CLOSEST = 5
_MARKER = re.compile(r"\[(\d+)\]")
#: Characters gr.HTML's template engine or the chat's LaTeX could read as syntax.
_TEMPLATE_CHARS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"})


# ------------------------------------------------------------------------------------- helpers


def esc(text: object) -> str:
    """HTML-escape text from papers or users, quotes and template characters included."""
    return html.escape(str(text), quote=True).translate(_TEMPLATE_CHARS)


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links leave the page: a record's url could say javascript:."""
    if url and re.match(r"^https?://", url.strip(), re.I):
        return url.strip()
    return None


def _link(url: str | None, label: str, cls: str = "") -> str:
    safe = _safe_url(url)
    klass = f' class="{cls}"' if cls else ""
    if not safe:
        return f"<span{klass}>{label}</span>"
    return f'<a{klass} href="{esc(safe)}" target="_blank" rel="noopener noreferrer">{label}</a>'


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def scores_by_paper(answer: Answer) -> dict[str, float]:
    return {s.paper_id: s.score for s in answer.sources}


def anchor(n: int) -> str:
    """The id of citation n in the sources panel; `[n]` in the answer links to `#src-n`."""
    return f"src-{n}"


# ------------------------------------------------------------------------------------- chat messages


def link_citations(text: str, citations: Sequence[Citation], *, link: bool = True) -> str:
    """Escape the answer text and turn each `[n]` that names a citation into a link to its source entry."""
    by_n = {c.n: c for c in citations}

    def replace(match: re.Match) -> str:
        n = int(match.group(1))
        if n not in by_n:
            return match.group(0)
        if not link:
            return f'<span class="pc-cite-old">[{n}]</span>'
        return f'<a class="pc-cite" href="#{anchor(n)}" title="{esc(by_n[n].title)}">[{n}]</a>'

    return _MARKER.sub(replace, _escape_markdown_html(text))


def _escape_markdown_html(text: str) -> str:
    """Escape HTML but keep the Markdown (bold titles, list dashes) of the answer text."""
    return html.escape(text, quote=False).translate({ord("$"): "&#36;"})


def notice_html(notice: str | None) -> str:
    if not notice:
        return ""
    return f'<div class="pc-notice">⚠ {esc(notice)}</div>\n\n'


def streaming_message(text: str, notice: str | None = None) -> str:
    """The assistant message while the answer streams in (markers not linked yet: they may be renumbered)."""
    thinking = '<span class="pc-thinking">Searching the papers…</span>'
    body = _escape_markdown_html(text) if text.strip() else thinking
    return notice_html(notice) + body


def references_footer(citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    items = "".join(f"<li>[{c.n}] {_link(c.url, esc(c.title))}</li>" for c in citations)
    return f'\n\n<ol class="pc-refs">{items}</ol>'


def not_found_message(answer: Answer, limit: int = 3) -> str:
    """A not_found answer: says so plainly (it is an answer, not an error) and names the nearest papers."""
    closest = answer.sources[:limit]
    items = "".join(f"<li>{_link(s.url, esc(s.title))}</li>" for s in closest)
    papers = (f'<div class="pc-closest-label">Closest papers (they do not answer it):</div>'
              f'<ul class="pc-closest">{items}</ul>') if closest else ""
    return (f'{notice_html(answer.notice)}<div class="pc-notfound"><div class="pc-notfound-title">'
            f'Not in the collection</div><p>{esc(answer.answer)}</p>{papers}</div>')


def unsupported_html(sentences: Sequence[str]) -> str:
    """LLM sentences whose cited passage does not support them, listed for the reader to check."""
    if not sentences:
        return ""
    items = "".join(f"<li>{esc(s)}</li>" for s in sentences)
    return (f'\n\n<div class="pc-notice">⚠ Not supported by the passage it cites — check these:'
            f'<ul>{items}</ul></div>')


def answer_message(answer: Answer, *, latest: bool = True) -> str:
    """The final assistant message; only the latest answer's markers link to the (latest) sources panel."""
    if answer.status == "not_found":
        return not_found_message(answer)
    body = link_citations(answer.answer, answer.citations, link=latest)
    return (notice_html(answer.notice) + body + unsupported_html(answer.unsupported)
            + references_footer(answer.citations))


def chat_messages(answers: Sequence[Answer]) -> list[dict[str, str]]:
    """The chat as Gradio messages, rebuilt from the session's answers."""
    messages: list[dict[str, str]] = []
    for i, answer in enumerate(answers):
        messages.append({"role": "user", "content": _escape_markdown_html(answer.question)})
        latest = i == len(answers) - 1
        messages.append({"role": "assistant", "content": answer_message(answer, latest=latest)})
    return messages


# ------------------------------------------------------------------------------------- history


def history_turns(answers: Iterable[Answer]) -> list[dict[str, str]]:
    turns: list[dict[str, str]] = []
    for answer in answers:
        turns.append({"role": "user", "content": answer.question})
        turns.append({"role": "assistant", "content": history_entry(answer)})
    return turns


# ------------------------------------------------------------------------------------- side panels


def sources_placeholder() -> str:
    return ('<div class="pc-panel"><div class="pc-panel-title">Sources</div>'
            '<p class="pc-muted">The papers an answer cites appear here, with the sentence that supports '
            'each claim. Click a <span class="pc-cite-demo">[n]</span> in the answer to jump to its source.'
            '</p></div>')


def sources_pending() -> str:
    return ('<div class="pc-panel"><div class="pc-panel-title">Sources</div>'
            '<p class="pc-muted">Reading the papers…</p></div>')


def sources_html(answer: Answer | None) -> str:
    """The panel beside the chat: the cited papers of the latest answer, or its closest papers."""
    if answer is None:
        return sources_placeholder()
    if answer.status == "not_found":
        return closest_html(answer.sources[:CLOSEST])
    scores = scores_by_paper(answer)
    items = "".join(_source_item(c, scores.get(c.paper_id)) for c in answer.citations)
    count = len(answer.citations)
    label = f"{count} paper{'s' if count != 1 else ''} cited"
    return (f'<div class="pc-panel"><div class="pc-panel-title">Sources <span class="pc-muted">{label}</span>'
            f'</div><ol class="pc-sources">{items}</ol></div>')


def _source_item(c: Citation, score: float | None) -> str:
    title = _link(c.url, esc(c.title), "pc-source-title")
    score_html = f'<span class="pc-score" title="retrieval score (fused rank)">score {_score(score)}</span>' \
        if score is not None else ""
    quote = f'<blockquote class="pc-quote">{esc(c.quote)}</blockquote>' if c.quote else ""
    return (f'<li class="pc-source" id="{anchor(c.n)}"><div class="pc-source-head">'
            f'<span class="pc-num">{c.n}</span>{title}</div>{quote}'
            f'<div class="pc-source-meta">{score_html}<span class="pc-id">{esc(c.paper_id)}</span></div>'
            '</li>')


def closest_html(sources: Sequence[Source]) -> str:
    """For a not_found answer: the nearest papers, explicitly not sources of an answer."""
    items = "".join(
        f'<li class="pc-closest-item">{_link(s.url, esc(s.title), "pc-source-title")}'
        f'<span class="pc-score">score {_score(s.score)}</span></li>'
        for s in sources
    )
    none = '<p class="pc-muted">No papers matched.</p>'
    body = f'<ul class="pc-closest-list">{items}</ul>' if items else none
    return ('<div class="pc-panel pc-panel-notfound"><div class="pc-panel-title">Closest papers</div>'
            '<p class="pc-muted">None of these answers the question; they are the nearest matches in the '
            f'collection.</p>{body}</div>')


def details_html(answer: Answer | None) -> str:
    """'How this answer was made': the standalone query, what retrieval found, the mode, the timings."""
    if answer is None:
        return '<p class="pc-muted">Ask a question to see how its answer was made.</p>'
    cited = {c.paper_id: c.n for c in answer.citations}
    rows = "".join(
        f'<tr><td class="pc-rank">{i}</td><td>{esc(s.title)}'
        f'{f" <span class=pc-cited>cited [{cited[s.paper_id]}]</span>" if s.paper_id in cited else ""}</td>'
        f'<td class="pc-num-cell">{_score(s.score)}</td></tr>'
        for i, s in enumerate(answer.sources, 1)
    )
    timings = " · ".join(f"{esc(k.removesuffix('_ms'))} {v:.0f} ms" for k, v in answer.timings_ms.items())
    rewritten = answer.standalone_question.strip() != answer.question.strip()
    query_note = "rewritten from the conversation" if rewritten else "the question as asked"
    status = "answered" if answer.status == "answered" else "not in the collection"
    return (
        f'<div class="pc-details"><div><b>Search query</b> <span class="pc-muted">({query_note})</span>'
        f'<div class="pc-query">{esc(answer.standalone_question)}</div></div>'
        f'<div><b>Answer</b>: {esc(status)} · mode {esc(answer.mode)} · model {esc(answer.model)}</div>'
        + (f"<div><b>Notice</b>: {esc(answer.notice)}</div>" if answer.notice else "")
        + f'<div><b>Retrieved papers</b> (hybrid dense + BM25, fused)</div>'
        f'<table class="pc-table"><thead><tr><th>#</th><th>title</th><th>score</th></tr></thead>'
        f'<tbody>{rows}</tbody></table>'
        f'<div><b>Timings</b>: {timings or "—"}</div></div>'
    )


# ------------------------------------------------------------------------------------- header


@dataclass
class CollectionInfo:
    collection: str
    papers: int
    embedding_model: str
    answer_mode: str  # the LLM model name, or "offline extractive"


def header_html(info: CollectionInfo) -> str:
    papers = f"{info.papers} paper{'s' if info.papers != 1 else ''}"
    badges = [("collection", info.collection), ("", papers), ("embeddings", info.embedding_model),
              ("answers", info.answer_mode)]
    chips = "".join(f'<span class="pc-chip">{f"<span class=pc-chip-k>{esc(k)}</span> " if k else ""}'
                    f"{esc(v)}</span>" for k, v in badges)
    return (f'<div class="pc-header"><div class="pc-brand">paperchat<span class="pc-tagline">'
            f'answers from your papers, with citations</span></div><div class="pc-chips">{chips}</div></div>')


def empty_collection_html(collection: str, home: str) -> str:
    """What an empty collection shows instead of a chat that cannot answer."""
    target = f" --collection {collection}" if collection != "papers" else ""
    commands = [(f"paperchat --home {home} ingest{target}", "the bundled papers"),
                (f"paperchat --home {home} ingest{target} papers.jsonl",
                 "your own: JSONL, JSON, CSV, BEIR, arXiv")]
    width = max(len(c) for c, _ in commands) + 3
    lines = "\n".join(esc(f"{c.ljust(width)}# {note}") for c, note in commands)
    return (f'<div class="pc-empty"><h3>The collection “{esc(collection)}” has no papers yet</h3>'
            f"<p>Add papers from a terminal, then reload this page:</p><pre>{lines}</pre></div>")


# ------------------------------------------------------------------------------------- examples


#: Curated questions, each shown only when the paper that answers it is in the collection.
CURATED_EXAMPLES: list[tuple[str, str]] = [
    ("How does GaLore reduce memory in LLM training?",
     "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"),
    ("How can a deep network be trained with less memory?", "Training Deep Nets with Sublinear Memory Cost"),
    ("What is internal covariate shift?",
     "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift"),
    ("How can BERT be trained in 76 minutes?",
     "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes"),
    ("What is wrong with code generated by large language models?",
     "What's Wrong with Your Code Generated by Large Language Models? An Extensive Study"),
]


def example_questions(titles: Iterable[str], n: int = 4) -> list[str]:
    """Questions the collection can answer: curated ones whose paper is present, then ones built from
    titles (short titles first, so the buttons stay readable)."""
    present = {t.strip().lower() for t in titles}
    chosen = [q for q, title in CURATED_EXAMPLES if title.lower() in present][:n]
    if len(chosen) < n:
        curated_titles = {title.lower() for _, title in CURATED_EXAMPLES}
        spare = sorted((t for t in present if t not in curated_titles), key=lambda t: (len(t), t))
        originals = {t.strip().lower(): t.strip() for t in titles}
        chosen += [f'What does "{originals[t]}" propose?' for t in spare[: n - len(chosen)]]
    return chosen


# ------------------------------------------------------------------------------------- export


def export_markdown(answers: Sequence[Answer], *, collection: str = "", now: datetime | None = None) -> str:
    """The conversation as Markdown, each answer followed by its reference list."""
    stamp = (now or datetime.now()).strftime("%Y-%m-%d %H:%M")
    lines = ["# paperchat conversation", ""]
    lines.append(f"_Collection {collection!r}, exported {stamp}._" if collection else f"_Exported {stamp}._")
    for i, answer in enumerate(answers, 1):
        lines += ["", f"## {i}. {answer.question.strip()}", ""]
        if answer.notice:
            lines += [f"> Note: {answer.notice}", ""]
        lines.append(answer.answer.strip())
        if answer.status == "answered" and answer.citations:
            lines += ["", "**References**", ""]
            lines += [_reference_line(c) for c in answer.citations]
        elif answer.status == "not_found" and answer.sources:
            lines += ["", "**Closest papers** (they do not answer the question)", ""]
            lines += [f"- {s.title}" + (f" <{s.url}>" if _safe_url(s.url) else "")
                      for s in answer.sources[:CLOSEST]]
        lines += ["", f"_{answer.mode} · {answer.model}_"]
    return "\n".join(lines).rstrip() + "\n"


def _reference_line(c: Citation) -> str:
    line = f"- [{c.n}] {c.title}"
    if _safe_url(c.url):
        line += f" <{c.url}>"
    if c.quote:
        line += f"\n  > {c.quote}"
    return line
