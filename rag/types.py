"""Typed records that flow through paperchat: papers, chunks, search hits, answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class PageText(BaseModel):
    """The text of one page of a full-text file (a PDF), as extracted and cleaned."""

    page: int = Field(ge=1, description="1-based page number")
    text: str


class Paper(BaseModel):
    """One paper as read from a source file, before chunking."""

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
    authors: list[str] = Field(default_factory=list)
    year: int | None = None
    dense_rank: int | None = None
    bm25_rank: int | None = None
    dense_score: float | None = None
    bm25_score: float | None = None
    venue: str | None = None
    doi: str | None = None
    arxiv_id: str | None = None
    page_start: int | None = Field(None, description="First page of the best chunk (full-text papers)")
    page_end: int | None = None

    @classmethod
    def from_record(cls, record, score: float, **ranks) -> SearchHit:
        """A hit from a stored chunk (`rag.store.ChunkRecord`) and its scores."""
        meta = record.metadata
        year = meta.get("year")
        return cls(paper_id=record.paper_id, title=record.title, score=score, text=record.text or "",
                   chunk_id=record.id, url=meta.get("url"), authors=[a for a in str(meta.get("authors") or "")
                                                                     .split("; ") if a],
                   year=year if isinstance(year, int) else None, venue=meta.get("venue"), doi=meta.get("doi"),
                   arxiv_id=meta.get("arxiv_id"), page_start=meta.get("page_start"), page_end=meta.get("page_end"),
                   **ranks)


class Citation(BaseModel):
    n: int
    title: str
    paper_id: str
    url: str | None = None
    quote: str = ""


class Source(BaseModel):
    title: str
    paper_id: str
    score: float
    url: str | None = None


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
    notice: str | None = Field(default=None, description="e.g. fell back to offline mode")
    unsupported: list[str] = Field(
        default_factory=list, description="Answer sentences the passage they cite does not support (LLM mode)"
    )
    timings_ms: dict[str, float] = Field(default_factory=dict)


class Evidence(BaseModel):
    """A retrieved passage as numbered in the prompt and the answer: [n]."""

    n: int
    paper_id: str
    title: str
    text: str = Field(description="The passage without its title line")
    url: str | None = None
    score: float = 0.0
    dense_score: float | None = None


class StreamEvent(BaseModel):
    """What Assistant.stream yields: text to append, a reset (clear: fallback), and the final Answer.

    See Assistant.stream for how a front end should render them.
    """

    kind: Literal["delta", "reset", "answer"]
    text: str = ""
    answer: Answer | None = None
