"""What kind of answer a question wants, and whether the evidence has one: the answer gate's check for details.

"What learning rate did GaLore use?" wants a number next to "learning rate"; "Which GPU model was used?"
wants a GPU's name; "Which university are the authors at?" an institution. A passage about the right paper
that has no such thing does not answer the question, however close its topic: that is what a missing-detail
question looks like. `wanted(question)` names the slot (or None for a general question); `found(slot, text)`
says whether a text has a filler for it. The lexicons are general (units, hardware, metrics, institutions),
written for questions people ask about papers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from paperchat.rag.text import asked_terms, content_terms, split_sentences

_NUMBER = re.compile(r"(?<![\w(.])\d[\d,.]*(?:\s*(?:%|x\b|×|times\b|[KMBT]\b))?(?![\w)])|\b\d[\d,.]*[KMBT]?x?\b(?!\))")
#: Named hardware, not the words 'GPU' or 'cluster' (every systems abstract has those).
_HARDWARE = re.compile(r"\b(?:[AHVPKLT]\d{2,3}|RTX\s?\d{3,4}|GTX\s?\d{3,4}|TPU\s?v?\d\w*|TPUv\d\w*|Tesla\s\w+|"
                       r"Ascend\s?\d+\w*|Gaudi\s?\d?|MI\d{3}\w*|"
                       r"\d[\d,]*\s*(?:GPUs|TPUs|accelerators|chips|nodes))\b", re.I)
_MONEY = re.compile(r"[$€£]\s?\d|\b\d[\d,.]*\s*(?:dollars|usd|k\$)|\b(?:gpu|tpu|accelerator)[- ]?(?:hours|days|years)\b"
                    r"|\b\d[\d,.]*\s*(?:hours?|days?|weeks?|minutes?|h)\b", re.I)
_METRIC = re.compile(r"\b(?:accuracy|f1|bleu|rouge|meteor|perplexity|wer|cer|map|auc|fid|psnr|ssim|recall|"
                     r"precision|exact match|top-1|top-5|error rate|success rate|pass@\d|elo|win rate|mrr|ndcg|"
                     r"spearman|pearson|mse|mae|iou|dice)\b", re.I)
_INSTITUTION = re.compile(r"\b(?:university|universit[éà]|institute|college|laboratory|lab|school of|inc\.?|corp|"
                          r"google|deepmind|microsoft|meta|facebook|openai|anthropic|nvidia|alibaba|tencent|baidu|"
                          r"huawei|amazon|apple|ibm|mit|stanford|berkeley|cmu|eth)\b", re.I)
_SIZE = re.compile(r"\b\d[\d,.]*\s?(?:[KMBT]\b|billion|million|thousand)|\bparameters?\b", re.I)
_NAMED = re.compile(r"(?<![\w-])(?!(?:[A-Z]{2,}s)\b)(?:[A-Z][a-z]*[A-Z0-9][\w-]*|[A-Z]{2,}[\w-]*\d*)(?![\w-])")

#: Question phrasings -> the slot they want. Checked in order; the first match wins.
_WANTS: list[tuple[str, re.Pattern[str]]] = [
    ("hardware", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,2}(?:gpus?|tpus?|hardware|accelerators?|chips?|"
                            r"devices?|machines?)\b(?![\s-]*(?:memory|hours|days|utili[sz]ation))"
                            r"|\bon (?:what|which) hardware\b", re.I)),
    ("institution", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,1}(?:university|universities|institution|"
                               r"company|lab|organi[sz]ation|affiliation)s?\b|\bwhere (?:are|were|do|did) the "
                               r"authors\b|\baffiliat", re.I)),
    ("money", re.compile(r"\b(?:cost|price|dollars|budget|gpu-hours|gpu hours|how long|how many (?:days|hours|weeks)|"
                         r"training time)\b", re.I)),
    ("metric", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,1}(?:metrics?|measures?|scores?)\b", re.I)),
    ("size", re.compile(r"\b(?:model sizes?|how many parameters|numbers? of parameters|how big|how large)\b", re.I)),
    ("named", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,1}(?:datasets?|benchmarks?|corpus|corpora|"
                         r"models?|architectures?|optimi[sz]ers?|languages?|baselines?)\b", re.I)),
    ("number", re.compile(r"\bhow (?:much|many|often|fast|far)\b|\bby (?:how much|what factor)\b|\bwhat (?:\w+\s+)?"
                          r"(?:rate|ratio|percentage|speed-?ups?|wall-clock|batch size|size|number|count|throughput|"
                          r"latency|temperature|dimension|depth|width)\b", re.I)),
]
_FILLERS = {"hardware": _HARDWARE, "institution": _INSTITUTION, "money": _MONEY, "metric": _METRIC, "size": _SIZE,
            "named": _NAMED, "number": _NUMBER}


#: Slots whose filler is specific on its own (a GPU's name, a university, GPU-hours): no asked terms needed.
_SELF_EVIDENT = frozenset({"hardware", "institution", "money"})
#: Asked terms too common in abstracts to place a filler ('training cost': the cost must be there, not 'train').
_WEAK_TERMS = frozenset({"train", "model", "use", "number", "result", "paper", "method", "report"})
_AFTER_HOW = re.compile(r"\bhow (?:much|many)\s+((?:[\w-]+\s+){0,1}[\w-]+)", re.I)


@dataclass(frozen=True)
class Slot:
    kind: str  # hardware | institution | money | metric | size | named | number
    terms: tuple[str, ...]  # the stemmed content terms of what is asked ('learn', 'rate')
    given: frozenset[str] = frozenset()  # words of the question: a filler must be new, not the question's own


def wanted(question: str) -> Slot | None:
    """The slot a question asks to fill, or None for a general question ('What does GaLore propose?')."""
    plain = re.sub(r'"[^"]*"', " ", question)
    for kind, pattern in _WANTS:
        if pattern.search(plain):
            terms = [t for t in asked_terms(question) if t not in _WEAK_TERMS]
            if not terms and (after := _AFTER_HOW.search(plain)):  # 'how many human labelers' -> human, label
                terms = [t for t in content_terms(after.group(1)) if t not in _WEAK_TERMS]
            given = frozenset(w.lower() for w in re.findall(r"[\w-]+", question))
            return Slot(kind, tuple(terms), given)
    return None


_COST_WORDS = re.compile(r"\b(?:costs?|steps|faster|speed-?ups?|time|times|fewer|cheaper|budget)\b", re.I)


def _fillers(slot: Slot, sentence: str) -> bool:
    """Whether the sentence has a filler of the slot's kind that is not a word of the question itself (a cost
    is also a number said of cost, time or steps: '14 times fewer training steps', '<1% of the cost')."""
    if slot.kind == "money" and _COST_WORDS.search(sentence) and _NUMBER.search(sentence):
        return True
    return any(m.group(0).strip().lower() not in slot.given for m in _FILLERS[slot.kind].finditer(sentence))


def found(slot: Slot, passages: list[str]) -> float:
    """1.0 when a sentence of the passages has a filler of the slot's kind next to what is asked (at least half
    of its asked terms; none needed for self-evident kinds), 0.5 when a filler is there but not next to those
    terms, 0.0 when none is. Fillers that are words of the question ('GSM8K' in a question about GSM8K) do not
    count."""
    best = 0.0
    need = 0 if slot.kind in _SELF_EVIDENT else (len(slot.terms) + 1) // 2
    for sentence in (s for p in passages for s in split_sentences(p)):
        if not _fillers(slot, sentence):
            continue
        if len(set(slot.terms) & set(content_terms(sentence))) >= need:
            return 1.0
        best = 0.5
    return best
