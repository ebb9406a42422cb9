"""The full-text eval set (evals/datasets/pdf.jsonl over the papers of evals/pdf_papers.py), checked mechanically,
and one body-only question answered end to end from generated PDFs with the real embedder."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
from conftest import make_settings

from paperchat.evals import pdf_papers as pp
from paperchat.evals.dataset import load_dataset
from paperchat.evals.metrics import exact_point_match
from paperchat.evals.pdf_eval import PDF_SET, page_checks, page_summary
from paperchat.ingest.pdf import read_pdf
from paperchat.rag.settings import BUNDLED_PAPERS
from paperchat.rag.text import split_sentences
from paperchat.rag.types import Evidence

ITEMS = load_dataset(PDF_SET)
BY_ID = {i.id: i for i in ITEMS}
E2E_ITEM = "pdf-single-02"  # the cache-sharing ablation of the speculative decoding paper, page 2


def _full_text(title: str) -> str:
    spec = pp.specs()[title]
    return " ".join([title, pp.abstract_text(title), pp.body_text(title), *spec.references])


def _has_term(term: str, text: str) -> bool:
    """Whole-word, case-insensitive for words ("eta" is not in "beta"); plain substring for symbols ("$")."""
    if re.fullmatch(r"\w.*\w|\w", term):
        return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.I) is not None
    return term in text


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """title -> Paper as the product's PDF reader reads the written file."""
    folder = tmp_path_factory.mktemp("pdf-eval-papers")
    paths = pp.write_collection(folder)
    assert [p.name for p in paths] == [f"{pp.slug(t)}.pdf" for t in pp.titles()]
    return {title: read_pdf(path) for title, path in zip(pp.titles(), paths, strict=True)}


# ------------------------------------------------------------------------------------- the papers


def test_twelve_papers_of_three_to_six_pages_in_both_layouts():
    titles = pp.titles()
    assert len(titles) == len(set(titles)) == 12
    assert all(3 <= pp.page_count(t) <= 6 for t in titles), {t: pp.page_count(t) for t in titles}
    assert Counter(pp.specs()[t].columns for t in titles) == {1: 6, 2: 6}
    for title in titles:
        spec = pp.specs()[title]
        assert 3 <= len(split_sentences(pp.abstract_text(title))) <= 5, title
        assert 5 <= len(spec.sections) <= 8 and spec.references, title


def test_reader_gets_title_authors_year_and_abstract_back(extracted):
    for title, paper in extracted.items():
        spec = pp.specs()[title]
        assert paper.title == title
        assert paper.authors == spec.metadata["author"].split("; ")
        assert paper.year == spec.metadata["creation_date"].year
        assert " ".join(paper.abstract.split()) == pp.abstract_text(title)
        assert [p.page for p in paper.pages] == list(range(1, pp.page_count(title) + 1))


def test_pages_of_locates_text_in_the_layout():
    title = pp.titles()[0]
    assert pp.pages_of(title, "1 Introduction") == [1]
    assert pp.pages_of(title, "batch size of 32") == [3]
    assert pp.pages_of(title, "a sentence no paper prints") == []
    assert pp.pages_of(title, "") == []
    assert pp.pages_of(title, pp.specs()[title].references[0][4:40]) == []  # references are not body


# ------------------------------------------------------------------------------------- the dataset


def test_dataset_shape_and_titles():
    counts = Counter(i.type for i in ITEMS)
    assert counts["single"] >= 18 and counts["multi"] >= 4 and counts["unanswerable"] >= 6
    assert set(counts) == {"single", "multi", "unanswerable"}
    assert all(i.id.startswith("pdf-") for i in ITEMS)
    titles = set(pp.titles())
    for item in ITEMS:
        assert set(item.gold_titles) <= titles and set(item.closest_titles) <= titles, item.id
        if item.type == "single":
            assert len(item.gold_titles) == 1 and item.note in ("paraphrase", "keyword"), item.id
        if item.type == "multi":
            assert 2 <= len(item.gold_titles) <= 5, item.id
    assert {t for i in ITEMS for t in i.gold_titles} == titles  # every paper is asked about


def test_single_answer_points_are_body_only():
    """Every point of a single item is verbatim in its paper's body and absent from its abstract (neither as a
    substring nor as the numbers and names the scorer matches), so the abstract alone cannot answer it."""
    singles = [i for i in ITEMS if i.type == "single"]
    for item in singles:
        (title,) = item.gold_titles
        abstract = pp.abstract_text(title)
        assert item.answer_points, item.id
        for point in item.answer_points:
            assert point in pp.body_text(title), (item.id, point)
            assert point.lower() not in abstract.lower(), (item.id, point)
            assert exact_point_match(point, abstract) is not True, (item.id, point)
            assert exact_point_match(point, title) is not True, (item.id, point)
            assert pp.pages_of(title, point), (item.id, point)
        assert not any(point.lower() in item.question.lower() for point in item.answer_points), item.id


def test_multi_points_each_from_one_gold_body():
    for item in (i for i in ITEMS if i.type == "multi"):
        owners = [[t for t in item.gold_titles if point in pp.body_text(t)] for point in item.answer_points]
        assert all(len(o) == 1 for o in owners), (item.id, owners)
        assert {o[0] for o in owners} == set(item.gold_titles), item.id


def test_points_are_in_the_extracted_body_on_the_right_page(extracted):
    """What the product indexes holds every answer point, on a page the layout puts it on, and its abstract
    does not."""
    for item in (i for i in ITEMS if not i.unanswerable):
        for title in item.gold_titles:
            paper = extracted[title]
            for point in (p for p in item.answer_points if p in pp.body_text(title)):
                found = [page.page for page in paper.pages if pp.squash(point) in pp.squash(page.text)]
                truth = pp.pages_of(title, point)
                if not found:  # a point cut by a page break
                    assert len(truth) == 2, (item.id, point)
                else:
                    assert set(found) <= set(truth), (item.id, point, found, truth)
                if item.type == "single":
                    assert pp.squash(point) not in pp.squash(paper.abstract), (item.id, point)


def test_unanswerable_items_key_terms_are_absent():
    unanswerable = [i for i in ITEMS if i.unanswerable]
    assert Counter(i.subtype for i in unanswerable)["missing_detail"] >= 4
    assert Counter(i.subtype for i in unanswerable)["off_topic"] >= 2
    bundled = BUNDLED_PAPERS.read_text(encoding="utf-8")
    everything = " ".join(_full_text(t) for t in pp.titles())
    for item in unanswerable:
        if item.subtype == "missing_detail":
            (title,) = item.closest_titles
            terms = item.extra_fields["absent_terms"]
            assert terms, item.id
            assert [t for t in terms if _has_term(t, _full_text(title))] == [], item.id
        else:
            assert item.subtype == "off_topic" and item.closest_titles == [], item.id
            assert item.named and item.named.lower() in item.question.lower(), item.id
            assert item.named.lower() not in everything.lower(), item.id
            assert item.named.lower() not in bundled.lower(), item.id


def test_has_term_is_whole_word():
    assert _has_term("eta", "the eta value") and not _has_term("eta", "a beta release")
    assert _has_term("$", "cost $5") and not _has_term("$", "five dollars")


# ------------------------------------------------------------------------------------- page checks


def _record(item_id: str, status: str, citations: list[dict]) -> dict:
    return {"id": item_id, "status": status, "citations": citations}


def test_page_checks_verdicts():
    item = BY_ID[E2E_ITEM]
    (title,) = item.gold_titles
    on_page_2 = "Without cache sharing, each branch is verified with its own copy of the prefix, and the speedup " \
                "on code falls from 2.3x to 1.5x: the extra attention work eats most of the gain of the tree."
    records = [_record(item.id, "answered", [{"title": title, "page": 2, "quote": on_page_2}]),
               _record(item.id, "answered", [{"title": title, "page": 3, "quote": on_page_2}]),
               _record(item.id, "answered", [{"title": title, "page": None, "quote": on_page_2}]),
               _record(item.id, "answered", [{"title": "Some Other Paper", "page": 1, "quote": "x"}]),
               _record(item.id, "not_found", [])]
    rows = [page_checks(ITEMS, [r])[0] for r in records]
    assert [r["verdict"] for r in rows] == ["right", "wrong", "no page", "not cited", "not cited"]
    assert rows[0]["fact_pages"] == [2] and rows[0]["quote_pages"] == [2]
    assert [r["quote_page_ok"] for r in rows] == [True, False, False, None, None]  # no page is not right
    assert rows[0]["quote_has_point"] is True
    summary = page_summary(rows)
    assert summary["verdicts"] == {"right": 1, "wrong": 1, "no page": 1, "not cited": 2}
    assert summary["page_right_of_cited"] == pytest.approx(1 / 3)
    assert summary["page_right_of_all"] == pytest.approx(1 / 5)
    assert summary["quote_page_right"] == pytest.approx(1 / 3)
    assert summary["quote_in"] == {"body": 3}
    assert (summary["no_page_on_body_quote"], summary["page_not_the_quotes"]) == (1, 1)


def test_page_checks_tell_abstract_quotes_apart():
    item = BY_ID["pdf-single-06"]
    (title,) = item.gold_titles
    abstract_sentence = split_sentences(pp.abstract_text(title))[1]
    (row,) = page_checks(ITEMS, [_record(item.id, "answered", [{"title": title, "page": None,
                                                                "quote": abstract_sentence}])])
    assert (row["verdict"], row["quote_in"], row["quote_pages"], row["quote_page_ok"]) == \
        ("no page", "abstract", [], None)


def test_page_checks_skip_unanswerable_and_cover_every_gold_paper():
    multi = BY_ID["pdf-multi-01"]
    records = [_record(multi.id, "not_found", []), _record("pdf-unans-01", "not_found", [])]
    rows = page_checks(ITEMS, records)
    assert [(r["id"], r["title"]) for r in rows] == [(multi.id, t) for t in multi.gold_titles]
    assert [r["fact_pages"] for r in rows] == [[2], [2]]


# ------------------------------------------------------------------------------------- end to end


def test_body_only_question_cites_the_paper_and_its_page(tmp_path, real_embedder):
    """Three generated PDFs ingested with the real model; a question only the body answers is answered from the
    right paper, and the citation carries the page that prints the fact."""
    from paperchat.ingest.pipeline import ingest_paths
    from paperchat.rag.assistant import Assistant

    started = time.perf_counter()
    item = BY_ID[E2E_ITEM]
    (gold,) = item.gold_titles
    chosen = [gold, pp.titles()[4], pp.titles()[11]]
    pp.write_collection(tmp_path / "pdfs", only=chosen)
    settings = make_settings(tmp_path / "home", collection="pdf-papers")
    report = ingest_paths([tmp_path / "pdfs"], settings, embedder=real_embedder)
    assert (report.new, report.papers_total) == (3, 3), report.summary()
    assistant = Assistant(settings, embedder=real_embedder)
    try:
        answer = assistant.ask(item.question)
    finally:
        assistant.close()
    assert answer.status == "answered"
    assert [c.title for c in answer.citations] == [gold]
    (point,) = item.answer_points
    assert exact_point_match(point, answer.answer) is True
    fact_page = pp.pages_of(gold, point)
    assert fact_page == [2]
    assert answer.citations[0].page == 2
    assert answer.citations[0].page in pp.pages_of(gold, answer.citations[0].quote)
    rows = page_checks(ITEMS, [_record(item.id, answer.status, [c.model_dump() for c in answer.citations])])
    assert [r["verdict"] for r in rows] == ["right"]
    assert time.perf_counter() - started < 60


def test_quote_after_a_paragraph_break_gets_its_page():
    text = "The gain is large.\n\n7 Limitations\n\nThe gain vanished at a batch size of 32."
    evidence = Evidence(title="T", paper_id="p", n=1, text=text, pages=[(0, len(text), 3)])
    assert [evidence.page_of(s) for s in split_sentences(text)] == [3, 3]
