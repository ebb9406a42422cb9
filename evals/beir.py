"""Retrieval benchmark on a BEIR-format folder: dense, BM25 and hybrid, nDCG@10 and Recall@100.

The corpus is ingested through the real pipeline into its own collection (re-running
reuses it), then every query of the split is run through the same retriever the
assistant uses. Rankings are computed once per query and fused afterwards, so fusion
settings can be compared cheaply (`tune` does that on the train split).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from evals.beir_data import load_qrels, split_queries
from evals.metrics import ndcg_at_k, recall_at_k
from rag.retrieval import Retriever, paper_ranking, rrf
from rag.settings import Settings

DEPTH = 100

#: Published test-split numbers for SciFact (from the benchmark folder's README).
PUBLISHED = {
    "scifact": [
        ("BM25 (BEIR paper, Elasticsearch)", 0.665, None),
        ("BM25, Anserini multifield", 0.6647, 0.9076),
        ("BM25, Anserini flat", 0.6789, 0.9253),
        ("BM25 + cross-encoder rerank (BEIR paper)", 0.688, None),
        ("all-MiniLM-L6-v2 (dense)", 0.6451, 0.925),
        ("e5-small-v2 (dense)", 0.6885, 0.928),
        ("bge-small-en-v1.5 (dense)", 0.7127, 0.945),
    ]
}


@dataclass
class Rankings:
    """Per query: papers ranked by dense similarity and by BM25, best first."""

    dense: dict[str, list[str]] = field(default_factory=dict)
    bm25: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


def collect_rankings(retriever: Retriever, queries: dict[str, str], depth: int = DEPTH) -> Rankings:
    chunks = depth * 3  # papers may have several chunks; fetch enough to rank `depth` papers
    out = Rankings()
    started = time.perf_counter()
    index = retriever.bm25()
    for qid, text in queries.items():
        out.dense[qid] = paper_ranking([d["id"] for d in retriever.dense(text, chunks)])[:depth]
        out.bm25[qid] = paper_ranking([cid for cid, _ in index.search(text, chunks)])[:depth]
    out.seconds = time.perf_counter() - started
    return out


def fuse(rankings: Rankings, qid: str, dense_weight: float, bm25_weight: float, k: int) -> list[str]:
    scores = rrf([(rankings.dense[qid], dense_weight), (rankings.bm25[qid], bm25_weight)], k)
    return sorted(scores, key=lambda p: -scores[p])[:DEPTH]


def score(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    ndcg = [ndcg_at_k(runs[q], qrels[q], 10) for q in runs]
    recall = [recall_at_k(runs[q], {d for d, g in qrels[q].items() if g > 0}, DEPTH) for q in runs]
    return {"ndcg@10": sum(ndcg) / len(ndcg), "recall@100": sum(recall) / len(recall)}


def evaluate(rankings: Rankings, qrels: dict[str, dict[str, int]], settings: Settings) -> dict[str, dict]:
    cfg = settings.retrieval
    qids = list(rankings.dense)
    hybrid = {q: fuse(rankings, q, cfg.dense_weight, cfg.bm25_weight, cfg.rrf_k) for q in qids}
    return {
        "dense": score(rankings.dense, qrels),
        "bm25": score(rankings.bm25, qrels),
        "hybrid": score(hybrid, qrels),
    }


def tune(rankings: Rankings, qrels: dict[str, dict[str, int]]) -> list[tuple[float, float, int, float]]:
    """Grid over fusion weight and RRF constant: [(ndcg@10, bm25_weight, rrf_k, recall@100)] best first."""
    rows = []
    for bm25_weight in (0.5, 0.7, 0.85, 1.0, 1.2, 1.5, 2.0):
        for k in (5, 10, 20, 40, 60, 100):
            runs = {q: fuse(rankings, q, 1.0, bm25_weight, k) for q in rankings.dense}
            s = score(runs, qrels)
            rows.append((s["ndcg@10"], bm25_weight, k, s["recall@100"]))
    return sorted(rows, reverse=True)


def run(folder: Path, split: str, settings: Settings, retriever: Retriever | None = None) -> dict:
    """Rankings for every query of the split, scored; the collection must already hold the corpus."""
    queries = split_queries(folder, split)
    qrels = load_qrels(folder, split)
    retriever = retriever or Retriever(settings)
    rankings = collect_rankings(retriever, queries)
    return {
        "split": split,
        "queries": len(queries),
        "ms_per_query": 1000 * rankings.seconds / max(1, len(queries)),
        "metrics": evaluate(rankings, qrels, settings),
        "rankings": rankings,
    }


def table(result: dict, published_key: str = "scifact") -> str:
    """A Markdown table of our rows beside the published ones."""
    lines = ["| system | nDCG@10 | R@100 | source |", "|---|---|---|---|"]
    for name, m in result["metrics"].items():
        lines.append(f"| paperchat {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | this run |")
    for name, ndcg, recall in PUBLISHED.get(published_key, []):
        lines.append(f"| {name} | {ndcg:.4f} | {'–' if recall is None else f'{recall:.4f}'} | published |")
    return "\n".join(lines)
