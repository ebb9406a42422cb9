"""The facade every front door calls: Assistant.ask() and Assistant.stream().

question + history -> condense -> hybrid retrieval -> evidence [1..k] -> gate ->
generate (LLM, or offline extractive) -> citations. The gate decides whether the
evidence can answer at all; when it cannot, the answer says so (status not_found)
and lists the nearest papers as closest papers, never as citations.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from langchain_core.embeddings import Embeddings

from paperchat.rag.citations import has_markers, resolve
from paperchat.rag.condense import Condensed, TitleIndex, history_for_prompt, offline_condense
from paperchat.rag.errors import LLMError
from paperchat.rag.extractive import Analysis, SentenceCache, analyse, compose, gate_passes, select
from paperchat.rag.grounding import grounded_sentences
from paperchat.rag.ids import chunk_number
from paperchat.rag.metadata import MetaFilter
from paperchat.rag.prompts import CANNOT_ANSWER
from paperchat.rag.retrieval import Retriever
from paperchat.rag.settings import Settings
from paperchat.rag.text import body_of, merge_overlapping
from paperchat.rag.types import Answer, Evidence, SearchHit, Source, StreamEvent, Turn

Mode = Literal["llm", "extractive"]
NOT_FOUND = "The collection does not say: none of its papers answers this question."
EXTRACTIVE_MODEL = "offline extractive"


def as_turns(history: Iterable[Any] | None) -> list[Turn]:
    """Accept Turn objects or {'role', 'content'} dicts (OpenAI / Gradio messages)."""
    turns = []
    for item in history or []:
        turn = item if isinstance(item, Turn) else Turn.model_validate(
            {"role": item["role"], "content": item["content"]})
        turns.append(turn)
    return turns


class Assistant:
    """Answers questions over one collection. Inject `embedder`/`llm` in tests; else from settings."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None, llm: Any = None,
                 retriever: Retriever | None = None):
        self.settings = settings
        self.retriever = retriever or Retriever(settings, embedder)
        self._llm = llm
        self._titles: tuple[str, TitleIndex] | None = None
        self.cache = SentenceCache(self.retriever.embedder)

    def close(self) -> None:
        """Release the store's connections."""
        self.retriever.close()

    # -- configuration ----------------------------------------------------------------------
    @property
    def default_mode(self) -> Mode:
        return "llm" if self._llm is not None or self.settings.llm_configured() else "extractive"

    @property
    def model_name(self) -> str:
        return self.settings.llm.model if self.default_mode == "llm" else EXTRACTIVE_MODEL

    def llm(self):
        if self._llm is None:
            from paperchat.rag.llm import make_chat_model

            self._llm = make_chat_model(self.settings)
        return self._llm

    def titles(self) -> TitleIndex:
        revision = self.retriever.store.revision() if self.retriever.store.exists else ""
        if self._titles is None or self._titles[0] != revision:
            papers = self.retriever.store.papers() if revision else []
            self._titles = (revision, TitleIndex({p.paper_id: p.title for p in papers}))
        return self._titles[1]

    # -- the chain --------------------------------------------------------------------------
    def ask(self, question: str, history: Iterable[Any] | None = None, *, mode: Mode | None = None,
            k: int | None = None, temperature: float | None = None, where: MetaFilter | None = None) -> Answer:
        final = None
        for event in self.stream(question, history, mode=mode, k=k, temperature=temperature, where=where):
            if event.kind == "answer":
                final = event.answer
        assert final is not None
        return final

    def stream(self, question: str, history: Iterable[Any] | None = None, *, mode: Mode | None = None,
               k: int | None = None, temperature: float | None = None,
               where: MetaFilter | None = None) -> Iterator[StreamEvent]:
        """The answer as it is produced. Rules for a front end:

        - every 'delta' carries text to append to what is shown;
        - a 'reset' means: clear what is shown (the LLM failed; the answer restarts offline, `text` says why);
        - the final 'answer' event carries the Answer; show its `answer` instead of the streamed text
          (citation markers are renumbered once the whole text is known).
        `temperature` overrides the settings' LLM temperature for this answer (LLM mode only).
        """
        clock = _Clock()
        turns = as_turns(history)
        mode = mode or self.default_mode
        if mode == "llm" and self._llm is None and not self.settings.llm_configured():
            mode = "extractive"
        notice = None
        condensed = offline_condense(question, turns, self.titles())
        if mode == "llm" and turns:
            condensed, notice, mode = self._condense_llm(question, turns, condensed)
        clock.lap("condense_ms")
        hits, evidence, analysis = self.gather(question, turns, condensed, k, clock, where)
        base = dict(question=question, standalone_question=condensed.query,
                    sources=[Source(title=h.title, paper_id=h.paper_id, score=h.score, url=h.url) for h in hits])
        if not evidence or not gate_passes(analysis, self.settings.answer):
            yield from self._finish(self._not_found(base, mode, notice), clock)
            return
        if mode == "llm":
            answer = yield from self._generate_llm(base, condensed, evidence, analysis, notice, temperature)
        else:
            answer = yield from self._generate_extractive(base, evidence, analysis, notice)
        clock.lap("generate_ms")
        yield from self._finish(answer, clock)

    def gather(self, question: str, turns: list[Turn], condensed: Condensed, k: int | None = None,
               clock: _Clock | None = None, where: MetaFilter | None = None,
               ) -> tuple[list[SearchHit], list[Evidence], Analysis]:
        """Retrieve for the standalone query, number the evidence, and score its sentences (the gate's input)."""
        clock = clock or _Clock()
        hits = self.retriever.search(condensed.query, max(k or self.settings.retrieval.k, 1), where)
        evidence = self._evidence(hits, condensed.focus)
        clock.lap("retrieve_ms")
        seen = "\n".join(t.content for t in turns if t.role == "assistant")
        analysis = self._analyse(condensed, evidence, seen, question)
        clock.lap("analyse_ms")
        return hits, evidence, analysis

    def _condense_llm(self, question: str, turns: list[Turn], offline: Condensed):
        from paperchat.rag.llm import condense_llm

        try:
            query = condense_llm(self.llm(), question, history_for_prompt(turns))
        except LLMError as exc:
            return offline, f"{exc}; answered offline instead", "extractive"
        return Condensed(query, offline.focus, True), None, "llm"

    def _evidence(self, hits: list[SearchHit], focus: list[str]) -> list[Evidence]:
        """The top papers as numbered passages, with the papers a follow-up points at always among them."""
        k = self.settings.answer.evidence_k
        chosen = hits[:k]
        have = {h.paper_id for h in chosen}
        missing = [pid for pid in focus if pid not in have]
        if missing:
            chosen = self._fetch(missing) + [h for h in chosen if h.paper_id not in missing][: k - len(missing)]
        texts = self._passages(chosen)
        return [
            Evidence(n=i, paper_id=h.paper_id, title=h.title, text=texts.get(h.paper_id) or body_of(h.text, h.title),
                     url=h.url, score=h.score, dense_score=h.dense_score)
            for i, h in enumerate(chosen, 1)
        ]

    def _passages(self, hits: list[SearchHit]) -> dict[str, str]:
        """Each paper's passage: its whole text when short (abstracts), else the best chunk and its neighbours."""
        chunks = self.retriever.store.paper_chunks([h.paper_id for h in hits])
        out = {}
        for hit in hits:
            pieces = [(c.index, body_of(c.text or "", hit.title)) for c in chunks.get(hit.paper_id, [])]
            if len(pieces) > self.settings.answer.max_passage_chunks:
                best = chunk_number(hit.chunk_id)
                pieces = [p for p in pieces if abs(p[0] - best) <= 1]
            out[hit.paper_id] = merge_overlapping([text for _, text in pieces])
        return out

    def _fetch(self, paper_ids: list[str]) -> list[SearchHit]:
        found = self.retriever.store.first_chunks(paper_ids)
        return [SearchHit.from_record(found[pid], score=0.0) for pid in paper_ids if pid in found]

    def _analyse(self, condensed: Condensed, evidence: list[Evidence], seen: str = "", asked: str = "") -> Analysis:
        if not evidence:
            return Analysis()
        query_vec = self.retriever.embedder.embed_query(condensed.query)
        index = self.retriever.bm25()
        return analyse(condensed.query, query_vec, evidence, self.cache, index.idf, index.known,
                       set(condensed.focus), self.settings.answer, seen, asked)

    def _not_found(self, base: dict, mode: Mode, notice: str | None) -> Answer:
        model = self.settings.llm.model if mode == "llm" else EXTRACTIVE_MODEL
        return Answer(**base, answer=NOT_FOUND, status="not_found", mode=mode, model=model, notice=notice)

    def _generate_extractive(self, base: dict, evidence: list[Evidence], analysis: Analysis,
                             notice: str | None):
        chosen = select(analysis, self.settings.answer)
        raw = compose(chosen, {e.n: e.title for e in evidence})
        quotes: dict[int, str] = {}  # each paper's best-scoring quoted sentence supports its citation
        for sentence in sorted(chosen, key=lambda s: -s.score):
            quotes.setdefault(sentence.n, sentence.text)
        text, citations = resolve(raw, evidence, quotes)
        for line in text.splitlines(keepends=True):
            yield StreamEvent(kind="delta", text=line)
        return Answer(**base, answer=text, status="answered", citations=citations, mode="extractive",
                      model=EXTRACTIVE_MODEL, notice=notice)

    def _generate_llm(self, base: dict, condensed: Condensed, evidence: list[Evidence], analysis: Analysis,
                      notice: str | None, temperature: float | None = None):
        from paperchat.rag.llm import pack_evidence, stream_answer

        packed = pack_evidence(evidence, self.settings.llm.context_tokens)
        model = self.llm() if temperature is None else self.llm().bind(temperature=temperature)
        text, shown = "", False
        try:
            for piece in stream_answer(model, condensed.query, packed):
                text += piece
                if shown or not CANNOT_ANSWER.startswith(text.strip()[: len(CANNOT_ANSWER)]):
                    yield StreamEvent(kind="delta", text=text if not shown else piece)
                    shown = True
        except LLMError as exc:
            return (yield from self._fallback(base, evidence, analysis, shown, f"{exc}; answered offline instead"))
        if text.strip().startswith(CANNOT_ANSWER) or not text.strip():
            if not text.strip():
                return (yield from self._fallback(base, evidence, analysis, shown,
                                                  "the LLM returned an empty answer; answered offline instead"))
            if shown:
                yield StreamEvent(kind="reset", text="")
            return self._not_found(base, "llm", notice)
        if not has_markers(text):
            return (yield from self._fallback(base, evidence, analysis, shown,
                                              "the LLM answer cited no evidence; answered offline instead"))
        clean, citations = resolve(text, evidence)
        if not citations:
            return (yield from self._fallback(base, evidence, analysis, shown,
                                              "the LLM cited passages that do not exist; answered offline instead"))
        return Answer(**base, answer=clean, status="answered", citations=citations, mode="llm",
                      model=self.settings.llm.model, notice=notice,
                      unsupported=self._unsupported(clean, citations, evidence))

    def _unsupported(self, text: str, citations: list, evidence: list[Evidence]) -> list[str]:
        """LLM sentences that the passage they cite does not support (or that cite nothing)."""
        passage = {e.paper_id: e.text for e in evidence}
        lookup = {c.n: passage.get(c.paper_id) for c in citations}
        return [s.sentence for s in grounded_sentences(text, lookup, self.cache) if not s.supported]

    def _fallback(self, base, evidence, analysis, shown: bool, notice: str):
        if shown:
            yield StreamEvent(kind="reset", text=notice)
        return (yield from self._generate_extractive(base, evidence, analysis, notice))

    def _finish(self, answer: Answer, clock: _Clock) -> Iterator[StreamEvent]:
        answer.timings_ms = clock.done()
        if answer.status == "not_found":
            yield StreamEvent(kind="delta", text=answer.answer)
        yield StreamEvent(kind="answer", answer=answer)


class _Clock:
    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(1000 * (now - self.last), 1)
        self.last = now

    def done(self) -> dict[str, float]:
        return {**self.laps, "total_ms": round(1000 * (time.perf_counter() - self.start), 1)}
