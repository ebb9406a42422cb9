"""The facade every front door calls: Assistant.ask() and Assistant.stream().

One `Session` record flows through the chain: condense (a follow-up becomes a standalone query) ->
retrieve (hybrid search under the metadata filter, papers the question names first) -> gate (a calibrated
model: can this evidence answer? its probability is the answer's confidence) -> generate (LLM, or offline
extractive; the LLM is called only after the gate passed) -> cite ([n] markers checked against the
evidence and renumbered). When the gate refuses, the answer says so (status not_found) and lists the
nearest papers as closest papers, never as citations. A question about metadata ("Which papers were
published in 2020?") is answered from the metadata: the matching papers, cited.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from langchain_core.embeddings import Embeddings

from paperchat.rag.citations import MARKER, StreamNumbering, resolve
from paperchat.rag.condense import Condensed, history_for_prompt, offline_condense
from paperchat.rag.errors import EmptyCollectionError, LLMError, PaperchatError
from paperchat.rag.extractive import Analysis, SentenceCache, analyse
from paperchat.rag.gate import GateModel, decide, features, load_model
from paperchat.rag.generate import EXTRACTIVE_MODEL, Draft, ExtractiveGenerator, LLMGenerator, WithFallback
from paperchat.rag.grounding import grounded_sentences
from paperchat.rag.ids import chunk_number
from paperchat.rag.llm import Deadline
from paperchat.rag.metadata import MetaFilter
from paperchat.rag.metaquery import parse as parse_metadata
from paperchat.rag.names import NameIndex
from paperchat.rag.retrieval import Retriever
from paperchat.rag.session import Mode, Session
from paperchat.rag.settings import Settings
from paperchat.rag.slots import Slot, wanted
from paperchat.rag.slots import found as slot_found
from paperchat.rag.text import (
    body_of,
    clean_text,
    is_instruction,
    merge_overlapping,
    neutralise_markers,
    split_sentences,
)
from paperchat.rag.types import Answer, Citation, Evidence, SearchHit, Source, StreamEvent, Turn

NOT_FOUND = "The collection does not say: none of its papers answers this question."
NO_MATCH = "No paper in the collection matches {filter}."
#: Papers a metadata answer lists (the count says how many more match).
MAX_LISTED = 25

__all__ = ["EXTRACTIVE_MODEL", "NOT_FOUND", "AnswerStream", "Assistant", "as_turns"]


def as_turns(history: Iterable[Any] | None) -> list[Turn]:
    """Accept Turn objects or {'role', 'content'} dicts (OpenAI / Gradio messages); text is cleaned. Anything
    else is a PaperchatError saying which message is wrong and what a message looks like."""
    if history is None:
        return []
    if isinstance(history, (str, bytes, dict)) or not isinstance(history, Iterable):
        raise PaperchatError('the history must be a list of {"role": "user"|"assistant", "content": str} messages, '
                             f"not {type(history).__name__}")
    turns = []
    for i, item in enumerate(history, 1):
        if isinstance(item, Turn):
            turn = item
        elif (isinstance(item, dict) and item.get("role") in ("user", "assistant")
              and isinstance(item.get("content"), str)):
            turn = Turn(role=item["role"], content=item["content"])
        else:
            raise PaperchatError(f'history message {i} is not {{"role": "user"|"assistant", "content": str}}')
        turns.append(Turn(role=turn.role, content=clean_text(turn.content)))
    return turns


class AnswerStream:
    """The answer as it is produced. Iterating yields `StreamEvent`s: a 'delta' is text to append to what is
    shown (its [n] markers already numbered as in the final answer); a 'reset' means clear what is shown
    (the LLM failed; the answer restarts offline, `text` says why). `answer()` finishes the stream if
    needed and returns the final Answer; show its `answer` text once it is there."""

    def __init__(self, events: Generator[StreamEvent, None, Answer]):
        self._events = events
        self._answer: Answer | None = None

    def __iter__(self) -> Iterator[StreamEvent]:
        if self._answer is not None:
            return
        try:
            while True:
                yield next(self._events)
        except StopIteration as done:
            self._answer = done.value

    def answer(self) -> Answer:
        for _ in self:
            pass
        assert self._answer is not None
        return self._answer


class Assistant:
    """Answers questions over one collection. Inject `embedder`/`llm` in tests; else from settings."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None, llm: Any = None,
                 retriever: Retriever | None = None, gate: GateModel | None = None):
        self.settings = settings
        self.retriever = retriever or Retriever(settings, embedder)
        self._llm = llm
        self.gate_model = gate or load_model()
        self.cache = SentenceCache(self.retriever.embedder)

    def close(self) -> None:
        """Release the store's connections."""
        self.retriever.close()

    # -- configuration ----------------------------------------------------------------------
    @property
    def llm_available(self) -> bool:
        return self._llm is not None or self.settings.llm_configured()

    @property
    def default_mode(self) -> Mode:
        return "llm" if self.llm_available else "extractive"

    @property
    def model_name(self) -> str:
        return self.settings.llm.model if self.default_mode == "llm" else EXTRACTIVE_MODEL

    def llm(self):
        if self._llm is None:
            from paperchat.rag.llm import make_chat_model

            self._llm = make_chat_model(self.settings)
        return self._llm

    def names(self, revision: str | None = None) -> NameIndex:
        """Titles, the names papers go by and the collection's acronyms (kept with the keyword index)."""
        return self.retriever.bm25(revision).names if self.retriever.store.exists else NameIndex()

    def titles(self, revision: str | None = None) -> dict[str, str]:
        return self.names(revision).titles

    def generator(self, mode: Mode):
        offline = ExtractiveGenerator(self.settings)
        return WithFallback(LLMGenerator(self.settings, self.llm), offline) if mode == "llm" else offline

    # -- the chain --------------------------------------------------------------------------
    def ask(self, question: str, history: Iterable[Any] | None = None, *, mode: Mode | None = None,
            k: int | None = None, temperature: float | None = None, where: MetaFilter | None = None) -> Answer:
        return self.stream(question, history, mode=mode, k=k, temperature=temperature, where=where).answer()

    def stream(self, question: str, history: Iterable[Any] | None = None, *, mode: Mode | None = None,
               k: int | None = None, temperature: float | None = None,
               where: MetaFilter | None = None) -> AnswerStream:
        """The answer as an `AnswerStream`. `temperature` overrides the LLM temperature for this answer."""
        session = self.start(question, history, mode=mode, k=k, temperature=temperature, where=where)
        return AnswerStream(self._run(session))

    def start(self, question: str, history: Iterable[Any] | None = None, *, mode: Mode | None = None,
              k: int | None = None, temperature: float | None = None, where: MetaFilter | None = None) -> Session:
        """A session for a question, its inputs checked (one clear error for each problem)."""
        if not isinstance(question, str):
            raise PaperchatError(f"the question must be text, not {type(question).__name__}")
        question = clean_text(question).strip()
        limit = self.settings.limits.max_question_chars
        if not question:
            raise PaperchatError("the question is empty")
        if len(question) > limit:
            raise PaperchatError(f"the question is {len(question):,} characters long; the limit is {limit:,} "
                                 "(setting PAPERCHAT_LIMITS__MAX_QUESTION_CHARS)")
        mode = mode or self.default_mode
        if mode not in ("llm", "extractive"):
            raise PaperchatError(f"unknown answer mode {mode!r}: use llm or extractive")
        if mode == "llm" and not self.llm_available:
            raise PaperchatError("--mode llm needs an OpenAI-compatible endpoint: set OPENAI_API_KEY, or "
                                 "PAPERCHAT_LLM__BASE_URL for a local server (Ollama, vLLM, llama.cpp, LM Studio)")
        store = self.retriever.store
        if not store.exists or not store.count():
            name = self.settings.collection
            raise EmptyCollectionError(
                f"the collection {name!r} is empty or does not exist: add papers with `paperchat ingest"
                f"{'' if name == 'papers' else ' --collection ' + name}` first")
        return Session(question=question, history=as_turns(history), mode=mode,
                       k=max(1, k or self.settings.retrieval.k), deadline=Deadline(self.settings.llm.timeout),
                       where=where if where is not None and not where.empty else None, temperature=temperature,
                       revision=store.revision())

    def prepare(self, session: Session) -> Session:
        """Everything before generation: condense, retrieve, analyse, gate (the evals train the gate on this)."""
        self._condense(session)
        session.clock.lap("condense_ms")
        self._retrieve(session)
        session.clock.lap("retrieve_ms")
        if session.meta and session.meta.only_metadata:
            return session
        self._analyse(session)
        session.clock.lap("analyse_ms")
        return session

    def _run(self, session: Session) -> Generator[StreamEvent, None, Answer]:
        self.prepare(session)
        if session.meta and session.meta.only_metadata:
            answer = self._metadata_answer(session)
        elif not session.evidence or not session.gate.passed:
            answer = self._not_found(session)
        else:
            answer = yield from self._generate(session)
        session.clock.lap("generate_ms")
        answer.timings_ms = session.clock.done()
        answer.trace = session.trace()
        if answer.status == "not_found":
            yield StreamEvent(kind="delta", text=answer.answer)
        session.answer = answer
        return answer

    # -- steps --------------------------------------------------------------------------------
    def _condense(self, session: Session) -> None:
        names = self.names(session.revision)
        session.condensed = offline_condense(session.question, session.history, names)
        if session.mode == "llm" and session.history:
            from paperchat.rag.llm import condense_llm

            try:
                query = condense_llm(self.llm(), session.question, history_for_prompt(session.history),
                                     session.deadline)
            except LLMError as exc:
                session.notices.append(f"{exc}; condensed the follow-up offline instead")
            else:
                session.condensed = Condensed(query, session.condensed.focus, True)
        index = self.retriever.bm25(session.revision)
        session.meta = parse_metadata(session.question, index.author_keys, index.venue_keys)

    def _retrieve(self, session: Session) -> None:
        found = self.retriever.rankings(session.standalone, session.applied_filter, session.revision,
                                        session.exclude)
        session.names, session.query = found.names, found.query
        session.hits = self.retriever.fuse(found, session.k)
        session.evidence = self._evidence(session.hits, session.condensed.focus, wanted(session.question))

    def _analyse(self, session: Session) -> None:
        index = self.retriever.bm25(session.revision)
        if session.evidence:
            query_vec = self.retriever.embedder.embed_query(session.standalone)
            seen = "\n".join(t.content for t in session.history if t.role == "assistant")
            top = max((m.score for m in session.names), default=0.0)
            named = {m.paper_id for m in session.names if m.score >= max(0.9, top)}  # the best-named only
            session.analysis = analyse(session.standalone, query_vec, session.evidence, self.cache, index.idf,
                                       index.known, set(session.condensed.focus), self.settings.answer, seen,
                                       session.question, named)
        else:
            session.analysis = Analysis()
        values, absent = features(session.question, session.query or session.standalone, session.hits,
                                  session.evidence, session.analysis, index.names, index.idf,
                                  self.settings.answer.gate_depth)
        session.gate = decide(values, absent, self.settings.answer.min_confidence, self.gate_model)

    def _evidence(self, hits: list[SearchHit], focus: list[str], slot: Slot | None = None) -> list[Evidence]:
        """The top papers as numbered passages, with the papers a follow-up points at always among them."""
        k = self.settings.answer.evidence_k
        chosen = hits[:k]
        have = {h.paper_id for h in chosen}
        missing = [pid for pid in focus if pid not in have]
        if missing:
            firsts = self.retriever.store.first_chunks(missing)
            extra = [SearchHit.from_record(firsts[p], score=0.0) for p in missing if p in firsts]
            chosen = extra + [h for h in chosen if h.paper_id not in missing][: k - len(extra)]
        passages = self._passages(chosen, slot)
        return [Evidence(**h.ref(), n=i, text=passages[h.paper_id][0], pages=passages[h.paper_id][1],
                         score=h.score, dense_score=h.dense_score) for i, h in enumerate(chosen, 1)]

    def _passages(self, hits: list[SearchHit],
                  slot: Slot | None = None) -> dict[str, tuple[str, list[tuple[int, int, int]]]]:
        """Each paper's passage and its page spans: the whole text when short (abstracts), else the best chunk
        and its neighbours plus the paper's second-best chunk (a full text's answer is often not next to the
        abstract that matched best), and, when the question asks for a detail of a kind (`rag.slots`) those do
        not state, the paper's chunk that states it best ("What hardware were the speedups measured on?": the
        setup section). Citation-like markers in paper text are neutralised."""
        chunks = self.retriever.store.paper_chunks([h.paper_id for h in hits])
        out = {}
        for hit in hits:
            records = chunks.get(hit.paper_id, [])
            if len(records) > self.settings.answer.max_passage_chunks:
                best = chunk_number(hit.chunk_id)
                second = {chunk_number(c) for c in hit.chunk_ids[1:2]}
                kept = [c for c in records if abs(c.index - best) <= 1 or c.index in second]
                if slot is not None and slot_found(slot, [c.text or "" for c in kept]) < 1.0:
                    fill, filler = max(((slot_found(slot, [c.text or ""]), c) for c in records),
                                       key=lambda fc: (fc[0], -fc[1].index))
                    if fill > 0.0 and filler not in kept:
                        kept = sorted([*kept, filler], key=lambda c: c.index)
                records = kept
            pieces = [neutralise_markers(body_of(c.text or "", hit.title)) for c in records] or \
                [neutralise_markers(body_of(hit.text, hit.title))]
            text = merge_overlapping(pieces)
            spans = []
            for record, piece in zip(records, pieces, strict=False):
                page = record.metadata.get("page_start")
                at = text.find(piece[:80])
                if page and at >= 0:
                    spans.append((at, at + len(piece), int(page)))
            out[hit.paper_id] = (text, spans)
        return out

    def _sources(self, session: Session) -> list[Source]:
        return [Source(**h.ref(), score=h.score) for h in session.hits]

    def _base(self, session: Session, mode: Mode, model: str) -> dict:
        applied = session.applied_filter
        return dict(question=session.question, standalone_question=session.standalone, sources=self._sources(session),
                    mode=mode, model=model, confidence=round(session.gate.confidence, 4) if session.gate else None,
                    filter=applied.model_dump() if applied else None,
                    notice="; ".join(session.notices) or None)

    def _not_found(self, session: Session, text: str = NOT_FOUND) -> Answer:
        model = self.settings.llm.model if session.mode == "llm" else EXTRACTIVE_MODEL
        applied = session.applied_filter
        if applied is not None and not session.hits:
            text = NO_MATCH.format(filter=f"the filter ({applied.describe()})")
        return Answer(**self._base(session, session.mode, model), answer=text, status="not_found")

    def _generate(self, session: Session) -> Generator[StreamEvent, None, Answer]:
        def numbered() -> StreamNumbering:
            return StreamNumbering({e.n for e in session.evidence}, [e.text for e in session.evidence])

        numbering = numbered()
        generator = self.generator(session.mode).generate(session)
        try:
            while True:
                event = next(generator)
                if event.kind == "reset":
                    numbering = numbered()
                    yield event
                elif shown := numbering.feed(event.text):
                    yield StreamEvent(kind="delta", text=shown)
        except StopIteration as done:
            draft: Draft = done.value
        if tail := numbering.flush():
            yield StreamEvent(kind="delta", text=tail)
        if draft.not_found:
            return self._not_found(session)
        return self._cite(session, draft)

    def _cite(self, session: Session, draft: Draft) -> Answer:
        text, citations = resolve(draft.text, session.evidence, draft.quotes)
        unsupported: list[str] = []
        if draft.mode == "llm":
            unsupported, text = self._unsupported(text, citations, session.evidence)
        return Answer(**self._base(session, draft.mode, draft.model), answer=text, status="answered",
                      citations=citations, unsupported=unsupported)

    def _unsupported(self, text: str, citations: list[Citation], evidence: list[Evidence]) -> tuple[list[str], str]:
        """LLM sentences the passage they cite does not support (or that cite nothing); their markers give way
        to a visible '[unsupported]', so no link vouches for them."""
        # sentences addressed to a model support nothing, and an answer sentence that is one is never supported
        passage = {e.paper_id: " ".join(s for s in split_sentences(e.text) if not is_instruction(s)) for e in evidence}
        lookup = {c.n: passage.get(c.paper_id) for c in citations}
        flagged = [s.sentence for s in grounded_sentences(text, lookup, self.cache)
                   if not s.supported or is_instruction(s.sentence)]
        for sentence in flagged:
            text = mark_unsupported(text, sentence)
        return flagged, text

    # -- metadata questions -------------------------------------------------------------------
    def _metadata_answer(self, session: Session) -> Answer:
        applied = session.applied_filter
        papers = self.retriever.store.papers(where=applied.chroma_where())
        papers.sort(key=lambda p: (-(p.year or 0), p.title.lower()))
        if not papers:
            return Answer(**self._base(session, "extractive", EXTRACTIVE_MODEL), status="not_found",
                          answer=NO_MATCH.format(filter=f"the filter ({applied.describe()})"), confidence=None)
        listed = papers[:MAX_LISTED]
        lines = [f"{len(papers)} paper{'s' if len(papers) != 1 else ''} in the collection match "
                 f"({applied.describe()}):"]
        citations = []
        for n, paper in enumerate(listed, 1):
            details = ", ".join(str(x) for x in (paper.year, paper.venue, "; ".join(paper.authors[:3])) if x)
            lines.append(f"- **{paper.title}**" + (f" ({details})" if details else "") + f" [{n}]")
            citations.append(Citation(n=n, title=paper.title, paper_id=paper.paper_id, url=paper.url, doi=paper.doi,
                                      arxiv_id=paper.arxiv_id, year=paper.year, authors=paper.authors,
                                      venue=paper.venue))
        if len(papers) > len(listed):
            lines.append(f"... and {len(papers) - len(listed)} more (narrow the filter to see them).")
        base = self._base(session, "extractive", EXTRACTIVE_MODEL)
        base.update(confidence=1.0)
        return Answer(**base, answer="\n".join(lines), status="answered", citations=citations)


_GAP = r"(?:\s|" + MARKER.pattern + r")*"


def mark_unsupported(text: str, sentence: str) -> str:
    """The answer with one sentence's [n] markers removed and '[unsupported]' after it."""
    tokens = re.findall(r"\w+|[^\w\s]", sentence)
    if not tokens:
        return text
    match = re.search(_GAP.join(re.escape(t) for t in tokens) + r"(?:\s*" + MARKER.pattern + r")*", text)
    if match is None:
        return text
    plain = " ".join(MARKER.sub("", match.group(0)).split())
    plain = re.sub(r"\s+([.,;:!?])", r"\1", plain)
    return text[: match.start()] + plain + " [unsupported]" + text[match.end():]
