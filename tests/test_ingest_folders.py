"""`ingest_paths` on folders of mixed formats: PDFs, a .bib that names a PDF (one paper, not two), title-only
entries counted, unreadable PDFs skipped with one reason line each, non-paper files in a folder skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import make_settings, write_jsonl
from pdfgen import SAMPLE_TITLE, random_spec, sample_spec, scanned_pdf, write_pdf

from paperchat.ingest.pipeline import ingest_paths
from paperchat.rag.errors import InputFormatError
from paperchat.rag.retrieval import Retriever
from paperchat.rag.store import PaperStore

BIB = """@article{lovelace2024sparse,
  title = {{Sparse} Attention for Long Documents},
  author = {Lovelace, Ada and Turing, Alan},
  year = {2024},
  journal = {Journal of Retrieval},
  doi = {10.1000/sparse.2024},
  file = {Full Text PDF:files/sample.pdf:application/pdf},
}

@inproceedings{hopper2023untitled,
  title = {A Study Without an Abstract},
  author = {Hopper, Grace},
  booktitle = {Advances in Neural Information Processing Systems},
  year = {2023},
}
"""


@pytest.fixture
def library(tmp_path) -> Path:
    folder = tmp_path / "papers"
    (folder / "files").mkdir(parents=True)
    write_pdf(folder / "files" / "sample.pdf", sample_spec())
    (folder / "refs.bib").write_text(BIB, encoding="utf-8")
    write_pdf(folder / "other.pdf", random_spec(3, pages=3))
    scanned_pdf(folder / "scan.pdf")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\n")
    (folder / "notes.md").write_text("\n", encoding="utf-8")
    (folder / ".hidden.jsonl").write_text("not read\n", encoding="utf-8")
    return folder


def test_a_folder_of_mixed_formats_ingests_with_reasons_for_what_it_skips(tmp_path, library, fake_embedder):
    settings = make_settings(tmp_path / "home")

    report = ingest_paths([library], settings, embedder=fake_embedder)

    store = PaperStore(settings, fake_embedder.name, fake_embedder.dimension, create=False)
    papers = {p.paper_id: p for p in store.papers()}
    assert {"doi:10.1000/sparse.2024", "key:refs:hopper2023untitled"} <= set(papers)
    assert len(papers) == 3, "the .bib entry and the PDF it names are one paper; other.pdf is the third"
    entry = papers["doi:10.1000/sparse.2024"]
    assert entry.title == "Sparse Attention for Long Documents", "the entry's metadata wins over the PDF's"
    assert entry.venue == "Journal of Retrieval" and entry.year == 2024 and entry.n_chunks > 1
    assert papers["key:refs:hopper2023untitled"].n_chunks == 1
    assert (report.new, report.without_abstract, report.full_text) == (3, 1, 2)
    skipped = dict(report.skipped_files)
    assert skipped[str(library / "scan.pdf")] == "no text layer (OCR is not supported)"
    assert skipped[str(library / "broken.pdf")] == "not a readable PDF (truncated: no %%EOF at the end)"
    assert str(library / "notes.md") in skipped and not any(".hidden" in p for p in skipped)
    assert "1 PDF skipped: no text layer (OCR is not supported)" in report.skip_groups()
    assert "without abstract" in report.summary() and "files skipped" in report.summary()
    chunks = store.paper_chunks(["doi:10.1000/sparse.2024"])["doi:10.1000/sparse.2024"]
    assert {c.metadata.get("kind") for c in chunks} == {"abstract", "body"}
    assert all(c.metadata.get("page_start") for c in chunks if c.metadata.get("kind") == "body")
    assert SAMPLE_TITLE not in [p.title for p in papers.values()]

    hits = Retriever(settings, embedder=fake_embedder).search("sparse attention blocks of tokens", 3)
    assert hits[0].paper_id == "doi:10.1000/sparse.2024"

    again = ingest_paths([library], settings, embedder=fake_embedder)
    assert (again.new, again.changed, again.unchanged) == (0, 0, 3)


def test_a_broken_pdf_named_on_the_command_line_is_an_error_and_stores_nothing(tmp_path, library, fake_embedder):
    settings = make_settings(tmp_path / "home")
    good = write_jsonl(tmp_path / "good.jsonl", [{"title": "A paper", "abstract": "Some text about it."}])

    with pytest.raises(InputFormatError, match="broken.pdf: not a readable PDF"):
        ingest_paths([good, library / "broken.pdf"], settings, embedder=fake_embedder)
    assert fake_embedder.count == 0

    report = ingest_paths([good, library / "broken.pdf"], settings, embedder=fake_embedder, skip_bad=True)
    assert report.new == 1 and [p for p, _ in report.skipped_files] == [str(library / "broken.pdf")]
