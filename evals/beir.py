"""Retrieval benchmark on a BEIR-format folder: dense, BM25 and hybrid, nDCG@10 and Recall@100.

The corpus is ingested through the real pipeline into its own collection (re-running
reuses it), then every query of the split is run through the same retriever calls
`paperchat search` makes (`Retriever.rankings`, then `Retriever.fuse` for the default
hybrid row). The per-retriever rankings are kept, so other fusion settings can be scored
cheaply from them (`tune` does that on the train split).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.evals.beir_data import load_qrels, split_queries
from paperchat.evals.metrics import ndcg_at_k, recall_at_k
from paperchat.rag.retrieval import Retriever, fuse_papers, top_papers
from paperchat.rag.settings import RetrievalSettings, Settings

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
    """Per query: each paper's best dense similarity and best BM25 score, best first."""

    dense: dict[str, dict[str, float]] = field(default_factory=dict)
    bm25: dict[str, dict[str, float]] = field(default_factory=dict)
    product: dict[str, list[str]] = field(default_factory=dict)  # what `paperchat search --k 100` returns
    seconds: float = 0.0


def collect_rankings(retriever: Retriever, queries: dict[str, str]) -> Rankings:
    """Every query through `Retriever.rankings`, the call `paperchat search` makes (same candidate depth,
    `retrieval.candidates`), and the product's own fused top 100 (`Retriever.fuse`)."""
    out = Rankings()
    started = time.perf_counter()
    revision = retriever.store.revision()
    for qid, text in queries.items():
        found = retriever.rankings(text, revision=revision)
        out.dense[qid], out.bm25[qid] = found.dense_papers, found.lexical_papers
        out.product[qid] = [h.paper_id for h in retriever.fuse(found, DEPTH)]
    out.seconds = time.perf_counter() - started
    return out


def fused_run(rankings: Rankings, cfg: RetrievalSettings) -> dict[str, list[str]]:
    return {qid: top_papers(fuse_papers(rankings.dense[qid], rankings.bm25[qid], cfg), DEPTH)
            for qid in rankings.dense}


def score(runs: dict[str, list], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    ndcg = [ndcg_at_k(list(runs[q])[:DEPTH], qrels[q], 10) for q in runs]
    recall = [recall_at_k(list(runs[q])[:DEPTH], {d for d, g in qrels[q].items() if g > 0}, DEPTH) for q in runs]
    return {"ndcg@10": sum(ndcg) / len(ndcg), "recall@100": sum(recall) / len(recall)}


def evaluate(rankings: Rankings, qrels: dict[str, dict[str, int]], settings: Settings) -> dict[str, dict]:
    """Dense alone, BM25 alone, the configured hybrid, and the other fusion method for comparison."""
    cfg = settings.retrieval
    other = cfg.model_copy(update={"fusion": "rrf" if cfg.fusion == "convex" else "convex"})
    return {
        "dense": score(rankings.dense, qrels),
        "bm25": score(rankings.bm25, qrels),
        f"hybrid ({cfg.fusion}, default)": score(rankings.product, qrels),
        f"hybrid ({other.fusion})": score(fused_run(rankings, other), qrels),
    }


def tune(rankings: Rankings, qrels: dict[str, dict[str, int]], base: RetrievalSettings) -> list[tuple[float, dict]]:
    """Grid over both fusion methods' parameters: [(ndcg@10, settings update)] best first. Use the train split."""
    grid = [{"fusion": "convex", "dense_share": a} for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)]
    grid += [{"fusion": "rrf", "rrf_k": k, "rrf_bm25_weight": w} for k in (2, 5, 10, 60) for w in (0.8, 1.0, 1.2, 1.5)]
    rows = [(score(fused_run(rankings, base.model_copy(update=g)), qrels)["ndcg@10"], g) for g in grid]
    return sorted(rows, key=lambda r: -r[0])


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
