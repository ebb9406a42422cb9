"""Every id format in one place: paper ids (DOI first, ...) and chunk ids ('<paper_id>::<n>')."""

from __future__ import annotations

import hashlib
from pathlib import Path

from paperchat.rag.metadata import normalize_doi

CHUNK_SEPARATOR = "::"


def chunk_id(paper_id: str, n: int) -> str:
    """The id of a paper's n-th chunk (0 is the first)."""
    return f"{paper_id}{CHUNK_SEPARATOR}{n}"


def paper_of(chunk: str) -> str:
    """The paper id of a chunk id."""
    return chunk.rsplit(CHUNK_SEPARATOR, 1)[0]


def chunk_number(chunk: str) -> int:
    """The position of a chunk in its paper."""
    return int(chunk.rsplit(CHUNK_SEPARATOR, 1)[1])


def title_id(title: str) -> str:
    """A stable id for a paper known only by its title: the same title (modulo case and spacing) always
    gets the same id, so re-ingesting a file updates papers instead of duplicating them."""
    key = " ".join(title.split()).lower()
    return "t-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def normalize_arxiv_id(value: str | None) -> str | None:
    """'arXiv:2403.03507v2', 'https://arxiv.org/abs/2403.03507' -> '2403.03507' (versions dropped)."""
    if not value:
        return None
    text = value.strip()
    for prefix in ("https://arxiv.org/abs/", "http://arxiv.org/abs/", "https://arxiv.org/pdf/", "arxiv:", "arXiv:"):
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix):]
    text = text.removesuffix(".pdf").strip()
    if "v" in text and text.rsplit("v", 1)[1].isdigit() and text.rsplit("v", 1)[0][-1:].isdigit():
        text = text.rsplit("v", 1)[0]
    return text or None


def library_paper_id(*, doi: str | None = None, arxiv_id: str | None = None, key: str | None = None,
                     source: str | Path | None = None, title: str = "") -> str:
    """The id of a paper from a reference library (BibTeX, RIS, CSL-JSON): its DOI, else its arXiv id, else
    its citation key scoped by the file it came from, else a hash of its title. The same paper exported
    to a .bib and a .ris file is then one paper."""
    if (normalized := normalize_doi(doi)) is not None:
        return f"doi:{normalized}"
    if (arxiv := normalize_arxiv_id(arxiv_id)) is not None:
        return f"arxiv:{arxiv}"
    if key and key.strip():
        scope = Path(source).stem if source else ""
        return f"key:{scope}:{key.strip()}" if scope else f"key:{key.strip()}"
    return title_id(title)
