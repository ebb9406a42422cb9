"""Names: the coined names a question uses, the acronyms a collection defines, and papers called by name.

- `coined_names(question)`: versioned, camel-case, acronym and hyphenated model names ("FlashAttention-2",
  "GaLore", "DPR", "GPT-4o"): the words a question can name something by that the evidence must contain.
- `mine_acronyms(text)`: "dense passage retrieval (DPR)" pairs, found by the Schwartz & Hearst (2003)
  algorithm (each letter of the short form in order in the long form, the first at a word start).
- `name_pattern(name)`: how a name is matched in text ("GPT-4" also matches "GPT 4" and "GPT4", not "GPT-4o").
- `NameIndex`: titles, the names papers go by (the part of a title before its colon, acronyms the paper
  defines for itself) and the collection's acronyms, so "What does DPR do?" finds the paper that says
  "Dense Passage Retriever (DPR)", "the GaLore paper" finds GaLore rather than Natural GaLore, and a loosely
  typed title still finds its paper.

Standard library only (rapidfuzz is imported where fuzzy matching is used), so the evals can share it.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Capitalised words and acronyms that are not names of anything a paper could be missing.
COMMON_CAPS = {
    "I", "A", "AI", "ML", "DL", "NLP", "LLM", "LLMS", "GPU", "GPUS", "CPU", "TPU", "API", "URL", "PDF", "US", "UK",
    "EU", "OK", "FAQ", "QA", "SOTA", "NN", "DNN", "CNN", "RNN", "RL", "CV", "IR", "KG", "VS", "ETC", "IE", "EG",
}
_WORD = re.compile(r"(?<![\w-])[A-Za-z][\w]*(?:[-.][\w]+)*(?![\w-])")
_ACRONYM_DEF = re.compile(r"\(([A-Za-z][A-Za-z0-9-]{1,11})s?\)")
_SPLIT_WORDS = re.compile(r"[\w']+")
_PARTS = re.compile(r"[-.]")
_TITLE_CUE = re.compile(r"\b(?:paper|article|titled|called|entitled|study)\b", re.I)


#: Ranks and cut-offs of a metric ('top-1 accuracy', 'recall-10'): digits, but not names.
_CUTOFF = re.compile(r"(?:top|hits|recall|precision|ndcg|rank)-?\d+", re.I)


def _is_coined(word: str) -> bool:
    """A word that names a thing: an inner capital (GaLore, LoRA, DPR), letters with digits (GPT-4, T5,
    Llama-2, BM25), or a hyphenated word with a capital after the hyphen (Mixture-of-Experts is not). A metric's
    cut-off ('top-1', 'Recall-10') is not a name."""
    if word[1:].islower() and not any(c.isdigit() for c in word):
        return False  # the common case, ordinary words: decided without building anything
    if _CUTOFF.fullmatch(word):
        return False
    letters = [c for c in word if c.isalpha()]
    if len(letters) < 2 and not any(c.isdigit() for c in word):
        return False
    # 'Long-Context' is Title Case, 'Linear-MoE' and 'CLIP-Italian' are names
    inner_caps = any(any(c.isupper() for c in part[1:]) and part.upper().rstrip("S") not in COMMON_CAPS
                     for part in _PARTS.split(word))
    has_digit = any(c.isdigit() for c in word) and any(c.isalpha() for c in word)
    return (inner_caps or has_digit) and word.upper().rstrip("S") not in COMMON_CAPS and word.upper() not in COMMON_CAPS


def coined_counts(text: str) -> Counter:
    """How often each coined name occurs in a text."""
    return Counter(w for w in (m.group(0).rstrip(".") for m in _WORD.finditer(text)) if _is_coined(w))


def coined_names(text: str) -> list[str]:
    """The coined names in a question, in order, unique ('What speedup does FlashAttention-2 achieve over
    FlashAttention?' -> ['FlashAttention-2', 'FlashAttention']). Quoted titles are left out."""
    return list(coined_counts(re.sub(r'"[^"]*"', " ", text)))


#: Capitalised words that start or frame a question rather than name anything ('What', 'Which', 'Does').
_FRAME_WORDS = {
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "is", "are", "was", "were", "do", "does",
    "did", "can", "could", "should", "would", "will", "has", "have", "had", "in", "on", "for", "and", "or", "but",
    "the", "a", "an", "of", "to", "from", "with", "by", "at", "as", "if", "compared", "according", "besides",
    "also", "then", "so", "please", "tell", "give", "list", "name", "explain", "describe", "summarize", "summarise",
    "show", "find", "paper", "papers", "table", "figure", "section", "appendix", "equation", "monday", "tuesday",
    "wednesday", "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december",
}
_PROPER = re.compile(r"(?<![\w-])(?:[A-Z][a-z]{2,}|[A-Z]-[A-Z][a-z]+)(?:-[A-Z]?[a-z]+)*(?![\w-])")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|[\"'(\[]\s*)$")


def proper_names(text: str) -> list[str]:
    """Plain capitalised words inside a question, the names `coined_names` does not see ('Longformer',
    'Perceiver', 'Sophia', 'Ring' of 'Ring Attention', 'Google'): a capital not at the start of a sentence,
    outside quoted titles, not a question word, in order, unique. Coined names are not repeated here."""
    plain = re.sub(r'"[^"]*"', " ", text)
    out: list[str] = []
    for m in _PROPER.finditer(plain):
        word = m.group(0)
        if _SENTENCE_START.search(plain[: m.start()]) or word.lower() in _FRAME_WORDS or _is_coined(word):
            continue
        if word not in out:
            out.append(word)
    return out


def calls_a_paper(query: str, name: str) -> bool:
    """'the DeiT paper', 'DeiT's paper', 'the paper DeiT': the name is used to call a paper."""
    body = re.escape(name)
    return re.search(rf"(?<![\w-]){body}(?:'s)?\W+(?:paper|article|work|study)\b|\b(?:paper|article)\W+{body}"
                     rf"(?![\w-])", query, re.I) is not None


def name_body(name: str) -> str:
    """The regex of a name's own characters: a hyphen may be a space or nothing ('GPT-4' ~ 'GPT 4' ~ 'GPT4'), a
    dot must be there ('U.S')."""
    parts = [re.escape(p) for p in re.split(r"[-.]", name)]
    body = parts[0]
    for sep, part in zip(re.findall(r"[-.]", name), parts[1:], strict=True):
        body += (r"[-\s]?" if sep == "-" else re.escape(sep)) + part
    return body


@functools.lru_cache(maxsize=4096)
def name_pattern(name: str) -> re.Pattern[str]:
    """A whole-word, case-insensitive pattern for a name (`name_body`), not 'GPT-4o' or 'GPT-4.5' for 'GPT-4';
    a trailing plural s is allowed ('LLM' ~ 'LLMs')."""
    return re.compile(r"(?<![A-Za-z0-9])" + name_body(name) + r"s?(?![A-Za-z0-9]|[-.]\d)", re.IGNORECASE)


def mentions(text: str, name: str) -> bool:
    return name_pattern(name).search(text) is not None


# ------------------------------------------------------------------------------------- acronyms


def _long_form(short: str, words: list[str]) -> list[str] | None:
    """Schwartz & Hearst: the shortest tail of `words` in which the short form's characters appear in order,
    its first character starting a word."""
    chars = [c.lower() for c in short if c.isalnum()]
    if not chars or not chars[0].isalpha():
        return None
    text = " ".join(words)
    s, pos = len(chars) - 1, len(text) - 1
    while s >= 0:
        c = chars[s]
        while pos >= 0 and (text[pos].lower() != c or (s == 0 and pos > 0 and text[pos - 1].isalnum())):
            pos -= 1
        if pos < 0:
            return None
        pos -= 1
        s -= 1
    start = text.rfind(" ", 0, pos + 1) + 1
    tail = text[start:].split()
    return tail if len(tail) >= 2 or (len(tail) == 1 and len(tail[0]) > len(short) + 2) else None


def mine_acronyms(text: str) -> list[tuple[str, str]]:
    """'... dense passage retrieval (DPR) ...' -> [('DPR', 'dense passage retrieval')]; plural short forms
    ('LLMs') are kept singular. Long forms span at most min(|SF| + 5, 2|SF|) words before the parenthesis."""
    found: dict[str, str] = {}
    for match in _ACRONYM_DEF.finditer(text):
        short = match.group(1)
        if not any(c.isupper() for c in short) or short.lower() == short:
            continue
        before = text[: match.start()].rstrip()
        words = re.findall(r"[\w][\w'-]*", before.split(".")[-1] if "." in before[-200:] else before[-300:])
        limit = min(len(short) + 5, 2 * len(short))
        long_words = _long_form(short, words[-limit:])
        if long_words:
            found.setdefault(short, " ".join(long_words).lower())
    return list(found.items())


# ------------------------------------------------------------------------------------- papers by name


def short_name(title: str) -> str | None:
    """The name a paper goes by: 'GaLore' in 'GaLore: Memory-Efficient LLM Training ...' (at most 4 words)."""
    head, sep, _ = title.partition(":")
    return head.strip() if sep and 0 < len(head.split()) <= 4 else None


def normalize_title(title: str) -> str:
    """Lower case, punctuation as spaces, one space between words: how titles are compared."""
    return " ".join(re.sub(r"[^\w\s]", " ", title.lower()).split())


def _own_acronyms(title: str, text: str) -> list[str]:
    """Acronyms a paper defines for what it names itself: the short form appears in the title, or its long
    form shares most of its words with the title, or the abstract introduces it ('we propose X (ABC)')."""
    title_words = set(normalize_title(title).split())
    own = []
    for short, long_form in mine_acronyms(text):
        words = set(normalize_title(long_form).split())
        in_title = mentions(title, short)
        overlap = len(words & title_words) / max(1, len(words))
        introduced = re.search(r"\b(?:propose|present|introduce|call|named|dub|term)\w*\b[^.]{0,120}\(" +
                               re.escape(short) + r"s?\)", text, re.I)
        if in_title or overlap >= 0.6 or introduced:
            own.append(short)
    return own


_TITLE_STOP = frozenset({"a", "an", "the", "of", "for", "and", "with", "via", "from", "to", "in", "on", "by", "at",
                         "as", "is", "are", "its", "into", "over", "under", "without", "through"})


def title_acronyms(title: str) -> list[str]:
    """Initialisms a paper may be called by that spell consecutive content words of its title: 'DEIT' from
    'Training data-efficient image transformers & distillation through attention' (DeiT). Four or five letters
    only (shorter ones collide everywhere); like every name, one that more than MAX_NAME_PAPERS papers would
    share is dropped, and a question must write it with capitals ('DeiT', not 'deit')."""
    words = [w for w in re.findall(r"[A-Za-z0-9]+", title) if w.lower() not in _TITLE_STOP]
    out = []
    for size in (4, 5):
        for i in range(len(words) - size + 1):
            letters = "".join(w[0] for w in words[i: i + size])
            if letters.isalpha():
                out.append(letters.upper())
    return [a for a in dict.fromkeys(out) if a not in COMMON_CAPS]


def _name_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower())


#: A name used by more papers than this does not pick out a paper.
MAX_NAME_PAPERS = 2
_INTRODUCED = re.compile(r"\b(?:called|named|dubbed|termed|coined)\s+([A-Z][\w-]*[A-Z0-9][\w-]*|[A-Z]{3,})")
_QUOTED = re.compile(r'"([^"]{6,})"|“([^”]{6,})”|(?<![\w])\'([^\']{6,})\'(?![\w])')


@dataclass
class NameMatch:
    paper_id: str
    score: float  # 1.0 exact title or name, lower for aliases and fuzzy matches
    how: str  # "title" | "name" | "alias" | "fuzzy"
    matched: str


@dataclass
class NameIndex:
    """Titles and the names the collection's papers go by, plus the acronyms the collection defines."""

    titles: dict[str, str] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)  # name -> paper ids (short names, own acronyms)
    acronyms: dict[str, str] = field(default_factory=dict)  # short form -> its most frequent long form

    @classmethod
    def build(cls, papers: Iterable[tuple[str, str, str]]) -> NameIndex:
        """From (paper_id, title, text) of every paper (its first chunk's text is enough for abstracts).

        A paper goes by: the part of its title before a colon; acronyms it defines for itself; and coined
        words it introduces ('called LAMB', 'we propose GraphRAG') or uses in its title or at least twice.
        A name that more than `MAX_NAME_PAPERS` papers use is not distinctive and is dropped, as are generic
        acronyms (LLM, AI, ...)."""
        titles: dict[str, str] = {}
        names: dict[str, list[str]] = {}
        long_forms: dict[str, Counter] = {}
        users: dict[str, set[str]] = {}  # coined word -> papers whose text uses it
        candidates: dict[str, list[str]] = {}
        for pid, title, text in papers:
            titles[pid] = title
            words = coined_counts(f"{title}. {text}")
            for word in words:
                users.setdefault(word.lower(), set()).add(pid)
            introduced = [m.group(1) for m in _INTRODUCED.finditer(text)]
            own = [short_name(title), *_own_acronyms(title, text), *introduced,
                   *(w for w, n in words.items() if n >= 2 or w.lower() in title.lower()), *title_acronyms(title)]
            candidates[pid] = [n for n in dict.fromkeys(own) if n]
            for short, long_form in mine_acronyms(f"{title}. {text}"):
                long_forms.setdefault(short, Counter())[long_form] += 1
        for pid, own in candidates.items():
            for name in own:
                if name.upper().rstrip("S") in COMMON_CAPS or name.upper() in COMMON_CAPS:
                    continue
                if len(users.get(name.lower(), ())) > MAX_NAME_PAPERS and name != short_name(titles[pid]):
                    continue
                names.setdefault(name, [])
                if pid not in names[name]:
                    names[name].append(pid)
        names = {n: pids for n, pids in names.items() if len(pids) <= MAX_NAME_PAPERS}
        acronyms = {s: c.most_common(1)[0][0] for s, c in long_forms.items()}
        return cls(titles, names, acronyms)

    def to_json(self) -> dict:
        return {"titles": self.titles, "names": self.names, "acronyms": self.acronyms}

    @classmethod
    def from_json(cls, data: Mapping) -> NameIndex:
        return cls(dict(data.get("titles", {})), {k: list(v) for k, v in data.get("names", {}).items()},
                   dict(data.get("acronyms", {})))

    @functools.cached_property
    def _by_norm(self) -> dict[str, str]:
        return {normalize_title(t): pid for pid, t in self.titles.items() if normalize_title(t)}

    @functools.cached_property
    def _by_start(self) -> dict[str, list[str]]:
        """Normalised titles (longer than 12 characters) by their first three words."""
        out: dict[str, list[str]] = {}
        for nt in self._by_norm:
            if len(nt) > 12 and len(nt.split()) >= 3:
                out.setdefault(" ".join(nt.split()[:3]), []).append(nt)
        return out

    def paper_for_title(self, title: str) -> str | None:
        """The paper with exactly this title (compared normalised)."""
        return self._by_norm.get(normalize_title(title))

    def title_of(self, paper_id: str) -> str | None:
        return self.titles.get(paper_id)

    def find_titles(self, text: str) -> list[str]:
        """Collection titles that appear whole inside a text (an answer's reference list), in order."""
        norm = normalize_title(text)
        hits = [(norm.find(nt), pid) for nt, pid in self._by_norm.items() if nt and nt in norm]
        return [pid for _, pid in sorted(hits)]

    def expansions(self, query: str) -> list[str]:
        """Long forms of the acronyms a query uses that the collection defines ('DPR' -> 'dense passage
        retrieval'), unless the query spells them out already."""
        lower = query.lower()
        return [long_form for short, long_form in self.acronyms.items()
                if long_form not in lower and re.search(r"(?<![\w-])" + re.escape(short) + r"s?(?![\w-])", query)]

    def lookup(self, query: str, fuzzy: bool = True) -> list[NameMatch]:
        """Papers the query calls by title, name or alias, best first. A name inside a longer matched name
        does not count ('Natural GaLore' does not also name GaLore)."""
        found: dict[str, NameMatch] = {}
        norm = f" {normalize_title(query)} "
        words = norm.split()
        for i in range(len(words) - 2):
            for nt in self._by_start.get(" ".join(words[i: i + 3]), ()):
                if f" {nt} " in norm:
                    pid = self._by_norm[nt]
                    found[pid] = NameMatch(pid, 1.0, "title", self.titles[pid])
        for groups in _QUOTED.findall(query):  # a quoted part of one title: 'the "Thus Spake" survey'
            quoted = normalize_title(next(g for g in groups if g))
            inside = [pid for nt, pid in self._by_norm.items() if quoted and f" {quoted} " in f" {nt} "]
            if len(quoted.split()) >= 2 and len(inside) == 1 and inside[0] not in found:
                found[inside[0]] = NameMatch(inside[0], 0.95, "title", self.titles[inside[0]])
        spans: list[tuple[int, int, str]] = []
        for name in self._candidates(query):
            for match in name_pattern(name).finditer(query):
                if self._case_ok(name, match.group(0)):
                    spans.append((match.start(), match.end(), name))
        for start, end, name in spans:
            if any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in spans):
                continue  # inside a longer name
            for pid in self.names[name]:
                how = "name" if name == short_name(self.titles.get(pid, "")) else "alias"
                score = 1.0 if how == "name" else 0.9
                if pid not in found or found[pid].score < score:
                    found[pid] = NameMatch(pid, score, how, name)
        if fuzzy and not found:
            found.update({m.paper_id: m for m in self._fuzzy(query)})
        return sorted(found.values(), key=lambda m: (-m.score, m.paper_id))

    @functools.cached_property
    def _by_key(self) -> dict[str, list[str]]:
        """Names by their lower-case words, with and without separators ('GPT-4' under 'gpt 4' and 'gpt4'): a
        query's word n-grams find their candidate names without a pattern per name."""
        out: dict[str, list[str]] = {}
        for name in self.names:
            if len(name) < 2:
                continue
            words = _name_words(name)
            for key in {" ".join(words), "".join(words)}:
                out.setdefault(key, []).append(name)
        return out

    def _candidates(self, query: str) -> list[str]:
        words = _name_words(query)
        found: dict[str, None] = {}
        for size in range(1, 6):
            for i in range(len(words) - size + 1):
                gram = words[i: i + size]
                keys = {" ".join(gram), "".join(gram)}
                if gram[-1].endswith("s"):
                    keys |= {" ".join([*gram[:-1], gram[-1][:-1]]), "".join(gram)[:-1]}
                for key in keys:
                    found.update(dict.fromkeys(self._by_key.get(key, ())))
        return list(found)

    @staticmethod
    def _case_ok(name: str, written: str) -> bool:
        letters = re.sub(r"[^A-Za-z]", "", name)
        if letters.isupper() and len(letters) <= 3:  # a short acronym is written in capitals: 'IT' is not 'its'
            core = written[:-1] if written.endswith("s") and not name.endswith("s") else written
            return not any(c.islower() for c in core)
        if letters.isupper() and sum(c.isupper() for c in written) < 2:  # 'DEIT' ~ 'DeiT', not 'deit' or 'Team'
            return False
        if len(name.split()) > 1 or _is_coined(name):
            return True
        return written[:1].isupper()  # 'Perseus', 'Zeus': proper names are written capitalised

    def _fuzzy(self, query: str) -> list[NameMatch]:
        """A loosely typed title or name: quoted text or the whole question close to a title, or a coined word
        one typo away from a paper's name."""
        from rapidfuzz import fuzz, process

        out: list[NameMatch] = []
        quoted = [next(g for g in groups if g) for groups in _QUOTED.findall(query)]
        # the whole question is compared with the titles only when it says it is about a paper by its title
        candidates = quoted or ([query] if _TITLE_CUE.search(query) else [])
        norms = list(self._by_norm)
        for text in candidates:
            text_norm = normalize_title(text)
            if len(text_norm.split()) < 3:
                continue
            for norm_title, score, _ in process.extract(text_norm, norms, scorer=fuzz.token_set_ratio, limit=3,
                                                        score_cutoff=88):
                if len(norm_title.split()) >= 3:
                    pid = self._by_norm[norm_title]
                    out.append(NameMatch(pid, round(0.8 * score / 100, 3), "fuzzy", self.titles[pid]))
        words = [w for w in coined_names(query) if len(w) >= 5]
        multi = [n for n in self.names if len(n) >= 5]
        for word in words:
            for name, score, _ in process.extract(word, multi, scorer=fuzz.ratio, limit=1, score_cutoff=85):
                if name.lower() != word.lower():
                    out += [NameMatch(pid, round(0.7 * score / 100, 3), "fuzzy", name) for pid in self.names[name]]
        return out
