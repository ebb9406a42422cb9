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

from paperchat.ingest import readers
from paperchat.ingest.chunking import chunk_paper, content_hash
from paperchat.ingest.files import discover
from paperchat.ingest.readers import estimate_records, read_papers
from paperchat.rag.embeddings import embedder_name, make_embedder
from paperchat.rag.errors import InputFormatError, PaperchatError
from paperchat.rag.ids import chunk_id
from paperchat.rag.index import ensure_bm25
from paperchat.rag.settings import Settings
from paperchat.rag.store import ChunkRecord, PaperStore
from paperchat.rag.types import Chunk, Paper

PAPER_BATCH = 512  # the default of settings.ingest.batch_size


#: Formats whose records may name a PDF (`file`): read before the PDFs of the same run.
LIBRARY_FORMATS = ("bibtex", "ris", "csljson")


class IngestReport(BaseModel):
    files: list[str] = Field(default_factory=list)
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    pruned: int = 0
    without_abstract: int = Field(0, description="Title-only papers (a library entry without an abstract)")
    full_text: int = Field(0, description="Papers with full text (PDFs, or entries with their PDF attached)")
    skipped: list[str] = Field(default_factory=list, description="Bad records skipped, file:line: reason")
    skipped_files: list[tuple[str, str]] = Field(default_factory=list, description="(file, reason) not ingested")
    chunks_written: int = 0
    papers_total: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        text = f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged"
        for count, label in ((self.pruned, "pruned"), (self.without_abstract, "without abstract"),
                             (self.full_text, "with full text"), (len(self.skipped), "skipped"),
                             (len(self.skipped_files), "files skipped")):
            if count:
                text += f", {count} {label}"
        return f"{text} ({self.papers_total} papers in the collection, {self.seconds:.1f} s)"

    def skip_groups(self) -> list[str]:
        """Skipped files grouped by reason: '3 PDFs skipped: no text layer (OCR is not supported)'."""
        groups: dict[tuple[str, str], int] = {}
        for path, reason in self.skipped_files:
            kind = "PDF" if path.lower().endswith(".pdf") else "file"
            key = (kind, reason.split(" (", 1)[0] if kind == "file" and "format" in reason else reason)
            groups[key] = groups.get(key, 0) + 1
        return [f"{n} {kind}{'s' if n != 1 else ''} skipped: {reason}" for (kind, reason), n in groups.items()]


def estimate_papers(path: Path, fmt: str | None = None) -> int:
    """A quick count of a file's (or folder's) papers for the progress bar; 0 when unknown."""
    try:
        path = Path(path)
        if path.is_dir():
            files, _ = discover([path])
            return sum(estimate_papers(f, found) for f, found in files if found)
        return estimate_records(path, fmt)
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

    def papers_of(self, path: Path, fmt: str | None, skip_bad: bool, skipped: list[InputFormatError],
                  attached: set[Path]) -> Iterator[Paper]:
        """The papers of one file; a library entry that names a PDF gets the PDF's full text (the entry's
        metadata wins, one paper not two), and the PDF is remembered so a folder walk does not add it again."""
        from paperchat.ingest.pdf import attach_full_text

        for paper in read_papers(path, fmt, skip_bad=skip_bad, skipped=skipped):
            if paper.file and Path(paper.file).suffix.lower() == ".pdf" and Path(paper.file).is_file():
                pdf = Path(paper.file).resolve()
                try:
                    paper = attach_full_text(paper, pdf)
                except InputFormatError as err:
                    self.report.skipped_files.append((str(pdf), f"{err.reason} (entry {paper.id} kept "
                                                                f"without full text)"))
                attached.add(pdf)
            self.report.without_abstract += not paper.abstract.strip() and not paper.pages
            self.report.full_text += bool(paper.pages)
            yield paper

    def ingest_file(self, path: Path, fmt: str | None, skip_bad: bool, progress: Callable[[int], None],
                    attached: set[Path] | None = None) -> set[str]:
        """Ingest one file; returns the ids seen in it (for prune).

        Writing a batch to the store overlaps embedding the next one (one writer thread); the store is
        only read (to classify the next batch) while no write is in flight.
        """
        path = path.resolve()
        skipped: list[InputFormatError] = []
        seen: set[str] = set()
        ready: tuple | None = None  # an embedded batch waiting to be written
        papers = self.papers_of(path, fmt, skip_bad, skipped, attached if attached is not None else set())
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-writer") as writer:
            try:
                for batch in _batches(papers, self.settings.ingest.batch_size):
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


def plan(paths: Iterable[Path | str], fmt: str | None) -> tuple[list[tuple[Path, str | None, bool]],
                                                               list[tuple[Path, str]]]:
    """The files to read, each with its format and whether the user named it (not found in a folder), library
    files first (their entries claim the PDFs they name); and the paths skipped while walking folders."""
    explicit = {Path(p).resolve() for p in paths if not Path(p).is_dir()}
    found, skipped = discover(paths)
    files = [(path.resolve(), fmt or detected, path.resolve() in explicit) for path, detected in found]
    files = [f for f in files if f[1] is not None or f[2]]
    files.sort(key=lambda f: 0 if f[1] in LIBRARY_FORMATS else 2 if f[1] == "pdf" else 1)
    return files, skipped


def _whole_file_problem(err: InputFormatError, explicit: bool) -> bool:
    """A file met in a folder that is not a paper file at all (no papers in it, an unreadable PDF) is
    skipped; a bad record in it, or any problem with a file the user named, is an error."""
    return not explicit and err.line is None


def check_files(files: list[tuple[Path, str | None, bool]]) -> list[tuple[Path, str]]:
    """Read every record of every file before anything is embedded, so a bad record is an error that leaves
    the collection as it was (not one that stops half way). Returns the folder files that are no paper
    files (to skip). PDFs get their cheap checks here and are parsed once, when ingested."""
    from paperchat.ingest.pdf import check_pdf

    skip = []
    for path, fmt, explicit in files:
        try:
            if fmt == "pdf":
                check_pdf(path)
                continue
            for _ in read_papers(path, fmt):
                pass
        except InputFormatError as err:
            if not _whole_file_problem(err, explicit):
                raise
            skip.append((path, err.reason))
    return skip


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
    """Ingest files and folders into the configured collection and bring the keyword index up to date.

    Without `skip_bad` every named file is read through once first: a bad record stops the ingest before
    anything is stored. With it, bad records and unreadable files are counted and skipped.
    """
    started = time.perf_counter()
    readers.MAX_RECORD_BYTES = settings.limits.max_record_bytes
    files, walked_past = plan(paths, fmt)
    if not skip_bad:
        walked_past += check_files(files)
        files = [f for f in files if f[0] not in {p for p, _ in walked_past}]
    run = Ingestor(settings, embedder)
    run.report.skipped_files += [(str(path), reason) for path, reason in walked_past]
    attached: set[Path] = set()
    try:
        for path, file_fmt, explicit in files:
            if file_fmt == "pdf" and path in attached:
                continue  # its library entry brought its text already
            try:
                seen = run.ingest_file(path, file_fmt, skip_bad, progress, attached)
            except InputFormatError as err:
                if not (_whole_file_problem(err, explicit) or (skip_bad and err.line is None)):
                    raise
                run.report.skipped_files.append((str(path), err.reason))
                continue
            if prune:
                run.prune(path, seen)
        if run.store.exists:
            ensure_bm25(run.store, settings)
        run.report.papers_total = len(run.store.paper_ids(where={"chunk": 0})) if run.store.exists else 0
    finally:
        run.store.close()
    run.report.seconds = time.perf_counter() - started
    return run.report
