"""Split a paper into chunks measured in tiktoken tokens; the title travels with every chunk."""

from __future__ import annotations

import functools
import hashlib
import json

from paperchat.rag.metadata import author_keys, category_keys, venue_keys
from paperchat.rag.settings import ChunkSettings
from paperchat.rag.tokens import ENCODING, count_tokens, ensure_offline_tiktoken
from paperchat.rag.types import Chunk, Paper


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


def chunk_paper(paper: Paper, chunking: ChunkSettings) -> list[Chunk]:
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
