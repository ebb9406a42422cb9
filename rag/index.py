"""Keeps the BM25 index in step with the Chroma collection it belongs to."""

from __future__ import annotations

from paperchat.rag.bm25 import BM25Index
from paperchat.rag.settings import Settings
from paperchat.rag.store import PaperStore


def ensure_bm25(store: PaperStore, settings: Settings) -> BM25Index:
    """The saved index when it matches the collection's revision, else one rebuilt from the collection."""
    folder = settings.index_dir
    revision = store.revision() if store.exists else ""
    index = BM25Index.load(folder)
    if index is not None and index.revision == revision:
        return index
    ids, texts = [], []
    if store.exists:
        for item in store.iter_all(include=("documents",)):
            ids.append(item["id"])
            texts.append(item["document"] or "")
    index = BM25Index.build(ids, texts, revision)
    index.save(folder)
    return index
