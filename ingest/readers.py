"""Streaming readers that turn paper files (listing pages, JSON, CSV, BEIR, arXiv) into `Paper` records.

Every reader streams: it holds one line, one CSV row or one JSON record at a time, so memory stays
flat however large the file. Each format reader yields `Paper` or `InputFormatError` items (a bad
record); `read_papers` decides whether a bad record raises or is skipped. Whole-file problems
(missing, empty, not UTF-8, malformed structure) always raise.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from paperchat.rag.errors import InputFormatError, UnknownFormatError
from paperchat.rag.types import Paper

FORMATS: dict[str, str] = {
    "listing": "raw text of a 'trending papers' page: a title line, then an abstract line, per paper",
    "jsonl": "one JSON object a line: title + abstract/summary/text, optional id, doi, url, authors, year",
    "json": "a JSON array of objects with the same fields as jsonl",
    "csv": "CSV with a header row naming the same fields as jsonl (title, abstract, ...)",
    "beir": "BEIR corpus.jsonl: one {_id, title, text, metadata} object a line",
    "arxiv": "arXiv metadata snapshot (Kaggle arxiv-metadata-oai-snapshot.json): one object a line",
}

_CHUNK_BYTES = 1 << 16
_MAX_RECORD_CHARS = 1 << 25
_TITLE_MAX = 300
_ABSTRACT_MIN = 150
_FIRST_SENTENCE_MAX = 120
_TEXT_FIELDS = ("abstract", "summary", "text")
_TEXT_SUFFIXES = {".txt", ".md", ".text", ""}
_JSON_SUFFIXES = {".json", ".jsonl", ".ndjson"}
_NON_SPACE = re.compile(r"\S")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_YEAR = re.compile(r"(?<!\d)(1[5-9]\d\d|2[01]\d\d)(?!\d)")
_AUTHOR_SPLIT = re.compile(r"\s*(?:[,;&]|\band\b)\s*")
_CATEGORY_SPLIT = re.compile(r"[\s,;]+")
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
    key = normalize_space(title).lower()
    return "t-" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


def detect_format(path: Path) -> str:
    """Guess the format from the extension and the first non-blank text, so users need no --format
    flag for the files they really have."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    head = _head_text(path)
    if not head:
        raise InputFormatError(path, "no papers found: the file is blank")
    if head[0] == "[" and head[1:].lstrip()[:1] in ("{", "]"):
        return "json"
    if head[0] == "{":
        keys = _first_object_keys(path)
        if keys is not None:
            return _json_lines_format(keys)
    if suffix in _JSON_SUFFIXES:
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


def _iter_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, decoded line with its line ending). Decoding line by line gives an exact
    line and byte offset when the file is not UTF-8; a leading BOM is dropped."""
    offset = 0
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise _not_utf8(path, raw, err.start, offset + err.start, lineno) from None
            offset += len(raw)
            yield lineno, text.removeprefix("\ufeff") if lineno == 1 else text


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
            except json.JSONDecodeError:
                return None
            return set(obj) if isinstance(obj, dict) else None
    return None


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
    """arXiv snapshot records: wrapped title/abstract are normalised, LaTeX is kept as is."""
    arxiv_id, title, abstract = _text(rec, "id"), _text(rec, "title"), _text(rec, "abstract")
    if not arxiv_id:
        raise _BadRecord("missing id")
    if not title:
        raise _BadRecord("missing title")
    if not abstract:
        raise _BadRecord("missing abstract")
    return {
        "id": arxiv_id,
        "title": title,
        "abstract": abstract,
        "authors": _arxiv_authors(rec),
        "year": _arxiv_year(rec),
        "url": f"https://arxiv.org/abs/{arxiv_id}",
        "doi": _text(rec, "doi") or None,
        "categories": _categories(rec.get("categories")),
    }


def _arxiv_authors(rec: dict[str, Any]) -> list[str]:
    """`authors_parsed` ([last, first, suffix]) is cleaner than the free-text `authors` string."""
    parsed = rec.get("authors_parsed")
    if not isinstance(parsed, list) or not parsed:
        return _authors(rec.get("authors"))
    names = (_parsed_name(entry) for entry in parsed)
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
    """One JSON object a line; a malformed line is one bad record, the rest still reads."""
    for lineno, text in _iter_lines(path):
        if not text.strip():
            continue
        try:
            rec = json.loads(text)
        except json.JSONDecodeError as err:
            reason = f"malformed JSON (expected one object a line): {err.msg} at column {err.colno}"
            yield InputFormatError(path, reason, lineno)
            continue
        yield _make_paper(path, lineno, rec, build)


def _read_jsonl(path: Path) -> Iterator[Paper | InputFormatError]:
    return _json_lines(path, _fields_paper)


def _read_beir(path: Path) -> Iterator[Paper | InputFormatError]:
    return _json_lines(path, _beir_paper)


def _read_arxiv(path: Path) -> Iterator[Paper | InputFormatError]:
    return _json_lines(path, _arxiv_paper)


class _TextBuffer:
    """A sliding window over decoded chunks, so `raw_decode` can parse a JSON array one element at a
    time while consumed text is dropped (memory stays at one record plus one chunk)."""

    def __init__(self, path: Path):
        self.path = path
        self._chunks = _iter_chunks(path)
        self.text, self.pos, self.line, self.eof = "", 0, 1, False

    def fill(self, at_least: int = 1) -> bool:
        """Drop consumed text and append at least `at_least` more characters; False at end of file."""
        self.line += self.text.count("\n", 0, self.pos)
        pieces, added = [self.text[self.pos :]], 0
        while added < at_least and not self.eof:
            chunk = next(self._chunks, None)
            if chunk is None:
                self.eof = True
            else:
                pieces.append(chunk)
                added += len(chunk)
        self.text, self.pos = "".join(pieces), 0
        return added > 0

    def peek(self) -> str:
        """Skip whitespace and return the next character ('' at end of file)."""
        while True:
            match = _NON_SPACE.search(self.text, self.pos)
            if match:
                self.pos = match.start()
                return self.text[self.pos]
            self.pos = len(self.text)
            if not self.fill():
                return ""

    def line_at(self, pos: int | None = None) -> int:
        return self.line + self.text.count("\n", 0, self.pos if pos is None else pos)

    def error(self, message: str, pos: int | None = None) -> InputFormatError:
        return InputFormatError(self.path, message, self.line_at(pos))

    def decode(self, decoder: json.JSONDecoder) -> Any:
        """Decode the value at `pos`, reading more text while it may merely be cut off by the chunk end."""
        while True:
            try:
                value, end = decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as err:
                if self.eof or not _maybe_cut_off(err, len(self.text)):
                    raise self.error(f"malformed JSON: {err.msg}", err.pos) from None
            else:
                if end < len(self.text) or self.eof:
                    self.pos = end
                    return value
            if len(self.text) - self.pos > _MAX_RECORD_CHARS:
                raise self.error("malformed JSON: a record is unterminated or larger than 32M characters")
            self.fill(at_least=max(_CHUNK_BYTES, len(self.text) - self.pos))


def _maybe_cut_off(err: json.JSONDecodeError, size: int) -> bool:
    """True when the decode error could come from the text ending mid-value rather than bad JSON."""
    return err.msg.startswith("Unterminated string") or "\\u" in err.msg or err.pos >= size - 10


def _read_json(path: Path) -> Iterator[Paper | InputFormatError]:
    """A JSON array of objects. A bad object is one bad record; broken JSON syntax stops the file,
    since there is no reliable place to resume."""
    buf, decoder = _TextBuffer(path), json.JSONDecoder()
    if buf.peek() != "[":
        raise buf.error("malformed JSON: expected a JSON array starting with '['")
    buf.pos += 1
    if buf.peek() == "]":
        buf.pos += 1
    else:
        yield from _json_array_items(buf, decoder)
    if buf.peek():
        raise buf.error("malformed JSON: unexpected text after the closing ']'")


def _json_array_items(buf: _TextBuffer, decoder: json.JSONDecoder) -> Iterator[Paper | InputFormatError]:
    while True:
        if not buf.peek():
            raise buf.error("malformed JSON: the file ends inside the array (missing ']')")
        line = buf.line_at()
        yield _make_paper(buf.path, line, buf.decode(decoder), _fields_paper)
        sep = buf.peek()
        if not sep:
            raise buf.error("malformed JSON: the file ends inside the array (missing ']')")
        buf.pos += 1
        if sep == "]":
            return
        if sep != ",":
            raise buf.error("malformed JSON: expected ',' or ']' after an array element", buf.pos - 1)


# ------------------------------------------------------------------------------------- CSV reader


def _read_csv(path: Path) -> Iterator[Paper | InputFormatError]:
    """CSV with a header row; rows may span lines (quoted newlines), so each row is reported at the
    line where it starts."""
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_RECORD_CHARS))
    reader = csv.reader(text for _, text in _iter_lines(path))
    header, start = _csv_header(path, reader)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise InputFormatError(path, f"malformed CSV: {err}", start) from None
        line, start = start, reader.line_num + 1
        if any(cell.strip() for cell in row):
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
    for lineno, raw in _iter_lines(path):
        text = raw.strip()
        if text:
            yield from state.feed(lineno, text)


_READERS: dict[str, Callable[[Path], Iterator[Paper | InputFormatError]]] = {
    "listing": _read_listing,
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
    "beir": _read_beir,
    "arxiv": _read_arxiv,
}
