"""The incremental keyword index: BM25 over the collection's chunks, on disk, kept in step change by change.

The bm25s index the product used before (now in `evals/keyword_compare.py`) was rebuilt whole whenever
the collection changed, which is fine for thousands of papers and impossible for a million. This index
is a tantivy index (Rust, on disk, memory-mapped): adding or deleting ten papers writes one small
segment, tantivy merges segments in the background, and opening a million-chunk index reads almost
nothing. `docs/scale.md` compares it with a segmented bm25s index and says why tantivy was chosen;
`rag/index.py` keeps it in step with the collection.

Quality and the answer gate's statistics stay those of the bm25s index: every text goes through the
product's own `tokenize` (English stopwords, Snowball stemmer) and tantivy indexes those terms as
they are (its `whitespace` tokenizer), so the vocabulary is identical. Scores are tantivy's BM25
(k1 1.2, b 0.75, Lucene's idf) divided by k1 + 1, which is bm25s' "lucene" scale; the one difference
left is that tantivy stores each chunk's length in one byte (as Lucene does), so long chunks'
lengths are rounded. `doc_freq` and `idf` count live chunks exactly; tantivy's own BM25 statistics
still count deleted chunks until their segment is merged, which moves scores a hair, never the
set of matches.

Filters (`MetaFilter`) are indexed fields (`year`, and the `author_keys` / `venue_keys` /
`category_keys` lists of the chunk metadata), matched inside tantivy with a zero-score clause, so a
filtered search returns exactly the chunks `MetaFilter.matches` accepts, best first.

Concurrency: one writer, any number of readers, in any processes.
- A commit is atomic (tantivy swaps `meta.json`); the collection revision the index is in step with
  is a document of the index, written in the same commit, so content and revision never disagree.
- A reader sees the commit it opened (or last `reload()`ed) and nothing newer until it reloads: a
  search never mixes two commits. Files of older commits a reader still has open stay readable
  (they are memory-mapped; POSIX keeps unlinked files alive).
- Two writers: tantivy's lock file (`.tantivy-writer.lock`) admits one; the second waits up to
  `WRITER_WAIT` seconds for it, then raises `KeywordIndexBusyError`. Nothing is corrupted either way.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperchat.rag.errors import PaperchatError
from paperchat.rag.text import tokenize

if TYPE_CHECKING:
    from paperchat.rag.metadata import MetaFilter

#: Bumped when the schema or what is indexed changes; an index of another version is rebuilt.
SCHEMA_VERSION = 1
K1, B = 1.2, 0.75  # tantivy's BM25 constants, the same as bm25s' defaults
WRITER_WAIT = 30.0  # seconds a second writer waits for the first one's lock
WRITER_HEAP = 64_000_000  # bytes tantivy buffers before it writes a segment
_META_ID = "\x00paperchat-index-state"
_LIST_FIELDS = ("author_keys", "venue_keys", "category_keys")


class KeywordIndexBusyError(PaperchatError):
    """Another process is writing the keyword index."""


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("paper", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("text", tokenizer_name="whitespace", index_option="freq")
    builder.add_integer_field("year", indexed=True, fast=True)
    for name in _LIST_FIELDS:
        builder.add_text_field(name, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("state", stored=True, tokenizer_name="raw", index_option="basic")
    return builder.build()


def _paper_of(chunk_id: str) -> str:
    return chunk_id.rsplit("::", 1)[0]


class KeywordIndex:
    """BM25 over chunks in a tantivy index folder; see the module docstring for the guarantees."""

    def __init__(self, folder: Path, index: Any, schema: Any, writer_threads: int = 1):
        self.folder = folder
        self._index = index
        self._schema = schema
        self._writer = None
        self._writer_threads = writer_threads
        self._df_cache: dict[str, int] = {}
        self.revision = ""
        self._has_state = False
        self._searcher = None
        self.reload()

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, folder: Path, writer_threads: int = 1) -> KeywordIndex:
        """The index in `folder`; an empty one when the folder is missing, empty or of another schema."""
        import tantivy

        folder = Path(folder)
        schema = _schema()
        if folder.exists() and any(folder.iterdir()):
            try:
                index = tantivy.Index.open(str(folder)) if tantivy.Index.exists(str(folder)) else None
            except ValueError:  # unreadable (a damaged meta.json): it is derived data, start again
                index = None
            if index is not None and cls._version(index, schema) == SCHEMA_VERSION:
                return cls._ready(folder, index, schema, writer_threads)
            shutil.rmtree(folder)  # written by another version, or damaged: start again
        folder.mkdir(parents=True, exist_ok=True)
        return cls._ready(folder, tantivy.Index(schema, path=str(folder)), schema, writer_threads)

    @classmethod
    def _ready(cls, folder: Path, index: Any, schema: Any, writer_threads: int) -> KeywordIndex:
        index.config_reader(reload_policy="manual")  # a reader keeps its commit until it reloads
        return cls(folder, index, schema, writer_threads)

    @staticmethod
    def _version(index: Any, schema: Any) -> int | None:
        """The schema version recorded in the index's state document (None when absent or unreadable)."""
        import tantivy

        try:
            index.config_reader(reload_policy="manual")
            searcher = index.searcher()
            hits = searcher.search(tantivy.Query.term_query(schema, "id", _META_ID), 1).hits
        except ValueError:
            return None
        if not hits:
            return SCHEMA_VERSION if searcher.num_docs == 0 else None
        state = searcher.doc(hits[0][1]).get_first("state") or ""
        version, _, _ = state.partition(" ")
        return int(version) if version.isdigit() else None

    def reload(self) -> bool:
        """See the latest commit (from this or another process); True when the revision moved on."""
        import tantivy

        before = self.revision
        self._index.reload()
        self._searcher = self._index.searcher()
        self._df_cache = {}
        hits = self._searcher.search(tantivy.Query.term_query(self._schema, "id", _META_ID), 1).hits
        self._has_state = bool(hits)
        state = self._searcher.doc(hits[0][1]).get_first("state") if hits else ""
        self.revision = (state or "").partition(" ")[2]
        return self.revision != before

    # -- writing -------------------------------------------------------------------------------
    def _writer_handle(self, wait: float | None = None):
        """tantivy's writer, taken on the first change: readers never hold the lock. A second writer waits
        up to `wait` seconds (default `WRITER_WAIT`) for the first to finish."""
        if self._writer is None:
            wait = WRITER_WAIT if wait is None else wait
            deadline = time.monotonic() + wait
            while True:
                try:
                    self._writer = self._index.writer(heap_size=WRITER_HEAP * self._writer_threads,
                                                      num_threads=self._writer_threads)
                    break
                except ValueError as exc:
                    if "LockBusy" not in str(exc):
                        raise
                    if time.monotonic() > deadline:
                        raise KeywordIndexBusyError(
                            f"another process is writing the keyword index in {self.folder} (waited "
                            f"{wait:.0f} s); let it finish, then run the command again") from exc
                    time.sleep(0.2)
        return self._writer

    def try_writer(self, wait: float = 0.0) -> bool:
        """Take the writer lock if it is free within `wait` seconds; False when another process holds it."""
        try:
            self._writer_handle(wait)
        except KeywordIndexBusyError:
            return False
        return True

    @property
    def writing(self) -> bool:
        """Whether this object holds the writer lock."""
        return self._writer is not None

    def release(self) -> None:
        """Give the writer lock back (uncommitted changes are dropped); the index stays open for reading."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.rollback()
            writer.wait_merging_threads()

    def _document(self, chunk_id: str, terms: list[str], meta: dict):
        import tantivy

        doc = tantivy.Document()
        doc.add_text("id", chunk_id)
        doc.add_text("paper", str(meta.get("paper_id") or _paper_of(chunk_id)))
        doc.add_text("text", " ".join(terms))
        year = meta.get("year")
        if isinstance(year, int) and not isinstance(year, bool):
            doc.add_integer("year", year)
        for name in _LIST_FIELDS:
            for value in meta.get(name) or []:
                doc.add_text(name, str(value))
        return doc

    def add(self, chunks: Sequence[tuple[str, str, dict]], terms: Sequence[list[str]] | None = None) -> None:
        """Index chunks (id, text, chunk metadata); a chunk id already indexed is replaced. `terms`: the chunks'
        `tokenize`d texts when the caller has them already. Invisible to searches until `commit`."""
        if not chunks:
            return
        writer = self._writer_handle()
        terms = tokenize([text for _, text, _ in chunks]) if terms is None else terms
        for (chunk_id, _, meta), doc_terms in zip(chunks, terms, strict=True):
            writer.delete_documents_by_term("id", chunk_id)  # applies to earlier documents only
            writer.add_document(self._document(chunk_id, doc_terms, meta))

    def delete_papers(self, paper_ids: Iterable[str]) -> None:
        """Remove every chunk of these papers (at the next `commit`)."""
        writer = None
        for pid in paper_ids:
            writer = writer or self._writer_handle()
            writer.delete_documents_by_term("paper", pid)

    def clear(self) -> None:
        """Remove every chunk (at the next `commit`): the start of a rebuild from the collection."""
        self._writer_handle().delete_all_documents()

    def commit(self, revision: str) -> None:
        """Make every change since the last commit durable and visible, with the collection revision
        they bring the index to, in one atomic step."""
        import tantivy

        writer = self._writer_handle()
        writer.delete_documents_by_term("id", _META_ID)
        state = tantivy.Document()
        state.add_text("id", _META_ID)
        state.add_text("state", f"{SCHEMA_VERSION} {revision}")
        writer.add_document(state)
        writer.commit()
        self.reload()

    def rollback(self) -> None:
        """Drop the changes since the last commit."""
        if self._writer is not None:
            self._writer.rollback()

    def close(self) -> None:
        """Release the writer lock (waiting for background merges; uncommitted changes are dropped, as after
        a crash) and the searcher."""
        self.release()
        self._searcher = None

    def __enter__(self) -> KeywordIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------
    @property
    def n_docs(self) -> int:
        """Live chunks in the commit this reader sees."""
        return self._searcher.num_docs - (1 if self._has_state else 0)

    def _filter(self, where: MetaFilter):
        """The filter as a tantivy query: a year range AND, per kind, any of its keys."""
        import tantivy

        query, occur = tantivy.Query, tantivy.Occur
        clauses = []
        if where.year_min is not None or where.year_max is not None:
            clauses.append((occur.Must, query.range_query(self._schema, "year", tantivy.FieldType.Integer,
                                                          where.year_min, where.year_max)))
        for field, values in where.keys().items():
            if values:
                clauses.append((occur.Must, query.term_set_query(self._schema, field, values)))
        return query.boolean_query(clauses) if clauses else None

    def search(self, query: str, n: int, where: MetaFilter | None = None) -> list[tuple[str, float]]:
        """The n best chunks for the query as (chunk_id, BM25 score), best first; with `where`, only
        chunks whose metadata match it. A query with no indexed term finds nothing."""
        import tantivy

        terms = tokenize([query])[0] if query.strip() else []
        if not terms or n <= 0 or self.n_docs == 0:
            return []
        q, occur = tantivy.Query, tantivy.Occur
        text = q.boolean_query([(occur.Should, q.term_query(self._schema, "text", t)) for t in terms])
        filt = self._filter(where) if where is not None and not where.empty else None
        if filt is not None:
            text = q.boolean_query([(occur.Must, text), (occur.Must, q.const_score_query(filt, 0.0))])
        searcher = self._searcher
        hits = searcher.search(text, n).hits
        return [(searcher.doc(address).get_first("id"), score / (K1 + 1)) for score, address in hits if score > 0]

    def matching_all(self, text: str, n: int) -> list[str]:
        """Up to n chunk ids (best first) of the chunks that contain every term of the text: what the names
        index asks when a quoted phrase must be found inside titles."""
        import tantivy

        terms = list(dict.fromkeys(tokenize([text])[0])) if text.strip() else []
        if not terms or n <= 0 or self.n_docs == 0:
            return []
        q = tantivy.Query
        query = q.boolean_query([(tantivy.Occur.Must, q.term_query(self._schema, "text", t)) for t in terms])
        searcher = self._searcher
        return [searcher.doc(address).get_first("id") for _, address in searcher.search(query, n).hits]

    def doc_freq(self, term: str) -> int:
        """Live chunks containing the (stemmed) term, counted exactly (cached per commit)."""
        found = self._df_cache.get(term)
        if found is None:
            import tantivy

            result = self._searcher.search(tantivy.Query.term_query(self._schema, "text", term), 1, count=True)
            found = self._df_cache[term] = int(result.count or 0)
        return found

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over chunks (the formula the bm25s index used)."""
        n, df = max(1, self.n_docs), self.doc_freq(term)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def known(self, term: str) -> bool:
        """Whether any chunk uses the (stemmed) term (the answer gate's "unknown terms")."""
        return self.doc_freq(term) > 0

    def chunk_ids(self) -> set[str]:
        """Every live chunk id (a full scan: for checks and tests, not for queries)."""
        import tantivy

        searcher = self._searcher
        total = max(1, searcher.num_docs)
        hits = searcher.search(tantivy.Query.all_query(), total).hits
        ids = {searcher.doc(address).get_first("id") for _, address in hits}
        ids.discard(_META_ID)
        return ids

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())
