"""Unchanged input lines are recognised by their hash, not parsed: re-ingesting a million-paper file reads it,
but parses and hashes the records of only the lines that changed.

For the JSON-lines formats (one paper a line: jsonl, beir, arxiv) the catalog remembers, per stored paper,
a hash of the exact line it was read from, keyed by everything else the stored chunks depend on (format,
chunking, metadata layout). A line with a known hash is a paper stored whole, unchanged: it is counted and
its id noted, nothing more. The other lines go to the product's own reader: a copy of the file with the
known lines blanked (the reader skips blank lines, so line numbers stay those of the file) is read with
`read_papers`, so every rule of the reader applies to them as before.

Memory stays flat: lines are hashed in blocks, the known ones marked in one byte per line, and the ids seen
so far (for duplicate ids and for --prune) live in a temporary SQLite table, not a Python set.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from paperchat.ingest import readers
from paperchat.ingest.chunking import METADATA_VERSION
from paperchat.ingest.readers import read_papers
from paperchat.rag.catalog import Catalog
from paperchat.rag.errors import InputFormatError
from paperchat.rag.settings import ChunkSettings
from paperchat.rag.types import Paper

LINE_FORMATS = frozenset({"jsonl", "beir", "arxiv"})
BLOCK = 2000  # lines hashed and looked up together
_VERSION = 1


@dataclass(frozen=True)
class Known:
    """A line whose paper is stored whole and unchanged."""

    id: str
    line: int
    flags: int  # catalog flags: 1 title only, 2 full text
    key: int


@dataclass(frozen=True)
class Parsed:
    """A paper the reader made of a line that is new or changed (or not yet hashed)."""

    paper: Paper
    key: int | None


def fingerprint(fmt: str, chunking: ChunkSettings) -> bytes:
    """What, besides the line, the stored chunks depend on: a line hash is valid only under the same."""
    text = f"{_VERSION}|{fmt}|{chunking.size}|{chunking.overlap}|{METADATA_VERSION}|{readers.MAX_RECORD_BYTES}"
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def line_key(secret: bytes, raw: bytes) -> int:
    """The signed 64-bit hash of a line (its line ending and surrounding white space excluded)."""
    digest = hashlib.blake2b(raw.strip(), digest_size=8, key=secret).digest()
    return int.from_bytes(digest, "little", signed=True)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    with path.open("rb") as fh:
        yield from enumerate(fh, 1)


def _blocks(path: Path) -> Iterator[list[tuple[int, bytes]]]:
    block: list[tuple[int, bytes]] = []
    for item in _lines(path):
        block.append(item)
        if len(block) >= BLOCK:
            yield block
            block = []
    if block:
        yield block


class KnownLines:
    """One JSON-lines file, split into the lines the catalog knows and the papers of the others."""

    def __init__(self, path: Path, fmt: str, chunking: ChunkSettings, catalog: Catalog):
        self.path = Path(path)
        self.fmt = fmt
        self.catalog = catalog
        self.secret = fingerprint(fmt, chunking)
        self.marks = bytearray()  # one byte per line: 1 where the line is known
        self.known = 0
        self._copy: Path | None = None
        self._scanned = False

    def scan(self) -> KnownLines:
        """Mark the known lines; when there are some, write the copy of the file without them."""
        if self._scanned:
            return self
        marks = bytearray()
        for block in _blocks(self.path):
            keys = {n: line_key(self.secret, raw) for n, raw in block if raw.strip()}
            found = self.catalog.by_line(keys.values())
            marks.extend(1 if keys.get(n) in found else 0 for n, _ in block)
        self.marks, self.known, self._scanned = marks, sum(marks), True
        if self.known:
            fd, name = tempfile.mkstemp(prefix=".paperchat-lines-", suffix=self.path.suffix or ".jsonl")
            with os.fdopen(fd, "wb") as out:
                for n, raw in _lines(self.path):
                    out.write(b"\n" if self._marked(n) else raw)
            self._copy = Path(name)
        return self

    def _marked(self, line: int) -> bool:
        return line <= len(self.marks) and self.marks[line - 1] == 1

    def papers(self, skip_bad: bool = False, skipped: list[InputFormatError] | None = None) -> Iterator[Paper]:
        """The reader's papers of the lines not known (all lines when none is), as read from the file itself."""
        self.scan()
        if self._copy is None:
            yield from read_papers(self.path, self.fmt, skip_bad=skip_bad, skipped=skipped)
            return
        own: list[InputFormatError] = []
        try:
            for paper in read_papers(self._copy, self.fmt, skip_bad=skip_bad, skipped=own):
                yield paper.model_copy(update={"source": str(self.path)})
        except InputFormatError as err:
            if err.line is None and err.reason.startswith("no papers found"):
                return  # every line was known, or the unknown ones were all bad and skipped
            raise self._ours(err) from None
        finally:
            if skipped is not None:
                skipped.extend(self._ours(e) for e in own)

    def _ours(self, err: InputFormatError) -> InputFormatError:
        """An error the reader raised about the copy, about the file itself (same line numbers)."""
        return InputFormatError(str(self.path), err.reason, err.line)

    def items(self, skip_bad: bool = False, skipped: list[InputFormatError] | None = None
              ) -> Iterator[Known | Parsed]:
        """Every paper of the file in line order: known lines as `Known`, the others as the reader's papers."""
        self.scan()
        parsed = self.papers(skip_bad, skipped)
        pending = next(parsed, None)
        for block in _blocks(self.path):
            keys = {n: line_key(self.secret, raw) for n, raw in block if raw.strip()}
            known = self.catalog.by_line([keys[n] for n in keys if self._marked(n)])
            for n, _ in block:
                if self._marked(n):
                    pid, flags = known.get(keys[n], (None, 0))
                    if pid is None:
                        raise InputFormatError(str(self.path), "the file changed while it was being ingested; "
                                               "run the command again", n)
                    yield Known(pid, n, flags, keys[n])
                    continue
                while pending is not None and (pending.line or 0) <= n:
                    if pending.line == n:
                        yield Parsed(pending, keys.get(n))
                    pending = next(parsed, None)
        while pending is not None:  # papers of lines after the last (not expected)
            yield Parsed(pending, None)
            pending = next(parsed, None)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.unlink(missing_ok=True)
            self._copy = None


class SeenIds:
    """The paper ids met so far in one run, in a temporary SQLite table (a million ids stay out of memory)."""

    def __init__(self) -> None:
        self._db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        self._db.execute("CREATE TABLE seen (pid TEXT PRIMARY KEY) WITHOUT ROWID")
        self.count = 0

    def insert(self, pids: Iterable[str]) -> None:
        fresh = [(p,) for p in dict.fromkeys(pids)]
        self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", fresh)
        self.count += len(fresh)

    def contains(self, pids: Iterable[str]) -> set[str]:
        """The ids among `pids` recorded before."""
        pids = list(dict.fromkeys(pids))
        out: set[str] = set()
        for start in range(0, len(pids), 500):
            page = pids[start: start + 500]
            out.update(p for (p,) in self._db.execute(
                f"SELECT pid FROM seen WHERE pid IN ({','.join('?' * len(page))})", page))
        return out

    def close(self) -> None:
        self._db.close()
