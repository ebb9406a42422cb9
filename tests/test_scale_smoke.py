"""The scale benchmark's parts: the embeddings server, the synthetic collections, and a 2k-paper run."""

from __future__ import annotations

import json
import time

import numpy as np
import openai
import pytest
from conftest import shared_file

from paperchat.evals import bench_scale, scale_data
from paperchat.evals.embed_server import DIM, embed, start
from paperchat.ingest.readers import read_papers


@pytest.fixture(scope="module")
def embed_url():
    url, stop = start(0)
    yield url
    stop()


def test_embed_server_speaks_the_openai_api(embed_url):
    client = openai.OpenAI(base_url=embed_url, api_key="none", max_retries=0)
    texts = ["sparse attention for long documents", "sparse attention for long texts", "protein folding"]
    b64 = client.embeddings.create(model="m", input=texts)  # the client asks for base64 by default
    floats = client.embeddings.create(model="m", input=texts, encoding_format="float")
    a = np.array([d.embedding for d in b64.data])
    assert a.shape == (3, DIM)
    assert np.array_equal(a, np.array([d.embedding for d in floats.data], dtype=np.float32))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(a, embed(texts))  # deterministic: the same vectors in-process
    assert a[0] @ a[1] > 0.6 > a[0] @ a[2]  # shared words, closer vectors
    assert [m.id for m in client.models.list().data] == ["paperchat-hash-384"]
    with pytest.raises(openai.BadRequestError, match="'input' must be a non-empty string"):
        client.embeddings.create(model="m", input=[])


def test_scale_data_is_deterministic_and_real(tmp_path):
    shared_file("benchmarks", "scifact", "corpus.jsonl")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    scale_data.write_collection(a, 300)
    scale_data.write_collection(b, 300)
    assert a.read_bytes() == b.read_bytes()
    papers = list(read_papers(a))  # the product's own reader accepts every line
    assert [p.id for p in papers] == [scale_data.paper_id(i) for i in range(300)]
    assert len({p.title for p in papers}) > 290 and len({p.abstract for p in papers}) == 300
    assert all(p.year and 1990 <= p.year <= 2025 and p.authors and p.categories for p in papers)
    pools = scale_data.load_pools()
    first = papers[0].abstract
    assert all(s in pools.sentences for s in scale_data._SENTENCE_END.split(first))  # real sentences only


def test_apply_delta_changes_adds_and_deletes_exactly(tmp_path):
    shared_file("benchmarks", "scifact", "corpus.jsonl")
    path = tmp_path / "papers.jsonl"
    scale_data.write_collection(path, 200)
    before = {json.loads(line)["id"]: line for line in path.read_text().splitlines()}
    delta = scale_data.apply_delta(path, 200)
    after = {json.loads(line)["id"]: line for line in path.read_text().splitlines()}
    assert (len(delta.changed), len(delta.new), len(delta.deleted), delta.papers_after) == (10, 10, 10, 200)
    assert set(after) == (set(before) - set(delta.deleted)) | set(delta.new)
    assert {pid for pid in before if pid in after and before[pid] != after[pid]} == set(delta.changed)
    assert delta.new == [scale_data.paper_id(i) for i in range(200, 210)]
    with pytest.raises(ValueError, match="not a collection of 200 papers written by write_collection"):
        scale_data.apply_delta(path, 200)  # the file is no longer the base collection


def test_growth_exponent():
    assert bench_scale.growth_exponent([(10_000, 5.0), (100_000, 50.0), (1_000_000, 500.0)]) == pytest.approx(1.0)
    assert bench_scale.growth_exponent([(10_000, 3.0), (100_000, 3.0)]) == pytest.approx(0.0)
    assert bench_scale.growth_exponent([(10_000, 3.0)]) is None


def test_a_2k_paper_benchmark_run(tmp_path):
    """The whole benchmark on 2,000 papers, embedded store: counts right, the keyword index in step."""
    shared_file("benchmarks", "scifact", "corpus.jsonl")
    cfg = bench_scale.Config(out=tmp_path / "out", data=tmp_path / "data", queries=10, asks=3, cold_runs=1,
                             web_questions=4)
    cfg.out.mkdir()
    alone, row = bench_scale.run_all(cfg, [2000], ["embedded"], store_n=300)
    assert (alone["mode"], alone["papers"]) == ("store", 300) and alone["chunks"] > 300
    assert all(alone[f"{v}_papers_per_s"] > 0 for v in bench_scale.STORE_VARIANTS)
    assert (row["size"], row["mode"], row["in_step"]) == (2000, "embedded", True)
    assert row["chunks"] > 2000  # longer abstracts make two chunks
    for key in ("ingest_papers_per_s", "ingest_rss_mb", "disk_kb_per_paper", "reingest_s", "delta_s",
                "cold_start_s", "search_p50_ms", "search_p95_ms", "ask_p50_ms", "ask_p95_ms"):
        assert row[key] > 0, key
    assert row["search_p95_ms"] >= row["search_p50_ms"]
    # the web server answered four questions through /ask, every reply a valid Answer
    assert row["web_questions"] == 4 and sum(row["web_statuses"].values()) == 4
    assert set(row["web_statuses"]) <= {"answered", "not_found"}
    assert 0 < row["web_rss_start_mb"] <= row["web_peak_rss_mb"] and row["web_rss_after_mb"] > 0
    assert row["web_ask_p95_ms"] >= row["web_ask_p50_ms"] > 0
    text = bench_scale.report(cfg.out, tmp_path / "scale.png")
    assert "| search p50 (ms) |" in text and "embedded 2,000" in text
    assert "| web server RSS after the last question (MB) |" in text
    assert "The store alone: 300 papers" in text and "(`PaperStore.upsert`, what ingest writes) |" in text
    assert (tmp_path / "scale.png").stat().st_size > 10_000
    assert not (cfg.out / "embedded-2000" / "home").exists()  # homes are removed unless --keep


def test_the_web_step_needs_a_kept_collection(tmp_path):
    with pytest.raises(SystemExit, match="does not exist: run the benchmark with --keep first"):
        bench_scale.web_only(tmp_path, "server", 1000, 5)


def test_embedding_requests_run_in_parallel_and_keep_their_order():
    """`OpenAIEndpointEmbeddings` sends `concurrency` requests at once; the vectors come back in input order."""
    import threading
    from http.server import ThreadingHTTPServer

    from paperchat.evals import embed_server
    from paperchat.rag.embeddings import OpenAIEndpointEmbeddings

    state = {"now": 0, "most": 0}
    lock = threading.Lock()

    class Slow(embed_server._Handler):
        def do_POST(self):  # noqa: N802
            with lock:
                state["now"] += 1
                state["most"] = max(state["most"], state["now"])
            time.sleep(0.15)
            try:
                super().do_POST()
            finally:
                with lock:
                    state["now"] -= 1

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        texts = [f"text number {i} about topic{i % 7}" for i in range(40)]
        parallel = OpenAIEndpointEmbeddings("m", url, "k", batch_size=10, concurrency=4)
        vectors = parallel.embed_documents(texts)
        assert state["most"] == 4  # four requests of 10 in flight at once, not one after another
        assert np.allclose(np.array(vectors), embed(texts), atol=1e-6)
        state["most"] = 0
        single = OpenAIEndpointEmbeddings("m", url, "k", batch_size=10, concurrency=1)
        assert np.allclose(np.array(single.embed_documents(texts)), embed(texts), atol=1e-6)
        assert state["most"] == 1
    finally:
        server.shutdown()
        server.server_close()
