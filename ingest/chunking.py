"""Split a paper into chunks measured in tiktoken tokens; the title travels with every chunk."""

from __future__ import annotations

import functools
import hashlib
import json

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


def content_hash(paper: Paper, chunking: ChunkSettings) -> str:
    """Changes when anything stored for the paper changes, including how it is chunked."""
    payload = paper.model_dump(exclude={"source", "line"})
    payload["_chunking"] = [chunking.size, chunking.overlap]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def paper_metadata(paper: Paper, digest: str) -> dict:
    """Chroma metadata values must be str/int/float/bool: lists are joined, None left out."""
    meta = {
        "paper_id": paper.id,
        "title": paper.title,
        "source": paper.source,
        "content_hash": digest,
        "authors": "; ".join(paper.authors),
        "categories": " ".join(paper.categories),
    }
    for key in ("year", "url", "doi"):
        value = getattr(paper, key)
        if value is not None:
            meta[key] = value
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
            metadata={**base, "chunk": i, "n_chunks": len(pieces)},
        )
        for i, piece in enumerate(pieces)
    ]
