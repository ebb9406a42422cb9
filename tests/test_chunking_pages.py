"""Page-aware chunking: abstract-only papers chunk exactly as before; full-text papers get abstract chunks,
then body chunks with the pages they span and the section they fall under; references never become chunks."""

from __future__ import annotations

import re

import pytest
from pdfgen import APPENDIX, REFERENCE_WORD, SAMPLE_TITLE, sample_body_text, sample_spec, write_pdf

from paperchat.ingest.chunking import METADATA_VERSION, chunk_paper, content_hash, paper_metadata, section_heading
from paperchat.ingest.pdf import read_pdf
from paperchat.rag.settings import ChunkSettings
from paperchat.rag.tokens import count_tokens
from paperchat.rag.types import PageText, Paper

DEFAULT = ChunkSettings()
SMALL = ChunkSettings(size=64, overlap=8)
LONG = " ".join(f"Sentence number {i} talks about sparse attention and retrieval budgets." for i in range(80))
NEW_KEYS = {"kind", "page_start", "page_end", "section"}


# ------------------------------------------------------------------------------------- abstract-only papers


def test_abstract_only_papers_chunk_byte_for_byte_as_before():
    """Hashes and texts recorded from the chunker before full text existed: existing collections stay as
    they are (the same content hash means the ingest sees every stored paper as unchanged)."""
    short = Paper(id="doi:10.1/x", title="Short One", abstract="A short abstract about sparse attention.",
                  authors=["Ada Lovelace", "Alan Turing"], year=2021, venue="ICML", categories=["cs.LG"],
                  source="/data/lib.bib", line=3, bibtex="@article{x, title={Short One}}")
    long = Paper(id="t-long", title="Long One", abstract=LONG, source="/data/p.jsonl")
    empty = Paper(id="t-empty", title="Title Only", abstract="", source="/data/p.jsonl")
    assert METADATA_VERSION == 2
    golden = {short.id: ("b6352fbcbaf07d9e5da35ed9822c3cd0", 1), long.id: ("13e205dffc4f1727af91dd7d4637ff88", 5),
              empty.id: ("9220ca2e7a51430e3818ac168c3a341d", 1)}
    for paper in (short, long, empty):
        chunks = chunk_paper(paper, DEFAULT)
        digest, n = golden[paper.id]
        assert content_hash(paper, DEFAULT) == digest
        assert [c.id for c in chunks] == [f"{paper.id}::{i}" for i in range(n)]
        for i, chunk in enumerate(chunks):
            extra = {"bibtex": paper.bibtex} if i == 0 and paper.bibtex else {}
            assert chunk.metadata == {**paper_metadata(paper, digest), "chunk": i, "n_chunks": n, **extra}
            assert not NEW_KEYS & set(chunk.metadata)
    assert [c.text for c in chunk_paper(short, DEFAULT)] == ["Short One\n\nA short abstract about sparse attention."]
    assert [c.text for c in chunk_paper(empty, DEFAULT)] == ["Title Only\n\n"]
    assert chunk_paper(long, DEFAULT)[0].text.startswith("Long One\n\nSentence number 0 talks")


def test_pages_without_any_text_chunk_like_an_abstract_only_paper():
    paper = Paper(id="p", title="T", abstract="An abstract.", pages=[PageText(page=1, text=""), PageText(page=2,
                                                                                                         text=" ")])
    chunks = chunk_paper(paper, DEFAULT)
    assert [c.text for c in chunks] == ["T\n\nAn abstract."]
    assert not NEW_KEYS & set(chunks[0].metadata)


# ------------------------------------------------------------------------------------- headings


@pytest.mark.parametrize("text", ["1 Introduction", "2.1 Method", "3.2.1 Training Details", "A Proofs",
                                  "B.2 More Results", "IV. Experiments", "RELATED WORK", "Conclusion",
                                  "Acknowledgements", "References", "4. Results and Discussion"])
def test_section_headings(text):
    assert section_heading(text) == text


@pytest.mark.parametrize("text", ["", "2023", "3 4 5", "1 we propose a method.", "We train for 3 epochs.",
                                  "Figure 2: The architecture", "Table 1", "5 Conclusion and a very long heading "
                                  "that goes on and on like a sentence would", "1 Introduction.", "(1)", "GPU"])
def test_not_section_headings(text):
    assert section_heading(text) is None


# ------------------------------------------------------------------------------------- full-text papers


def _words(prefix: str, n: int) -> str:
    """Sentences of words unique to one page (alpha3, beta17, ...), so a chunk's pages can be read off its words."""
    words = [f"{prefix}{i}" for i in range(n)]
    return " ".join(" ".join(words[i:i + 10]) + "." for i in range(0, n, 10))


def _full_paper() -> tuple[Paper, dict[str, tuple[int, str]]]:
    """A three-page paper, and for each word the (page, section) it belongs to."""
    layout = [
        (1, "1 Introduction", _words("alpha", 120)),
        (1, None, _words("ante", 40) + " the model was trained on"),
        (2, None, "cont0 cont1 documents. " + _words("beta", 60)),
        (2, "2 Method", _words("bravo", 150)),
        (3, "2.1 Setup", _words("gamma", 130)),
    ]
    pages: dict[int, list[str]] = {}
    truth: dict[str, tuple[int, str]] = {}
    section = ""
    for page, heading, text in layout:
        if heading:
            pages.setdefault(page, []).append(heading)
            section = heading
        pages.setdefault(page, []).append(text)
        for word in re.findall(r"[a-z]+\d+", text):
            truth[word] = (page, section)
    paper = Paper(id="arxiv:2401.00001", title="Sparse Things", abstract="We study sparse things in depth.",
                  pages=[PageText(page=n, text="\n\n".join(parts)) for n, parts in sorted(pages.items())],
                  file="/papers/sparse.pdf", source="/papers/sparse.pdf")
    return paper, truth


def test_full_text_paper_gets_an_abstract_chunk_then_body_chunks_with_pages_and_sections():
    paper, truth = _full_paper()
    chunks = chunk_paper(paper, SMALL)
    n = len(chunks)
    assert n > 10
    assert [c.id for c in chunks] == [f"arxiv:2401.00001::{i}" for i in range(n)]
    assert all(c.text.startswith("Sparse Things\n\n") and c.metadata["n_chunks"] == n for c in chunks)
    first = chunks[0]
    assert first.text == "Sparse Things\n\nWe study sparse things in depth."
    assert first.metadata["kind"] == "abstract" and not {"page_start", "page_end", "section"} & set(first.metadata)
    for chunk in chunks[1:]:
        meta, text = chunk.metadata, chunk.text.removeprefix("Sparse Things\n\n")
        assert meta["kind"] == "body"
        heading = text.split("\n\n", 1)[0] if section_heading(text.split("\n\n", 1)[0]) else ""
        assert count_tokens(text.removeprefix(heading).lstrip("\n")) <= SMALL.size  # a heading rides along
        assert section_heading(text) is None, "no chunk is just a heading"
        words = re.findall(r"[a-z]+\d+", text)
        pages = [truth[w][0] for w in words]
        assert (meta["page_start"], meta["page_end"]) == (pages[0], pages[-1]), text[:80]
        sections = {truth[w][1] for w in words}
        assert meta["section"] in sections, (meta["section"], sections)
        if len(sections) == 1:
            assert meta["section"] == truth[words[0]][1]
    assert any(c.metadata["page_start"] < c.metadata["page_end"] for c in chunks[1:]), "a chunk spans a page break"
    assert [c.text.split("\n\n")[1] for c in chunks if "2 Method" in c.text] == ["2 Method"]
    assert [c.metadata["section"] for c in chunks if "\n\n2 Method\n\n" in c.text] == ["2 Method"]
    covered = " ".join(c.text for c in chunks)
    assert set(truth) <= set(re.findall(r"[a-z]+\d+", covered)), "no body text is lost"


def test_a_paragraph_cut_by_a_page_break_is_joined():
    paper, _ = _full_paper()
    assert any("the model was trained on cont0 cont1 documents." in c.text for c in chunk_paper(paper, SMALL))


def test_full_text_without_abstract_starts_with_the_body():
    paper, _ = _full_paper()
    chunks = chunk_paper(paper.model_copy(update={"abstract": ""}), SMALL)
    assert chunks[0].metadata["kind"] == "body" and chunks[0].text.startswith("Sparse Things\n\n1 Introduction\n\n")


def test_the_hash_follows_the_page_text():
    paper, _ = _full_paper()
    edited = paper.model_copy(update={"pages": [*paper.pages[:2], PageText(page=3, text="2.1 Setup\n\nChanged.")]})
    assert content_hash(paper, SMALL) != content_hash(edited, SMALL)


# ------------------------------------------------------------------------------------- from a PDF


def _section_at(position: int, text: str, headings: list[str]) -> str:
    found = ""
    for heading in headings:
        at = text.find(f" {heading} ")
        if 0 <= at <= position:
            found = heading
    return found


def test_chunks_of_a_pdf_leave_the_references_out_and_know_their_pages(tmp_path):
    spec = sample_spec(columns=2)
    paper = read_pdf(write_pdf(tmp_path / "sample.pdf", spec))
    chunks = chunk_paper(paper, DEFAULT)
    texts = [c.text.removeprefix(f"{SAMPLE_TITLE}\n\n") for c in chunks]
    assert chunks[0].metadata["kind"] == "abstract" and all(c.metadata["kind"] == "body" for c in chunks[1:])
    assert not any(REFERENCE_WORD in t or "Attention is all you need" in t for t in texts)
    assert texts[-1].endswith(f"A Proofs\n\n{APPENDIX}")
    truth = " " + sample_body_text() + " "
    headings = ["1 Introduction", "2 RELATED WORK", "3 Method", "3.1 Block Selection", "4 Experiments",
                "5 Conclusion", "A Proofs"]
    page_texts = [" ".join(p.text.split()) for p in paper.pages]
    joined = " ".join(page_texts)
    ends = [sum(len(t) + 1 for t in page_texts[:i + 1]) for i in range(len(page_texts))]

    def page_at(offset: int) -> int:
        return next(i for i, end in enumerate(ends, 1) if offset < end)

    for chunk, text in zip(chunks[1:], texts[1:], strict=True):
        flat = " ".join(text.split())
        start, end = truth.find(flat[:60]), truth.find(flat[-60:]) + 60
        assert start >= 0, flat[:60]
        allowed = headings[headings.index(_section_at(start, truth, headings) or headings[0]):
                           headings.index(_section_at(end, truth, headings)) + 1]
        assert chunk.metadata["section"] in allowed
        at = joined.find(flat)
        assert at >= 0
        assert (chunk.metadata["page_start"], chunk.metadata["page_end"]) == (page_at(at), page_at(at + len(flat) - 1))
