"""`python -m paperchat.evals.pdf_eval [--home DIR] [--out DIR]`: the full-text eval set, end to end.

1. Writes the twelve papers of evals/pdf_papers.py as PDFs (tests/pdfgen.py, fpdf2) into a temporary folder
   (or `--pdf-dir`);
2. ingests them together with the bundled papers (data/papers.txt, 156 abstracts, as distractors) into the
   collection `pdf-papers` with the product's ingest (`ingest_paths`, the configured embedder: MiniLM ONNX);
3. runs the product's eval runner on evals/datasets/pdf.jsonl against that collection, as
   `paperchat --home DIR eval --dataset evals/datasets/pdf.jsonl --collection pdf-papers --no-judge` does
   (offline extractive answers unless `--mode llm`), and prints the per-type table and the headline numbers;
4. checks the page of every citation of a gold paper: is `citation.page` a page that prints the item's fact
   (an answer point found in that paper's body), and is it the page that prints the quoted sentence itself?
   The truth comes from pdfgen's own layout (`pdf_papers.pages_of`). Written to `pages.json` and
   `pages.md` in the run folder.

Without `--home` everything lives in a temporary folder that is removed at the end (except the run folder
under `--out`). With `--home DIR` the collection stays, so the CLI command above can be re-run on it.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path

from paperchat.evals import pdf_papers
from paperchat.evals.dataset import PACKAGE_DATASETS, EvalItem, load_dataset
from paperchat.evals.metrics import norm_title
from paperchat.rag.settings import BUNDLED_PAPERS, load_settings

PDF_SET = PACKAGE_DATASETS / "pdf.jsonl"
COLLECTION = "pdf-papers"


# ------------------------------------------------------------------------------------- building the collection


def build_collection(home: Path, pdf_dir: Path, collection: str = COLLECTION, embedder=None):
    """Write the PDFs and ingest them plus the bundled papers; (settings, ingest report)."""
    from paperchat.ingest.pipeline import ingest_paths

    pdf_papers.write_collection(pdf_dir)
    settings = load_settings(home=home, collection=collection)
    report = ingest_paths([pdf_dir, BUNDLED_PAPERS], settings, embedder=embedder)
    return settings, report


# ------------------------------------------------------------------------------------- page correctness


def fact_pages(item: EvalItem, title: str) -> list[int]:
    """Pages of `title` that print one of the item's answer points (those found in that paper's body)."""
    pages: set[int] = set()
    for point in item.answer_points:
        pages.update(pdf_papers.pages_of(title, point))
    return sorted(pages)


def page_checks(items: list[EvalItem], records: list[dict]) -> list[dict]:
    """One row per (answerable item, gold PDF paper): the cited page against the fact's and the quote's pages.

    verdict: "right" (the cited page prints the fact), "wrong", "no page" (cited, but `page` is None),
    "not cited" (the answer does not cite this gold paper, or refused). quote_page_ok: whether `page` is a page
    that prints the quoted sentence (a missing page is not; None when the quote is not found in the body, e.g.
    an abstract sentence).
    """
    by_id = {i.id: i for i in items}
    known = {norm_title(t): t for t in pdf_papers.titles()}
    rows = []
    for record in records:
        item = by_id[record["id"]]
        if item.unanswerable:
            continue
        for gold in item.gold_titles:
            title = known.get(norm_title(gold))
            if title is None:
                continue
            truth = fact_pages(item, title)
            cited = [c for c in record["citations"] if norm_title(c["title"]) == norm_title(title)] \
                if record["status"] == "answered" else []
            row = {"id": item.id, "title": title, "fact_pages": truth, "status": record["status"],
                   "page": None, "quote": None, "quote_in": None, "quote_pages": [], "quote_page_ok": None,
                   "quote_has_point": None}
            if not cited:
                row["verdict"] = "not cited"
            else:
                citation = cited[0]
                quote = citation.get("quote") or ""
                quote_pages = pdf_papers.pages_of(title, quote) if quote else []
                page = citation.get("page")
                row.update(page=page, quote=quote, quote_pages=quote_pages,
                           quote_in=_quote_in(title, quote, quote_pages),
                           quote_page_ok=(page in quote_pages) if quote_pages else None,
                           quote_has_point=any(pdf_papers.squash(p) in pdf_papers.squash(quote)
                                               for p in item.answer_points))
                row["verdict"] = "no page" if page is None else "right" if page in truth else "wrong"
            rows.append(row)
    return rows


def _quote_in(title: str, quote: str, quote_pages: list[int]) -> str:
    """Where the quoted sentence comes from: "body", "abstract" (whose chunk has no page, by design) or
    "neither" (e.g. a sentence the splitter glued across a paragraph break in an unexpected way)."""
    if quote_pages:
        return "body"
    return "abstract" if pdf_papers.squash(quote) in pdf_papers.squash(pdf_papers.abstract_text(title)) else "neither"


def page_summary(rows: list[dict]) -> dict:
    """Shares over the gold PDF papers of answerable items."""
    verdicts = Counter(r["verdict"] for r in rows)
    cited = [r for r in rows if r["verdict"] != "not cited"]
    located = [r for r in cited if r["quote_page_ok"] is not None]
    return {
        "gold_pdf_papers": len(rows),
        "cited": len(cited),
        "verdicts": dict(verdicts),
        "page_right_of_cited": verdicts["right"] / len(cited) if cited else None,
        "page_right_of_all": verdicts["right"] / len(rows) if rows else None,
        "cited_with_page": sum(r["page"] is not None for r in cited) / len(cited) if cited else None,
        "quote_page_right": sum(r["quote_page_ok"] for r in located) / len(located) if located else None,
        "quotes_located": len(located),
        "quote_has_point": sum(bool(r["quote_has_point"]) for r in cited) / len(cited) if cited else None,
        "quote_in": dict(Counter(r["quote_in"] for r in cited)),
        "no_page_on_body_quote": sum(r["page"] is None and r["quote_in"] == "body" for r in cited),
        "page_not_the_quotes": sum(r["page"] is not None and r["quote_in"] == "body" and not r["quote_page_ok"]
                                   for r in cited),
    }


def _pages(pages: list) -> str:
    return ", ".join(str(p) for p in pages if p is not None) or "–"


def pages_markdown(rows: list[dict], summary: dict) -> str:
    def share(value) -> str:
        return "–" if value is None else f"{value:.3f}"

    lines = ["# Page check", "",
             f"{summary['gold_pdf_papers']} gold PDF papers of answerable items, {summary['cited']} cited.", "",
             "| measure | value |", "|---|---|",
             f"| cited page prints the fact (of cited) | {share(summary['page_right_of_cited'])} |",
             f"| cited page prints the fact (of all gold PDF papers) | {share(summary['page_right_of_all'])} |",
             f"| citations that carry a page | {share(summary['cited_with_page'])} |",
             f"| cited page prints the quoted sentence ({summary['quotes_located']} quotes found in the body) | "
             f"{share(summary['quote_page_right'])} |",
             f"| quote contains an answer point | {share(summary['quote_has_point'])} |",
             f"| where the quotes come from | {summary['quote_in']} |",
             f"| body quotes without a page | {summary['no_page_on_body_quote']} |",
             f"| body quotes with a page that is not the quote's | {summary['page_not_the_quotes']} |", "",
             "| item | paper | verdict | page | fact pages | quote from | quote pages | quote has point |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        has_point = "" if r["quote_has_point"] is None else "yes" if r["quote_has_point"] else "no"
        lines.append(f"| {r['id']} | {r['title'][:48]} | {r['verdict']} | {_pages([r['page']])} "
                     f"| {_pages(r['fact_pages'])} | {r['quote_in'] or '–'} | {_pages(r['quote_pages'])} "
                     f"| {has_point} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------- printing


def print_run(result, rows: list[dict], pages: dict) -> None:
    from paperchat.evals.report import LABELS, fmt, headline_rows, type_columns

    summary = result.summary
    columns = type_columns(summary)
    header = ["type", "n", "pass", *[LABELS[m] for m in columns]]
    print(f"\n{summary['items']} items, {summary['passed']} passed, {result.fingerprint['mode']} mode, "
          f"collection {result.fingerprint['collection']['name']!r} ({result.fingerprint['collection']['papers']} "
          "papers)\n")
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for t, s in [*summary["per_type"].items(), ("all", {"n": summary["items"], "passed": summary["passed"],
                                                        **summary["overall"]})]:
        print(f"| {t} | {s['n']} | {s['passed']} | " + " | ".join(fmt(s[m], 2) for m in columns) + " |")
    print("\n| metric | value | target | |\n|---|---|---|---|")
    for row in headline_rows(summary):
        print("| " + " | ".join(row) + " |")
    print(f"\npages: {pages['verdicts']}; cited page prints the fact: {fmt(pages['page_right_of_cited'])} of cited, "
          f"{fmt(pages['page_right_of_all'])} of all gold PDF papers; cited page prints the quote: "
          f"{fmt(pages['quote_page_right'])} ({pages['quotes_located']} quotes located); quotes from "
          f"{pages['quote_in']}; body quotes without a page: {pages['no_page_on_body_quote']}; with a page that is "
          f"not the quote's: {pages['page_not_the_quotes']}")
    for note in result.notes:
        print(f"note: {note}")
    if result.failed:
        print(f"\nfailed ({len(result.failed)}):")
        for item in result.failed:
            print(f"  {item['id']}: {'; '.join(item['problems'])}")
    wrong = [r for r in rows if r["verdict"] in ("wrong", "no page")]
    if wrong:
        print("\npage problems:")
        for r in wrong:
            print(f"  {r['id']} ({r['title'][:40]}): {r['verdict']}, page {r['page']}, fact on "
                  f"{r['fact_pages']}, quote from the {r['quote_in']} {r['quote_pages'] or ''}: {r['quote'][:80]!r}")
    print(f"\nrun folder: {result.folder}  (report.md, results.json, pages.md, pages.json)")


# ------------------------------------------------------------------------------------- main


def run(home: Path, pdf_dir: Path, out_dir: Path, mode: str | None, dataset: Path = PDF_SET):
    from paperchat.evals.runner import run_eval
    from paperchat.rag.assistant import Assistant

    settings, report = build_collection(home, pdf_dir)
    print(f"collection {settings.collection!r} in {home}: {report.summary()}", flush=True)
    assistant = Assistant(settings)
    try:
        result = run_eval(dataset, settings, mode, out_dir, assistant=assistant, judge=False)
    finally:
        assistant.close()
    rows = page_checks(load_dataset(dataset), result.items)
    pages = page_summary(rows)
    (result.folder / "pages.json").write_text(json.dumps({"summary": pages, "rows": rows}, indent=2,
                                                         ensure_ascii=False) + "\n", encoding="utf-8")
    (result.folder / "pages.md").write_text(pages_markdown(rows, pages), encoding="utf-8")
    return result, rows, pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, help="paperchat home to build the collection in (kept); default: a "
                        "temporary folder")
    parser.add_argument("--out", type=Path, default=Path("runs"), help="where the run folder is written")
    parser.add_argument("--pdf-dir", type=Path, help="where the PDFs are written (kept); default: a temporary folder")
    parser.add_argument("--mode", choices=("extractive", "llm"), default="extractive")
    parser.add_argument("--dataset", type=Path, default=PDF_SET)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paperchat-pdf-eval-") as tmp:
        home = (args.home or Path(tmp) / "home").resolve()
        pdf_dir = (args.pdf_dir or Path(tmp) / "pdfs").resolve()
        result, rows, pages = run(home, pdf_dir, args.out, args.mode, args.dataset)
        print_run(result, rows, pages)
        if args.home:
            print(f"same eval from the CLI: paperchat --home {home} eval --dataset {args.dataset} "
                  f"--collection {COLLECTION} --mode {args.mode} --no-judge")


if __name__ == "__main__":
    main()
