"""How an Answer looks in the web UI: chat Markdown, the sources panel, the details, the exports.

Pure functions of the typed results (no gradio here), so every view is unit-testable. Anything
that comes from a paper (titles, quotes, urls) or from a model or the person asking is escaped before it
reaches HTML: a paper whose abstract says `<script>` shows the word, it does not run it. Markdown image
syntax is neutralised too (`![x](http://host/pixel.png)` stays text), so nothing rendered from a paper or a
model makes the browser fetch from another host.

Each answer keeps its own sources: the panel holds one set per answer (`src-<answer>-<n>` anchors); the
latest set shows by default, and clicking an older answer's `[n]` shows that answer's set (CSS `:target`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlparse

from paperchat.rag.citations import MARKER, marker_numbers
from paperchat.rag.condense import history_entry
from paperchat.rag.metadata import MetaFilter
from paperchat.rag.types import Answer, Citation, PaperRef, Source

#: Closest papers shown for a not_found answer.
CLOSEST = 5
#: Authors a source card names before "et al.".
AUTHORS_SHOWN = 3
#: The fragment that shows the latest answer's sources again (no element has this id, so nothing scrolls).
LATEST = "pc-latest"
#: Characters gr.HTML's template engine or the chat's LaTeX could read as syntax.
_TEMPLATE_CHARS = str.maketrans({"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;", "\\": "&#92;"})


# ------------------------------------------------------------------------------------- helpers


def esc(text: object) -> str:
    """HTML-escape text from papers, models or users: quotes, template characters and Markdown images too."""
    return _no_images(html.escape(str(text), quote=True).translate(_TEMPLATE_CHARS))


def _no_images(text: str) -> str:
    """`![x](url)` and `![x][ref]` -> `!&#91;x]...`: shown as typed, never an <img> the chat's Markdown would
    fetch (raw <img> tags are already escaped)."""
    return text.replace("![", "!&#91;")


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links leave the page: a record's url could say javascript:."""
    if url and re.match(r"^https?://[^\s\"'<>]+$", url.strip(), re.I):
        return url.strip()
    return None


def _link(url: str | None, label: str, cls: str = "") -> str:
    safe = _safe_url(url)
    klass = f' class="{cls}"' if cls else ""
    if not safe:
        return f"<span{klass}>{label}</span>"
    return f'<a{klass} href="{esc(safe)}" target="_blank" rel="noopener noreferrer">{label}</a>'


def link_label(ref: PaperRef) -> str | None:
    """What a paper's link says: 'doi.org/10.1162/…', 'arxiv.org/abs/1706.03762' or the url's host."""
    link = _safe_url(ref.link)
    if not link:
        return None
    if ref.doi or ref.arxiv_id:
        return link.split("://", 1)[1]
    return urlparse(link).netloc or link


def authors_short(authors: Sequence[str], shown: int = AUTHORS_SHOWN) -> str:
    """'A, B, C et al.' for more than `shown` authors."""
    if len(authors) <= shown:
        return ", ".join(authors)
    return ", ".join(authors[:shown]) + " et al."


def byline(ref: PaperRef, page: int | None = None) -> str:
    """Authors (first three), year, venue and page, as plain text ('' when the record has none of them)."""
    parts = [authors_short(ref.authors), str(ref.year or ""), ref.venue or "", f"p. {page}" if page else ""]
    return " · ".join(p for p in parts if p)


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def scores_by_paper(answer: Answer) -> dict[str, float]:
    return {s.paper_id: s.score for s in answer.sources}


def anchor(answer: int, n: int) -> str:
    """The id of citation n of answer `answer` (1-based) in the sources panel; its `[n]` links to `#src-a-n`."""
    return f"src-{answer}-{n}"


# ------------------------------------------------------------------------------------- chat messages


def link_citations(text: str, citations: Sequence[Citation], answer: int) -> str:
    """Escape the answer text and turn each `[n]` that names a citation into a link to this answer's source."""
    by_n = {c.n: c for c in citations}

    def one(n: int) -> str:
        return f'<a class="pc-cite" href="#{anchor(answer, n)}" title="{esc(by_n[n].title)}">[{n}]</a>'

    def replace(match: re.Match) -> str:
        numbers = marker_numbers(match.group(1))
        if not numbers or any(n not in by_n for n in numbers):
            return match.group(0)
        return "".join(one(n) for n in numbers)

    return MARKER.sub(replace, _escape_markdown_html(text))


def _escape_markdown_html(text: str) -> str:
    """Escape HTML but keep the Markdown (bold titles, list dashes) of the answer text; images are not kept."""
    return _no_images(html.escape(text, quote=False).translate({ord("$"): "&#36;"}))


def notice_html(notice: str | None) -> str:
    if not notice:
        return ""
    return f'<div class="pc-notice">⚠ {esc(notice)}</div>\n\n'


def streaming_message(text: str, notice: str | None = None, waiting: str | None = None) -> str:
    """The assistant message while the answer streams in (markers not linked yet: they may be renumbered)."""
    thinking = f'<span class="pc-thinking">{esc(waiting or "Searching the papers…")}</span>'
    body = _escape_markdown_html(text) if text.strip() else thinking
    return notice_html(notice) + body


def references_footer(citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    items = "".join(f"<li>[{c.n}] {_link(c.link, esc(c.title))}{f' ({c.year})' if c.year else ''}</li>"
                    for c in citations)
    return f'\n\n<ol class="pc-refs">{items}</ol>'


def not_found_message(answer: Answer, limit: int = 3) -> str:
    """A not_found answer: says so plainly (it is an answer, not an error) and names the nearest papers."""
    closest = answer.sources[:limit]
    items = "".join(f"<li>{_link(s.link, esc(s.title))}</li>" for s in closest)
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


def answer_message(answer: Answer, number: int = 1) -> str:
    """The final assistant message of answer `number`: its markers link to its own sources."""
    if answer.status == "not_found":
        return not_found_message(answer)
    body = link_citations(answer.answer, answer.citations, number)
    return (notice_html(answer.notice) + body + unsupported_html(answer.unsupported)
            + references_footer(answer.citations))


def chat_messages(answers: Sequence[Answer]) -> list[dict[str, str]]:
    """The chat as Gradio messages, rebuilt from the session's answers."""
    messages: list[dict[str, str]] = []
    for number, answer in enumerate(answers, 1):
        messages.append({"role": "user", "content": _escape_markdown_html(answer.question)})
        messages.append({"role": "assistant", "content": answer_message(answer, number)})
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


def sources_html(answers: Answer | Sequence[Answer] | None, bib: Mapping[str, str] | None = None) -> str:
    """The panel beside the chat: one set of cited papers per answer (the latest shown unless an older answer's
    `[n]` was clicked), or the latest answer's closest papers. `bib`: paper id -> its BibTeX entry."""
    answers = [answers] if isinstance(answers, Answer) else list(answers or [])
    if not answers:
        return sources_placeholder()
    latest = len(answers)
    sets = [_source_set(answer, number, number == latest, bib or {}) for number, answer in enumerate(answers, 1)
            if answer.status == "answered" or number == latest]
    return f'<div class="pc-sets">{"".join(sets)}</div>'


def _source_set(answer: Answer, number: int, latest: bool, bib: Mapping[str, str]) -> str:
    classes = "pc-set pc-latest" if latest else "pc-set"
    if answer.status == "not_found":
        return f'<section class="{classes}" data-answer="{number}">{closest_html(answer.sources[:CLOSEST])}</section>'
    scores = scores_by_paper(answer)
    items = "".join(_source_item(c, number, scores.get(c.paper_id), bib.get(c.paper_id)) for c in answer.citations)
    count = len(answer.citations)
    label = f"{count} paper{'s' if count != 1 else ''} cited"
    question = answer.question.strip()
    question = question if len(question) <= 90 else question[:89] + "…"
    older = "" if latest else (f' · <a class="pc-back" href="#{LATEST}">show the latest answer\'s sources</a>')
    return (f'<section class="{classes}" data-answer="{number}"><div class="pc-panel">'
            f'<div class="pc-panel-title">Sources <span class="pc-muted">{label}</span></div>'
            f'<div class="pc-set-question pc-muted">Answer {number}: “{esc(question)}”{older}</div>'
            f'<ol class="pc-sources">{items}</ol></div></section>')


def _source_item(c: Citation, answer: int, score: float | None, bib: str | None) -> str:
    """One cited paper: title (linked), authors, year, venue, page, the quote, its link, score, Copy BibTeX."""
    title = _link(c.link, esc(c.title), "pc-source-title")
    by = byline(c, c.page)
    by_html = f'<div class="pc-byline">{esc(by)}</div>' if by else ""
    quote = f'<blockquote class="pc-quote">{esc(c.quote)}</blockquote>' if c.quote else ""
    label = link_label(c)
    link_html = _link(c.link, esc(label), "pc-link") if label else ""
    score_html = f'<span class="pc-score" title="retrieval score (fused)">score {_score(score)}</span>' \
        if score is not None else ""
    copy = ('<button type="button" class="pc-copy-bib" title="Copy this paper\'s BibTeX entry">Copy BibTeX</button>'
            f'<pre class="pc-bib" hidden>{esc(bib)}</pre>') if bib else ""
    return (f'<li class="pc-source" id="{anchor(answer, c.n)}"><div class="pc-source-head">'
            f'<span class="pc-num">{c.n}</span>{title}</div>{by_html}{quote}'
            f'<div class="pc-source-meta">{link_html}{score_html}{copy}</div></li>')


def closest_html(sources: Sequence[Source]) -> str:
    """For a not_found answer: the nearest papers, explicitly not sources of an answer."""
    items = "".join(
        f'<li class="pc-closest-item">{_link(s.link, esc(s.title), "pc-source-title")}'
        f'<span class="pc-score">score {_score(s.score)}</span></li>'
        for s in sources
    )
    none = '<p class="pc-muted">No papers matched.</p>'
    body = f'<ul class="pc-closest-list">{items}</ul>' if items else none
    return ('<div class="pc-panel pc-panel-notfound"><div class="pc-panel-title">Closest papers</div>'
            '<p class="pc-muted">None of these answers the question; they are the nearest matches in the '
            f'collection.</p>{body}</div>')


# ------------------------------------------------------------------------------------- details


def details_html(answer: Answer | None) -> str:
    """'How this answer was made': the query, the filter, the gate's decision, names, what retrieval found,
    the mode, the timings."""
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
        + filter_html(answer) + gate_html(answer) + names_html(answer) + filtered_html(answer)
        + (f"<div><b>Notice</b>: {esc(answer.notice)}</div>" if answer.notice else "")
        + f'<div><b>Retrieved papers</b> (hybrid dense + BM25, fused)</div>'
        f'<table class="pc-table"><thead><tr><th>#</th><th>title</th><th>score</th></tr></thead>'
        f'<tbody>{rows}</tbody></table>'
        f'<div><b>Timings</b>: {timings or "—"}</div></div>'
    )


def describe_filter(data: Mapping | None) -> str | None:
    """An Answer's `filter` (a MetaFilter as JSON) as 'years 2019–2023, author Hinton'; None for no filter."""
    if not data:
        return None
    try:
        found = MetaFilter.model_validate(dict(data))
    except ValueError:
        return None
    return None if found.empty else found.describe()


def filter_html(answer: Answer) -> str:
    """The metadata filter the answer was made under: the settings' fields and what the question itself said."""
    described = describe_filter(answer.filter)
    if not described:
        return '<div class="pc-filter"><b>Filter</b>: none (all papers)</div>'
    spans = [str(s) for s in answer.trace.get("filter_from_question") or []]
    said = f' <span class="pc-muted">(read from the question: {esc("; ".join(spans))})</span>' if spans else ""
    return f'<div class="pc-filter"><b>Filter</b>: {esc(described)}{said}</div>'


def gate_html(answer: Answer) -> str:
    """The answer gate: its confidence that the evidence answers the question, and the threshold it needs."""
    gate = answer.trace.get("gate") or {}
    confidence = gate.get("confidence", answer.confidence)
    if confidence is None:
        return ""
    threshold = gate.get("threshold")
    verdict = ""
    if "passed" in gate:
        verdict = " · passed" if gate["passed"] else " · below the threshold: not answered"
    need = f" (answers at ≥ {float(threshold):.2f})" if threshold is not None else ""
    missing = gate.get("missing_names") or []
    absent = f' · names no passage contains: {esc(", ".join(map(str, missing)))}' if missing else ""
    factors = gate.get("factors") or {}
    product = (" = " + " × ".join(f"{esc(str(name))} {float(p):.2f}" for name, p in factors.items())
               if len(factors) > 1 else "")
    return (f'<div class="pc-gate"><b>Answer gate</b>: confidence {float(confidence):.2f}{product}{need}{verdict}'
            f'{absent}</div>')


def names_html(answer: Answer) -> str:
    """Papers the question called by name (title, name, alias), shown by title."""
    names = answer.trace.get("names") or []
    if not names:
        return ""
    titles = {s.paper_id: s.title for s in [*answer.sources, *answer.citations]}
    items = [f'“{esc(m.get("matched", ""))}” ({esc(m.get("how", ""))}) → '
             f'{esc(titles.get(m.get("paper_id"), "a paper not retrieved"))}' for m in names[:5]]
    return f'<div class="pc-names"><b>Names found</b>: {"; ".join(items)}</div>'


def filtered_html(answer: Answer) -> str:
    """How many sentences addressed to a model (instructions inside a paper's text) were left out; never quoted."""
    count = len(answer.trace.get("filtered_sentences") or [])
    if not count:
        return ""
    return (f'<div class="pc-filtered"><b>Filtered</b>: {count} sentence{"s" if count != 1 else ""} in the papers '
            'read as instructions to a model; left out of the answer and not shown</div>')


# ------------------------------------------------------------------------------------- banner


def banner_html(message: str | None) -> str:
    """A problem every question will meet (the paper store is unreachable), shown above the chat until fixed."""
    if not message:
        return ""
    return (f'<div class="pc-banner" role="alert"><b>The paper store is not reachable.</b> {esc(message)}'
            '<div class="pc-muted">Questions will work again as soon as it is back; nothing needs restarting.</div>'
            '</div>')


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
    """The conversation as Markdown, each answer followed by its reference list (titles linked)."""
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
            lines += [f"- {_md_link(s)}" for s in answer.sources[:CLOSEST]]
        lines += ["", f"_{answer.mode} · {answer.model}_"]
    return "\n".join(lines).rstrip() + "\n"


def _md_link(ref: PaperRef) -> str:
    """'[Title](https://doi.org/…)', or the title alone when the paper has no http(s) link."""
    title = re.sub(r"([\[\]])", r"\\\1", " ".join(ref.title.split()))
    link = _safe_url(ref.link)
    return f"[{title}]({link})" if link else title


def _reference_line(c: Citation) -> str:
    line = f"- [{c.n}] {_md_link(c)}"
    if by := byline(c, c.page):
        line += f" — {by}"
    if c.quote:
        line += f"\n  > {c.quote}"
    return line
