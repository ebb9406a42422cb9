"""A BM25 index of the collection's chunks (bm25s, English stopwords, Snowball stemmer).

It lives beside the collection in the data directory and records the collection
revision it was built from; when that differs (another ingest, a Chroma server
written from elsewhere) or the index is missing, it is rebuilt from the
documents stored in the collection, so it never drifts out of sync.
"""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

STATE_FILE = "paperchat.json"


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    import bm25s

    out = bm25s.tokenize(
        list(texts), stopwords="en", stemmer=_stemmer(), return_ids=False, show_progress=False
    )
    return [list(doc) for doc in out]


#: The chunk metadata a filter looks at, kept beside the index so a filtered search needs no store read.
FILTER_KEYS = ("year", "author_keys", "venue_keys", "category_keys")


class BM25Index:
    """Chunk ids in index order plus the bm25s model; search returns (chunk_id, score) best first."""

    def __init__(self, ids: list[str], model, revision: str, df: dict[str, int] | None = None,
                 filters: list[dict] | None = None):
        self.ids = ids
        self.model = model
        self.revision = revision
        self.df = df or {}
        self.filters = filters if filters is not None else [{} for _ in ids]

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over chunks; unseen terms get the highest value."""
        n = max(1, len(self.ids))
        return math.log(1 + (n - self.df.get(term, 0) + 0.5) / (self.df.get(term, 0) + 0.5))

    def known(self, term: str) -> bool:
        """Whether any chunk of the collection uses the (stemmed) term."""
        return term in self.df

    @classmethod
    def build(cls, ids: list[str], texts: list[str], revision: str, metadatas: list[dict] | None = None,
              k1: float = 1.2, b: float = 0.75):
        import bm25s

        model = bm25s.BM25(k1=k1, b=b, method="lucene")
        tokens = tokenize(texts) if ids else []
        if ids:
            model.index(tokens, show_progress=False)
        df = Counter(term for doc in tokens for term in set(doc))
        filters = [{k: m[k] for k in FILTER_KEYS if k in m} for m in (metadatas or [{} for _ in ids])]
        return cls(list(ids), model, revision, dict(df), filters)

    def search(self, query: str, n: int, where=None) -> list[tuple[str, float]]:
        """Best chunks for the query; `where` (a `rag.metadata.MetaFilter`) keeps only matching chunks."""
        if not self.ids:
            return []
        tokens = [t for t in tokenize([query])[0] if t in self.model.vocab_dict]
        if not tokens:
            return []
        mask = None
        if where is not None and not where.empty:
            import numpy as np

            mask = np.array([where.matches(f) for f in self.filters], dtype=np.float32)
            if not mask.any():
                return []
        n = min(n, len(self.ids))
        docs, scores = self.model.retrieve([tokens], k=n, show_progress=False, n_threads=0, weight_mask=mask)
        return [(self.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def save(self, folder: Path) -> None:
        """Write to a temporary folder, then swap it in: a reader never sees half an index."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".bm25-", dir=folder.parent))
        if self.ids:
            self.model.save(str(tmp))
        state = {"revision": self.revision, "ids": self.ids, "df": self.df, "filters": self.filters}
        (tmp / STATE_FILE).write_text(json.dumps(state))
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> BM25Index | None:
        """The saved index, or None when it is missing or unreadable (the caller rebuilds)."""
        import bm25s

        try:
            state = json.loads((folder / STATE_FILE).read_text())
            if "filters" not in state:
                return None  # written by an older version: rebuild
            model = bm25s.BM25.load(str(folder)) if state["ids"] else bm25s.BM25()
        except (OSError, ValueError, KeyError):
            return None
        return cls(state["ids"], model, state["revision"], state.get("df", {}), state["filters"])
