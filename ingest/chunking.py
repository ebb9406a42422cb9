"""Split a paper into chunks measured in tiktoken tokens; the title travels with every chunk.

A paper with only an abstract chunks as it always has (same chunks, same metadata). A paper with full text
(`Paper.pages`, from a PDF) gets its abstract chunk(s) first (`kind: "abstract"`), then body chunks cut from
the pages in order (`kind: "body"`), each recording the pages it spans and the section heading it falls under.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import re

from paperchat.rag.metadata import author_keys, category_keys, venue_keys
from paperchat.rag.settings import ChunkSettings
from paperchat.rag.tokens import ENCODING, count_tokens, ensure_offline_tiktoken
from paperchat.rag.types import Chunk, PageText, Paper

_NUMBERED = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,3}|[A-Z](?:\.\d{1,2}){0,3}|[IVX]{1,5})\.?\s+(\S.*)$")
_NAMED = {
    "abstract", "introduction", "related work", "related works", "background", "preliminaries", "method",
    "methods", "methodology", "approach", "experiments", "experimental setup", "evaluation", "results",
    "discussion", "analysis", "conclusion", "conclusions", "future work", "limitations", "acknowledgments",
    "acknowledgements", "acknowledgment", "acknowledgement", "references", "bibliography", "appendix",
    "appendices", "supplementary material", "broader impact", "ethics statement",
}
_HEADING_MAX_CHARS = 80
_HEADING_MAX_WORDS = 10


@functools.lru_cache(maxsize=8)
def _splitter(size: int, overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    ensure_offline_tiktoken()
    return RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=ENCODING,
        chunk_size=size,
        chunk_overlap=min(overlap, size // 2),
        separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""],
        keep_separator="end",
    )


#: Bumped when the stored metadata layout changes, so existing collections are rewritten on the next ingest.
METADATA_VERSION = 2


def content_hash(paper: Paper, chunking: ChunkSettings) -> str:
    """Changes when anything stored for the paper changes, including how it is chunked."""
    payload = paper.model_dump(exclude={"source", "line"})
    payload["_chunking"] = [chunking.size, chunking.overlap]
    payload["_metadata"] = METADATA_VERSION
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def paper_metadata(paper: Paper, digest: str) -> dict:
    """The metadata every chunk of the paper carries (Chroma values: str, int, float, bool or a non-empty list
    of str; empty values are left out). The *_keys lists are what the metadata filters match."""
    meta: dict = {
        "paper_id": paper.id,
        "title": paper.title,
        "source": paper.source,
        "content_hash": digest,
        "authors": "; ".join(paper.authors),
    }
    for key in ("year", "url", "doi", "arxiv_id", "venue", "citation_key"):
        value = getattr(paper, key)
        if value is not None and value != "":
            meta[key] = value
    lists = {"categories": list(dict.fromkeys(paper.categories)), "author_keys": author_keys(paper.authors),
             "venue_keys": venue_keys(paper.venue), "category_keys": category_keys(paper.categories)}
    meta.update({key: values for key, values in lists.items() if values})
    return meta


def _pieces(text: str, chunking: ChunkSettings) -> list[str]:
    """The text itself when it fits one chunk (most abstracts), else the splitter's pieces."""
    if count_tokens(text) <= chunking.size:
        return [text.strip()] if text.strip() else []
    return [p.strip() for p in _splitter(chunking.size, chunking.overlap).split_text(text) if p.strip()]


def section_heading(paragraph: str) -> str | None:
    """The paragraph as a section heading ("1 Introduction", "2.1 Method", "A Proofs", "RELATED WORK",
    "Conclusion"), or None. A heading is short, has no sentence punctuation at its end and is either
    numbered and capitalised, all capitals, or a usual section name."""
    text = " ".join(paragraph.split())
    words = text.split()
    if not text or len(text) > _HEADING_MAX_CHARS or len(words) > _HEADING_MAX_WORDS or text[-1] in ".,;:!":
        return None
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 3:
        return None
    if text.lower() in _NAMED:
        return text
    numbered = _NUMBERED.match(text)
    if numbered and numbered.group(1)[0].isupper() and not any(c.isdigit() for c in numbered.group(1)):
        return text
    if all(c.isupper() for c in letters) and len(letters) >= 4:
        return text
    return None


def chunk_paper(paper: Paper, chunking: ChunkSettings) -> list[Chunk]:
    if paper.pages:
        full = _full_text_chunks(paper, chunking)
        if full:
            return full
    pieces = _pieces(paper.abstract, chunking) or [paper.abstract]
    base = paper_metadata(paper, content_hash(paper, chunking))
    return [
        Chunk(
            id=f"{paper.id}::{i}",
            paper_id=paper.id,
            index=i,
            text=f"{paper.title}\n\n{piece}",
            metadata={**base, "chunk": i, "n_chunks": len(pieces),
                      **({"bibtex": paper.bibtex} if i == 0 and paper.bibtex else {})},
        )
        for i, piece in enumerate(pieces)
    ]


# ------------------------------------------------------------------------------------- full text


def _join_pages(pages: list[PageText]) -> tuple[str, list[tuple[int, int]]]:
    """The body as one text, and (offset, page number) where each page starts. A paragraph cut by the page
    break (no sentence end before it, a lower-case letter after it) is joined with a space, else the pages
    are separated like paragraphs."""
    text, starts = "", []
    for page in pages:
        body = page.text.strip()
        if not body:
            continue
        if text:
            text += " " if not text.endswith((".", "!", "?", ":")) and body[:1].islower() else "\n\n"
        starts.append((len(text), page.page))
        text += body
    return text, starts


def _headings(text: str) -> tuple[list[int], list[str]]:
    """Offsets and texts of the section headings among the paragraphs of the body."""
    offsets, names = [], []
    for match in re.finditer(r"[^\n]+", text):
        start = match.start()
        if (start == 0 or text[start - 2:start] == "\n\n") and text[match.end():match.end() + 2] in ("\n\n", ""):
            heading = section_heading(match.group())
            if heading:
                offsets.append(start)
                names.append(heading)
    return offsets, names


def _located(text: str, pieces: list[str]) -> list[tuple[str, int]]:
    """Each piece with its offset in the text; pieces come in order, so each search starts after the last."""
    located, at = [], -1
    for piece in pieces:
        found = text.find(piece, at + 1)
        at = found if found >= 0 else max(at, 0)
        located.append((piece, at))
    return located


def _with_headings_attached(text: str, located: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The splitter emits a heading followed by a long paragraph as a chunk of its own; a chunk of just
    "2 Method" is useless to search, so the heading joins the next chunk (which may then exceed the chunk
    size by the heading's few tokens)."""
    merged: list[tuple[str, int]] = []
    pending: int | None = None
    for piece, start in located:
        if pending is not None:
            piece, start, pending = text[pending:start + len(piece)], pending, None
        elif section_heading(piece) and piece is not located[-1][0]:
            pending = start
            continue
        merged.append((piece, start))
    return merged


def _body_pieces(paper: Paper, chunking: ChunkSettings) -> list[tuple[str, dict]]:
    text, starts = _join_pages(paper.pages)
    if not text:
        return []
    pieces = [p.strip() for p in _splitter(chunking.size, chunking.overlap).split_text(text) if p.strip()]
    offsets = [offset for offset, _ in starts]
    heading_at, heading_names = _headings(text)
    result = []
    for piece, start in _with_headings_attached(text, _located(text, pieces)):
        end = start + len(piece) - 1
        meta: dict = {"kind": "body",
                      "page_start": starts[bisect.bisect_right(offsets, start) - 1][1],
                      "page_end": starts[bisect.bisect_right(offsets, end) - 1][1]}
        under = bisect.bisect_right(heading_at, start + len(piece) // 2) - 1
        if under >= 0:
            meta["section"] = heading_names[under]
        result.append((piece, meta))
    return result


def _full_text_chunks(paper: Paper, chunking: ChunkSettings) -> list[Chunk]:
    """Abstract chunk(s) then body chunks; [] when the pages hold no text (the caller falls back)."""
    body = _body_pieces(paper, chunking)
    if not body:
        return []
    pieces = [(p, {"kind": "abstract"}) for p in _pieces(paper.abstract, chunking)] + body
    base = paper_metadata(paper, content_hash(paper, chunking))
    return [
        Chunk(
            id=f"{paper.id}::{i}",
            paper_id=paper.id,
            index=i,
            text=f"{paper.title}\n\n{piece}",
            metadata={**base, "chunk": i, "n_chunks": len(pieces), **extra,
                      **({"bibtex": paper.bibtex} if i == 0 and paper.bibtex else {})},
        )
        for i, (piece, extra) in enumerate(pieces)
    ]
