"""Groundedness and answer-point coverage on hand-computed cosine similarities.

The embedder gives every distinct word its own axis (a bag of words without collisions), so the
cosine of two texts is exact: |shared words| / sqrt(|words a| * |words b|) for texts without
repeated words.
"""

from __future__ import annotations

import math

import pytest
from conftest import FakeEmbeddings

from paperchat.evals.grounding import (
    POINT_THRESHOLD,
    THRESHOLD,
    SentenceSupport,
    answer_sentences,
    choose_threshold,
    clauses,
    embed_fn,
    grounded_sentences,
    groundedness,
    point_coverage,
    separation,
    strip_markers,
)
from paperchat.rag.extractive import SentenceCache
from paperchat.rag.types import Answer, Citation

PASSAGE_1 = "Alpha beta gamma delta. Epsilon zeta eta theta iota kappa lambda mu."
PASSAGE_2 = "Red green blue yellow. Cyan magenta black white."


@pytest.fixture
def emb():
    return FakeEmbeddings("vocab", 512)


# ------------------------------------------------------------------------------------ sentences


def test_answer_sentences_reads_the_offline_layout():
    text = ("**A Title: With Colon**: First claim here. [1] Second claim, e.g. with an abbreviation. [1]\n"
            "- **Other Paper**: Third claim [2][3]. Fourth claim [1, 2].\n"
            "1. **Numbered**: Fifth claim without a marker.")
    assert answer_sentences(text) == [
        ("First claim here.", [1]),
        ("Second claim, e.g. with an abbreviation.", [1]),
        ("Third claim.", [2, 3]),
        ("Fourth claim.", [1, 2]),
        ("Fifth claim without a marker.", []),
    ]


def test_answer_sentences_llm_style_markers_and_blank_lines():
    text = "GaLore saves memory [1]. It allows full-parameter learning [1][2].\n\nNo marker here."
    assert answer_sentences(text) == [
        ("GaLore saves memory.", [1]),
        ("It allows full-parameter learning.", [1, 2]),
        ("No marker here.", []),
    ]


def test_strip_markers():
    assert strip_markers("**T**: Up to 30% [1]. And 2 [2][3] more [4, 5].") == "T: Up to 30%. And 2 more."


# ------------------------------------------------------------------------------------ groundedness


def test_grounded_sentences_exact_scores(emb):
    # "alpha beta gamma delta" is sentence 1 of passage 1 verbatim: 1.0.
    # "alpha beta red" vs passage 1: 2 shared of 3 and 4 words -> 2/sqrt(12); vs passage 2: 1/sqrt(12).
    # "unrelated words only" shares nothing with passage 2: 0.0.
    text = ("**P**: Alpha beta gamma delta. [1] Alpha beta red. [1][2] Unrelated words only. [2] "
            "Cites nothing. Cites a missing passage. [7]")
    rows = grounded_sentences(text, {1: PASSAGE_1, 2: PASSAGE_2}, emb, threshold=0.5)
    assert rows == [
        SentenceSupport("Alpha beta gamma delta.", 1, 1.0, True),
        SentenceSupport("Alpha beta red.", 1, round(2 / math.sqrt(12), 4), True),
        SentenceSupport("Unrelated words only.", 2, 0.0, False),
        SentenceSupport("Cites nothing.", None, None, False),
        SentenceSupport("Cites a missing passage.", 7, None, False),
    ]
    assert groundedness(rows) == pytest.approx(2 / 5)


def test_threshold_is_inclusive_and_configurable(emb):
    # 4 shared words of 4 and 8: 4 / sqrt(32) = 0.7071
    passage = "One two three four five six seven eight."
    score = 4 / math.sqrt(32)
    at = grounded_sentences("One two three four. [1]", {1: passage}, emb, threshold=round(score, 4) - 1e-6)
    above = grounded_sentences("One two three four. [1]", {1: passage}, emb, threshold=score + 1e-6)
    assert at[0].supported and not above[0].supported
    assert at[0].score == pytest.approx(score, abs=1e-4)


def test_grounded_sentences_accepts_answer_objects_lookups_and_caches(emb):
    answer = Answer(question="q", standalone_question="q", answer="Alpha beta gamma delta. [1]",
                    status="answered", mode="extractive", model="m",
                    citations=[Citation(n=1, title="P", paper_id="p1")])
    via_callable = grounded_sentences(answer, lambda n: PASSAGE_1 if n == 1 else None, emb)
    via_cache = grounded_sentences(answer, {1: PASSAGE_1}, SentenceCache(emb))
    via_fn = grounded_sentences(answer, {1: PASSAGE_1}, embed_fn(emb))
    assert via_callable == via_cache == via_fn == [SentenceSupport("Alpha beta gamma delta.", 1, 1.0, True)]


def test_grounded_sentences_embeds_in_one_call(emb):
    grounded_sentences("Alpha beta. [1] Red green. [2] Cyan. [1]", {1: PASSAGE_1, 2: PASSAGE_2}, emb)
    assert emb.calls == 1


def test_groundedness_of_an_empty_answer_is_none(emb):
    assert grounded_sentences("", {}, emb) == []
    assert groundedness([]) is None


# ------------------------------------------------------------------------------------ answer points


def test_point_coverage_exact_and_similarity(emb):
    answer = "**P**: Perseus cuts energy by up to 30% [1]. Alpha beta gamma delta [1]."
    points = ["by up to 30%", "15.3%-75.8%", "beta alpha", "red green"]
    results = point_coverage(points, answer, emb, threshold=0.5)
    assert [(r.point, r.covered, r.method) for r in results] == [
        ("by up to 30%", True, "exact"),
        ("15.3%-75.8%", False, "exact"),
        ("beta alpha", True, "similarity"),
        ("red green", False, "similarity"),
    ]
    # "beta alpha" vs "Alpha beta gamma delta.": 2 / sqrt(2 * 4)
    assert results[2].score == pytest.approx(2 / math.sqrt(8), abs=1e-4)
    assert results[3].score == 0.0


def test_point_coverage_counts_a_point_said_word_for_word(emb):
    # A short point inside a long sentence scores low on similarity; said verbatim, it is covered.
    answer = ("**P**: We provide ground truth captured in normal light using a Programmable  motorized dolly, "
              "and refine it afterwards [1]. Then an auto\u2013encoder [1].")
    results = point_coverage(["programmable motorized dolly", "auto-encoder", "motorized dollies", "light using"],
                             answer, emb, threshold=0.99)
    assert [(r.covered, r.method) for r in results] == [
        (True, "verbatim"), (True, "verbatim"), (False, "similarity"), (True, "verbatim")]
    # whole words only: "dolly" is not "dollies", and "ground" is not inside "background"
    assert not point_coverage(["round truth"], answer, emb, threshold=0.99)[0].covered


def test_point_coverage_ignores_marker_numbers(emb):
    # "[1]" is a marker, not the number 1.
    assert not point_coverage(["1 GPU"], "It runs on a GPU [1].", emb)[0].covered


# ------------------------------------------------------------------------------------ calibration


def test_choose_threshold_maximises_balanced_accuracy_then_the_gap():
    # cut 0.45 and cut 0.775 both give (1 + 2/3) / 2; the gap 0.2 -> 0.7 is wider.
    sep = choose_threshold([0.9, 0.8, 0.7], [0.1, 0.2, 0.75])
    assert sep.threshold == 0.45
    assert sep.true_positive_rate == 1.0
    assert sep.false_positive_rate == pytest.approx(1 / 3, abs=1e-4)
    assert sep.balanced_accuracy == pytest.approx(5 / 6, abs=1e-4)


def test_separation_counts_ties_as_supported_and_averages_false_groups():
    sep = separation([0.5, 0.4], [0.5, 0.1], threshold=0.5)
    assert (sep.true_positive_rate, sep.false_positive_rate) == (0.5, 0.5)
    # FPR 1/4 on the first group, 1/2 on the second: 3/8, whatever the group sizes
    sep = separation([0.9], [0.6, 0.1, 0.2, 0.3], [0.7, 0.2], threshold=0.5)
    assert sep.false_positive_rate == 0.375 and sep.balanced_accuracy == pytest.approx((1 + 0.625) / 2)


def test_choose_threshold_weighs_false_groups_equally():
    # pooled, the 4 easy negatives would outvote the hard one; per group, the cut must clear 0.65
    sep = choose_threshold([0.7, 0.8], [0.1, 0.1, 0.1, 0.1], [0.65])
    assert sep.threshold == 0.68 and sep.false_positive_rate == 0.0


def test_clauses():
    sentence = "We propose a method that is fast, and it reduces memory by half while keeping accuracy."
    assert clauses(sentence) == ["We propose a method that is fast", "and it reduces memory by half"]


def test_calibrated_thresholds_are_sane():
    assert 0.3 < POINT_THRESHOLD < 0.8 and 0.3 < THRESHOLD < 0.9
