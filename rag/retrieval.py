"""Hybrid retrieval: dense (Chroma) and keyword (BM25) rankings fused per paper.

The default fusion is a convex combination of max-normalised scores (0.6 dense, 0.4 BM25, tuned on the
SciFact train split); reciprocal rank fusion is the alternative. `Retriever.rankings` is the one place both
retrievers are asked (the benchmark scores the same rankings the product fuses), and a metadata filter
applies to both alike, so filtered results are exactly the papers that match.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings

from paperchat.rag.embeddings import embedder_name, make_embedder
from paperchat.rag.ids import chunk_id, paper_of
from paperchat.rag.index import CollectionIndex, ensure_bm25
from paperchat.rag.metadata import MetaFilter
from paperchat.rag.names import NameMatch, calls_a_paper
from paperchat.rag.settings import Settings
from paperchat.rag.store import ChunkRecord, PaperStore
from paperchat.rag.types import SearchHit


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
        out.setdefault(paper_of(cid), score)
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


def top_papers(fused: dict[str, float], k: int) -> list[str]:
    """The k best papers by fused score; ties broken by id, so a ranking is reproducible."""
    return sorted(fused, key=lambda pid: (-fused[pid], pid))[:k]


@dataclass
class Rankings:
    """What both retrievers returned for one query: chunks best first, and each paper's best score."""

    dense: list[ChunkRecord] = field(default_factory=list)
    lexical: list[tuple[str, float]] = field(default_factory=list)
    names: list[NameMatch] = field(default_factory=list)  # papers the query calls by title, name or alias
    query: str = ""  # what both retrievers were asked: the query with acronyms spelled out

    @property
    def dense_papers(self) -> dict[str, float]:
        return best_per_paper([(d.id, d.similarity or 0.0) for d in self.dense])

    @property
    def lexical_papers(self) -> dict[str, float]:
        return best_per_paper(self.lexical)


#: A name match at least this good (a title, a paper's own name, an alias the question calls a paper: 'the DeiT
#: paper') that names one paper only puts that paper first whatever the fused scores say. An alias used as a
#: plain word does not: SciFact's claims use gene and drug names one abstract goes by, and ranking that abstract
#: first cost hybrid nDCG@10 0.683 -> 0.675 there.
SOLE_NAME_SCORE = 0.9


class Retriever:
    """Search over one collection; the object every front door, the answer chain and the benchmark use."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None, store: PaperStore | None = None):
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.store = store or PaperStore(
            settings, embedder_name(self.embedder), getattr(self.embedder, "dimension", None), create=False
        )
        self._bm25: CollectionIndex | None = None
        self._bm25_lock = threading.Lock()

    def bm25(self, revision: str | None = None) -> CollectionIndex:
        """The keyword index, reloaded or rebuilt when the collection moved on since it was built.

        `revision` is the collection revision when the caller has just read it (one read per question).
        A lock keeps two concurrent requests (the web UI) from rebuilding it twice."""
        with self._bm25_lock:
            revision = self.store.revision() if revision is None else revision
            if self._bm25 is None or self._bm25.revision != revision:
                self._bm25 = ensure_bm25(self.store, self.settings, revision)
            return self._bm25

    def rankings(self, query: str, where: MetaFilter | None = None, revision: str | None = None,
                 exclude: set[str] | frozenset[str] = frozenset()) -> Rankings:
        """Dense and keyword candidates (`retrieval.candidates` chunks each), both under the same filter, and
        the papers the query names. Acronyms the collection defines are spelled out for both retrievers
        ('DPR' -> 'DPR (dense passage retrieval)'). `exclude`: papers to leave out (the gate's training data
        asks what the evidence looks like when the right paper is missing)."""
        cfg = self.settings.retrieval
        if not self.store.exists or not query.strip():
            return Rankings(query=query)
        where = None if where is None or where.empty else where
        index = self.bm25(revision)
        expanded = query
        if cfg.expand_acronyms and (longs := index.names.expansions(query)):
            expanded = f"{query} ({'; '.join(longs)})"
        dense = self.store.query(self.embedder.embed_query(expanded), cfg.candidates,
                                 where=where.chroma_where() if where else None)
        lexical = index.search(expanded, cfg.candidates, where)
        names = index.names.lookup(query) if cfg.name_boost > 0 else []
        if where is not None and names:
            allowed = self.store.paper_ids(where={"$and": [{"paper_id": {"$in": [m.paper_id for m in names]}},
                                                           where.chroma_where()]})
            names = [m for m in names if m.paper_id in allowed]
        if exclude:
            dense = [d for d in dense if d.paper_id not in exclude]
            lexical = [(cid, s) for cid, s in lexical if paper_of(cid) not in exclude]
            names = [m for m in names if m.paper_id not in exclude]
        return Rankings(dense, lexical, names, expanded)

    def search(self, query: str, k: int | None = None, where: MetaFilter | None = None,
               revision: str | None = None) -> list[SearchHit]:
        """The best `k` papers for the query (matching `where`), each with its best chunk."""
        return self.fuse(self.rankings(query, where, revision), k or self.settings.retrieval.k)

    def fuse(self, found: Rankings, k: int) -> list[SearchHit]:
        """Papers ranked by the fused score; each shown with its best chunk by the same fusion."""
        cfg = self.settings.retrieval
        dense_best, bm25_best = found.dense_papers, found.lexical_papers
        fused = fuse_papers(dense_best, bm25_best, cfg)
        named = {m.paper_id: m for m in found.names}
        sole = {m.paper_id for m in found.names if m.score >= SOLE_NAME_SCORE
                and sum(o.matched == m.matched for o in found.names) == 1
                and (m.how != "alias" or calls_a_paper(found.query, m.matched))}
        lead = max((v for p, v in fused.items() if p not in named), default=0.0) if sole else 0.0
        for pid, match in named.items():  # a paper the query calls by name comes first
            fused[pid] = fused.get(pid, 0.0) + cfg.name_boost * match.score
            if pid in sole and cfg.name_boost > 0:  # its title, its name or an alias only it goes by
                fused[pid] = max(fused[pid], lead + 1e-3 * match.score)
        chunk_scores = fuse_papers({d.id: d.similarity or 0.0 for d in found.dense}, dict(found.lexical), cfg)
        best_chunk: dict[str, str] = {}
        ranked_chunks: dict[str, list[str]] = {}
        for cid in sorted(chunk_scores, key=lambda c: -chunk_scores[c]):
            best_chunk.setdefault(paper_of(cid), cid)
            ranked_chunks.setdefault(paper_of(cid), []).append(cid)
        for pid in named:
            best_chunk.setdefault(pid, chunk_id(pid, 0))
        top = top_papers(fused, k)
        records = self._chunks([best_chunk[p] for p in top], {d.id: d for d in found.dense})
        d_rank = {p: i for i, p in enumerate(dense_best, 1)}
        b_rank = {p: i for i, p in enumerate(bm25_best, 1)}
        hits = []
        for pid in top:
            record = records.get(best_chunk[pid])
            if record is None:  # removed by another writer since the keyword index was built
                continue
            hits.append(SearchHit.from_record(record, score=round(fused[pid], 6), dense_rank=d_rank.get(pid),
                                              bm25_rank=b_rank.get(pid), dense_score=dense_best.get(pid),
                                              bm25_score=bm25_best.get(pid),
                                              name_match=named[pid].how if pid in named else None,
                                              chunk_ids=ranked_chunks.get(pid, [])[:3]))
        return hits

    def _chunks(self, chunk_ids: list[str], known: dict[str, ChunkRecord]) -> dict[str, ChunkRecord]:
        """The chunks by id: those the dense query returned (their text and metadata read in one request, not
        one by one as each is first used), the rest (keyword-only) fetched from the store."""
        self.store.hydrate([known[cid] for cid in chunk_ids if cid in known])
        missing = [cid for cid in chunk_ids if cid not in known]
        return {**known, **self.store.chunks(missing)} if missing else known

    def close(self) -> None:
        self.store.close()
