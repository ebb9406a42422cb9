"""Sentence-level support: is each answer sentence backed by the passage it cites, and does the answer
contain the expected answer points?

Groundedness splits an answer into sentences, reads the [n] markers each sentence carries, and
takes the cosine similarity (with the assistant's own embedder) between the sentence and the most
similar sentence of each cited passage. A sentence is *supported* when the best similarity reaches
``THRESHOLD``; a sentence that cites nothing (or a passage that does not exist) is unsupported.
The answering chain can call ``grounded_sentences`` to flag unsupported sentences.

``THRESHOLD`` and ``POINT_THRESHOLD`` were calibrated on the dev set with the bundled papers and
all-MiniLM-L6-v2 (``paperchat eval calibrate`` reprints the numbers; evals/README.md records them).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from evals.metrics import exact_point_match
from rag.text import split_sentences

#: Sentence vs its cited passage: cosine similarity at or above this counts as supported.
THRESHOLD = 0.60
#: Answer point vs the best answer sentence (points without numbers or names): covered at or above this.
POINT_THRESHOLD = 0.42

#: Random other papers per claim in calibration (more pairs, a steadier threshold).
RANDOM_NEGATIVES = 3

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"^(?:\[\d+(?:\s*[,;]\s*\d+)*\]\s*)+")
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
    out: list[int] = []
    for group in _MARKER.findall(text):
        for part in re.split(r"\s*[,;]\s*", group):
            if part.isdigit() and int(part) not in out:
                out.append(int(part))
    return out


def strip_markers(text: str) -> str:
    """Answer text without [n] markers and bold asterisks, for matching and embedding."""
    text = _MARKER.sub("", text).replace("**", "")
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


def groundedness(supports: Sequence[SentenceSupport]) -> float | None:
    """Share of answer sentences that are supported; None for an answer without sentences."""
    return sum(s.supported for s in supports) / len(supports) if supports else None


class PointResult(NamedTuple):
    point: str
    covered: bool
    method: str  # "exact" (numbers, names) or "similarity"
    score: float | None


def point_coverage(points: Sequence[str], answer_text: Any, embedder: Any,
                   threshold: float = POINT_THRESHOLD) -> list[PointResult]:
    """Each answer point checked against the answer: exact match of its numbers and names when it has
    any (evals.metrics.exact_point_match), else the best sentence similarity reaching ``threshold``."""
    text = getattr(answer_text, "answer", answer_text)
    clean = strip_markers(text)
    exact = {p: exact_point_match(p, clean) for p in points}
    fuzzy = [p for p in points if exact[p] is None]
    scores: dict[str, float] = {}
    if fuzzy and clean:
        embed = embedder if _is_embed(embedder) else embed_fn(embedder)
        sentences = [s for s, _ in answer_sentences(text)] or [clean]
        scores = dict(zip(fuzzy, best_similarities(embed, fuzzy, sentences), strict=True))
    results: list[PointResult] = []
    for point in points:
        if exact[point] is not None:
            results.append(PointResult(point, bool(exact[point]), "exact", None))
        else:
            score = scores.get(point, -1.0)
            results.append(PointResult(point, score >= threshold, "similarity", round(score, 4)))
    return results


# ---------------------------------------------------------------------------------------------------
# Calibration
# ---------------------------------------------------------------------------------------------------


@dataclass
class Separation:
    """How well a threshold separates true (supported) from false (unsupported) pair scores."""

    threshold: float
    true_positive_rate: float
    false_positive_rate: float
    balanced_accuracy: float


def choose_threshold(true_scores: Sequence[float], *false_groups: Sequence[float]) -> Separation:
    """The cut that maximises balanced accuracy ((TPR + TNR) / 2, TNR averaged over the groups of false
    scores so each kind of mistake weighs the same); among equal cuts, the midpoint of the widest gap
    between neighbouring scores, rounded to 0.01."""
    groups = [g for g in false_groups if g]
    if not true_scores or not groups:
        raise ValueError("choose_threshold needs true and false scores")
    values = sorted(set(true_scores).union(*groups))
    cuts = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)] or [values[0]]
    best: tuple[float, float, float] | None = None
    for i, cut in enumerate(cuts):
        gap = values[i + 1] - values[i] if i + 1 < len(values) else 0.0
        acc = separation(true_scores, *groups, threshold=cut).balanced_accuracy
        if best is None or (acc, gap) > (best[0], best[1]):
            best = (acc, gap, cut)
    assert best is not None
    return separation(true_scores, *groups, threshold=round(best[2], 2))


def separation(true_scores: Sequence[float], *false_groups: Sequence[float], threshold: float) -> Separation:
    """TPR, FPR (averaged over the groups of false scores) and balanced accuracy at a threshold."""
    groups = [g for g in false_groups if g]
    tpr = sum(s >= threshold for s in true_scores) / len(true_scores)
    fpr = sum(sum(s >= threshold for s in g) / len(g) for g in groups) / len(groups)
    return Separation(threshold, round(tpr, 4), round(fpr, 4), round((tpr + 1 - fpr) / 2, 4))


def clauses(sentence: str, min_words: int = 5) -> list[str]:
    """Clauses of a sentence (split at , ; : and "which"/"while"/"and"), kept when long enough: partial
    restatements of a sentence, standing in for an answer that compresses what a passage says."""
    parts = re.split(r"[,;:]\s+|\s+(?:which|while|whereas|and)\s+", sentence)
    return [p.strip() for p in parts if len(p.split()) >= min_words and p.strip() != sentence.strip()]


@dataclass
class Calibration:
    """Pair scores by kind and the thresholds they give."""

    scores: dict[str, list[float]]
    sentence: Separation
    point: Separation

    def summary(self) -> list[dict]:
        rows = []
        for kind, values in self.scores.items():
            v = np.asarray(values) if values else np.asarray([np.nan])
            rows.append({"pairs": kind, "n": len(values), "min": float(np.min(v)),
                         "p5": float(np.percentile(v, 5)), "median": float(np.median(v)),
                         "p95": float(np.percentile(v, 95)), "max": float(np.max(v))})
        return rows


def calibrate(answered: Iterable[tuple[Any, Any]], embedder: Any, passage_of: Callable[[str], str],
              paper_ids: Sequence[str], gold_ids_of: Callable[[Any], set[str]], seed: int = 0) -> Calibration:
    """Score true and false (sentence, passage) pairs on (item, offline answer) pairs of a dataset.

    * true, verbatim: each sentence of the offline (extractive) answer vs the passage it cites;
    * true, clause: clauses of those sentences vs the same passage (partial restatements);
    * false, random: the same sentences and clauses vs three random other papers of the collection;
    * false, near: the same vs the best-ranked retrieved paper that is neither cited nor gold;
    * points: each answer point without numbers or names vs its gold abstract (true), vs three random
      other papers and vs the best-ranked retrieved non-gold paper (false) - this calibrates
      POINT_THRESHOLD.

    The sentence threshold is chosen on clause (true) vs random and near (false) pairs, the two false
    kinds weighing the same: verbatim pairs score ~1.0 and would make any cut look perfect.
    """
    rng = random.Random(seed)
    embed = embedder if _is_embed(embedder) else embed_fn(embedder)
    scores: dict[str, list[float]] = {k: [] for k in (
        "true verbatim", "true clause", "false random", "false near", "point true", "point false random",
        "point false near")}
    for item, answer in answered:
        if item.unanswerable:
            continue
        gold_ids = gold_ids_of(item)
        if answer is not None and answer.status == "answered":
            _sentence_pairs(answer, gold_ids, embed, passage_of, paper_ids, rng, scores)
        gold_text = [passage_of(g) for g in sorted(gold_ids)]
        sources = answer.sources if answer is not None else []
        near = [s.paper_id for s in sources if s.paper_id not in gold_ids]
        for point in item.answer_points:
            if not gold_text or exact_point_match(point, " ".join(gold_text)) is not None:
                continue
            pool = [p for p in paper_ids if p not in gold_ids]
            scores["point true"] += best_similarities(embed, [point], gold_text)
            for other in rng.sample(pool, min(RANDOM_NEGATIVES, len(pool))):
                scores["point false random"] += best_similarities(embed, [point], [passage_of(other)])
            if near:
                scores["point false near"] += best_similarities(embed, [point], [passage_of(near[0])])
    sentence = choose_threshold(scores["true clause"], scores["false random"], scores["false near"])
    point = choose_threshold(scores["point true"], scores["point false random"], scores["point false near"])
    return Calibration(scores, sentence, point)


def _sentence_pairs(answer, gold_ids, embed, passage_of, paper_ids, rng, scores) -> None:
    cited = {c.n: c.paper_id for c in answer.citations}
    taken = set(cited.values()) | set(gold_ids)
    near = [s.paper_id for s in answer.sources if s.paper_id not in taken]
    pool = [p for p in paper_ids if p not in taken]
    for sentence, numbers in answer_sentences(answer.answer):
        own = [cited[n] for n in numbers if n in cited]
        if not own:
            continue
        own_text = passage_of(own[0])
        parts = clauses(sentence)
        scores["true verbatim"] += best_similarities(embed, [sentence], [own_text])
        scores["true clause"] += best_similarities(embed, parts, [own_text])
        for other in rng.sample(pool, min(RANDOM_NEGATIVES, len(pool))):
            scores["false random"] += best_similarities(embed, [sentence, *parts], [passage_of(other)])
        if near:
            scores["false near"] += best_similarities(embed, [sentence, *parts], [passage_of(near[0])])
