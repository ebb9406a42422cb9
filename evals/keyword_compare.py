"""Which incremental keyword index: bm25s segments merged at query time, or tantivy? Measured here.

Three candidates, all through the product's tokenisation (`rag.text.tokenize`):
- `bm25s-full`: the product's index before this one (`BM25Index` below, formerly `rag/bm25.py`): one bm25s
  index, rebuilt whole on every change;
- `bm25s-segments`: `SegmentedBM25` below: each commit writes a new immutable bm25s segment and a
  tombstone list; a query scores every segment with the idf of the whole live collection (exact)
  and each segment's own length normalisation (approximate), skipping tombstoned and filtered-out
  chunks; `compact()` merges all segments back into one;
- `tantivy`: `rag.keyword.KeywordIndex` (the choice; see docs/keyword-index.md).

Measured: SciFact test nDCG@10 / R@100 (the product's chunks, 300 chunks per query, ranked per paper
as `evals.beir` does), and on synthetic collections (`evals.scale_data`; chunks cut at sentence
boundaries to about 256 tokens, which is what the product's chunker yields, without running
tiktoken over a million papers) the build rate, the cost of 10 changed + 10 new + 10 deleted papers
and of compaction, open time, query latency p50/p95 (300 chunks, with and without a filter), peak RSS
and disk. Every phase of every candidate runs in its own process, so RSS is that phase's own.

    python -m paperchat.evals.keyword_compare --sizes 100000            # writes docs/keyword-index.md
    python -m paperchat.evals.keyword_compare --quality-only
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from paperchat.evals import scale_data
from paperchat.rag.metadata import MetaFilter
from paperchat.rag.settings import PACKAGE_ROOT
from paperchat.rag.text import tokenize

SCIFACT = scale_data.SHARED / "benchmarks" / "scifact"
DOC = PACKAGE_ROOT / "docs" / "keyword-index.md"
CANDIDATES = ("bm25s-full", "bm25s-segments", "tantivy")
CHUNK_CHARS = 1200  # about 256 tiktoken tokens of these abstracts (4.7 characters a token)
DEPTH = 100
BATCH = 20_000  # chunks per add() call while building
_LIST_FIELDS = ("author_keys", "venue_keys", "category_keys")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


# ------------------------------------------------------------------------------ candidate (a): segments


def _idf(n: int, df: np.ndarray) -> np.ndarray:
    return np.log(1 + (n - df + 0.5) / (df + 0.5))


class _Segment:
    """One immutable bm25s segment: the CSC score matrix, its vocabulary, ids and filter fields."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = np.load(folder / "data.npy", mmap_mode="r")
        self.indices = np.load(folder / "indices.npy", mmap_mode="r")
        self.indptr = np.load(folder / "indptr.npy", mmap_mode="r")
        self.vocab: dict[str, int] = json.loads((folder / "vocab.json").read_text())
        self.ids = np.load(folder / "ids.npy", mmap_mode="r")
        self.papers = np.load(folder / "papers.npy", mmap_mode="r")
        self.years = np.load(folder / "years.npy", mmap_mode="r")
        self.keys = {f: json.loads((folder / f"{f}.json").read_text()) for f in _LIST_FIELDS}
        self.n = len(self.ids)

    @staticmethod
    def write(folder: Path, ids: list[str], tokens: list[list[str]], metas: list[dict]) -> None:
        import bm25s

        folder.mkdir(parents=True)
        model = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
        model.index(tokens, show_progress=False)
        for name in ("data", "indices", "indptr"):
            np.save(folder / f"{name}.npy", np.asarray(model.scores[name]))
        (folder / "vocab.json").write_text(json.dumps(model.vocab_dict))
        np.save(folder / "ids.npy", np.array(ids))
        np.save(folder / "papers.npy", np.array([str(m.get("paper_id") or i.rsplit("::", 1)[0])
                                                 for i, m in zip(ids, metas)]))
        years = [m.get("year") if isinstance(m.get("year"), int) else -1 for m in metas]
        np.save(folder / "years.npy", np.array(years, dtype=np.int32))
        for field in _LIST_FIELDS:
            postings: dict[str, list[int]] = {}
            for row, meta in enumerate(metas):
                for key in meta.get(field) or []:
                    postings.setdefault(key, []).append(row)
            (folder / f"{field}.json").write_text(json.dumps(postings))
        vocab = model.vocab_dict  # the terms are kept for compaction: bm25s keeps scores, not terms
        np.save(folder / "terms.npy", np.array([vocab[t] for doc in tokens for t in doc], dtype=np.int32))
        np.save(folder / "lengths.npy", np.array([len(d) for d in tokens], dtype=np.int64))

    def column(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        tid = self.vocab.get(term)
        if tid is None:
            return None
        start, end = int(self.indptr[tid]), int(self.indptr[tid + 1])
        return self.indices[start:end], self.data[start:end]

    def local_idf(self, docs_with_term: int) -> float:
        return float(_idf(self.n, np.array(docs_with_term, dtype=np.float64)))

    def mask(self, where: MetaFilter | None) -> np.ndarray | None:
        if where is None or where.empty:
            return None
        keep = np.ones(self.n, dtype=bool)
        if where.year_min is not None:
            keep &= self.years >= where.year_min
        if where.year_max is not None:
            keep &= (self.years <= where.year_max) & (self.years >= 0)
        for field, values in where.keys().items():
            if values:
                hit = np.zeros(self.n, dtype=bool)
                for v in values:
                    hit[self.keys[field].get(v, [])] = True
                keep &= hit
        return keep


class SegmentedBM25:
    """Candidate (a): immutable bm25s segments plus tombstones, named by a manifest swapped atomically."""

    MANIFEST = "manifest.json"

    def __init__(self, folder: Path):
        self.folder = folder
        self._pending: list[tuple[str, list[str], dict]] = []
        self._deleted_papers: set[str] = set()
        self.reload()

    @classmethod
    def open(cls, folder: Path) -> SegmentedBM25:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder)

    def reload(self) -> None:
        path = self.folder / self.MANIFEST
        state = json.loads(path.read_text()) if path.exists() else {"revision": "", "segments": []}
        self.revision = state["revision"]
        self.segments = [_Segment(self.folder / s["name"]) for s in state["segments"]]
        self.dead = [np.load(self.folder / s["dead"]) if s.get("dead") else np.zeros(seg.n, dtype=bool)
                     for s, seg in zip(state["segments"], self.segments)]
        self._state = state

    @property
    def n_docs(self) -> int:
        return int(sum(seg.n - int(dead.sum()) for seg, dead in zip(self.segments, self.dead)))

    def add(self, chunks: Sequence[tuple[str, str, dict]]) -> None:
        terms = tokenize([t for _, t, _ in chunks])
        self._pending.extend((cid, doc, meta) for (cid, _, meta), doc in zip(chunks, terms))

    def delete_papers(self, paper_ids: Sequence[str]) -> None:
        self._deleted_papers.update(paper_ids)

    def commit(self, revision: str) -> None:
        segments = [dict(s) for s in self._state["segments"]]
        replaced = np.array([cid for cid, _, _ in self._pending]) if self._pending else np.array([], dtype=str)
        gone = np.array(sorted(self._deleted_papers)) if self._deleted_papers else np.array([], dtype=str)
        for entry, seg, dead in zip(segments, self.segments, self.dead):
            now = dead | np.isin(seg.papers, gone) | np.isin(seg.ids, replaced)
            if now.sum() != dead.sum():
                entry["dead"] = f"{entry['name']}.dead-{uuid.uuid4().hex[:8]}.npy"
                np.save(self.folder / entry["dead"], now)
        if self._pending:
            name = f"seg-{uuid.uuid4().hex[:12]}"
            ids, tokens, metas = zip(*self._pending)
            _Segment.write(self.folder / name, list(ids), list(tokens), list(metas))
            segments.append({"name": name})
        self._swap({"revision": revision, "segments": segments})
        self._pending, self._deleted_papers = [], set()

    def _swap(self, state: dict) -> None:
        tmp = self.folder / f".manifest-{uuid.uuid4().hex}"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.folder / self.MANIFEST)
        self.reload()

    def compact(self) -> None:
        """Merge every live chunk into one segment (the periodic full rebuild of this design)."""
        ids, tokens, metas = [], [], []
        for seg, dead in zip(self.segments, self.dead):
            terms = np.load(seg.folder / "terms.npy")
            offsets = np.concatenate([[0], np.cumsum(np.load(seg.folder / "lengths.npy"))])
            words = np.array(sorted(seg.vocab, key=seg.vocab.get))
            rev = {}
            for field in _LIST_FIELDS:
                for key, rows in seg.keys[field].items():
                    for r in rows:
                        rev.setdefault(r, {}).setdefault(field, []).append(key)
            for row in np.flatnonzero(~dead):
                ids.append(str(seg.ids[row]))
                tokens.append(words[terms[offsets[row]:offsets[row + 1]]].tolist())
                meta = {"paper_id": str(seg.papers[row]), **rev.get(int(row), {})}
                if seg.years[row] >= 0:
                    meta["year"] = int(seg.years[row])
                metas.append(meta)
        old = [s["name"] for s in self._state["segments"]]
        name = f"seg-{uuid.uuid4().hex[:12]}"
        _Segment.write(self.folder / name, ids, tokens, metas)
        self._swap({"revision": self.revision, "segments": [{"name": name}]})
        for stale in old:
            shutil.rmtree(self.folder / stale, ignore_errors=True)

    def doc_freq(self, term: str) -> int:
        total = 0
        for seg, dead in zip(self.segments, self.dead):
            col = seg.column(term)
            if col is not None:
                total += len(col[0]) - int(dead[col[0]].sum())
        return total

    def idf(self, term: str) -> float:
        n, df = max(1, self.n_docs), self.doc_freq(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, n: int, where: MetaFilter | None = None) -> list[tuple[str, float]]:
        terms = tokenize([query])[0]
        n_live = max(1, self.n_docs)
        cols = [[seg.column(t) for t in terms] for seg in self.segments]
        df = {t: 0 for t in terms}
        for seg_cols, dead in zip(cols, self.dead):
            for t, col in zip(terms, seg_cols):
                if col is not None:
                    df[t] += len(col[0]) - int(dead[col[0]].sum())
        best: list[tuple[float, str]] = []
        for seg, seg_cols, dead in zip(self.segments, cols, self.dead):
            scores = np.zeros(seg.n, dtype=np.float32)
            for t, col in zip(terms, seg_cols):
                if col is None or not df[t]:
                    continue
                weight = math.log(1 + (n_live - df[t] + 0.5) / (df[t] + 0.5)) / seg.local_idf(len(col[0]))
                scores[col[0]] += col[1] * weight  # a column holds each chunk once
            scores[dead] = 0
            mask = seg.mask(where)
            if mask is not None:
                scores[~mask] = 0
            k = min(n, seg.n)
            top = np.argpartition(-scores, k - 1)[:k] if k < seg.n else np.arange(seg.n)
            best.extend((float(scores[i]), str(seg.ids[i])) for i in top if scores[i] > 0)
        best.sort(key=lambda x: -x[0])
        return [(cid, score) for score, cid in best[:n]]

    def close(self) -> None:
        self.segments, self.dead = [], []

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


# ------------------------------------------------------------------------------ the full-rebuild baseline


class BM25Index:
    """The product's keyword index before the incremental one (it was `rag/bm25.py`): bm25s over every chunk,
    rebuilt whole on each change, saved as bm25s files plus a JSON state (ids, df, filter fields)."""

    STATE_FILE = "paperchat.json"

    def __init__(self, ids: list[str], model, revision: str, df: dict[str, int] | None = None,
                 filters: list[dict] | None = None):
        self.ids = ids
        self.model = model
        self.revision = revision
        self.df = df or {}
        self.filters = filters if filters is not None else [{} for _ in ids]

    def idf(self, term: str) -> float:
        n = max(1, len(self.ids))
        return math.log(1 + (n - self.df.get(term, 0) + 0.5) / (self.df.get(term, 0) + 0.5))

    @classmethod
    def build(cls, ids: list[str], texts: list[str], revision: str, metadatas: list[dict] | None = None,
              k1: float = 1.2, b: float = 0.75) -> BM25Index:
        import bm25s

        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        tokens = tokenize(texts) if ids else []
        if ids:
            model.index(tokens, show_progress=False)
        df = Counter(term for doc in tokens for term in set(doc))
        metadatas = metadatas or [{} for _ in ids]
        filters = [{k: m[k] for k in ("year", *_LIST_FIELDS) if k in m} for m in metadatas]
        return cls(list(ids), model, revision, dict(df), filters)

    def search(self, query: str, n: int, where=None) -> list[tuple[str, float]]:
        if not self.ids:
            return []
        tokens = [t for t in tokenize([query])[0] if t in self.model.vocab_dict]
        if not tokens:
            return []
        mask = None
        if where is not None and not where.empty:
            mask = np.array([where.matches(f) for f in self.filters], dtype=np.float32)
            if not mask.any():
                return []
        n = min(n, len(self.ids))
        docs, scores = self.model.retrieve([tokens], k=n, show_progress=False, n_threads=0, weight_mask=mask)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def save(self, folder: Path) -> None:
        """Write to a temporary folder, then swap it in."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=folder.parent))
        if self.ids:
            self.model.save(str(tmp))
        state = {"revision": self.revision, "ids": self.ids, "df": self.df, "filters": self.filters}
        (tmp / self.STATE_FILE).write_text(json.dumps(state))
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        import bm25s

        try:
            state = json.loads((folder / cls.STATE_FILE).read_text())
            model = bm25s.BM25.load(str(folder)) if state["ids"] else bm25s.BM25()
        except (OSError, ValueError, KeyError):
            return None
        return cls(state["ids"], model, state["revision"], state.get("df", {}), state["filters"])


class FullBM25:
    """The old behaviour: `BM25Index` rebuilt from every chunk on each commit (texts kept on disk here)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.index = BM25Index.load(folder / "bm25") or BM25Index.build([], [], "")
        self.revision = self.index.revision
        self._pending: list[tuple[str, str, dict]] = []
        self._deleted: set[str] = set()

    @classmethod
    def open(cls, folder: Path) -> FullBM25:
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder)

    @property
    def n_docs(self) -> int:
        return len(self.index.ids)

    def add(self, chunks):
        self._pending.extend(chunks)

    def delete_papers(self, paper_ids):
        self._deleted.update(paper_ids)

    def commit(self, revision: str) -> None:
        """Rewrite the corpus file without deleted/replaced chunks, then rebuild the index from all of it."""
        corpus, tmp = self.folder / "corpus.jsonl", self.folder / "corpus.jsonl.tmp"
        replaced = {cid for cid, _, _ in self._pending}
        ids, texts, metas = [], [], []
        with tmp.open("w") as out:
            rows = _read_jsonl(corpus) if corpus.exists() else iter(())
            for cid, text, meta in rows:
                if cid in replaced or meta.get("paper_id") in self._deleted:
                    continue
                out.write(json.dumps([cid, text, meta]) + "\n")
                ids.append(cid), texts.append(text), metas.append(meta)
            for cid, text, meta in self._pending:
                out.write(json.dumps([cid, text, meta]) + "\n")
                ids.append(cid), texts.append(text), metas.append(meta)
        os.replace(tmp, corpus)
        self.index = BM25Index.build(ids, texts, revision, metas)
        self.index.save(self.folder / "bm25")
        self.revision = revision
        self._pending, self._deleted = [], set()

    def search(self, query, n, where=None):
        return self.index.search(query, n, where)

    def idf(self, term):
        return self.index.idf(term)

    def doc_freq(self, term):
        return self.index.df.get(term, 0)

    def close(self):
        pass

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.folder / "bm25").rglob("*") if p.is_file())


def _read_jsonl(path: Path) -> Iterator[tuple[str, str, dict]]:
    with path.open() as f:
        for line in f:
            cid, text, meta = json.loads(line)
            yield cid, text, meta


def open_candidate(name: str, folder: Path):
    if name == "tantivy":
        from paperchat.rag.keyword import KeywordIndex

        return KeywordIndex.open(folder)
    return {"bm25s-full": FullBM25, "bm25s-segments": SegmentedBM25}[name].open(folder)


# ------------------------------------------------------------------------------ data


def approx_chunks(paper: dict) -> list[tuple[str, str, dict]]:
    """Sentence-boundary chunks of about 256 tokens with the title in each, and the product's chunk
    metadata keys (the filters' keys computed by `rag.metadata` as the chunker does)."""
    from paperchat.rag.metadata import author_keys, category_keys, venue_keys

    pieces, current = [], ""
    for sentence in _SENTENCE.split(paper["abstract"]):
        if current and len(current) + len(sentence) > CHUNK_CHARS:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    pieces.append(current)
    meta = {"paper_id": paper["id"], "year": paper.get("year"), "author_keys": author_keys(paper["authors"]),
            "venue_keys": venue_keys(paper.get("venue")), "category_keys": category_keys(paper["categories"])}
    return [(f"{paper['id']}::{i}", f"{paper['title']}\n\n{p}", meta) for i, p in enumerate(pieces)]


def chunk_file(n: int, folder: Path) -> Path:
    """The chunks of the n-paper synthetic collection, written once."""
    path = folder / f"chunks-{n}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        folder.mkdir(parents=True, exist_ok=True)
        with tmp.open("w") as out:
            for paper in scale_data.iter_papers(n):
                for chunk in approx_chunks(paper):
                    out.write(json.dumps(chunk) + "\n")
        os.replace(tmp, path)
    return path


def batches(path: Path, size: int = BATCH) -> Iterator[list[tuple[str, str, dict]]]:
    batch = []
    for chunk in _read_jsonl(path):
        batch.append(chunk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def delta_chunks(n: int) -> tuple[list[str], list[tuple[str, str, dict]], list[str]]:
    """(papers to delete first, chunks to add, papers deleted for good) for 10 changed + 10 new + 10 deleted."""
    pools = scale_data.load_pools()
    edit, drop = scale_data.choose_delta(n)
    adds = [c for i in edit for c in approx_chunks(scale_data.make_paper(i, pools, version=1))]
    adds += [c for j in range(n, n + 10) for c in approx_chunks(scale_data.make_paper(j, pools))]
    return [scale_data.paper_id(i) for i in edit], adds, [scale_data.paper_id(i) for i in drop]


# ------------------------------------------------------------------------------ phases (one process each)


def phase_build(name: str, folder: Path, n: int, cache: Path) -> dict:
    """Build from nothing, committing every 100k chunks (what bounds the loss of a crash)."""
    path = chunk_file(n, cache)
    started = time.perf_counter()
    index = open_candidate(name, folder)
    chunks = 0
    for batch in batches(path):
        index.add(batch)
        chunks += len(batch)
        if name != "bm25s-full" and chunks % (5 * BATCH) == 0:
            index.commit("building")
    index.commit("built")
    seconds = time.perf_counter() - started
    out = {"build_s": seconds, "papers_per_s": n / seconds, "chunks": chunks, "disk_mb": index.disk_bytes() / 2**20}
    index.close()
    return out


def phase_delta(name: str, folder: Path, n: int) -> dict:
    """10 changed + 10 new + 10 deleted papers, from opening the index to a durable commit."""
    pools = scale_data.load_pools()
    edit, drop = scale_data.choose_delta(n)
    old_chunks = sum(len(approx_chunks(scale_data.make_paper(i, pools))) for i in edit + drop)
    changed, adds, gone = delta_chunks(n)
    started = time.perf_counter()
    index = open_candidate(name, folder)
    before = index.n_docs
    index.delete_papers(changed + gone)
    index.add(adds)
    index.commit("delta")
    seconds = time.perf_counter() - started
    after = index.n_docs
    index.close()
    return {"delta_s": seconds, "chunks_before": before, "chunks_after": after,
            "in_step": after == before - old_chunks + len(adds)}


def phase_compact(name: str, folder: Path) -> dict:
    index = open_candidate(name, folder)
    if not hasattr(index, "compact"):
        return {}
    started = time.perf_counter()
    index.compact()
    out = {"compact_s": time.perf_counter() - started}
    index.close()
    return out


def phase_query(name: str, folder: Path, count: int = 200) -> dict:
    """Open + first query, then p50/p95 of 300-chunk queries without and with a filter."""
    from paperchat.evals.metrics import percentile

    queries = scale_data.sample_queries(count)
    started = time.perf_counter()
    index = open_candidate(name, folder)
    index.search(queries[0], 300)
    out = {"open_first_query_s": time.perf_counter() - started, "n_docs": index.n_docs}
    for label, where in (("", None), ("filtered_", MetaFilter(year_min=2015, categories=["hep-ph", "q-bio.NC"]))):
        times = []
        for q in queries:
            t = time.perf_counter()
            index.search(q, 300, where)
            times.append(1000 * (time.perf_counter() - t))
        out[f"{label}p50_ms"] = percentile(times, 50)
        out[f"{label}p95_ms"] = percentile(times, 95)
    index.close()
    return out


def run_phase(args: list[str], work: Path) -> dict:
    """Run one phase in a child process: its JSON result, its own peak RSS and its wall time."""
    from paperchat.evals.bench_scale import run_measured

    got = run_measured([sys.executable, "-m", "paperchat.evals.keyword_compare", "--phase", *args],
                       dict(os.environ), work).check(f"phase {args[:2]}")
    result = json.loads(got.stdout.strip().splitlines()[-1])
    result.update(rss_mb=got.max_rss_mb, wall_s=got.seconds)
    return result


# ------------------------------------------------------------------------------ quality


def quality(candidates: Sequence[str]) -> dict[str, dict[str, float]]:
    """SciFact test split: each candidate built over the product's own chunks of the corpus."""
    from paperchat.evals.beir import score
    from paperchat.evals.beir_data import load_qrels, split_queries
    from paperchat.ingest.chunking import chunk_paper
    from paperchat.ingest.readers import read_papers
    from paperchat.rag.retrieval import best_per_paper
    from paperchat.rag.settings import ChunkSettings

    chunks = [(c.id, c.text, c.metadata) for p in read_papers(SCIFACT / "corpus.jsonl")
              for c in chunk_paper(p, ChunkSettings())]
    queries, qrels = split_queries(SCIFACT, "test"), load_qrels(SCIFACT, "test")
    out = {}
    for name in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            index = open_candidate(name, Path(tmp) / "index")
            for start in range(0, len(chunks), 1000):  # several segments for the segmented candidate
                index.add(chunks[start:start + 1000])
                if name == "bm25s-segments":
                    index.commit("scifact")
            index.commit("scifact")
            runs = {qid: list(best_per_paper(index.search(text, DEPTH * 3)))[:DEPTH] for qid, text in queries.items()}
            out[name] = score(runs, qrels)
            index.close()
    return out


# ------------------------------------------------------------------------------ report


def render(quality_rows: dict, scale_rows: dict) -> str:
    lines = ["| candidate | SciFact nDCG@10 | SciFact R@100 |", "|---|---|---|"]
    for name, m in quality_rows.items():
        lines.append(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} |")
    for n, rows in sorted(scale_rows.items()):
        lines += ["", f"**{int(n):,} papers** ({next(iter(rows.values()))['build']['chunks']:,} chunks)", "",
                  "| candidate | build papers/s | build peak RSS MB | disk MB | 10+10+10 apply s | compact s "
                  "| open + first query s | query p50 / p95 ms | filtered p50 / p95 ms | query RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for name, r in rows.items():
            b, d, q, c = r["build"], r["delta"], r["query"], r["compact"]
            compact = f"{c['compact_s']:.1f}" if "compact_s" in c else "n/a"
            lines.append(
                f"| {name} | {b['papers_per_s']:,.0f} | {b['rss_mb']:,.0f} | {b['disk_mb']:,.0f} | {d['delta_s']:.2f} "
                f"| {compact} | {q['open_first_query_s']:.2f} | {q['p50_ms']:.1f} / {q['p95_ms']:.1f} "
                f"| {q['filtered_p50_ms']:.1f} / {q['filtered_p95_ms']:.1f} | {q['rss_mb']:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compare keyword index candidates (see the module docstring).")
    parser.add_argument("--sizes", default="100000", help="Synthetic collection sizes, comma-separated")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument("--work", type=Path, default=Path("runs") / "keyword-compare")
    parser.add_argument("--quality-only", action="store_true")
    parser.add_argument("--results", type=Path, default=None, help="Where the raw JSON goes (default WORK)")
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        kind, name, folder, *rest = args.phase
        fn = {"build": lambda: phase_build(name, Path(folder), int(rest[0]), Path(rest[1])),
              "delta": lambda: phase_delta(name, Path(folder), int(rest[0])),
              "compact": lambda: phase_compact(name, Path(folder)),
              "query": lambda: phase_query(name, Path(folder))}[kind]
        print(json.dumps(fn()))
        return
    candidates = [c for c in args.candidates.split(",") if c]
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results_path = args.results or work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {"quality": {}, "scale": {}}
    print("SciFact quality ...", flush=True)
    results["quality"].update(quality(candidates))
    results_path.write_text(json.dumps(results, indent=1))
    if not args.quality_only:
        for n in [int(s) for s in args.sizes.split(",") if s]:
            for name in candidates:
                folder = work / f"{name}-{n}"
                shutil.rmtree(folder, ignore_errors=True)
                print(f"{name}, {n:,} papers ...", flush=True)
                row = {"build": run_phase(["build", name, str(folder), str(n), str(work / "data")], work),
                       "delta": run_phase(["delta", name, str(folder), str(n)], work),
                       "query": run_phase(["query", name, str(folder)], work),
                       "compact": run_phase(["compact", name, str(folder)], work)}
                print(json.dumps(row), flush=True)
                results["scale"].setdefault(str(n), {})[name] = row
                results_path.write_text(json.dumps(results, indent=1))
                shutil.rmtree(folder, ignore_errors=True)
    text = render(results["quality"], results["scale"])
    print(text)
    (work / "table.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
