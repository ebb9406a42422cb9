"""Keeps the BM25 index in step with the Chroma collection it belongs to."""

from __future__ import annotations

from paperchat.rag.bm25 import BM25Index
from paperchat.rag.settings import Settings
from paperchat.rag.store import PaperStore


def ensure_bm25(store: PaperStore, settings: Settings, revision: str | None = None) -> BM25Index:
    """The saved index when it matches the collection's revision, else one rebuilt from the collection."""
    folder = settings.index_dir
    revision = store.revision() if revision is None else revision
    index = BM25Index.load(folder)
    if index is not None and index.revision == revision:
        return index
    ids, texts, metas = [], [], []
    if store.exists:
        for record in store.iter_chunks(text=True):
            ids.append(record.id)
            texts.append(record.text or "")
            metas.append(record.metadata)
    index = BM25Index.build(ids, texts, revision, metas)
    index.save(folder)
    return index
