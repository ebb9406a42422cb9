"""Is each sentence of an answer supported by the passage it cites?

Sentence-level cosine similarity between an answer sentence and the sentences of the passages its
[n] markers point at; at or above THRESHOLD (calibrated on the dev set, see evals/README.md) the
sentence counts as supported. The evals measure groundedness with it, and the answer chain uses it
to flag LLM sentences their citation does not support.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from paperchat.rag.citations import MARKER, marker_numbers
from paperchat.rag.text import split_sentences

#: Sentence vs its cited passage: cosine similarity at or above this counts as supported.
THRESHOLD = 0.60

_LEADING_MARKERS = re.compile(r"^(?:" + MARKER.pattern + r"\s*)+")
# A list bullet and a bold "**Title**:" lead-in at the start of a line (the offline answer's layout).
_LINE_LEAD = re.compile(r"^\s*(?:[-*•]\s+|\d+[.)]\s+)?(?:\*\*[^\n]+?\*\*\s*:\s*)?")


class SentenceSupport(NamedTuple):
    """One answer sentence: the passage number it is best supported by, the similarity, the verdict."""

    sentence: str
    n: int | None
    score: float | None
    supported: bool


EvidenceLookup = Mapping[int, str] | Callable[[int], str | None]
Embed = Callable[[list[str]], np.ndarray]


def embed_fn(embedder: Any) -> Embed:
    """A function texts -> L2-normalised rows, from a LangChain `Embeddings` or a `SentenceCache`."""
    raw = embedder.embed if hasattr(embedder, "embed") and not hasattr(embedder, "embed_documents") else \
        embedder.embed_documents

    def embed(texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        vectors = np.asarray(raw(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    return embed


def _markers(text: str) -> list[int]:
    return list(dict.fromkeys(n for group in MARKER.findall(text) for n in marker_numbers(group)))


def strip_markers(text: str) -> str:
    """Answer text without [n] markers and bold asterisks, for matching and embedding."""
    text = MARKER.sub("", text).replace("**", "")
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()


def answer_sentences(text: str) -> list[tuple[str, list[int]]]:
    """(sentence without markers, passage numbers it cites) for every sentence of an answer.

    Markers right after a sentence's full stop ("... 30%. [1] Next ...") belong to that sentence;
    a line's bullet and bold "**Title**:" lead-in are not part of its first sentence.
    """
    out: list[tuple[str, list[int]]] = []
    for line in text.splitlines():
        body = _LINE_LEAD.sub("", line, count=1)
        pieces: list[list] = []
        for piece in split_sentences(body):
            lead = _LEADING_MARKERS.match(piece)
            if lead and pieces:
                pieces[-1][1] += [n for n in _markers(lead.group()) if n not in pieces[-1][1]]
                piece = piece[lead.end():]
            elif lead:
                pieces.append(["", _markers(lead.group())])
                piece = piece[lead.end():]
            if strip_markers(piece):
                if pieces and not pieces[-1][0]:
                    pieces[-1][0] = piece
                    pieces[-1][1] += [n for n in _markers(piece) if n not in pieces[-1][1]]
                else:
                    pieces.append([piece, _markers(piece)])
        out += [(strip_markers(s), ns) for s, ns in pieces if strip_markers(s)]
    return out


def _lookup(evidence_lookup: EvidenceLookup, n: int) -> str | None:
    if callable(evidence_lookup) and not isinstance(evidence_lookup, Mapping):
        return evidence_lookup(n)
    return evidence_lookup.get(n)


def best_similarities(embed: Embed, claims: Sequence[str], passages: Sequence[str]) -> list[float]:
    """For each claim, the best cosine similarity to any sentence of the passages (-1.0 if none)."""
    sentences = [s for p in passages for s in _sentences_of(p)]
    if not claims:
        return []
    if not sentences:
        return [-1.0] * len(claims)
    vectors = _vectors(embed, [*claims, *sentences])
    matrix = np.stack([vectors[s] for s in sentences])
    return [float((matrix @ vectors[c]).max()) for c in claims]


def _vectors(embed: Embed, texts: Iterable[str]) -> dict[str, np.ndarray]:
    """One embedding call for all distinct texts."""
    unique = list(dict.fromkeys(t for t in texts if t))
    return dict(zip(unique, embed(unique), strict=True)) if unique else {}


def _sentences_of(passage: str) -> list[str]:
    return split_sentences(passage) or ([passage] if passage.strip() else [])


def grounded_sentences(answer: Any, evidence_lookup: EvidenceLookup, embedder: Any,
                       threshold: float = THRESHOLD) -> list[SentenceSupport]:
    """Every sentence of the answer with the passage that supports it best.

    ``answer`` is an ``Answer`` (its ``.answer`` text is used) or the text itself; ``evidence_lookup``
    maps a marker number n to the cited passage text (a dict or a function, None/missing when there is
    no such passage); ``embedder`` is a LangChain ``Embeddings``, a ``SentenceCache`` or an ``Embed``.
    """
    text = getattr(answer, "answer", answer)
    embed = embedder if _is_embed(embedder) else embed_fn(embedder)
    rows = answer_sentences(text)
    numbers = {n for _, ns in rows for n in ns}
    passages = {n: _sentences_of(p) for n in sorted(numbers) if (p := _lookup(evidence_lookup, n))}
    vectors = _vectors(embed, [s for s, _ in rows] + [s for ss in passages.values() for s in ss])
    results: list[SentenceSupport] = []
    for sentence, ns in rows:
        scored = [(max(float(vectors[sentence] @ vectors[p]) for p in passages[n]), n)
                  for n in ns if passages.get(n)]
        if not scored:
            results.append(SentenceSupport(sentence, ns[0] if ns else None, None, False))
            continue
        score, n = max(scored, key=lambda sn: sn[0])
        results.append(SentenceSupport(sentence, n, round(score, 4), score >= threshold))
    return results


def _is_embed(obj: Any) -> bool:
    return callable(obj) and not hasattr(obj, "embed_documents") and not hasattr(obj, "embed")
