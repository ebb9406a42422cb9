"""Typed records that flow through paperchat: papers, chunks, search hits, answers."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator


class PageText(BaseModel):
    """The text of one page of a full-text file (a PDF), as extracted and cleaned."""

    page: int = Field(ge=1, description="1-based page number")
    text: str


def _clean(value):
    """Strings (also inside lists and dicts) with lone surrogates as U+FFFD and control characters dropped."""
    from paperchat.rag.text import clean_text

    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


class Paper(BaseModel):
    """One paper as read from a source file, before chunking. Its text is cleaned on the way in (a lone
    surrogate from JSON's "\\ud800" would break the tokenizer), whichever reader made it."""

    @model_validator(mode="before")
    @classmethod
    def _clean_text(cls, data):
        return _clean(data) if isinstance(data, dict) else data

    id: str = Field(description="DOI, arXiv id, the source's own id or citation key, or a hash of the title")
    title: str
    abstract: str = Field("", description="The abstract (or a record's body text); empty for a title-only entry")
    authors: list[str] = Field(default_factory=list, description="Display names, 'First Last'")
    year: int | None = None
    url: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    venue: str | None = Field(None, description="Journal, proceedings or conference")
    categories: list[str] = Field(default_factory=list, description="arXiv categories or a library's keywords")
    citation_key: str | None = Field(None, description="The key of a BibTeX entry (or a RIS/CSL id)")
    bibtex: str | None = Field(None, description="The original BibTeX entry, when the paper came from a .bib file")
    pages: list[PageText] = Field(default_factory=list, description="Full text page by page (PDFs)")
    file: str | None = Field(None, description="A full-text file (PDF) the record points to")
    source: str = Field(default="", description="The file the paper was read from")
    line: int | None = Field(default=None, description="Line (or row) in the source file")


class Chunk(BaseModel):
    """A piece of a paper's text, prefixed by its title, as embedded and indexed."""

    id: str
    paper_id: str
    index: int
    text: str
    metadata: dict[str, str | int | float | bool | list[str]]


class SearchHit(BaseModel):
    """One paper found by search: the best matching chunk and its scores."""

    paper_id: str
    title: str
    score: float = Field(description="Fused score (higher is better)")
    text: str = Field(description="The best matching chunk's text")
    chunk_id: str
    url: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    year: int | None = None
    authors: list[str] = Field(default_factory=list)
    venue: str | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    name_match: str | None = Field(None, description="How the query named the paper (title, name, alias, fuzzy)")
    page_start: int | None = Field(None, description="First page of the best chunk (full-text papers)")
    page_end: int | None = None
    chunk_ids: list[str] = Field(default_factory=list, description="The paper's best chunks, best first (the "
                                 "passage of a long paper is built from them)")

    @classmethod
    def from_record(cls, record, score: float, **ranks) -> SearchHit:
        """A hit from a stored chunk (`rag.store.ChunkRecord`) and its scores."""
        meta = record.metadata
        year = meta.get("year")
        return cls(paper_id=record.paper_id, title=record.title, score=score, text=record.text or "",
                   chunk_id=record.id, url=meta.get("url"), doi=meta.get("doi"), arxiv_id=meta.get("arxiv_id"),
                   year=year if isinstance(year, int) else None,
                   authors=[a for a in str(meta.get("authors") or "").split("; ") if a], venue=meta.get("venue"),
                   page_start=meta.get("page_start"), page_end=meta.get("page_end"), **ranks)

    def ref(self) -> dict:
        """The paper fields a citation or source copies."""
        return {k: getattr(self, k) for k in PaperRef.model_fields}


class PaperRef(BaseModel):
    """What a citation, a source and a piece of evidence say about their paper (for links and BibTeX)."""

    title: str
    paper_id: str
    url: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    year: int | None = None
    authors: list[str] = Field(default_factory=list)
    venue: str | None = None

    @property
    def link(self) -> str | None:
        """Where a reader checks the paper: its DOI, else its arXiv page, else its own URL."""
        if self.doi:
            return f"https://doi.org/{self.doi}"
        if self.arxiv_id:
            return f"https://arxiv.org/abs/{self.arxiv_id}"
        return self.url

    def ref(self) -> dict:
        """The paper fields alone (what a citation or a source copies)."""
        return {k: getattr(self, k) for k in PaperRef.model_fields}


class Citation(PaperRef):
    n: int
    quote: str = ""
    page: int | None = Field(None, description="The page the quote is on (full-text papers)")


class Source(PaperRef):
    score: float


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class Answer(BaseModel):
    """What every front door renders: the answer text with [n] markers and its citations."""

    question: str
    standalone_question: str
    answer: str
    status: Literal["answered", "not_found"]
    citations: list[Citation] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)
    mode: Literal["llm", "extractive"]
    model: str
    confidence: float | None = Field(None, description="The answer gate's probability that the evidence answers "
                                     "the question (calibrated; the answer is given at answer.min_confidence)")
    filter: dict | None = Field(None, description="The metadata filter applied: given, or parsed from the question")
    notice: str | None = Field(default=None, description="e.g. fell back to offline mode")
    unsupported: list[str] = Field(
        default_factory=list, description="Answer sentences the passage they cite does not support (LLM mode)"
    )
    trace: dict = Field(default_factory=dict, description="How the answer was made: names found, gate features, "
                        "filtered sentences, the raw LLM text")
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Evidence(PaperRef):
    """A retrieved passage as numbered in the prompt and the answer: [n]."""

    n: int
    text: str = Field(description="The passage without its title line; citation-like markers in it neutralised")
    score: float = 0.0
    dense_score: float | None = None
    pages: list[tuple[int, int, int]] = Field(default_factory=list, description="(start, end, page) character "
                                              "spans of the text, for full-text passages")

    def page_of(self, quote: str) -> int | None:
        """The page a quoted sentence of this passage is on (None for abstracts)."""
        if not self.pages:
            return None
        at = self.text.find(quote)
        if at < 0 and quote.split():  # sentences are split from whitespace-collapsed text
            match = re.search(r"\s+".join(re.escape(w) for w in quote.split()), self.text)
            at = match.start() if match else -1
        if at < 0:
            return None
        return next((page for start, end, page in self.pages if start <= at < end), None)


class StreamEvent(BaseModel):
    """What an answer stream yields: text to append (`delta`), or `reset` (clear what is shown: the LLM failed
    and the answer restarts offline; `text` says why)."""

    kind: Literal["delta", "reset"]
    text: str = ""
