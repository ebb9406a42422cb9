"""Small text helpers shared by the answer chain: sentences, content terms, title matching."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from paperchat.rag.names import normalize_title  # noqa: F401  (titles are compared in one way, defined there)


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


#: bm25s' English stopwords (`bm25s.stopwords.STOPWORDS_EN`, a guard test keeps the two equal): held here so
#: tokenizing a question does not import bm25s, which pulls in numba and scipy (0.4 s of every cold start).
STOPWORDS_EN = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it", "no", "not",
    "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they", "this", "to", "was",
    "will", "with"))
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's CountVectorizer pattern, as bm25s.tokenize splits


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """The keyword index's terms: lowercased words of two or more characters, bm25s' English stopwords removed,
    Snowball-stemmed; the same terms as `bm25s.tokenize(texts, stopwords="en", stemmer=...)` (a test checks)."""
    stem = _stemmer().stemWords
    words = [[w for w in _TOKEN.findall(text.lower()) if w not in STOPWORDS_EN] for text in texts]
    vocab = list({w: None for doc in words for w in doc})
    stems = dict(zip(vocab, stem(vocab), strict=True))
    return [[stems[w] for w in doc] for doc in words]


_ABBREV = r"(?<!\be\.g)(?<!\bi\.e)(?<!\bet al)(?<!\bvs)(?<!\bFig)(?<!\bEq)(?<!\bcf)(?<!\bapprox)"
_SENTENCE_END = re.compile(_ABBREV + r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_PARAGRAPH = re.compile(r"\n\s*\n")
#: A section heading line: numbered ('3.2 Training Details', 'IV. Experiments', 'A Proofs') or a usual name, with
#: no sentence punctuation at its end.
_HEADING = re.compile(r"^(?:(?:\d+(?:\.\d+)*\.?|[IVX]+\.|[A-Z]\.?)\s+[A-Z][^.!?:]*|(?:Abstract|Introduction|Related "
                      r"Work|Background|Method|Methods|Experiments|Results|Discussion|Conclusions?|Limitations|"
                      r"References|Acknowledg(?:e)?ments|Appendix)[^.!?:]*)$")
_TAG_END = re.compile(r"(</?[A-Za-z][\w-]{0,20}>)\s+(?=[A-Z0-9\"'(\[])")

#: Words that say what kind of question it is, not what it is about.
QUESTION_WORDS = {
    "paper", "papers", "collect", "collection", "articl", "work", "studi", "author", "propos", "present",
    "describ", "introduc", "use", "do", "doe", "show", "approach", "method", "tell", "explain", "find",
    "which", "what", "how", "anyth", "someth", "say", "said", "mention", "discuss", "known", "kind", "way",
    "one", "ani", "main", "exist", "differ", "compar", "give", "get", "help", "also", "much", "mani",
    "did", "can", "could", "would", "should", "veri", "while", "whi", "when", "where", "who", "whose", "whom",
    "has", "have", "had", "been", "were", "onli", "just", "more", "most", "less", "other", "same", "than",
    "about", "over", "into", "onto", "from", "them", "they", "their", "it", "itself", "thing", "good", "well",
    "i", "me", "my", "we", "our", "you", "your", "us", "ve", "ll", "re", "let", "like", "want", "need",
    "techniqu", "exampl", "specif", "exact", "actual", "realli", "thi", "that", "these", "those", "such",
}

_AUX = r"(?:is|are|was|were|does|do|did|has|have|had|can|could|would|will|should|may|might)"
_ASKED = [
    re.compile(r"\b(?:what|which)\s+((?:(?!" + _AUX + r"\b)[^\s?,;.]+\s+){1,8}?)" + _AUX + r"\b", re.I),
    re.compile(r"\bhow\s+(?:much|many)\s+((?:(?!" + _AUX + r"\b)[^\s?,;.]+\s+){1,4}?)" + _AUX + r"\b", re.I),
    # 'how much does GaLore cut memory usage in ...': the verb and what it acts on (cut, memory, usage)
    re.compile(r"\bhow\s+(?:much|many)\s+" + _AUX + r"\s+\S+\s+(\w+(?:\s+(?!(?:in|on|of|for|to|by|with|from|than|"
               r"over|at|compared|and|or|when|while|if)\b)[\w-]+){0,2})", re.I),
]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text every component can take: lone surrogates (from JSON "\\ud800" or undecodable bytes on argv) become
    U+FFFD, control characters other than tab and newlines are dropped. Applied once at each boundary
    (readers, the assistant's inputs)."""
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub("", text) if _CONTROL.search(text) else text


def split_sentences(text: str) -> list[str]:
    """Sentences of an abstract or a full-text passage; abbreviations such as e.g., i.e. and et al. do not end
    one. A paragraph break ends one, and a paragraph that is a section heading ('7 Limitations') is not a
    sentence, so it is never glued to the sentence after it. A markup tag ('</system>') ends one too, so text
    smuggled in after a tag is not glued to the next real sentence."""
    out = []
    for paragraph in _PARAGRAPH.split(text):
        flat = " ".join(paragraph.split())
        if not flat or (len(flat.split()) <= 8 and _HEADING.match(flat)):
            continue
        for piece in _TAG_END.sub("\\1\0", flat).split("\0"):
            out += [p.strip() for p in _SENTENCE_END.split(piece) if len(p.strip()) > 1]
    return out


def content_terms(text: str) -> list[str]:
    """Stemmed terms without stopwords or question-framing words, in order, unique."""
    seen: dict[str, None] = {}
    for term in tokenize([text])[0]:
        if term not in QUESTION_WORDS:
            seen.setdefault(term, None)
    return list(seen)


def body_of(chunk_text: str, title: str) -> str:
    """A stored chunk without the title line that travels with it."""
    prefix = f"{title}\n\n"
    return chunk_text[len(prefix):] if chunk_text.startswith(prefix) else chunk_text


#: Outcome words: every abstract reports some, so asking for them is not asking for a detail.
GENERIC_ASKED = {"gain", "improv", "result", "perform", "benefit", "effect", "impact", "advantag", "contribut",
                 "idea", "problem", "goal", "purpos", "limit", "outcom", "conclus", "insight", "lesson"}


def asked_terms(question: str) -> list[str]:
    """The content terms of what a wh-question asks for: 'What learning rate did X use' -> learn, rate.

    Empty when the question asks generally ('What does X propose?', 'Which papers ...'). Quoted
    titles (put there when a follow-up was resolved) are not part of what is asked.
    """
    question = re.sub(r'"[^"]*"', " ", question)
    question = re.sub(r"\([^()]*\)", " ", question)  # 'What training cost (time, GPU-hours or money) does'
    found: list[str] = []
    for pattern in _ASKED:
        for match in pattern.finditer(question):
            found += [t for t in content_terms(match.group(1)) if t not in found and t not in GENERIC_ASKED]
    return found


def acronyms(question: str) -> dict[str, list[str]]:
    """Acronyms a paper may use for a phrase of the question: 'word error rates' -> {'wer': [word, error, rate]}."""
    out: dict[str, list[str]] = {}
    words = re.findall(r"[A-Za-z][\w-]*", re.sub(r'"[^"]*"', " ", question))
    for size in (3, 4):
        for i in range(len(words) - size + 1):
            span = words[i: i + size]
            terms = content_terms(" ".join(span))
            if len(terms) == size:
                out["".join(w[0] for w in span).lower()] = terms
    return out


def merge_overlapping(pieces: list[str]) -> str:
    """Join consecutive chunks, dropping the text each one repeats from the end of the previous one."""
    merged = ""
    for piece in pieces:
        overlap = 0
        for size in range(min(len(merged), len(piece)), 0, -1):
            if merged.endswith(piece[:size]):
                overlap = size
                break
        merged = piece if not merged else merged + ("" if overlap else "\n\n") + piece[overlap:]
    return merged.strip()


# ------------------------------------------------------------------------------------- sentences to avoid

#: Sentences that say nothing about the question: code and data links, "in this paper we" framing.
_BOILERPLATE = re.compile(
    r"(?:https?://|www\.|github\.com"
    r"|\bcode (?:and \w+ )?(?:is|are|will be) (?:publicly |freely )?(?:available|released)"
    r"|\b(?:is|are) (?:publicly |freely )?available (?:at|on|from)\b|\bwe (?:release|open[- ]source|make)\b.{0,40}"
    r"\b(?:code|models?|data(?:set)?s?|weights)\b|^(?:in this (?:paper|work|study|article)|this (?:paper|work|"
    r"article))(?:,)? we\b[^.]{0,60}(?:propose|present|introduce|study|investigate|explore|address)\w*\b[^.]{0,40}\.?$"
    r"|\bproject page\b|\bsupplementary material\b)",
    re.I)
#: Sentences addressed to a model rather than a reader: instructions, role markers, tag escapes.
_INSTRUCTION = re.compile(
    r"(?:\b(?:ignore|disregard|forget|override)\b.{0,40}\b(?:instructions?|rules?|prompts?|above|previous)\b"
    r"|\b(?:system|assistant|user|developer)\s*(?:prompt|message|mode)?\s*:|\byou are (?:now|an?|the)\b"
    r"|\b(?:new|updated) instructions?\b|\b(?:say|respond|reply|answer|print|output)\b.{0,30}\b(?:only|exactly)\b"
    r"|\bdeveloper mode\b|\bjailbreak|</?\s*(?:passage|evidence|system|instructions?|prompt)\b|<\|[a-z_]+\|>"
    r"|\[/?(?:INST|SYS)\]|\bas an ai\b|\bpwned\b"
    r"|\b(?:note|message|instructions?|reminder)s? (?:to|for) (?:any |the |all |every )?(?:large )?(?:language models?|"
    r"llms?|ai|ai systems?|assistants?|chatbots?|models? reading)\b"
    r"|\b(?:language models?|llms?|ai assistants?|chatbots?) (?:reading|processing|summari[sz]ing|asked about) this\b)",
    re.I)
_PAPER_MARKER = re.compile(r"\[(\s*\d+(?:\s*[,;–-]\s*\d+)*\s*)\]")


def is_boilerplate(sentence: str) -> bool:
    """A sentence no answer should quote: a link to code or data, or pure framing ('In this paper, we
    propose a method.')."""
    return bool(_BOILERPLATE.search(sentence))


def is_instruction(sentence: str) -> bool:
    """A sentence addressed to a model (an injected instruction, a role marker, a tag escape): never quoted
    as an answer, and shown in the trace as filtered."""
    return bool(_INSTRUCTION.search(sentence))


def neutralise_markers(text: str) -> str:
    """Citation-like markers inside paper text ('as shown in [7]') become '(ref 7)', so only the answer
    composer's own markers ever cite (no period: 'ref.' would end a sentence)."""
    return _PAPER_MARKER.sub(lambda m: f"(ref {m.group(1).strip()})", text)


# ------------------------------------------------------------------------------------- multi-part questions

_ASK_SPLIT = re.compile(
    r"\?\s+(?=\S)|[,;]?\s+(?:and|but|also)\s+(?=(?:(?:on|in|at|with|for|from|under)\s+)?(?:what|which|how|why|when|"
    r"where|who|whose|does|do|did|is|are|"
    r"can|could|was|were|by how much|to what extent)\b)",
    re.I)


def split_asks(question: str) -> list[str]:
    """A question's asks: 'What does GaLore propose, and how much memory does it save?' -> two asks. A
    question with one ask is returned whole. Each ask keeps enough of the subject to stand alone."""
    parts = [p.strip(" ?,;") for p in _ASK_SPLIT.split(question.strip()) if p and p.strip(" ?,;")]
    parts = [p for p in parts if len(p.split()) >= 2]
    return parts if len(parts) >= 2 else [question.strip()]
