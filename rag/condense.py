"""Turn a follow-up into a standalone query, and find the papers it points back at.

Offline, the method is deterministic: the papers cited in the last answer are found
by their titles (our answers list them; a user's own history may name them too); an
ordinal ("the second one") picks one of them, a pronoun ("it", "this method") the
first, a plural ("they", "these") all of them. The pronoun is replaced by the title,
so both retrievers find the paper again, and the papers are returned as the focus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from paperchat.rag.names import NameIndex
from paperchat.rag.types import Answer, Turn

_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "sixth": 5, "former": 0}
_LAST = {"last", "latter"}
_ORDINAL_NOUN = r"(?:one|paper|method|approach|work|study|model|result|technique|system|framework)"
_ORDINAL_RE = re.compile(
    r"\bthe\s+(first|second|third|fourth|fifth|sixth|last|former|latter)(?:\s+" + _ORDINAL_NOUN + r")?\b"
    r"|\b(first|second|third|fourth|fifth|sixth|last)\s+" + _ORDINAL_NOUN + r"\b",
    re.I,
)
#: 'it' that points at nothing: "is it possible", "it is known that".
_FILLER_IT = re.compile(r"\b(?:is|was|would|will|does|do)\s+it\s+(?:possible|true|feasible|necessary|worth|"
                        r"better|common|likely|enough)\b|\bit\s+(?:is|was)\s+(?:possible|true|known|said|common)\b",
                        re.I)
_SINGULAR_RE = re.compile(
    r"\b(?:this|that|the)\s+(?:paper|method|approach|work|study|model|technique|system|framework|one)\b"
    r"|\b(?:it|its|it's)\b",
    re.I,
)
_PLURAL_RE = re.compile(r"\b(?:they|them|their|these|those|both)(?:\s+(?:papers|methods|approaches|works))?\b",
                        re.I)
_CONTINUATION_RE = re.compile(r"^\s*(?:and|also|what about|how about|and what about|so|then)\b", re.I)


@dataclass
class Condensed:
    query: str
    focus: list[str] = field(default_factory=list)  # paper ids the question points back at
    followup: bool = False


def _history_text(history: list[Turn]) -> str:
    return "\n".join(f"{t.role}: {t.content}" for t in history)


def _last(history: list[Turn], role: str) -> Turn | None:
    return next((t for t in reversed(history) if t.role == role), None)


def _pick(question: str, cited: list[str]) -> tuple[list[str], re.Match | None]:
    """Which cited papers the question refers to, and the phrase that refers to them."""
    match = _ORDINAL_RE.search(question)
    if match and cited:
        word = (match.group(1) or match.group(2)).lower()
        index = len(cited) - 1 if word in _LAST else _ORDINALS[word]
        if index < len(cited):
            return [cited[index]], match
    match = _PLURAL_RE.search(question)
    if match and cited:
        return cited, match
    match = _SINGULAR_RE.search(_FILLER_IT.sub(lambda m: " " * len(m.group(0)), question))
    if match and cited:
        return cited[:1], match
    return [], None


def offline_condense(question: str, history: list[Turn], titles: NameIndex) -> Condensed:
    """Deterministic condensation; see the module docstring."""
    question = question.strip()
    if not history:
        return Condensed(question)
    answer = _last(history, "assistant")
    cited = cited_papers(answer.content, titles) if answer else []
    focus, phrase = _pick(question, cited)
    previous = _last(history, "user")
    continues = bool(_CONTINUATION_RE.match(question)) or _is_fragment(question)
    prefix = f"{previous.content.strip()} " if continues and previous else ""
    if focus and phrase is not None:
        named = " and ".join(f'"{titles.titles[pid]}"' for pid in focus)
        possessive = phrase.group(0).lower() in {"its", "their"}
        replacement = f"{named}'s" if possessive else named
        query = question[: phrase.start()] + replacement + question[phrase.end():]
        return Condensed(prefix + query, focus, True)
    if prefix:
        return Condensed(prefix + question, cited[:1], True)
    return Condensed(question)


_REFERENCE = re.compile(r"^\s*\[\d+\]\s+(.+?)(?:\s+<[^<>\s]*>)?\s*$", re.M)


def cited_papers(answer_text: str, titles: NameIndex) -> list[str]:
    """The papers an earlier answer cited, in order: from its reference lines ('[1] Title'), looked up by exact
    title; an answer without them (a user's own history) is searched for whole titles."""
    refs = [titles.paper_for_title(t) for t in _REFERENCE.findall(answer_text)]
    found = list(dict.fromkeys(pid for pid in refs if pid))
    return found or titles.find_titles(answer_text)


def _is_fragment(question: str) -> bool:
    """'why?', 'how much?': too short to stand alone unless it names something (LoRA, GPT-4)."""
    words = question.split()
    return len(words) <= 3 and not any(any(c.isupper() for c in w[1:]) or any(c.isdigit() for c in w)
                                       for w in words)


def history_entry(answer: Answer) -> str:
    """What a conversation should remember of an answer: its text plus the titles it cited, the form
    in which the offline condenser finds the papers again ("it", "the second one")."""
    if answer.status != "answered" or not answer.citations:
        return answer.answer
    refs = "\n".join(f"[{c.n}] {c.title}" for c in answer.citations)
    return f"{answer.answer}\n\nReferences:\n{refs}"


def history_for_prompt(history: list[Turn], max_chars: int = 4000) -> str:
    """The conversation as plain text for the condense prompt, newest turns kept."""
    return _history_text(history)[-max_chars:]
