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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from paperchat.evals.metrics import exact_point_match
from paperchat.rag.grounding import (  # noqa: F401  (re-exported: the evals' public API)
    THRESHOLD,
    Embed,
    EvidenceLookup,
    SentenceSupport,
    _is_embed,
    answer_sentences,
    best_similarities,
    embed_fn,
    grounded_sentences,
    strip_markers,
)

#: Answer point vs the best answer sentence (points without numbers or names): covered at or above this.
POINT_THRESHOLD = 0.42

#: Random other papers per claim in calibration (more pairs, a steadier threshold).
RANDOM_NEGATIVES = 3

def groundedness(supports: Sequence[SentenceSupport]) -> float | None:
    """Share of answer sentences that are supported; None for an answer without sentences."""
    return sum(s.supported for s in supports) / len(supports) if supports else None


class PointResult(NamedTuple):
    point: str
    covered: bool
    method: str  # "exact" (numbers, names), "verbatim" (said word for word) or "similarity"
    score: float | None


def _plain(text: str) -> str:
    """Lower case, one space between words, every dash a hyphen: what 'word for word' compares."""
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text.lower())
    words = re.findall(r"[\w%+-]+(?:\.[\w%+-]+)*", text)
    return f" {' '.join(words)} " if words else ""


def point_coverage(points: Sequence[str], answer_text: Any, embedder: Any,
                   threshold: float = POINT_THRESHOLD) -> list[PointResult]:
    """Each answer point checked against the answer: exact match of its numbers and names when it has
    any (evals.metrics.exact_point_match); else covered when the answer says it word for word (case,
    spacing and dashes aside), else the best sentence similarity reaching ``threshold``. (A short point
    quoted inside a long sentence scores low on similarity: "programmable motorized dolly" in the
    sentence that says it scored 0.41.)"""
    text = getattr(answer_text, "answer", answer_text)
    clean = strip_markers(text)
    exact = {p: exact_point_match(p, clean) for p in points}
    said = _plain(clean)
    verbatim = {p for p in points if exact[p] is None and (plain := _plain(p)) and plain in said}
    fuzzy = [p for p in points if exact[p] is None and p not in verbatim]
    scores: dict[str, float] = {}
    if fuzzy and clean:
        embed = embedder if _is_embed(embedder) else embed_fn(embedder)
        sentences = [s for s, _ in answer_sentences(text)] or [clean]
        scores = dict(zip(fuzzy, best_similarities(embed, fuzzy, sentences), strict=True))
    results: list[PointResult] = []
    for point in points:
        if exact[point] is not None:
            results.append(PointResult(point, bool(exact[point]), "exact", None))
        elif point in verbatim:
            results.append(PointResult(point, True, "verbatim", None))
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
