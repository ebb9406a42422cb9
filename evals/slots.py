"""Generated slot items: "What <dataset | metric | model size | training cost | hardware> does <paper> report?"

Hand-written items are few and their author knows what the system finds easy. These items are labelled by
regular expressions alone, so their labels do not depend on anyone's judgement of the system:

* **answerable** (`single`, note `keyword`): a pattern of the slot family matches the abstract; the answer
  points are the matched spans, verbatim (at most three, in the order they appear);
* **unanswerable** (`missing_detail`, closest = that paper): no pattern of the family matches *and* the
  abstract has no mention of that kind at all (`Family.mentioned` finds nothing). This is
  deliberately conservative: a false "not in the paper" label is worse than a missing item, so an abstract
  that merely talks about "datasets", "GPUs" or "cost" without naming one is skipped, not labelled.

    python -m paperchat.evals.slots --out FILE [--seed N] [--answerable N] [--unanswerable N]

The output is deterministic for a seed; every item printed says which pattern labelled it and why.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperchat.ingest.readers import read_papers
from paperchat.rag.settings import BUNDLED_PAPERS

SLOT_SEED = 7
ANSWERABLE = 55
UNANSWERABLE = 35
MAX_PER_PAPER = 2  # items per paper (at most one answerable and one unanswerable): spread over many papers
MAX_POINTS = 3
SOURCE = "generated-slot"

_I = re.IGNORECASE


@dataclass(frozen=True)
class Family:
    """A slot: the question asked, the patterns that answer it, and what must be absent to say it is not there."""

    name: str
    question: str  # "{name}" is the paper's short name or quoted title
    patterns: tuple[tuple[str, re.Pattern[str]], ...]
    absent: re.Pattern[str]  # anywhere in the abstract: the kind is mentioned
    kind: str  # what `absent` and `near_digit` look for, for the printed reason
    near_digit: re.Pattern[str] | None = None  # counts only in a stretch between full stops that has a digit

    def mentioned(self, abstract: str) -> bool:
        """Whether the abstract says anything of this kind (then it cannot be labelled unanswerable)."""
        if self.absent.search(abstract):
            return True
        if self.near_digit is None:
            return False
        return any(re.search(r"\d", part) and self.near_digit.search(part) for part in abstract.split("."))


def _p(label: str, pattern: str, flags: int = 0) -> tuple[str, re.Pattern[str]]:
    return label, re.compile(pattern, flags)


# Dataset and benchmark names that occur in ML abstracts. Short or common-word names are case-sensitive.
_DATASETS_CASED = ["C4", "GLUE", "SuperGLUE", "MMLU", "MATH", "GQA", "NLVR2", "VQAv2", "NIV2", "MNLI", "SQuAD",
                   "ALCE", "EXPERTQA", "MTEB", "FFHQ", "CelebA", "KITTI-Fog", "KITTI", "TGIF", "LSMDC", "MSVD",
                   "MSR-VTT", "AitW", "UCF101", "WMT10", "MOSE 2023", "DAVIS 2017", "Charades"]
_DATASETS_ANYCASE = ["ImageNet", "Imagenet-C", "CIFAR-100C", "CIFAR-100", "CIFAR-10", "CIFAR10-DVS", "N-Caltech 101",
                     "GSM8K", "BIG-Bench Hard", "BigBench-Hard", "HumanEval", "HowTo100M", "YouCook2",
                     "BigEarthNet", "Object365", "Android-in-the-Wild", "OpenWebText", "PILE-deduped",
                     "WikiText-103", "Librispeech", "Libri-light", "LibriVox", "VoxCeleb", "VCC2018",
                     "YouTube-VOS 2018", "Domain-Net", "Self-Instruct", "Kinetics-400", "Kinetics",
                     "Something-Something", "ProcGen", "Massive Text Embedding Benchmark", "TinyAgent dataset",
                     "AlgoPerf", "SpeechInstruct", "PATTERNREFRAME"]


def _names(names: Sequence[str]) -> str:
    longest_first = sorted(names, key=len, reverse=True)
    return r"(?<![\w-])(?:" + "|".join(re.escape(n) for n in longest_first) + r")(?![\w-]*\w)"


_SIZE = r"\d+(?:\.\d+)?"
_NOT_DATA = r"(?!\s*(?:tokens|data|images|image-text|hours|examples))"
_MODEL_NAMES = r"(?:LLaMA|LLaMa|Llama|TinyLlama|LLaVA|Mistral|GPT-Neo|Pythia|nanoGPT-2)"

FAMILIES: tuple[Family, ...] = (
    Family(
        name="dataset",
        question="Which datasets or benchmarks does {name} report?",
        patterns=(_p("known dataset/benchmark name", _names(_DATASETS_CASED)),
                  _p("known dataset/benchmark name", _names(_DATASETS_ANYCASE), _I)),
        absent=re.compile(r"\b(?:datasets?|data ?sets?|benchmarks?|corpus|corpora|test sets?|database)\b"
                          r"|\d[\d,.]*\s?(?:[KMBk]|thousand|million|billion)?\s(?:[\w-]+\s)?(?:image-text pairs"
                          r"|pairs|images|examples|samples|utterances|hours|tokens|documents|videos|scenes|nodes"
                          r"|edges|graphs|data)\b|"
                          + _names(_DATASETS_CASED) + "|" + _names(_DATASETS_ANYCASE), _I),
        kind="dataset, benchmark or corpus mention, or an amount of data",
    ),
    Family(
        name="metric",
        question="Which evaluation metrics does {name} report?",
        patterns=(
            _p("metric name", r"Word Error Rate \(WER\)|\bWERs?\b|mean average precision \(mAP\)|\bmAP\b|\bmIoU\b"
                              r"|\bFID\b|\bMRR\b|\bP@1\b|macro-F1 score|R-Precision@5|pass@\d+|pass@k|\bBLEU\b"
                              r"|Model FLOPs Utilization \(MFU\)|top-1 accuracy|top-5 validation error|perplexity"
                              r"|success rate"),
        ),
        absent=re.compile(r"%|\\%|percent|\bpoints?\b|accuracy|error|score|F1|BLEU|perplexity|precision|recall"
                          r"|metrics?|rate|mAP|mIoU|FID|WER|MRR|quality|compressib\w*|human evaluations?|loss|runtime"
                          r"|throughput|latency|speed\w*", _I),
        kind="percentage, score or metric word (accuracy, error, quality, loss, throughput, ...)",
    ),
    Family(
        name="model size",
        question="What model sizes (numbers of parameters) does {name} report?",
        patterns=(
            _p("N parameters", rf"\b{_SIZE}\s?(?:[BMK]|k|billion|million|trillion)[- ]?(?:shared |trainable )?"
                               r"param(?:eter)?s?\b"),
            _p("N-sized model", rf"\b{_SIZE}[BM]\s(?:LLM|VLM|model|language model)s?\b"),
            _p("named model with size", rf"{_MODEL_NAMES}[- ]?(?:\d[- ])?{_SIZE}[BM]\b"),
            _p("model (size)", r"\b(?:GPT-3|Gopher|Jurassic-1|Megatron-Turing NLG) \(\d+B\)"),
            _p("size range", rf"\b{_SIZE}[BM] to {_SIZE}[BM]\b{_NOT_DATA}"),
        ),
        absent=re.compile(rf"{_SIZE}\s?(?:[BMKk]|billions?|millions?|trillions?)\b|billions?|millions?|trillions?"
                          r"|model sizes?"
                          r"|\b(?:Base|Large|XL|XXL)\b|-(?:base|small|large|tiny|medium)\b|\d[\d,]*[- ]layers?\b"
                          r"|\bn layer|ResNet-?\d+|\d+(?:\.\d+)?x (?:compression|smaller|larger|fewer parameters)"
                          r"|compression rate|order of magnitude (?:larger|smaller)"),
        near_digit=re.compile(r"\bparam(?:eter)?s?\b"),
        kind="size-like number (B/M/K, billion, million), parameter count, layer count, Base/Large/XL size "
             "or relative size",
    ),
    Family(
        name="training cost",
        question="What training cost (time, GPU-hours or money) does {name} report?",
        patterns=(
            _p("GPU hours", r"(?:~?\d+(?:\.\d+)? and )?~?\d+(?:\.\d+)?\s?GPU[- ]hours"),
            _p("training time", r"\b(?:to just|less than|in|within|under) \d+(?:\.\d+)? "
                                r"(?:minutes|hours|days|weeks)\b"),
            _p("training time", r"\ba few hours of training\b"),
            _p("money", r"\$\s?\d[\d,.]*(?:\s?(?:[kKmM]|million|billion))?"),
            _p("share of a training cost", r"[<~]?\d+(?:\.\d+)?\\?%\sof the (?:original|initial)[\w\s-]{0,30}?cost"),
            _p("computational cost saved", r"\d+(?:\.\d+)?\\?%\s(?:computational|training|compute) costs?"
                                           r"|(?:computational|training) cost by (?:about |up to )?\d+(?:\.\d+)?%"),
            _p("compute saved", r"\d+(?:\.\d+)?\\?% less compute"),
            _p("wall-clock time saved", r"wall-clock time by \d+(?:\.\d+)?%"),
            _p("training steps saved", r"\d+ times fewer training steps"),
        ),
        absent=re.compile(r"\$|order of magnitude", _I),
        near_digit=re.compile(r"\b(?:costs?|compute|FLOPs|GPU[- ]hours|hours|days|minutes|weeks|time|speed\w*|faster"
                              r"|budget|energy|efficien\w*|dollars?|throughput|runtime|wall-clock|steps|iterations"
                              r"|epochs|convergence)\b", _I),
        kind="number next to a cost, time, compute, speed or energy word",
    ),
    Family(
        name="hardware",
        question="What hardware (GPU or TPU type and count) does {name} report?",
        patterns=(
            _p("GPU model", r"(?:NVIDIA\s)?RTX[- ]?\d{4}(?:\s?Ti)?(?:\sGPU)?"),
            _p("GPU model", r"(?:preemptible )?\b(?:A100|H100|V100|P100|T4|K80)\b(?:\sGPUs?)?"),
            _p("TPU", r"TPUv\d(?:\sPod)?|TPU v\d"),
            _p("number of GPUs", r"\b\d[\d,]*[- ]GPUs?\b(?![- ]hours)"),
            _p("consumer GPU", r"consumer(?:-grade)? (?:\d+GB )?GPUs?(?: with \d+GB memory)?"),
            _p("single machine", r"\bsingle (?:computer|GPU|machine)\b"),
        ),
        absent=re.compile(r"\b(?:GPUs?|TPUs?|CPUs?|FPGAs?|ASICs?|accelerators?|clusters?|hardware|devices?|chips?"
                          r"|machines?|computers?|nodes?|NVIDIA|RTX|HPC|edge|smartphones?|on-device|servers?"
                          r"|instances|processors?|cloud|supercomputers?)\b", _I),
        kind="hardware word (GPU, TPU, cluster, device, hardware, ...)",
    ),
)

_SURVEY = re.compile(r"\b(?:survey|review|overview)\b", _I)


def short_name(title: str) -> str:
    """How a question names the paper: the name before the colon when it is a name (up to four words),
    otherwise the whole title in quotes."""
    head, sep, _ = title.partition(":")
    if sep and len(head.split()) <= 4:
        return head.strip()
    return f'the paper "{title}"'


def find_spans(family: Family, abstract: str) -> list[tuple[str, str]]:
    """(span, pattern label) of every non-overlapping match, longest first where matches overlap, in text order."""
    found: list[tuple[int, int, str]] = []
    for label, pattern in family.patterns:
        for m in pattern.finditer(abstract):
            if m.group().strip():
                found.append((m.start(), m.end(), label))
    found.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[tuple[int, int, str]] = []
    for start, end, label in found:
        if kept and start < kept[-1][1]:
            if end - start > kept[-1][1] - kept[-1][0]:
                kept[-1] = (start, end, label)
            continue
        kept.append((start, end, label))
    spans: list[tuple[str, str]] = []
    for start, end, label in kept:
        span = abstract[start:end].strip()
        if span.casefold() not in [s.casefold() for s, _ in spans]:
            spans.append((span, label))
    return spans


@dataclass(frozen=True)
class Candidate:
    title: str
    family: Family
    spans: tuple[tuple[str, str], ...]  # empty: unanswerable
    reason: str

    @property
    def answerable(self) -> bool:
        return bool(self.spans)

    def item(self) -> dict:
        question = self.family.question.format(name=short_name(self.title))
        question = question[0].upper() + question[1:]
        if self.answerable:
            return {"type": "single", "question": question, "gold_titles": [self.title],
                    "answer_points": [s for s, _ in self.spans[:MAX_POINTS]], "note": "keyword", "source": SOURCE}
        return {"type": "unanswerable", "subtype": "missing_detail", "question": question, "gold_titles": [],
                "answer_points": [], "closest_titles": [self.title], "source": SOURCE,
                "note": f"generated-slot: no {self.family.name} pattern matched and the abstract has no "
                        f"{self.family.kind}"}


def classify(title: str, abstract: str, family: Family) -> Candidate | None:
    """Answerable with the matched spans, unanswerable when nothing of the kind is mentioned, else None."""
    abstract = " ".join(abstract.split())
    spans = find_spans(family, abstract)
    if spans:
        labels = sorted({label for _, label in spans[:MAX_POINTS]})
        return Candidate(title, family, tuple(spans), f"matched {', '.join(labels)}")
    if _SURVEY.search(title):
        return None  # a survey reports no experiments of its own: asking it for hardware is not a fair test
    if not family.mentioned(abstract):
        return Candidate(title, family, (), f"no {family.name} pattern and no {family.kind}")
    return None


def candidates(papers: Sequence[tuple[str, str]]) -> list[Candidate]:
    return [c for title, abstract in papers for family in FAMILIES
            if (c := classify(title, abstract, family)) is not None]


def _pick(pool: list[Candidate], n: int, rng: random.Random, used: dict[str, int]) -> list[Candidate]:
    """Up to n candidates, taking the families in turn and a random paper each time, one per paper and label."""
    by_family = {f.name: [c for c in pool if c.family.name == f.name] for f in FAMILIES}
    for group in by_family.values():
        rng.shuffle(group)
    picked: list[Candidate] = []
    while len(picked) < n and any(by_family.values()):
        for name in [f.name for f in FAMILIES]:
            group = by_family[name]
            while group:
                c = group.pop()
                if used.get(c.title, 0) < MAX_PER_PAPER and c.title not in {p.title for p in picked}:
                    picked.append(c)
                    used[c.title] = used.get(c.title, 0) + 1
                    break
            if len(picked) >= n:
                break
    return picked


def generate(papers: Sequence[tuple[str, str]], seed: int = SLOT_SEED, answerable: int = ANSWERABLE,
             unanswerable: int = UNANSWERABLE) -> list[tuple[Candidate, dict]]:
    """The chosen candidates with their items, answerable ones first, in paper order within each label."""
    rng = random.Random(seed)
    pool = candidates(papers)
    used: dict[str, int] = {}
    order = {title: i for i, (title, _) in enumerate(papers)}
    chosen = []
    for want, n in ((True, answerable), (False, unanswerable)):
        picked = _pick([c for c in pool if c.answerable == want], n, rng, used)
        family_order = [f.name for f in FAMILIES]
        picked.sort(key=lambda c: (order[c.title], family_order.index(c.family.name)))
        chosen += picked
    items = []
    counters = {"single": 0, "unans": 0}
    for c in chosen:
        item = c.item()
        prefix = "single" if c.answerable else "unans"
        counters[prefix] += 1
        items.append((c, {"id": f"{prefix}-{counters[prefix]:02d}", **item}))
    return items


def bundled_papers(path: Path = BUNDLED_PAPERS) -> list[tuple[str, str]]:
    return [(p.title, p.abstract) for p in read_papers(path)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paperchat.evals.slots", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="JSONL file to write the items to")
    parser.add_argument("--papers", type=Path, default=BUNDLED_PAPERS, help="the collection (default: bundled)")
    parser.add_argument("--seed", type=int, default=SLOT_SEED)
    parser.add_argument("--answerable", type=int, default=ANSWERABLE)
    parser.add_argument("--unanswerable", type=int, default=UNANSWERABLE)
    args = parser.parse_args(argv)
    papers = bundled_papers(args.papers)
    generated = generate(papers, args.seed, args.answerable, args.unanswerable)
    pool = candidates(papers)
    print(f"{len(pool)} candidates in {len(papers)} papers: {sum(c.answerable for c in pool)} answerable, "
          f"{sum(not c.answerable for c in pool)} unanswerable; seed {args.seed}")
    for c, item in generated:
        label = "answerable  " if c.answerable else "unanswerable"
        what = f" -> {item['answer_points']}" if c.answerable else ""
        print(f"{item['id']:<9} {label} {c.family.name:<13} {c.title[:60]!r}: {c.reason}{what}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for _, item in generated:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    n_papers = len({c.title for c, _ in generated})
    print(f"wrote {len(generated)} items over {n_papers} papers to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
