"""RIS reader for the exports of Zotero, EndNote and Mendeley -> Paper.

rispy maps a record's tags to fields (TI/T1 -> title, AU/A1 -> authors, continuation lines, `;`-separated URLs).
The file is cut into records here, line by line, because rispy keeps no line numbers, silently skips whatever
comes before a TY and drops a last record that has no ER: a reader must report the first and tolerate the last.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rispy import RisParser
from rispy.config import LIST_TYPE_TAGS

from paperchat.ingest import readers
from paperchat.rag.errors import InputFormatError
from paperchat.rag.ids import library_paper_id
from paperchat.rag.metadata import normalize_doi
from paperchat.rag.types import Paper

#: L1 (file attachments) repeats in Zotero exports (the PDF, a snapshot): keep them all, not only the first.
_PARSER = RisParser(list_tags=[*LIST_TYPE_TAGS, "L1"])
#: Full journal name first (JF, Zotero's T2), then the abbreviation or book title.
_VENUE_FIELDS = ("alternate_title3", "secondary_title", "journal_name")
_YEAR_FIELDS = ("year", "publication_year", "date")


class _Record:
    """The lines of one record being collected; None once it grew past MAX_RECORD_BYTES."""

    def __init__(self, line: int, has_type: bool):
        self.line, self.has_type = line, has_type
        self.lines: list[str] | None = []
        self.size = 0

    def add(self, text: str, size: int) -> None:
        self.size += size
        if self.lines is not None and self.size > readers.MAX_RECORD_BYTES:
            self.lines = None
        elif self.lines is not None:
            self.lines.append(text)


def read_ris(path: Path) -> Iterator[Paper | InputFormatError]:
    """Every TY ... ER record as a Paper (title-only without an abstract), or the bad record naming its line."""
    folder = str(path.parent)
    for record in _records(path):
        yield _paper(path, folder, record)


def _records(path: Path) -> Iterator[_Record]:
    """Records from TY to ER. A missing ER ends the record at the next TY or at the end of the file; tagged
    lines outside a record are a record without TY; untagged lines outside records (export headers, blank
    lines) are skipped."""
    record: _Record | None = None
    for lineno, raw, size in readers.iter_lines(path):
        text = raw.rstrip("\r\n")
        tag = _PARSER.parse_line(text)[0] if text.strip() else None
        if tag == "TY" and record is not None:
            yield record
            record = None
        if record is None:
            if tag is None:
                continue
            record = _Record(lineno, has_type=tag == "TY")
        record.add(text, size)
        if tag == "ER":
            yield record
            record = None
    if record is not None:
        yield record


def _paper(path: Path, folder: str, record: _Record) -> Paper | InputFormatError:
    if record.lines is None:
        return readers.too_large(path, record.line, record.size)
    if not record.has_type:
        first_tag = record.lines[0][:2]
        return InputFormatError(path, f"RIS record without a TY line (it starts with {first_tag})", record.line)
    lines = record.lines if _PARSER.parse_line(record.lines[-1])[0] == "ER" else [*record.lines, "ER  - "]
    fields = _PARSER.parse_lines(iter(lines))[0]
    title = readers.clean_markup(_first(fields, "title", "primary_title"))
    if not title:
        return InputFormatError(path, "RIS record without a title (TI or T1)", record.line)
    return Paper(**_paper_fields(path, folder, fields, title), source=str(path), line=record.line)


def _paper_fields(path: Path, folder: str, fields: dict[str, Any], title: str) -> dict[str, Any]:
    urls = _all(fields, "urls")
    doi = normalize_doi(_first(fields, "doi")) or readers.doi_in_urls(*urls)
    arxiv_id = readers.find_arxiv_id(*urls, _first(fields, "doi"), *_all(fields, "notes"),
                                     _first(fields, "accession_number"), _first(fields, "journal_name"))
    key = _first(fields, "id") or None
    return {
        "id": library_paper_id(doi=doi, arxiv_id=arxiv_id, key=key, source=path, title=title),
        "title": title,
        "abstract": readers.clean_markup(_first(fields, "abstract", "notes_abstract")),
        "authors": _authors([*_all(fields, "authors"), *_all(fields, "first_authors")]),
        "year": next((year for name in _YEAR_FIELDS if (year := readers.year_of(fields.get(name)))), None),
        "url": urls[0] if urls else (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None),
        "doi": doi,
        "arxiv_id": arxiv_id,
        "venue": readers.clean_markup(_first(fields, *_VENUE_FIELDS) or _unknown(fields, "BT")) or None,
        "categories": readers.split_keywords(_all(fields, "keywords")),
        "citation_key": key,
        "file": _pdf(_all(fields, "file_attachments1"), folder),
    }


def _first(fields: dict[str, Any], *names: str) -> str:
    """The first non-blank value among `names` (a list-valued field gives its first item)."""
    for name in names:
        values = _all(fields, name)
        if values:
            return values[0]
    return ""


def _all(fields: dict[str, Any], name: str) -> list[str]:
    value = fields.get(name)
    values = value if isinstance(value, list) else [value]
    return [v.strip() for v in values if isinstance(v, str) and v.strip()]


def _unknown(fields: dict[str, Any], tag: str) -> str:
    """A tag rispy has no name for (BT, the book title of older exports) is kept under 'unknown_tag'."""
    values = fields.get("unknown_tag", {}).get(tag, [])
    return next((v.strip() for v in values if v.strip()), "")


def _authors(values: list[str]) -> list[str]:
    """RIS names are 'Last, First[, Suffix]' -> 'First Last Suffix'; a name without comma is kept as written."""
    names = []
    for value in values:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        name = " ".join([*parts[1:2], parts[0], *parts[2:]]) if parts else ""
        name = readers.normalize_space(name)
        if name and name not in names:
            names.append(name)
    return names


def _pdf(values: list[str], folder: str) -> str | None:
    """The first PDF attachment (L1): Zotero's `files/3/x.pdf` or `file:///...`; EndNote's `internal-pdf://`
    names a file inside its library's data folder, which the export does not locate, so it is skipped."""
    for value in values:
        if value.lower().endswith(".pdf") and not value.startswith("internal-pdf://"):
            return readers.resolve_file(value, folder)
    return None
