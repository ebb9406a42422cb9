"""BibTeX and RIS exports of cited papers (rag.export) and `paperchat ask --bib / --ris`.

Round trips go through the real readers: a .bib from the test library is ingested (fake embedder, real Chroma),
exported, and parsed again with bibtexparser (same keys and fields) and with paperchat's own readers.
"""

from __future__ import annotations

import bibtexparser
import pytest
import rispy
from conftest import ROOT, FakeEmbeddings, make_settings, run_cli, subprocess_env, write_jsonl

from paperchat.ingest.bibtex import read_bibtex
from paperchat.ingest.pipeline import ingest_paths
from paperchat.ingest.ris import read_ris
from paperchat.rag import export
from paperchat.rag.store import PaperRecord, PaperStore
from paperchat.rag.types import Answer, Citation

LIBRARY = ROOT / "tests" / "data" / "library"
BIB_FILES = ["zotero.bib", "betterbibtex.bib", "jabref.bib", "mendeley.bib", "scholar.bib"]


def record(**kw) -> PaperRecord:
    data = dict(paper_id="p1", title="A Title", authors=[], year=None, url=None, doi=None, arxiv_id=None, venue=None,
                categories=[], citation_key=None, bibtex=None, source="", n_chunks=1)
    data.update(kw)
    return PaperRecord(**data)


ATTENTION = record(paper_id="p-att", title="Attention Is All You Need", year=2017,
                   authors=["Ashish Vaswani", "Noam Shazeer", "Łukasz Kaiser"],
                   venue="Advances in Neural Information Processing Systems", doi="10.5555/3295222.3295349",
                   url="https://papers.nips.cc/paper/7181")
GALORE = record(paper_id="p-galore", title="GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection",
                year=2024, authors=["Jiawei Zhao", "Zhenyu Zhang"], arxiv_id="2403.03507", categories=["cs.LG"])


@pytest.fixture(scope="module")
def library_store(tmp_path_factory):
    """The test library's .bib files ingested into a real embedded Chroma collection (fake embedder)."""
    home = tmp_path_factory.mktemp("export-library") / "home"
    settings = make_settings(home, collection="library")
    embedder = FakeEmbeddings()
    ingest_paths([LIBRARY / name for name in BIB_FILES], settings, embedder=embedder)
    store = PaperStore(settings, embedder.name, embedder.dimension, create=False)
    yield store
    store.close()


def _fields(entry) -> dict[str, str]:
    return {f.key.lower(): f.value for f in entry.fields}


def _original_entries() -> dict[str, object]:
    entries = {}
    for name in BIB_FILES:
        for entry in bibtexparser.parse_file(str(LIBRARY / name)).entries:
            entries[entry.key] = entry
    return entries


# ------------------------------------------------------------------------------------- BibTeX


def test_original_entries_come_back_with_their_keys_and_fields(library_store):
    records = library_store.papers()
    assert len(records) == 11 and all(r.bibtex for r in records)
    out = export.bibtex(records)
    parsed = bibtexparser.parse_string(out)
    assert not parsed.failed_blocks
    originals = _original_entries()
    assert sorted(e.key for e in parsed.entries) == sorted(r.citation_key for r in records)
    for entry in parsed.entries:
        original = originals[entry.key]
        assert entry.entry_type == original.entry_type
        expected = {k: v for k, v in _fields(original).items() if k != "file"}  # local paths are not exported
        assert _fields(entry) == expected, entry.key
    assert "file =" not in out and "/home/ana" not in out


def test_exported_bib_reads_back_as_the_same_papers(library_store, tmp_path):
    records = library_store.papers()
    path = tmp_path / "out.bib"
    path.write_text(export.bibtex(records), encoding="utf-8")
    again = {p.citation_key: p for p in read_bibtex(path)}
    for r in records:
        paper = again[r.citation_key]
        assert (paper.title, paper.authors, paper.year, paper.doi, paper.arxiv_id, paper.venue) == \
            (r.title, r.authors, r.year, r.doi, r.arxiv_id, r.venue)


def test_a_repeated_original_key_gets_a_letter(library_store):
    lora = next(r for r in library_store.papers() if r.citation_key == "hu_lora_2021")
    parsed = bibtexparser.parse_string(export.bibtex([lora, lora, lora]))
    assert [e.key for e in parsed.entries] == ["hu_lora_2021", "hu_lora_2021a", "hu_lora_2021b"]


def test_generated_entries_exact():
    out = export.bibtex([ATTENTION, GALORE, record(paper_id="p-x", title="The Unknown", year=2020)])
    assert out == (
        "@article{vaswani2017attention,\n"
        "\ttitle = {Attention Is All You Need},\n"
        "\tauthor = {Vaswani, Ashish and Shazeer, Noam and Kaiser, {\\L}ukasz},\n"
        "\tjournal = {Advances in Neural Information Processing Systems},\n"
        "\tyear = {2017},\n"
        "\tdoi = {10.5555/3295222.3295349},\n"
        "\turl = {https://papers.nips.cc/paper/7181}\n"
        "}\n\n"
        "@misc{zhao2024galore,\n"
        "\ttitle = {GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection},\n"
        "\tauthor = {Zhao, Jiawei and Zhang, Zhenyu},\n"
        "\tyear = {2024},\n"
        "\teprint = {2403.03507},\n"
        "\tarchivePrefix = {arXiv},\n"
        "\tprimaryClass = {cs.LG}\n"
        "}\n\n"
        "@misc{anon2020unknown,\n"
        "\ttitle = {The Unknown},\n"
        "\tyear = {2020}\n"
        "}\n"
    )


def test_generated_entries_read_back_through_bibtexparser_and_the_reader(tmp_path):
    tricky = record(paper_id="p-t", title="50% of {braces} & $x_1$ #1 ~ ^ \\ Schrödinger", year=2023,
                    authors=["Martin Luther King Jr.", "Laurens van der Maaten", "Research Team and Friends"],
                    venue="Proc. of A & B", doi="10.1000/a_b", url="https://example.org/a_b?x=1&y=2")
    out = export.bibtex([ATTENTION, GALORE, tricky])
    parsed = bibtexparser.parse_string(out)
    assert not parsed.failed_blocks
    assert [e.key for e in parsed.entries] == ["vaswani2017attention", "zhao2024galore", "king2023braces"]
    fields = _fields(parsed.entries[2])
    assert fields["title"] == r"50\% of \{braces\} \& \$x\_1\$ \#1 \textasciitilde{} \textasciicircum{} " \
                              r"\textbackslash{} Schr{\"o}dinger"
    assert fields["author"] == "King, Jr., Martin Luther and van der Maaten, Laurens and {Research Team and Friends}"
    assert fields["doi"] == "10.1000/a_b" and fields["url"] == "https://example.org/a_b?x=1&y=2"
    path = tmp_path / "generated.bib"
    path.write_text(out, encoding="utf-8")
    papers = list(read_bibtex(path))
    assert [(p.title, p.authors, p.year, p.venue, p.doi, p.arxiv_id) for p in papers[:2]] == [
        (ATTENTION.title, ATTENTION.authors, 2017, ATTENTION.venue, ATTENTION.doi, None),
        (GALORE.title, GALORE.authors, 2024, None, None, "2403.03507")]
    assert papers[2].authors == tricky.authors and papers[2].venue == "Proc. of A & B"
    assert papers[2].title.startswith("50% of") and papers[2].title.endswith("Schrödinger")


def test_keys_are_unique_and_ascii():
    twins = [record(paper_id=f"p{i}", title="On Deep Learning", year=2019, authors=["Jürgen Schmidhuber"])
             for i in range(3)]
    keys = [e.key for e in bibtexparser.parse_string(export.bibtex(twins)).entries]
    assert keys == ["schmidhuber2019deep", "schmidhuber2019deepa", "schmidhuber2019deepb"]
    assert export.citation_key(record(title="Łódź Études", authors=["Łukasz Ørsted"])) == "orstedlodz"


def test_an_unsafe_url_is_not_exported():
    out = export.bibtex([record(title="X", url="javascript:alert(1)")])
    assert "javascript" not in out and "url" not in out


# ------------------------------------------------------------------------------------- RIS


def test_ris_exact_and_reparsed_with_rispy():
    text = export.ris([ATTENTION, GALORE])
    assert text == (
        "TY  - JOUR\nTI  - Attention Is All You Need\nAU  - Vaswani, Ashish\nAU  - Shazeer, Noam\n"
        "AU  - Kaiser, Łukasz\nPY  - 2017\nJO  - Advances in Neural Information Processing Systems\n"
        "DO  - 10.5555/3295222.3295349\nUR  - https://papers.nips.cc/paper/7181\nER  - \n\n"
        "TY  - UNPB\nTI  - GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection\n"
        "AU  - Zhao, Jiawei\nAU  - Zhang, Zhenyu\nPY  - 2024\nUR  - https://arxiv.org/abs/2403.03507\nER  - \n"
    )
    entries = rispy.loads(text)
    assert [e["type_of_reference"] for e in entries] == ["JOUR", "UNPB"]
    assert entries[0]["authors"] == ["Vaswani, Ashish", "Shazeer, Noam", "Kaiser, Łukasz"]
    assert entries[0]["journal_name"] == ATTENTION.venue and entries[0]["doi"] == ATTENTION.doi


def test_ris_of_the_library_reads_back_through_the_ris_reader(library_store, tmp_path):
    records = library_store.papers()
    path = tmp_path / "out.ris"
    path.write_text(export.ris(records), encoding="utf-8")
    papers = [p for p in read_ris(path)]
    assert len(papers) == len(records)
    for r, p in zip(records, papers, strict=True):
        assert (p.title, p.authors, p.year, p.doi) == (r.title, r.authors, r.year, r.doi)
    kinds = [e["type_of_reference"] for e in rispy.load(path)]
    resnet = next(i for i, r in enumerate(records) if r.title.startswith("Deep Residual"))
    assert kinds[resnet] == "CONF"  # a conference venue is T2, a journal JO
    assert rispy.load(path)[resnet]["secondary_title"].startswith("2016 IEEE Conference")


# ------------------------------------------------------------------------------------- an answer's papers


def test_cited_records_are_the_stored_records_once_in_citation_order(library_store):
    by_key = {r.citation_key: r for r in library_store.papers()}
    lora, lstm = by_key["hu_lora_2021"], by_key["Hochreiter1997"]

    def answer(*recs) -> Answer:
        return Answer(question="q", standalone_question="q", answer="x [1]", status="answered", mode="extractive",
                      model="m", citations=[Citation(n=i, title=r.title, paper_id=r.paper_id) for i, r in
                                            enumerate(recs, 1)])

    gone = Citation(n=3, title="Deleted Paper", paper_id="no-such-paper", year=2001, authors=["Ann Smith"])
    first = answer(lstm, lora)
    second = answer(lora).model_copy(update={"citations": [*answer(lora).citations, gone]})
    found = export.cited_records([first, second], library_store)
    assert [getattr(r, "citation_key", None) for r in found] == ["Hochreiter1997", "hu_lora_2021", None]
    assert found[2] is gone  # not in the store any more: exported from the citation
    assert "@misc{smith2001deleted," in export.bibtex(found)
    not_found = Answer(question="q", standalone_question="q", answer="no", status="not_found", mode="extractive",
                       model="m")
    assert export.cited_records(not_found, library_store) == []


# ------------------------------------------------------------------------------------- the CLI


@pytest.mark.slow
def test_ask_bib_and_ris_print_the_cited_papers(tmp_path):
    home = tmp_path / "home"
    env = subprocess_env()
    ingested = run_cli(["--home", str(home), "ingest", str(LIBRARY / "zotero.bib")], cwd=tmp_path, env=env,
                       timeout=300)
    assert ingested.returncode == 0, ingested.stderr
    question = "How does LoRA reduce the number of trainable parameters?"
    bib = run_cli(["--home", str(home), "ask", question, "--bib"], cwd=tmp_path, env=env)
    assert bib.returncode == 0, bib.stderr
    entries = bibtexparser.parse_string(bib.stdout).entries
    assert "hu_lora_2021" in [e.key for e in entries]
    assert "References" not in bib.stdout and "file =" not in bib.stdout
    ris = run_cli(["--home", str(home), "ask", question, "--ris"], cwd=tmp_path, env=env)
    assert ris.returncode == 0, ris.stderr
    assert "LoRA: Low-Rank Adaptation of Large Language Models" in [e["title"] for e in rispy.loads(ris.stdout)]
    both = run_cli(["--home", str(home), "ask", question, "--bib", "--ris"], cwd=tmp_path, env=env)
    assert both.returncode == 2 and "choose one of --bib and --ris" in both.stderr
    with_json = run_cli(["--home", str(home), "ask", question, "--bib", "--json"], cwd=tmp_path, env=env)
    assert with_json.returncode == 2 and "not with --json" in with_json.stderr
    batch = write_jsonl(tmp_path / "q.jsonl", [{"id": "1", "question": question}])
    with_jsonl = run_cli(["--home", str(home), "ask", "--jsonl", str(batch), "--bib"], cwd=tmp_path, env=env)
    assert with_jsonl.returncode == 2 and "not with --jsonl" in with_jsonl.stderr


def test_empty_output_for_no_records():
    assert export.bibtex([]) == "" and export.ris([]) == ""
