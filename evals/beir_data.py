"""Loaders for BEIR-format benchmark folders (e.g. /work/shared/benchmarks/scifact).

A BEIR folder holds ``queries.jsonl`` (one ``{"_id", "text", ...}`` object a line) and
``qrels/{split}.tsv`` (tab separated ``query-id  corpus-id  score`` rows after a header
line).  Malformed input raises ValueError naming the file and the 1-based line.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

__all__ = ["load_qrels", "load_queries", "split_queries"]

_QRELS_HEADER = ("query-id", "corpus-id", "score")
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _malformed(path: Path, lineno: int, message: str) -> ValueError:
    """A ValueError for malformed input (bad data, so not a TypeError), naming file and line."""
    return ValueError(f"{path}:{lineno}: {message}")


def load_queries(folder: Path | str) -> dict[str, str]:
    """Map query ``_id`` -> ``text`` from ``folder/queries.jsonl``, in file order.

    Blank lines are skipped.  A line that is not a JSON object, lacks a string ``_id`` or
    ``text`` (an integer ``_id`` is accepted and converted), or repeats an ``_id`` raises
    ValueError.
    """
    path = Path(folder) / "queries.jsonl"
    queries: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _malformed(path, lineno, f"invalid JSON: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise _malformed(path, lineno, f"expected a JSON object, got {type(obj).__name__}")
            qid, text = obj.get("_id"), obj.get("text")
            if isinstance(qid, int) and not isinstance(qid, bool):
                qid = str(qid)
            if not isinstance(qid, str) or not qid:
                raise _malformed(path, lineno, "missing or non-string '_id'")
            if not isinstance(text, str):
                raise _malformed(path, lineno, f"query {qid!r} has a missing or non-string 'text'")
            if qid in queries:
                raise _malformed(path, lineno, f"duplicate query id {qid!r}")
            queries[qid] = text
    return queries


def load_qrels(folder: Path | str, split: str) -> dict[str, dict[str, int]]:
    """Relevance judgements ``query-id -> {corpus-id: score}`` from ``folder/qrels/{split}.tsv``.

    The first line must be the header ``query-id<TAB>corpus-id<TAB>score`` and is skipped;
    every other non-blank line must have exactly three tab-separated fields, non-empty ids
    and an integer score.  All rows are kept as given, including scores <= 0; the metrics
    treat only scores > 0 as relevant.  A repeated (query-id, corpus-id) pair raises
    ValueError, as does any malformed line.
    """
    if not _SPLIT_NAME.match(split):
        raise ValueError(f"invalid split name {split!r}")
    path = Path(folder) / "qrels" / f"{split}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if lineno == 1:
                if tuple(field.strip() for field in line.split("\t")) != _QRELS_HEADER:
                    raise ValueError(
                        f"{path}:1: expected header 'query-id<TAB>corpus-id<TAB>score', got {line!r}"
                    )
                continue
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 3:
                message = f"expected 3 tab-separated fields, got {len(fields)}: {line!r}"
                raise _malformed(path, lineno, message)
            qid, doc_id, score_text = (field.strip() for field in fields)
            if not qid or not doc_id:
                raise _malformed(path, lineno, f"empty query-id or corpus-id: {line!r}")
            try:
                score = int(score_text)
            except ValueError:
                raise _malformed(path, lineno, f"score is not an integer: {score_text!r}") from None
            judged = qrels.setdefault(qid, {})
            if doc_id in judged:
                raise _malformed(path, lineno, f"duplicate judgement for query {qid!r}, doc {doc_id!r}")
            judged[doc_id] = score
    return qrels


def split_queries(folder: Path | str, split: str) -> dict[str, str]:
    """The queries (``_id`` -> ``text``) that have qrels rows in ``split``, in queries.jsonl order.

    Raises ValueError if the qrels name a query id that queries.jsonl does not contain.
    """
    queries = load_queries(folder)
    qrels = load_qrels(folder, split)
    missing = sorted(set(qrels) - set(queries))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        qrels_path = Path(folder) / "qrels" / f"{split}.tsv"
        raise ValueError(f"{qrels_path}: {len(missing)} query ids not in queries.jsonl: {shown}")
    return {qid: text for qid, text in queries.items() if qid in qrels}
