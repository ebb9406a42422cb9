"""Evaluation metrics for paperchat: retrieval, citations, refusals, answer points, latency.

Pure functions over plain Python values (stdlib only), so they can be unit-tested against
hand-computed numbers and reused by every eval script.

Conventions shared by the retrieval metrics:

* ``ranked`` is the system's ranked list of document ids, best first.  Duplicate ids are
  collapsed to their first occurrence *before* cutting at ``k`` (a run scored by
  trec_eval / pytrec_eval holds each document once), so a repeated id neither counts twice
  nor takes up a rank.
* ``relevant`` is either a collection of relevant ids or a mapping id -> relevance grade
  (e.g. one query's BEIR qrels); in a mapping only grades > 0 count as relevant, as in
  pytrec_eval's default ``relevance_level=1`` for binary measures.
* ``k`` must be a positive integer; a ``k`` larger than the list simply uses the whole list.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation

from paperchat.rag.names import name_body

__all__ = [
    "calibration",
    "citation_precision_recall",
    "roc_auc",
    "exact_point_match",
    "hit_at_k",
    "latency_summary",
    "mean_or_none",
    "ndcg_at_k",
    "norm_title",
    "percentile",
    "precision_at_k",
    "recall_at_k",
    "reciprocal_rank",
    "refusal_rates",
]


# ---------------------------------------------------------------------------
# Retrieval
# ---------------------------------------------------------------------------


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def _dedup(ranked: Iterable[str]) -> list[str]:
    """The ranked ids with later duplicates removed (first occurrence keeps its place)."""
    seen: set[str] = set()
    out: list[str] = []
    for doc_id in ranked:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
    return out


def _relevant_set(relevant: Collection[str] | Mapping[str, int | float]) -> set[str]:
    """Relevant ids: all of a plain collection, or the ids graded > 0 in a mapping."""
    if isinstance(relevant, Mapping):
        return {doc_id for doc_id, grade in relevant.items() if grade > 0}
    return set(relevant)


def hit_at_k(ranked: Sequence[str], relevant: Collection[str] | Mapping[str, int | float], k: int) -> float:
    """Hit@k (success@k): 1.0 if any relevant id is among the top ``k`` ranked ids, else 0.0.

    No relevant ids at all gives 0.0.
    """
    _check_k(k)
    rel = _relevant_set(relevant)
    return 1.0 if any(doc_id in rel for doc_id in _dedup(ranked)[:k]) else 0.0


def recall_at_k(
    ranked: Sequence[str], relevant: Collection[str] | Mapping[str, int | float], k: int
) -> float:
    """Recall@k = |top-k ∩ relevant| / |relevant|  (BEIR / trec_eval ``recall_k``).

    Raises ValueError when there are no relevant ids (recall is undefined; such queries
    must be left out of the average, as pytrec_eval does for queries without qrels).
    """
    _check_k(k)
    rel = _relevant_set(relevant)
    if not rel:
        raise ValueError("recall_at_k: no relevant ids, recall is undefined")
    found = sum(1 for doc_id in _dedup(ranked)[:k] if doc_id in rel)
    return found / len(rel)


def precision_at_k(
    ranked: Sequence[str], relevant: Collection[str] | Mapping[str, int | float], k: int
) -> float:
    """Precision@k = |top-k ∩ relevant| / k  (trec_eval ``P_k``).

    The denominator is always ``k``, even when fewer than ``k`` ids were ranked (missing
    ranks count as non-relevant), as in trec_eval.
    """
    _check_k(k)
    rel = _relevant_set(relevant)
    found = sum(1 for doc_id in _dedup(ranked)[:k] if doc_id in rel)
    return found / k


def reciprocal_rank(ranked: Sequence[str], relevant: Collection[str] | Mapping[str, int | float]) -> float:
    """Reciprocal rank = 1 / (1-based rank of the first relevant id), 0.0 if none is ranked.

    MRR is the mean of this over queries (no cutoff; cut ``ranked`` first for MRR@k).
    """
    rel = _relevant_set(relevant)
    for rank, doc_id in enumerate(_dedup(ranked), start=1):
        if doc_id in rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: Sequence[str], relevance: Mapping[str, int | float], k: int = 10) -> float:
    """nDCG@k exactly as BEIR reports it (pytrec_eval / trec_eval ``ndcg_cut.k``).

    * DCG@k  = sum over ranks i = 1..k of  g(d_i) / log2(i + 1),
      where g(d) is the judged grade of d if it is > 0, else 0 (unjudged or grade <= 0):
      linear gain, not 2^rel - 1.
    * IDCG@k = the same sum over the ideal ordering: all grades > 0 sorted descending,
      truncated at k (judged documents the system never retrieved still count here).
    * nDCG@k = DCG@k / IDCG@k, and 0.0 when IDCG@k is 0 (no positive grade).

    Duplicate ids in ``ranked`` are collapsed to their first occurrence before cutting.
    """
    _check_k(k)
    dcg = 0.0
    for i, doc_id in enumerate(_dedup(ranked)[:k], start=1):
        grade = relevance.get(doc_id, 0)
        if grade > 0:
            dcg += grade / math.log2(i + 1)
    ideal = sorted((g for g in relevance.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 1) for i, g in enumerate(ideal, start=1))
    if idcg == 0:
        return 0.0
    return dcg / idcg


# ---------------------------------------------------------------------------
# Citations and answers
# ---------------------------------------------------------------------------


def norm_title(title: str) -> str:
    """A title for comparison: runs of whitespace collapsed to one space, trimmed, casefolded."""
    return " ".join(title.split()).casefold()


def citation_precision_recall(
    cited: Sequence[str], gold: Collection[str]
) -> tuple[float | None, float | None]:
    """Citation precision and recall of an answer, comparing titles with ``norm_title``.

    Cited titles are de-duplicated after normalising (and titles that normalise to "" are
    dropped), as are gold titles; then, with C = cited set and G = gold set:

    * precision = |C ∩ G| / |C|, or None when nothing was cited;
    * recall    = |C ∩ G| / |G|, or None when there are no gold titles.
    """
    cited_set = {t for t in map(norm_title, cited) if t}
    gold_set = {t for t in map(norm_title, gold) if t}
    hits = len(cited_set & gold_set)
    precision = hits / len(cited_set) if cited_set else None
    recall = hits / len(gold_set) if gold_set else None
    return precision, recall


def refusal_rates(items: Iterable[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """Refusal behaviour over questions, each item being (is_unanswerable, answered_not_found).

    Returns a dict with:

    * ``refusal_rate``: share of unanswerable questions answered "not found" (want high);
    * ``false_refusal_rate``: share of answerable questions answered "not found" (want low);
    * ``answer_rate``: 1 - false_refusal_rate;
    * ``n_unanswerable``, ``n_answerable``: the denominators.

    A rate whose denominator is zero is None.
    """
    n_unans = n_ans = refused_unans = refused_ans = 0
    for is_unanswerable, not_found in items:
        if is_unanswerable:
            n_unans += 1
            refused_unans += bool(not_found)
        else:
            n_ans += 1
            refused_ans += bool(not_found)
    false_refusal = refused_ans / n_ans if n_ans else None
    return {
        "refusal_rate": refused_unans / n_unans if n_unans else None,
        "false_refusal_rate": false_refusal,
        "answer_rate": 1.0 - false_refusal if false_refusal is not None else None,
        "n_unanswerable": n_unans,
        "n_answerable": n_ans,
    }


# Big-O style complexity expressions, e.g. "O(n log n)", "O(sqrt(n))", "Θ(n^2)".
_BIG_O_START = re.compile(r"(?<![A-Za-z0-9_])[OΘΩ]\s*\(")
# A word that may be a name: starts with a letter, may contain digits, joined by - or .
_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*(?:[-.][A-Za-z0-9]+)*")
# A number not glued to a preceding letter/digit/dot: 1,000 / 2.5 / .5 / 1e-5 / 42.
_NUMBER = re.compile(
    r"(?<![A-Za-z0-9_.])"
    r"(?:\d{1,3}(?:,\d{3})+(?![\d,])(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
    r"(?:[eE][-+]?\d+(?![\d.]))?"
)
# What precedes the first word of a sentence: start of text or line (maybe a bullet), or
# sentence punctuation (maybe closing quotes/brackets) and whitespace.
_SENTENCE_END = re.compile(r"(?:(?:^|\n)\s*(?:(?:[-*•]|\d+[.)])\s+)?|[.!?:;][\"')\]]*\s+)[\"'(\[]*$")


def _big_o_spans(text: str) -> list[tuple[int, int]]:
    """Spans of big-O expressions, matching nested parentheses."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while (m := _BIG_O_START.search(text, pos)) is not None:
        depth, i = 0, m.end() - 1
        while i < len(text):
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if depth != 0:  # unbalanced: not an expression
            pos = m.end()
            continue
        spans.append((m.start(), i + 1))
        pos = i + 1
    return spans


def _norm_big_o(expr: str) -> str:
    return "".join(expr.split()).casefold()


def _is_name(word: str, start: int, text: str) -> bool:
    """Whether a word looks like a name or acronym (see ``exact_point_match``)."""
    if not word[0].isupper() and not any(c.isupper() for c in word[1:]):
        return False  # all lower case
    if any(c.isupper() for c in word[1:]):
        return True  # acronym or camel case: BERT, LoRA, RoBERTa, GPT-4, iPhone
    # Starts with a capital, rest lower case (plus digits/hyphens).
    if any(c.isdigit() for c in word):
        return True  # T5-style: Llama-2, Mistral7
    if len(word) < 2:
        return False  # "A", "I"
    return _SENTENCE_END.search(text[:start]) is None  # not the first word of a sentence


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _numbers(text: str) -> set[Decimal]:
    out: set[Decimal] = set()
    for m in _NUMBER.finditer(text):
        try:
            out.add(Decimal(m.group().replace(",", "")))
        except InvalidOperation:  # pragma: no cover - the regex only admits valid numbers
            continue
    return out


def _name_pattern(name: str) -> re.Pattern[str]:
    """The name as written (no plural, unlike the chain's `name_pattern`): an answer point's name must be exact."""
    return re.compile(r"(?<![A-Za-z0-9])" + name_body(name) + r"(?![A-Za-z0-9]|\.\d)", re.IGNORECASE)


def exact_point_match(point: str, answer: str) -> bool | None:
    """Whether an answer contains the exact facts (numbers, names) of an expected answer point.

    Tokens are taken from ``point``:

    * big-O expressions such as "O(sqrt(n))", "O(n log n)" (also Θ/Ω), compared with all
      whitespace removed, case-insensitively, against the big-O expressions of the answer;
    * names/acronyms: a word (letters/digits joined by "-" or ".") that has a capital after
      its first letter ("LoRA", "BERT", "GPT-4", "iPhone"), or starts with a capital and
      contains a digit ("Llama-2", "T5"), or starts with a capital, is at least two letters
      long and is not the first word of a sentence ("... by Vaswani et al.").  A name
      matches case-insensitively as a whole word; a hyphen in it may be a space or nothing
      in the answer ("GPT-4" matches "gpt 4" and "GPT4", not "GPT-4o" or "GPT-4.5");
    * numbers outside those: "18", "2.5", ".5", "1,000", "1e-5", compared by value after
      removing thousands commas, so "1,000" == "1000" and "2.50" == "2.5".  Signs, "%",
      "x" and other units are ignored: "18%" matches "18 %", "18 percent" or "18";
      "2.5x" matches "2.5 times".  A number glued to a preceding letter ("v2", "e5") is
      part of a word, not a number.  Spelled-out numbers ("three") are not tokens.

    Returns True if every token is found in ``answer``, False if any is missing, and None
    when the point has no such token (the caller then falls back to semantic similarity).
    """
    o_spans = _big_o_spans(point)
    big_os = {_norm_big_o(point[a:b]) for a, b in o_spans}
    rest = _blank(point, o_spans)

    names: set[str] = set()
    name_spans: list[tuple[int, int]] = []
    for m in _WORD.finditer(rest):
        if _is_name(m.group(), m.start(), rest):
            names.add(m.group())
            name_spans.append(m.span())
    numbers = _numbers(_blank(rest, name_spans))

    if not (big_os or names or numbers):
        return None

    answer_o_spans = _big_o_spans(answer)
    if big_os - {_norm_big_o(answer[a:b]) for a, b in answer_o_spans}:
        return False
    if any(_name_pattern(name).search(answer) is None for name in names):
        return False
    return numbers <= _numbers(_blank(answer, answer_o_spans))


# ---------------------------------------------------------------------------
# Latency and aggregation
# ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0 <= q <= 100) with linear interpolation, as numpy's default.

    With the values sorted as v[0] <= ... <= v[n-1], position h = (n - 1) * q / 100 and
    result = v[floor(h)] + (h - floor(h)) * (v[floor(h) + 1] - v[floor(h)]).
    Raises ValueError for an empty sequence or q outside [0, 100].
    """
    if not values:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be in [0, 100], got {q!r}")
    v = sorted(values)
    h = (len(v) - 1) * q / 100
    lo = math.floor(h)
    if lo + 1 >= len(v):
        return float(v[-1])
    return float(v[lo] + (h - lo) * (v[lo + 1] - v[lo]))


def latency_summary(ms: Sequence[float]) -> dict[str, float | int | None]:
    """Summary of latencies in milliseconds: ``p50``, ``p95`` (``percentile``), ``mean``, ``max``, ``n``.

    For no measurements, ``n`` is 0 and the other values are None.
    """
    if not ms:
        return {"p50": None, "p95": None, "mean": None, "max": None, "n": 0}
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "mean": math.fsum(ms) / len(ms),
        "max": float(max(ms)),
        "n": len(ms),
    }


def mean_or_none(values: Iterable[float | None]) -> float | None:
    """Arithmetic mean of the values that are not None; None if there are none."""
    kept = [v for v in values if v is not None]
    return math.fsum(kept) / len(kept) if kept else None


# ---------------------------------------------------------------------------
# The answer gate's calibration
# ---------------------------------------------------------------------------


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve: the chance that a random positive scores above a random negative (ties
    count half), the Mann-Whitney statistic. None without both classes."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    ranked = sorted(zip(scores, labels, strict=True), key=lambda sy: sy[0])
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        mid_rank = (i + 1 + j) / 2  # 1-based average rank of the tie group
        rank_sum += mid_rank * sum(1 for _, y in ranked[i:j] if y)
        i = j
    return (rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))


def calibration(pairs: Sequence[tuple[float, bool]], bins: int = 10,
                thresholds: Sequence[float] = tuple(t / 20 for t in range(21))) -> dict:
    """How well the gate's confidence (probability that the question is answerable) is calibrated.

    ``pairs`` are (confidence, is_answerable). Returns the reliability diagram (per bin of predicted
    probability: mean predicted, observed share answerable, count), the Brier score, ROC AUC, and for each
    threshold t (answer when confidence >= t) the refusal rate on unanswerable and the false-refusal rate
    on answerable questions. Empty dict without pairs.
    """
    if not pairs:
        return {}
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(c, y) for c, y in pairs if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        rows.append({"lo": lo, "hi": hi, "n": len(inside),
                     "predicted": math.fsum(c for c, _ in inside) / len(inside) if inside else None,
                     "observed": sum(y for _, y in inside) / len(inside) if inside else None})
    curve = []
    for t in thresholds:
        rates = refusal_rates((not y, c < t) for c, y in pairs)
        curve.append({"threshold": t, "refusal_rate": rates["refusal_rate"],
                      "false_refusal_rate": rates["false_refusal_rate"]})
    return {"n": len(pairs), "brier": math.fsum((c - y) ** 2 for c, y in pairs) / len(pairs),
            "roc_auc": roc_auc([c for c, _ in pairs], [y for _, y in pairs]), "bins": rows, "thresholds": curve}
