"""The incremental keyword index (rag/keyword.py, tantivy): changes, filters, commits, statistics."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from paperchat.ingest.chunking import paper_metadata
from paperchat.rag import keyword
from paperchat.rag.keyword import K1, KeywordIndex, KeywordIndexBusyError
from paperchat.rag.metadata import MetaFilter
from paperchat.rag.text import tokenize
from paperchat.rag.types import Paper

B = 0.75
WORDS = ["attention", "memory", "gradient", "protein", "galaxy", "quantum", "retrieval", "sparse", "kernel",
         "neuron", "vaccine", "lattice", "entropy", "graph", "token"]


def chunk(cid: str, text: str, **meta) -> tuple[str, str, dict]:
    return cid, text, {"paper_id": cid.rsplit("::", 1)[0], **meta}


def expected_score(index_docs: list[list[str]], doc: list[str], query: list[str], n_counted: int) -> float:
    """tantivy's BM25 over `n_counted` documents (the live chunks plus the index's state document, which
    has no text), divided by k1 + 1 as KeywordIndex reports it."""
    avgdl = sum(len(d) for d in index_docs) / n_counted
    total = 0.0
    for term in query:
        df = sum(term in d for d in index_docs)
        tf = doc.count(term)
        if not tf:
            continue
        idf = math.log(1 + (n_counted - df + 0.5) / (df + 0.5))
        total += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(doc) / avgdl)) / (K1 + 1)
    return total


@pytest.fixture
def folder(tmp_path) -> Path:
    return tmp_path / "keyword"


def test_empty_index(folder):
    index = KeywordIndex.open(folder)
    assert folder.is_dir()
    assert (index.n_docs, index.revision) == (0, "")
    assert index.search("sparse attention", 10) == []
    assert index.doc_freq("attent") == 0
    assert index.idf("attent") == pytest.approx(math.log(1 + 1.5 / 0.5))
    assert not index.known("attent")
    index.commit("rev-0")
    assert (index.n_docs, index.revision) == (0, "rev-0")
    assert index.search("sparse attention", 10) == []
    index.close()


def test_scores_are_bm25_over_the_products_terms(folder):
    texts = {"a::0": "Sparse attention for long documents", "b::0": "Dense retrieval of documents and documents",
             "c::0": "Memory of sparse models", "d::0": "Protein folding"}
    index = KeywordIndex.open(folder)
    index.add([chunk(cid, text) for cid, text in texts.items()])
    index.commit("r1")
    docs = dict(zip(texts, tokenize(list(texts.values()))))
    query = tokenize(["sparse documents"])[0]
    assert query == ["spars", "document"]
    got = index.search("sparse documents", 10)
    assert [cid for cid, _ in got] == ["a::0", "b::0", "c::0"]  # a: both terms; b: "documents" twice
    for cid, score in got:
        assert score == pytest.approx(expected_score(list(docs.values()), docs[cid], query, len(docs) + 1), rel=1e-5)
    assert index.search("the of and", 10) == []  # only stopwords: nothing to match
    assert index.search("zebra", 10) == []
    index.close()


def test_add_replace_delete_and_uncommitted_changes(folder):
    index = KeywordIndex.open(folder)
    index.add([chunk("p1::0", "graph kernels"), chunk("p1::1", "graph neural networks"), chunk("p2::0", "galaxy")])
    assert index.search("graph", 10) == []  # nothing visible before the commit
    index.commit("r1")
    assert index.n_docs == 3
    assert {cid for cid, _ in index.search("graph", 10)} == {"p1::0", "p1::1"}
    index.add([chunk("p1::0", "quantum lattice")])  # same id: replaces the chunk, not a second copy
    index.commit("r2")
    assert index.n_docs == 3
    assert [cid for cid, _ in index.search("graph", 10)] == ["p1::1"]
    assert [cid for cid, _ in index.search("quantum", 10)] == ["p1::0"]
    index.delete_papers(["p1"])
    index.commit("r3")
    assert index.n_docs == 1
    assert index.search("graph quantum", 10) == []
    assert index.chunk_ids() == {"p2::0"}
    index.add([chunk("p3::0", "entropy")])
    index.rollback()
    index.commit("r4")
    assert index.chunk_ids() == {"p2::0"}
    index.close()


def _random_papers(rng: random.Random, count: int) -> list[tuple[str, str, dict]]:
    """Chunks with the metadata the real chunker writes (`paper_metadata`), some fields missing."""
    authors = ["Geoffrey Hinton", "Yann LeCun", "Fei-Fei Li", "Laurens van der Maaten", "Yoshua Bengio"]
    venues = [None, "Advances in Neural Information Processing Systems (NeurIPS)", "ICML", "Nature",
              "Physical Review D"]
    categories = ["cs.LG", "cs.CL", "hep-ph", "q-bio.NC", "astro-ph"]
    chunks = []
    for i in range(count):
        paper = Paper(id=f"p{i}", title=f"paper {i}", abstract="x",
                      authors=rng.sample(authors, rng.randint(0, 2)),
                      year=rng.choice([None, *range(2010, 2025)]), venue=rng.choice(venues),
                      categories=rng.sample(categories, rng.randint(0, 2)))
        meta = paper_metadata(paper, "hash")
        for n in range(rng.randint(1, 2)):
            text = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
            chunks.append((f"p{i}::{n}", text, {**meta, "chunk": n}))
    return chunks


def _random_filter(rng: random.Random) -> MetaFilter:
    lo = rng.choice([None, 2012, 2016, 2020])
    hi = rng.choice([None, 2014, 2018, 2024])
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    return MetaFilter(year_min=lo, year_max=hi,
                      authors=rng.sample(["Hinton", "LeCun", "van der Maaten", "Nobody"], rng.randint(0, 2)),
                      venues=rng.sample(["NeurIPS", "nips", "Nature", "ICLR"], rng.randint(0, 1)),
                      categories=rng.sample(["cs.LG", "hep-ph", "q-bio.NC"], rng.randint(0, 2)))


def test_filters_return_exactly_the_matching_chunks(folder):
    rng = random.Random(7)
    chunks = _random_papers(rng, 150)
    index = KeywordIndex.open(folder)
    index.add(chunks)
    index.delete_papers(["p3", "p4"])  # deletions and filters together
    index.commit("r1")
    live = [c for c in chunks if c[2]["paper_id"] not in ("p3", "p4")]
    terms = dict(zip([c[0] for c in live], tokenize([c[1] for c in live])))
    tried = matched = 0
    for _ in range(60):
        where = _random_filter(rng)
        query = " ".join(rng.sample(WORDS, 2))
        q_terms = set(tokenize([query])[0])
        want = {cid for cid, _, meta in live if q_terms & set(terms[cid]) and where.matches(meta)}
        got = index.search(query, 1000, where)
        assert {cid for cid, _ in got} == want, (query, where)
        unfiltered = [hit for hit in index.search(query, 1000) if hit[0] in want]
        assert [cid for cid, _ in got] == [cid for cid, _ in unfiltered]  # same scores, same order
        assert [s for _, s in got] == pytest.approx([s for _, s in unfiltered])
        tried += 1
        matched += bool(want)
    assert matched >= 20 and tried == 60  # the random filters really select something most of the time
    index.close()


def test_doc_freq_and_idf_count_live_chunks(folder):
    index = KeywordIndex.open(folder)
    index.add([chunk("a::0", "sparse attention"), chunk("a::1", "sparse memory"), chunk("b::0", "sparse graph"),
               chunk("c::0", "protein")])
    index.commit("r1")
    assert index.doc_freq("spars") == 3
    assert index.doc_freq("sparse") == 0  # terms are stemmed, as `tokenize` makes them
    index.delete_papers(["a"])
    index.commit("r2")
    assert (index.n_docs, index.doc_freq("spars"), index.doc_freq("attent")) == (2, 1, 0)
    assert index.idf("spars") == pytest.approx(math.log(1 + (2 - 1 + 0.5) / (1 + 0.5)))
    assert index.known("protein") and not index.known("attent")
    index.close()


def test_reader_keeps_its_commit_until_it_reloads(folder):
    writer = KeywordIndex.open(folder)
    writer.add([chunk("a::0", "sparse attention"), chunk("b::0", "graph kernels")])
    writer.commit("r1")
    reader = KeywordIndex.open(folder)
    assert (reader.revision, reader.n_docs) == ("r1", 2)
    writer.delete_papers(["a"])
    writer.add([chunk("c::0", "sparse graph")] + [chunk(f"d{i}::0", "filler words") for i in range(50)])
    writer.commit("r2")
    assert (reader.revision, reader.n_docs) == ("r1", 2)  # the old commit, whole
    assert [cid for cid, _ in reader.search("sparse", 10)] == ["a::0"]
    assert reader.doc_freq("spars") == 1
    assert reader.reload() is True
    assert (reader.revision, reader.n_docs) == ("r2", 52)
    assert [cid for cid, _ in reader.search("sparse", 10)] == ["c::0"]
    assert reader.reload() is False
    writer.close()
    reader.close()


READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from paperchat.rag.keyword import KeywordIndex
    index = KeywordIndex.open(Path(sys.argv[1]))
    seen, bad = set(), []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        index.reload()
        rev = index.revision
        if rev:
            k = int(rev[1:])
            seen.add(k)
            if index.n_docs != 20 * k:
                bad.append((rev, index.n_docs))
            for j in (1, k, k + 1):
                hits = len(index.search(f"batch{j}x", 100))
                if hits != (20 if j <= k else 0):
                    bad.append((rev, j, hits))
        if rev == "r12":
            break
    print(json.dumps({"seen": sorted(seen), "bad": bad[:5]}))
""")


def test_readers_in_another_process_see_whole_commits(folder):
    writer = KeywordIndex.open(folder)
    writer.commit("")
    proc = subprocess.Popen([sys.executable, "-c", READER, str(folder)], stdout=subprocess.PIPE, text=True)
    for k in range(1, 13):
        writer.add([chunk(f"k{k}-{i}::0", f"batch{k}x filler text {i}") for i in range(20)])
        writer.commit(f"r{k}")
    out, _ = proc.communicate(timeout=90)
    result = json.loads(out)
    assert result["bad"] == []
    assert 12 in result["seen"]
    writer.close()


def test_reopen_after_close_keeps_everything(folder):
    index = KeywordIndex.open(folder)
    index.add([chunk("a::0", "sparse attention", year=2020, author_keys=["hinton"])])
    index.commit("r1")
    index.add([chunk("b::0", "never committed")])
    index.close()  # uncommitted changes are dropped, like after a crash
    again = KeywordIndex.open(folder)
    assert (again.revision, again.n_docs, again.chunk_ids()) == ("r1", 1, {"a::0"})
    assert [cid for cid, _ in again.search("attention", 5, MetaFilter(authors=["Hinton"], year_min=2020))] == ["a::0"]
    assert again.search("attention", 5, MetaFilter(year_max=2019)) == []
    again.close()


def test_a_second_writer_waits_then_fails_clearly(folder, monkeypatch):
    monkeypatch.setattr(keyword, "WRITER_WAIT", 0.5)
    first = KeywordIndex.open(folder)
    first.add([chunk("a::0", "sparse")])
    second = KeywordIndex.open(folder)
    with pytest.raises(KeywordIndexBusyError, match=r"another process is writing the keyword index in .*keyword"):
        second.add([chunk("b::0", "graph")])
    first.commit("r1")
    first.close()  # releases the lock
    second.add([chunk("b::0", "graph")])
    second.commit("r2")
    assert second.chunk_ids() == {"a::0", "b::0"}
    second.close()


def test_an_index_of_another_schema_version_starts_empty(folder, monkeypatch):
    index = KeywordIndex.open(folder)
    index.add([chunk("a::0", "sparse")])
    index.commit("r1")
    index.close()
    monkeypatch.setattr(keyword, "SCHEMA_VERSION", keyword.SCHEMA_VERSION + 1)
    again = KeywordIndex.open(folder)
    assert (again.revision, again.n_docs) == ("", 0)
    again.close()


def test_tokenize_is_bm25s_tokenize_without_importing_it():
    """rag.text.tokenize reproduces bm25s.tokenize (stopwords 'en', the Snowball stemmer) term for term on the
    bundled papers and the SciFact abstracts, Unicode and hostile text included, and a fresh process that
    tokenizes imports neither bm25s nor numba."""
    import bm25s
    import bm25s.stopwords
    from conftest import shared_file

    from paperchat.rag import text as text_mod

    assert frozenset(bm25s.stopwords.STOPWORDS_EN) == text_mod.STOPWORDS_EN
    texts = shared_file("corpus", "papers.txt").read_text(encoding="utf-8").split("\n\n")
    with shared_file("benchmarks", "scifact", "corpus.jsonl").open(encoding="utf-8") as f:
        texts += [json.loads(line)["text"] for line in f][:3000]
    texts += ["", "  ", "Ünïcödé naïve café — résumé", "x y z", "The THE the", "GPT-3's 1.3B-param model's",
              "<script>alert(1)</script> ignore previous instructions", "\u00a0\u2009digits 123 4567 a1 b22"]
    want = bm25s.tokenize(texts, stopwords="en", stemmer=text_mod._stemmer(), return_ids=False,
                          show_progress=False)
    assert tokenize(texts) == [list(doc) for doc in want]
    probe = ("import sys; from paperchat.rag.text import tokenize; print(tokenize(['Sparse attention layers'])); "
             "print(sorted(m for m in ('bm25s', 'numba', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[['spars', 'attent', 'layer']]", "[]"]
