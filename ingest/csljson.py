"""CSL-JSON reader (Zotero's and Better BibTeX's "CSL JSON" export: a JSON array of CSL items) -> Paper.

The array is streamed with ijson (readers.iter_json_array), one item at a time, each with the line it starts on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperchat.ingest import readers
from paperchat.rag.errors import InputFormatError
from paperchat.rag.ids import library_paper_id
from paperchat.rag.metadata import normalize_doi
from paperchat.rag.types import Paper

#: The parts of a CSL name in display order ("Ludwig van Beethoven Jr.").
_NAME_PARTS = ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")


def read_csljson(path: Path) -> Iterator[Paper | InputFormatError]:
    """Every item of the array as a Paper (title-only without an abstract), or the bad record naming its line."""
    for line, item in readers.iter_json_array(path):
        yield item if isinstance(item, InputFormatError) else _paper(path, line, item)


def _paper(path: Path, line: int, item: Any) -> Paper | InputFormatError:
    if not isinstance(item, dict):
        return InputFormatError(path, f"expected a CSL item (a JSON object), got {type(item).__name__}", line)
    key = _text(item.get("citation-key")) or _text(item.get("id")) or None
    title = readers.clean_markup(_text(item.get("title")))
    if not title:
        where = f"CSL item {key!r}" if key else "a CSL item"
        return InputFormatError(path, f"{where} has no title", line)
    url = _text(item.get("URL")) or None
    doi = normalize_doi(_text(item.get("DOI"))) or readers.doi_in_urls(url)
    venue = readers.clean_markup(_text(item.get("container-title")))
    arxiv_id = readers.find_arxiv_id(url, _text(item.get("DOI")), _text(item.get("number")), _text(item.get("note")),
                                     venue)
    return Paper(
        id=library_paper_id(doi=doi, arxiv_id=arxiv_id, key=key, source=path, title=title),
        title=title,
        abstract=readers.clean_markup(_text(item.get("abstract"))),
        authors=_authors(item.get("author")),
        year=_year(item.get("issued")),
        url=url or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None),
        doi=doi,
        arxiv_id=arxiv_id,
        venue=venue or None,
        categories=readers.split_keywords(_texts(item.get("keyword"))),
        citation_key=key,
        source=str(path),
        line=line,
    )


def _text(value: Any) -> str:
    """A CSL string; numbers become text and a list (CrossRef's container-title) gives its first string."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, list):
        return next((text for text in map(_text, value) if text), "")
    return ""


def _texts(value: Any) -> list[str]:
    return [text for text in map(_text, value) if text] if isinstance(value, list) else [_text(value)]


def _authors(value: Any) -> list[str]:
    """[{family, given, ...} or {literal}] -> display names 'Given Family'."""
    if not isinstance(value, list):
        return []
    names = []
    for person in value:
        if not isinstance(person, dict):
            continue
        name = _text(person.get("literal")) or " ".join(filter(None, (_text(person.get(p)) for p in _NAME_PARTS)))
        if name := readers.clean_markup(name):
            names.append(name)
    return names


def _year(issued: Any) -> int | None:
    """`issued.date-parts[0][0]` (a number, or a string in Zotero's exports), else `raw` or `literal`."""
    if not isinstance(issued, dict):
        return readers.year_of(issued) if isinstance(issued, (str, int)) else None
    parts = issued.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        year = readers.year_of(_text(parts[0][0]))
        if year:
            return year
    return readers.year_of(_text(issued.get("raw"))) or readers.year_of(_text(issued.get("literal")))
