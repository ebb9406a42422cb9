"""ingest.pdf and ingest.files on PDFs that pdfgen writes with fpdf2 for each run (no binary files in the repo).

The sample paper (pdfgen.sample_spec) knows its own truth: the body as it should read once hyphenation is
resolved and the references are left out (`sample_body_text`), and on which page each line was placed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pdfgen import (
    APPENDIX,
    INTRO_1,
    INTRO_2,
    REFERENCE_WORD,
    RELATED,
    SAMPLE_ABSTRACT,
    SAMPLE_AUTHORS,
    SAMPLE_HEADER,
    SAMPLE_NOTE,
    SAMPLE_TITLE,
    Section,
    body_lines,
    paper_pdf,
    random_spec,
    sample_body_text,
    sample_spec,
    scanned_pdf,
    write_pdf,
)

from paperchat.ingest.files import discover
from paperchat.ingest.pdf import ENCRYPTED, NO_TEXT, attach_full_text, read_pdf, read_pdf_items, sensible_title
from paperchat.ingest.readers import detect_format, read_papers
from paperchat.rag.errors import InputFormatError
from paperchat.rag.ids import title_id
from paperchat.rag.types import Paper


def body(paper: Paper) -> str:
    return " ".join(" ".join(page.text for page in paper.pages).split())


def paragraphs(paper: Paper, page: int) -> list[str]:
    return paper.pages[page - 1].text.split("\n\n")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, Paper]:
    path = write_pdf(tmp_path_factory.mktemp("pdf") / "sparse.pdf", sample_spec(columns=1))
    return path, read_pdf(path)


def reason_of(path: Path) -> str:
    with pytest.raises(InputFormatError) as caught:
        read_pdf(path)
    assert caught.value.path == str(path) and caught.value.line is None
    assert str(caught.value) == f"{path}: {caught.value.reason}"
    return caught.value.reason


# ------------------------------------------------------------------------------------- text


def test_one_column_body_reads_in_order_with_line_break_hyphens_resolved(sample):
    _, paper = sample
    assert body(paper) == sample_body_text()
    first = paragraphs(paper, 1)
    assert first[:3] == ["1 Introduction", INTRO_1, INTRO_2]
    # "compu-|tation" joined, "state-of-the-|art" kept, "data-|set" joined as the paper writes "dataset",
    # "GPT-|4" and "self-|attention" keep their hyphen
    assert "attention computation grows" in INTRO_1 and "a state-of-the-art quality" in INTRO_1
    assert "a new dataset of" in INTRO_2 and "strong GPT-4 baselines" in INTRO_2 and "dense self-attention" in INTRO_2


@pytest.mark.parametrize("order", ["column", "rows", "rows-one-bt"])
def test_two_columns_read_left_then_right_whatever_order_the_file_draws_them(tmp_path, order):
    paper = read_pdf(write_pdf(tmp_path / "two.pdf", sample_spec(columns=2, order=order)))
    assert body(paper) == sample_body_text()
    assert paragraphs(paper, 1)[:3] == ["1 Introduction", INTRO_1, INTRO_2]
    assert RELATED in paper.pages[0].text.split("\n\n") + paper.pages[1].text.split("\n\n")


def test_a_word_hyphenated_over_a_page_break_moves_whole_to_the_next_page(tmp_path):
    spec = random_spec(6, pages=8, columns=1)  # a generated paper with "opti-" at the foot of a page
    lines = body_lines(spec)
    breaks = [(pa, a, pb, b) for (pa, a), (pb, b) in zip(lines, lines[1:], strict=False)
              if pa != pb and a.endswith("-")]
    assert breaks, "the generated paper has a hyphen at a page break"
    paper = read_pdf(write_pdf(tmp_path / "broken.pdf", spec))
    for page_a, a, page_b, b in breaks:
        head, tail = a.split()[-1][:-1], b.split()[0]
        assert paper.pages[page_a - 1].text.endswith(" ".join(a.split()[-3:-1]))
        assert paper.pages[page_b - 1].text.startswith(f"{head}{tail} {' '.join(b.split()[1:3])}")


def test_bold_words_lined_up_on_several_lines_are_not_a_second_column(tmp_path):
    lines = [f"Tokens with budget number {n} use **bold** words here" for n in range(1, 7)]
    spec = sample_spec(sections=[sample_spec().sections[0], Section("2 Bold", [lines])], references=[], appendix=[])
    paper = read_pdf(write_pdf(tmp_path / "bold.pdf", spec))
    assert " ".join(lines).replace("**", "") in paper.pages[0].text.split("\n\n")


def test_headings_are_paragraphs_of_their_own(sample):
    _, paper = sample
    all_paragraphs = [p for page in paper.pages for p in page.text.split("\n\n")]
    headings = [p for p in all_paragraphs if p in {"1 Introduction", "2 RELATED WORK", "3 Method",
                                                   "3.1 Block Selection", "4 Experiments", "5 Conclusion",
                                                   "A Proofs"}]
    assert headings == ["1 Introduction", "2 RELATED WORK", "3 Method", "3.1 Block Selection", "4 Experiments",
                        "5 Conclusion", "A Proofs"]


def test_running_header_page_numbers_and_review_line_numbers_are_dropped(sample, tmp_path):
    _, paper = sample
    assert len(paper.pages) == 3
    text = "\n\n".join(page.text for page in paper.pages)
    assert SAMPLE_HEADER not in text
    assert not [p for p in text.split("\n\n") if p.strip().isdigit()]
    review = read_pdf(write_pdf(tmp_path / "review.pdf", sample_spec(columns=2, line_numbers=True)))
    plain = read_pdf(write_pdf(tmp_path / "plain.pdf", sample_spec(columns=2)))
    assert [p.text for p in review.pages] == [p.text for p in plain.pages]
    assert "001" not in body(review) and "042" not in body(review)


def test_front_matter_comes_from_the_metadata_and_page_one_starts_after_the_abstract(sample):
    path, paper = sample
    assert paper.title == SAMPLE_TITLE
    assert paper.authors == SAMPLE_AUTHORS
    assert paper.year == 2024  # the creation date in the metadata
    assert paper.abstract == SAMPLE_ABSTRACT
    assert paper.pages[0].text.startswith("1 Introduction\n\n")
    for front in ("Analytical Engine Laboratory", "Alan Turing", "We study sparse attention", SAMPLE_NOTE):
        assert front not in body(paper)
    assert (paper.id, paper.source, paper.file, paper.doi, paper.arxiv_id) == (
        title_id(SAMPLE_TITLE), str(path), str(path), None, None)
    assert [p.page for p in paper.pages] == [1, 2, 3]


def test_without_metadata_title_authors_and_year_come_from_page_one(tmp_path):
    paper = read_pdf(write_pdf(tmp_path / "bare.pdf", sample_spec(metadata=False)))
    assert paper.title == SAMPLE_TITLE  # the two largest-font lines at the top, joined
    assert paper.authors == SAMPLE_AUTHORS  # "Ada Lovelace, Alan Turing and Grace Hopper"
    assert paper.year == 2025  # "Under review at ICML 2025", the latest year on page 1 (it also cites 2017)
    assert paper.abstract == SAMPLE_ABSTRACT
    assert body(paper) == sample_body_text()


def test_junk_metadata_is_ignored(tmp_path):
    spec = sample_spec(metadata=False)
    spec.metadata = {"title": "Microsoft Word - sparse_v3.doc", "author": "Administrator"}
    paper = read_pdf(write_pdf(tmp_path / "word.pdf", spec))
    assert (paper.title, paper.authors) == (SAMPLE_TITLE, SAMPLE_AUTHORS)
    spec.metadata = {"title": "Formatting Instructions for NeurIPS 2024", "author": "Ada Lovelace"}
    template = read_pdf(write_pdf(tmp_path / "template.pdf", spec))
    assert (template.title, template.authors) == (SAMPLE_TITLE, ["Ada Lovelace"])  # a title page 1 does not print
    assert not sensible_title("draft3.pdf") and not sensible_title("C:\\papers\\sparse") and not sensible_title("")
    assert not sensible_title("sparse_final", Path("/x/sparse_final.pdf")) and not sensible_title("12345")
    assert sensible_title("Attention Is All You Need")


def test_references_are_left_out_and_the_appendix_after_them_kept(sample):
    _, paper = sample
    text = body(paper)
    assert REFERENCE_WORD not in text and "Attention is all you need" not in text
    assert "References" not in text.split()
    assert paper.pages[-1].text.endswith(f"A Proofs\n\n{APPENDIX}")


def test_an_arxiv_stamp_gives_the_id_year_and_link_and_stays_out_of_the_text(tmp_path):
    spec = sample_spec(metadata=False, arxiv_stamp="arXiv:2403.03507v2 [cs.LG] 7 Mar 2024")
    paper = read_pdf(write_pdf(tmp_path / "arxiv.pdf", spec))
    assert (paper.id, paper.arxiv_id, paper.year, paper.url) == (
        "arxiv:2403.03507", "2403.03507", 2024, "https://arxiv.org/abs/2403.03507")
    assert "arXiv" not in body(paper) and body(paper) == sample_body_text()


def test_a_doi_printed_on_page_one_is_the_id(tmp_path):
    spec = sample_spec(first_page_note="Proceedings of SPARSE 2025. doi:10.1234/Sparse.2025.17")
    paper = read_pdf(write_pdf(tmp_path / "doi.pdf", spec))
    assert (paper.id, paper.doi, paper.url) == (
        "doi:10.1234/sparse.2025.17", "10.1234/sparse.2025.17", "https://doi.org/10.1234/sparse.2025.17")


def test_a_scanned_page_inside_a_paper_is_an_empty_page(tmp_path):
    paper = read_pdf(write_pdf(tmp_path / "mixed.pdf", sample_spec(image_pages=[1])))
    assert [(p.page, bool(p.text)) for p in paper.pages] == [(1, True), (2, False), (3, True), (4, True)]
    assert body(paper) == sample_body_text()


# ------------------------------------------------------------------------------------- files that cannot be read


def test_a_scan_without_text_layer(tmp_path):
    assert reason_of(scanned_pdf(tmp_path / "scan.pdf")) == NO_TEXT == "no text layer (OCR is not supported)"


def test_a_password_protected_pdf_is_encrypted_but_an_owner_only_one_reads(tmp_path):
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(paper_pdf(sample_spec(encrypt=("owner-pw", "user-pw"))))
    assert reason_of(locked) == ENCRYPTED == "encrypted"
    open_one = read_pdf(write_pdf(tmp_path / "open.pdf", sample_spec(encrypt=("owner-pw", ""))))
    assert open_one.title == SAMPLE_TITLE and body(open_one) == sample_body_text()


def test_truncated_and_non_pdf_files(tmp_path):
    data = paper_pdf(sample_spec())
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 2])
    assert reason_of(cut) == "not a readable PDF (truncated: no %%EOF at the end)"
    page = tmp_path / "paywall.pdf"
    page.write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>")
    assert reason_of(page) == "not a readable PDF (an HTML page)"
    noise = tmp_path / "noise.pdf"
    noise.write_bytes(bytes(range(256)) * 8)
    assert reason_of(noise) == "not a readable PDF (no %PDF- header)"
    hollow = tmp_path / "hollow.pdf"
    hollow.write_bytes(b"%PDF-1.7\n%%EOF\n")
    assert reason_of(hollow).startswith("not a readable PDF (")


@pytest.mark.timeout(60)
def test_a_broken_cross_reference_table_is_repaired_or_refused_never_looped(tmp_path):
    data = paper_pdf(sample_spec())
    at = data.rindex(b"startxref")
    offset = len(data)
    loop = (b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 1 /Prev %d /Root 2 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (offset, offset))
    variants = {"wrong-offset": data[:at] + b"startxref\n999999\n%%EOF\n", "prev-loop": data + loop}
    for name, content in variants.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(content)
        started = time.perf_counter()
        paper = read_pdf(path)
        assert time.perf_counter() - started < 20
        assert paper.title == SAMPLE_TITLE and body(paper) == sample_body_text(), name


def test_the_reader_registry_detects_pdfs_and_yields_errors_as_items(tmp_path, sample):
    path, paper = sample
    assert detect_format(path) == "pdf"
    odd = tmp_path / "download.bin"
    odd.write_bytes(path.read_bytes())
    assert detect_format(odd) == "pdf"
    assert [p.title for p in read_papers(odd)] == [SAMPLE_TITLE]
    assert list(read_pdf_items(path)) == [paper]
    scan = scanned_pdf(tmp_path / "scan.pdf")
    items = list(read_pdf_items(scan))
    assert len(items) == 1 and isinstance(items[0], InputFormatError) and items[0].reason == NO_TEXT
    with pytest.raises(InputFormatError, match=r"scan\.pdf: no text layer \(OCR is not supported\)$"):
        list(read_papers(scan))


def test_attach_full_text_keeps_the_entry_metadata(sample):
    path, pdf_paper = sample
    entry = Paper(id="doi:10.5555/entry", title="Sparse attention (the entry's title)", authors=["A. Lovelace"],
                  year=2023, venue="ICML", doi="10.5555/entry", source="library.bib", line=7)
    full = attach_full_text(entry, path)
    assert (full.id, full.title, full.authors, full.year, full.venue, full.doi, full.source, full.line) == (
        entry.id, entry.title, entry.authors, 2023, "ICML", "10.5555/entry", "library.bib", 7)
    assert (full.pages, full.abstract, full.file) == (pdf_paper.pages, SAMPLE_ABSTRACT, str(path))
    with_abstract = attach_full_text(entry.model_copy(update={"abstract": "The entry's own abstract."}), path)
    assert with_abstract.abstract == "The entry's own abstract." and with_abstract.pages == pdf_paper.pages


# ------------------------------------------------------------------------------------- discovering files


def _tree(root: Path, sample_pdf: Path) -> None:
    (root / "b-folder" / "deeper").mkdir(parents=True)
    (root / "a.pdf").write_bytes(sample_pdf.read_bytes())
    (root / "b-folder" / "papers.jsonl").write_text('{"title": "T", "abstract": "A text."}\n')
    (root / "b-folder" / "deeper" / "c.pdf").write_bytes(sample_pdf.read_bytes())
    (root / "b-folder" / "deeper" / "loop").symlink_to(root / "b-folder")
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    (root / "empty.csv").write_bytes(b"")
    (root / ".hidden.pdf").write_bytes(sample_pdf.read_bytes())
    (root / ".cache").mkdir()
    (root / ".cache" / "x.pdf").write_bytes(sample_pdf.read_bytes())
    (root / "dangling.pdf").symlink_to(root / "nowhere.pdf")
    (root / "self").symlink_to(root / "self")
    (root / "same.pdf").symlink_to(root / "a.pdf")
    os.mkfifo(root / "pipe.pdf")


@pytest.mark.timeout(60)
def test_discover_walks_folders_sorted_and_skips_what_it_cannot_read(tmp_path, sample):
    root = tmp_path / "lib"
    root.mkdir()
    _tree(root, sample[0])
    files, skipped = discover([root])
    assert files == [(root / "a.pdf", "pdf"), (root / "b-folder" / "deeper" / "c.pdf", "pdf"),
                     (root / "b-folder" / "papers.jsonl", "jsonl")]
    assert skipped == [
        (root / "b-folder" / "deeper" / "loop", "symlink loop or folder already walked"),
        (root / "dangling.pdf", "broken symlink"),
        (root / "empty.csv", "no papers found: the file is empty"),
        (root / "picture.png", "the file is not UTF-8 text (byte 0x89 at byte offset 0); save it as UTF-8"),
        (root / "pipe.pdf", "not a regular file (a FIFO)"),
        (root / "same.pdf", f"same file as {root / 'a.pdf'}"),
        (root / "self", "symlink loop"),
    ]


@pytest.mark.timeout(60)
def test_discover_explicit_paths(tmp_path, sample):
    path = sample[0]
    assert discover([path]) == ([(path, "pdf")], [])
    unknown = tmp_path / "notes.xyz"
    unknown.write_text("not a paper file")
    assert discover([unknown]) == ([(unknown, None)], [])  # --format may still force one
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert discover([fifo]) == ([], [(fifo, "not a regular file (a FIFO)")])
    with pytest.raises(InputFormatError, match=r"missing\.pdf: file not found$"):
        discover([tmp_path / "missing.pdf"])
