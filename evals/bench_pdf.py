"""`python -m paperchat.evals.bench_pdf`: PDF reading and full-text ingest, measured on generated papers.

It writes N multi-page papers with tests/pdfgen.py (fpdf2, a dev dependency) in one and two columns, in
the three drawing orders pdfgen knows (column by column; rows interleaved, one text object a line; rows
interleaved in one text object), then measures in this run, on this machine:

1. parsing speed in pages/s: paperchat's reader (pypdf plus positions), plain pypdf `extract_text`, and
   pdfminer.six `extract_text` (its layout analysis);
2. reading order: the share of consecutive line pairs of a page (from pdfgen's own layout) that appear
   one after the other in the extracted text (hyphens and whitespace ignored, so all three are judged alike);
3. line-break hyphens: the share of "compu-|tation" breaks joined and "state-of-the-|art" breaks kept;
4. chunks/s of `chunk_paper` on the parsed papers, and papers/s of chunk + embed (MiniLM, the real ONNX
   model) for the full texts next to the same papers' abstracts alone.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from paperchat.ingest.chunking import chunk_paper
from paperchat.ingest.pdf import read_pdf
from paperchat.rag.embeddings import MiniLMEmbeddings
from paperchat.rag.settings import PACKAGE_ROOT, ChunkSettings
from paperchat.rag.types import Paper

ORDERS = ("column", "rows", "rows-one-bt")


def _pdfgen():
    """tests/pdfgen.py, the test PDF writer (the benchmark runs from a checkout, like the tests)."""
    sys.path.insert(0, str(PACKAGE_ROOT / "tests"))
    import pdfgen

    return pdfgen


def _squash(text: str) -> str:
    return re.sub(r"[\s\-]+", "", text)


def generate(folder: Path, n: int, pages: int) -> list[tuple[Path, object]]:
    pdfgen = _pdfgen()
    made = []
    for seed in range(n):
        spec = pdfgen.random_spec(seed, pages=pages, columns=1 + seed % 2)
        spec.order = ORDERS[(seed // 2) % len(ORDERS)]
        made.append((pdfgen.write_pdf(folder / f"paper-{seed:03d}.pdf", spec), spec))
    return made


def _pypdf_pages(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(path).pages]


def _pdfminer_pages(path: Path) -> list[str]:
    from pdfminer.high_level import extract_text

    return extract_text(str(path)).split("\f")


def _paperchat_pages(path: Path) -> list[str]:
    return [page.text for page in read_pdf(path).pages]


def timed(extract: Callable[[Path], list[str]], files: list[Path]) -> tuple[float, list[list[str]]]:
    """Pages/s over all files; one file is read before the clock starts (imports, lexicon, font caches)."""
    extract(files[0])
    started = time.perf_counter()
    texts = [extract(path) for path in files]
    pages = sum(len(t) for t in texts)
    return pages / (time.perf_counter() - started), texts


def reading_order(spec: object, pages: list[str]) -> tuple[int, int]:
    """(line pairs found in order, line pairs) for one paper: the end of a line and the start of the next
    line on the same page must be adjacent in the extracted text of that page."""
    pdfgen = _pdfgen()
    lines = pdfgen.body_lines(spec)
    found = total = 0
    for (page_a, a), (page_b, b) in zip(lines, lines[1:], strict=False):
        if page_a != page_b or page_a > len(pages):
            continue
        total += 1
        found += _squash(a[-25:] + b[:25]) in _squash(pages[page_a - 1])
    return found, total


def hyphenation(spec: object, text: str) -> tuple[int, int]:
    """(breaks resolved right, breaks): a split word must read joined, a compound with its hyphen; the two
    words before and after must be there too, so the same words elsewhere in the paper do not count."""
    pdfgen = _pdfgen()
    plain = {w.replace("|", "") for w in pdfgen.LONG_WORDS}
    lines = [t for _, t in pdfgen.body_lines(spec)]
    right = total = 0
    flat = " ".join(text.split())
    for a, b in zip(lines, lines[1:], strict=False):
        if not a.endswith("-") or len(a.split()) < 3 or len(b.split()) < 3:
            continue
        head, tail = a.split()[-1][:-1], b.split()[0]
        joined = head + tail
        word = joined if joined.lower().rstrip(".,") in plain else f"{head}-{tail}"
        total += 1
        right += " ".join([*a.split()[-3:-1], word, *b.split()[1:3]]) in flat
    return right, total


def embed_rate(papers: list[Paper], chunking: ChunkSettings, model: MiniLMEmbeddings) -> tuple[float, int]:
    started = time.perf_counter()
    chunks = [c for p in papers for c in chunk_paper(p, chunking)]
    model.embed_documents([c.text for c in chunks])
    return len(papers) / (time.perf_counter() - started), len(chunks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=50)
    parser.add_argument("--pages", type=int, default=8, help="about this many pages per paper")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paperchat-bench-pdf-") as tmp:
        made = generate(Path(tmp), args.papers, args.pages)
        files = [path for path, _ in made]
        rows = []
        for name, extract in (("paperchat (pypdf + positions)", _paperchat_pages), ("pypdf extract_text", _pypdf_pages),
                              ("pdfminer.six extract_text", _pdfminer_pages)):
            speed, texts = timed(extract, files)
            order = [reading_order(spec, pages) for (_, spec), pages in zip(made, texts, strict=True)]
            hyph = [hyphenation(spec, " ".join(pages)) for (_, spec), pages in zip(made, texts, strict=True)]
            by_order = {o: _share([r for r, (_, s) in zip(order, made, strict=True) if s.order == o and s.columns == 2])
                        for o in ORDERS}
            rows.append((name, speed, _share(order), by_order, _share(hyph)))
        papers = [read_pdf(path) for path in files]
        n_pages = sum(len(p.pages) for p in papers)
        chunking = ChunkSettings()
        chunk_paper(papers[0], chunking)  # the splitter and the tokenizer load outside the timing
        started = time.perf_counter()
        n_chunks = sum(len(chunk_paper(p, chunking)) for p in papers)
        chunk_speed = n_chunks / (time.perf_counter() - started)
        model = MiniLMEmbeddings()
        model.embed_documents(["warm up"])
        full_rate, full_chunks = embed_rate(papers, chunking, model)
        abstracts = [p.model_copy(update={"pages": []}) for p in papers]  # the same papers, as if read from a .bib
        abstract_rate, abstract_chunks = embed_rate(abstracts, chunking, model)
    _print(args, n_pages, rows, chunk_speed, n_chunks, (full_rate, full_chunks), (abstract_rate, abstract_chunks))


def _share(pairs: list[tuple[int, int]]) -> float:
    total = sum(t for _, t in pairs)
    return sum(f for f, _ in pairs) / total if total else float("nan")


def _print(args, n_pages, rows, chunk_speed, n_chunks, full, abstract) -> None:
    print(f"\n{args.papers} generated papers, {n_pages} pages (1 and 2 columns; drawn column by column, in rows, "
          f"in rows in one text object)\n")
    print("| reader | pages/s | reading order (all) | 2 col., columns | 2 col., rows | 2 col., rows in one BT "
          "| line-break hyphens right |")
    print("|---|---|---|---|---|---|---|")
    for name, speed, order, by_order, hyph in rows:
        cells = " | ".join(f"{by_order[o]:.3f}" for o in ORDERS)
        print(f"| {name} | {speed:.1f} | {order:.3f} | {cells} | {hyph:.3f} |")
    print(f"\n| ingest step | rate |\n|---|---|\n| chunk_paper (full text) | {chunk_speed:.0f} chunks/s "
          f"({n_chunks} chunks) |")
    print(f"| chunk + embed, full text (MiniLM ONNX) | {full[0]:.2f} papers/s ({full[1]} chunks) |")
    print(f"| chunk + embed, abstracts only (same papers) | {abstract[0]:.2f} papers/s ({abstract[1]} chunks) |")


if __name__ == "__main__":
    main()
