"""Keeps the keyword index and the catalog in step with the Chroma collection they belong to.

Both live in the collection's index folder (`settings.index_dir`): the tantivy keyword index
(`rag/keyword.py`) and the catalog of papers, names and keys (`rag/catalog.py`). Each commits with the
collection revision it reflects. They are brought to the collection's revision in three ways:

- the ingest that writes the collection applies each written batch itself (`CollectionIndex.add_chunks`,
  `delete_papers`, `commit` with the batch's revision), so after an ingest nothing is left to do;
- another process or machine that wrote the collection (a Chroma server) left entries in the change log
  (`PaperStore.changes`): the papers they name are read again from the collection, and only those;
- when the log cannot bridge the gap (the index is new, of another version, or too far behind), the index
  is rebuilt from the collection's documents.

An ingest cut short leaves at most one batch announced in the log but not in the revision; the next writer
reads those papers again first (`recover`). One process writes the index at a time (tantivy's writer lock);
a reader that finds the lock taken searches the commit it has, which the writer brings up to date.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperchat.rag.catalog import Catalog, CatalogNames, KeySet, PaperEntry, paper_entry
from paperchat.rag.ids import chunk_number, paper_of
from paperchat.rag.keyword import KeywordIndex
from paperchat.rag.store import PaperStore, revision_seq

if TYPE_CHECKING:
    from paperchat.rag.metadata import MetaFilter
    from paperchat.rag.settings import Settings

KEYWORD_DIR = "keyword"
CATALOG_FILE = "catalog.sqlite"
#: Papers read per request when catching up or rebuilding.
READ_PAGE = 1000
#: Catching up on more papers than this (or half the collection) rebuilds instead.
CATCH_UP_LIMIT = 20_000

_open: weakref.WeakValueDictionary[str, CollectionIndex] = weakref.WeakValueDictionary()
_open_lock = threading.Lock()
log = logging.getLogger(__name__)


class CollectionIndex:
    """The keyword index and the catalog of one collection: what `Retriever.bm25` returns."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._remove_old_layout()
        self.keyword = KeywordIndex.open(self.folder / KEYWORD_DIR)
        self.catalog = Catalog.open(self.folder / CATALOG_FILE)
        self.names = CatalogNames(self.catalog, self.keyword)
        self.author_keys = KeySet(self.catalog, "author")
        self.venue_keys = KeySet(self.catalog, "venue")
        self.lock = threading.RLock()
        self._identity = self._files()

    def _remove_old_layout(self) -> None:
        """The bm25s index of earlier versions (files beside where the new parts go) is derived data: drop it."""
        if (self.folder / "paperchat.json").exists():
            for path in self.folder.iterdir():
                if path.is_file():
                    path.unlink()

    def _files(self) -> tuple:
        """What identifies the files this object has open (a folder deleted and made again is another index)."""
        try:
            catalog = (self.folder / CATALOG_FILE).stat()
            keyword = (self.folder / KEYWORD_DIR).stat()
        except OSError:
            return ()
        return (catalog.st_ino, catalog.st_dev, keyword.st_ino)

    @property
    def stale_files(self) -> bool:
        return self._files() != self._identity

    # -- reading ----------------------------------------------------------------------------------
    @property
    def revision(self) -> str:
        """The collection revision both parts are in step with; after a crash between their two commits, the
        older one (catching up from there redoes the newer part harmlessly)."""
        words, papers = self.keyword.revision, self.catalog.stamp
        if words == papers:
            return words
        a, b = revision_seq(words), revision_seq(papers)
        if a is None or b is None:
            return ""
        return words if a < b else papers

    def search(self, query: str, n: int, where: MetaFilter | None = None) -> list[tuple[str, float]]:
        return self.keyword.search(query, n, where)

    def idf(self, term: str) -> float:
        return self.keyword.idf(term)

    def known(self, term: str) -> bool:
        return self.keyword.known(term)

    def doc_freq(self, term: str) -> int:
        return self.keyword.doc_freq(term)

    @property
    def n_docs(self) -> int:
        return self.keyword.n_docs

    @property
    def papers(self) -> int:
        return self.catalog.count()

    def reload(self) -> None:
        """See the latest commit of the keyword index (the catalog is read live)."""
        self.keyword.reload()

    # -- writing ----------------------------------------------------------------------------------
    def add_chunks(self, chunks: Sequence[tuple[str, str, dict]], present: dict[str, int] | None = None,
                   flags: dict[str, int] | None = None, *, terms: Sequence[list[str]] | None = None,
                   entries: Sequence[PaperEntry] | None = None) -> None:
        """Index chunks (id, text, metadata), replacing chunks with the same ids; chunk 0 of each paper makes
        its catalog entry (`present`: its chunks stored, default all of them). `terms` and `entries` are what
        `chunk_terms` and `chunk_entries` make of the chunks, when they were made elsewhere (ingest makes them
        in a helper process)."""
        chunks = list(chunks)
        self.keyword.add(chunks, terms)
        self.catalog.put(chunk_entries(chunks, present, flags) if entries is None else entries)

    def delete_papers(self, paper_ids: Iterable[str]) -> None:
        paper_ids = list(paper_ids)
        self.keyword.delete_papers(paper_ids)
        self.catalog.remove(paper_ids)

    def clear(self) -> None:
        self.keyword.clear()
        self.catalog.clear()

    def commit(self, revision: str) -> None:
        """Both parts to `revision`: the catalog first, then the keyword index (see `revision`)."""
        self.catalog.commit(revision)
        self.keyword.commit(revision)

    def rollback(self) -> None:
        self.catalog.rollback()
        self.keyword.rollback()

    def take_writer(self, wait: float | None = None) -> bool:
        """The writer lock (tantivy's, which also guards the catalog); waits `wait` seconds (default the
        keyword index's WRITER_WAIT, then KeywordIndexBusyError)."""
        if wait is None:
            self.keyword._writer_handle()
            return True
        return self.keyword.try_writer(wait)

    def release(self) -> None:
        self.catalog.rollback()
        self.keyword.release()

    def close(self) -> None:
        self.release()
        self.catalog.close()
        self.keyword.close()


def chunk_entries(chunks: Iterable[tuple[str, str, dict]], present: dict[str, int] | None = None,
                  flags: dict[str, int] | None = None) -> list[PaperEntry]:
    """The catalog entries of the papers whose chunk 0 is among `chunks`."""
    present, flags = present or {}, flags or {}
    entries = []
    for cid, text, meta in chunks:
        if chunk_number(cid) == 0:
            pid = str(meta.get("paper_id") or paper_of(cid))
            n = int(meta.get("n_chunks", 1))
            entries.append(paper_entry({**meta, "paper_id": pid}, text, present.get(pid, n), flags.get(pid, 0)))
    return entries


def open_index(settings: Settings, store: PaperStore | None = None, revision: str | None = None) -> CollectionIndex:
    """The collection's index, one object per folder and process (reopened if the folder was replaced). Given
    the store, a server's index left under another address of the same server is taken over first
    (`adopt_moved`; `revision`: the collection's, when the caller has just read it)."""
    key = str(Path(settings.index_dir).resolve())
    if store is not None and key not in _open:
        adopt_moved(settings, store, revision)
    with _open_lock:
        index = _open.get(key)
        if index is None or index.stale_files:
            index = CollectionIndex(Path(key))
            _open[key] = index
        return index


def adopt_moved(settings: Settings, store: PaperStore, revision: str | None = None) -> Path | None:
    """The keyword index of a server's collection is kept per server address (`settings.index_dir`), so a
    server that moved (another port or host) or is reached by another name (localhost, 127.0.0.1) would
    rebuild it whole from the server's documents: at a million papers, the longest job there is. When this
    address has no index yet and another address's index of the same collection name records a revision of
    this collection's history (its change log leads from that revision to the current one, and revisions are
    unique: a sequence number and random hex), that index is copied here, and catching up reads only the papers
    changed since. Returns the folder copied from, or None."""
    target = Path(settings.index_dir)
    if not settings.chroma.host or target.exists() or not store.exists:
        return None
    current = store.revision() if revision is None else revision
    if revision_seq(current) is None:
        return None
    root = settings.home / "bm25"
    for folder in sorted(root.glob(f"*/{settings.collection}")):
        if folder == target or folder.parent.name == "local" or not (folder / CATALOG_FILE).exists():
            continue
        try:
            source = CollectionIndex(folder)
        except Exception as exc:  # noqa: BLE001 — an index that does not open is not one to take over
            log.debug("not taking over %s: %s", folder, exc)
            continue
        try:  # closing releases the writer lock
            if not source.take_writer(0.0):  # being written: not a moment to copy it
                continue
            recorded = source.revision
            if recorded and (recorded == current or store.changes(recorded, current) is not None):
                if not _copy_index(folder, target):
                    return None
                log.info("keyword index taken over from %s (revision %s; the server's is %s)", folder, recorded,
                         current)
                return folder
        finally:
            source.close()
    return None


def _copy_index(folder: Path, target: Path) -> bool:
    """Copy an index folder (without its lock files) to `target`, whole or not at all."""
    for left in target.parent.glob(f".{target.name}.*.partial"):  # a copy cut short earlier
        shutil.rmtree(left, ignore_errors=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, partial, ignore=shutil.ignore_patterns("*.lock", ".tantivy-*"))
        partial.rename(target)
    except OSError as exc:  # the index is then rebuilt, as without a copy
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("could not take over the keyword index in %s (%s): rebuilding it", folder, exc)
        return False
    return True


def ensure_bm25(store: PaperStore, settings: Settings, revision: str | None = None) -> CollectionIndex:
    """The index, brought to the collection's revision: caught up from the change log, rebuilt when the log
    cannot bridge the gap, or (when another process holds the writer lock, an ingest in progress) the latest
    commit as it is, which that process brings up to date."""
    index = open_index(settings, store, revision)
    with index.lock:
        sync(index, store, revision, wait=0.0)
    return index


def sync(index: CollectionIndex, store: PaperStore, revision: str | None = None, wait: float | None = 0.0) -> bool:
    """Bring the index to `revision` (default: the collection's now); False when the writer lock was busy."""
    revision = store.revision() if revision is None else revision
    index.reload()
    if index.revision == revision:
        return True
    held = index.keyword.writing
    if not held and not index.take_writer(wait):
        return False
    try:
        index.reload()
        if index.revision != revision:
            _catch_up(index, store, revision)
    finally:
        if not held:
            index.release()
    return True


def _catch_up(index: CollectionIndex, store: PaperStore, revision: str) -> None:
    if not store.exists:
        index.clear()
        index.commit(revision)
        return
    entries = store.changes(index.revision, revision) if index.revision else None
    papers = list(dict.fromkeys(pid for entry in entries or [] for pid in entry.paper_ids))
    if entries is None or len(papers) > max(CATCH_UP_LIMIT, (store.paper_count() or 0) // 2):
        rebuild(index, store, revision)
        return
    refresh(index, store, papers)
    index.commit(revision)


def refresh(index: CollectionIndex, store: PaperStore, paper_ids: Sequence[str]) -> None:
    """Index these papers as the collection holds them now (gone from it: gone from the index)."""
    for start in range(0, len(paper_ids), READ_PAGE):
        page = list(paper_ids[start: start + READ_PAGE])
        stored = store.paper_chunks(page)
        index.delete_papers(page)
        chunks, present = [], {}
        for pid, records in stored.items():
            first = next((r for r in records if r.index == 0), None)
            if first is not None:
                present[pid] = sum(1 for r in records if r.index < first.n_chunks
                                   and r.content_hash == first.content_hash)
            chunks += [(r.id, r.text or "", r.metadata) for r in records]
        index.add_chunks(chunks, present)


def rebuild(index: CollectionIndex, store: PaperStore, revision: str) -> None:
    """Index every chunk of the collection again, page by page (memory stays flat), and commit."""
    index.clear()
    page: list[tuple[str, str, dict[str, Any]]] = []
    for record in store.iter_chunks(text=True):
        page.append((record.id, record.text or "", record.metadata))
        if len(page) >= READ_PAGE:
            index.add_chunks(page)
            page = []
    index.add_chunks(page)
    index.commit(revision)


def recover(index: CollectionIndex, store: PaperStore) -> int:
    """Before writing: papers of writes announced but cut short are read again and a revision records it.
    Needs the writer lock. Returns the number of papers read again."""
    pending = store.pending_changes()
    papers = list(dict.fromkeys(pid for entry in pending for pid in entry.paper_ids))
    if not pending:
        return 0
    revision = store.log_change("refresh", papers)
    refresh(index, store, papers)
    store.set_revision(revision, papers=index.papers)
    index.commit(revision)
    return len(papers)
