"""What kind of answer a question wants, and whether the evidence has one: the answer gate's check for details.

"What learning rate did GaLore use?" wants a number next to "learning rate"; "Which GPU model was used?"
wants a GPU's name; "Which university are the authors at?" an institution. A passage about the right paper
that has no such thing does not answer the question, however close its topic: that is what a missing-detail
question looks like. `wanted(question)` names the slot (or None for a general question); `found(slot, text)`
says whether a text has a filler for it. The lexicons are general (units, hardware, metrics, institutions),
written for questions people ask about papers. A detail is of its kind: "how many labelers" wants a count of
labelers ('40 labelers', not the '1.3B' of the same sentence), "what batch size" both words beside a number,
"how many GPU-hours" a duration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from paperchat.rag.text import asked_terms, content_terms, split_asks, split_sentences

#: A number ('3e-4' too), not a name's version ('GPT-3') or a reference marker ('(3)').
_NUMBER = re.compile(r"(?<![\w(.])\d+(?:\.\d+)?e-?\d+\b"
                     r"|(?<![\w(.])(?<![A-Za-z]-)\d[\d,.]*(?:\s*(?:%|x\b|×|times\b|[KMBT]\b))?(?![\w)])"
                     r"|(?<![A-Za-z]-)\b\d[\d,.]*[KMBT]?x?\b(?!\))")
#: A GPU's or accelerator's name ('A100', 'RTX-2080', 'TPUv3', 'Gaudi2').
_HARDWARE_NAMES = (r"[AHVPKLT]\d{2,3}|[APLT]\d\s?GPUs?|RTX[\s-]?\d{3,4}|GTX[\s-]?\d{3,4}|TPU\s?v?\d\w*|TPUv\d\w*|"
                   r"Tesla\s\w+|Ascend\s?\d+\w*|Gaudi\s?\d?|MI\d{3}\w*")
#: Named hardware, not the words 'GPU' or 'cluster' (every systems abstract has those).
_HARDWARE = re.compile(rf"\b(?:{_HARDWARE_NAMES}|"
                       r"\d[\d,]*[\s-]*(?:GPUs?|TPUs?|accelerators|chips|nodes)|single (?:computer|GPU|machine|node)|"
                       r"consumer(?:-grade)? (?:\d+\s?GB )?GPUs?)\b", re.I)
#: 'Which GPU model' asks for the name: a count ('128 GPUs') or 'a single machine' does not say which GPU.
_HARDWARE_NAME = re.compile(rf"\b(?:{_HARDWARE_NAMES})\b", re.I)
_ASKS_HARDWARE_NAME = re.compile(r"\b(?:gpus?|tpus?|accelerators?|chips?)\s+(?:models?|types?|kinds?|names?|"
                                 r"generations?)\b|\b(?:type|kind|model|make) of "
                                 r"(?:gpus?|tpus?|accelerators?|chips?)\b", re.I)


def _asks_hardware_name(question: str) -> bool:
    """'Which GPU model ...' asks for a name; 'What hardware (GPU or TPU type and count)' a name or a count."""
    plain = re.sub(r"\([^()]*\)", " ", question)
    return bool(_ASKS_HARDWARE_NAME.search(plain)) and not re.search(r"\b(?:count|number|how many)\b", plain, re.I)


_MONEY = re.compile(r"[$€£]\s?\d|\b\d[\d,.]*\s*(?:dollars|usd|k\$)|\b(?:gpu|tpu|accelerator)[- ]?(?:hours|days|years)\b"
                    r"|\b\d[\d,.]*\s*(?:hours?|days?|weeks?|minutes?|h)\b", re.I)
_TIME = re.compile(r"\b\d[\d,.]*\s*(?:(?:gpu|tpu|accelerator)[- ]?)?(?:hours?|days?|weeks?|months?|minutes?|h)\b"
                   r"|\b(?:a few|several|a couple of|a dozen) (?:hours|days|weeks|minutes)\b"
                   r"|\b(?:gpu|tpu|accelerator)[- ]?(?:hours|days|years)\b", re.I)
_METRIC = re.compile(r"\b(?:accuracy|f1|bleu|rouge|meteor|perplexity|wer|cer|map|auc|fid|psnr|ssim|recall|"
                     r"precision|exact match|top-1|top-5|error rate|success rate|pass@\d|elo|win rate|mrr|ndcg|"
                     r"spearman|pearson|mse|mae|iou|dice)\b", re.I)
_INSTITUTION = re.compile(r"\b(?:university|universit[éà]|institute|college|laboratory|lab|school of|inc\.?|corp|"
                          r"google|deepmind|microsoft|meta|facebook|openai|anthropic|nvidia|alibaba|tencent|baidu|"
                          r"huawei|amazon|apple|ibm|mit|stanford|berkeley|cmu|eth)\b", re.I)
_SIZE = re.compile(r"\b\d[\d,.]*\s?(?:[KMBT]\b|billion|million|thousand)|\bparameters?\b", re.I)
#: Natural and programming languages by name ('which languages': 'Amharic and Tigrinya', 'Python').
_LANGUAGE = re.compile(
    r"\b(?:English|Chinese|Mandarin|Cantonese|Spanish|French|German|Japanese|Korean|Arabic|Hindi|Russian|Portuguese|"
    r"Italian|Dutch|Danish|Swedish|Norwegian|Finnish|Polish|Czech|Slovak|Slovenian|Turkish|Persian|Farsi|Hebrew|"
    r"Greek|Vietnamese|Thai|Indonesian|Malay|Swahili|Amharic|Tigrinya|Yoruba|Hausa|Igbo|Zulu|Bengali|Urdu|Tamil|"
    r"Telugu|Marathi|Gujarati|Punjabi|Ukrainian|Romanian|Hungarian|Catalan|Basque|Welsh|Irish|Icelandic|Estonian|"
    r"Latvian|Lithuanian|Croatian|Serbian|Bulgarian|Tagalog|Filipino|Latin|Sanskrit|Python|Java|JavaScript|"
    r"TypeScript|C\+\+|Rust|Haskell|Scala|Kotlin|Verilog|SQL)\b")
#: Acronyms of a field or a kind of thing ('NLP tasks', 'LLMs', 'AI applications'): no dataset's or model's name (an
#: architecture's, such as CNN, may be one: 'which architecture' is answered by it).
_GENERIC_ACRONYMS = frozenset({"ai", "ml", "dl", "nlp", "nlu", "nlg", "cv", "llm", "lm", "vlm", "mllm", "rl", "gpu",
                               "tpu", "cpu", "api", "sota", "qa", "ir", "asr", "tts", "ocr"})
_NAMED = re.compile(r"(?<![\w-])(?!(?:[A-Z]{2,}s)\b)(?:[A-Z][a-z]*[A-Z0-9][\w-]*|[A-Z]{2,}[\w-]*\d*)(?![\w-])")

#: Question phrasings -> the slot they want. Checked in order; the first match wins.
_WANTS: list[tuple[str, re.Pattern[str]]] = [
    ("hardware", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,2}(?:gpus?|tpus?|hardware|accelerators?|chips?|"
                            r"devices?|machines?|graphics cards?)\b(?![\s-]*(?:memory|hours|days|utili[sz]ation))"
                            r"|\bon (?:what|which) hardware\b", re.I)),
    ("institution", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,1}(?:university|universities|institution|"
                               r"company|lab|organi[sz]ation|affiliation)s?\b|\bwhere (?:are|were|do|did) the "
                               r"authors\b|\baffiliat", re.I)),
    # 'at what cost in performance' asks for a trade-off, not for money
    ("money", re.compile(r"\bhow much (?:\w+\s+){0,3}(?:cost|pay|spend)|(?<!\bat )\b(?:what|which)\s+(?:[\w-]+\s+){0,2}"
                         r"costs?\b|\b(?:what|which)\s+(?:[\w-]+\s+){0,2}(?:price|budget)\b"
                         r"|\bhow (?:expensive|many dollars)\b|\bcost in (?:us )?dollars\b"
                         r"|\bcosts? (?:of|to) (?:train|run|serve)", re.I)),
    ("time", re.compile(r"\b(?:gpu-hours|gpu hours|tpu-hours|how long|how many (?:days|hours|weeks|minutes)|"
                        r"(?:training|wall-clock|pre-?training) time)\b", re.I)),
    ("metric", re.compile(r"\b(?:which|what)\s+(?:\w+\s+){0,1}(?:metrics?|measures?|scores?)\b", re.I)),
    ("size", re.compile(r"\b(?:model sizes?|how many parameters|numbers? of parameters|parameter counts?|how big|"
                        r"how large)\b", re.I)),
    ("dataset", re.compile(r"\b(?:which|what)\s+(?:(?!(?:is|are|was|were|do|does|did)\b)[\w-]+\s+){0,3}"
                           r"(?:datasets?|benchmarks?|corpus|corpora|test sets?)\b", re.I)),
    ("language", re.compile(r"\b(?:which|what)\s+(?:[\w-]+\s+){0,1}(?:natural\s+)?languages?\b"
                            r"(?!\s+models?)", re.I)),
    ("named", re.compile(r"\b(?:which|what)\s+(?:[\w-]+\s+){0,2}(?:models?|llms?|architectures?|optimi[sz]ers?|"
                         r"baselines?|variants?)\b", re.I)),
    ("number", re.compile(r"\bhow (?:much|many|often|fast|far)\b|\bby (?:how much|what factor)\b"
                          r"|\bwhat (?:[\w-]+\s+){0,2}(?:rate|ratio|percentage|speed-?ups?|wall-clock|batch size|size|"
                          r"number|count|throughput|latency|temperature|dimension|depth|width|accuracy|"
                          r"perplexity|fraction|share|proportion|portion|values?|recall|precision)\b", re.I)),
]
_FILLERS = {"hardware": _HARDWARE, "institution": _INSTITUTION, "money": _MONEY, "time": _TIME, "metric": _METRIC,
            "size": _SIZE, "named": _NAMED, "dataset": _NAMED, "language": _LANGUAGE, "number": _NUMBER}
#: A name is a dataset's where the text says so: next to 'dataset', 'benchmark', 'corpus', 'tasks' ('the MATH
#: and HumanEval benchmarks', 'benchmark WMT10'), or where results are reported on it ('7.8% on SQuAD', 'results
#: on CIFAR-10 and ImageNet', '82% (CIFAR-10)', 'including DAVIS 2017'). A paper's own method ('Source
#: outperforms TDA techniques') or a field ('for NLP') is not one.
_DATA_CUE = re.compile(r"\b(?:datasets?|data ?sets?|benchmarks?|corpus|corpora|test sets?|suites?|tasks?|splits?|"
                       r"leaderboards?)\b", re.I)
_DATA_BEFORE = re.compile(r"(?:\b(?:on|across|including|includes|such as|from|in|over)|\d\s?%\s?\(?)\s*"
                          r"(?:(?:the|a|[\w-]+,)\s+){0,3}$", re.I)


#: Slots whose filler is specific on its own (a GPU's name, a university, GPU-hours, a name said to be a dataset): no
#: asked terms needed.
_SELF_EVIDENT = frozenset({"hardware", "institution", "money", "time", "dataset", "language"})
#: Asked terms too common in abstracts to place a filler ('training cost': the cost must be there, not 'train').
_WEAK_TERMS = frozenset({"train", "model", "use", "number", "result", "paper", "method", "report", "factor", "valu",
                         # verbs of change: 'how much does it raise throughput' asks for throughput ('a 20% increase')
                         "rais", "cut", "reduc", "increas", "decreas", "boost", "lower", "save", "shrink", "up"})
_AFTER_HOW = re.compile(r"\bhow (?:much|many)\s+((?:[\w-]+\s+){0,1}[\w-]+)", re.I)


@dataclass(frozen=True)
class Slot:
    kind: str  # hardware | institution | money | time | metric | size | dataset | language | named | number
    terms: tuple[str, ...]  # the stemmed content terms of what is asked ('learn', 'rate')
    given: frozenset[str] = frozenset()  # words of the question: a filler must be new, not the question's own
    counted: tuple[str, ...] = ()  # 'how many human labelers': the stems a count must be said of (human, label)
    asks: int = 1  # 'how many languages ..., and how much larger': two asks, their terms need not share a sentence
    head: str = ""  # 'how many new Russian tokens were added': the stem a count must be said of (token)
    name_only: bool = False  # 'which GPU model': hardware by name, not a count of GPUs
    parts: tuple[Slot | None, ...] = ()  # a question of two asks: each ask's own slot (None: a general ask)


def wanted(question: str) -> Slot | None:
    """The slot a question asks to fill, or None for a general question ('What does GaLore propose?'). A question
    of two asks ('How long does it take, and on what graphics card?') also gets each ask's slot (`parts`)."""
    asks = split_asks(question)
    slot = _wanted(question, len(asks))
    if slot is None or len(asks) < 2:
        return slot
    return replace(slot, parts=tuple(_wanted(ask, 1) for ask in asks))  # an ask is not split again


def _wanted(question: str, asks: int) -> Slot | None:
    plain = re.sub(r'"[^"]*"', " ", question)
    for kind, pattern in _WANTS:
        if pattern.search(plain):
            after = _AFTER_HOW.search(plain)  # 'how many human labelers' -> human, label
            how = [t for t in content_terms(after.group(1)) if t not in _WEAK_TERMS] if after else []
            terms = [t for t in asked_terms(question) if t not in _WEAK_TERMS] or how
            given = frozenset(w.lower() for w in re.findall(r"[\w-]+", question))
            many = kind == "number" and re.search(r"\bhow many\b", plain, re.I)
            return Slot(kind, tuple(terms), given, tuple(how) if many else (), asks,
                        _count_head(plain) if many else "",
                        kind == "hardware" and _asks_hardware_name(plain))
    return None


#: Where the counted phrase after 'how many' ends: a verb, a preposition or an article.
_COUNT_END = frozenset({"are", "is", "was", "were", "do", "does", "did", "have", "has", "had", "can", "could", "will",
                        "would", "should", "to", "in", "of", "for", "on", "at", "by", "with", "per", "the", "a", "an",
                        "and", "or", "that", "which", "than", "it", "they", "we", "its", "their"})


def _count_head(question: str) -> str:
    """What 'how many' counts: the last plural of the phrase after it ('how many new Russian tokens were added' ->
    token; 'how many layers deep' -> layer), else its last word; '' when there is none."""
    match = re.search(r"\bhow many\s+([\w\s-]+)", question, re.I)
    words: list[str] = []
    for word in (match.group(1).split() if match else [])[:4]:
        if word.lower() in _COUNT_END:
            break
        words.append(word)
    plural = [w for w in words if len(w) > 3 and w.lower().endswith("s") and not w.lower().endswith("ss")]
    for word in reversed(plural or words[-1:]):
        terms = content_terms(word)
        if terms:
            return terms[-1]
    return ""


_TIME_SAVED = re.compile(r"\b(?:wall-?clock|training|run-?ning|inference) time\b", re.I)
_COST_WORDS = re.compile(r"\b(?:costs?|steps|faster|speed-?ups?|time|times|fewer|cheaper|budget)\b", re.I)


_WORD_NUMBERS = ("two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|dozens?|"
                 "hundreds?|thousands?|millions?|billions?")
_COUNT = re.compile(rf"(?:\b\d[\d,.]*\s*[KMBT]?\b|\b(?:{_WORD_NUMBERS})\b)((?:\s+\(?(?!\d)[\w-]+\)?){{1,4}})", re.I)


def _counts(slot: Slot, sentence: str) -> bool:
    """A count said of what is asked: '40 labelers', 'three components', '1.4 million image-text pairs'."""
    counted = {slot.head} if slot.head else set(slot.counted)
    return any(counted & set(content_terms(match.group(1))) for match in _COUNT.finditer(sentence))


def _is_dataset(sentence: str, match: re.Match[str]) -> bool:
    """Whether the name the match found is said to be data: a dataset word just after it ('the MATH and
    HumanEval benchmarks') or just before it ('benchmark WMT10'), or a preposition of evaluation ('on',
    'across', 'including') or a score before it."""
    before, after = sentence[max(0, match.start() - 60): match.start()], sentence[match.end(): match.end() + 40]
    before = re.sub(r"\s*\($", "", before)  # 'the Massive Text Embedding Benchmark (MTEB)': the long form's cue
    near = " ".join(before.split()[-1:] + after.split()[:4])
    return bool(_DATA_CUE.search(near) or _DATA_BEFORE.search(before))


def _given(slot: Slot, name: str) -> bool:
    """A name the question itself uses, or a form of it ('NAT-trained' in a question about NAT)."""
    lower = name.lower()
    if lower in _GENERIC_ACRONYMS or lower.rstrip("s") in _GENERIC_ACRONYMS:
        return True  # 'NLP tasks' names a field, not a dataset
    forms = {lower, lower + "s", lower[:-1] if lower.endswith("s") else lower}  # 'GAN' in a question about GANs
    return bool(forms & slot.given) or any(part in slot.given for part in lower.split("-") if len(part) > 1)


def _fillers(slot: Slot, sentence: str) -> bool:
    """Whether the sentence has a filler of the slot's kind that is not a word of the question itself (a cost
    is also a number said of cost, time or steps: '14 times fewer training steps', '<1% of the cost')."""
    if slot.kind == "money" and _COST_WORDS.search(sentence) and _NUMBER.search(sentence):
        return True
    if slot.kind == "time" and _TIME_SAVED.search(sentence) and _NUMBER.search(sentence):
        return True  # 'how much wall-clock time does it save': 'reduces wall-clock time by 36%'
    if slot.counted:
        return _counts(slot, sentence)
    matches = (_HARDWARE_NAME if slot.name_only else _FILLERS[slot.kind]).finditer(sentence)
    if slot.kind in ("named", "dataset"):  # names: not the question's own in another form, nor a field's acronym
        return any(not _given(slot, m.group(0)) and (slot.kind == "named" or _is_dataset(sentence, m))
                   for m in matches)
    return any(m.group(0).strip().lower() not in slot.given for m in matches)


#: What is left of a LaTeX relation in extracted text ('leq5%'): read as a space, so the number stays one.
_LATEX = re.compile(r"\\?\b(?:leq|geq|approx|sim|le|ge)(?=\d)")
#: Words a passage may use for an asked attribute: a speed-up is also said as 'faster' or 'accelerates'.
_KIN = {"speedup": ("speed", "faster", "acceler", "quicker"), "speed": ("speedup", "faster", "acceler"),
        "faster": ("speedup", "speed", "acceler"), "cost": ("cheaper", "budget", "expens"),
        "memori": ("gb", "mb", "footprint")}


def _mentioned(terms: tuple[str, ...], words: set[str]) -> int:
    """How many of the asked terms the words contain, a term's kin ('faster' for 'speedup') counting."""
    return sum(t in words or any(k in words for k in _KIN.get(t, ())) for t in terms)


def found(slot: Slot, passages: list[str]) -> float:
    """1.0 when a sentence of the passages has a filler of the slot's kind next to what is asked (at least half
    of its asked terms, both words of a two-word attribute, a count said of what is counted; none needed for
    self-evident kinds), 0.5 when a filler is there but not next to those
    terms, 0.0 when none is, or when a number is asked for and the passages never name what it should measure.
    Fillers that are words of the question ('GSM8K' in a question about GSM8K) do not count. A question of two
    asks scores the mean of its asks (a general ask counts as filled): one filled ask of two is half an answer."""
    if slot.parts:
        return sum(1.0 if part is None else found(part, passages) for part in slot.parts) / len(slot.parts)
    best = 0.0
    if slot.kind in _SELF_EVIDENT:
        need = 0
    elif slot.kind == "number" and slot.asks == 1 and len(slot.terms) <= 2:
        need = len(slot.terms)  # 'batch size', 'learning rate': both words ('model size' is no batch size)
    else:
        need = (len(slot.terms) + 1) // 2
    sentences = [_LATEX.sub(" ", s) for p in passages for s in split_sentences(p)]
    words: list[set[str]] | None = None  # each sentence's terms, when every sentence's are needed
    if slot.kind == "number" and not slot.counted and need:
        # a number does not say what it measures: when the passages never speak of what is asked ('learning
        # rate', 'batch size'), their numbers ('65.5%', '70B') are of something else
        words = [set(content_terms(s)) for s in sentences]
        if _mentioned(slot.terms, set().union(*words)) < need:
            return 0.0
    for i, sentence in enumerate(sentences):
        if not _fillers(slot, sentence):
            continue
        if _mentioned(slot.terms, words[i] if words is not None else set(content_terms(sentence))) >= need:
            return 1.0
        best = 0.5
    return best
