"""Tests for evals.metrics and evals.beir_data, on hand-computed fixtures and the real SciFact."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from paperchat.evals.beir_data import load_qrels, load_queries, split_queries
from paperchat.evals.metrics import (
    citation_precision_recall,
    exact_point_match,
    hit_at_k,
    latency_summary,
    mean_or_none,
    ndcg_at_k,
    norm_title,
    percentile,
    precision_at_k,
    recall_at_k,
    reciprocal_rank,
    refusal_rates,
)

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "scifact"
INV_LOG2_3 = 1 / math.log2(3)  # discount at rank 2 = 0.6309297535714575

# ---------------------------------------------------------------------------
# hit / recall / precision / reciprocal rank
# ---------------------------------------------------------------------------

RANKED = ["a", "b", "c", "d"]
RELEVANT = {"b", "d", "e"}  # "e" is relevant but never retrieved


@pytest.mark.parametrize(("k", "expected"), [(1, 0.0), (2, 1.0), (4, 1.0), (10, 1.0)])
def test_hit_at_k(k: int, expected: float) -> None:
    # top-1 = [a] has no relevant id; from k=2 on "b" is in.
    assert hit_at_k(RANKED, RELEVANT, k) == expected


@pytest.mark.parametrize(("k", "expected"), [(1, 0 / 3), (2, 1 / 3), (3, 1 / 3), (4, 2 / 3), (100, 2 / 3)])
def test_recall_at_k(k: int, expected: float) -> None:
    # |relevant| = 3; b enters at rank 2, d at rank 4; e is never found, so recall caps at 2/3.
    assert recall_at_k(RANKED, RELEVANT, k) == pytest.approx(expected)


@pytest.mark.parametrize(("k", "expected"), [(1, 0 / 1), (2, 1 / 2), (3, 1 / 3), (4, 2 / 4), (10, 2 / 10)])
def test_precision_at_k(k: int, expected: float) -> None:
    # Denominator is always k (trec_eval P_k): at k=10 only 4 ids were ranked, 2 relevant -> 2/10.
    assert precision_at_k(RANKED, RELEVANT, k) == pytest.approx(expected)


def test_reciprocal_rank() -> None:
    assert reciprocal_rank(RANKED, RELEVANT) == 0.5  # first relevant "b" at rank 2 -> 1/2
    assert reciprocal_rank(["x", "y", "z", "b"], RELEVANT) == 0.25  # rank 4 -> 1/4
    assert reciprocal_rank(["b"], RELEVANT) == 1.0
    assert reciprocal_rank(["x", "y"], RELEVANT) == 0.0  # none found
    # MRR is the plain mean: (1/2 + 1/4 + 0) / 3 = 0.25
    assert mean_or_none([0.5, 0.25, 0.0]) == 0.25


def test_empty_ranked_list() -> None:
    assert hit_at_k([], RELEVANT, 5) == 0.0
    assert recall_at_k([], RELEVANT, 5) == 0.0
    assert precision_at_k([], RELEVANT, 5) == 0.0
    assert reciprocal_rank([], RELEVANT) == 0.0
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0


def test_no_relevant() -> None:
    assert hit_at_k(RANKED, set(), 3) == 0.0
    assert precision_at_k(RANKED, set(), 3) == 0.0
    assert reciprocal_rank(RANKED, set()) == 0.0
    with pytest.raises(ValueError, match="no relevant"):
        recall_at_k(RANKED, set(), 3)
    with pytest.raises(ValueError, match="no relevant"):
        recall_at_k(RANKED, {"a": 0, "b": -1}, 3)  # graded, but nothing > 0


def test_graded_mapping_counts_only_positive_grades() -> None:
    qrels = {"b": 1, "d": 0, "z": 2}  # relevant = {b, z}; d is judged non-relevant
    assert recall_at_k(RANKED, qrels, 4) == pytest.approx(1 / 2)  # b found, z not
    assert precision_at_k(RANKED, qrels, 4) == pytest.approx(1 / 4)
    assert hit_at_k(["d"], qrels, 1) == 0.0
    assert reciprocal_rank(["d", "a", "z"], qrels) == pytest.approx(1 / 3)


def test_duplicates_count_once_and_take_no_rank() -> None:
    # [a, a, b] is scored as [a, b]: b sits at rank 2.
    assert hit_at_k(["a", "a", "b"], {"b"}, 2) == 1.0
    assert recall_at_k(["a", "a", "b"], {"b"}, 2) == 1.0
    assert precision_at_k(["a", "a", "b"], {"b"}, 2) == 0.5
    assert reciprocal_rank(["a", "a", "b"], {"b"}) == 0.5
    # A relevant id repeated is one hit, not two: [b, b] -> 1/2 at k=2, recall 1 (not 2).
    assert precision_at_k(["b", "b"], {"b"}, 2) == 0.5
    assert recall_at_k(["b", "b", "b"], {"b", "c"}, 3) == 0.5


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k(k: object) -> None:
    for fn in (hit_at_k, recall_at_k, precision_at_k):
        with pytest.raises(ValueError, match="k must be"):
            fn(RANKED, RELEVANT, k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(RANKED, {"a": 1}, k)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# nDCG (BEIR / trec_eval ndcg_cut: linear gain, log2(i+1) discount)
# ---------------------------------------------------------------------------


def test_ndcg_brief_example() -> None:
    # ranked [a, b, c], rel {a: 1, c: 2}, k=3:
    # DCG  = 1/log2(2) + 0/log2(3) + 2/log2(4) = 1 + 0 + 1 = 2
    # IDCG = 2/log2(2) + 1/log2(3) = 2 + 0.6309297 = 2.6309297
    # nDCG = 2 / 2.6309297 = 0.7601875
    expected = (1 / 1 + 2 / 2) / (2 / 1 + INV_LOG2_3)
    assert expected == pytest.approx(0.7601875, abs=1e-7)
    assert ndcg_at_k(["a", "b", "c"], {"a": 1, "c": 2}, k=3) == pytest.approx(expected)


def test_ndcg_cutoffs() -> None:
    rel = {"a": 1, "c": 2}
    # k=1: DCG = 1;  IDCG = 2 (ideal top-1 is the grade-2 doc)       -> 0.5
    assert ndcg_at_k(["a", "b", "c"], rel, k=1) == pytest.approx(0.5)
    # k=2: DCG = 1 + 0;  IDCG = 2 + 1/log2(3)                          -> 1 / 2.6309297 = 0.3800938
    assert ndcg_at_k(["a", "b", "c"], rel, k=2) == pytest.approx(1 / (2 + INV_LOG2_3))
    # k=10 > len(list): same as k=3
    assert ndcg_at_k(["a", "b", "c"], rel, k=10) == pytest.approx(2 / (2 + INV_LOG2_3))
    # default k is 10
    assert ndcg_at_k(["a", "b", "c"], rel) == ndcg_at_k(["a", "b", "c"], rel, k=10)


def test_ndcg_perfect_and_zero() -> None:
    assert ndcg_at_k(["c", "a", "b"], {"a": 1, "c": 2}, k=3) == pytest.approx(1.0)  # ideal order
    assert ndcg_at_k(["x", "y"], {"a": 1}, k=10) == 0.0  # nothing relevant retrieved
    assert ndcg_at_k(["a", "b"], {}, k=10) == 0.0  # IDCG = 0 -> 0
    assert ndcg_at_k(["a", "b"], {"a": 0, "b": 0}, k=10) == 0.0  # only grade-0 judgements


def test_ndcg_linear_not_exponential_gain() -> None:
    # ranked [a, b], rel {a: 1, b: 3}, k=2
    # linear:      DCG = 1 + 3/log2(3) = 2.8927893;  IDCG = 3 + 1/log2(3) = 3.6309298  -> 0.7967076
    # exponential (2^r - 1) would give (1 + 7/log2(3)) / (7 + 1/log2(3)) = 0.7098097; must not.
    linear = (1 + 3 * INV_LOG2_3) / (3 + INV_LOG2_3)
    assert linear == pytest.approx(0.7967076, abs=1e-7)
    assert ndcg_at_k(["a", "b"], {"a": 1, "b": 3}, k=2) == pytest.approx(linear)


def test_ndcg_unretrieved_judged_docs_lower_the_score() -> None:
    # ranked [a], rel {a: 1, x: 1}, k=10: DCG = 1, IDCG = 1 + 1/log2(3) = 1.6309  -> 0.6131472
    assert ndcg_at_k(["a"], {"a": 1, "x": 1}, k=10) == pytest.approx(1 / (1 + INV_LOG2_3))
    # ...but the ideal list is cut at k: k=1 -> IDCG = 1 -> 1.0
    assert ndcg_at_k(["a"], {"a": 1, "x": 1, "y": 1}, k=1) == pytest.approx(1.0)


def test_ndcg_nonpositive_grades_give_no_gain() -> None:
    # ranked [b, a, c], rel {b: -1, a: 0, c: 1}, k=3: DCG = 1/log2(4) = 0.5; IDCG = 1 -> 0.5
    assert ndcg_at_k(["b", "a", "c"], {"b": -1, "a": 0, "c": 1}, k=3) == pytest.approx(0.5)


def test_ndcg_duplicates_count_once() -> None:
    # [b, b, a] is scored as [b, a]; rel {a: 1}, k=2: DCG = 1/log2(3); IDCG = 1 -> 0.6309298
    assert ndcg_at_k(["b", "b", "a"], {"a": 1}, k=2) == pytest.approx(INV_LOG2_3)
    # a relevant doc repeated gains once: [a, a], rel {a: 1, c: 1}, k=2:
    # DCG = 1 (not 1 + 1/log2(3)); IDCG = 1 + 1/log2(3) -> 0.6131472
    assert ndcg_at_k(["a", "a"], {"a": 1, "c": 1}, k=2) == pytest.approx(1 / (1 + INV_LOG2_3))


def test_ndcg_float_grades() -> None:
    # ranked [a, b], rel {a: 0.5, b: 1.5}, k=2: DCG = 0.5 + 1.5/log2(3); IDCG = 1.5 + 0.5/log2(3)
    expected = (0.5 + 1.5 * INV_LOG2_3) / (1.5 + 0.5 * INV_LOG2_3)
    assert ndcg_at_k(["a", "b"], {"a": 0.5, "b": 1.5}, k=2) == pytest.approx(expected)


def _ndcg_reference(ranked: list[str], rel: dict[str, int], k: int) -> float:
    """Independent nDCG@k: gain vectors and a numpy dot product with 1/log2(rank+1)."""
    unique = list(dict.fromkeys(ranked))[:k]
    gains = np.array([max(rel.get(d, 0), 0) for d in unique], dtype=float)
    ideal = np.sort(np.array([g for g in rel.values() if g > 0], dtype=float))[::-1][:k]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    idcg = float(ideal @ disc[: len(ideal)])
    return float(gains @ disc[: len(gains)]) / idcg if idcg > 0 else 0.0


@pytest.mark.parametrize("seed", range(8))
def test_ndcg_matches_independent_computation(seed: int) -> None:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(30)]
    for _ in range(50):
        judged = rng.sample(docs, rng.randint(0, 8))
        rel = {d: rng.choice([-1, 0, 1, 1, 2, 3]) for d in judged}
        ranked = [rng.choice(docs) for _ in range(rng.randint(0, 25))]  # may repeat ids
        k = rng.choice([1, 3, 5, 10, 20, 100])
        assert ndcg_at_k(ranked, rel, k) == pytest.approx(_ndcg_reference(ranked, rel, k), abs=1e-12)


# ---------------------------------------------------------------------------
# Citations and refusals
# ---------------------------------------------------------------------------


def test_norm_title() -> None:
    assert norm_title("  Deep\tResidual\n Learning  ") == "deep residual learning"
    assert norm_title("Attention Is All You Need") == norm_title("attention is  all you need")
    assert norm_title("Straße") == "strasse"  # casefold, not just lower
    assert norm_title("   ") == ""


def test_citation_precision_recall() -> None:
    cited = ["Attention Is All You Need", " attention is  all you need", "BERT: Pre-training"]
    gold = {"Attention is all you need", "Deep Residual Learning"}
    # cited de-duplicated -> {attention..., bert...} (2); gold 2; overlap 1 -> P = 1/2, R = 1/2
    assert citation_precision_recall(cited, gold) == (0.5, 0.5)
    # all three gold cited plus one wrong: P = 3/4, R = 3/3
    assert citation_precision_recall(["A", "b", "C", "x"], ["a", "B", "c"]) == (0.75, 1.0)


def test_citation_edge_cases() -> None:
    assert citation_precision_recall([], ["A"]) == (None, 0.0)  # nothing cited
    assert citation_precision_recall(["A"], []) == (0.0, None)  # no gold
    assert citation_precision_recall([], []) == (None, None)
    assert citation_precision_recall(["  ", ""], ["A"]) == (None, 0.0)  # blank titles dropped
    assert citation_precision_recall(["X", "Y"], ["A"]) == (0.0, 0.0)


def test_refusal_rates() -> None:
    unanswerable = [(True, True), (True, False), (True, True)]  # 2 of 3 refused -> 2/3
    answerable = [(False, False), (False, True), (False, False), (False, False)]  # 1 of 4 -> 1/4
    items = unanswerable + answerable
    out = refusal_rates(items)
    assert out["refusal_rate"] == pytest.approx(2 / 3)
    assert out["false_refusal_rate"] == 0.25
    assert out["answer_rate"] == 0.75  # 1 - 1/4
    assert (out["n_unanswerable"], out["n_answerable"]) == (3, 4)


def test_refusal_rates_zero_denominators() -> None:
    assert refusal_rates([]) == {
        "refusal_rate": None,
        "false_refusal_rate": None,
        "answer_rate": None,
        "n_unanswerable": 0,
        "n_answerable": 0,
    }
    only_answerable = refusal_rates(iter([(False, False), (False, False)]))  # any iterable
    assert only_answerable["refusal_rate"] is None
    assert only_answerable["false_refusal_rate"] == 0.0
    assert only_answerable["answer_rate"] == 1.0
    only_unanswerable = refusal_rates([(True, True)])
    assert only_unanswerable["refusal_rate"] == 1.0
    assert only_unanswerable["false_refusal_rate"] is None
    assert only_unanswerable["answer_rate"] is None


# ---------------------------------------------------------------------------
# exact_point_match
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "answer", "expected"),
    [
        # percent, attached or not
        ("Accuracy improved by 18%", "accuracy rose by 18% overall", True),
        ("Accuracy improved by 18%", "accuracy rose by 18 % overall", True),
        ("Accuracy improved by 18%", "an 18 percent improvement", True),
        ("Accuracy improved by 18%", "it improved by 81%", False),
        ("Accuracy improved by 18%", "it improved by 18.5%", False),
        # decimals and multipliers
        ("A 2.5x speedup", "runs 2.5 times faster", True),
        ("A 2.5x speedup", "runs 2.5× faster", True),
        ("A 2.5x speedup", "runs 25x faster", False),
        ("A 2.5x speedup", "runs 2x faster", False),
        ("Dropout of 0.5", "dropout .5", True),
        ("Loss of 2.50", "loss 2.5", True),
        ("Learning rate 1e-5", "a learning rate of 0.00001", True),
        # thousands separators
        ("Trained on 1,000 examples", "trained on 1000 examples", True),
        ("Trained on 1000 examples", "trained on 1,000 examples", True),
        ("Trained on 1,000 examples", "trained on 10,000 examples", False),
        ("Costs 1,234,567.5 units", "costs 1234567.5", True),
        # big-O
        ("Complexity is O(sqrt(n))", "it runs in O( sqrt(n) ) time", True),
        ("Complexity is O(sqrt(n))", "it runs in O(n) time", False),
        ("Sorting takes O(n log n)", "sorting is O(nlogn)", True),
        # names / acronyms
        ("The method uses LoRA adapters", "adapters via LoRA", True),
        ("The method uses LoRA adapters", "adapters via lora", True),  # case-insensitive
        ("The method uses LoRA adapters", "adapters via QLoRA", False),  # whole word only
        ("Builds on BERT", "builds on RoBERTa", False),
        ("Compared with GPT-4", "compared with GPT-4 and others", True),
        ("Compared with GPT-4", "compared with gpt 4", True),
        ("Compared with GPT-4", "compared with GPT4", True),
        ("Compared with GPT-4", "compared with GPT-4o", False),
        ("Compared with GPT-4", "compared with GPT-4.5", False),
        ("Compared with GPT-4", "compared with GPT-3", False),
        ("Proposed by Vaswani et al.", "vaswani and colleagues proposed it", True),
        ("Proposed by Vaswani et al.", "Shazeer proposed it", False),
        ("Llama 2 has 7B parameters", "Llama-2 has 7 billion parameters", True),
        # every token is required
        ("LoRA cuts memory 3x", "LoRA cuts memory a lot", False),
        ("LoRA cuts memory 3x", "memory is cut 3x", False),
        ("LoRA cuts memory 3x", "With LoRA, memory falls 3x.", True),
        # no number / name token -> None (caller uses embeddings)
        ("The method is simple and effective", "it is simple", None),
        ("Attention helps. Transformers scale well.", "yes", None),  # sentence-initial capitals
        ("- Results improve on average", "yes", None),  # bullet start is a sentence start
        ("e5-small-v2 works well", "anything", None),  # lowercase word with digits: no token
        ("Three datasets were used", "3 datasets", None),  # spelled-out numbers are not tokens
        ("", "anything", None),
    ],
)
def test_exact_point_match(point: str, answer: str, expected: bool | None) -> None:
    assert exact_point_match(point, answer) is expected


# ---------------------------------------------------------------------------
# percentile, latency, means
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (0, 1.0),
        (50, 2.5),  # h = 3 * 0.50 = 1.5  -> 2 + 0.5 * (3 - 2)
        (95, 3.85),  # h = 3 * 0.95 = 2.85 -> 3 + 0.85 * (4 - 3)
        (100, 4.0),
        (25, 1.75),  # h = 0.75 -> 1 + 0.75 * (2 - 1)
    ],
)
def test_percentile_hand(q: float, expected: float) -> None:
    assert percentile([4, 1, 3, 2], q) == pytest.approx(expected)  # unsorted input


def test_percentile_matches_numpy() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.uniform(0, 1000) for _ in range(rng.randint(1, 40))]
        q = rng.choice([0, 1, 5, 50, 90, 95, 99, 100, rng.uniform(0, 100)])
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-12, abs=1e-9)


def test_percentile_errors_and_single() -> None:
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], 101)
    with pytest.raises(ValueError, match="q must be"):
        percentile([1.0], -1)


def test_latency_summary() -> None:
    # sorted [100, 200, 300, 400, 1000]; p50: h = 4*0.5 = 2 -> 300;
    # p95: h = 4*0.95 = 3.8 -> 400 + 0.8*(1000-400) = 880; mean = 2000/5 = 400
    out = latency_summary([300, 100, 1000, 200, 400])
    assert out == {"p50": 300.0, "p95": pytest.approx(880.0), "mean": 400.0, "max": 1000.0, "n": 5}
    assert latency_summary([]) == {"p50": None, "p95": None, "mean": None, "max": None, "n": 0}


def test_mean_or_none() -> None:
    assert mean_or_none([1.0, None, 2.0]) == 1.5  # (1 + 2) / 2, None skipped
    assert mean_or_none([0.0]) == 0.0
    assert mean_or_none([None, None]) is None
    assert mean_or_none([]) is None
    assert mean_or_none(x for x in [0.1] * 10) == pytest.approx(0.1)


# ---------------------------------------------------------------------------
# BEIR loaders
# ---------------------------------------------------------------------------


def _beir(tmp_path: Path, queries: str, qrels: dict[str, str]) -> Path:
    (tmp_path / "qrels").mkdir()
    (tmp_path / "queries.jsonl").write_text(queries, encoding="utf-8")
    for split, text in qrels.items():
        (tmp_path / "qrels" / f"{split}.tsv").write_text(text, encoding="utf-8", newline="")
    return tmp_path


QUERIES = (
    '{"_id": "1", "text": "first"}\n'
    "\n"  # blank line skipped
    '{"_id": "2", "text": "second", "metadata": {}}\n'
    '{"_id": 3, "text": "third"}\n'
)
HEADER = "query-id\tcorpus-id\tscore\n"


def test_tiny_beir_folder(tmp_path: Path) -> None:
    folder = _beir(
        tmp_path,
        QUERIES,
        {
            "test": HEADER + "3\tdocA\t1\n3\tdocB\t2\n\n1\tdocA\t0\n",
            "train": HEADER + "2\tdocC\t1\r\n",  # CRLF tolerated
        },
    )
    assert load_queries(folder) == {"1": "first", "2": "second", "3": "third"}  # int _id -> "3"
    assert load_qrels(folder, "test") == {"3": {"docA": 1, "docB": 2}, "1": {"docA": 0}}  # score 0 kept
    assert load_qrels(str(folder), "train") == {"2": {"docC": 1}}
    assert list(split_queries(folder, "test")) == ["1", "3"]  # queries.jsonl order
    assert split_queries(folder, "train") == {"2": "second"}


@pytest.mark.parametrize(
    ("queries", "message"),
    [
        ('{"_id": "1", "text": "a"}\n{"_id": "2", "text": \n', r"queries\.jsonl:2: invalid JSON"),
        ('["not", "an", "object"]\n', r"queries\.jsonl:1: expected a JSON object"),
        ('{"text": "no id"}\n', r"queries\.jsonl:1: missing or non-string '_id'"),
        ('{"_id": "1"}\n', r"queries\.jsonl:1: query '1' has a missing or non-string 'text'"),
        (
            '{"_id": "1", "text": "a"}\n{"_id": "1", "text": "b"}\n',
            r"queries\.jsonl:2: duplicate query id '1'",
        ),
    ],
)
def test_load_queries_errors(tmp_path: Path, queries: str, message: str) -> None:
    folder = _beir(tmp_path, queries, {})
    with pytest.raises(ValueError, match=message):
        load_queries(folder)


@pytest.mark.parametrize(
    ("qrels", "message"),
    [
        ("1\tdocA\t1\n", r"test\.tsv:1: expected header"),
        (HEADER + "1\tdocA\t1\n1 docB 1\n", r"test\.tsv:3: expected 3 tab-separated fields, got 1"),
        (HEADER + "1\tdocA\t1\textra\n", r"test\.tsv:2: expected 3 tab-separated fields, got 4"),
        (HEADER + "1\tdocA\thigh\n", r"test\.tsv:2: score is not an integer: 'high'"),
        (HEADER + "1\tdocA\t0.5\n", r"test\.tsv:2: score is not an integer"),
        (HEADER + "\tdocA\t1\n", r"test\.tsv:2: empty query-id or corpus-id"),
        (HEADER + "1\tdocA\t1\n1\tdocA\t2\n", r"test\.tsv:3: duplicate judgement for query '1', doc 'docA'"),
    ],
)
def test_load_qrels_errors(tmp_path: Path, qrels: str, message: str) -> None:
    folder = _beir(tmp_path, QUERIES, {"test": qrels})
    with pytest.raises(ValueError, match=message):
        load_qrels(folder, "test")


def test_split_queries_unknown_query_and_bad_split(tmp_path: Path) -> None:
    folder = _beir(tmp_path, QUERIES, {"test": HEADER + "1\tdocA\t1\n99\tdocA\t1\n"})
    with pytest.raises(ValueError, match=r"test\.tsv: 1 query ids not in queries\.jsonl: 99"):
        split_queries(folder, "test")
    with pytest.raises(ValueError, match="invalid split name"):
        load_qrels(folder, "../test")
    with pytest.raises(FileNotFoundError):
        load_qrels(folder, "dev")


needs_scifact = pytest.mark.skipif(not SCIFACT.is_dir(), reason="SciFact benchmark not available")


@needs_scifact
def test_real_scifact() -> None:
    queries = load_queries(SCIFACT)
    assert len(queries) == 1109
    assert queries["0"] == "0-dimensional biomaterials lack inductive properties."
    test_q = split_queries(SCIFACT, "test")
    train_q = split_queries(SCIFACT, "train")
    assert len(test_q) == 300
    assert len(train_q) == 809
    assert not set(test_q) & set(train_q)
    assert set(test_q) | set(train_q) == set(queries)
    test_qrels, train_qrels = load_qrels(SCIFACT, "test"), load_qrels(SCIFACT, "train")
    assert sum(map(len, test_qrels.values())) == 339  # README: 339 relevance rows
    assert sum(map(len, train_qrels.values())) == 919
    assert {s for judged in test_qrels.values() for s in judged.values()} == {1}
    # a perfect run scores 1.0 on every test query
    for judged in test_qrels.values():
        assert ndcg_at_k(list(judged), judged, 10) == pytest.approx(1.0)
        assert recall_at_k(list(judged), judged, 100) == 1.0
