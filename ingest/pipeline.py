"""Ingest: read papers, chunk, embed, store; incremental, idempotent and safe to interrupt.

Each paper's chunks carry a content hash. The catalog beside the keyword index (`rag/catalog.py`) keeps, per
stored paper, that hash and how many of its chunks are stored, so a batch is classified new / changed /
unchanged without reading the collection; an unchanged line of a JSON-lines file is recognised by its hash
and not even parsed (`ingest/known_lines.py`).

Writes go in batches of whole papers (`settings.ingest.batch_size`). Each batch is announced in the
collection's change log, written (old chunks of changed papers out, the new chunks in), then the collection
revision moves to the one announced, and the keyword index and the catalog commit with that revision. A batch
is written by one writer thread while the next one is embedded. An ingest killed at any point leaves whole
batches behind and at most one announced batch unfinished; the next run reads that batch's papers again
(`rag.index.recover`) and carries on. Ctrl-C (or SIGTERM through the CLI) stops after the batch being written:
`IngestInterrupted` says what was kept.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, Field

from paperchat.ingest import readers
from paperchat.ingest.chunking import chunk_paper, content_hash
from paperchat.ingest.files import discover
from paperchat.ingest.known_lines import LINE_FORMATS, Known, KnownLines, Parsed, SeenIds
from paperchat.ingest.readers import estimate_records, read_papers
from paperchat.rag.catalog import PaperEntry
from paperchat.rag.embeddings import embedder_name, make_embedder
from paperchat.rag.errors import InputFormatError, PaperchatError
from paperchat.rag.index import chunk_entries, open_index, recover, sync
from paperchat.rag.settings import ChunkSettings, Settings
from paperchat.rag.store import PaperStore
from paperchat.rag.text import tokenize
from paperchat.rag.types import Chunk, Paper

PAPER_BATCH = 512  # the default of settings.ingest.batch_size
#: Helper processes that chunk, tokenize and extract names (settings.ingest.workers when that exists; 0: none,
#: more than 1 is treated as 1).
WORKERS = 1
#: Papers prepared in the ingest's own process before the helper process is started.
POOL_AFTER = 2 * PAPER_BATCH
#: Batches classified ahead of the one being embedded (each is prepared meanwhile).
LOOKAHEAD = 1
#: Papers per change-log entry when pruning.
PRUNE_BATCH = 5000
#: Formats whose records may name a PDF (`file`): read before the PDFs of the same run.
LIBRARY_FORMATS = ("bibtex", "ris", "csljson")
TITLE_ONLY, FULL_TEXT = 1, 2  # catalog flags


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
    papers_written: int = Field(0, description="New and changed papers whose batch was written whole")
    papers_total: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        text = f"{self.new} new, {self.changed} changed, {self.unchanged} unchanged"
        for count, label in ((self.pruned, "pruned"), (self.without_abstract, "without abstract"),
                             (self.full_text, "with full text"), (len(self.skipped), "skipped"),
                             (len(self.skipped_files), "file skipped" if len(self.skipped_files) == 1 else
                              "files skipped")):
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


class IngestInterrupted(PaperchatError):
    """Ctrl-C or SIGTERM stopped an ingest after the batch being written; the report says what was kept."""

    def __init__(self, report: IngestReport):
        self.report = report
        super().__init__(
            f"ingest interrupted: {report.papers_written} new or changed papers were written in whole batches "
            f"({report.papers_total} papers in the collection); run the same command again to finish the rest")


def estimate_papers(path: Path, fmt: str | None = None) -> int:
    """A quick count of a file's (or folder's) papers for the progress bar; 0 when unknown."""
    try:
        path = Path(path)
        if path.is_dir():
            files, _ = discover([path])
            return sum(estimate_papers(f, found) for f, found in files if found)
        if not path.is_file():  # a FIFO or a device: opening it to count could block; ingest refuses it
            return 0
        return estimate_records(path, fmt)
    except (OSError, PaperchatError):
        return 0


def _batches(items: Iterable, size: int) -> Iterator[list]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _flags(paper: Paper) -> int:
    return (TITLE_ONLY if not paper.abstract.strip() and not paper.pages else 0) | (FULL_TEXT if paper.pages else 0)


@dataclass
class Prepared:
    """What the CPU-heavy part of ingest makes of papers: chunks, their keyword terms, the catalog entries."""

    chunks: list[Chunk] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    entries: list[PaperEntry] = field(default_factory=list)
    flags: dict[str, int] = field(default_factory=dict)


def prepare(papers: list[Paper], chunking: ChunkSettings) -> Prepared:
    """Chunk, tokenize and extract names: pure work, done in a helper process so it runs beside the writes
    (Chroma's embedded client holds the GIL while it writes)."""
    chunks: list[Chunk] = []
    flags = {}
    for paper in papers:
        chunks += chunk_paper(paper, chunking)
        flags[paper.id] = _flags(paper)
    triples = [(c.id, c.text, c.metadata) for c in chunks]
    return Prepared(chunks, tokenize([c.text for c in chunks]) if chunks else [], chunk_entries(triples, flags=flags),
                    flags)


class PrepProcess:
    """A helper process (`python -m paperchat.ingest.prep`) that runs `prepare`: requests and answers are
    pickled frames on its stdin and stdout. Not multiprocessing: spawning through it re-runs the caller's
    main script, which a script calling `ingest_paths` without a `__main__` guard would not survive."""

    def __init__(self) -> None:
        import subprocess
        import sys

        self._proc = subprocess.Popen([sys.executable, "-m", "paperchat.ingest.prep"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE)
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-prep")

    def submit(self, papers: list[Paper], chunking: ChunkSettings) -> Future:
        return self._io.submit(self._call, papers, chunking)

    def _call(self, papers: list[Paper], chunking: ChunkSettings) -> Prepared:
        from paperchat.ingest.prep import read_frame, write_frame

        write_frame(self._proc.stdin, (papers, chunking))
        ok, value = read_frame(self._proc.stdout)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        self._io.shutdown(wait=True, cancel_futures=True)
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except Exception:
            self._proc.kill()


@dataclass
class _Batch:
    """One batch on its way: the papers to write, the changed ones whose old chunks go first, then (once
    prepared and embedded) their chunks and vectors."""

    papers: list[str] = field(default_factory=list)  # new and changed
    replace: list[str] = field(default_factory=list)  # changed
    line_keys: list[tuple[str, int]] = field(default_factory=list)  # (paper id, input line hash)
    prepared: Prepared | Future | None = None
    vectors: list = field(default_factory=list)


class Ingestor:
    """One ingest run against one collection: it holds the index's writer lock until `close`."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None):
        self.settings = settings
        self.embedder = embedder or make_embedder(settings)
        self.store = PaperStore(settings, embedder_name(self.embedder), getattr(self.embedder, "dimension", None),
                                create=False)
        self.report = IngestReport()
        self.index = open_index(settings, self.store)
        self.index.take_writer()  # another ingest of this collection: wait for it, then a clear error
        self.revision = self._catch_up()
        self.workers = int(getattr(settings.ingest, "workers", WORKERS))
        self._pool: PrepProcess | None = None
        self._inline = 0  # papers prepared in this process so far

    def _catch_up(self) -> str:
        """The index in step with the collection (and writes cut short read again) before anything is classified."""
        if not self.store.exists:
            if self.index.revision or self.index.papers:
                self.index.clear()
                self.index.commit("")
            return ""
        sync(self.index, self.store, wait=None)
        recover(self.index, self.store)
        return self.store.revision()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        self.index.release()
        self.store.close()

    def _prepare_async(self, papers: list[Paper]) -> Prepared | Future:
        """Prepared papers, or a Future of them from the helper process once the run is big enough to pay for
        starting one (a few seconds)."""
        if not papers:
            return Prepared()
        if self.workers <= 0 or self._inline < POOL_AFTER:
            self._inline += len(papers)
            return prepare(papers, self.settings.chunk)
        if self._pool is None:
            self._pool = PrepProcess()
        return self._pool.submit(papers, self.settings.chunk)

    def _created(self) -> None:
        """Create the collection on the first write, so a failed ingest leaves no empty collection behind."""
        if not self.store.exists:
            self.store.ensure_created()
            self.revision = self.store.revision()

    # -- classify and embed ------------------------------------------------------------------------
    def _classify(self, papers: list[Paper]) -> tuple[list[Paper], list[Paper], list[Paper]]:
        """(new, changed, unchanged): unchanged means the same content hash and every chunk stored."""
        manifest = self.index.catalog.manifest(p.id for p in papers) if self.store.exists else {}
        new, changed, same = [], [], []
        for paper in papers:
            found = manifest.get(paper.id)
            if found is None:
                new.append(paper)
            elif found[0] == content_hash(paper, self.settings.chunk) and found[2] == found[1]:
                same.append(paper)
            else:
                changed.append(paper)
        return new, changed, same

    def _embed(self, chunks: list[Chunk], progress: Callable[[int], None]) -> list:
        """The chunks' vectors, embedded in slices so progress moves paper by paper."""
        ends: list[int] = []
        for i, chunk in enumerate(chunks):
            if i + 1 == len(chunks) or chunks[i + 1].paper_id != chunk.paper_id:
                ends.append(i + 1)
        cfg = self.settings.embedding
        step = max(64, cfg.batch_size * max(1, cfg.concurrency) * 2)
        vectors: list = []
        reported = 0
        for start in range(0, len(chunks), step):
            vectors += self.embedder.embed_documents([c.text for c in chunks[start: start + step]])
            done = bisect.bisect_right(ends, len(vectors))
            progress(done - reported)
            reported = done
        progress(len(ends) - reported)
        return vectors

    # -- write -------------------------------------------------------------------------------------
    def _write(self, batch: _Batch) -> None:
        """One batch: announced, written, the revision moved on, the index committed with it."""
        prepared = batch.prepared  # a Prepared whenever there are papers to write (see _embed_and_write)
        if batch.papers:
            revision = self.store.log_change("upsert", batch.papers, previous=self.revision)
            if batch.replace:
                self.store.delete_papers(batch.replace)
            self.store.upsert(prepared.chunks, batch.vectors)
            self.index.delete_papers(batch.replace)
            self.index.add_chunks([(c.id, c.text, c.metadata) for c in prepared.chunks], terms=prepared.terms,
                                  entries=prepared.entries)
        self.index.catalog.set_line_hashes(batch.line_keys)
        if batch.papers:
            self.store.set_revision(revision, papers=self.index.papers)
            self.index.commit(revision)
            self.revision = revision
            self.report.chunks_written += len(prepared.chunks)
            self.report.papers_written += len(batch.papers)
        elif batch.line_keys:
            self.index.catalog.commit(self.revision)

    def _delete(self, paper_ids: list[str]) -> None:
        revision = self.store.log_change("delete", paper_ids, previous=self.revision)
        self.store.delete_papers(paper_ids)
        self.index.delete_papers(paper_ids)
        self.store.set_revision(revision, papers=self.index.papers)
        self.index.commit(revision)
        self.revision = revision

    # -- read ----------------------------------------------------------------------------------------
    def _with_full_text(self, paper: Paper, attached: set[Path]) -> Paper:
        """A library entry that names a PDF gets the PDF's full text (the entry's metadata wins, one paper not
        two), and the PDF is remembered so a folder walk does not add it again."""
        if paper.file and Path(paper.file).suffix.lower() == ".pdf" and Path(paper.file).is_file():
            from paperchat.ingest.pdf import attach_full_text

            pdf = Path(paper.file).resolve()
            try:
                paper = attach_full_text(paper, pdf)
            except InputFormatError as err:
                self.report.skipped_files.append((str(pdf), f"{err.reason} (entry {paper.id} kept without full "
                                                            f"text)"))
            attached.add(pdf)
        return paper

    def _count(self, flags: int) -> None:
        self.report.without_abstract += bool(flags & TITLE_ONLY)
        self.report.full_text += bool(flags & FULL_TEXT)

    def _items(self, path: Path, fmt: str | None, skip_bad: bool, skipped: list[InputFormatError],
               attached: set[Path], lines: KnownLines | None) -> Iterator[Known | Parsed]:
        source = lines.items(skip_bad, skipped) if lines is not None else (
            Parsed(p, None) for p in read_papers(path, fmt, skip_bad=skip_bad, skipped=skipped))
        for item in source:
            if isinstance(item, Parsed):
                item = Parsed(self._with_full_text(item.paper, attached), item.key)
            yield item

    def ingest_file(self, path: Path, fmt: str | None, skip_bad: bool, progress: Callable[[int], None],
                    attached: set[Path] | None = None, lines: KnownLines | None = None) -> SeenIds:
        """Ingest one file; returns the ids met in it (for prune; the caller closes it). Writing a batch
        overlaps embedding the next one (one writer thread)."""
        path = path.resolve()
        skipped: list[InputFormatError] = []
        seen = SeenIds()
        items = self._items(path, fmt, skip_bad, skipped, attached if attached is not None else set(), lines)
        waiting: deque[_Batch] = deque()  # classified, being prepared
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="paperchat-writer") as writer:
                writing: list[Future] = []
                try:
                    for batch in _batches(items, self.settings.ingest.batch_size):
                        waiting.append(self._classify_batch(self._drop_duplicates(path, batch, seen, skip_bad,
                                                                                  skipped), progress))
                        if len(waiting) > LOOKAHEAD:
                            self._embed_and_write(waiting.popleft(), writer, writing, progress)
                    while waiting:
                        self._embed_and_write(waiting.popleft(), writer, writing, progress)
                finally:  # an error or Ctrl-C: the batch being written is finished whole, the rest dropped
                    for future in writing:
                        future.result()
        except BaseException:
            seen.close()
            raise
        self.report.skipped.extend(str(e) for e in skipped)
        self.report.files.append(str(path))
        return seen

    def _classify_batch(self, batch: list[Known | Parsed], progress: Callable[[int], None]) -> _Batch:
        """Classify a batch and start preparing what is new or changed."""
        known = [i for i in batch if isinstance(i, Known)]
        parsed = [i for i in batch if isinstance(i, Parsed)]
        for item in known:
            self._count(item.flags)
        new, changed, same = self._classify([i.paper for i in parsed])
        for item in parsed:
            self._count(_flags(item.paper))
        self.report.unchanged += len(known) + len(same)
        progress(len(known) + len(same))
        out = _Batch(line_keys=[(i.paper.id, i.key) for i in parsed if i.key is not None])
        if new or changed:
            self._created()
            out.papers = [p.id for p in new + changed]
            out.replace = [p.id for p in changed]
            out.prepared = self._prepare_async(new + changed)
        self.report.new += len(new)
        self.report.changed += len(changed)
        return out

    def _embed_and_write(self, batch: _Batch, writer: ThreadPoolExecutor, writing: list[Future],
                         progress: Callable[[int], None]) -> None:
        """Embed a prepared batch (on this thread, while the previous one is written), then hand it to the
        writer once the previous write is done."""
        if isinstance(batch.prepared, Future):
            batch.prepared = batch.prepared.result()
        if batch.prepared is not None:
            batch.vectors = self._embed(batch.prepared.chunks, progress)
        while writing:
            writing.pop().result()
        writing.append(writer.submit(self._write, batch))

    @staticmethod
    def _drop_duplicates(path: Path, batch: list[Known | Parsed], seen: SeenIds, skip_bad: bool,
                         skipped: list[InputFormatError]) -> list[Known | Parsed]:
        """The first record of an id in a file wins; a later one is a bad record (an error, or skipped and
        counted)."""
        ids = [i.id if isinstance(i, Known) else i.paper.id for i in batch]
        before = seen.contains(ids)
        kept, here = [], set()
        for item, pid in zip(batch, ids, strict=True):
            if pid in before or pid in here:
                line = item.line if isinstance(item, Known) else item.paper.line
                error = InputFormatError(str(path), f"duplicate id {pid!r} (first seen earlier in the file)", line)
                if not skip_bad:
                    raise error
                skipped.append(error)
                continue
            here.add(pid)
            kept.append(item)
        seen.insert(here)
        return kept

    def prune(self, path: Path, seen: SeenIds) -> None:
        """Remove the papers read from this file before that it no longer has (the ids not seen this run)."""
        if not self.store.exists:
            return
        stale: list[str] = []
        for page in self.index.catalog.iter_papers_from(str(path.resolve())):
            found = seen.contains(page)
            stale += [pid for pid in page if pid not in found]
        for start in range(0, len(stale), PRUNE_BATCH):
            self._delete(stale[start: start + PRUNE_BATCH])
        self.report.pruned += len(stale)

    def finish(self) -> None:
        """Trim the change log to what a lagging index could still use (an index further behind rebuilds)."""
        if self.report.papers_written or self.report.pruned:
            self.store.trim_log(max(20_000, self.index.papers // 10))


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


def check_files(files: list[tuple[Path, str | None, bool]],
                lines: dict[Path, KnownLines] | None = None) -> list[tuple[Path, str]]:
    """Read every record of every file before anything is embedded, so a bad record is an error that leaves
    the collection as it was (not one that stops half way). Returns the folder files that are no paper
    files (to skip). PDFs get their cheap checks here and are parsed once, when ingested; lines a run
    recognised as unchanged (`lines`) were read before and are not read again."""
    from paperchat.ingest.pdf import check_pdf

    skip = []
    for path, fmt, explicit in files:
        try:
            if fmt == "pdf":
                check_pdf(path)
                continue
            for _ in (lines[path].papers() if lines and path in lines else read_papers(path, fmt)):
                pass
        except InputFormatError as err:
            if not _whole_file_problem(err, explicit):
                raise
            skip.append((path, err.reason))
    return skip


def _known_lines(files: list[tuple[Path, str | None, bool]], run: Ingestor) -> dict[Path, KnownLines]:
    """The JSON-lines files of the run, each with the lines the catalog already knows."""
    out = {}
    for path, fmt, _ in files:
        try:
            found = fmt or readers.detect_format(path)
        except PaperchatError:
            continue  # the reader reports it when the file is read
        if found in LINE_FORMATS:
            out[path] = KnownLines(path, found, run.settings.chunk, run.index.catalog)
    return out


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
    """Ingest files and folders into the configured collection, keeping the keyword index in step.

    Without `skip_bad` every named file is read through once first: a bad record stops the ingest before
    anything is stored. With it, bad records and unreadable files are counted and skipped. Ctrl-C raises
    `IngestInterrupted` once the batch being written is whole.
    """
    started = time.perf_counter()
    readers.MAX_RECORD_BYTES = settings.limits.max_record_bytes
    files, walked_past = plan(paths, fmt)
    run = Ingestor(settings, embedder)
    lines: dict[Path, KnownLines] = {}
    try:
        lines = _known_lines(files, run)
        if not skip_bad:
            walked_past += check_files(files, lines)
            files = [f for f in files if f[0] not in {p for p, _ in walked_past}]
        run.report.skipped_files += [(str(path), reason) for path, reason in walked_past]
        _ingest_files(run, files, lines, skip_bad, prune, progress)
        run.finish()
        run.report.papers_total = run.index.papers
    except KeyboardInterrupt:
        run.report.papers_total = run.index.papers
        run.report.seconds = time.perf_counter() - started
        raise IngestInterrupted(run.report) from None
    finally:
        for found in lines.values():
            found.close()
        run.close()
    run.report.seconds = time.perf_counter() - started
    return run.report


def _ingest_files(run: Ingestor, files: list[tuple[Path, str | None, bool]], lines: dict[Path, KnownLines],
                  skip_bad: bool, prune: bool, progress: Callable[[int], None]) -> None:
    attached: set[Path] = set()
    for path, file_fmt, explicit in files:
        if file_fmt == "pdf" and path in attached:
            continue  # its library entry brought its text already
        try:
            seen = run.ingest_file(path, file_fmt, skip_bad, progress, attached, lines.get(path))
        except InputFormatError as err:
            if not (_whole_file_problem(err, explicit) or (skip_bad and err.line is None)):
                raise
            run.report.skipped_files.append((str(path), err.reason))
            continue
        try:
            if prune:
                run.prune(path, seen)
        finally:
            seen.close()
