"""Read a paper's PDF: its text page by page in reading order, cleaned, plus title, authors, year,
abstract and ids.

Text comes from pypdf (BSD, already a dependency). pypdf reports every piece of text it draws with its
position and font size (`visitor_text`); the pieces are put into lines by their baseline and the lines
into reading order by position, so a two-column page reads left column then right column even when the
file draws the lines of both columns interleaved. docs/pdf.md compares this with plain pypdf (stream order
only) and pdfminer.six (same reading order, 2-4 times slower) and explains the heuristics used here:

- running headers, footers and page numbers: lines in the top/bottom 9% of the page that repeat on
  several pages once digits are ignored (or are a bare page number) are dropped; so are margin line numbers;
- line-break hyphens: "compu-" + "tation" is joined when the joined word is a word (seen unhyphenated in the
  same paper, or in a 21k-word English lexicon), kept when the hyphenated form is what the paper uses or
  both halves are words and the joined form is not ("state-of-the-" + "art");
- the front matter: title from sensible metadata, else the largest-font lines at the top of page 1; the
  abstract is the paragraph after an "Abstract" heading; page 1's text starts after it;
- the references section (the last "References"/"Bibliography" heading) is cut from the pages up to an
  appendix heading, so a question cannot match a paper through its bibliography.

A file that is not a PDF, is cut short, cannot be parsed, is password protected or has no text (a scan)
is an `InputFormatError` with one of three reasons a summary can group by: "not a readable PDF (...)",
"encrypted", "no text layer (OCR is not supported)".
"""

from __future__ import annotations

import functools
import json
import logging
import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from paperchat.ingest.chunking import section_heading
from paperchat.rag.errors import InputFormatError
from paperchat.rag.ids import library_paper_id, normalize_arxiv_id
from paperchat.rag.metadata import normalize_doi
from paperchat.rag.types import PageText, Paper

NO_TEXT = "no text layer (OCR is not supported)"
ENCRYPTED = "encrypted"

_BAND = 0.09  # top and bottom share of the page where running headers and footers live
_MIN_LETTERS = 200  # fewer letters in the whole file than this: a scan without a text layer
_MAX_TITLE = 300
_MAX_ABSTRACT = 5000
_FOOTNOTE_MARK = re.compile(r"^[\d,*\u2020\u2021\u00a7\u00b6\u2217\u22c6\s]+$")
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-\u2013(]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-\u2013)]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_DIGITS = re.compile(r"\d+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_ARXIV = re.compile(r"arXiv:\s*(\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z.-]+/\d{7}(?:v\d+)?)"
                    r"|arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5}(?:v\d+)?)", re.I)
_DOI = re.compile(r"(?:doi\.org/|\bdoi\s*:?\s*)(10\.\d{4,9}/[^\s\"<>]+)", re.I)
_BARE_DOI = re.compile(r"\b(10\.\d{4,9}/[^\s\"<>]+)")
_YEAR = re.compile(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)")
_ABSTRACT_HEAD = re.compile(r"^a\s?b\s?s\s?t\s?r\s?a\s?c\s?t\s*[.:\u2014\u2013-]?$", re.I)  # also "A B S T R A C T"
_ABSTRACT_INLINE = re.compile(r"^abstract\s*(?:[.:\u2014\u2013-]\s*|\s+(?=[A-Z]))(.+)$", re.I | re.S)
_INLINE_MIN_WORDS = 25  # "Abstract We study ..." without punctuation: only a long paragraph, not "Abstract Syntax"
_KEYWORDS = re.compile(r"^(?:keywords|index terms|key words)\b", re.I)
_REFERENCES = re.compile(
    r"^(?:\d{1,2}\.?\s+|[IVX]{1,4}\.\s+)?(?:references|bibliography|literature cited|works cited)$", re.I)
_AFTER_REFERENCES = re.compile(r"^(?:appendix|appendices|supplementary|supplemental|checklist|[A-Z](?:\.\d{1,2})*\.?\s+"
                               r"[A-Z])|paper checklist$", re.I)
_AUTHOR_SPLIT = re.compile(r"\s*(?:;|,|&|\band\b)\s*")
_NAME_TOKEN = re.compile(r"^(?:[A-Z][a-z'\u2019]+(?:-[A-Z][a-z'\u2019]+)?|[A-Z]\.(?:-?[A-Z]\.)?|[a-z]{1,3})$")
_NOT_NAMES = re.compile(r"universit|institut|department|school|college|laborator|\blab\b|research|google|microsoft|"
                        r"meta\b|inc\b|corp|@|\d", re.I)
_BAD_META = re.compile(r"^(?:microsoft (?:word|powerpoint) - |untitled|document\d*$|title$|paper$|slide|"
                       r"arxiv:|\d+$)|\.(?:pdf|docx?|tex|dvi|ps|rtf|odt)$|[\\/]", re.I)
_BAD_AUTHOR = {"", "admin", "administrator", "user", "owner", "author", "unknown", "root", "default", "anonymous"}
_BOLD = re.compile(r"bold|black|heavy|semibold|demi|medi|cmbx|\.b\b|-b$", re.I)
_SENTENCE_END = (".", "!", "?", ":")

log = logging.getLogger(__name__)
# pypdf logs every repair it makes to a broken file; without a handler Python would print them all on
# stderr. An application that configures logging still receives them.
logging.getLogger("pypdf").addHandler(logging.NullHandler())


# ------------------------------------------------------------------------------------- lines on a page


@dataclass(frozen=True)
class _Frag:
    """One piece of text as pypdf draws it: baseline start and end, effective font size, boldness."""

    x: float
    y: float
    size: float
    text: str
    bold: bool
    end: float


@dataclass
class _Line:
    """One line of text on a page, in PDF user space (y grows upwards)."""

    x: float
    y: float
    size: float
    text: str
    bold: bool = False
    region: str = "full"  # "full", "left" or "right"
    end: float = 0.0  # where the line's last piece ends


@dataclass
class _Page:
    number: int
    top: float
    bottom: float
    lines: list[_Line] = field(default_factory=list)
    rotated: list[str] = field(default_factory=list)  # vertical margin text (the arXiv stamp)
    failed: bool = False

    @property
    def height(self) -> float:
        return self.top - self.bottom


def _mult(m: list[float], n: list[float]) -> list[float]:
    return [m[0] * n[0] + m[1] * n[2], m[0] * n[1] + m[1] * n[3], m[2] * n[0] + m[3] * n[2],
            m[2] * n[1] + m[3] * n[3], m[4] * n[0] + m[5] * n[2] + n[4], m[4] * n[1] + m[5] * n[3] + n[5]]


def _clean(text: str) -> str:
    """NFKC turns ligatures ("ﬁ") and compatibility forms into plain letters; control characters go."""
    return _CONTROL.sub("", unicodedata.normalize("NFKC", text.replace("\n", "")))


def _fragments(page: Any, widths: _Widths) -> tuple[list[_Frag], list[str]]:
    """Upright text pieces with positions, and rotated text apart (it is margin text, not body)."""
    frags: list[_Frag] = []
    rotated: list[str] = []

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        text = _clean(text)
        if not text:
            return
        m = _mult([float(v) for v in tm], [float(v) for v in cm])
        if abs(m[1]) > 1e-3 or abs(m[2]) > 1e-3 or m[0] <= 0 or m[3] <= 0:
            rotated.append(text)
            return
        base = str(font.get("/BaseFont", "")) if hasattr(font, "get") else ""
        end = m[4] + widths.width(font, text) * size * m[0]
        frags.append(_Frag(m[4], m[5], round(abs(size * m[3]), 2), text, bool(_BOLD.search(base)), end))

    _one_run_per_position(page)
    page.extract_text(visitor_text=visit)
    return frags, rotated


class _Widths:
    """Text widths (in units of the font size) from the font's own metrics, through pypdf's font class;
    half an em a character when that class is missing (older pypdf) or the font is unreadable. One per
    file: pages share their fonts, and reading a font's metrics costs more than a page's text."""

    def __init__(self) -> None:
        self._fonts: dict[object, tuple[Any, Any]] = {}

    def width(self, font: Any, text: str) -> float:
        ref = getattr(font, "indirect_reference", None)
        key = (ref.idnum, ref.generation) if ref is not None else id(font)
        if key not in self._fonts:
            self._fonts[key] = (font, _font_metrics(font))  # the font is kept so its id is not reused
        metrics = self._fonts[key][1]
        if metrics is None:
            return 0.5 * len(text)
        try:
            return metrics.get_text_width(text) / 1000
        except Exception:  # noqa: BLE001 - a width is an estimate; never fail a page for it
            return 0.5 * len(text)


def _font_metrics(font: Any) -> Any:
    try:
        from pypdf.generic._font import Font  # private in pypdf 6-7: the class its extraction uses

        return Font.from_font_resource(font) if font is not None else None
    except Exception:  # noqa: BLE001 - no metrics: fall back to the estimate
        return None


_MOVES = {b"Td", b"TD", b"Tm", b"T*"}


def _one_run_per_position(page: Any) -> None:
    """Make pypdf report the text after every text-positioning operator as its own piece.

    pypdf reports the text it gathered when the font changes, not when the text position jumps on the
    same baseline, so a file that draws both columns row by row in one text object would come out as
    lines that cross the gutter. Repeating the current font (`Tf`) after each move changes nothing on
    the page but makes pypdf hand over the piece with its start position.
    """
    from pypdf.generic import ContentStream, NameObject

    contents = page.get_contents()
    if contents is None:
        return
    # "bytes": keep the strings as the font's codes, as pypdf's own extraction parses them
    content = ContentStream(contents, page.pdf, "bytes")
    ops, font, saved = [], None, []
    for operands, operator in content.operations:
        ops.append((operands, operator))
        if operator == b"Tf":
            font = operands
        elif operator == b"q":
            saved.append(font)
        elif operator == b"Q" and saved:
            font = saved.pop()
        elif operator in _MOVES and font is not None:
            ops.append((font, b"Tf"))
    content.operations = ops
    page[NameObject("/Contents")] = content


def _mode_x(xs: list[float]) -> float | None:
    counts = Counter(round(x) for x in xs)
    return float(counts.most_common(1)[0][0]) if counts else None


def _drop_margin_numbers(frags: list[_Frag], left: float, right: float) -> list[_Frag]:
    """Review copies number their lines in the margins; a bare number outside the text block is one of them."""
    body_left = _mode_x([f.x for f in frags if f.x < (left + right) / 2]) or left
    margin = body_left - left
    keep = []
    for f in frags:
        is_number = f.text.strip().isdigit() and len(f.text.strip()) <= 4
        if is_number and (f.x < body_left - 4 or f.x > right - margin + 2):
            continue
        keep.append(f)
    return keep


def _right_column(frags: list[_Frag], left: float, right: float) -> tuple[float, float, float] | None:
    """(x, top, bottom) of a second column: a left edge in the middle of the page where at least three
    lines start, each with a gutter between it and the text to its left on the same baseline. (A bold
    word that happens to start at the same place on three lines has text right up to it.)"""
    width = right - left
    words = [f for f in frags if f.text.strip()]
    middle = [f for f in words if left + 0.3 * width < f.x < left + 0.7 * width]
    if not middle:
        return None
    x, _ = Counter(round(f.x / 2) * 2 for f in middle).most_common(1)[0]
    starts = {round(f.y): f for f in middle if abs(f.x - x) <= 2}
    if len(starts) < 3:
        return None
    by_row: dict[int, list[_Frag]] = {}
    for f in words:
        by_row.setdefault(round(f.y), []).append(f)
    beside = gutter = 0
    for row, start in starts.items():
        reach = range(row - round(0.6 * start.size), row + round(0.6 * start.size) + 1)  # columns' baselines differ
        ends = [f.end for r in reach for f in by_row.get(r, []) if f.x < start.x - 1]
        if ends:
            beside += 1
            gutter += max(ends) <= start.x - 0.8 * start.size
    if beside < 3 or gutter < 0.8 * beside:
        return None
    column = starts.values()
    size = max(f.size for f in column)
    return x - 2, max(f.y for f in column) + size, min(f.y for f in column) - size


def _group_lines(frags: list[_Frag], region: str) -> list[_Line]:
    """Pieces on one baseline (superscripts and subscripts included) become one line, left to right."""
    lines: list[_Line] = []
    groups: list[list[_Frag]] = []
    for frag in sorted(frags, key=lambda f: (-f.y, f.x)):
        if groups:
            anchor = max(groups[-1], key=lambda f: f.size)
            if abs(anchor.y - frag.y) <= 0.45 * max(anchor.size, frag.size):
                groups[-1].append(frag)
                continue
        groups.append([frag])
    for group in groups:
        anchor = max(group, key=lambda f: (f.size, -abs(f.y)))
        pieces = [f for f in sorted(group, key=lambda f: f.x) if not _is_footnote_mark(f, anchor)]
        text = " ".join("".join(f.text for f in pieces).split())
        if not text:
            continue
        bold = sum(len(f.text) for f in pieces if f.bold) > sum(len(f.text) for f in pieces) / 2
        lines.append(_Line(pieces[0].x, anchor.y, anchor.size, text, bold, region, max(f.end for f in pieces)))
    return lines


def _is_footnote_mark(frag: _Frag, anchor: _Frag) -> bool:
    """A small raised "1", "*" or "†" after a word marks a footnote or an affiliation: not text."""
    raised = frag.y - anchor.y > 0.15 * anchor.size
    return frag is not anchor and raised and frag.size < 0.8 * anchor.size and bool(_FOOTNOTE_MARK.match(frag.text))


def _page_lines(frags: list[_Frag], box: tuple[float, float, float, float]) -> list[_Line]:
    """The lines of a page in reading order: above the columns, left column, right column, below.

    The columns span from the first to the last line of the right column. Under it, a line that starts
    on the left and is too short to cross the page is the end of a longer left column, not text across
    the page, so it is read before the right column.
    """
    left, bottom, right, top = box
    frags = _drop_margin_numbers(frags, left, right)
    column = _right_column(frags, left, right)
    if column is None:
        return _group_lines(frags, "full")
    x, col_top, col_bottom = column
    inside = [f for f in frags if col_bottom <= f.y <= col_top]
    left_lines = _group_lines([f for f in inside if f.x < x], "left")
    below = []
    for line in _group_lines([f for f in frags if f.y < col_bottom], "full"):
        in_footer = line.y <= bottom + _BAND * (top - bottom)
        if not in_footer and line.x < x and line.end < x - 0.5 * line.size:
            line.region = "left"
            left_lines.append(line)
        else:
            below.append(line)
    return (_group_lines([f for f in frags if f.y > col_top], "full") + left_lines
            + _group_lines([f for f in inside if f.x >= x], "right") + below)


# ------------------------------------------------------------------------------------- opening the file


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return f"not a readable PDF ({text[:160]})"


def check_pdf(path: Path | str) -> None:
    """The cheap checks of a PDF (header, complete file) without parsing it: what an ingest does for every
    PDF a user names before it embeds anything."""
    _check_bytes(Path(path))


def _check_bytes(path: Path) -> None:
    """Cheap checks before parsing: a PDF starts with %PDF- and a complete one ends with %%EOF (an
    interrupted download does not, and parsing it would silently give half a paper)."""
    with path.open("rb") as fh:
        head = fh.read(1024)
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 2048))
        tail = fh.read()
    if b"%PDF-" not in head:
        kind = "an HTML page" if head.lstrip()[:1] == b"<" else "no %PDF- header"
        raise InputFormatError(path, f"not a readable PDF ({kind})")
    if b"%%EOF" not in tail:
        raise InputFormatError(path, "not a readable PDF (truncated: no %%EOF at the end)")


def _open(path: Path) -> Any:
    """A pypdf reader, decrypted when it opens without a password; errors become InputFormatError."""
    from pypdf import PasswordType, PdfReader

    _check_bytes(path)
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - an unsupported handler is as closed as a password
                opened = PasswordType.NOT_DECRYPTED
            if opened == PasswordType.NOT_DECRYPTED:
                raise InputFormatError(path, ENCRYPTED)
        if len(reader.pages) == 0:
            raise InputFormatError(path, "not a readable PDF (it has no pages)")
    except InputFormatError:
        raise
    except MemoryError:
        raise
    except Exception as err:  # noqa: BLE001 - any parser failure on a broken file is a bad input, not a crash
        raise InputFormatError(path, _reason(err)) from None
    return reader


def _read_pages(reader: Any) -> list[_Page]:
    """Every page's lines; a page pypdf cannot parse is kept empty (and counted) instead of losing the file."""
    pages = []
    widths = _Widths()
    for number, page in enumerate(reader.pages, 1):
        try:
            box = page.mediabox
            left, bottom, right, top = float(box.left), float(box.bottom), float(box.right), float(box.top)
            frags, rotated = _fragments(page, widths)
            pages.append(_Page(number, top, bottom, _page_lines(frags, (left, bottom, right, top)), rotated))
        except MemoryError:
            raise
        except Exception as err:  # noqa: BLE001 - one broken page must not lose the others
            log.debug("page %d unreadable: %s", number, err)
            pages.append(_Page(number, 1.0, 0.0, failed=True))
    return pages


# ------------------------------------------------------------------------------------- headers and footers


def _in_band(page: _Page, line: _Line) -> bool:
    return line.y >= page.top - _BAND * page.height or line.y <= page.bottom + _BAND * page.height


def _band_key(text: str) -> str:
    return _DIGITS.sub("#", " ".join(text.lower().split()))


def _drop_running_lines(pages: list[_Page], body_size: float) -> None:
    """Headers and footers repeat on many pages (page numbers change, so digits are ignored); a bare page
    number in the band goes even when it does not repeat, and so do the small-print notices at the top or
    foot of page 1 ("Preprint. Under review.", a venue line, a copyright line)."""
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_band_key(line.text) for line in page.lines if _in_band(page, line)})
    readable = sum(1 for p in pages if p.lines)
    repeated = {key for key, n in counts.items() if n >= 2 and n >= 0.4 * readable}

    def running(page: _Page, line: _Line) -> bool:
        if not _in_band(page, line):
            return False
        small_notice = page.number == 1 and line.size < body_size - 1
        return small_notice or _band_key(line.text) in repeated or bool(_PAGE_NUMBER.match(line.text))

    for page in pages:
        page.lines = [line for line in page.lines if not running(page, line)]


# ------------------------------------------------------------------------------------- hyphenation


@functools.lru_cache(maxsize=1)
def _lexicon() -> frozenset[str]:
    """English words from the WordPiece vocabulary the embedding model ships (about 21,700 whole words):
    installed with paperchat, so de-hyphenation needs no download. Empty if the file is missing."""
    try:
        from paperchat.rag.embeddings import minilm_paths

        vocab = json.loads(minilm_paths()[1].read_text(encoding="utf-8"))["model"]["vocab"]
    except Exception:  # noqa: BLE001 - without the lexicon the paper's own words still decide
        return frozenset()
    return frozenset(w for w in vocab if len(w) > 1 and w.isascii() and w.isalpha())


class _Vocabulary:
    """How the paper itself writes words: counts of whole words and hyphenated compounds seen inside lines."""

    def __init__(self, lines: list[str]):
        self.words: Counter[str] = Counter()
        after_hyphen = False
        for text in lines:
            tokens = text.split()
            for i, token in enumerate(tokens):
                if (i == 0 and after_hyphen) or (i == len(tokens) - 1 and token.endswith("-")):
                    continue
                self.words.update(w.lower() for w in _WORD.findall(token))
            after_hyphen = bool(tokens) and tokens[-1].endswith("-")

    def join_hyphen(self, head: str, tail: str) -> bool:
        """True: "compu-" + "tation" is one word split by the line break; False: a real hyphen."""
        head_l, tail_l = head.lower(), tail.lower()
        joined, hyphened = head_l + tail_l, f"{head_l}-{tail_l}"
        if self.words[joined] != self.words[hyphened]:
            return self.words[joined] > self.words[hyphened]
        if "-" in head_l:  # "state-of-the-" + "art": already a compound
            return False
        lexicon = _lexicon()
        if joined in lexicon:
            return True
        known = lexicon | set(self.words)
        return not (len(head_l) >= 3 and head_l in known and tail_l in known)


def _join_lines(lines: list[str], vocab: _Vocabulary) -> str:
    """The lines of one paragraph as one line, line-break hyphens resolved (only the end of the line
    before each break is looked at, so long paragraphs stay linear)."""
    parts: list[str] = []
    for line in lines:
        if not parts:
            parts.append(line)
            continue
        prev = parts[-1]
        match = re.search(r"([A-Za-z]+(?:-[A-Za-z]+)*)-$", prev[-80:])
        tail = re.match(r"([a-z]+)", line)
        if prev.endswith("\u00ad"):
            parts[-1] = prev[:-1] + line
        elif match and tail:
            keep = "" if vocab.join_hyphen(match.group(1), tail.group(1)) else "-"
            parts[-1] = prev[:-1] + keep + line
        elif prev.endswith(("-", "\u2014", "/")) and not prev.endswith(" -"):
            parts[-1] = prev + line
        else:
            parts.append(line)
    return " ".join(parts)


def _join_across_pages(paras_by_page: list[list[_Para]], vocab: _Vocabulary) -> None:
    """A word hyphenated over a page break ("opti-" at the foot, "mization" at the top of the next page)
    moves whole to the next page (in place), so neither page holds half a word."""
    for this, following in zip(paras_by_page, paras_by_page[1:], strict=False):
        if not this or not following:
            continue
        head = re.search(r"(\S*[A-Za-z])-$", this[-1].text)
        if not head or not following[0].text[:1].islower():
            continue
        this[-1].text = this[-1].text[:head.start()].rstrip()
        following[0].text = _join_lines([head.group(0), following[0].text], vocab)
        if not this[-1].text:
            this.pop()


# ------------------------------------------------------------------------------------- paragraphs


@dataclass
class _Para:
    text: str
    lines: list[_Line]

    @property
    def heading(self) -> str | None:
        return section_heading(self.text) if len(self.lines) <= 2 else None


def _leading(lines: list[_Line]) -> float:
    gaps = [a.y - b.y for a, b in zip(lines, lines[1:], strict=False)
            if a.region == b.region and abs(a.size - b.size) < 0.5 and 0 < a.y - b.y < 3 * a.size]
    return statistics.median(gaps) if gaps else 1.2 * (lines[0].size if lines else 10.0)


def _looks_like_heading_line(line: _Line, body_size: float) -> bool:
    return section_heading(line.text) is not None and (line.bold or line.size > body_size + 0.4
                                                        or line.text.isupper())


def _breaks(prev: _Line, line: _Line, leading: float, left: dict[str, float], body_size: float) -> bool:
    """Does a new paragraph start at `line`? Gaps, font changes, headings and indents say so; moving
    to the next column does not by itself (paragraphs continue across columns)."""
    if _looks_like_heading_line(prev, body_size) or _looks_like_heading_line(line, body_size):
        return True
    if abs(prev.size - line.size) >= 0.5 or prev.bold != line.bold:
        return True
    indented = line.x - left.get(line.region, line.x) > 0.8 * line.size
    if prev.region != line.region:
        return indented and prev.text.endswith(_SENTENCE_END)
    gap = prev.y - line.y
    if gap > 1.35 * max(leading, 1.2 * line.size) or gap < 0:
        return True
    return indented and prev.text.endswith(_SENTENCE_END)


def _paragraphs(lines: list[_Line], vocab: _Vocabulary, body_size: float) -> list[_Para]:
    if not lines:
        return []
    leading = _leading(lines)
    left = {region: min(ln.x for ln in lines if ln.region == region) for region in {ln.region for ln in lines}}
    groups: list[list[_Line]] = [[lines[0]]]
    for prev, line in zip(lines, lines[1:], strict=False):
        if _breaks(prev, line, leading, left, body_size):
            groups.append([line])
        else:
            groups[-1].append(line)
    return [_Para(_join_lines([ln.text for ln in g], vocab), g) for g in groups]


def _body_size(pages: list[_Page]) -> float:
    sizes: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            sizes[round(line.size, 1)] += len(line.text)
    return sizes.most_common(1)[0][0] if sizes else 10.0


# ------------------------------------------------------------------------------------- front matter


@dataclass
class _Front:
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    body_start: int = 0  # index of page 1's first body paragraph


def _title_lines(paras: list[_Para], body_size: float) -> tuple[str, int]:
    """The largest-font lines at the top of page 1 (before the abstract), and the paragraph after them."""
    top = paras[: next((i for i, p in enumerate(paras) if _is_abstract_start(p.text)), min(len(paras), 8))]
    if not top:
        return "", 0
    biggest = max(p.lines[0].size for p in top)
    if biggest < body_size + 1:
        return "", 0
    for i, para in enumerate(top):
        if para.lines[0].size >= biggest - 0.6:
            return (para.text if len(para.text) <= _MAX_TITLE else ""), i + 1
    return "", 0


def _names(text: str) -> list[str]:
    """A line of author names ("Ada Lovelace, Alan Turing and Grace Hopper"), else []."""
    if _NOT_NAMES.search(text):
        return []
    parts = [p.strip(" *\u2020\u2021") for p in _AUTHOR_SPLIT.split(text) if p.strip(" *\u2020\u2021")]
    for part in parts:
        tokens = part.split()
        if not 2 <= len(tokens) <= 5 or not all(_NAME_TOKEN.match(t) for t in tokens):
            return []
    return parts


def _abstract_start(text: str) -> tuple[bool, str]:
    """(is this where the abstract starts, the abstract text on the same line if any)."""
    if _ABSTRACT_HEAD.match(text):
        return True, ""
    inline = _ABSTRACT_INLINE.match(text)
    if not inline or (text[8:9].isspace() and len(text.split()) < _INLINE_MIN_WORDS):
        return False, ""
    return True, inline.group(1)


def _is_abstract_start(text: str) -> bool:
    return _abstract_start(text)[0]


def _abstract(paras: list[_Para], start: int) -> tuple[str, int]:
    """The paragraph(s) after an "Abstract" heading (or after "Abstract—" on the same line), up to the next
    heading, keywords line or change of font size; and the index of the paragraph after it.
    ("", start) when there is no abstract heading."""
    for i in range(start, len(paras)):
        found, inline = _abstract_start(paras[i].text)
        if not found:
            continue
        parts = [inline] if inline else []
        first = i if inline else i + 1
        if first >= len(paras):
            return " ".join(parts), first
        size, end = paras[first].lines[0].size, i + 1
        while end < len(paras) and sum(len(p) for p in parts) < _MAX_ABSTRACT:
            para = paras[end]
            if para.heading or _KEYWORDS.match(para.text) or abs(para.lines[0].size - size) >= 0.5:
                break
            parts.append(para.text)
            end += 1
        return " ".join(parts)[:_MAX_ABSTRACT].strip(), end
    return "", start


def _fallback_abstract(paras: list[_Para], start: int) -> tuple[str, int]:
    """Without an "Abstract" heading: the first long paragraph before page 1's first section heading."""
    first_heading = next((i for i in range(start, len(paras)) if paras[i].heading), len(paras))
    for i in range(start, first_heading):
        if len(paras[i].text.split()) >= 40:
            return paras[i].text[:_MAX_ABSTRACT], first_heading
    return "", first_heading if first_heading < len(paras) else start


def _front(paras: list[_Para], body_size: float) -> _Front:
    title, after = _title_lines(paras, body_size)
    authors = []
    for para in paras[after: after + 2]:
        if (authors := _names(para.text)):
            break
    abstract, body_start = _abstract(paras, after)
    if not abstract:
        abstract, body_start = _fallback_abstract(paras, after)
    return _Front(title, authors, abstract, max(body_start, after))


# ------------------------------------------------------------------------------------- metadata


def _meta_text(meta: Any, key: str) -> str:
    try:
        value = meta.get(key) if meta is not None else None
    except Exception:  # noqa: BLE001 - a broken info dictionary is just no metadata
        return ""
    return " ".join(str(value).split()) if value else ""


def sensible_title(title: str, path: Path | None = None) -> bool:
    """Metadata titles are often junk: empty, "Microsoft Word - draft.doc", a file name or a path."""
    if not title or len(title) > _MAX_TITLE or _BAD_META.search(title):
        return False
    if path is not None and title.lower() in {path.stem.lower(), path.name.lower()}:
        return False
    return len(re.findall(r"[A-Za-z]{2,}", title)) >= 2


def _trusted_title(title: str, path: Path, first_page: str) -> bool:
    """A sensible metadata title that page 1 also prints. LaTeX templates leave their own title in the
    metadata ("Formatting Instructions for NeurIPS 2024") more often than one would think."""
    if not sensible_title(title, path):
        return False
    words = set(re.findall(r"[a-z0-9]{3,}", title.lower()))
    printed = set(re.findall(r"[a-z0-9]{3,}", first_page.lower()))
    return not printed or len(words & printed) >= 0.6 * len(words)


def _meta_authors(value: str) -> list[str]:
    parts = value.split(";") if ";" in value else _AUTHOR_SPLIT.split(value)
    names = [" ".join(p.split()) for p in parts if p.strip()]
    return [] if not names or any(n.lower() in _BAD_AUTHOR for n in names) else names


def _year_from(arxiv_id: str | None, created: str, first_page: str) -> int | None:
    """An arXiv id dates the first version (2403.xxxxx: 2024); else the creation date in the metadata;
    else the latest plausible year printed on page 1 (a paper cites only earlier work)."""
    this_year = date.today().year
    if arxiv_id and re.match(r"\d{4}\.", arxiv_id):
        return 2000 + int(arxiv_id[:2])
    match = re.search(r"(?:D:)?(\d{4})", created)
    if match and 1991 <= int(match.group(1)) <= this_year + 1:
        return int(match.group(1))
    years = [int(y) for y in _YEAR.findall(first_page) if int(y) <= this_year + 1]
    return max(years) if years else None


def _ids(meta_texts: list[str], rotated: list[str], first_page: str) -> tuple[str | None, str | None]:
    """(DOI, arXiv id): the metadata first, then the arXiv stamp and page 1. A DOI on page 1 counts only
    when it is introduced as one ("doi:", "DOI", "doi.org/"), so a cited paper's DOI is not taken."""
    doi = arxiv = None
    for text in meta_texts:
        found = _DOI.search(text) or _BARE_DOI.search(text)
        doi = doi or (normalize_doi(found.group(1).rstrip(".,;)")) if found else None)
    for text in [*meta_texts, *rotated, first_page]:
        found = _ARXIV.search(text)
        if found and not arxiv:
            arxiv = normalize_arxiv_id(found.group(1) or found.group(2))
    if not doi and (found := _DOI.search(first_page)):
        doi = normalize_doi(found.group(1).rstrip(".,;)"))
    return doi, arxiv


# ------------------------------------------------------------------------------------- the references


def _cut_references(paras_by_page: list[list[_Para]]) -> None:
    """Drop everything from the last "References" heading up to an appendix heading (in place)."""
    where = [(p, i) for p, paras in enumerate(paras_by_page) for i, para in enumerate(paras)
             if _REFERENCES.match(para.text) and len(para.lines) == 1]
    if not where:
        return
    page, index = where[-1]
    for p in range(page, len(paras_by_page)):
        paras = paras_by_page[p]
        start = index if p == page else 0
        end = next((i for i in range(start + (p == page), len(paras))
                    if paras[i].heading and _AFTER_REFERENCES.match(paras[i].text)), None)
        paras_by_page[p] = paras[:start] + (paras[end:] if end is not None else [])
        if end is not None:
            return


# ------------------------------------------------------------------------------------- public API


def _letters(pages: list[_Page]) -> int:
    return sum(sum(c.isalpha() for c in line.text) for page in pages for line in page.lines)


def read_pdf(path: Path | str) -> Paper:
    """A paper from its PDF: cleaned page texts (references left out), title, authors, year, abstract, ids."""
    path = Path(path)
    reader = _open(path)
    pages = _read_pages(reader)
    if all(p.failed for p in pages):
        raise InputFormatError(path, "not a readable PDF (no page could be parsed)")
    first_page_raw = " ".join(line.text for line in pages[0].lines)
    body_size = _body_size(pages)
    _drop_running_lines(pages, body_size)
    if _letters(pages) < _MIN_LETTERS:
        raise InputFormatError(path, NO_TEXT)
    vocab = _Vocabulary([line.text for page in pages for line in page.lines])
    paras = [_paragraphs(page.lines, vocab, body_size) for page in pages]
    front = _front(paras[0], body_size)
    paras[0] = paras[0][front.body_start:]
    _join_across_pages(paras, vocab)
    _cut_references(paras)
    meta = _metadata(reader)
    title = meta["title"] if _trusted_title(meta["title"], path, first_page_raw) else front.title
    doi, arxiv = _ids([meta["doi"], meta["subject"], meta["keywords"], meta["title"]],
                      pages[0].rotated, first_page_raw)
    title = title or _first_line(pages) or path.stem
    return Paper(
        id=library_paper_id(doi=doi, arxiv_id=arxiv, title=title),
        title=title,
        abstract=front.abstract,
        authors=_meta_authors(meta["author"]) or front.authors,
        year=_year_from(arxiv, meta["created"], first_page_raw + " " + " ".join(pages[0].rotated)),
        url=f"https://arxiv.org/abs/{arxiv}" if arxiv else (f"https://doi.org/{doi}" if doi else None),
        doi=doi,
        arxiv_id=arxiv,
        pages=[PageText(page=page.number, text="\n\n".join(p.text for p in page_paras))
               for page, page_paras in zip(pages, paras, strict=True)],
        file=str(path),
        source=str(path),
    )


def _first_line(pages: list[_Page]) -> str:
    return next((line.text for page in pages for line in page.lines if len(line.text) > 3), "")[:_MAX_TITLE]


def _metadata(reader: Any) -> dict[str, str]:
    try:
        info = reader.metadata
    except Exception:  # noqa: BLE001 - unreadable metadata is no metadata
        info = None
    keys = {"title": "/Title", "author": "/Author", "subject": "/Subject", "keywords": "/Keywords",
            "created": "/CreationDate", "doi": "/doi"}
    values = {name: _meta_text(info, key) for name, key in keys.items()}
    values["doi"] = values["doi"] or _meta_text(info, "/DOI")
    return values


def attach_full_text(paper: Paper, pdf: Path | str) -> Paper:
    """A bibliography entry plus the PDF it names: the entry's metadata (title, authors, year, venue, ids)
    wins; the PDF supplies the pages, and the abstract only when the entry has none."""
    full = read_pdf(pdf)
    return paper.model_copy(update={"pages": full.pages, "file": str(pdf),
                                    "abstract": paper.abstract or full.abstract})


def read_pdf_items(path: Path) -> Iterator[Paper | InputFormatError]:
    """The reader registered for the "pdf" format: one Paper, or the InputFormatError saying why not."""
    try:
        paper = read_pdf(path)
    except InputFormatError as err:
        yield err
        return
    yield paper
