"""The eval datasets: mechanical checks on both files, the documented counts, the reproducible split, the slot
generator, and the checker's own messages on bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from paperchat.evals import check_datasets as cd
from paperchat.evals import slots

ORIGINAL_44_SHA256 = "934b92fa2440ecf0cbf9a5d83c0543ce7bea40781a9391a54aeaffe1c140e9e3"
GALORE = "GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection"

DEV_COUNTS = {
    "note:keyword": 34, "note:paraphrase": 13, "source:generated-slot": 36, "source:hand": 112,
    "subtype:missing_detail": 25, "subtype:off_topic": 16, "total": 148, "type:followup": 18, "type:multi": 16,
    "type:multi_part": 7, "type:single": 47, "type:title": 19, "type:unanswerable": 41,
}
TEST_COUNTS = {
    "note:keyword": 40, "note:paraphrase": 7, "source:generated-slot": 54, "source:hand": 103,
    "subtype:missing_detail": 29, "subtype:off_topic": 17, "total": 157, "type:followup": 12, "type:multi": 13,
    "type:multi_part": 11, "type:single": 47, "type:title": 28, "type:unanswerable": 46,
}


@pytest.fixture(scope="module")
def corpora() -> cd.Corpora:
    return cd.load_corpora()


@pytest.fixture(scope="module")
def dev() -> list[dict]:
    return cd.load_items(cd.DEV_FILE)


@pytest.fixture(scope="module")
def test_items() -> list[dict]:
    return cd.load_items(cd.TEST_FILE)


def test_both_files_pass_every_check(corpora):
    assert corpora.scifact is not None, "the SciFact corpus is needed to check off-topic names"
    assert cd.check_files([cd.DEV_FILE, cd.TEST_FILE], corpora) == []


def test_counts_are_the_documented_ones(dev, test_items):
    assert cd.counts(dev) == DEV_COUNTS
    assert cd.counts(test_items) == TEST_COUNTS
    assert cd.split_minimum_problems(test_items) == []
    everything = dev + test_items
    assert len(everything) == 305 >= cd.MIN_TOTAL
    assert sum(1 for i in everything if i.get("source", "hand") == "hand") == 215 >= cd.MIN_HAND


def test_the_original_44_items_are_unchanged():
    lines = cd.DEV_FILE.read_text(encoding="utf-8").splitlines(keepends=True)
    assert hashlib.sha256("".join(lines[:44]).encode()).hexdigest() == ORIGINAL_44_SHA256
    assert {json.loads(line)["id"] for line in lines[:44]} == cd.ORIGINAL_DEV_IDS


def test_the_split_is_reproducible_from_the_new_items(dev, test_items):
    new = [{k: v for k, v in item.items() if k != "id"} for item in dev[44:] + test_items]
    new_dev, new_test = cd.split(list(reversed(new)), cd.SPLIT_SEED)  # input order does not matter
    assert cd.assign_ids(new_dev, [i["id"] for i in dev[:44]]) == dev[44:]
    assert cd.assign_ids(new_test, prefix="t-") == test_items
    strata = {cd.stratum(i) for i in new}
    for stratum in strata:
        n = sum(1 for i in new if cd.stratum(i) == stratum)
        in_test = sum(1 for i in test_items if cd.stratum(i) == stratum)
        assert in_test == int(0.6 * n + 0.5), stratum


def test_no_item_of_the_original_set_went_to_test(test_items):
    assert all(i["id"].startswith("t-") for i in test_items)
    original_questions = {q for i in cd.load_items(cd.DEV_FILE)[:44] for q in cd.questions_of(i)}
    assert not original_questions & {q for i in test_items for q in cd.questions_of(i)}


def test_the_slot_items_are_exactly_what_the_generator_makes(dev, test_items):
    generated = [item for _, item in slots.generate(slots.bundled_papers())]
    strip = lambda item: json.dumps({k: v for k, v in item.items() if k != "id"}, sort_keys=True)  # noqa: E731
    in_files = sorted(strip(i) for i in dev + test_items if i.get("source") == "generated-slot")
    assert in_files == sorted(strip(i) for i in generated)
    assert len(generated) == 90
    assert sum(1 for i in generated if i["type"] == "single") == 55
    assert len({(i.get("gold_titles") or i.get("closest_titles"))[0] for i in generated}) == 78


def test_the_slot_generator_is_deterministic_and_explains_itself(tmp_path, capsys):
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert slots.main(["--out", str(first)]) == 0
    out = capsys.readouterr().out
    assert slots.main(["--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    assert out.splitlines()[0] == "460 candidates in 156 papers: 104 answerable, 356 unanswerable; seed 7"
    assert ("single-13 answerable   hardware      'MegaScale: Scaling Large Language Model Training to More Tha': "
            "matched number of GPUs -> ['10,000 GPUs', '12,288 GPUs']") in out.splitlines()
    assert cd.check(first) == []
    other = tmp_path / "c.jsonl"
    slots.main(["--out", str(other), "--seed", "8"])
    assert other.read_bytes() != first.read_bytes()


def test_slot_labels_are_conservative():
    hardware = next(f for f in slots.FAMILIES if f.name == "hardware")
    answered = slots.classify("X: Y", "We train on 8 A100 GPUs for a week.", hardware)
    assert answered is not None and [s for s, _ in answered.spans] == ["A100 GPUs"]
    assert answered.item()["answer_points"] == ["A100 GPUs"]
    absent = slots.classify("X: Y", "We propose a new loss for ranking answers.", hardware)
    assert absent is not None and not absent.answerable
    assert absent.item()["subtype"] == "missing_detail" and absent.item()["closest_titles"] == ["X: Y"]
    # mentions GPUs without naming one: neither answerable nor labelled unanswerable
    assert slots.classify("X: Y", "Our kernels are GPU-friendly.", hardware) is None
    # surveys run no experiments: never labelled unanswerable
    assert slots.classify("Deep Nets: A Survey", "We review methods.", hardware) is None
    size = next(f for f in slots.FAMILIES if f.name == "model size")
    assert slots.classify("X", "We pretrain on 9B tokens and 5B long-context data.", size) is None
    assert [s for s, _ in slots.classify("X", "a 1.3B VLM and a 150M parameter LM", size).spans] == \
        ["1.3B VLM", "150M parameter"]


def test_short_names():
    assert slots.short_name(GALORE) == "GaLore"
    assert slots.short_name("Training Compute-Optimal Large Language Models") == \
        'the paper "Training Compute-Optimal Large Language Models"'


def _write(path: Path, items: list[dict | str]) -> Path:
    path.write_text("".join((i if isinstance(i, str) else json.dumps(i)) + "\n" for i in items), encoding="utf-8")
    return path


def _single(item_id: str, **kw) -> dict:
    return {"id": item_id, "type": "single", "question": "How much memory does GaLore save?",
            "gold_titles": [GALORE], "answer_points": ["65.5%"], "note": "keyword", **kw}


def test_the_checker_names_file_line_and_id(tmp_path, corpora):
    path = _write(tmp_path / "dev.jsonl", [
        _single("single-01"),
        _single("single-02", question="q2", gold_titles=["GaLore"]),
        _single("single-03", question="q3", answer_points=["99.9% less memory"]),
        "{not json",
        {"id": "unans-01", "type": "unanswerable", "subtype": "off_topic", "question": "What is GaLore?",
         "gold_titles": [], "answer_points": [], "closest_titles": [], "named": "GaLore"},
        {"id": "unans-02", "type": "unanswerable", "subtype": "off_topic", "question": "Does myocardial "
         "infarction matter?", "gold_titles": [], "answer_points": [], "closest_titles": [],
         "named": "myocardial infarction"},
        {"id": "title-01", "type": "title", "question": f"What is {GALORE}?", "alias": GALORE,
         "gold_titles": [GALORE], "answer_points": ["65.5%"]},
        {"id": "quiz-01", "type": "quiz", "question": "?"},
        _single("single-01", question="q4"),
        {"id": "t-multi-01", "type": "multi", "question": "Which papers?", "gold_titles": [GALORE],
         "answer_points": ["65.5%"]},
    ])
    assert cd.check(path, corpora) == [
        f"{path}:4: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{path}:2 (id 'single-02'): 'gold_titles': no paper titled 'GaLore' in the collection "
        "(titles must be copied exactly)",
        f"{path}:3 (id 'single-03'): 'answer_points': '99.9% less memory' is not verbatim in a gold abstract",
        f"{path}:5 (id 'unans-01'): 'named' 'GaLore' occurs in data/papers.txt: the item would be answerable there",
        f"{path}:6 (id 'unans-02'): 'named' 'myocardial infarction' occurs in SciFact: the item would be "
        "answerable there",
        f"{path}:7 (id 'title-01'): 'alias' is the exact title; a title item names the paper loosely",
        f"{path}:7 (id 'title-01'): the question contains the exact title; a title item names the paper loosely",
        f"{path}:8 (id 'quiz-01'): unknown type 'quiz' (known: single, multi, multi_part, unanswerable, followup, "
        "title)",
        f"{path}:9 (id 'single-01'): duplicate id (first on line 1)",
        f"{path}:10 (id 't-multi-01'): 'gold_titles' has 1 titles, expected 2-5 for multi",
        f"{path}:10 (id 't-multi-01'): ids in a test file start with 't-', ids elsewhere do not",
    ]


def test_the_checker_checks_turns_asks_and_the_split(tmp_path, corpora):
    natural = "Natural GaLore: Accelerating GaLore for memory-efficient LLM Training and Fine-tuning"
    path = _write(tmp_path / "test.jsonl", [
        {"id": "t-followup-01", "type": "followup",
         "turns": [{"question": "What is GaLore?", "gold_titles": [GALORE], "answer_points": ["GaLore"]},
                   {"question": "And the natural one?", "gold_titles": [natural], "answer_points": ["AdamW"]}],
         "gold_titles": [GALORE], "answer_points": ["AdamW"]},
        {"id": "t-multi_part-01", "type": "multi_part", "question": "Both?",
         "asks": [{"ask": "a", "gold_titles": [GALORE], "answer_points": ["65.5%"]},
                  {"ask": "b", "gold_titles": [natural], "answer_points": ["65.5%"]}],
         "gold_titles": [GALORE], "answer_points": ["65.5%", "65.5%"]},
    ])
    problems = cd.check(path, corpora)
    assert problems[:3] == [
        f"{path}:1 (id 't-followup-01'): 'gold_titles' must equal the gold_titles of the last turn",
        f"{path}:2 (id 't-multi_part-01'): 'asks[2].answer_points': '65.5%' is not verbatim in a gold abstract",
        f"{path}:2 (id 't-multi_part-01'): 'gold_titles' must be the union of the asks' gold_titles, in order",
    ]
    assert f"{path}: 0 title items, the test split needs at least 20" in problems
    assert f"{path}: 2 hand-written items, the test split needs at least 60" in problems


def test_a_question_in_both_files_is_reported(tmp_path, corpora):
    dev = _write(tmp_path / "dev.jsonl", [_single("single-01")])
    test = _write(tmp_path / "test.jsonl", [
        _single("t-single-01", question="How much memory does GaLore save ?"),
        _single("t-single-02", question="How much memory does GaLore saves?"),
        _single("single-01", question="Something else entirely about GaLore"),
    ])
    problems = [p for p in cd.check_files([dev, test], corpora) if "test split needs" not in p]
    assert problems == [
        f"{test}:3 (id 'single-01'): ids in a test file start with 't-', ids elsewhere do not",
        f"{test}:3 (id 'single-01'): id also used in {dev}:1",
        f"{test}:1 (id 't-single-01'): question 'How much memory does GaLore save ?' is also in {dev}:1",
        f"{test}:2 (id 't-single-02'): question 'How much memory does GaLore saves?' nearly repeats "
        f"{dev}:1 (similarity 0.98)",
        f"{dev}, {test}: 4 items in total, at least 200 needed",
        f"{dev}, {test}: 4 hand-written items, at least 100 needed",
    ]


def test_without_scifact_the_check_says_so(tmp_path):
    corpora = cd.load_corpora(cd.BUNDLED_PAPERS, tmp_path / "missing.jsonl")
    assert corpora.scifact is None
    assert corpora.notes == [f"{tmp_path / 'missing.jsonl'}: SciFact corpus not found, so off_topic names were "
                             "checked against the bundled papers only (skipped the SciFact check)"]
    item = {"id": "unans-01", "type": "unanswerable", "subtype": "off_topic", "question": "What about myocardial "
            "infarction?", "gold_titles": [], "answer_points": [], "closest_titles": [],
            "named": "myocardial infarction"}
    assert cd.check_item(item, corpora) == []


def test_the_command_line(tmp_path, capsys):
    assert cd.main([]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().endswith("no problems")
    assert f"{cd.TEST_FILE}: " in captured.out and "type:title=28" in captured.out
    bad = _write(tmp_path / "bad.jsonl", [_single("single-01", answer_points=["nope"])])
    assert cd.main([str(bad)]) == 1
    assert f"{bad}:1 (id 'single-01'): 'answer_points': 'nope' is not verbatim in a gold abstract" in \
        capsys.readouterr().err


@pytest.mark.parametrize("name, pairs", [("detail_probe.jsonl", 24), ("detail_probe2.jsonl", 25),
                                         ("detail_probe3.jsonl", 30), ("detail_probe4.jsonl", 30),
                                         ("holdout_probe.jsonl", 30)])
def test_the_detail_probe_pairs_a_stated_and_an_unstated_detail_of_each_paper(corpora, name, pairs):
    items = cd.load_items(cd.DEV_FILE.with_name(name))
    assert [cd.check_item(item, corpora) for item in items] == [[] for _ in items]
    by_id = {item["id"]: item for item in items}
    assert len(by_id) == len(items) == 2 * pairs
    for n in range(1, pairs + 1):  # single-NN and unans-NN ask about the same paper
        stated, unstated = by_id[f"single-{n:02d}"], by_id[f"unans-{n:02d}"]
        assert stated["type"] == "single" and unstated["subtype"] == "missing_detail"
        assert stated["gold_titles"] == unstated["closest_titles"]
