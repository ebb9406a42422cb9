"""The Chroma collection that holds the chunks: embedded on disk, or a Chroma server.

The collection's metadata records which embedding model made its vectors, so a
collection is never queried with another model's vectors, and a revision that
changes on every write, so the BM25 index beside it can tell when it is stale.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from paperchat.rag.errors import ModelMismatchError, StoreError

if TYPE_CHECKING:
    from paperchat.rag.settings import Settings

GET_PAGE = 1000
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


class PaperStore:
    """One collection: chunk ids are '<paper_id>::<n>', each chunk's metadata names its paper."""

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
        if not _VALID_NAME.fullmatch(self.name):
            raise StoreError(
                f"invalid collection name {self.name!r}: use 3-512 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
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
                f"{self.model_name!r}; set the embedding backend back, or re-ingest into a new collection "
                f"(paperchat ingest --collection NEW_NAME) or delete {self.name!r} first"
            )

    def close(self) -> None:
        """Release the client's connections (a server's sockets, the embedded store's files)."""
        self._client.close()

    @property
    def exists(self) -> bool:
        return self._collection is not None

    @property
    def collection(self):
        if self._collection is None:
            from paperchat.rag.errors import EmptyCollectionError

            raise EmptyCollectionError(
                f"collection {self.name!r} does not exist yet: run `paperchat ingest` to add papers"
            )
        return self._collection

    def count(self) -> int:
        return self.collection.count() if self.exists else 0

    def _fresh_metadata(self) -> dict:
        """The collection's metadata as stored now (another process may have written since we opened it)."""
        self._collection = self._client.get_collection(self.name, embedding_function=None)
        return dict(self._collection.metadata or {})

    def revision(self) -> str:
        return str(self._fresh_metadata().get("revision", "")) if self.exists else ""

    def bump_revision(self) -> str:
        meta = self._fresh_metadata()
        meta["revision"] = uuid.uuid4().hex
        meta.setdefault("embedding_model", self.model_name)
        if self.dimension:
            meta["embedding_dim"] = self.dimension
        self.collection.modify(metadata=meta)
        return meta["revision"]

    def get_metadatas(self, ids: Sequence[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        for start in range(0, len(ids), GET_PAGE):
            got = self.collection.get(ids=list(ids[start : start + GET_PAGE]), include=["metadatas"])
            found.update(zip(got["ids"], got["metadatas"]))
        return found

    def upsert(self, ids: list[str], embeddings, documents: list[str], metadatas: list[dict]) -> None:
        for start in range(0, len(ids), WRITE_BATCH):
            end = start + WRITE_BATCH
            self.collection.upsert(
                ids=ids[start:end],
                embeddings=embeddings[start:end],
                documents=documents[start:end],
                metadatas=metadatas[start:end],
            )

    def delete_papers(self, paper_ids: Sequence[str]) -> None:
        for start in range(0, len(paper_ids), GET_PAGE):
            batch = list(paper_ids[start : start + GET_PAGE])
            self.collection.delete(where={"paper_id": {"$in": batch}})

    def iter_all(self, include: Sequence[str] = ("metadatas",), where: dict | None = None) -> Iterator[dict]:
        """Every chunk, page by page: {'id', 'metadata', 'document'?}."""
        offset = 0
        while True:
            fields = sorted({"metadatas", *include})
            got = self.collection.get(include=fields, where=where, limit=GET_PAGE, offset=offset)
            if not got["ids"]:
                return
            docs = got.get("documents") or [None] * len(got["ids"])
            for cid, meta, doc in zip(got["ids"], got["metadatas"], docs):
                yield {"id": cid, "metadata": meta, "document": doc}
            offset += len(got["ids"])

    def query(self, embedding: list[float], n: int) -> list[dict[str, Any]]:
        """Nearest chunks: [{'id', 'document', 'metadata', 'similarity'}] best first."""
        n = min(n, self.count())
        if n <= 0:
            return []
        got = self.collection.query(
            query_embeddings=[embedding], n_results=n, include=["documents", "metadatas", "distances"]
        )
        return [
            {"id": cid, "document": doc, "metadata": meta, "similarity": 1.0 - dist}
            for cid, doc, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0]
            )
        ]

    def paper_chunks(self, paper_ids: Sequence[str]) -> dict[str, list[tuple[dict, str]]]:
        """All stored chunks of these papers, in chunk order: {paper_id: [(metadata, document), ...]}."""
        out: dict[str, list[tuple[dict, str]]] = {pid: [] for pid in paper_ids}
        if not paper_ids:
            return out
        got = self.collection.get(where={"paper_id": {"$in": list(paper_ids)}}, include=["documents", "metadatas"])
        for meta, doc in zip(got["metadatas"], got["documents"]):
            out[meta["paper_id"]].append((meta, doc))
        for chunks in out.values():
            chunks.sort(key=lambda c: c[0].get("chunk", 0))
        return out

    def papers(self) -> list[dict]:
        """One row per paper (from chunk 0): id, title, authors, year, url, source, chunks."""
        rows = {}
        for item in self.iter_all(where={"chunk": 0}):
            meta = item["metadata"]
            rows[meta["paper_id"]] = meta
        return sorted(rows.values(), key=lambda m: m.get("title", "").lower())
