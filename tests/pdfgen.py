"""Test PDFs written with fpdf2 at test time, so the repository holds no binary PDFs.

A `PaperSpec` is laid out like a research paper: the title block and abstract across the page, the
body in one or two columns, a running header, page numbers at the foot, optionally margin line numbers
(as on review copies) and an arXiv stamp up the left margin. Every line is placed with `FPDF.text`, so a
test knows exactly where each line breaks (hyphenation included) and in which order the content stream
draws the lines: `order="column"` draws column after column (as LaTeX does), `order="rows"` draws the
lines of both columns interleaved from the top down, one text object a line (as some converters do),
which only a reader that looks at positions can put back in reading order; `order="rows-one-bt"` does the
same inside a single text object.

Explicit lines may mark bold words with "**" (drawn as separate pieces). Paragraph text marks allowed
hyphenation points with "|" ("compu|tation"); a word that does not fit
the line is broken at its last marker that fits, with a "-" at the line end. A word with a real hyphen
("state-of-the-art") may break after one of its hyphens, which then stays at the line end.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF

PAGE_W, PAGE_H = 612.0, 792.0  # US letter, in points
MARGIN = 72.0
GUTTER = 18.0
BOTTOM = PAGE_H - MARGIN
FONT = "Helvetica"
BODY_SIZE = 10.0
LEADING = 1.25


@dataclass
class Section:
    heading: str
    paragraphs: list[str | list[str]] = field(default_factory=list)  # str: wrapped; list: explicit lines


@dataclass
class PaperSpec:
    title: str | list[str]
    authors: str = ""
    affiliation: str = ""
    abstract: str | list[str] = ""
    abstract_heading: str = "Abstract"
    sections: list[Section] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    references_heading: str = "References"
    appendix: list[Section] = field(default_factory=list)
    columns: int = 1
    order: str = "column"  # "column", "rows" or "rows-one-bt" (see the module docstring)
    header: str | None = None  # running header, on every page after the first
    page_numbers: bool = True
    line_numbers: bool = False
    arxiv_stamp: str | None = None  # e.g. "arXiv:2403.03507v2 [cs.LG] 7 Mar 2024"
    first_page_note: str | None = None  # a small line at the foot of page 1 ("Preprint. Under review.")
    metadata: dict[str, object] | None = None  # title, author, subject, keywords, creator, creation_date
    image_pages: list[int] = field(default_factory=list)  # 0-based positions of scanned (image-only) pages
    encrypt: tuple[str, str] | None = None  # (owner password, user password)


@dataclass
class _Line:
    x: float
    y: float
    text: str
    size: float
    style: str = ""
    body: bool = False  # poured into the columns (gets a margin line number on review copies)
    part: str = "front"  # "front" (title block, abstract), "body" or "references"


@dataclass
class _Page:
    lines: list[_Line] = field(default_factory=list)


# ------------------------------------------------------------------------------------- wrapping


def _width(pdf: FPDF, text: str, size: float, style: str = "") -> float:
    pdf.set_font(FONT, style, size)
    return pdf.get_string_width(text.replace("**", ""))


def _break_points(word: str) -> list[tuple[str, str]]:
    """(head drawn at the line end, rest) for every place the word may break, last first."""
    plain = word.replace("|", "")
    points = []
    for i, ch in enumerate(word):
        if ch == "|":
            head = word[:i].replace("|", "")
            points.append((head + "-", plain[len(head):]))
        elif ch == "-" and 0 < i < len(word) - 1:
            head = word[: i + 1].replace("|", "")
            points.append((head, plain[len(head):]))
    return points[::-1]


def wrap(pdf: FPDF, text: str, width: float, size: float = BODY_SIZE, style: str = "") -> list[str]:
    """Greedy line breaking with hyphenation at the marked points (see the module docstring)."""
    lines: list[str] = []
    current = ""
    words = text.split()
    while words:
        word = words.pop(0)
        candidate = f"{current} {word.replace('|', '')}".strip()
        if _width(pdf, candidate, size, style) <= width:
            current = candidate
            continue
        for head, rest in _break_points(word):
            if _width(pdf, f"{current} {head}".strip(), size, style) <= width:
                lines.append(f"{current} {head}".strip())
                current, word = "", ""
                words.insert(0, rest)
                break
        if word:
            if current:
                lines.append(current)
            current = word.replace("|", "")
    if current:
        lines.append(current)
    return lines


# ------------------------------------------------------------------------------------- layout


class _Flow:
    """Pours body lines into columns and pages, top to bottom, left to right."""

    def __init__(self, pdf: FPDF, spec: PaperSpec, pages: list[_Page], top: float):
        self.pdf, self.spec, self.pages = pdf, spec, pages
        self.part = "body"
        self.col_w = (PAGE_W - 2 * MARGIN - GUTTER * (spec.columns - 1)) / spec.columns
        self.col, self.top, self.y = 0, top, top

    def _x(self) -> float:
        return MARGIN + self.col * (self.col_w + GUTTER)

    def _advance(self) -> None:
        if self.col + 1 < self.spec.columns:
            self.col += 1
        else:
            self.col, self.top = 0, MARGIN + 14
            self.pages.append(_Page())
        self.y = self.top

    def room(self, n_lines: int, size: float) -> None:
        if self.y + n_lines * size * LEADING > BOTTOM - 20:
            self._advance()

    def line(self, text: str, size: float = BODY_SIZE, style: str = "", indent: float = 0.0) -> None:
        self.room(1, size)
        self.y += size * LEADING
        if _width(self.pdf, text, size, style) > self.col_w - indent + 0.5:
            raise ValueError(f"line does not fit the column: {text!r}")
        self.pages[-1].lines.append(_Line(self._x() + indent, self.y, text, size, style, True, self.part))

    def gap(self, points: float) -> None:
        self.y += points

    def paragraph(self, para: str | list[str], size: float = BODY_SIZE, indent: float = 0.0) -> None:
        lines = para if isinstance(para, list) else wrap(self.pdf, para, self.col_w - indent, size)
        for text in lines:
            self.line(text, size, indent=indent)
        self.gap(size * 0.8)

    def heading(self, text: str) -> None:
        self.room(3, BODY_SIZE)
        self.gap(6)
        self.line(text, 11.0, "B")
        self.gap(2)


def _front_matter(pdf: FPDF, spec: PaperSpec, page: _Page) -> float:
    """Title, authors, affiliation and abstract across the page; returns where the body starts."""
    y = MARGIN
    titles = spec.title if isinstance(spec.title, list) else wrap(pdf, spec.title, PAGE_W - 2 * MARGIN, 17, "B")
    for text in titles:
        y += 17 * LEADING
        page.lines.append(_Line((PAGE_W - _width(pdf, text, 17, "B")) / 2, y, text, 17, "B"))
    y += 8
    for text, size in ((spec.authors, 11.0), (spec.affiliation, 10.0)):
        if text:
            y += size * LEADING
            page.lines.append(_Line((PAGE_W - _width(pdf, text, size)) / 2, y, text, size))
    if spec.abstract:
        y += 14 + 11 * LEADING
        heading = spec.abstract_heading
        page.lines.append(_Line((PAGE_W - _width(pdf, heading, 11, "B")) / 2, y, heading, 11, "B"))
        width = PAGE_W - 2 * MARGIN - 72
        lines = spec.abstract if isinstance(spec.abstract, list) else wrap(pdf, spec.abstract, width, 9.5)
        for text in lines:
            y += 9.5 * LEADING
            page.lines.append(_Line(MARGIN + 36, y, text, 9.5))
    return y + 16


def layout(pdf: FPDF, spec: PaperSpec) -> list[_Page]:
    pages = [_Page()]
    flow = _Flow(pdf, spec, pages, _front_matter(pdf, spec, pages[0]))
    for section in spec.sections:
        flow.heading(section.heading)
        for para in section.paragraphs:
            flow.paragraph(para)
    if spec.references:
        flow.part = "references"
        flow.heading(spec.references_heading)
        for ref in spec.references:
            flow.paragraph(ref, 8.5, indent=0)
        flow.part = "body"
    for section in spec.appendix:
        flow.heading(section.heading)
        for para in section.paragraphs:
            flow.paragraph(para)
    return pages


# ------------------------------------------------------------------------------------- drawing


def _body_order(lines: list[_Line], order: str) -> list[_Line]:
    if order == "rows":
        return sorted(lines, key=lambda ln: (round(ln.y), ln.x))
    return lines


def _draw_text(pdf: FPDF, line: _Line) -> None:
    """One line; "**word**" is drawn bold, as a piece of its own right after the text before it."""
    x = line.x
    for i, segment in enumerate(line.text.split("**")):
        style = "B" if i % 2 else line.style
        if segment:
            pdf.set_font(FONT, style, line.size)
            pdf.text(x, line.y, segment)
            x += pdf.get_string_width(segment)


def _draw_one_text_object(pdf: FPDF, lines: list[_Line]) -> None:
    """All lines in one BT..ET text object, placed with Tm: how some converters write a page. (fpdf2 has no
    public call for this, so the operators are written directly; the fonts are registered through set_font.)"""
    ops, font = ["BT"], None
    for line in lines:
        pdf.set_font(FONT, line.style, line.size)
        if (line.style, line.size) != font:  # Tf only when the font changes, as a converter would
            ops.append(pdf._set_font_for_page(pdf.current_font, line.size, wrap_in_text_object=False))
            font = (line.style, line.size)
        ops.append(f"1 0 0 1 {line.x:.2f} {PAGE_H - line.y:.2f} Tm {pdf.current_font.encode_text(line.text)}")
    ops.append("ET")
    pdf._out("\n".join(ops))


def _draw_page(pdf: FPDF, spec: PaperSpec, page: _Page, number: int) -> None:
    pdf.add_page()
    if spec.header and number > 1:
        _draw_text(pdf, _Line(MARGIN, MARGIN - 20, spec.header, 8.0))
    if number == 1 and spec.arxiv_stamp:
        pdf.set_font("Times", "", 20)
        with pdf.rotation(90, 30, 560):
            pdf.text(30, 560, spec.arxiv_stamp)
    if spec.order == "rows-one-bt":
        _draw_one_text_object(pdf, _body_order(page.lines, "rows"))
    else:
        for line in _body_order(page.lines, spec.order):
            _draw_text(pdf, line)
    if spec.line_numbers:
        _draw_line_numbers(pdf, page)
    if number == 1 and spec.first_page_note:
        _draw_text(pdf, _Line(MARGIN, BOTTOM + 12, spec.first_page_note, 8.0))
    if spec.page_numbers:
        label = str(number)
        _draw_text(pdf, _Line((PAGE_W - _width(pdf, label, 9)) / 2, BOTTOM + 24, label, 9.0))


_line_counter = [0]


def _draw_line_numbers(pdf: FPDF, page: _Page) -> None:
    """Review-copy line numbers in the margin beside every body line, counting on across pages."""
    for line in page.lines:
        if not line.body:
            continue
        _line_counter[0] += 1
        label = f"{_line_counter[0]:03d}"
        x = 40.0 if line.x < PAGE_W / 2 else PAGE_W - 58.0
        _draw_text(pdf, _Line(x, line.y, label, 7.0))


def scan_image(seed: int = 0):
    """A page-sized picture of text, as a scanner makes: pixels, no text layer."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("L", (612, 792), 255)
    draw = ImageDraw.Draw(img)
    for row in range(60, 740, 14):
        draw.text((60, row), " ".join(rng.choice(WORDS) for _ in range(12)), fill=0)
    return img


def _draw_scan(pdf: FPDF, seed: int) -> None:
    pdf.add_page()
    buf = io.BytesIO()
    scan_image(seed).save(buf, format="PNG")
    buf.seek(0)
    pdf.image(buf, x=0, y=0, w=PAGE_W, h=PAGE_H)


def _apply_metadata(pdf: FPDF, meta: dict[str, object] | None) -> None:
    """Document information; without metadata not even the creation date fpdf2 writes by default."""
    if not meta:
        return
    for key in ("title", "author", "subject", "keywords", "creator", "producer"):
        if key in meta:
            getattr(pdf, f"set_{key}")(meta[key])
    date = meta.get("creation_date")
    if isinstance(date, datetime):
        pdf.set_creation_date(date)


def paper_pdf(spec: PaperSpec) -> bytes:
    """The PDF bytes of a spec."""
    _line_counter[0] = 0
    pdf = FPDF(unit="pt", format="letter")
    pdf.set_auto_page_break(False)
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    _apply_metadata(pdf, spec.metadata)
    pages = layout(pdf, spec)
    number = 0
    for i in range(len(pages) + len(spec.image_pages)):
        if i in spec.image_pages:
            _draw_scan(pdf, i)
            continue
        number += 1
        _draw_page(pdf, spec, pages[number - 1], number)
    if spec.encrypt:
        pdf.set_encryption(owner_password=spec.encrypt[0], user_password=spec.encrypt[1],
                           encryption_method="AES_128")
    data = bytes(pdf.output())
    if not spec.metadata or spec.metadata.get("creation_date", "") is None:
        data = _without_creation_date(data)
    return data


def _without_creation_date(data: bytes) -> bytes:
    """fpdf2 always writes /CreationDate; renaming the key to an unknown one of the same length keeps
    every byte offset of the cross-reference table valid, and readers ignore unknown keys."""
    assert data.count(b"/CreationDate") == 1
    return data.replace(b"/CreationDate", b"/XUnknownDate")


def write_pdf(path: Path, spec: PaperSpec) -> Path:
    path.write_bytes(paper_pdf(spec))
    return path


def scanned_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF of page images only: what a scanner without OCR produces."""
    pdf = FPDF(unit="pt", format="letter")
    for i in range(pages):
        _draw_scan(pdf, i)
    path.write_bytes(bytes(pdf.output()))
    return path


# ------------------------------------------------------------------------------------- generated papers

WORDS = (
    "model", "training", "data", "learning", "network", "attention", "layer", "gradient", "memory",
    "optimizer", "token", "sequence", "language", "vision", "retrieval", "benchmark", "dataset", "evaluation",
    "accuracy", "baseline", "parameter", "transformer", "embedding", "inference", "latency", "throughput",
    "distribution", "sampling", "objective", "regularization", "batch", "convergence", "representation",
    "architecture", "decoder", "encoder", "pretraining", "finetuning", "adapter", "quantization",
)
LONG_WORDS = ["compu|ta|tion", "rep|re|sen|ta|tion", "op|ti|miza|tion", "gen|er|al|iza|tion",
              "ar|chi|tec|ture", "ef|fi|cien|cy", "in|for|ma|tion", "ex|per|i|ments"]
HEADINGS = ["Introduction", "Related Work", "Method", "Experiments", "Results", "Discussion", "Conclusion"]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(LONG_WORDS) if rng.random() < 0.15 else rng.choice(WORDS) for _ in range(rng.randint(9, 18))]
    if rng.random() < 0.2:
        words.insert(rng.randrange(len(words)), "state-of-the-art")
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def random_spec(seed: int, pages: int = 6, columns: int | None = None) -> PaperSpec:
    """A made-up paper of about `pages` pages (deterministic for a seed), for benchmarks."""
    rng = random.Random(seed)
    columns = columns or rng.choice([1, 2])
    paras_per_section = max(1, pages * (3 if columns == 1 else 4) // len(HEADINGS))
    sections = [Section(f"{i} {name}", [_paragraph(rng, rng.randint(4, 7)) for _ in range(paras_per_section)])
                for i, name in enumerate(HEADINGS, 1)]
    refs = [f"[{i}] A. Author and B. Author. {_sentence(rng)} In Proceedings, {rng.randint(2000, 2023)}."
            for i in range(1, 16)]
    title = " ".join(rng.choice(WORDS) for _ in range(6)).title()
    return PaperSpec(
        title=title, authors="Ada Lovelace, Alan Turing", affiliation="Analytical Engine Lab",
        abstract=_paragraph(rng, 5), sections=sections, references=refs, columns=columns,
        header=f"{title[:40]} - Preprint", metadata={"title": title, "author": "Ada Lovelace; Alan Turing",
                                                       "creation_date": datetime(2023, 5, 1, tzinfo=UTC)},
    )


def body_lines(spec: PaperSpec, parts: tuple[str, ...] = ("body",)) -> list[tuple[int, str]]:
    """(PDF page number, text) of the lines of the given parts ("front", "body", "references"), in reading
    order: the ground truth for reading order and page ranges."""
    pdf = FPDF(unit="pt", format="letter")
    numbers = [i + 1 for i in range(10_000) if i not in spec.image_pages]
    return [(numbers[p], line.text.replace("**", "")) for p, page in enumerate(layout(pdf, spec))
            for line in page.lines if line.part in parts]


# ------------------------------------------------------------------------------------- the sample paper

SAMPLE_TITLE = "Sparse Attention Makes Long Document Retrieval Cheap"
SAMPLE_AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
SAMPLE_ABSTRACT = (
    "We study sparse attention for retrieval over long scientific documents. Our method scores blocks of "
    "tokens and keeps the best ones, which cuts the computation by a factor of four at equal accuracy."
)
SAMPLE_HEADER = "Sparse Attention for Long Documents - Preprint"
SAMPLE_NOTE = "Preprint. Under review at ICML 2025."
INTRO_1 = (
    "Long documents make dense retrieval slow, since the cost of attention computation grows with the "
    "square of the input length. Sparse attention keeps a state-of-the-art quality while reading far fewer "
    "tokens (Vaswani et al., 2017)."
)
INTRO_2 = (
    "We release a new dataset of 12,000 scientific articles and compare our model with strong GPT-4 "
    "baselines that rely on dense self-attention over the whole text."
)
RELATED = ("Block sparse methods select a few key blocks for every query block. Routing methods cluster the "
           "queries instead.")
METHOD = ("Every block of 64 tokens gets a score from a small network. The representation of a block is the "
          "mean of its token vectors.")
EXPERIMENTS = "The dataset covers physics, biology and computer science."
APPENDIX = "The appendix proves that block selection keeps most of the attention mass."
REFERENCE_WORD = "Zebrafish"

_FILLER_WORDS = ("blocks", "tokens", "scores", "queries", "documents", "retrieval", "attention", "budget", "memory",
                 "accuracy", "model", "selection", "length", "cost", "quality", "articles", "evaluation", "index",
                 "layers")


def filler(seed: int, sentences: int) -> str:
    """Plain sentences without hyphens (so their line breaks need no de-hyphenation), deterministic."""
    rng = random.Random(seed)
    out = []
    for _ in range(sentences):
        words = [rng.choice(_FILLER_WORDS) for _ in range(rng.randint(8, 14))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def sample_spec(columns: int = 1, order: str = "column", metadata: bool = True, **changes: object) -> PaperSpec:
    """The sample paper: hyphenated line breaks (a word split, a compound kept, "GPT-4", "self-attention"),
    numbered, all-caps and sub-section headings, a running header, page numbers, references and an appendix,
    over three or four pages."""
    spec = PaperSpec(
        title=["Sparse Attention Makes Long Document", "Retrieval Cheap"],
        authors="Ada Lovelace, Alan Turing and Grace Hopper",
        affiliation="Analytical Engine Laboratory, London",
        abstract=["We study sparse attention for retrieval over long scientific documents. Our",
                  "method scores blocks of tokens and keeps the best ones, which cuts the compu-",
                  "tation by a factor of four at equal accuracy."],
        sections=[
            Section("1 Introduction", [
                ["Long documents make dense retrieval slow,", "since the cost of attention compu-",
                 "tation grows with the square of the", "input length. Sparse attention keeps a", "state-of-the-",
                 "art quality while reading far fewer", "tokens (Vaswani et al., 2017)."],
                ["We release a new data-", "set of 12,000 scientific articles and",
                 "compare our model with strong GPT-", "4 baselines that rely on dense self-",
                 "attention over the whole text."],
                filler(1, 12),
            ]),
            Section("2 RELATED WORK", [RELATED, filler(2, 14)]),
            Section("3 Method", [filler(3, 10)]),
            Section("3.1 Block Selection", [
                ["Every block of 64 tokens gets a score", "from a small network. The rep-",
                 "resentation of a block is the mean of its", "token vectors."],
                filler(4, 16),
            ]),
            Section("4 Experiments", [EXPERIMENTS, filler(5, 18)]),
            Section("5 Conclusion", [filler(6, 8)]),
        ],
        references=[
            "[1] A. Vaswani and N. Shazeer. Attention is all you need. In NeurIPS, 2017.",
            f"[2] Z. Zebra. {REFERENCE_WORD} optogenetics under sparse light. Nature, 2019.",
            "[3] B. Block. Sparse routing of queries over clustered keys. In ICML, 2021.",
        ],
        appendix=[Section("A Proofs", [APPENDIX])],
        columns=columns,
        order=order,
        header=SAMPLE_HEADER,
        first_page_note=SAMPLE_NOTE,
        metadata={"title": SAMPLE_TITLE, "author": "; ".join(SAMPLE_AUTHORS), "creator": "LaTeX with hyperref",
                  "creation_date": datetime(2024, 6, 3, tzinfo=UTC)} if metadata else None,
    )
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


def sample_body_text() -> str:
    """The sample's body as it should read, whitespace-normalised: headings and paragraphs in order,
    hyphenation resolved, references left out, the appendix kept."""
    parts = ["1 Introduction", INTRO_1, INTRO_2, filler(1, 12), "2 RELATED WORK", RELATED, filler(2, 14),
             "3 Method", filler(3, 10), "3.1 Block Selection", METHOD, filler(4, 16), "4 Experiments",
             EXPERIMENTS, filler(5, 18), "5 Conclusion", filler(6, 8), "A Proofs", APPENDIX]
    return " ".join(" ".join(parts).split())
