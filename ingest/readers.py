"""Streaming readers that turn paper files into `Paper` records: listing pages, JSON, CSV, BEIR, arXiv, and the
reference-library exports (BibTeX/BibLaTeX, RIS, CSL-JSON; see `ingest.bibtex`, `ingest.ris`, `ingest.csljson`).

Every reader streams: it holds one line, one CSV row, one JSON record or one batch of BibTeX entries at a time,
so memory stays flat however large the file. Each format reader yields `Paper` or `InputFormatError` items (a bad
record); `read_papers` decides whether a bad record raises or is skipped. Whole-file problems (missing, empty,
not UTF-8, malformed structure) always raise. The helpers the format modules share (lines with their byte size,
JSON arrays with the line of each element, the record-size cap) live here.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import html
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote

import ijson

from paperchat.ingest.latex import latex_to_text
from paperchat.ingest.pdf import read_pdf_items
from paperchat.rag.errors import InputFormatError, UnknownFormatError
from paperchat.rag.ids import normalize_arxiv_id
from paperchat.rag.metadata import normalize_doi
from paperchat.rag.types import Paper

FORMATS: dict[str, str] = {
    "listing": "raw text of a 'trending papers' page: a title line, then an abstract line, per paper",
    "jsonl": "one JSON object a line: title + abstract/summary/text, optional id, doi, url, authors, year",
    "json": "a JSON array of objects with the same fields as jsonl",
    "csv": "CSV with a header row naming the same fields as jsonl (title, abstract, ...)",
    "beir": "BEIR corpus.jsonl: one {_id, title, text, metadata} object a line",
    "arxiv": "arXiv metadata snapshot (Kaggle arxiv-metadata-oai-snapshot.json): one object a line",
    "bibtex": "BibTeX/BibLaTeX .bib (Zotero, Better BibTeX, JabRef, Mendeley, Google Scholar, DBLP exports)",
    "ris": "RIS .ris (Zotero, EndNote, Mendeley exports): TY ... ER records",
    "csljson": "CSL-JSON (Zotero's 'CSL JSON' export): a JSON array of CSL items",
    "pdf": "a paper's PDF: full text page by page, title, authors, year and abstract from the file",
}

#: A record (line, CSV row, JSON element, BibTeX entry, RIS record) larger than this is a bad record.
MAX_RECORD_BYTES = 2_000_000

_CHUNK_BYTES = 1 << 16
_MAX_RECORD_CHARS = 1 << 25
_TITLE_MAX = 300
_ABSTRACT_MIN = 150
_FIRST_SENTENCE_MAX = 120
_TEXT_FIELDS = ("abstract", "summary", "text")
_TEXT_SUFFIXES = {".txt", ".md", ".text", ""}
_JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
_BIBTEX_SUFFIXES = {".bib", ".bibtex", ".biblatex"}
_BIBTEX_START = re.compile(r"@[A-Za-z]+[ \t]*[{(]")
_RIS_START = re.compile(r"TY  -( |$)", re.M)
_CSL_HINTS = {"issued", "container-title", "DOI", "URL", "citation-key"}
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2[01]\d\d)(?!\d)")
_AUTHOR_SPLIT = re.compile(r"\s*(?:[,;&]|\band\b)\s*")
_CATEGORY_SPLIT = re.compile(r"[\s,;]+")
_KEYWORD_SPLIT = re.compile(r"\s*[,;]\s*")
#: arXiv ids inside URLs, DOIs (10.48550/arXiv.ID), notes and Google Scholar's "arXiv preprint arXiv:ID".
_ARXIV_IN_TEXT = re.compile(
    r"arxiv(?:\.org/(?:abs|pdf)/|:\s*|\.)(\d{4}\.\d{4,5}(?:v\d+)?|[a-z-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)", re.I
)
#: The inline rich-text markup Zotero keeps in RIS and CSL-JSON titles (`<i>in vivo</i>`, `<span class="nocase">`).
_MARKUP = re.compile(r"</?(?:i|b|em|strong|sup|sub|sc|span)(?:\s[^<>]*)?>", re.I)
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[\\/]")
# Page buttons whose text ends up glued to the first title when a listing page is saved as text.
_GLUED_WORD = re.compile(
    r"^(Subscribe|Sign ?up|Sign ?in|Log ?in|Login|Follow|Share|Upvote|Bookmark|Save|Register|Join)"
    r"(?=[A-Z0-9\"'\u201c\u2018])"
)


class _BadRecord(Exception):
    """A record that cannot become a Paper; the caller adds the file and line."""


# ---------------------------------------------------------------------------------------- public helpers


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace (hard line breaks, tabs, NBSP) to one space, so text from
    wrapped sources (arXiv) compares and embeds like text from single-line sources."""
    return " ".join(text.split())


def paper_id_for_title(title: str) -> str:
    """A stable id for sources without one: the same title (modulo case and spacing) always gets the
    same id, so re-ingesting a file updates papers instead of duplicating them."""
    from paperchat.rag.text import clean_text

    key = normalize_space(clean_text(title)).lower()  # the title as the Paper will hold it
    return "t-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def detect_format(path: Path) -> str:
    """Guess the format from the extension and the first non-blank text, so users need no --format
    flag for the files they really have."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    with path.open("rb") as fh:  # binary: a PDF is never decoded as text
        if suffix == ".pdf" or fh.read(5) == b"%PDF-":
            return "pdf"
    if suffix == ".csv":
        return "csv"
    if suffix in _BIBTEX_SUFFIXES:
        return "bibtex"
    if suffix == ".ris":
        return "ris"
    head = _head_text(path)
    if not head:
        raise InputFormatError(path, "no papers found: the file is blank")
    if head[0] == "[" and head[1:].lstrip()[:1] in ("{", "]"):
        return "csljson" if suffix == ".csljson" or _is_csl_item(_first_array_element(path)) else "json"
    if head[0] == "{":
        keys = _first_object_keys(path)
        if keys is not None:
            return _json_lines_format(keys)
    if _BIBTEX_START.match(head):
        return "bibtex"
    if _RIS_START.match(head):
        return "ris"
    if suffix in _JSON_SUFFIXES or suffix == ".csljson":
        return "jsonl"  # let the jsonl reader name the offending line
    if suffix in _TEXT_SUFFIXES:
        return "listing"
    raise UnknownFormatError(f"{path}: cannot detect the paper file format. {_supported()}")


def read_papers(
    path: Path,
    fmt: str | None = None,
    *,
    skip_bad: bool = False,
    skipped: list[InputFormatError] | None = None,
) -> Iterator[Paper]:
    """Stream the papers of one file. Format name, missing and empty files are checked now (not at
    the first `next`) so a front door can report them before starting work."""
    if fmt is not None and fmt not in _READERS:
        raise UnknownFormatError(f"unknown paper file format {fmt!r}. {_supported()}")
    path = Path(path)
    _check_file(path)
    name = fmt or detect_format(path)
    return _collect(path, _READERS[name](path), skip_bad, skipped)


def estimate_records(path: Path, fmt: str | None = None) -> int:
    """A quick count of a file's records for a progress bar, from one pass over its bytes without parsing: entry
    starts in a .bib, TY lines in a .ris, "title" keys in a JSON array, lines elsewhere (two a paper in a listing)."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt == "pdf":
        return 1
    if fmt == "bibtex":
        blocks = _count_bytes(path, (b"\n@", b"\n@string", b"\n@comment", b"\n@preamble"), lower=True)
        return blocks[0] - sum(blocks[1:])
    if fmt == "ris":
        return _count_bytes(path, (b"\nTY  -",))[0]
    if fmt in ("json", "csljson"):
        return _count_bytes(path, (b'"title"',))[0]
    lines = _count_bytes(path, (b"\n",))[0]
    return lines // 2 if fmt == "listing" else lines


def _count_bytes(path: Path, needles: tuple[bytes, ...], lower: bool = False) -> list[int]:
    """Occurrences of each needle, reading 1 MB at a time; the file is read as if it started with a newline
    (and without a BOM), so a needle anchored at a line start also counts on the first line."""
    counts = [0] * len(needles)
    keep = max(len(n) for n in needles) - 1
    tail = b"\n"
    with path.open("rb") as fh:
        first = True
        while block := fh.read(1 << 20):
            if first:
                block, first = block.removeprefix(codecs.BOM_UTF8), False
            data = tail + (block.lower() if lower else block)
            for i, needle in enumerate(needles):
                counts[i] += data.count(needle) - tail.count(needle)
            tail = data[-keep:] if keep else b""
    return counts


def too_large(path: Path, line: int, size: int, *, what: str = "", about: bool = False) -> InputFormatError:
    """The bad record for a record over MAX_RECORD_BYTES (read at call time, so a setting can change it)."""
    detail = f"{what}, " if what else ""
    approx = "about " if about else ""
    limit = f"{MAX_RECORD_BYTES / 1_000_000:g} MB"
    return InputFormatError(path, f"record is larger than {limit} ({detail}{approx}{size:,} bytes)", line)


def year_of(value: Any) -> int | None:
    """A year from an int, "2007", "2007-04-02", "2020///" or "Mon, 2 Apr 2007 19:18:42 GMT"; None if unclear."""
    return _year(value)


def split_keywords(values: Iterable[str]) -> list[str]:
    """Keywords split on ',' and ';' (a library's tags), LaTeX decoded, blanks and repeats dropped."""
    words = (latex_to_text(word) for value in values for word in _KEYWORD_SPLIT.split(value))
    return list(dict.fromkeys(word for word in words if word))


def clean_markup(text: str) -> str:
    """Plain text from a field that may hold inline HTML (`<i>`, `<sub>`, entities such as `&amp;`)."""
    if "<" in text:
        text = _MARKUP.sub("", text)
    if "&" in text:
        text = html.unescape(text)
    return normalize_space(text)


def resolve_file(path: str, folder: str) -> str:
    """An attachment path as a library export names it, resolved against the export's folder: `file://` URIs
    and absolute (also Windows) paths are kept; a relative path that does not exist beside the export but does
    from the root is absolute with its '/' dropped (Mendeley writes /home/me/x.pdf as home/me/x.pdf)."""
    if path.startswith("file://"):
        path = unquote(path.removeprefix("file://"))
    if path.startswith("/") or _WINDOWS_DRIVE.match(path):
        return path
    beside = os.path.normpath(os.path.join(os.path.abspath(folder), path))
    if not os.path.exists(beside) and os.path.exists("/" + path):
        return "/" + path
    return beside


def doi_in_urls(*urls: str | None) -> str | None:
    """The DOI of the first doi.org link among `urls` (EndNote and DBLP put the DOI only there), normalised."""
    for url in urls:
        if url and "doi.org/" in url.lower() and (doi := normalize_doi(url)):
            return doi
    return None


def find_arxiv_id(*texts: str | None) -> str | None:
    """The first arXiv id named in a URL, DOI, note or venue ("arXiv preprint arXiv:1810.04805"), without version."""
    for text in texts:
        match = _ARXIV_IN_TEXT.search(text) if text else None
        if match:
            return normalize_arxiv_id(match.group(1))
    return None


def _supported() -> str:
    return "Supported formats: " + "; ".join(f"{name} ({desc})" for name, desc in FORMATS.items())


def _collect(
    path: Path,
    items: Iterable[Paper | InputFormatError],
    skip_bad: bool,
    skipped: list[InputFormatError] | None,
) -> Iterator[Paper]:
    """Apply the skip_bad policy in one place and turn 'nothing usable' into one clear error."""
    found = bad = 0
    for item in items:
        if isinstance(item, InputFormatError):
            if not skip_bad:
                raise item
            bad += 1
            if skipped is not None:
                skipped.append(item)
            continue
        found += 1
        yield item
    if not found:
        extra = f" ({bad} bad record{'s' if bad != 1 else ''} skipped)" if bad else ""
        raise InputFormatError(path, f"no papers found{extra}")


# ------------------------------------------------------------------------------------- file access


def _check_file(path: Path) -> None:
    """Whole-file problems get one clear message instead of a traceback from deep in a reader."""
    if not path.exists():
        raise InputFormatError(path, "file not found")
    if path.is_dir():
        raise InputFormatError(path, "is a directory, not a paper file")
    try:
        with path.open("rb"):
            size = path.stat().st_size
    except OSError as err:
        raise InputFormatError(path, f"cannot open the file: {err.strerror or err}") from None
    if size == 0:
        raise InputFormatError(path, "no papers found: the file is empty")


def _not_utf8(path: Path, data: bytes, index: int, offset: int, line: int) -> InputFormatError:
    byte = data[index : index + 1].hex() or "??"
    message = f"the file is not UTF-8 text (byte 0x{byte} at byte offset {offset}); save it as UTF-8"
    return InputFormatError(path, message, line)


def iter_lines(path: Path) -> Iterator[tuple[int, str, int]]:
    """(1-based line number, decoded line with its line ending, its size in bytes). Decoding line by line gives
    an exact line and byte offset when the file is not UTF-8; a leading BOM is dropped."""
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _not_utf8(path, raw, err.start, offset + err.start, lineno) from None
            offset += len(raw)
            yield lineno, text.removeprefix("\ufeff") if lineno == 1 else text, len(raw)


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    return ((lineno, text) for lineno, text, _ in iter_lines(path))


def _iter_chunks(path: Path) -> Iterator[str]:
    """Decoded fixed-size chunks, for formats where a line may be the whole file (a JSON array)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, first = 0, 1, True
    with path.open("rb") as fh:
        while True:
            raw = fh.read(_CHUNK_BYTES)
            pending = decoder.getstate()[0]
            try:
                text = decoder.decode(raw, final=not raw)
            except UnicodeDecodeError as err:
                data = pending + raw
                where = line + data.count(b"\n", 0, err.start)
                raise _not_utf8(path, data, err.start, offset - len(pending) + err.start, where) from None
            offset += len(raw)
            line += raw.count(b"\n")
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            if text:
                yield text
            if not raw:
                return


def _head_text(path: Path) -> str:
    """The text from the first non-space character on (at least two characters when available)."""
    head = ""
    for chunk in _iter_chunks(path):
        head = (head + chunk).lstrip()
        if len(head) > 1 and head[1:].strip():
            break
    return head


def _first_object_keys(path: Path) -> set[str] | None:
    """Keys of the first non-blank line if it is a JSON object, else None."""
    for _, text in _iter_lines(path):
        if text.strip():
            try:
                obj = json.loads(text)
            except (json.JSONDecodeError, RecursionError):
                return None
            return set(obj) if isinstance(obj, dict) else None
    return None


#: A JSON escape of half a surrogate pair without its other half ("\udfff"), which ijson cannot decode.
_LONE_SURROGATE = re.compile(rb"(?<!\\)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
                             rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)\\u[dD][c-fC-F][0-9a-fA-F]{2}")


class _LineFeed:
    """The file as ijson reads it, at most one line (and at most _CHUNK_BYTES) per read: every event ijson yields
    was then parsed from line `line`, which is how a JSON element gets the line it starts on (ijson reports no
    positions). UTF-8 is checked on the way, since ijson's own error names no line; a leading BOM is dropped."""

    def __init__(self, path: Path, fh: BinaryIO):
        self.path, self.fh = path, fh
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.line, self.offset, self._next_line = 1, 0, 1

    def read(self, size: int) -> bytes:
        if size == 0:  # ijson probes whether the file is binary
            return b""
        data = self.fh.readline(min(size, _CHUNK_BYTES))
        if self.offset == 0 and data.startswith(codecs.BOM_UTF8):
            self.offset, data = len(codecs.BOM_UTF8), data[len(codecs.BOM_UTF8) :]
        self.line = self._next_line
        pending = self.decoder.getstate()[0]
        try:
            self.decoder.decode(data, final=not data)
        except UnicodeDecodeError as err:
            offset = self.offset - len(pending) + err.start
            raise _not_utf8(self.path, pending + data, err.start, offset, self.line) from None
        self.offset += len(data)
        self._next_line += data.endswith(b"\n")
        return _LONE_SURROGATE.sub(rb"\\ufffd", data)  # what the other readers make of one (same length)


def iter_json_array(path: Path) -> Iterator[tuple[int, Any]]:
    """(line where it starts, value) for each element of a top-level JSON array, streamed with ijson. An element
    over MAX_RECORD_BYTES comes as its InputFormatError (not built, so memory stays flat); broken JSON syntax
    raises `file:line: malformed JSON: ...`, since there is no reliable place to resume."""
    with path.open("rb") as fh:
        feed = _LineFeed(path, fh)
        # basic_parse: no prefixes, whose building is quadratic in the nesting depth
        events = ijson.basic_parse(feed, buf_size=_CHUNK_BYTES, use_float=True)
        try:
            yield from _array_elements(feed, events)
        except ijson.JSONError as err:
            raise _json_syntax_error(path, feed.line, err) from None
        except UnicodeDecodeError:  # ijson turns a lone surrogate escape ("\udfff") into bytes it cannot decode
            raise InputFormatError(path, 'malformed JSON: a lone surrogate escape such as "\\udfff"',
                                   feed.line) from None


def _array_elements(feed: _LineFeed, events: Iterator[tuple[str, Any]]) -> Iterator[tuple[int, Any]]:
    first = next(events, None)
    if first is None or first[0] != "start_array":
        raise InputFormatError(feed.path, "malformed JSON: expected a JSON array starting with '['", feed.line)
    builder: ijson.ObjectBuilder | None = None
    depth = line = start = 0
    for event, value in events:
        if depth == 0 and event == "end_array":
            break
        if depth == 0:
            builder, line, start = ijson.ObjectBuilder(), feed.line, feed.offset
        if builder is not None:
            builder.event(event, value)
            if feed.offset - start > MAX_RECORD_BYTES:
                builder = None  # too large: stop building, keep counting to its end
        depth += event in ("start_map", "start_array")
        depth -= event in ("end_map", "end_array")
        if depth > MAX_JSON_DEPTH:
            raise InputFormatError(feed.path, f"malformed JSON: nested more than {MAX_JSON_DEPTH} levels deep",
                                   feed.line)
        if depth == 0:
            size = feed.offset - start
            yield line, builder.value if builder is not None else too_large(feed.path, line, size, about=True)
    for _ in events:  # only whitespace may follow the closing ']'; ijson raises on anything else
        pass


#: Deeper JSON than any paper record needs is refused before it costs time or the stack.
MAX_JSON_DEPTH = 100


def _json_syntax_error(path: Path, line: int, err: Exception) -> InputFormatError:
    """ijson's (yajl's) message, first line only, in the words the other readers use."""
    lines = str(err).strip().splitlines()
    reason = (lines[0] if lines else "incomplete JSON").removeprefix("parse error: ").removeprefix("lexical error: ")
    if "premature EOF" in reason or "Incomplete JSON" in reason:
        reason = "the file ends inside the array (missing ']')"
    elif "trailing garbage" in reason or "Additional data" in reason:
        reason = "unexpected text after the closing ']'"
    return InputFormatError(path, f"malformed JSON: {reason}", line)


def _first_array_element(path: Path) -> Any:
    """The first element of a JSON array file, or None (a broken file is left for its reader to report)."""
    try:
        return next((value for _, value in iter_json_array(path)), None)
    except InputFormatError:
        return None


def _is_csl_item(value: Any) -> bool:
    """A CSL-JSON item: a `type` plus CSL's own keys (issued, container-title, ...) or CSL-style names."""
    if not isinstance(value, dict) or "type" not in value:
        return False
    authors = value.get("author")
    names = isinstance(authors, list) and any(isinstance(a, dict) and ("family" in a or "literal" in a)
                                              for a in authors)
    return names or bool(_CSL_HINTS & set(value))


def _json_lines_format(keys: set[str]) -> str:
    if "_id" in keys and "text" in keys:
        return "beir"
    if {"id", "abstract"} <= keys and keys & {"authors_parsed", "versions", "update_date"}:
        return "arxiv"
    return "jsonl"


# ------------------------------------------------------------------------------------- field parsing


def _text(rec: dict[str, Any], key: str) -> str:
    """A field as normalised text; numbers become text, lists/objects are a bad record."""
    value = rec.get(key)
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, (str, int, float)):
        return normalize_space(str(value))
    raise _BadRecord(f"field {key!r} must be text, not {type(value).__name__}")


def _authors(value: Any) -> list[str]:
    """Authors from a list (of names or {name: ...}) or a string "A, B and C"."""
    if isinstance(value, str):
        parts: Iterable[Any] = _AUTHOR_SPLIT.split(value)
    elif isinstance(value, list):
        parts = (v.get("name", "") if isinstance(v, dict) else v for v in value)
    else:
        return []
    names = (normalize_space(str(p)) for p in parts if p is not None)
    return [n for n in names if n]


def _categories(value: Any) -> list[str]:
    if isinstance(value, str):
        return [c for c in _CATEGORY_SPLIT.split(value) if c]
    if isinstance(value, list):
        return [normalize_space(str(c)) for c in value if str(c).strip()]
    return []


def _year(value: Any) -> int | None:
    """A year from an int, "2007", "2007-04-02" or "Mon, 2 Apr 2007 19:18:42 GMT"; None if unclear."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return int(value) if 1500 <= value < 2200 else None
    match = _YEAR.search(str(value))
    return int(match.group(1)) if match else None


def _first_sentence(text: str) -> str:
    return re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0][:_FIRST_SENTENCE_MAX].strip()


def _fields_paper(rec: dict[str, Any]) -> dict[str, Any]:
    """Paper fields from the generic schema shared by jsonl, json and csv."""
    rec = {str(k).strip().lower(): v for k, v in rec.items()}
    title = _text(rec, "title")
    if not title:
        raise _BadRecord("missing title")
    abstract = next((t for t in (_text(rec, k) for k in _TEXT_FIELDS) if t), "")
    if not abstract:
        raise _BadRecord("missing abstract/summary/text")
    doi = _text(rec, "doi") or None
    return {
        "id": _text(rec, "id") or doi or paper_id_for_title(title),
        "title": title,
        "abstract": abstract,
        "authors": _authors(rec.get("authors")),
        "year": _year(rec.get("year")) or _year(rec.get("published")),
        "url": _text(rec, "url") or None,
        "doi": doi,
        "categories": _categories(rec.get("categories")),
    }


def _beir_paper(rec: dict[str, Any]) -> dict[str, Any]:
    """BEIR docs are keyed by `_id`; an empty title falls back to the text's first sentence."""
    doc_id, text = _text(rec, "_id"), _text(rec, "text")
    if not doc_id:
        raise _BadRecord("missing _id")
    if not text:
        raise _BadRecord("missing text")
    meta = rec.get("metadata") if isinstance(rec.get("metadata"), dict) else {}
    return {
        "id": doc_id,
        "title": _text(rec, "title") or _first_sentence(text),
        "abstract": text,
        "authors": _authors(meta.get("authors")),
        "year": _year(meta.get("year")),
        "url": _text(meta, "url") or None,
        "doi": _text(meta, "doi") or None,
    }


def _arxiv_paper(rec: dict[str, Any]) -> dict[str, Any]:
    """arXiv snapshot records: wrapped title/abstract are normalised and their LaTeX decoded ($p$-adic ->
    p-adic), so they read, embed and match queries like text; `journal-ref` is the venue once published."""
    arxiv_id, title, abstract = _text(rec, "id"), _text(rec, "title"), _text(rec, "abstract")
    if not arxiv_id:
        raise _BadRecord("missing id")
    if not title:
        raise _BadRecord("missing title")
    if not abstract:
        raise _BadRecord("missing abstract")
    return {
        "id": arxiv_id,
        "title": latex_to_text(title),
        "abstract": latex_to_text(abstract),
        "authors": _arxiv_authors(rec),
        "year": _arxiv_year(rec),
        "url": f"https://arxiv.org/abs/{arxiv_id}",
        "doi": _text(rec, "doi") or None,
        "arxiv_id": normalize_arxiv_id(arxiv_id),
        "venue": _text(rec, "journal-ref") or None,
        "categories": _categories(rec.get("categories")),
    }


def _arxiv_authors(rec: dict[str, Any]) -> list[str]:
    """`authors_parsed` ([last, first, suffix]) is cleaner than the free-text `authors` string."""
    parsed = rec.get("authors_parsed")
    if not isinstance(parsed, list) or not parsed:
        return _authors(rec.get("authors"))
    names = (latex_to_text(_parsed_name(entry)) for entry in parsed)
    return [name for name in names if name]


def _parsed_name(entry: Any) -> str:
    """[last, first, suffix] -> "first last suffix"."""
    parts = [str(p) for p in entry] if isinstance(entry, list) else [str(entry)]
    last, first, suffix = (parts + ["", "", ""])[:3]
    return normalize_space(f"{first} {last} {suffix}")


def _arxiv_year(rec: dict[str, Any]) -> int | None:
    """The year of first submission (v1), which is what people cite; else the last update."""
    versions = rec.get("versions")
    if isinstance(versions, list) and versions and isinstance(versions[0], dict):
        year = _year(versions[0].get("created"))
        if year:
            return year
    return _year(rec.get("update_date"))


def _make_paper(
    path: Path, line: int, rec: Any, build: Callable[[dict[str, Any]], dict[str, Any]]
) -> Paper | InputFormatError:
    """One record -> Paper, or the InputFormatError naming its file and line."""
    if not isinstance(rec, dict):
        return InputFormatError(path, f"expected a JSON object, got {type(rec).__name__}", line)
    try:
        return Paper(**build(rec), source=str(path), line=line)
    except _BadRecord as err:
        return InputFormatError(path, str(err), line)


# ------------------------------------------------------------------------------------- JSON readers


def _json_lines(path: Path, build: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[Any]:
    """One JSON object a line; a malformed or oversized line is one bad record, the rest still reads."""
    for lineno, text, size in iter_lines(path):
        if size > MAX_RECORD_BYTES:
            yield too_large(path, lineno, size)
            continue
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as err:
            reason = f"malformed JSON (expected one object a line): {err.msg} at column {err.colno}"
            yield InputFormatError(path, reason, lineno)
            continue
        except RecursionError:
            yield InputFormatError(path, "malformed JSON: nested too deeply", lineno)
            continue
        yield _make_paper(path, lineno, rec, build)


def _read_jsonl(path: Path) -> Iterator[Paper | InputFormatError]:
    return _json_lines(path, _fields_paper)


def _read_beir(path: Path) -> Iterator[Paper | InputFormatError]:
    return _json_lines(path, _beir_paper)


def _read_arxiv(path: Path) -> Iterator[Paper | InputFormatError]:
    return _json_lines(path, _arxiv_paper)


def _read_json(path: Path) -> Iterator[Paper | InputFormatError]:
    """A JSON array of objects. A bad object is one bad record at the line where it starts; broken JSON
    syntax stops the file (see iter_json_array)."""
    for line, value in iter_json_array(path):
        yield value if isinstance(value, InputFormatError) else _make_paper(path, line, value, _fields_paper)


# ------------------------------------------------------------------------------------- CSV reader


def _read_csv(path: Path) -> Iterator[Paper | InputFormatError]:
    """CSV with a header row; rows may span lines (quoted newlines), so each row is reported at the
    line where it starts, and its size is the bytes of all its lines."""
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_RECORD_CHARS, MAX_RECORD_BYTES + 1))
    consumed = [0]

    def lines() -> Iterator[str]:
        for _, text, size in iter_lines(path):
            consumed[0] += size
            yield text

    reader = csv.reader(lines())
    header, start = _csv_header(path, reader)
    while True:
        before = consumed[0]
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise InputFormatError(path, f"malformed CSV: {err}", start) from None
        line, start = start, reader.line_num + 1
        if consumed[0] - before > MAX_RECORD_BYTES:
            yield too_large(path, line, consumed[0] - before)
        elif any(cell.strip() for cell in row):
            yield _csv_paper(path, line, header, row)


def _csv_header(path: Path, reader: Any) -> tuple[list[str], int]:
    """The first non-blank row, lower-cased; it must name a title and a text column."""
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                header = [cell.strip().lower() for cell in row]
                break
        else:
            raise InputFormatError(path, "no papers found: the CSV file has no header row")
    except csv.Error as err:
        raise InputFormatError(path, f"malformed CSV header: {err}", reader.line_num) from None
    if "title" not in header or not set(_TEXT_FIELDS) & set(header):
        found = ", ".join(h for h in header if h) or "nothing"
        reason = f"the CSV header must name 'title' and 'abstract', 'summary' or 'text'; found {found}"
        raise InputFormatError(path, reason, reader.line_num)
    return header, reader.line_num + 1


def _csv_paper(path: Path, line: int, header: list[str], row: list[str]) -> Paper | InputFormatError:
    if len(row) > len(header):
        return InputFormatError(path, f"row has {len(row)} fields but the header has {len(header)}", line)
    rec = {name: value for name, value in zip(header, row, strict=False) if name}
    return _make_paper(path, line, rec, _fields_paper)


# ------------------------------------------------------------------------------------- listing reader


def _looks_like_title(text: str) -> bool:
    return len(text) <= _TITLE_MAX


def _looks_like_abstract(text: str) -> bool:
    """Long, or shorter but written in sentences (titles seldom end in '.' or hold two sentences)."""
    if len(text) < _ABSTRACT_MIN:
        return False
    return len(text) > _TITLE_MAX or text.endswith(".") or len(_SENTENCE_END.findall(text)) >= 2


def _orphan_error(path: Path, line: int, text: str) -> InputFormatError:
    what = "abstract-like text without a title" if _looks_like_abstract(text) else "title without abstract"
    preview = text if len(text) <= 80 else text[:77] + "..."
    return InputFormatError(path, f"{what}: {preview!r}", line)


class _Listing:
    """State for pairing title lines with abstract lines. Unpaired lines before the first paper are
    page boilerplate, unpaired lines after the last paper are footer; unpaired lines between papers
    are bad records, reported once the next paper proves they were not the footer."""

    def __init__(self, path: Path):
        self.path = path
        self.pending: tuple[int, str] | None = None
        self.orphans: list[tuple[int, str]] = []
        self.glued: str | None = None
        self.started = False

    def feed(self, line: int, text: str) -> Iterator[Paper | InputFormatError]:
        if self.pending and _looks_like_abstract(text):
            yield from self._paper(*self.pending, text)
            self.pending = None
            return
        if self.pending:
            self.orphans.append(self.pending)
        self.pending = (line, text) if _looks_like_title(text) else None
        if self.pending is None:
            self.orphans.append((line, text))

    def _paper(self, line: int, title: str, abstract: str) -> Iterator[Paper | InputFormatError]:
        if self.started:
            yield from (_orphan_error(self.path, n, t) for n, t in self.orphans)
        self.orphans.clear()
        title = normalize_space(self._unglue(title))
        self.started = True
        yield Paper(
            id=paper_id_for_title(title),
            title=title,
            abstract=normalize_space(abstract),
            source=str(self.path),
            line=line,
        )

    def _unglue(self, title: str) -> str:
        """Strip a button word glued to the first title; later titles only lose the same word, so a
        real title like "FollowBench: ..." is left alone."""
        match = _GLUED_WORD.match(title)
        if not match or (self.started and match.group(1) != self.glued):
            return title
        if not self.started:
            self.glued = match.group(1)
        return title[match.end() :]


def _read_listing(path: Path) -> Iterator[Paper | InputFormatError]:
    state = _Listing(path)
    for lineno, raw, size in iter_lines(path):
        if size > MAX_RECORD_BYTES:
            yield too_large(path, lineno, size)
            state.pending = None
            continue
        text = raw.strip()
        if text:
            yield from state.feed(lineno, text)


# ------------------------------------------------------------------------------------- reference libraries
# Imported on first use: bibtexparser and rispy are only loaded when such a file is read.


def _read_bibtex(path: Path) -> Iterator[Paper | InputFormatError]:
    from paperchat.ingest.bibtex import read_bibtex

    return read_bibtex(path)


def _read_ris(path: Path) -> Iterator[Paper | InputFormatError]:
    from paperchat.ingest.ris import read_ris

    return read_ris(path)


def _read_csljson(path: Path) -> Iterator[Paper | InputFormatError]:
    from paperchat.ingest.csljson import read_csljson

    return read_csljson(path)


_READERS: dict[str, Callable[[Path], Iterator[Paper | InputFormatError]]] = {
    "listing": _read_listing,
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
    "beir": _read_beir,
    "arxiv": _read_arxiv,
    "bibtex": _read_bibtex,
    "ris": _read_ris,
    "csljson": _read_csljson,
    "pdf": read_pdf_items,
}
