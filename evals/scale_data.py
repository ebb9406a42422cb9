"""Deterministic synthetic paper collections of any size (10k, 100k, 1M) built from real text.

The scale benchmark needs collections far larger than any real corpus on this machine, yet with real
vocabulary and real lengths, since both decide how big the keyword index gets and how fast it is.
So every synthetic paper is recombined from real ones (SciFact's 5,183 abstracts and the arXiv
sample's 200): a title made of the first half of one real title and the second half of another,
and an abstract of real sentences drawn from all abstracts, as many as a real abstract (drawn at
random) has. Years, authors (real family names and initials from the arXiv sample, skewed so some
authors are prolific), venues and arXiv categories are drawn too, so metadata filters have
something to select. Paper i is a pure function of (seed, i, version): the file is streamed to
disk one line at a time (1M papers never need 1M records in memory), and a delta can regenerate
any paper.

    python -m paperchat.evals.scale_data 100000 papers.jsonl         # write a collection
    python -m paperchat.evals.scale_data 100000 papers.jsonl --delta # 10 changed + 10 new + 10 deleted

The output is the product's `jsonl` format: id, title, abstract, authors, year, venue, categories.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from paperchat.rag.settings import PACKAGE_ROOT

SHARED = PACKAGE_ROOT.parent / "shared"
SCIFACT = Path("benchmarks/scifact/corpus.jsonl")
SCIFACT_QUERIES = Path("benchmarks/scifact/queries.jsonl")
ARXIV = Path("samples/arxiv-snapshot-sample.jsonl")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\[])")
_JOURNAL = re.compile(r"^[A-Za-z][A-Za-z. &]+[A-Za-z.]")

#: Venues with the names people use for them (the filters' alias table knows the acronyms).
VENUES = (
    "Advances in Neural Information Processing Systems (NeurIPS)",
    "International Conference on Machine Learning (ICML)",
    "International Conference on Learning Representations (ICLR)",
    "Conference on Computer Vision and Pattern Recognition (CVPR)",
    "Annual Meeting of the Association for Computational Linguistics (ACL)",
    "Empirical Methods in Natural Language Processing (EMNLP)",
    "AAAI Conference on Artificial Intelligence",
    "Journal of Machine Learning Research",
    "Nature",
    "Science",
    "Cell",
    "The Lancet",
    "New England Journal of Medicine",
    "PLoS ONE",
)
#: Categories for papers made mostly of SciFact's biomedical sentences sit beside arXiv's own.
BIO_CATEGORIES = ("q-bio.GN", "q-bio.NC", "q-bio.QM", "q-bio.CB", "q-bio.MN")


@dataclass(frozen=True)
class Pools:
    """The real material papers are drawn from."""

    titles: tuple[str, ...]
    sentences: tuple[str, ...]
    sentence_counts: tuple[int, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    venues: tuple[str, ...]
    categories: tuple[str, ...]


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def _records(path: Path) -> Iterator[dict]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


@functools.lru_cache(maxsize=4)
def load_pools(shared: Path = SHARED) -> Pools:
    """Titles, sentences, abstract lengths, names, venues and categories from the shared corpora."""
    for rel in (SCIFACT, ARXIV):
        if not (shared / rel).exists():
            raise FileNotFoundError(f"{shared / rel}: the scale data is built from it (the shared/ folder)")
    titles, sentences, counts = [], [], []
    firsts, lasts, journals, categories = set(), set(), set(), set(BIO_CATEGORIES)

    def add_abstract(title: str, text: str) -> None:
        pieces = [s for s in _SENTENCE_END.split(_clean(text)) if len(s) > 20]
        if title and pieces:
            titles.append(_clean(title))
            sentences.extend(pieces)
            counts.append(len(pieces))

    for rec in _records(shared / SCIFACT):
        add_abstract(rec.get("title", ""), rec.get("text", ""))
    for rec in _records(shared / ARXIV):
        add_abstract(rec.get("title", ""), rec.get("abstract", ""))
        for entry in rec.get("authors_parsed") or []:
            last, first = (list(entry) + ["", ""])[:2]
            if last.strip() and first.strip():
                lasts.add(_clean(last))
                firsts.add(_clean(first))
        match = _JOURNAL.match(rec.get("journal-ref") or "")
        if match:
            journals.add(match.group(0).strip())
        categories.update((rec.get("categories") or "").split())
    return Pools(tuple(titles), tuple(sentences), tuple(counts), tuple(sorted(firsts)), tuple(sorted(lasts)),
                 VENUES + tuple(sorted(journals)), tuple(sorted(categories)))


def paper_id(i: int) -> str:
    return f"scale-{i:07d}"


def _skewed(rng: random.Random, n: int) -> int:
    """An index in range(n) where small indices are much more likely (prolific authors, busy venues)."""
    return min(n - 1, int(rng.paretovariate(1.2)) - 1) if rng.random() < 0.5 else rng.randrange(n)


def _title(rng: random.Random, pools: Pools) -> str:
    head = pools.titles[rng.randrange(len(pools.titles))].split()
    tail = pools.titles[rng.randrange(len(pools.titles))].split()
    return " ".join(head[: max(1, (len(head) + 1) // 2)] + tail[len(tail) // 2 :])


def make_paper(i: int, pools: Pools, seed: int = 0, version: int = 0) -> dict:
    """Paper i of the collection (version > 0: the same paper, edited — a new abstract and title)."""
    meta = random.Random(f"{seed}/{i}")  # metadata stays with the paper across versions
    text = random.Random(f"{seed}/{i}/v{version}")
    n_sentences = pools.sentence_counts[text.randrange(len(pools.sentence_counts))]
    abstract = " ".join(pools.sentences[text.randrange(len(pools.sentences))] for _ in range(n_sentences))
    authors = [f"{pools.first_names[meta.randrange(len(pools.first_names))]} "
               f"{pools.last_names[_skewed(meta, len(pools.last_names))]}" for _ in range(meta.randint(1, 6))]
    record = {
        "id": paper_id(i),
        "title": _title(text, pools),
        "abstract": abstract,
        "authors": list(dict.fromkeys(authors)),
        "year": 2025 - min(35, int(meta.expovariate(1 / 6))),
        "categories": sorted({pools.categories[_skewed(meta, len(pools.categories))]
                              for _ in range(meta.randint(1, 3))}),
    }
    if meta.random() < 0.7:
        record["venue"] = pools.venues[_skewed(meta, len(pools.venues))]
    return record


def iter_papers(n: int, seed: int = 0, start: int = 0, shared: Path = SHARED) -> Iterator[dict]:
    """Papers start..n-1, one at a time."""
    pools = load_pools(shared)
    for i in range(start, n):
        yield make_paper(i, pools, seed)


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_collection(path: Path, n: int, seed: int = 0, shared: Path = SHARED) -> int:
    """Write n papers as JSONL (to a temporary file renamed into place: never a half-written collection)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for record in iter_papers(n, seed, shared=shared):
            f.write(_line(record))
    os.replace(tmp, path)
    return n


@dataclass
class Delta:
    """What `apply_delta` did to a collection of `size_before` papers."""

    size_before: int
    changed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def papers_after(self) -> int:
        return self.size_before + len(self.new) - len(self.deleted)


def choose_delta(n: int, changed: int = 10, deleted: int = 10, seed: int = 0) -> tuple[list[int], list[int]]:
    """Which existing papers change and which go: disjoint, spread over the whole collection."""
    picked = random.Random(f"{seed}/delta/{n}").sample(range(n), changed + deleted)
    return sorted(picked[:changed]), sorted(picked[changed:])


def apply_delta(path: Path, n: int, *, changed: int = 10, new: int = 10, deleted: int = 10, seed: int = 0,
                shared: Path = SHARED) -> Delta:
    """Rewrite a collection file written by `write_collection(path, n, seed)`: `changed` papers get a new
    version, `deleted` papers are left out, `new` papers (n, n+1, ...) are appended. Streamed, and the
    file is replaced whole, so `paperchat ingest FILE --prune` sees exactly these differences."""
    path = Path(path)
    pools = load_pools(shared)
    edit, drop = choose_delta(n, changed, deleted, seed)
    edit_set, drop_set = set(edit), set(drop)
    tmp = path.with_name(path.name + ".tmp")
    with path.open(encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as dst:
        i = -1
        for i, line in enumerate(src):
            if i in edit_set or i in drop_set:
                found = json.loads(line).get("id")
                if found != paper_id(i):
                    raise ValueError(f"{path}:{i + 1}: expected paper {paper_id(i)!r}, found {found!r}: "
                                     f"not a collection of {n} papers written by write_collection")
                if i in edit_set:
                    dst.write(_line(make_paper(i, pools, seed, version=1)))
                continue
            dst.write(line)
        if i + 1 != n:
            raise ValueError(f"{path}: {i + 1} papers, expected {n}")
        for j in range(n, n + new):
            dst.write(_line(make_paper(j, pools, seed)))
    os.replace(tmp, path)
    return Delta(n, [paper_id(i) for i in edit], [paper_id(j) for j in range(n, n + new)],
                 [paper_id(i) for i in drop])


def sample_queries(count: int = 200, seed: int = 0, shared: Path = SHARED) -> list[str]:
    """Real search queries (SciFact claims), a fixed sample."""
    queries = [_clean(r["text"]) for r in _records(shared / SCIFACT_QUERIES) if r.get("text")]
    return random.Random(f"{seed}/queries").sample(queries, min(count, len(queries)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic collection (or apply a delta to one).")
    parser.add_argument("n", type=int, help="Papers in the collection")
    parser.add_argument("path", type=Path, help="The JSONL file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--delta", action="store_true", help="Apply 10 changed + 10 new + 10 deleted to PATH")
    parser.add_argument("--shared", type=Path, default=SHARED, help="The shared data folder")
    args = parser.parse_args(argv)
    if args.delta:
        delta = apply_delta(args.path, args.n, seed=args.seed, shared=args.shared)
        print(json.dumps({"changed": delta.changed, "new": delta.new, "deleted": delta.deleted}))
    else:
        write_collection(args.path, args.n, args.seed, args.shared)
        print(f"{args.n} papers written to {args.path}")


if __name__ == "__main__":
    main()
