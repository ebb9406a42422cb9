"""Sentence-level evidence analysis: the offline summariser and the features the answer gate uses.

Every sentence of the evidence is scored against the question: cosine similarity of
their embeddings, plus the IDF-weighted share of the question's content terms the
sentence contains, plus a bonus for papers the conversation points at. The best
sentences become the offline answer, quoted verbatim (numbers included) with [n].
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
from langchain_core.embeddings import Embeddings

from paperchat.rag.settings import AnswerSettings
from paperchat.rag.text import acronyms, asked_terms, content_terms, split_sentences
from paperchat.rag.types import Evidence

_NUMERIC_Q = re.compile(
    r"\bhow (?:much|many|long|large|big|fast|often)\b|\bby what (?:factor|margin)\b|\bwhat (?:is |was |were |are )?"
    r"(?:the )?(?:\w+ )?(?:rate|accuracy|percentage|speed-?up|score|number|size|cost|error|throughput|latency|"
    r"gain|reduction|improvement)s?\b",
    re.I,
)
_MULTI_RE = re.compile(
    r"\b(papers|works|studies|articles|methods|approaches|techniques|which of|compare|comparison|"
    r"each|both|several|various|different|list|any)\b",
    re.I,
)


@dataclass
class Scored:
    n: int
    index: int  # position of the sentence in its passage
    text: str
    similarity: float
    coverage: float
    score: float


@dataclass
class Analysis:
    """The scored sentences and the gate's features."""

    sentences: list[Scored] = field(default_factory=list)
    best_similarity: float = 0.0
    coverage: float = 0.0  # IDF-weighted share of question terms found in the best passage
    asked_coverage: float | None = None  # the same for what a wh-question asks for ('learning rate')
    unknown_share: float = 0.0  # IDF-weighted share of question terms the collection never uses
    multi: bool = False


class SentenceCache:
    """Sentence embeddings by text: the same abstracts come back across questions."""

    def __init__(self, embedder: Embeddings, size: int = 20000):
        self.embedder = embedder
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vec in zip(missing, self.embedder.embed_documents(missing)):
                self._cache[text] = np.asarray(vec, dtype=np.float32)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1), np.float32)


def _expand(passage: set[str], raw_words: set[str], question: str) -> set[str]:
    """Terms covered through an acronym the passage uses ('WERs' covers word, error, rate)."""
    extra = set()
    for acronym, terms in acronyms(question).items():
        if acronym in raw_words or acronym + "s" in raw_words:
            extra.update(terms)
    return passage | extra


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z0-9]+", text.lower()))


def short_name(title: str) -> str | None:
    """The name a paper goes by: 'GaLore' in 'GaLore: Memory-Efficient LLM Training ...' (at most 4 words)."""
    head, sep, _ = title.partition(":")
    return head.strip() if sep and 0 < len(head.split()) <= 4 else None


def names_paper(question: str, title: str) -> bool:
    """Whether the question calls the paper by its name ('How does GaLore ...' names GaLore, not Natural GaLore)."""
    name = short_name(title)
    return bool(name) and re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", question, re.I) is not None


def _coverage(terms: list[str], text_terms: set[str], idf) -> float:
    if not terms:
        return 0.0
    total = sum(idf(t) for t in terms)
    return sum(idf(t) for t in terms if t in text_terms) / total if total else 0.0


def analyse(question: str, query_vec, evidence: list[Evidence], cache: SentenceCache, idf, known,
            focus: set[str], cfg: AnswerSettings, seen: str = "", asked: str = "") -> Analysis:
    """Score every evidence sentence against the question.

    Besides similarity and term coverage, a sentence loses a little for its paper's rank, and loses
    when the conversation already showed it (`seen`: earlier answers), so a follow-up adds news. A paper
    the person's own question (`asked`, before condensing) calls by name gains a bonus.
    """
    terms = content_terms(question)
    rows: list[tuple[Evidence, int, str]] = [
        (ev, i, s) for ev in evidence for i, s in enumerate(split_sentences(ev.text))
    ]
    if not rows:
        return Analysis(multi=bool(_MULTI_RE.search(question)))
    vectors = cache.embed([s for _, _, s in rows])
    q = np.asarray(query_vec, dtype=np.float32)
    sims = vectors @ q / max(float(np.linalg.norm(q)), 1e-9)
    named = {ev.n for ev in evidence if names_paper(asked or question, ev.title)}
    numeric = bool(_NUMERIC_Q.search(asked or question))
    scored = []
    for (ev, i, text), sim in zip(rows, sims):
        cov = _coverage(terms, set(content_terms(ev.title + " " + text)), idf)
        score = (float(sim) + cfg.lexical_weight * cov - cfg.rank_penalty * (ev.n - 1)
                 + (cfg.focus_bonus if ev.paper_id in focus else 0.0)
                 + (cfg.name_bonus if ev.n in named else 0.0)
                 + (cfg.number_bonus if numeric and re.search(r"\d", text) else 0.0)
                 - (cfg.repeat_penalty if text in seen else 0.0))
        scored.append(Scored(ev.n, i, text, float(sim), cov, score))
    passages = [_expand(set(content_terms(ev.title + " " + ev.text)), _words(ev.text), question)
                for ev in evidence[: cfg.gate_depth]]
    best = max(passages, key=lambda p: _coverage(terms, p, idf))
    asked = asked_terms(question)
    return Analysis(
        sentences=sorted(scored, key=lambda s: -s.score),
        best_similarity=max(s.similarity for s in scored if s.n <= cfg.gate_depth),
        coverage=_coverage(terms, best, idf),
        asked_coverage=_coverage(asked, best, idf) if asked else None,
        unknown_share=_coverage(terms, {t for t in terms if not known(t)}, idf),
        multi=bool(_MULTI_RE.search(question)),
    )


def gate_passes(analysis: Analysis, cfg: AnswerSettings) -> bool:
    """The answer gate: can this evidence answer the question? (thresholds tuned by evals.tune_answer)"""
    return (
        analysis.best_similarity >= cfg.min_similarity
        and analysis.coverage >= cfg.min_coverage
        and (analysis.asked_coverage is None or analysis.asked_coverage >= cfg.min_asked_coverage)
        and analysis.unknown_share <= cfg.max_unknown_share
    )


def select(analysis: Analysis, cfg: AnswerSettings) -> list[Scored]:
    """2-6 sentences: from one paper for a single-paper question, spread over papers for a multi one."""
    ranked = analysis.sentences
    if not ranked:
        return []
    top = ranked[0].score
    if analysis.multi:
        close = [s.n for s in ranked if s.score >= top - cfg.multi_paper_margin]
        papers = list(dict.fromkeys(close))[: cfg.max_papers]
        per_paper = max(1, cfg.max_sentences // len(papers))
    else:  # the best sentence's paper (measured on the dev set: better than the best retrieved paper)
        papers = [ranked[0].n]
        per_paper = cfg.single_max_sentences
    chosen: list[Scored] = []
    for n in papers:
        mine = [s for s in ranked if s.n == n and s.score >= top - cfg.sentence_margin][:per_paper]
        chosen.extend(mine or [next(s for s in ranked if s.n == n)])
    if len(chosen) < cfg.min_sentences:
        extra = [s for s in ranked if s.n in papers and s not in chosen]
        chosen.extend(extra[: cfg.min_sentences - len(chosen)])
    chosen = chosen[: cfg.max_sentences]
    order = {n: i for i, n in enumerate(papers)}
    return sorted(chosen, key=lambda s: (order[s.n], s.index))


def compose(chosen: list[Scored], titles: dict[int, str]) -> str:
    """The offline answer: each paper's sentences verbatim, each followed by its [n]."""
    groups: OrderedDict[int, list[str]] = OrderedDict()
    for s in chosen:
        groups.setdefault(s.n, []).append(f"{s.text} [{s.n}]")
    if len(groups) == 1:
        (n, sentences), = groups.items()
        return f"**{titles[n]}**: " + " ".join(sentences)
    return "\n".join(f"- **{titles[n]}**: " + " ".join(sentences) for n, sentences in groups.items())
