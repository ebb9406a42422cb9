"""The catalog: one row per paper of the collection, beside the keyword index, kept in step change by change.

At a million papers nothing may list the collection to answer a question or to classify an ingest batch, and
a cold start may not parse a 100 MB JSON. So what the product needs to know about papers lives here, in one
SQLite file (standard library; WAL, so readers in other processes see whole commits):

- the manifest ingest classifies with: each paper's content hash, chunk count and chunks present (a write cut
  short shows as missing chunks), its source file (for `--prune`) and the hash of the input line it was read
  from (an unchanged line is not even parsed on the next run);
- the data of `rag.names.NameIndex`, kept incrementally: titles, each paper's candidate names, how many
  papers use each coined word, and how often each acronym is defined with each long form. The rule "a name
  used by more than MAX_NAME_PAPERS papers is dropped" is applied when a name is looked up, from the counts,
  so adding or deleting a paper touches only that paper's rows;
- the author and venue keys the metadata filters match (a count per key).

`Catalog` is the storage; `CatalogNames` (the interface of `NameIndex`, built on it) answers the names
questions with a small `NameIndex` of only the candidates a query can match, so the matching rules are
exactly those of `rag/names.py`.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperchat.rag import names as nm
from paperchat.rag.text import body_of

if TYPE_CHECKING:
    from paperchat.rag.keyword import KeywordIndex

#: Bumped when the tables or what goes into them change; a catalog of another version is rebuilt.
SCHEMA_VERSION = 2  # 2: titles' initialisms are names too
_MAX_GRAM_WORDS = 40  # the longest title (in words) a text is searched for
_MAX_NAME_CHARS = 64  # the longest name a query is searched for
_IN_PAGE = 500  # parameters per `IN (...)` query
_KEY_KINDS = {"author_keys": "author", "venue_keys": "venue"}

_TABLES = """
CREATE TABLE IF NOT EXISTS state (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    id INTEGER PRIMARY KEY,       -- insertion order: the later of two equal titles wins, as in NameIndex
    pid TEXT UNIQUE NOT NULL,
    title TEXT NOT NULL,
    nh INTEGER NOT NULL,          -- hash of normalize_title(title)
    src INTEGER,                  -- sources.id
    hash TEXT,                    -- content hash of chunk 0
    n_chunks INTEGER NOT NULL,
    present INTEGER NOT NULL,     -- chunks stored (of this version)
    lh INTEGER,                   -- hash of the raw input line, a local cache for ingest
    flags INTEGER NOT NULL,       -- 1: title only, 2: full text
    feats TEXT NOT NULL           -- JSON: what this paper adds to the tables below (to take it out again)
);
CREATE INDEX IF NOT EXISTS papers_nh ON papers(nh);
CREATE INDEX IF NOT EXISTS papers_src ON papers(src);
CREATE INDEX IF NOT EXISTS papers_lh ON papers(lh);
CREATE TABLE IF NOT EXISTS names (name TEXT, pid TEXT, short INTEGER, PRIMARY KEY (name, pid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS name_stats (name TEXT PRIMARY KEY, key TEXT NOT NULL, rkey TEXT NOT NULL,
    low TEXT NOT NULL, n INTEGER NOT NULL, n_short INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS name_stats_key ON name_stats(key);
CREATE INDEX IF NOT EXISTS name_stats_rkey ON name_stats(rkey);
CREATE TABLE IF NOT EXISTS words (word TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acronyms (short TEXT, long TEXT, n INTEGER NOT NULL, first INTEGER NOT NULL,
    PRIMARY KEY (short, long)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (kind TEXT, key TEXT, n INTEGER NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
"""


def h64(text: str) -> int:
    """A stable signed 64-bit hash (SQLite's INTEGER), for titles and input lines."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "little", signed=True)


def name_key(text: str) -> str:
    """What a name and any text `rag.names.name_pattern` matches for it have in common: lower case, hyphens
    and white space removed ('GPT-4', 'gpt 4' and 'GPT4' -> 'gpt4')."""
    return re.sub(r"[-\s]+", "", text).lower()


@dataclass
class PaperEntry:
    """What the catalog keeps about one paper (from its chunk 0)."""

    pid: str
    title: str
    source: str
    content_hash: str | None
    n_chunks: int
    present: int
    flags: int = 0
    names: list[tuple[str, bool]] = field(default_factory=list)  # candidate names, whether it is the short name
    words: list[str] = field(default_factory=list)  # the coined words it uses, lower case
    acronyms: list[tuple[str, str]] = field(default_factory=list)  # (short form, long form) it defines
    keys: dict[str, list[str]] = field(default_factory=dict)  # "author"/"venue" -> keys

    def feats(self) -> str:
        return json.dumps({"c": [[n, int(s)] for n, s in self.names], "w": self.words, "a": self.acronyms,
                           "k": self.keys}, ensure_ascii=False, separators=(",", ":"))


def paper_names(pid: str, title: str, text: str) -> tuple[list[str], list[str], list[tuple[str, str]]]:
    """(candidate names, coined words used, acronyms defined) of one paper: `NameIndex.build` of this paper
    alone gives its candidates and acronyms exactly (no other paper can make a name less distinctive), and
    `coined_counts` the words whose users the collection-wide rule counts."""
    one = nm.NameIndex.build([(pid, title, text)])
    words = sorted({w.lower() for w in nm.coined_counts(f"{title}. {text}")})
    return list(one.names), words, list(one.acronyms.items())


def paper_entry(meta: Mapping[str, Any], text: str, present: int, flags: int = 0) -> PaperEntry:
    """The catalog entry of a paper from its chunk 0 (metadata and stored text)."""
    title = str(meta.get("title", ""))
    pid = str(meta["paper_id"])
    candidates, words, acronyms = paper_names(pid, title, body_of(text or "", title))
    short = nm.short_name(title)
    keys = {kind: list(dict.fromkeys(str(k) for k in meta.get(key) or [])) for key, kind in _KEY_KINDS.items()}
    return PaperEntry(
        pid=pid, title=title, source=str(meta.get("source", "")), content_hash=meta.get("content_hash"),
        n_chunks=int(meta.get("n_chunks", 1)), present=present, flags=flags,
        names=[(n, n == short) for n in candidates], words=words, acronyms=[list(p) for p in acronyms],
        keys={k: v for k, v in keys.items() if v})


def _pages(items: list, size: int = _IN_PAGE) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start: start + size]


class Catalog:
    """The SQLite catalog of one collection; one writer at a time (the keyword index's writer lock)."""

    def __init__(self, path: Path, db: sqlite3.Connection):
        self.path = path
        self._db = db
        self._lock = threading.RLock()
        self._in_txn = False

    @classmethod
    def open(cls, path: Path) -> Catalog:
        """The catalog in `path`; an empty one when missing, unreadable or of another version."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            catalog = cls(path, cls._connect(path))
            if catalog.state("schema") not in (None, str(SCHEMA_VERSION)):
                raise sqlite3.DatabaseError("another schema version")
            catalog._create()
            return catalog
        except sqlite3.DatabaseError:
            with contextlib.suppress(Exception):
                catalog._db.close()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            catalog = cls(path, cls._connect(path))
            catalog._create()
            return catalog

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-16000")  # 16 MB of page cache, whatever the collection's size
        return db

    def _create(self) -> None:
        with self._lock:
            self._db.executescript(_TABLES)
            if self.state("schema") is None:
                self._db.execute("INSERT OR REPLACE INTO state VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        with self._lock:
            if self._in_txn:
                self.rollback()
            self._db.close()

    def state(self, key: str) -> str | None:
        row = self._db.execute("SELECT v FROM state WHERE k = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def stamp(self) -> str:
        """The collection revision the committed catalog is in step with ("" when never committed)."""
        return self.state("stamp") or ""

    # -- writing ----------------------------------------------------------------------------------
    def _begin(self) -> None:
        if not self._in_txn:
            self._db.execute("BEGIN IMMEDIATE")
            self._in_txn = True

    def put(self, entries: Iterable[PaperEntry]) -> None:
        """Add papers, replacing any with the same id (at the next `commit`)."""
        entries = list({e.pid: e for e in entries}.values())
        if not entries:
            return
        with self._lock:
            self._begin()
            self._remove([e.pid for e in entries])
            db = self._db
            sources = {e.source for e in entries}
            db.executemany("INSERT OR IGNORE INTO sources(path) VALUES (?)", [(s,) for s in sources])
            src = {}
            for page in _pages(sorted(sources)):
                src.update(db.execute(f"SELECT path, id FROM sources WHERE path IN ({_marks(page)})", page))
            self._adjust_count(len(entries))
            db.executemany(
                "INSERT INTO papers(pid, title, nh, src, hash, n_chunks, present, lh, flags, feats) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                [(e.pid, e.title, h64(nm.normalize_title(e.title)), src[e.source], e.content_hash, e.n_chunks,
                  e.present, e.flags, e.feats()) for e in entries])
            self._count(entries, +1)

    def remove(self, pids: Iterable[str]) -> None:
        """Take papers out (at the next `commit`); unknown ids are ignored."""
        pids = list(dict.fromkeys(pids))
        if pids:
            with self._lock:
                self._begin()
                self._remove(pids)

    def _remove(self, pids: list[str]) -> None:
        old: list[PaperEntry] = []
        for page in _pages(pids):
            rows = self._db.execute(f"SELECT pid, feats FROM papers WHERE pid IN ({_marks(page)})", page).fetchall()
            for pid, feats in rows:
                data = json.loads(feats)
                old.append(PaperEntry(pid, "", "", None, 0, 0, names=[(n, bool(s)) for n, s in data["c"]],
                                      words=data["w"], acronyms=data["a"], keys=data["k"]))
            self._db.execute(f"DELETE FROM papers WHERE pid IN ({_marks(page)})", page)
        if old:
            self._count(old, -1)
            self._adjust_count(-len(old))

    def _adjust_count(self, delta: int) -> None:
        """The number of papers, kept in the state table: counting a million rows takes tens of ms."""
        self._db.execute("INSERT INTO state VALUES ('papers', ?) ON CONFLICT(k) DO UPDATE SET v = CAST(v AS INTEGER) "
                         "+ ?", (str(max(0, delta)), delta))

    def _count(self, entries: list[PaperEntry], sign: int) -> None:
        """Add (+1) or take out (-1) what these papers contribute to the shared counts."""
        db = self._db
        pairs = [(n, e.pid, int(s)) for e in entries for n, s in e.names]
        if sign > 0:
            db.executemany("INSERT OR REPLACE INTO names VALUES (?, ?, ?)", pairs)
            db.executemany(
                "INSERT INTO name_stats VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT(name) DO UPDATE SET "
                "n = n + 1, n_short = n_short + excluded.n_short",
                [(n, name_key(n), name_key(n)[::-1], n.lower(), s) for n, _, s in pairs])
            db.executemany("INSERT INTO words VALUES (?, 1) ON CONFLICT(word) DO UPDATE SET n = n + 1",
                           [(w,) for e in entries for w in e.words])
            acr = [(s, lf) for e in entries for s, lf in e.acronyms]
            if acr:
                first = int(self.state("acr_seq") or 0)
                db.executemany("INSERT INTO acronyms VALUES (?, ?, 1, ?) ON CONFLICT(short, long) DO UPDATE "
                               "SET n = n + 1", [(s, lf, first + i) for i, (s, lf) in enumerate(acr)])
                db.execute("INSERT OR REPLACE INTO state VALUES ('acr_seq', ?)", (str(first + len(acr)),))
            db.executemany("INSERT INTO keys VALUES (?, ?, 1) ON CONFLICT(kind, key) DO UPDATE SET n = n + 1",
                           [(kind, k) for e in entries for kind, ks in e.keys.items() for k in ks])
            return
        db.executemany("DELETE FROM names WHERE name = ? AND pid = ?", [(n, pid) for n, pid, _ in pairs])
        db.executemany("UPDATE name_stats SET n = n - 1, n_short = n_short - ? WHERE name = ?",
                       [(s, n) for n, _, s in pairs])
        db.executemany("DELETE FROM name_stats WHERE name = ? AND n <= 0", [(n,) for n, _, _ in pairs])
        words = [(w,) for e in entries for w in e.words]
        db.executemany("UPDATE words SET n = n - 1 WHERE word = ?", words)
        db.executemany("DELETE FROM words WHERE word = ? AND n <= 0", words)
        acr = [(s, lf) for e in entries for s, lf in e.acronyms]
        db.executemany("UPDATE acronyms SET n = n - 1 WHERE short = ? AND long = ?", acr)
        db.executemany("DELETE FROM acronyms WHERE short = ? AND long = ? AND n <= 0", acr)
        keys = [(kind, k) for e in entries for kind, ks in e.keys.items() for k in ks]
        db.executemany("UPDATE keys SET n = n - 1 WHERE kind = ? AND key = ?", keys)
        db.executemany("DELETE FROM keys WHERE kind = ? AND key = ? AND n <= 0", keys)

    def clear(self) -> None:
        """Remove every paper (at the next `commit`): the start of a rebuild."""
        with self._lock:
            self._begin()
            for table in ("papers", "sources", "names", "name_stats", "words", "acronyms", "keys"):
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('papers', '0')")

    def set_line_hashes(self, pairs: Iterable[tuple[str, int]]) -> None:
        """Remember the input line each paper was read from (a local cache: no revision needed)."""
        pairs = [(lh, pid) for pid, lh in pairs]
        if pairs:
            with self._lock:
                self._begin()
                self._db.executemany("UPDATE papers SET lh = ? WHERE pid = ?", pairs)

    def commit(self, stamp: str) -> None:
        """Make the changes since the last commit durable and visible, with the revision they bring the
        catalog to, in one transaction."""
        with self._lock:
            self._begin()
            self._db.execute("INSERT OR REPLACE INTO state VALUES ('stamp', ?)", (stamp,))
            self._db.execute("COMMIT")
            self._in_txn = False

    def rollback(self) -> None:
        with self._lock:
            if self._in_txn:
                self._db.execute("ROLLBACK")
                self._in_txn = False

    # -- the manifest -----------------------------------------------------------------------------
    def manifest(self, pids: Iterable[str]) -> dict[str, tuple[str | None, int, int]]:
        """paper id -> (content hash, chunks, chunks present) for the known papers among `pids`."""
        pids = list(pids)
        out: dict[str, tuple[str | None, int, int]] = {}
        with self._lock:
            for page in _pages(pids):
                for pid, digest, n, present in self._db.execute(
                        f"SELECT pid, hash, n_chunks, present FROM papers WHERE pid IN ({_marks(page)})", page):
                    out[pid] = (digest, n, present)
        return out

    def by_line(self, hashes: Iterable[int]) -> dict[int, tuple[str, int]]:
        """line hash -> (paper id, flags) of the papers read from such a line before and stored whole."""
        hashes = list(hashes)
        out: dict[int, tuple[str, int]] = {}
        with self._lock:
            for page in _pages(hashes):
                out.update((lh, (pid, flags)) for lh, pid, flags in self._db.execute(
                    f"SELECT lh, pid, flags FROM papers WHERE lh IN ({_marks(page)}) AND present = n_chunks", page))
        return out

    def iter_papers_from(self, source: str, page: int = 5000) -> Iterator[list[str]]:
        """The ids of the papers read from this file, page by page."""
        with self._lock:
            row = self._db.execute("SELECT id FROM sources WHERE path = ?", (source,)).fetchone()
        if row is None:
            return
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute("SELECT id, pid FROM papers WHERE src = ? AND id > ? ORDER BY id LIMIT ?",
                                        (row[0], last, page)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [pid for _, pid in rows]

    def count(self) -> int:
        """Papers in the catalog (as this connection sees it: a writer counts its own changes)."""
        with self._lock:
            return int(self.state("papers") or 0)

    # -- names data -------------------------------------------------------------------------------
    def title(self, pid: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT title FROM papers WHERE pid = ?", (pid,)).fetchone()
        return row[0] if row else None

    def titles(self, pids: Iterable[str]) -> dict[str, str]:
        pids = list(dict.fromkeys(pids))
        out: dict[str, str] = {}
        with self._lock:
            for page in _pages(pids):
                out.update(self._db.execute(f"SELECT pid, title FROM papers WHERE pid IN ({_marks(page)})", page))
        return out

    def titles_by_norm(self, norms: Iterable[str]) -> dict[str, str]:
        """pid -> title of the papers whose normalised title is one of `norms` (later papers first)."""
        wanted = {h64(n): n for n in norms if n}
        out: dict[str, str] = {}
        with self._lock:
            for page in _pages(list(wanted)):
                rows = self._db.execute(f"SELECT pid, title, nh FROM papers WHERE nh IN ({_marks(page)}) "
                                        f"ORDER BY id", page).fetchall()
                out.update((pid, title) for pid, title, nh in rows if nm.normalize_title(title) == wanted[nh])
        return out

    def iter_titles(self) -> Iterator[tuple[str, str]]:
        """Every (paper id, title), in insertion order, streamed page by page."""
        last = 0
        while True:
            with self._lock:
                page = self._db.execute("SELECT id, pid, title FROM papers WHERE id > ? ORDER BY id LIMIT 10000",
                                        (last,)).fetchall()
            if not page:
                return
            last = page[-1][0]
            yield from ((pid, title) for _, pid, title in page)

    def names_with_keys(self, keys: Iterable[str]) -> list[tuple[str, int, int, int]]:
        """(name, papers naming it, of those with it as short title name, papers using the word) per
        candidate name with one of these keys."""
        keys = list(dict.fromkeys(keys))
        out = []
        with self._lock:
            for page in _pages(keys):
                out += self._db.execute(
                    f"SELECT s.name, s.n, s.n_short, COALESCE(w.n, 0) FROM name_stats s LEFT JOIN words w "
                    f"ON w.word = s.low WHERE s.key IN ({_marks(page)})", page).fetchall()
        return out

    def names_near(self, key: str, limit: int = 2000) -> list[tuple[str, int, int, int]]:
        """Candidate names sharing the first or the last three characters of a key (fuzzy matching)."""
        out = []
        with self._lock:
            for column, part in (("key", key[:3]), ("rkey", key[::-1][:3])):
                out += self._db.execute(
                    f"SELECT s.name, s.n, s.n_short, COALESCE(w.n, 0) FROM name_stats s LEFT JOIN words w "
                    f"ON w.word = s.low WHERE s.{column} >= ? AND s.{column} < ? LIMIT ?",
                    (part, part + "\U0010ffff", limit)).fetchall()
        return list(dict.fromkeys(out))

    def name_papers(self, name: str, short_only: bool, limit: int) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT pid FROM names WHERE name = ?" + (" AND short = 1" if short_only else "")
                                    + " LIMIT ?", (name, limit)).fetchall()
        return [pid for (pid,) in rows]

    def acronym_forms(self, shorts: Iterable[str]) -> dict[str, str]:
        """short form -> its most frequent long form (ties: the first seen), for the known ones among
        `shorts`, in the order the collection first defined them."""
        shorts = list(dict.fromkeys(shorts))
        best: dict[str, tuple[int, int, str]] = {}
        order: dict[str, int] = {}
        with self._lock:
            for page in _pages(shorts):
                for short, long_form, n, first in self._db.execute(
                        f"SELECT short, long, n, first FROM acronyms WHERE short IN ({_marks(page)})", page):
                    order[short] = min(order.get(short, first), first)
                    if short not in best or (n, -first) > best[short][:2]:
                        best[short] = (n, -first, long_form)
        return {s: best[s][2] for s in sorted(best, key=order.__getitem__)}

    def acronym_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT count(DISTINCT short) FROM acronyms").fetchone()[0]

    def iter_acronyms(self) -> Iterator[str]:
        with self._lock:
            rows = self._db.execute("SELECT short FROM acronyms GROUP BY short ORDER BY min(first)").fetchall()
        yield from (s for (s,) in rows)

    def has_key(self, kind: str, key: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM keys WHERE kind = ? AND key = ?", (kind, key)).fetchone() is not None

    def iter_keys(self, kind: str) -> list[str]:
        with self._lock:
            return [k for (k,) in self._db.execute("SELECT key FROM keys WHERE kind = ?", (kind,))]

    def key_count(self, kind: str) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM keys WHERE kind = ?", (kind,)).fetchone()[0]


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


# ------------------------------------------------------------------------------------- read-only views


class TitleMap(Mapping):
    """paper id -> title, read from the catalog on demand (never all loaded unless iterated)."""

    def __init__(self, catalog: Catalog):
        self._catalog = catalog

    def __getitem__(self, pid: str) -> str:
        title = self._catalog.title(pid)
        if title is None:
            raise KeyError(pid)
        return title

    def get(self, pid: str, default: Any = None) -> Any:
        title = self._catalog.title(pid)
        return default if title is None else title

    def __contains__(self, pid: object) -> bool:
        return isinstance(pid, str) and self._catalog.title(pid) is not None

    def __iter__(self) -> Iterator[str]:
        return (pid for pid, _ in self._catalog.iter_titles())

    def __len__(self) -> int:
        return self._catalog.count()

    def items(self):  # one streamed query, not a lookup per key
        return list(self._catalog.iter_titles())

    def values(self):
        return [title for _, title in self._catalog.iter_titles()]


class AcronymMap(Mapping):
    """short form -> its most frequent long form in the collection, read on demand."""

    def __init__(self, catalog: Catalog):
        self._catalog = catalog

    def __getitem__(self, short: str) -> str:
        found = self._catalog.acronym_forms([short])
        if short not in found:
            raise KeyError(short)
        return found[short]

    def __contains__(self, short: object) -> bool:
        return isinstance(short, str) and bool(self._catalog.acronym_forms([short]))

    def __iter__(self) -> Iterator[str]:
        return self._catalog.iter_acronyms()

    def __len__(self) -> int:
        return self._catalog.acronym_count()


class KeySet(Set):
    """The author (or venue) keys of the collection's papers, answered by the catalog."""

    def __init__(self, catalog: Catalog, kind: str):
        self._catalog = catalog
        self._kind = kind

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._catalog.has_key(self._kind, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._catalog.iter_keys(self._kind))

    def __len__(self) -> int:
        return self._catalog.key_count(self._kind)


# ------------------------------------------------------------------------------------- names


def _ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def span_keys(query: str, longest: int = _MAX_NAME_CHARS) -> set[str]:
    """The `name_key` of every stretch of the query a name could match: `name_pattern` puts no letter or digit
    just before or after a match, so a match starts and ends at such boundaries (and may add a plural s)."""
    n = len(query)
    starts = [i for i in range(n) if not query[i].isspace() and (i == 0 or not _ascii_alnum(query[i - 1]))]
    ends = [j for j in range(1, n + 1) if not query[j - 1].isspace() and (j == n or not _ascii_alnum(query[j]))]
    keys: set[str] = set()
    for i in starts:
        for j in ends[bisect.bisect_right(ends, i):]:
            if j - i > longest:
                break
            key = name_key(query[i:j])
            keys.add(key)
            if key.endswith("s"):
                keys.add(key[:-1])
    keys.discard("")
    return keys


def word_grams(norm: str, longest: int = _MAX_GRAM_WORDS) -> list[str]:
    """Every run of whole words of a normalised text, up to `longest` words."""
    words = norm.split()
    return [" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, min(len(words), i + longest) + 1)]


class CatalogNames:
    """The interface of `rag.names.NameIndex` over the catalog: each question builds a `NameIndex` of just the
    titles and names it can match (found through the catalog's keys, hashes and counts) and asks it."""

    def __init__(self, catalog: Catalog, keyword: KeywordIndex | None = None):
        self._catalog = catalog
        self._keyword = keyword
        self.titles = TitleMap(catalog)
        self.acronyms = AcronymMap(catalog)

    def title_of(self, paper_id: str) -> str | None:
        return self._catalog.title(paper_id)

    def paper_for_title(self, title: str) -> str | None:
        """The paper with exactly this title (compared normalised; the later of two equal titles)."""
        found = self._catalog.titles_by_norm([nm.normalize_title(title)])
        return list(found)[-1] if found else None

    def find_titles(self, text: str) -> list[str]:
        """Collection titles that appear whole inside a text, in order (titles made of whole words)."""
        titles = self._catalog.titles_by_norm(word_grams(nm.normalize_title(text)))
        return nm.NameIndex(titles=titles).find_titles(text)

    def expansions(self, query: str) -> list[str]:
        tokens = re.findall(r"[\w-]+", query)
        shorts = tokens + [t[:-1] for t in tokens if t.endswith("s")]
        return nm.NameIndex(acronyms=self._catalog.acronym_forms(shorts)).expansions(query)

    def lookup(self, query: str, fuzzy: bool = True) -> list[NameMatch]:
        """`NameIndex.lookup` over the whole collection (its fuzzy step over the titles the keyword index ranks
        best for the query and the names sharing a name's first or last letters)."""
        titles, names = self._exact_candidates(query)
        found = nm.NameIndex(titles=titles, names=names).lookup(query, fuzzy=False)
        if found or not fuzzy:
            return found
        more_titles, more_names = self._fuzzy_candidates(query)
        titles.update(more_titles)
        names.update(more_names)
        titles.update(self._catalog.titles(p for pids in more_names.values() for p in pids if p not in titles))
        return nm.NameIndex(titles=titles, names=names).lookup(query, fuzzy=True)

    # -- candidates -------------------------------------------------------------------------------
    def _exact_candidates(self, query: str) -> tuple[dict[str, str], dict[str, list[str]]]:
        grams = [g for g in word_grams(nm.normalize_title(query)) if len(g) > 12]
        titles = self._catalog.titles_by_norm(grams)
        for groups in nm._QUOTED.findall(query):
            quoted = nm.normalize_title(next(g for g in groups if g))
            if len(quoted.split()) >= 2:
                titles.update(self._titles_containing(quoted))
        names = self._valid_names(self._catalog.names_with_keys(span_keys(query)))
        titles.update(self._catalog.titles(p for pids in names.values() for p in pids if p not in titles))
        return titles, names

    def _titles_containing(self, quoted: str, depth: int = 50) -> dict[str, str]:
        """Up to two titles (distinct once normalised) with the quoted words in them, so "exactly one" can be told."""
        if self._keyword is None:
            return {}
        pids = list(dict.fromkeys(cid.rsplit("::", 1)[0] for cid in self._keyword.matching_all(quoted, depth)))
        out: dict[str, str] = {}
        norms: set[str] = set()
        for pid, title in self._catalog.titles(pids).items():
            norm = nm.normalize_title(title)
            if f" {quoted} " in f" {norm} " and len(norms | {norm}) <= 2:
                norms.add(norm)
                out[pid] = title
        return out

    def _fuzzy_candidates(self, query: str) -> tuple[dict[str, str], dict[str, list[str]]]:
        titles: dict[str, str] = {}
        quoted = [next(g for g in groups if g) for groups in nm._QUOTED.findall(query)]
        cue = getattr(nm, "_TITLE_CUE", None)  # NameIndex compares the whole question only when it cues a title
        texts = quoted or ([query] if cue is None or cue.search(query) else [])
        if self._keyword is not None:
            for text in texts:
                if len(nm.normalize_title(text).split()) >= 3:
                    hits = self._keyword.search(text, 30)
                    titles.update(self._catalog.titles(cid.rsplit("::", 1)[0] for cid, _ in hits))
        rows = []
        for word in (w for w in nm.coined_names(query) if len(w) >= 5):
            rows += self._catalog.names_near(name_key(word))
        names = {n: pids for n, pids in self._valid_names(rows).items() if len(n) >= 5}
        return titles, names

    def _valid_names(self, rows: Iterable[tuple[str, int, int, int]]) -> dict[str, list[str]]:
        """The names that pick out at most MAX_NAME_PAPERS papers, with their papers: a (paper, name) pair counts
        when few papers use the word, or when it is the paper's own short name (the rule of NameIndex.build)."""
        limit = nm.MAX_NAME_PAPERS
        out: dict[str, list[str]] = {}
        for name, n, n_short, users in dict.fromkeys(rows):
            short_only = users > limit
            qualifying = n_short if short_only else n
            if 0 < qualifying <= limit:
                out[name] = self._catalog.name_papers(name, short_only, limit + 1)
        return out


NameMatch = nm.NameMatch
