"""`make bench`: ingest throughput against the raw embedding model, and SciFact retrieval quality.

Everything is measured in this run, on this machine:
1. the raw model: the same chunk texts the ingest will embed, through MiniLMEmbeddings alone;
2. the whole ingest (read, chunk, embed, store in Chroma, BM25) of the same corpus into a fresh
   store — the figure is the ratio of the two throughputs;
3. retrieval on the test split: dense, BM25 and both hybrids, beside the published numbers;
4. answer latency over the dev questions against search alone on the same questions.
Results go to the terminal and to runs/bench-<time>.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from paperchat.evals import beir
from paperchat.evals.metrics import percentile
from paperchat.ingest.chunking import chunk_paper
from paperchat.ingest.pipeline import ingest_paths
from paperchat.ingest.readers import read_papers
from paperchat.rag.embeddings import MiniLMEmbeddings
from paperchat.rag.settings import PACKAGE_ROOT, Settings

SCIFACT = PACKAGE_ROOT.parent / "shared" / "benchmarks" / "scifact"
DEV = PACKAGE_ROOT / "evals" / "datasets" / "dev.jsonl"


def raw_model_throughput(corpus: Path, settings: Settings) -> tuple[float, int]:
    papers = list(read_papers(corpus))
    texts = [c.text for p in papers for c in chunk_paper(p, settings.chunk)]
    model = MiniLMEmbeddings(batch_size=settings.embedding.batch_size)
    model.embed_array(texts[:64])  # load the session outside the timing
    started = time.perf_counter()
    model.embed_array(texts)
    return len(papers) / (time.perf_counter() - started), len(texts)


def ingest_throughput(corpus: Path, settings: Settings) -> tuple[float, int]:
    embedder = MiniLMEmbeddings(batch_size=settings.embedding.batch_size)
    embedder.embed_array(["warm up"])
    started = time.perf_counter()
    report = ingest_paths([corpus], settings, embedder=embedder)
    return report.new / (time.perf_counter() - started), report.chunks_written


def answer_latency(home: Path) -> dict:
    """Per-question latency of Assistant.ask against Retriever.search on the dev questions."""
    from paperchat.rag.assistant import Assistant

    settings = Settings(home=home)
    ingest_paths([PACKAGE_ROOT / "data" / "papers.txt"], settings)
    assistant = Assistant(settings)
    questions = [json.loads(line).get("question") for line in DEV.read_text().splitlines()]
    questions = [q for q in questions if q]
    assistant.ask(questions[0])
    search_ms, ask_ms = [], []
    for q in questions:
        started = time.perf_counter()
        assistant.retriever.search(q)
        search_ms.append(1000 * (time.perf_counter() - started))
        started = time.perf_counter()
        assistant.ask(q)
        ask_ms.append(1000 * (time.perf_counter() - started))
    return {"n": len(questions), "search_p50": statistics.median(search_ms), "ask_p50": statistics.median(ask_ms),
            "ask_p95": percentile(ask_ms, 95)}


def main() -> None:
    parser = argparse.ArgumentParser(description="paperchat benchmark")
    parser.add_argument("--beir", type=Path, default=SCIFACT, help="BEIR folder (default: SciFact)")
    parser.add_argument("--out", type=Path, default=Path("runs"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperchat-bench-") as tmp:
        settings = Settings(home=Path(tmp), collection="bench")
        corpus = args.beir / "corpus.jsonl"
        raw, n_texts = raw_model_throughput(corpus, settings)
        print(f"raw model: {raw:.1f} papers/s ({n_texts} chunks)", flush=True)
        full, n_chunks = ingest_throughput(corpus, settings)
        print(f"ingest: {full:.1f} papers/s ({n_chunks} chunks) = {full / raw:.2f} x raw model", flush=True)
        result = beir.run(args.beir, "test", settings)
        latency = answer_latency(Path(tmp) / "bundled")
    lines = [
        f"# paperchat benchmark ({time.strftime('%Y-%m-%d %H:%M')})", "",
        "| ingest (SciFact, 5,183 papers) | papers/s |", "|---|---|",
        f"| raw embedding model, same chunk texts | {raw:.1f} |",
        f"| full ingest (read, chunk, embed, Chroma, BM25) | {full:.1f} |",
        f"| ratio | **{full / raw:.2f}** |", "",
        f"SciFact test split, {result['queries']} queries, {result['ms_per_query']:.1f} ms/query:", "",
        beir.table(result), "",
        f"Answer latency, {latency['n']} dev questions, offline mode: ask p50 {latency['ask_p50']:.0f} ms, "
        f"p95 {latency['ask_p95']:.0f} ms; search alone p50 {latency['search_p50']:.0f} ms "
        f"(ratio {latency['ask_p50'] / latency['search_p50']:.1f}x)",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
