"""BibTeX / BibLaTeX reader for the exports of Zotero, Better BibTeX, JabRef, Mendeley, Google Scholar and DBLP.

bibtexparser's splitter finds the blocks (entries, @string, @comment, @preamble, and the blocks it could not
parse) with their start lines and their raw text. The values are evaluated here rather than by its middlewares,
which neither join `#` concatenations nor see @string macros of an earlier batch: macros, month names and `#`
in one small function. LaTeX in fields is decoded by `ingest.latex`. The file goes to the splitter in batches of
whole blocks, cut before the lines the splitter itself treats as the start of a block, so memory stays at one
batch however large the library and every error keeps its line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bibtexparser
from bibtexparser.middlewares.names import parse_single_name_into_parts, split_multiple_persons_names
from bibtexparser.model import (
    Block,
    DuplicateBlockKeyBlock,
    DuplicateFieldKeyBlock,
    Entry,
    ParsingFailedBlock,
    String,
)

from paperchat.ingest import readers
from paperchat.ingest.latex import decode_accents, latex_to_text
from paperchat.rag.errors import InputFormatError
from paperchat.rag.ids import library_paper_id, normalize_arxiv_id
from paperchat.rag.metadata import normalize_doi
from paperchat.rag.types import Paper

# The splitter logs each broken block as a warning; the reader reports it as a bad record with its line instead.
logging.getLogger("bibtexparser").setLevel(logging.ERROR)

_BATCH_BYTES = 1 << 20
_BLOCK_START = re.compile(r"\s*@\w*[ \t]*[{(]")
_ENTRY_KEY = re.compile(r"@\w+[ \t]*[{(]\s*([^,\s{}()]+)")
_CONCATENATION_MARKS = re.compile(r'\\.|[{}"#]', re.S)
_MONTHS = {name[:3].lower(): name for name in (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)}
_VENUE_FIELDS = ("journaltitle", "journal", "booktitle")
_AND = re.compile(r"\s+and\s+", re.I)
#: Entry types that describe no work of their own (BibLaTeX data containers).
_NOT_WORKS = {"xdata", "set"}
_ATTACHMENT_SPLIT = re.compile(r"(?<!\\);")
_PART_SPLIT = re.compile(r"(?<!\\):")
_SEPARATOR_ESCAPE = re.compile(r"\\([:;\\])")
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
_PDF_TYPES = {"pdf", "application/pdf"}
#: URLs are verbatim in BibTeX, but some exporters escape them like text (`a\_b`, `50\%20`).
_URL_ESCAPE = re.compile(r"\\([_%&#~$])")


def read_bibtex(path: Path) -> Iterator[Paper | InputFormatError]:
    """Every entry of a .bib file as a Paper (title-only when it has no abstract) or the bad record naming its
    line and key: a syntax error, a missing title, a repeated citation key, a repeated field."""
    library = _Library(path)
    for item in _batches(path):
        if isinstance(item, InputFormatError):
            yield item
            continue
        first_line, text = item
        for block in bibtexparser.parse_string(text, parse_stack=[]).blocks:
            result = library.block(block, first_line + (block.start_line or 0))
            if result is not None:
                yield result


# ------------------------------------------------------------------------------------- batches of blocks


class _Batches:
    """Lines grouped into blocks (from one block-start line to the next) and blocks into batches of about
    _BATCH_BYTES. A block over MAX_RECORD_BYTES is dropped as it grows and comes out as its error, after the
    batch before it, so the errors and papers stay in file order."""

    def __init__(self, path: Path):
        self.path = path
        self.batch: list[str] = []
        self.batch_line = self.batch_bytes = 0
        self.block: list[str] | None = []
        self.block_line, self.block_bytes, self.head = 1, 0, ""

    def start_block(self, line: int) -> None:
        self.block, self.block_line, self.block_bytes, self.head = [], line, 0, ""

    def add(self, text: str, size: int) -> None:
        self.head = self.head or text
        self.block_bytes += size
        if self.block is not None and self.block_bytes > readers.MAX_RECORD_BYTES:
            self.block = None
        elif self.block is not None:
            self.block.append(text)

    def end_block(self) -> Iterator[tuple[int, str] | InputFormatError]:
        if self.block is None:
            yield from self.flush()
            key = _key_of(self.head)
            yield readers.too_large(self.path, self.block_line, self.block_bytes, what=f"entry {key!r}" if key else "")
            return
        if not self.batch:
            self.batch_line = self.block_line
        self.batch += self.block
        self.batch_bytes += self.block_bytes
        if self.batch_bytes >= _BATCH_BYTES:
            yield from self.flush()

    def flush(self) -> Iterator[tuple[int, str]]:
        if self.batch:
            yield self.batch_line, "".join(self.batch)
        self.batch, self.batch_bytes = [], 0


def _batches(path: Path) -> Iterator[tuple[int, str] | InputFormatError]:
    """(first line, text) batches of whole blocks, or the error of a block too large to keep."""
    batches = _Batches(path)
    for line, text, size in readers.iter_lines(path):
        if _BLOCK_START.match(text):
            yield from batches.end_block()
            batches.start_block(line)
        batches.add(text, size)
    yield from batches.end_block()
    yield from batches.flush()


def _key_of(raw: str) -> str:
    match = _ENTRY_KEY.match(raw.lstrip())
    return match.group(1) if match else ""


# ------------------------------------------------------------------------------------- blocks -> papers


class _Library:
    """What a .bib file defines as it is read: @string macros (later ones may use earlier ones) and the
    citation keys seen so far, with the line of each."""

    def __init__(self, path: Path):
        self.path = path
        self.folder = str(path.parent)
        self.macros: dict[str, str] = {}
        self.seen: dict[str, int] = {}

    def block(self, block: Block, line: int) -> Paper | InputFormatError | None:
        """A Paper, a bad record, or None for blocks that hold no paper (@string, @comment, @preamble)."""
        if isinstance(block, DuplicateBlockKeyBlock) and block.ignore_error_block is not None:
            block = block.ignore_error_block  # a repeated key: a redefined @string, or judged in _entry
        if isinstance(block, String):
            self.macros[block.key.strip().lower()] = self.value(block.value)
        elif isinstance(block, Entry):
            return self._entry(block, line)
        elif isinstance(block, DuplicateFieldKeyBlock):
            fields = ", ".join(sorted(block.duplicate_keys))
            return self._error(line, f"entry {_key_of(block.raw or '')!r} has more than one {fields} field")
        elif isinstance(block, ParsingFailedBlock):
            return self._syntax_error(block, line)
        return None

    def value(self, raw: str) -> str:
        """A field value as BibTeX evaluates it: braces or quotes removed, macros and month names expanded,
        `#` concatenations joined."""
        parts = _concatenation(raw) if "#" in raw else [raw]
        return "".join(self._atom(part.strip()) for part in parts)

    def _atom(self, part: str) -> str:
        if len(part) >= 2 and part[0] + part[-1] in ("{}", '""'):
            return part[1:-1]
        if not part or part.isdigit():
            return part
        name = part.lower()
        return self.macros.get(name, _MONTHS.get(name, part))

    def _entry(self, entry: Entry, line: int) -> Paper | InputFormatError | None:
        if entry.entry_type.lower() in _NOT_WORKS:
            return None
        key = entry.key.strip()
        if key in self.seen:
            return self._error(line, f"duplicate citation key {key!r} (first at line {self.seen[key]})")
        if key:
            self.seen[key] = line
        fields: dict[str, str] = {}
        for field in entry.fields:
            fields.setdefault(field.key.strip().lower(), self.value(field.value))
        title = latex_to_text(fields.get("title", ""))
        if not title:
            return self._error(line, f"entry {key!r} has no title" if key else "an entry without key has no title")
        return Paper(**self._fields(fields, key, title), bibtex=entry.raw, source=str(self.path), line=line)

    def _fields(self, fields: dict[str, str], key: str, title: str) -> dict[str, Any]:
        url = _URL_ESCAPE.sub(r"\1", fields.get("url", "").strip()) or None
        doi = normalize_doi(fields.get("doi")) or readers.doi_in_urls(url)
        arxiv_id = _arxiv_id(fields)
        url = url or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None)
        venue = next((latex_to_text(fields[name]) for name in _VENUE_FIELDS if fields.get(name, "").strip()), None)
        return {
            "id": library_paper_id(doi=doi, arxiv_id=arxiv_id, key=key, source=self.path, title=title),
            "title": title,
            "abstract": latex_to_text(fields.get("abstract", "")),
            "authors": _authors(fields.get("author", "")),
            "year": readers.year_of(fields.get("year")) or readers.year_of(fields.get("date")),
            "url": url,
            "doi": doi,
            "arxiv_id": arxiv_id,
            "venue": venue or None,
            "categories": readers.split_keywords([fields.get("keywords", "")]),
            "citation_key": key or None,
            "file": self._pdf(fields.get("file", "")),
        }

    def _pdf(self, value: str) -> str | None:
        """The first PDF a `file` field names: Zotero's `Description:path:mime` list (`;`-separated, `\\:` and
        `\\;` escaped), JabRef's `:path:PDF`, Mendeley's `:path:pdf` (its leading '/' dropped, backslashes as
        `$\\backslash$`, accents in LaTeX) or Better BibTeX's plain paths, resolved by readers.resolve_file."""
        for path, kind in _attachments(value):
            if path.lower().endswith(".pdf") or kind.lower() in _PDF_TYPES:
                return readers.resolve_file(path, self.folder)
        return None

    def _syntax_error(self, block: ParsingFailedBlock, line: int) -> InputFormatError:
        key = _key_of(block.raw or "")
        reason = str(getattr(block.error, "abort_reason", "") or block.error).strip()
        return self._error(line, f"BibTeX syntax error{f' in entry {key!r}' if key else ''}: {reason}")

    def _error(self, line: int, message: str) -> InputFormatError:
        return InputFormatError(self.path, message, line)


def _concatenation(raw: str) -> list[str]:
    """The parts of `a # "b" # {c}` split at the `#` outside braces and quotes."""
    parts, depth, quoted, last = [], 0, False, 0
    for mark in _CONCATENATION_MARKS.finditer(raw):
        char = mark.group()
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == '"' and depth == 0:
            quoted = not quoted
        elif char == "#" and depth == 0 and not quoted:
            parts.append(raw[last : mark.start()])
            last = mark.end()
    parts.append(raw[last:])
    return parts


def _authors(value: str) -> list[str]:
    """'Last, First and First Last and {Corporate Name} and others' -> display names 'First Last'. Names with
    braces or LaTeX go through bibtexparser's name parser; plain ones (most) take a fast path that gives the
    same result, since the parser is a character loop that would dominate the reading time."""
    plain = "{" not in value and "\\" not in value
    names = []
    for person in _AND.split(value.strip()) if plain else split_multiple_persons_names(value):
        if not person.strip() or person.strip().lower() == "others":  # BibTeX's "et al."
            continue
        parts = [part.strip() for part in person.split(",")] if plain else []
        if plain and len(parts) <= 3:
            name = " ".join([parts[-1], *parts[:-1]] if len(parts) == 3 else parts[::-1])
        else:
            name = parse_single_name_into_parts(person, strict=False).merge_first_name_first
        if name := latex_to_text(name):
            names.append(name)
    return names


def _arxiv_id(fields: dict[str, str]) -> str | None:
    """`eprint` with `archivePrefix`/`eprinttype = arxiv` (BibLaTeX, DBLP, arXiv's own export), Mendeley's
    `arxivId`, else an id named by the URL, the DOI (10.48550/arXiv.ID), Zotero's note or Scholar's journal."""
    eprint = fields.get("eprint", "").strip()
    kind = (fields.get("archiveprefix") or fields.get("eprinttype") or "").strip().lower()
    if eprint and kind == "arxiv":
        return normalize_arxiv_id(eprint)
    if eprint and not kind and (found := readers.find_arxiv_id(f"arXiv:{eprint}")):
        return found
    if fields.get("arxivid", "").strip():
        return normalize_arxiv_id(fields["arxivid"])
    return readers.find_arxiv_id(fields.get("url"), fields.get("doi"), fields.get("note"), fields.get("journal"))


def _attachments(value: str) -> Iterator[tuple[str, str]]:
    """(path, type) of each attachment in a `file` field."""
    value = value.replace("$\\backslash$", "\\").replace("{\\textbackslash}", "\\")
    for item in _ATTACHMENT_SPLIT.split(value):
        item = item.strip()
        if not item:
            continue
        if _WINDOWS_DRIVE.match(item):  # a plain Windows path (Better BibTeX)
            parts = [item]
        else:
            parts = [_SEPARATOR_ESCAPE.sub(r"\1", decode_accents(part)) for part in _PART_SPLIT.split(item)]
        if len(parts) >= 3:
            yield ":".join(parts[1:-1]).strip(), parts[-1].strip()
        elif len(parts) == 2:
            yield (parts[0].strip(), parts[1].strip()) if parts[0].lower().endswith(".pdf") else (parts[1].strip(), "")
        else:
            yield parts[0], ""
