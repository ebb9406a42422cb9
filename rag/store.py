"""The Chroma collection that holds the chunks: embedded on disk, or a Chroma server.

This module is the only Chroma boundary: everything else gets typed records (`ChunkRecord`,
`PaperRecord`) and never reads Chroma's result dicts. The collection's metadata records which
embedding model made its vectors, so a collection is never queried with another model's vectors,
and a revision that changes on every write, so the keyword index beside it can tell when it is stale.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from paperchat.rag.errors import EmptyCollectionError, ModelMismatchError, StoreError
from paperchat.rag.ids import chunk_id

if TYPE_CHECKING:
    from paperchat.rag.settings import Settings

GET_PAGE = 1000
#: Chroma's `$in` lists and id lists are sent in pages of this size.
_VALID_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]")
WRITE_BATCH = 1000


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


@dataclass(frozen=True)
class ChunkRecord:
    """One stored chunk: its id, paper, position, text (when fetched) and metadata."""

    id: str
    paper_id: str
    index: int
    title: str
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    similarity: float | None = None  # set by a dense query

    @classmethod
    def from_chroma(cls, cid: str, meta: dict | None, doc: str | None = None, distance: float | None = None):
        meta = dict(meta or {})
        return cls(id=cid, paper_id=str(meta.get("paper_id", "")), index=int(meta.get("chunk", 0)),
                   title=str(meta.get("title", "")), text=doc, metadata=meta,
                   similarity=None if distance is None else 1.0 - distance)

    @property
    def n_chunks(self) -> int:
        return int(self.metadata.get("n_chunks", 1))

    @property
    def content_hash(self) -> str | None:
        return self.metadata.get("content_hash")


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
        self._collection = self._open(create)

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
        meta = {"embedding_model": self.model_name, "revision": uuid.uuid4().hex}
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
        self._client.close()

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

    def bump_revision(self) -> str:
        meta = self._fresh_metadata()
        meta["revision"] = uuid.uuid4().hex
        meta["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        meta.setdefault("embedding_model", self.model_name)
        if self.dimension:
            meta["embedding_dim"] = self.dimension
        self._col.modify(metadata=meta)
        return meta["revision"]

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
        """Nearest chunks (matching `where`) with their similarity, best first."""
        n = min(n, self.count())
        if n <= 0:
            return []
        got = self._col.query(query_embeddings=[embedding], n_results=n, where=where,
                              include=["documents", "metadatas", "distances"])
        return [ChunkRecord.from_chroma(cid, meta, doc, dist) for cid, doc, meta, dist in
                zip(got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0])]

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
            f"invalid collection name {name!r}: use 3-512 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )


def list_collections(settings: Settings) -> list[CollectionInfo]:
    """Every collection of the configured store (embedded folder or server), by name."""
    client = make_client(settings)
    try:
        out = []
        for col in client.list_collections():
            collection = client.get_collection(col.name if hasattr(col, "name") else str(col),
                                               embedding_function=None)
            meta = collection.metadata or {}
            out.append(CollectionInfo(collection.name, collection.count(), meta.get("embedding_model"),
                                      meta.get("updated")))
        return sorted(out, key=lambda c: c.name)
    finally:
        client.close()


def delete_collection(settings: Settings, name: str) -> None:
    client = make_client(settings)
    try:
        client.delete_collection(name)
    except Exception as exc:
        raise StoreError(f"cannot delete collection {name!r}: {exc}") from exc
    finally:
        client.close()


def rename_collection(settings: Settings, old: str, new: str) -> None:
    check_name(new)
    client = make_client(settings)
    try:
        names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
        if old not in names:
            raise StoreError(f"there is no collection {old!r} (see `paperchat collections`)")
        if new in names:
            raise StoreError(f"a collection {new!r} exists already: choose another name or delete it first")
        client.get_collection(old, embedding_function=None).modify(name=new)
    finally:
        client.close()
