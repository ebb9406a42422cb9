"""Sentence-level evidence analysis and the offline (extractive) answer.

Every sentence of the evidence is scored against the question and against each of its asks (a multi-part
question has two): cosine similarity of their embeddings, plus the IDF-weighted share of the question's
content terms the sentence contains, plus bonuses for papers the question calls by name or a follow-up
points at, and a bonus for sentences with numbers when the question asks how much. Sentences addressed to a
model (injected instructions) and boilerplate ("Code is available at ...") are never candidates; the
instructions are kept in the analysis so the trace can show them as filtered.

The offline answer quotes the best sentences verbatim (numbers included), each with its [n]: the sentence
that answers first, then the others in the paper's order; for "which papers" questions every paper whose
best sentence is close to the best one, and no paper that does not reach the question's terms.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from langchain_core.embeddings import Embeddings

from paperchat.rag.settings import AnswerSettings
from paperchat.rag.slots import Slot
from paperchat.rag.slots import found as slot_found
from paperchat.rag.slots import wanted as slot_wanted
from paperchat.rag.text import (
    acronyms,
    asked_terms,
    content_terms,
    is_boilerplate,
    is_instruction,
    split_asks,
    split_sentences,
)
from paperchat.rag.types import Evidence

NUMERIC_QUESTION = re.compile(
    r"\bhow (?:much|many|long|large|big|fast|often|far)\b|\bby (?:how much|what (?:factor|margin))\b"
    r"|\bwhat (?:is |was |were |are )?(?:the )?(?:\w+ )?(?:rate|accuracy|percentage|speed-?up|score|number|size|"
    r"cost|error|throughput|latency|gain|reduction|improvement|ratio|count)s?\b",
    re.I,
)
MULTI_QUESTION = re.compile(
    r"\b(papers|works|studies|articles|methods|approaches|techniques|which of|compare|comparison|"
    r"both|several|various|list|any)\b",
    re.I,
)
_NUMBER = re.compile(r"\d")
#: A sentence that states a result: a number with a word of change or comparison ('cuts memory by 65%').
_RESULT = re.compile(r"\b(?:improv|reduc|outperform|faster|speed|fewer|less|lower|higher|better|achiev|reach|sav|"
                     r"cut|decreas|increas|surpass|match|exceed|boost|gain|drop)\w*|%|×", re.I)


@dataclass
class Scored:
    n: int
    index: int  # position of the sentence in its passage
    text: str
    similarity: float  # with the whole question
    coverage: float
    score: float
    ask_scores: list[float] = field(default_factory=list)  # the score against each ask
    fills: float = 0.0  # `slots.found` for the question's detail slot: 1 names one next to what is asked, 0.5 apart

    @property
    def numeric(self) -> bool:
        return bool(_NUMBER.search(self.text))


@dataclass
class Analysis:
    """The scored sentences, what was filtered out, and the features the answer gate reads."""

    sentences: list[Scored] = field(default_factory=list)
    asks: list[str] = field(default_factory=list)
    filtered: list[str] = field(default_factory=list)  # sentences addressed to a model, never quoted
    best_similarity: float = 0.0
    coverage: float = 0.0  # IDF-weighted share of question terms found in the best passage
    asked_coverage: float | None = None  # the same for what a wh-question asks for ('learning rate')
    unknown_share: float = 0.0  # IDF-weighted share of question terms the collection never uses
    paper_coverage: dict[int, float] = field(default_factory=dict)  # per evidence n
    multi: bool = False
    numeric: bool = False
    named: set[int] = field(default_factory=set)  # evidence numbers of papers the question calls by name
    slot: Slot | None = None  # the detail of a kind the question asks for (not a bare number: `numeric` does that)


#: Slot kinds whose filler the answer must show; a bare number is the numeric rule's.
_SHOWN_SLOTS = frozenset({"hardware", "institution", "money", "time", "metric", "size", "dataset", "named"})


class SentenceCache:
    """Sentence embeddings by text: the same abstracts come back across questions."""

    def __init__(self, embedder: Embeddings, size: int = 20000):
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Rows for `texts` in order; the least recently used entries leave once the cache is full."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vec in zip(missing, self.embedder.embed_documents(missing), strict=True):
                self._cache[text] = np.asarray(vec, dtype=np.float32)
        for text in dict.fromkeys(texts):
            self._cache.move_to_end(text)
        out = np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)
        while len(self._cache) > max(self.size, len(set(texts))):
            self._cache.popitem(last=False)
        return out


def _expand(passage: set[str], raw_words: set[str], question: str) -> set[str]:
    """Terms covered through an acronym the passage uses ('WERs' covers word, error, rate)."""
    extra = set()
    for acronym, terms in acronyms(question).items():
        if acronym in raw_words or acronym + "s" in raw_words:
            extra.update(terms)
    return passage | extra


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z0-9]+", text.lower()))


def coverage(terms: list[str], text_terms: set[str], idf) -> float:
    """IDF-weighted share of `terms` found in `text_terms`."""
    if not terms:
        return 0.0
    total = sum(idf(t) for t in terms)
    return sum(idf(t) for t in terms if t in text_terms) / total if total else 0.0


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9, None)


def analyse(question: str, query_vec, evidence: list[Evidence], cache: SentenceCache, idf, known,
            focus: set[str], cfg: AnswerSettings, seen: str = "", asked: str = "",
            named: set[str] | None = None) -> Analysis:
    """Score every evidence sentence against the (standalone) question and its asks.

    `asked` is the person's own question before condensing (names and asks are read from it when given);
    `seen` the earlier answers (their sentences lose a little, so a follow-up adds news); `named` the paper
    ids the question calls by name (found by the name index); `focus` those a follow-up points back at.
    """
    own = asked or question
    terms = content_terms(question)
    asks = split_asks(own)
    rows: list[tuple[Evidence, int, str]] = []
    filtered: list[str] = []
    for ev in evidence:
        for i, sentence in enumerate(split_sentences(ev.text)):
            if is_instruction(sentence):
                filtered.append(sentence)
            elif not is_boilerplate(sentence):
                rows.append((ev, i, sentence))
    named_n = {ev.n for ev in evidence if ev.paper_id in (named or set())}
    base = Analysis(asks=asks, filtered=filtered, multi=bool(MULTI_QUESTION.search(own)),
                    numeric=bool(NUMERIC_QUESTION.search(own)), named=named_n)
    slot = slot_wanted(own) if cfg.slot_sentence else None
    base.slot = slot if slot is not None and slot.kind in _SHOWN_SLOTS else None
    if not rows:
        return base
    vectors = _unit(cache.embed([s for _, _, s in rows]))
    q = _unit(np.asarray(query_vec, dtype=np.float32))
    sims = vectors @ q
    ask_vecs = _unit(cache.embed(asks)) if len(asks) > 1 else q[None, :]
    ask_sims = vectors @ ask_vecs.T
    ask_terms = [content_terms(a) for a in asks] if len(asks) > 1 else [terms]
    scored = []
    for row, ((ev, i, text), sim) in enumerate(zip(rows, sims, strict=True)):
        sentence_terms = set(content_terms(ev.title + " " + text))
        cov = coverage(terms, sentence_terms, idf)
        bonus = (-cfg.rank_penalty * (ev.n - 1) + (cfg.focus_bonus if ev.paper_id in focus else 0.0)
                 + (cfg.name_bonus if ev.n in named_n else 0.0)
                 + (cfg.number_bonus if base.numeric and _NUMBER.search(text) else 0.0)
                 - (cfg.repeat_penalty if text in seen else 0.0))
        per_ask = [float(ask_sims[row, a]) + cfg.lexical_weight * coverage(ask_terms[a], sentence_terms, idf) + bonus
                   for a in range(len(ask_terms))]
        scored.append(Scored(ev.n, i, text, float(sim), cov, float(sim) + cfg.lexical_weight * cov + bonus,
                             per_ask, slot_found(base.slot, [text]) if base.slot is not None else 0.0))
    passages = {ev.n: _expand(set(content_terms(ev.title + " " + ev.text)), _words(ev.text), question)
                for ev in evidence}
    gate = [passages[ev.n] for ev in evidence[: cfg.gate_depth]]
    best = max(gate, key=lambda p: coverage(terms, p, idf)) if gate else set()
    wanted = asked_terms(question)
    base.sentences = sorted(scored, key=lambda s: -s.score)
    base.best_similarity = max((s.similarity for s in scored if s.n <= cfg.gate_depth), default=0.0)
    base.coverage = coverage(terms, best, idf)
    base.asked_coverage = max(coverage(wanted, p, idf) for p in gate) if wanted and gate else None
    base.unknown_share = coverage(terms, {t for t in terms if not known(t)}, idf)
    base.paper_coverage = {n: coverage(terms, p, idf) for n, p in passages.items()}
    return base


def select(analysis: Analysis, cfg: AnswerSettings) -> list[Scored]:
    """The sentences of the offline answer, in the order they are shown."""
    ranked = analysis.sentences
    if not ranked:
        return []
    if analysis.multi and not analysis.named:
        return _select_papers(analysis, cfg)
    return _select_one(analysis, cfg)


def _best(candidates: list[Scored], key) -> Scored | None:
    return max(candidates, key=key, default=None)


def _select_one(analysis: Analysis, cfg: AnswerSettings) -> list[Scored]:
    """One paper (the one the question names, else the best sentence's), one sentence for each ask first."""
    ranked = analysis.sentences
    if analysis.named:
        paper = max(analysis.named, key=lambda n: max((s.score for s in ranked if s.n == n), default=-9))
    else:
        paper = ranked[0].n
    mine = [s for s in ranked if s.n == paper]
    chosen: list[Scored] = []
    for a in range(len(mine[0].ask_scores) if mine else 0):
        top = _best(mine, lambda s, a=a: s.ask_scores[a])
        if analysis.numeric and top is not None and not top.numeric:
            close = [s for s in mine if s.numeric and s.ask_scores[a] >= top.ask_scores[a] - cfg.sentence_margin]
            numeric = _best(close, lambda s, a=a: s.ask_scores[a])
            top = numeric or top
        if top is not None and top not in chosen:
            chosen.append(top)
    if analysis.slot is not None:  # the detail asked for: the best sentence naming one, unless one chosen does as well
        most = max((s.fills for s in mine), default=0.0)
        if most > max((s.fills for s in chosen), default=0.0):
            chosen.append(_best([s for s in mine if s.fills == most], lambda s: s.score))
    lead = chosen[0] if chosen else mine[0]
    limit = max(cfg.single_max_sentences, len(chosen))
    for s in mine:
        if len(chosen) >= limit:
            break
        if s not in chosen and s.score >= mine[0].score - cfg.sentence_margin:
            chosen.append(s)
    if cfg.result_sentence and len(chosen) < limit:  # what the paper achieves, said with its number
        result = next((s for s in mine if s not in chosen and _NUMBER.search(s.text) and _RESULT.search(s.text)),
                      None)
        if result is not None:
            chosen.append(result)
    for s in mine:  # at least min_sentences, when the paper has them
        if len(chosen) >= min(cfg.min_sentences, limit):
            break
        if s not in chosen:
            chosen.append(s)
    rest = sorted((s for s in chosen if s is not lead), key=lambda s: s.index)
    return [lead, *rest][: max(cfg.max_sentences, len(analysis.asks))]


def _select_papers(analysis: Analysis, cfg: AnswerSettings) -> list[Scored]:
    """'Which papers ...': every paper whose best sentence is within the margin of the best and whose passage
    reaches enough of the question's terms, best paper first; its best sentence (a numeric one for a
    how-much question) and a second one when the margin allows."""
    ranked = analysis.sentences
    top = ranked[0].score
    floor = cfg.min_paper_coverage * max(analysis.paper_coverage.values(), default=0.0)
    papers: list[int] = []
    for s in ranked:
        if s.score < top - cfg.multi_paper_margin or len(papers) >= cfg.max_papers:
            break
        if s.n not in papers and analysis.paper_coverage.get(s.n, 0.0) >= floor:
            papers.append(s.n)
    if len(papers) <= 1:  # one paper stands out: answer from it as a single-paper question would
        return _select_one(analysis, cfg)
    per_paper = max(1, cfg.max_sentences // len(papers))
    chosen: list[Scored] = []
    for n in papers:
        mine = [s for s in ranked if s.n == n]
        first = mine[0]
        if analysis.numeric and not first.numeric:
            first = next((s for s in mine if s.numeric and s.score >= mine[0].score - cfg.sentence_margin), first)
        picked = [first] + [s for s in mine if s is not first and s.score >= top - cfg.sentence_margin][
            : per_paper - 1]
        chosen += picked
    return chosen[: cfg.max_sentences]


def compose(chosen: list[Scored], titles: dict[int, str]) -> str:
    """The offline answer: each paper's sentences verbatim, each followed by its [n]."""
    groups: OrderedDict[int, list[str]] = OrderedDict()
    for s in chosen:
        groups.setdefault(s.n, []).append(f"{s.text} [{s.n}]")
    if len(groups) == 1:
        (n, sentences), = groups.items()
        return f"**{titles[n]}**: " + " ".join(sentences)
    return "\n".join(f"- **{titles[n]}**: " + " ".join(sentences) for n, sentences in groups.items())
