"""Ingest: read papers, chunk, embed, store; idempotent and safe to interrupt.

Each paper's chunks carry a content hash. A paper whose chunk 0 has the same hash,
and all of whose chunks are present, is unchanged and costs no embedding. Writes go
in batches of whole papers, the collection revision is bumped before the first
write, and the BM25 index is rebuilt at the end: an ingest killed at any point
leaves whole papers behind, and the next run (or search) finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from paperchat.ingest.chunking import chunk_paper, content_hash
from paperchat.ingest.readers import read_papers
from paperchat.rag.embeddings import embedder_name, make_embedder
from paperchat.rag.errors import InputFormatError, PaperchatError
from paperchat.rag.ids import chunk_id
from paperchat.rag.index import ensure_bm25
from paperchat.rag.settings import Settings
from paperchat.rag.store import ChunkRecord, PaperStore
from paperchat.rag.types import Chunk, Paper

PAPER_BATCH = 512


class IngestReport(BaseModel):
    files: list[str] = Field(default_factory=list)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    pruned: int = 0
    skipped: list[str] = Field(default_factory=list, description="Bad records skipped, file:line: reason")
    chunks_written: int = 0
    papers_total: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        text = f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged"
        if self.pruned:
            text += f", {self.pruned} pruned"
        if self.skipped:
            text += f", {len(self.skipped)} skipped"
        return f"{text} ({self.papers_total} papers in the collection, {self.seconds:.1f} s)"


def estimate_papers(path: Path) -> int:
    """A quick count for the progress bar: lines in the file (two per paper for a listing page)."""
    from paperchat.ingest.readers import detect_format

    try:
        with open(path, "rb") as f:
            lines = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 20), b"")) + 1
        return lines // 2 if detect_format(path) == "listing" else lines
    except (OSError, PaperchatError):
        return 0


def _batches(items: Iterable[Paper], size: int) -> Iterator[list[Paper]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


class Ingestor:
    """One ingest run against one collection."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None):
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.store = PaperStore(settings, embedder_name(self.embedder), getattr(self.embedder, "dimension", None),
                                create=False)
        self.report = IngestReport()
        self._bumped = False

    def _bump_once(self) -> None:
        """Before the first write: create the collection and mark the BM25 index stale."""
        if not self._bumped:
            self.store.ensure_created()
            self.store.bump_revision()
            self._bumped = True

    def _complete(self, firsts: dict[str, ChunkRecord]) -> set[str]:
        """Papers whose every chunk is stored (guards against a write cut short)."""
        wanted = [chunk_id(pid, i) for pid, first in firsts.items() for i in range(first.n_chunks)]
        present = set(self.store.chunks(wanted, text=False))
        return {pid for pid, first in firsts.items() if all(chunk_id(pid, i) in present
                                                            for i in range(first.n_chunks))}

    def _classify(self, papers: list[Paper]) -> tuple[list[Paper], list[Paper]]:
        """(new, changed) papers of a batch; the rest are counted unchanged."""
        unique = list({p.id: p for p in papers}.values())
        if not self.store.exists:
            return unique, []
        firsts = self.store.first_chunks([p.id for p in unique], text=False)
        same = {p.id: firsts[p.id] for p in unique
                if p.id in firsts and firsts[p.id].content_hash == content_hash(p, self.settings.chunk)}
        whole = self._complete(same) if same else set()
        new = [p for p in unique if p.id not in firsts]
        changed = [p for p in unique if p.id in firsts and p.id not in whole]
        self.report.unchanged += len(whole)
        return new, changed

    def _embed(self, papers: list[Paper]) -> tuple[list[Chunk], list[list[float]]]:
        chunks = [c for p in papers for c in chunk_paper(p, self.settings.chunk)]
        return chunks, self.embedder.embed_documents([c.text for c in chunks])

    def _store(self, chunks: list[Chunk], vectors: list[list[float]], replace: list[str]) -> None:
        """One batch of whole papers: old chunks of changed papers out, all new chunks in."""
        if replace:
            self.store.delete_papers(replace)
        self.store.upsert(chunks, vectors)
        self.report.chunks_written += len(chunks)

    def ingest_file(self, path: Path, fmt: str | None, skip_bad: bool, progress: Callable[[int], None]) -> set[str]:
        """Ingest one file; returns the ids seen in it (for prune).

        Writing a batch to the store overlaps embedding the next one (one writer thread); the store is
        only read (to classify the next batch) while no write is in flight.
        """
        path = path.resolve()
        skipped: list[InputFormatError] = []
        seen: set[str] = set()
        ready: tuple | None = None  # an embedded batch waiting to be written
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-writer") as writer:
            try:
                for batch in _batches(read_papers(path, fmt, skip_bad=skip_bad, skipped=skipped), PAPER_BATCH):
                    batch = self._drop_duplicates(path, batch, seen, skip_bad, skipped)
                    new, changed = self._classify(batch)
                    writing = writer.submit(self._store, *ready) if ready else None
                    ready = None
                    if new or changed:
                        self._bump_once()  # on this thread: the collection exists before any write
                        ready = (*self._embed(new + changed), [p.id for p in changed])
                    if writing:
                        writing.result()
                    self.report.new += len(new)
                    self.report.changed += len(changed)
                    progress(len(batch))
            except InputFormatError:
                if ready:  # the papers read before the bad record are whole: keep them, as without the overlap
                    self._store(*ready)
                raise
        if ready:
            self._store(*ready)
        self.report.skipped.extend(str(e) for e in skipped)
        self.report.files.append(str(path))
        return seen

    @staticmethod
    def _drop_duplicates(path: Path, batch: list[Paper], seen: set[str], skip_bad: bool,
                         skipped: list[InputFormatError]) -> list[Paper]:
        """The first record of an id wins; a later one is a bad record (an error, or skipped and counted)."""
        kept = []
        for paper in batch:
            if paper.id in seen:
                error = InputFormatError(str(path), f"duplicate id {paper.id!r} (first seen earlier in the file)",
                                         paper.line)
                if not skip_bad:
                    raise error
                skipped.append(error)
                continue
            seen.add(paper.id)
            kept.append(paper)
        return kept

    def prune(self, path: Path, seen: set[str]) -> None:
        if not self.store.exists:
            return
        stale = self.store.paper_ids(where={"source": str(path.resolve())}) - seen
        if stale:
            self._bump_once()
            self.store.delete_papers(sorted(stale))
        self.report.pruned += len(stale)


def ingest_paths(
    paths: list[Path],
    settings: Settings,
    *,
    embedder: Embeddings | None = None,
    fmt: str | None = None,
    prune: bool = False,
    skip_bad: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> IngestReport:
    """Ingest files into the configured collection and bring the BM25 index up to date."""
    started = time.perf_counter()
    run = Ingestor(settings, embedder)
    try:
        for path in (Path(p).resolve() for p in paths):
            seen = run.ingest_file(path, fmt, skip_bad, progress)
            if prune:
                run.prune(path, seen)
        if run.store.exists:
            ensure_bm25(run.store, settings)
        run.report.papers_total = len(run.store.papers()) if run.store.exists else 0
    finally:
        run.store.close()
    run.report.seconds = time.perf_counter() - started
    return run.report
