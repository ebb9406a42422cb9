"""Mechanical checks of the eval datasets (`evals/datasets/dev.jsonl`, `test.jsonl`), and the seeded split.

The eval numbers are only as honest as the items, so every rule a curator could get wrong by hand is checked
here against the real abstracts: titles exist exactly, answer points are verbatim, off-topic names are absent
from the bundled collection *and* from SciFact (the distractor half of the "mixed" collection), ids are unique
across both files, no question is shared between dev and test, and the frozen test split keeps its minimums.

    python -m paperchat.evals.check_datasets                 # dev.jsonl and test.jsonl
    python -m paperchat.evals.check_datasets FILE [FILE...]  # the files given (a test*.jsonl gets the minimums)

Every problem is one line naming the file, the line and the item id; the exit status is 1 when there is one.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

from paperchat.evals.metrics import exact_point_match
from paperchat.ingest.readers import read_papers
from paperchat.rag.settings import BUNDLED_PAPERS, PACKAGE_ROOT

log = logging.getLogger(__name__)

DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
DEV_FILE = DATASETS_DIR / "dev.jsonl"
TEST_FILE = DATASETS_DIR / "test.jsonl"
SCIFACT_CORPUS = PACKAGE_ROOT.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl"

SPLIT_SEED = 20240611
TEST_SHARE = 0.6

ID_PREFIX = {"single": "single", "multi": "multi", "multi_part": "multi_part", "unanswerable": "unans",
             "followup": "followup", "title": "title"}
SUBTYPES = ("off_topic", "missing_detail")
SOURCES = ("hand", "generated-slot")
DIFFICULTIES = ("easy", "medium", "hard")
SINGLE_NOTES = ("paraphrase", "keyword")

COMMON_KEYS = {"id", "type", "source", "difficulty", "note"}
KEYS = {
    "single": {"question", "gold_titles", "answer_points"},
    "multi": {"question", "gold_titles", "answer_points"},
    "multi_part": {"question", "asks", "gold_titles", "answer_points"},
    "unanswerable": {"question", "subtype", "gold_titles", "answer_points", "closest_titles", "named"},
    "followup": {"turns", "gold_titles", "answer_points"},
    "title": {"question", "alias", "gold_titles", "answer_points"},
}
REQUIRED = {
    "single": {"question", "gold_titles", "answer_points", "note"},
    "multi": {"question", "gold_titles", "answer_points"},
    "multi_part": {"question", "asks", "gold_titles", "answer_points"},
    "unanswerable": {"question", "subtype", "gold_titles", "answer_points", "closest_titles"},
    "followup": {"turns", "gold_titles", "answer_points"},
    "title": {"question", "alias", "gold_titles", "answer_points"},
}
GOLD_COUNT = {"single": (1, 1), "multi": (2, 5), "multi_part": (1, 5), "title": (1, 1)}
POINT_COUNT = {"single": (1, 3), "multi": (1, 3), "title": (1, 2)}

# The minimums of the frozen test split, per (type, subtype); subtype None counts every subtype.
TEST_MINIMUMS: dict[tuple[str, str | None], int] = {
    ("single", None): 25, ("multi", None): 10, ("multi_part", None): 10, ("unanswerable", None): 30,
    ("unanswerable", "off_topic"): 15, ("unanswerable", "missing_detail"): 15, ("followup", None): 10,
    ("title", None): 20,
}
MIN_TEST_HAND = 60
MIN_TOTAL = 200
MIN_HAND = 100

# The 44 items dev.jsonl started with. They predate `named`, so their off-topic items name a topic, not a thing.
ORIGINAL_DEV_IDS = frozenset(
    [f"single-{i:02d}" for i in range(1, 17)] + [f"multi-{i:02d}" for i in range(1, 9)]
    + [f"unans-{i:02d}" for i in range(1, 11)] + [f"followup-{i:02d}" for i in range(1, 11)])

NEAR_DUPLICATE_RATIO = 0.9  # same target papers and this similar: the same question reworded
SAME_TEXT_RATIO = 0.97  # this similar: the same question, whatever the targets


def collapse(text: str) -> str:
    """Runs of whitespace as one space: abstracts wrap lines, answer points do not."""
    return " ".join(text.split())


def compact(text: str) -> str:
    """Letters and digits only, lowercased: "Flash Attention-2" and "flashattention2" are the same name."""
    return re.sub(r"[^0-9a-z]+", "", text.casefold())


@dataclass
class Corpora:
    """The texts the checks compare against: the bundled abstracts (by exact title) and SciFact."""

    abstracts: dict[str, str]
    scifact: str | None = None  # casefolded titles + abstracts; None when the file is missing
    notes: list[str] = field(default_factory=list)

    @cached_property
    def bundled(self) -> str:
        return "\n".join(f"{t}\n{a}" for t, a in self.abstracts.items()).casefold()

    @cached_property
    def compact_texts(self) -> dict[str, str]:
        """Each corpus with spacing and punctuation removed, computed once (SciFact is 7 MB)."""
        texts = {"data/papers.txt": self.bundled}
        if self.scifact is not None:
            texts["SciFact"] = self.scifact
        return {label: compact(text) for label, text in texts.items()}


@lru_cache(maxsize=4)
def load_corpora(papers: Path = BUNDLED_PAPERS, scifact: Path = SCIFACT_CORPUS) -> Corpora:
    """Read once per process: the checks run over hundreds of items."""
    abstracts = {p.title: collapse(p.abstract) for p in read_papers(Path(papers))}
    notes: list[str] = []
    text: str | None = None
    if Path(scifact).is_file():
        parts = []
        with Path(scifact).open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    doc = json.loads(line)
                    parts.append(f"{doc.get('title', '')}\n{doc.get('text', '')}")
        text = collapse("\n".join(parts)).casefold()
    else:
        notes.append(f"{scifact}: SciFact corpus not found, so off_topic names were checked against the "
                     "bundled papers only (skipped the SciFact check)")
    return Corpora(abstracts=abstracts, scifact=text, notes=notes)


# ---------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------


@dataclass
class Line:
    """One item with where it came from, so every message can name file, line and id."""

    path: Path
    lineno: int
    item: dict[str, Any]

    @property
    def where(self) -> str:
        item_id = self.item.get("id")
        return f"{self.path}:{self.lineno} (id {item_id!r})" if isinstance(item_id, str) else \
            f"{self.path}:{self.lineno}"


def read_lines(path: Path) -> tuple[list[Line], list[str]]:
    """The JSON objects of a JSONL file and the problems of lines that are not one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], [f"{path}: file not found"]
    except UnicodeDecodeError as exc:
        return [], [f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]
    lines: list[Line] = []
    problems: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            problems.append(f"{path}:{lineno}: empty line")
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            continue
        lines.append(Line(path, lineno, obj))
    if not lines and not problems:
        problems.append(f"{path}: no items")
    return lines, problems


def load_items(path: Path | str) -> list[dict[str, Any]]:
    """The items of a file (for counting and splitting; run `check` for the problems)."""
    return [line.item for line in read_lines(Path(path))[0]]


# ---------------------------------------------------------------------------------------------------
# Per-item checks
# ---------------------------------------------------------------------------------------------------


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _check_titles(titles: Any, what: str, corpora: Corpora) -> list[str]:
    if not _is_str_list(titles):
        return [f"'{what}' must be a list of non-empty strings"]
    problems = [f"'{what}': no paper titled {t!r} in the collection (titles must be copied exactly)"
                for t in titles if t not in corpora.abstracts]
    if len(set(titles)) != len(titles):
        problems.append(f"'{what}' repeats a title")
    return problems


def _check_points(points: Any, gold: Sequence[str], what: str, corpora: Corpora,
                  count: tuple[int, int] | None = (1, 3)) -> list[str]:
    """Every point verbatim (whitespace collapsed) in one of the gold abstracts, and its numbers and names
    found by `exact_point_match` there: the scorer must be able to credit a correct answer."""
    if not _is_str_list(points):
        return [f"'{what}' must be a list of non-empty strings"]
    problems = []
    if count and not count[0] <= len(points) <= count[1]:
        problems.append(f"'{what}' has {len(points)} points, expected {count[0]}-{count[1]}")
    abstracts = [corpora.abstracts[t] for t in gold if t in corpora.abstracts]
    if not abstracts:
        return problems
    joined = "\n".join(abstracts)
    for point in points:
        if not any(collapse(point) in a for a in abstracts):
            problems.append(f"'{what}': {point!r} is not verbatim in a gold abstract")
        elif exact_point_match(point, joined) is False:
            problems.append(f"'{what}': exact_point_match cannot find the numbers/names of {point!r} "
                            "in the gold abstracts")
    return problems


def _check_question(value: Any, what: str = "question") -> list[str]:
    if not isinstance(value, str) or not value.strip():
        return [f"'{what}' must be a non-empty string"]
    return []


def _check_answerable(item: dict, corpora: Corpora) -> list[str]:
    kind = item["type"]
    problems = _check_question(item.get("question")) + _check_titles(item.get("gold_titles"), "gold_titles", corpora)
    gold = item.get("gold_titles") if _is_str_list(item.get("gold_titles")) else []
    low, high = GOLD_COUNT[kind]
    if not low <= len(gold) <= high:
        problems.append(f"'gold_titles' has {len(gold)} titles, expected {low}-{high} for {kind}")
    problems += _check_points(item.get("answer_points"), gold, "answer_points", corpora, POINT_COUNT[kind])
    if kind == "single" and item.get("note") not in SINGLE_NOTES:
        problems.append(f"'note' of a single item must be one of {list(SINGLE_NOTES)}, got {item.get('note')!r}")
    if kind == "title":
        problems += _check_alias(item, gold)
    return problems


def _check_alias(item: dict, gold: Sequence[str]) -> list[str]:
    """A title item names its paper loosely: the alias is in the question, the exact title is not."""
    alias, question = item.get("alias"), item.get("question")
    if not isinstance(alias, str) or not alias.strip():
        return ["'alias' must be a non-empty string"]
    problems = []
    if isinstance(question, str) and alias.casefold() not in question.casefold():
        problems.append(f"'alias' {alias!r} does not appear in the question")
    for title in gold:
        if collapse(alias).casefold() == collapse(title).casefold():
            problems.append("'alias' is the exact title; a title item names the paper loosely")
        if isinstance(question, str) and collapse(title).casefold() in collapse(question).casefold():
            problems.append("the question contains the exact title; a title item names the paper loosely")
    return problems


def _check_multi_part(item: dict, corpora: Corpora) -> list[str]:
    problems = _check_question(item.get("question"))
    asks = item.get("asks")
    if not isinstance(asks, list) or len(asks) != 2 or not all(isinstance(a, dict) for a in asks):
        return [*problems, "'asks' must be a list of two {ask, gold_titles, answer_points} objects"]
    union_titles: list[str] = []
    union_points: list[str] = []
    for n, ask in enumerate(asks, start=1):
        extra = set(ask) - {"ask", "gold_titles", "answer_points"}
        if extra:
            problems.append(f"asks[{n}] has unknown fields {sorted(extra)}")
        problems += _check_question(ask.get("ask"), f"asks[{n}].ask")
        problems += _check_titles(ask.get("gold_titles"), f"asks[{n}].gold_titles", corpora)
        gold = ask.get("gold_titles") if _is_str_list(ask.get("gold_titles")) else []
        if not gold:
            problems.append(f"asks[{n}].gold_titles is empty")
        problems += _check_points(ask.get("answer_points"), gold, f"asks[{n}].answer_points", corpora)
        union_titles += [t for t in gold if t not in union_titles]
        union_points += ask.get("answer_points") if _is_str_list(ask.get("answer_points")) else []
    if item.get("gold_titles") != union_titles:
        problems.append("'gold_titles' must be the union of the asks' gold_titles, in order")
    if item.get("answer_points") != union_points:
        problems.append("'answer_points' must be the asks' answer_points, in order")
    return problems


def _check_followup(item: dict, corpora: Corpora) -> list[str]:
    turns = item.get("turns")
    if not isinstance(turns, list) or len(turns) != 2 or not all(isinstance(t, dict) for t in turns):
        return ["'turns' must be a list of two {question, gold_titles, answer_points} objects"]
    problems = []
    for n, turn in enumerate(turns, start=1):
        extra = set(turn) - {"question", "gold_titles", "answer_points"}
        if extra:
            problems.append(f"turns[{n}] has unknown fields {sorted(extra)}")
        problems += _check_question(turn.get("question"), f"turns[{n}].question")
        problems += _check_titles(turn.get("gold_titles"), f"turns[{n}].gold_titles", corpora)
        gold = turn.get("gold_titles") if _is_str_list(turn.get("gold_titles")) else []
        if not gold:
            problems.append(f"turns[{n}].gold_titles is empty")
        problems += _check_points(turn.get("answer_points"), gold, f"turns[{n}].answer_points", corpora)
    if item.get("gold_titles") != turns[-1].get("gold_titles"):
        problems.append("'gold_titles' must equal the gold_titles of the last turn")
    if item.get("answer_points") != turns[-1].get("answer_points"):
        problems.append("'answer_points' must equal the answer_points of the last turn")
    return problems


def named_hits(named: str, corpora: Corpora) -> list[str]:
    """Which corpora mention `named` (case-insensitively; long names also with spacing/hyphens ignored)."""
    hits = []
    needle = collapse(named).casefold()
    texts = {"data/papers.txt": corpora.bundled}
    if corpora.scifact is not None:
        texts["SciFact"] = corpora.scifact
    for label, text in texts.items():
        if needle in text or (len(compact(named)) >= 6 and compact(named) in corpora.compact_texts[label]):
            hits.append(label)
    return hits


def _check_unanswerable(item: dict, corpora: Corpora) -> list[str]:
    problems = _check_question(item.get("question"))
    if item.get("gold_titles") != [] or item.get("answer_points") != []:
        problems.append("an unanswerable item has empty 'gold_titles' and 'answer_points'")
    subtype = item.get("subtype")
    closest = item.get("closest_titles")
    problems += _check_titles(closest, "closest_titles", corpora)
    if subtype not in SUBTYPES:
        return [*problems, f"'subtype' must be one of {list(SUBTYPES)}, got {subtype!r}"]
    if subtype == "missing_detail" and (not isinstance(closest, list) or len(closest) != 1):
        problems.append("a missing_detail item names exactly one paper in 'closest_titles'")
    if subtype == "off_topic":
        if closest != []:
            problems.append("an off_topic item has 'closest_titles': []")
        problems += _check_named(item, corpora)
    elif "named" in item:
        problems.append("'named' belongs to off_topic items only")
    return problems


def _check_named(item: dict, corpora: Corpora) -> list[str]:
    named = item.get("named")
    if named is None:
        return [] if item.get("id") in ORIGINAL_DEV_IDS else ["an off_topic item needs 'named': the method, model, "
                                                               "dataset or benchmark it asks about"]
    if not isinstance(named, str) or not named.strip():
        return ["'named' must be a non-empty string"]
    problems = []
    question = item.get("question")
    if isinstance(question, str) and named.casefold() not in question.casefold():
        problems.append(f"'named' {named!r} does not appear in the question")
    hits = named_hits(named, corpora)
    if hits:
        problems.append(f"'named' {named!r} occurs in {' and '.join(hits)}: the item would be answerable there")
    return problems


def check_item(item: dict, corpora: Corpora) -> list[str]:
    """The problems of one item (without the file-level rules: ids, duplicates, counts)."""
    kind = item.get("type")
    if kind not in KEYS:
        return [f"unknown type {kind!r} (known: {', '.join(KEYS)})"]
    problems = []
    item_id = item.get("id")
    if not isinstance(item_id, str) or not re.fullmatch(rf"(?:t-)?{ID_PREFIX[kind]}-\d{{2,}}", item_id):
        problems.append(f"id {item_id!r} must look like {ID_PREFIX[kind]}-NN (t-{ID_PREFIX[kind]}-NN in test)")
    allowed = COMMON_KEYS | KEYS[kind]
    missing = REQUIRED[kind] - set(item)
    if missing:
        problems.append(f"missing fields {sorted(missing)} for type {kind}")
    unknown = set(item) - allowed
    if unknown:
        problems.append(f"unknown fields {sorted(unknown)} for type {kind}")
    if item.get("source", "hand") not in SOURCES:
        problems.append(f"'source' must be one of {list(SOURCES)}, got {item.get('source')!r}")
    if "difficulty" in item and item["difficulty"] not in DIFFICULTIES:
        problems.append(f"'difficulty' must be one of {list(DIFFICULTIES)}, got {item['difficulty']!r}")
    if "note" in item and (not isinstance(item["note"], str) or not item["note"].strip()):
        problems.append("'note' must be a non-empty string")
    if kind != "unanswerable" and "subtype" in item:
        problems.append("'subtype' belongs to unanswerable items only")
    if missing:
        return problems
    if kind in ("single", "multi", "title"):
        problems += _check_answerable(item, corpora)
    elif kind == "multi_part":
        problems += _check_multi_part(item, corpora)
    elif kind == "followup":
        problems += _check_followup(item, corpora)
    else:
        problems += _check_unanswerable(item, corpora)
    return problems


# ---------------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------------


def questions_of(item: dict) -> list[str]:
    """Every user question an item asks (both turns of a follow-up)."""
    if isinstance(item.get("turns"), list):
        return [t.get("question", "") for t in item["turns"] if isinstance(t, dict)]
    return [item.get("question", "")] if isinstance(item.get("question"), str) else []


def norm_question(text: str) -> str:
    return " ".join(re.findall(r"[0-9a-z]+", text.casefold()))


def targets_of(item: dict) -> frozenset[str]:
    """The papers a question is about: gold or closest titles."""
    titles = list(item.get("gold_titles") or []) + list(item.get("closest_titles") or [])
    return frozenset(t for t in titles if isinstance(t, str))


def check(path: Path | str, corpora: Corpora | None = None) -> list[str]:
    """Every problem of one dataset file, each naming the file, the line and the item id."""
    path = Path(path)
    corpora = corpora or load_corpora()
    for note in corpora.notes:
        log.warning(note)
    lines, problems = read_lines(path)
    is_test = path.name.startswith("test")
    seen_ids: dict[str, int] = {}
    seen_questions: dict[str, Line] = {}
    for line in lines:
        problems += [f"{line.where}: {p}" for p in check_item(line.item, corpora)]
        item_id = line.item.get("id")
        if isinstance(item_id, str):
            if item_id in seen_ids:
                problems.append(f"{line.where}: duplicate id (first on line {seen_ids[item_id]})")
            seen_ids.setdefault(item_id, line.lineno)
            if is_test != item_id.startswith("t-"):
                problems.append(f"{line.where}: ids in a test file start with 't-', ids elsewhere do not")
        for q in questions_of(line.item):
            key = norm_question(q)
            if key in seen_questions and seen_questions[key].item is not line.item:
                problems.append(f"{line.where}: question {q!r} repeats line {seen_questions[key].lineno}")
            seen_questions.setdefault(key, line)
    if is_test:
        problems += [f"{path}: {p}" for p in split_minimum_problems([ln.item for ln in lines])]
    return problems


def check_files(paths: Sequence[Path | str], corpora: Corpora | None = None) -> list[str]:
    """`check` for each file, then the rules across files: ids unique, no question (or a near-duplicate of
    one) in two files, and — for two or more files — the totals (items, hand-written items)."""
    corpora = corpora or load_corpora()
    paths = [Path(p) for p in paths]
    problems = [p for path in paths for p in check(path, corpora)]
    per_file = {path: read_lines(path)[0] for path in paths}
    ids: dict[str, Line] = {}
    for lines in per_file.values():
        for line in lines:
            item_id = line.item.get("id")
            if isinstance(item_id, str) and item_id in ids and ids[item_id].path != line.path:
                problems.append(f"{line.where}: id also used in {ids[item_id].path}:{ids[item_id].lineno}")
            if isinstance(item_id, str):
                ids.setdefault(item_id, line)
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            problems += shared_question_problems(per_file[a], per_file[b])
    if len(paths) >= 2:
        items = [ln.item for lines in per_file.values() for ln in lines]
        if len(items) < MIN_TOTAL:
            problems.append(f"{', '.join(map(str, paths))}: {len(items)} items in total, at least {MIN_TOTAL} needed")
        hand = sum(1 for it in items if it.get("source", "hand") == "hand")
        if hand < MIN_HAND:
            problems.append(f"{', '.join(map(str, paths))}: {hand} hand-written items, at least {MIN_HAND} needed")
    return problems


def shared_question_problems(first: Sequence[Line], second: Sequence[Line]) -> list[str]:
    """Questions of `second` that are in `first` too, or a near-duplicate of one there (nearly the same words
    about the same papers): a test question the dev set already tuned on is not held out."""
    index = [(norm_question(q), targets_of(ln.item), ln) for ln in first for q in questions_of(ln.item)]
    exact = {key: ln for key, _, ln in index}
    problems = []
    for line in second:
        for q in questions_of(line.item):
            key, targets = norm_question(q), targets_of(line.item)
            if key in exact:
                other = exact[key]
                problems.append(f"{line.where}: question {q!r} is also in {other.path}:{other.lineno}")
                continue
            matcher = SequenceMatcher(None, "", key)  # seq2 is the one SequenceMatcher indexes: reuse it
            for other_key, other_targets, other in index:
                matcher.set_seq1(other_key)
                if matcher.real_quick_ratio() < NEAR_DUPLICATE_RATIO or matcher.quick_ratio() < NEAR_DUPLICATE_RATIO:
                    continue  # upper bounds of ratio(): cheap, and almost every pair stops here
                ratio = matcher.ratio()
                if ratio >= SAME_TEXT_RATIO or (ratio >= NEAR_DUPLICATE_RATIO and targets == other_targets):
                    problems.append(f"{line.where}: question {q!r} nearly repeats {other.path}:{other.lineno} "
                                    f"(similarity {ratio:.2f})")
                    break
    return problems


# ---------------------------------------------------------------------------------------------------
# Counts and the split
# ---------------------------------------------------------------------------------------------------


def stratum(item: dict) -> tuple[str, str, str]:
    """What the split keeps in proportion: type, then subtype (unanswerable) or note (single), then source."""
    detail = item.get("subtype") or (item.get("note") if item.get("type") == "single" else "") or ""
    return (str(item.get("type")), str(detail), str(item.get("source", "hand")))


def counts(items: Iterable[dict]) -> dict[str, int]:
    """Items per type, per unanswerable subtype, per single note and per source (for the README and tests)."""
    c: Counter[str] = Counter()
    for it in items:
        c["total"] += 1
        c[f"type:{it.get('type')}"] += 1
        if it.get("subtype"):
            c[f"subtype:{it['subtype']}"] += 1
        if it.get("type") == "single":
            c[f"note:{it.get('note')}"] += 1
        c[f"source:{it.get('source', 'hand')}"] += 1
    return dict(sorted(c.items()))


def split_minimum_problems(items: Sequence[dict]) -> list[str]:
    problems = []
    for (kind, subtype), minimum in TEST_MINIMUMS.items():
        n = sum(1 for it in items if it.get("type") == kind and (subtype is None or it.get("subtype") == subtype))
        if n < minimum:
            label = f"{kind}/{subtype}" if subtype else kind
            problems.append(f"{n} {label} items, the test split needs at least {minimum}")
    hand = sum(1 for it in items if it.get("source", "hand") == "hand")
    if hand < MIN_TEST_HAND:
        problems.append(f"{hand} hand-written items, the test split needs at least {MIN_TEST_HAND}")
    return problems


def split_key(item: dict) -> str:
    """An item's identity before ids are given: its questions (ids are assigned after the split)."""
    return "\n".join(questions_of(item))


def split(items: Sequence[dict], seed: int = SPLIT_SEED, test_share: float = TEST_SHARE
          ) -> tuple[list[dict], list[dict]]:
    """(dev, test): in every stratum (see `stratum`) round(test_share * n) items go to test, chosen by
    a seeded shuffle of the stratum sorted by question text, so the split is reproducible from the items alone
    whatever their order or ids."""
    rng = random.Random(seed)
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for item in items:
        groups.setdefault(stratum(item), []).append(item)
    dev: list[dict] = []
    test: list[dict] = []
    for key in sorted(groups):
        group = sorted(groups[key], key=split_key)
        rng.shuffle(group)
        n_test = math.floor(test_share * len(group) + 0.5)
        test += group[:n_test]
        dev += group[n_test:]
    return dev, test


def assign_ids(items: Sequence[dict], existing: Iterable[str] = (), prefix: str = "") -> list[dict]:
    """Copies of `items` with ids `<prefix><type>-NN`, numbered on from the highest of `existing`."""
    used: Counter[str] = Counter()
    for item_id in existing:
        m = re.fullmatch(r"(?:t-)?([a-z_]+)-(\d+)", item_id)
        if m:
            used[m.group(1)] = max(used[m.group(1)], int(m.group(2)))
    out = []
    for item in items:
        kind = ID_PREFIX[item["type"]]
        used[kind] += 1
        out.append({"id": f"{prefix}{kind}-{used[kind]:02d}", **{k: v for k, v in item.items() if k != "id"}})
    return out


def format_counts(label: str, items: Sequence[dict]) -> str:
    c = counts(items)
    return f"{label}: " + ", ".join(f"{k}={v}" for k, v in c.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperchat.evals.check_datasets",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path,
                        help=f"dataset files (default: {DEV_FILE.name} {TEST_FILE.name})")
    args = parser.parse_args(argv)
    files = args.files or [DEV_FILE, TEST_FILE]
    corpora = load_corpora()
    for note in corpora.notes:
        print(f"note: {note}", file=sys.stderr)
    problems = check_files(files, corpora)
    for path in files:
        print(format_counts(str(path), load_items(path)))
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(problems)} problem(s)" if problems else "no problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
