"""Hybrid retrieval: dense (Chroma) and BM25 rankings fused by reciprocal rank fusion, one row per paper."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from paperchat.rag.bm25 import BM25Index
from paperchat.rag.embeddings import embedder_name, make_embedder
from paperchat.rag.index import ensure_bm25
from paperchat.rag.settings import Settings
from paperchat.rag.store import PaperStore
from paperchat.rag.types import SearchHit


def paper_ranking(chunk_ids: Sequence[str]) -> list[str]:
    """Papers in order of their best chunk (chunk ids are '<paper_id>::<n>')."""
    seen: dict[str, None] = {}
    for cid in chunk_ids:
        seen.setdefault(cid.rsplit("::", 1)[0], None)
    return list(seen)


def rrf(rankings: Sequence[tuple[Sequence[str], float]], k: int) -> dict[str, float]:
    """Weighted reciprocal rank fusion: sum of weight / (k + rank), rank from 1."""
    scores: dict[str, float] = {}
    for ranking, weight in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return scores


def best_per_paper(scored: Sequence[tuple[str, float]]) -> dict[str, float]:
    """Each paper's best chunk score, papers in order of first appearance (lists come best first)."""
    out: dict[str, float] = {}
    for cid, score in scored:
        out.setdefault(cid.rsplit("::", 1)[0], score)
    return out


def convex(dense: dict[str, float], lexical: dict[str, float], dense_share: float) -> dict[str, float]:
    """Weighted sum of the scores, each divided by its list's maximum; a paper missing from a list gets 0.

    Tuned on the SciFact train split (evals/beir.py `tune`): dense_share 0.6.
    """
    def normalise(scores: dict[str, float]) -> dict[str, float]:
        top = max(scores.values(), default=0.0)
        return {p: s / top for p, s in scores.items()} if top > 0 else {p: 0.0 for p in scores}

    nd, nb = normalise(dense), normalise(lexical)
    return {p: dense_share * nd.get(p, 0.0) + (1 - dense_share) * nb.get(p, 0.0) for p in nd.keys() | nb.keys()}


def fuse_papers(dense: dict[str, float], lexical: dict[str, float], cfg) -> dict[str, float]:
    """Paper-level fusion of the two retrievers as the settings ask (convex or rrf)."""
    if cfg.fusion == "rrf":
        return rrf([(list(dense), 1.0), (list(lexical), cfg.rrf_bm25_weight)], cfg.rrf_k)
    return convex(dense, lexical, cfg.dense_share)


def _split(value: str | None) -> list[str]:
    return [a for a in (value or "").split("; ") if a]


class Retriever:
    """Search over one collection; the object every front door and the answer chain use."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None, store: PaperStore | None = None):
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.store = store or PaperStore(
            settings, embedder_name(self.embedder), getattr(self.embedder, "dimension", None), create=False
        )
        self._bm25: BM25Index | None = None
        self._bm25_lock = threading.Lock()

    def bm25(self) -> BM25Index:
        """The BM25 index, reloaded or rebuilt when the collection moved on since it was built.

        A lock keeps two concurrent requests (the web UI) from rebuilding it twice."""
        with self._bm25_lock:
            if self._bm25 is None or self._bm25.revision != self.store.revision():
                self._bm25 = ensure_bm25(self.store, self.settings)
            return self._bm25

    def dense(self, query: str, n: int) -> list[dict]:
        return self.store.query(self.embedder.embed_query(query), n)

    def search(self, query: str, k: int | None = None) -> list[SearchHit]:
        cfg = self.settings.retrieval
        k = k or cfg.k
        if not self.store.exists or not query.strip():
            return []
        dense = self.dense(query, cfg.candidates)
        lexical = self.bm25().search(query, cfg.candidates)
        return self._fuse(dense, lexical, k)

    def _fuse(self, dense: list[dict], lexical: list[tuple[str, float]], k: int) -> list[SearchHit]:
        """Papers ranked by the fused score; each shown with its best chunk by the same fusion."""
        cfg = self.settings.retrieval
        dense_best = best_per_paper([(d["id"], d["similarity"]) for d in dense])
        bm25_best = best_per_paper(lexical)
        fused = fuse_papers(dense_best, bm25_best, cfg)
        chunk_scores = fuse_papers({d["id"]: d["similarity"] for d in dense}, dict(lexical), cfg)
        best_chunk: dict[str, str] = {}
        for cid in sorted(chunk_scores, key=lambda c: -chunk_scores[c]):
            best_chunk.setdefault(cid.rsplit("::", 1)[0], cid)
        top = sorted(fused, key=lambda pid: -fused[pid])[:k]
        docs = self._chunks([best_chunk[p] for p in top], {d["id"]: d for d in dense})
        d_rank = {p: i for i, p in enumerate(dense_best, 1)}
        b_rank = {p: i for i, p in enumerate(bm25_best, 1)}
        hits = []
        for pid in top:
            item = docs.get(best_chunk[pid])
            if item is None:  # removed by another writer since the BM25 index was built
                continue
            meta = item["metadata"]
            hits.append(SearchHit(
                paper_id=pid, title=meta["title"], score=round(fused[pid], 6), text=item["document"],
                chunk_id=item["id"], url=meta.get("url"), authors=_split(meta.get("authors")),
                year=meta.get("year"), dense_rank=d_rank.get(pid), bm25_rank=b_rank.get(pid),
                dense_score=dense_best.get(pid), bm25_score=bm25_best.get(pid),
            ))
        return hits

    def _chunks(self, chunk_ids: list[str], known: dict[str, dict]) -> dict[str, dict]:
        """The chunks by id: those the dense query returned, the rest (BM25-only) fetched from the store."""
        missing = [cid for cid in chunk_ids if cid not in known]
        if missing:
            got = self.store.collection.get(ids=missing, include=["documents", "metadatas"])
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                known[cid] = {"id": cid, "document": doc, "metadata": meta}
        return known


class PaperRetriever(BaseRetriever):
    """The hybrid retriever as a LangChain retriever: one Document per paper, best chunk as content."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    retriever: Retriever
    k: int = 10

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=h.text, metadata=h.model_dump(exclude={"text"}))
            for h in self.retriever.search(query, self.k)
        ]
