"""The Chroma collection that holds the chunks: embedded on disk, or a Chroma server.

This module is the only Chroma boundary: everything else gets typed records (`ChunkRecord`,
`PaperRecord`) and never reads Chroma's result dicts. The collection's metadata records which
embedding model made its vectors, so a collection is never queried with another model's vectors,
and a revision that changes on every write, so the keyword index beside it can tell when it is stale.

The revision is `<sequence>.<random>`: every write is announced first in the collection's change log,
a small side collection `<name>__changes` (one entry per write: sequence, the revision it leads to, the
one before, the operation and the paper ids), then made, then the revision moves to the entry's. An
index that is at sequence 40 when the collection is at 45 catches up by re-reading the papers of entries
41..45 (`changes`), without listing the collection; an entry with no revision after it is a write that
was cut short (`pending_changes`), whose papers the next writer re-reads. The metadata also keeps the
number of papers, so nothing has to list a million papers to count them.

A dense query returns thin records (id and similarity; Chroma reads a chunk's text and metadata at about
0.2 ms each, so 300 candidates would cost 60 ms): a record's text and metadata are read when first used,
together with those of the best-ranked records of the same query.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from paperchat.rag.errors import EmptyCollectionError, ModelMismatchError, StoreError
from paperchat.rag.ids import chunk_id, chunk_number, paper_of
from paperchat.rag.settings import COLLECTION_NAME, COLLECTION_RULE

if TYPE_CHECKING:
    from paperchat.rag.settings import Settings

GET_PAGE = 1000
#: Chroma's `$in` lists and id lists are sent in pages of this size.
_VALID_NAME = re.compile(COLLECTION_NAME)
WRITE_BATCH = 1000


def close_client(client) -> None:
    """Close a Chroma client. Chroma shares one System among clients of the same settings and stops it when the
    last one closes, but its HTTP component never closes its httpx session, so a server's keep-alive sockets
    stayed open until garbage collection: close the sessions (the client's and its admin client's) once their
    System is gone (no other client shares it)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    parts = [client, getattr(client, "_admin_client", None)]  # the admin client has a System of its own
    servers = [(getattr(p, "_identifier", None), getattr(p, "_server", None)) for p in parts if p is not None]
    client.close()
    for identifier, server in servers:
        session = getattr(server, "_session", None)
        if identifier not in SharedSystemClient._identifier_to_system and session is not None:
            session.close()


def make_client(settings: Settings):
    """A Chroma client for the settings: HttpClient when a host is set, else PersistentClient."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma.host:
            return chromadb.HttpClient(
                host=settings.chroma.host, port=settings.chroma.port, ssl=settings.chroma.ssl, settings=config
            )
        settings.home.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.home / "chroma"), settings=config)
    except Exception as exc:  # chromadb raises several types for an unreachable server
        where = f"{settings.chroma.host}:{settings.chroma.port}" if settings.chroma.host else settings.home
        raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from exc


LOG_SUFFIX = "__changes"
#: Thin records of the same query read along with the one first used. The records a search uses are spread
#: over the whole dense ranking (fusion brings deep dense ranks up), so reading neighbours costs more than it
#: saves: a read costs about 1 ms plus 0.2 ms a record. `PaperStore.hydrate` reads a known set in one go.
PREFETCH = 0


def revision_seq(revision: str | None) -> int | None:
    """The change-log sequence of a revision ('45.3f9a...' -> 45); None for a revision without one (a
    collection written by an older version, or none)."""
    head, sep, _ = (revision or "").partition(".")
    return int(head) if sep and head.isdigit() else None


def _new_revision(seq: int) -> str:
    return f"{seq}.{uuid.uuid4().hex[:16]}"


def log_name(name: str) -> str:
    """The change log's collection name (kept within Chroma's 512 characters)."""
    return (name if len(name) <= 500 else name[:480] + uuid.uuid5(uuid.NAMESPACE_URL, name).hex[:8]) + LOG_SUFFIX


class ChunkRecord:
    """One stored chunk: its id, paper, position, text (when fetched) and metadata.

    A record from a dense query starts thin (id and similarity); its title, text and metadata are read from
    the store when first used."""

    __slots__ = ("id", "similarity", "_title", "_text", "_metadata", "_loader")

    def __init__(self, id: str, paper_id: str | None = None, index: int | None = None, title: str = "",  # noqa: A002
                 text: str | None = None, metadata: dict[str, Any] | None = None, similarity: float | None = None,
                 _loader: _Hydrator | None = None):
        self.id = id
        self.similarity = similarity
        self._title = title
        self._text = text
        self._metadata = dict(metadata or {})
        if paper_id is not None:
            self._metadata.setdefault("paper_id", paper_id)
        if index is not None:
            self._metadata.setdefault("chunk", index)
        self._loader = _loader

    @classmethod
    def from_chroma(cls, cid: str, meta: dict | None, doc: str | None = None, distance: float | None = None):
        meta = dict(meta or {})
        return cls(cid, title=str(meta.get("title", "")), text=doc, metadata=meta,
                   similarity=None if distance is None else 1.0 - distance)

    def _load(self) -> None:
        if self._loader is not None:
            self._loader.load(self)

    def _fill(self, meta: dict | None, doc: str | None) -> None:
        self._metadata = dict(meta or {})
        self._title = str(self._metadata.get("title", ""))
        self._text = doc
        self._loader = None

    @property
    def paper_id(self) -> str:
        if self._loader is not None:
            return paper_of(self.id)  # the id says it: no read needed
        return str(self._metadata.get("paper_id", ""))

    @property
    def index(self) -> int:
        if self._loader is not None:
            return chunk_number(self.id)
        return int(self._metadata.get("chunk", 0))

    @property
    def title(self) -> str:
        self._load()
        return self._title

    @property
    def text(self) -> str | None:
        self._load()
        return self._text

    @property
    def metadata(self) -> dict[str, Any]:
        self._load()
        return self._metadata

    @property
    def n_chunks(self) -> int:
        return int(self.metadata.get("n_chunks", 1))

    @property
    def content_hash(self) -> str | None:
        return self.metadata.get("content_hash")

    def _key(self) -> tuple:
        return (self.id, self.paper_id, self.index, self.title, self.text, self.similarity)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChunkRecord):
            return NotImplemented
        return self is other or (self.id == other.id and self._key() == other._key())  # no read for other ids

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"ChunkRecord(id={self.id!r}, paper_id={self.paper_id!r}, similarity={self.similarity!r})"


class _Hydrator:
    """Reads the text and metadata of a dense query's thin records when one is first used: that record and
    the next `PREFETCH` best-ranked ones still thin, in one read."""

    def __init__(self, store: PaperStore, records: list[ChunkRecord]):
        self._store = store
        self._records = records
        self._lock = threading.Lock()

    def load(self, record: ChunkRecord) -> None:
        with self._lock:
            if record._loader is None:
                return
            rest = [r for r in self._records if r._loader is not None and r is not record][:PREFETCH]
            self.fill([record, *rest])

    def fill(self, batch: list[ChunkRecord]) -> None:
        got = self._store._col.get(ids=[r.id for r in batch], include=["metadatas", "documents"])
        found = {cid: (meta, doc) for cid, meta, doc in zip(got["ids"], got["metadatas"], got["documents"])}
        for r in batch:  # a chunk deleted since the query keeps only what its id says
            r._fill(*found.get(r.id, ({"paper_id": paper_of(r.id), "chunk": chunk_number(r.id)}, None)))


@dataclass(frozen=True)
class Change:
    """One entry of the change log: the write that took the collection from `previous` to `revision`."""

    seq: int
    revision: str
    previous: str
    op: str  # "upsert" | "delete" | "refresh"
    paper_ids: list[str]


def _authors(value: Any) -> list[str]:
    return [a for a in str(value or "").split("; ") if a]


@dataclass(frozen=True)
class PaperRecord:
    """One paper as stored (from the metadata of its first chunk)."""

    paper_id: str
    title: str
    authors: list[str]
    year: int | None
    url: str | None
    doi: str | None
    arxiv_id: str | None
    venue: str | None
    categories: list[str]
    citation_key: str | None
    bibtex: str | None
    source: str
    n_chunks: int

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> PaperRecord:
        year = meta.get("year")
        return cls(paper_id=str(meta["paper_id"]), title=str(meta.get("title", "")),
                   authors=_authors(meta.get("authors")), year=year if isinstance(year, int) else None,
                   url=meta.get("url"), doi=meta.get("doi"), arxiv_id=meta.get("arxiv_id"), venue=meta.get("venue"),
                   categories=list(meta.get("categories") or []), citation_key=meta.get("citation_key"),
                   bibtex=meta.get("bibtex"), source=str(meta.get("source", "")),
                   n_chunks=int(meta.get("n_chunks", 1)))

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "bibtex"}


@dataclass(frozen=True)
class CollectionInfo:
    """What `paperchat collections` lists for one collection."""

    name: str
    chunks: int
    embedding_model: str | None
    updated: str | None


class PaperStore:
    """One collection: chunk ids are `rag.ids.chunk_id(paper_id, n)`, each chunk's metadata names its paper."""

    def __init__(self, settings: Settings, model_name: str, dimension: int | None, *, create: bool = True):
        self.settings = settings
        self.name = settings.collection
        self.model_name = model_name
        self.dimension = dimension
        self._client = make_client(settings)
        try:
            self._collection = self._open(create)
        except BaseException:  # a wrong model or an unreachable collection: no client is left open
            close_client(self._client)
            raise

    def _open(self, create: bool):
        from chromadb.errors import NotFoundError

        try:
            collection = self._client.get_collection(self.name, embedding_function=None)
        except (NotFoundError, ValueError):
            return self._create() if create else None
        except Exception as exc:
            raise StoreError(f"cannot open collection {self.name!r}: {exc}") from exc
        self._check_model(collection.metadata or {})
        return collection

    def _create(self):
        check_name(self.name)
        meta = {"embedding_model": self.model_name, "revision": _new_revision(0), "papers": 0}
        if self.dimension:
            meta["embedding_dim"] = self.dimension
        try:
            return self._client.create_collection(
                self.name,
                configuration={"hnsw": {"space": "cosine", "ef_search": 200, "ef_construction": 200}},
                metadata=meta,
                embedding_function=None,
            )
        except Exception as exc:
            raise StoreError(f"cannot create collection {self.name!r}: {exc}") from exc

    def ensure_created(self) -> None:
        """Create the collection on first write, so a failed ingest leaves no empty collection behind."""
        if self._collection is None:
            self._collection = self._create()

    def _check_model(self, meta: dict) -> None:
        stored = meta.get("embedding_model")
        if stored and stored != self.model_name:
            raise ModelMismatchError(
                f"collection {self.name!r} was embedded with {stored!r} but the configured model is "
                f"{self.model_name!r}; set the embedding backend back, re-ingest into a new collection "
                f"(`paperchat ingest --collection NEW_NAME ...`), or delete this one first "
                f"(`paperchat collections delete {self.name}`)"
            )

    def close(self) -> None:
        """Release the client's connections (a server's sockets, the embedded store's files)."""
        close_client(self._client)

    @property
    def exists(self) -> bool:
        return self._collection is not None

    @property
    def _col(self):
        if self._collection is None:
            raise EmptyCollectionError(
                f"collection {self.name!r} does not exist yet: run `paperchat ingest"
                f"{'' if self.name == 'papers' else ' --collection ' + self.name}` to add papers"
            )
        return self._collection

    def count(self) -> int:
        """Chunks in the collection."""
        return self._col.count() if self.exists else 0

    def _fresh_metadata(self) -> dict:
        """The collection's metadata as stored now (another process may have written since we opened it)."""
        self._collection = self._client.get_collection(self.name, embedding_function=None)
        return dict(self._collection.metadata or {})

    def metadata(self) -> dict[str, Any]:
        """The collection's own metadata (embedding model, revision, last update), read now."""
        return self._fresh_metadata() if self.exists else {}

    def revision(self) -> str:
        return str(self.metadata().get("revision", ""))

    def paper_count(self) -> int | None:
        """Papers in the collection, as the writers counted them (None for a collection written by an older
        version, which does not record it)."""
        value = self.metadata().get("papers")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def set_revision(self, revision: str, papers: int | None = None) -> None:
        """Move the collection to a revision announced by `log_change`, once its write is done."""
        meta = self._fresh_metadata()
        meta["revision"] = revision
        meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        meta.setdefault("embedding_model", self.model_name)
        if self.dimension:
            meta["embedding_dim"] = self.dimension
        if papers is not None:
            meta["papers"] = papers
        self._col.modify(metadata=meta)

    # -- the change log -----------------------------------------------------------------------
    def _log(self, create: bool = False):
        """The change log's collection (None when it does not exist and `create` is false)."""
        if getattr(self, "_log_col", None) is None:
            from chromadb.errors import NotFoundError

            try:
                self._log_col = self._client.get_collection(log_name(self.name), embedding_function=None)
            except (NotFoundError, ValueError):
                if not create:
                    return None
                self._log_col = self._client.get_or_create_collection(
                    log_name(self.name), metadata={"log_of": self.name}, embedding_function=None)
        return self._log_col

    def log_change(self, op: str, paper_ids: Sequence[str], previous: str | None = None) -> str:
        """Announce a write in the change log (before making it); returns the revision it leads to, which
        `set_revision` applies once the write is done. `previous`: the revision the write starts from."""
        previous = self.revision() if previous is None else previous
        seq = max(revision_seq(previous) or 0, getattr(self, "_last_seq", 0))
        pending = self.pending_changes(previous) if not getattr(self, "_last_seq", 0) else []
        seq = max([seq, *(c.seq for c in pending)]) + 1
        revision = _new_revision(seq)
        self._log(create=True).upsert(
            ids=[f"{seq:012d}"], embeddings=[[1.0]], documents=["\n".join(paper_ids)],
            metadatas=[{"seq": seq, "revision": revision, "previous": previous, "op": op, "n": len(paper_ids),
                        "collection": str(self._col.id)}])
        self._last_seq = seq
        return revision

    def _entries(self, got: dict) -> list[Change]:
        out = []
        for meta, doc in zip(got["metadatas"], got["documents"]):
            if meta and meta.get("collection") == str(self._col.id):
                out.append(Change(int(meta["seq"]), str(meta["revision"]), str(meta["previous"]), str(meta["op"]),
                                  [p for p in (doc or "").split("\n") if p]))
        return sorted(out, key=lambda c: c.seq)

    def changes(self, since: str, until: str) -> list[Change] | None:
        """The log entries that take the collection from revision `since` to `until`, oldest first; None when
        the log cannot tell (an entry is missing or belongs elsewhere: the caller rebuilds)."""
        first, last = revision_seq(since), revision_seq(until)
        log = self._log() if self.exists else None
        if first is None or last is None or first > last or log is None:
            return None
        if first == last:  # the same sequence number: the same revision, or one of another collection's history
            return [] if since == until else None
        wanted = [f"{seq:012d}" for seq in range(first + 1, last + 1)]
        entries: list[Change] = []
        for start in range(0, len(wanted), GET_PAGE):
            got = log.get(ids=wanted[start: start + GET_PAGE], include=["metadatas", "documents"])
            entries += self._entries(got)
        if [c.seq for c in entries] != list(range(first + 1, last + 1)):
            return None
        if entries and (entries[0].previous != since or entries[-1].revision != until):
            return None
        return entries

    def pending_changes(self, revision: str | None = None) -> list[Change]:
        """Entries announced after the collection's revision: writes cut short (or in progress elsewhere)."""
        revision = self.revision() if revision is None else revision
        log = self._log() if self.exists else None
        if log is None:
            return []
        got = log.get(where={"seq": {"$gt": revision_seq(revision) or 0}}, include=["metadatas", "documents"])
        return self._entries(got)

    def trim_log(self, keep_papers: int) -> int:
        """Drop the oldest entries beyond the newest ones that name `keep_papers` papers in all: an index
        further behind than that rebuilds, which then costs about what catching up would. Returns how many."""
        log = self._log() if self.exists else None
        if log is None:
            return 0
        got = log.get(include=["metadatas"])
        entries = sorted(((int(m["seq"]), int(m.get("n", 0)), cid) for cid, m in zip(got["ids"], got["metadatas"])),
                         reverse=True)
        total, drop = 0, []
        for i, (_, n, cid) in enumerate(entries):
            total += n
            if i > 0 and total > keep_papers:
                drop.append(cid)
        for start in range(0, len(drop), GET_PAGE):
            log.delete(ids=drop[start: start + GET_PAGE])
        return len(drop)

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, chunks: Sequence, embeddings) -> None:
        """Chunks (`rag.types.Chunk`) with their vectors, in pages Chroma accepts."""
        for start in range(0, len(chunks), WRITE_BATCH):
            page = chunks[start: start + WRITE_BATCH]
            self._col.upsert(ids=[c.id for c in page], embeddings=embeddings[start: start + WRITE_BATCH],
                             documents=[c.text for c in page], metadatas=[c.metadata for c in page])

    def delete_papers(self, paper_ids: Sequence[str]) -> None:
        for start in range(0, len(paper_ids), GET_PAGE):
            batch = list(paper_ids[start: start + GET_PAGE])
            self._col.delete(where={"paper_id": {"$in": batch}})

    # -- reads ------------------------------------------------------------------------------
    def _records(self, got: dict) -> list[ChunkRecord]:
        docs = got.get("documents") or [None] * len(got["ids"])
        return [ChunkRecord.from_chroma(cid, meta, doc) for cid, meta, doc in zip(got["ids"], got["metadatas"], docs)]

    def chunks(self, ids: Sequence[str], *, text: bool = True) -> dict[str, ChunkRecord]:
        """The stored chunks among `ids`, by id (missing ids are left out)."""
        include = ["metadatas", "documents"] if text else ["metadatas"]
        found: dict[str, ChunkRecord] = {}
        for start in range(0, len(ids), GET_PAGE):
            got = self._col.get(ids=list(ids[start: start + GET_PAGE]), include=include)
            found.update((r.id, r) for r in self._records(got))
        return found

    def first_chunks(self, paper_ids: Sequence[str], *, text: bool = True) -> dict[str, ChunkRecord]:
        """Chunk 0 of each paper (it carries the paper's metadata), by paper id."""
        got = self.chunks([chunk_id(p, 0) for p in paper_ids], text=text)
        return {r.paper_id: r for r in got.values()}

    def iter_chunks(self, *, text: bool = False, where: dict | None = None) -> Iterator[ChunkRecord]:
        """Every chunk (matching `where`), page by page."""
        include = ["metadatas", "documents"] if text else ["metadatas"]
        offset = 0
        while True:
            got = self._col.get(include=include, where=where, limit=GET_PAGE, offset=offset)
            if not got["ids"]:
                return
            yield from self._records(got)
            offset += len(got["ids"])

    def query(self, embedding: list[float], n: int, where: dict | None = None) -> list[ChunkRecord]:
        """Nearest chunks (matching `where`) with their similarity, best first. The records are thin: their
        text and metadata are read when first used (see the module docstring)."""
        if n <= 0 or not self.exists:
            return []
        got = self._col.query(query_embeddings=[embedding], n_results=n, where=where, include=["distances"])
        records = [ChunkRecord(cid, similarity=1.0 - dist) for cid, dist in zip(got["ids"][0], got["distances"][0])]
        hydrator = _Hydrator(self, records)
        for record in records:
            record._loader = hydrator
        return records

    def hydrate(self, records: Sequence[ChunkRecord]) -> None:
        """Read the text and metadata of these thin records (from `query`) in one request, before they are
        used one by one."""
        thin = [r for r in records if r._loader is not None]
        for start in range(0, len(thin), GET_PAGE):
            _Hydrator(self, []).fill(thin[start: start + GET_PAGE])

    def paper_chunks(self, paper_ids: Sequence[str]) -> dict[str, list[ChunkRecord]]:
        """All stored chunks of these papers, in chunk order."""
        out: dict[str, list[ChunkRecord]] = {pid: [] for pid in paper_ids}
        for start in range(0, len(paper_ids), GET_PAGE):
            batch = list(paper_ids[start: start + GET_PAGE])
            got = self._col.get(where={"paper_id": {"$in": batch}}, include=["documents", "metadatas"])
            for record in self._records(got):
                out.setdefault(record.paper_id, []).append(record)
        for chunks in out.values():
            chunks.sort(key=lambda c: c.index)
        return out

    def papers(self, where: dict | None = None) -> list[PaperRecord]:
        """One record per paper (from its chunk 0), sorted by title."""
        clause = {"chunk": 0} if where is None else {"$and": [{"chunk": 0}, where]}
        rows = {r.paper_id: PaperRecord.from_metadata(r.metadata) for r in self.iter_chunks(where=clause)}
        return sorted(rows.values(), key=lambda p: p.title.lower())

    def paper_ids(self, where: dict | None = None) -> set[str]:
        """The ids of the papers with a chunk matching `where` (all papers when None)."""
        return {r.paper_id for r in self.iter_chunks(where=where)}


def check_name(name: str) -> None:
    if not _VALID_NAME.fullmatch(name):
        raise StoreError(
            f"invalid collection name {name!r}: use {COLLECTION_RULE}"
        )


def _names(client) -> list[str]:
    return [c.name if hasattr(c, "name") else str(c) for c in client.list_collections()]


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection of the configured store (embedded folder or server), by name; change logs are part
    of their collection, not listed."""
    client = make_client(settings)
    try:
        out = []
        names = _names(client)
        for name in names:
            if name.endswith(LOG_SUFFIX) and name[: -len(LOG_SUFFIX)] in names:
                continue
            collection = client.get_collection(name, embedding_function=None)
            meta = collection.metadata or {}
            out.append(CollectionInfo(collection.name, collection.count(), meta.get("embedding_model"),
                                      meta.get("updated")))
        return sorted(out, key=lambda c: c.name)
    finally:
        close_client(client)


def delete_collection(settings: Settings, name: str) -> None:
    client = make_client(settings)
    try:
        client.delete_collection(name)
        if log_name(name) in _names(client):
            client.delete_collection(log_name(name))
    except Exception as exc:
        raise StoreError(f"cannot delete collection {name!r}: {exc}") from exc
    finally:
        close_client(client)


def rename_collection(settings: Settings, old: str, new: str) -> None:
    check_name(new)
    client = make_client(settings)
    try:
        names = set(_names(client))
        if old not in names:
            raise StoreError(f"there is no collection {old!r} (see `paperchat collections`)")
        if new in names:
            raise StoreError(f"a collection {new!r} exists already: choose another name or delete it first")
        client.get_collection(old, embedding_function=None).modify(name=new)
        if log_name(old) in names:
            log = client.get_collection(log_name(old), embedding_function=None)
            log.modify(name=log_name(new), metadata={"log_of": new})
    finally:
        close_client(client)
