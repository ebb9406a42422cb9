"""Our retrieval metrics agree with a maintained library (ir-measures, on pytrec_eval; ranx agrees too but its
numba compile costs three minutes a run) on a real run: BM25 through the
product's keyword index over the SciFact corpus, scored against SciFact's test qrels."""

from __future__ import annotations

import json

import pytest
from conftest import shared_file

from paperchat.evals.beir_data import load_qrels, split_queries
from paperchat.evals.metrics import ndcg_at_k, recall_at_k, reciprocal_rank
from paperchat.rag.keyword import KeywordIndex

DEPTH = 100


@pytest.fixture(scope="module")
def scifact_run(tmp_path_factory):
    folder = shared_file("benchmarks", "scifact", "corpus.jsonl").parent
    index = KeywordIndex.open(tmp_path_factory.mktemp("scifact-keyword"))
    with (folder / "corpus.jsonl").open(encoding="utf-8") as corpus:
        docs = [json.loads(line) for line in corpus]
    index.add([(f"{d['_id']}::0", f"{d.get('title', '')}\n\n{d['text']}", {"paper_id": d["_id"]}) for d in docs])
    index.commit("crosscheck")
    queries, qrels = split_queries(folder, "test"), load_qrels(folder, "test")
    run = {qid: {cid.split("::")[0]: score for cid, score in index.search(text, DEPTH)}
           for qid, text in queries.items()}
    index.close()
    return run, {q: {d: g for d, g in rel.items()} for q, rel in qrels.items() if q in run}


def _ours(run, qrels):
    ranked = {q: sorted(docs, key=lambda d: (-docs[d], d)) for q, docs in run.items()}
    n = len(ranked)
    return {
        "ndcg@10": sum(ndcg_at_k(ranked[q], qrels[q], 10) for q in ranked) / n,
        "recall@100": sum(recall_at_k(ranked[q], {d for d, g in qrels[q].items() if g > 0}, DEPTH)
                          for q in ranked) / n,
        "mrr": sum(reciprocal_rank(ranked[q], {d for d, g in qrels[q].items() if g > 0}) for q in ranked) / n,
    }


def test_our_metrics_match_ir_measures(scifact_run):
    import ir_measures
    from ir_measures import RR, R, nDCG

    run, qrels = scifact_run
    theirs = ir_measures.calc_aggregate([nDCG @ 10, R @ 100, RR], qrels, run)
    ours = _ours(run, qrels)
    assert ours["ndcg@10"] > 0.6  # a real BM25 run on SciFact (published BM25: 0.665-0.679)
    assert ours["ndcg@10"] == pytest.approx(theirs[nDCG @ 10], abs=1e-4)
    assert ours["recall@100"] == pytest.approx(theirs[R @ 100], abs=1e-4)
    assert ours["mrr"] == pytest.approx(theirs[RR], abs=1e-4)
