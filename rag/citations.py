"""Parse the [n] markers of an answer, drop the ones that point at no evidence, renumber, and cite."""

from __future__ import annotations

import re
from collections.abc import Iterable

from paperchat.rag.text import content_terms, is_instruction, neutralise_markers, split_sentences
from paperchat.rag.types import Citation, Evidence

#: A citation marker: [2], [1, 3], [1; 3], [2-4], [2–4].
MARKER = re.compile(r"\[(\d+(?:\s*(?:,|;|–|-)\s*\d+)*)\]")
_OPEN_TAIL = re.compile(r"\[[\d,;–\-\s]*$")


def marker_numbers(group: str) -> list[int]:
    """'1, 3' -> [1, 3]; '2-4' -> [2, 3, 4]."""
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group):
        if re.fullmatch(r"\d+\s*[–-]\s*\d+", part):
            lo, hi = (int(x) for x in re.split(r"\s*[–-]\s*", part))
            out.extend(range(lo, hi + 1) if 0 < hi - lo < 20 else [lo, hi])
        elif part.strip().isdigit():
            out.append(int(part))
    return out


def echoed(before: str, group: str, passages: Iterable[str]) -> bool:
    """Whether a marker is a paper's own reference copied from a passage, not a citation: a passage says
    '(ref 2)' (its '[2]', neutralised) right after the same two words the answer has before its '[2]'
    ("... points over [2] and [3]" copied from "... points over (ref 2) and (ref 3)"). Such a marker is text."""
    words = re.findall(r"\w+", neutralise_markers(before[-200:]).lower())[-2:]
    if len(words) < 2:
        return False
    ref = f"(ref {group.strip()})"
    for passage in passages:
        at = passage.find(ref)
        while at >= 0:
            if re.findall(r"\w+", passage[max(0, at - 80):at].lower())[-2:] == words:
                return True
            at = passage.find(ref, at + 1)
    return False


def _best_quote(answer_text: str, marker_pos: int, evidence: Evidence) -> str:
    """The evidence sentence that best supports the answer sentence carrying the marker."""
    start = max(answer_text.rfind(". ", 0, marker_pos), answer_text.rfind("\n", 0, marker_pos)) + 1
    claim = set(content_terms(answer_text[start:marker_pos]))
    sentences = split_sentences(evidence.text) or [evidence.text]
    sentences = [s for s in sentences if not is_instruction(s)] or [""]  # never quote an injection
    return max(sentences, key=lambda s: len(claim & set(content_terms(s))))


def resolve(answer_text: str, evidence: list[Evidence], quotes: dict[int, str] | None = None,
            ) -> tuple[str, list[Citation]]:
    """Renumber valid markers 1..m in order of first use; markers to missing evidence are removed, and markers
    copied from a paper's text (`echoed`) are shown as that paper's '(ref n)'.

    `quotes` (evidence number -> text) gives the supporting quote when the caller knows it (offline
    answers quote sentences verbatim); otherwise the best matching sentence of the passage is found.
    """
    known = quotes or {}
    by_n = {e.n: e for e in evidence}
    new_number: dict[int, int] = {}
    found: dict[int, str] = {}

    passages = [e.text for e in evidence]

    def replace(match: re.Match) -> str:
        if echoed(answer_text[:match.start()], match.group(1), passages):
            return f"(ref {match.group(1).strip()})"
        kept = []
        for n in marker_numbers(match.group(1)):
            if n not in by_n:
                continue
            if n not in new_number:
                new_number[n] = len(new_number) + 1
                found[n] = known.get(n) or _best_quote(answer_text, match.start(), by_n[n])
            if new_number[n] not in kept:
                kept.append(new_number[n])
        return "".join(f"[{k}]" for k in kept)

    text = MARKER.sub(replace, answer_text)
    text = re.sub(r"(\[\d+\])(?:\s*\1)+", r"\1", text)
    text = re.sub(r"[ \t]+([.,;:])", r"\1", re.sub(r"[ \t]{2,}", " ", text)).strip()
    citations = [
        Citation(**by_n[old].ref(), n=new, quote=found[old], page=by_n[old].page_of(found[old]))
        for old, new in sorted(new_number.items(), key=lambda kv: kv[1])
    ]
    return text, citations


def has_markers(text: str) -> bool:
    return bool(MARKER.search(text))


class StreamNumbering:
    """Renumbers the markers of a streamed answer as it arrives, the way `resolve` numbers the whole text (in
    order of first use, markers to missing evidence dropped), so what was shown while streaming and the
    final reference list agree. A marker cut by a chunk boundary ('[1' then '2]') is held back until closed."""

    def __init__(self, valid: set[int], passages: Iterable[str] = ()):
        self.valid = valid
        self.passages = list(passages)
        self.numbers: dict[int, int] = {}
        self._pending = ""
        self._seen = ""  # the raw text before the piece being renumbered

    def _replace(self, match: re.Match, text: str) -> str:
        if echoed(self._seen + text[:match.start()], match.group(1), self.passages):
            return f"(ref {match.group(1).strip()})"
        kept = []
        for n in marker_numbers(match.group(1)):
            if n not in self.valid:
                continue
            new = self.numbers.setdefault(n, len(self.numbers) + 1)
            if new not in kept:
                kept.append(new)
        return "".join(f"[{k}]" for k in kept)

    def feed(self, piece: str) -> str:
        text = self._pending + piece
        tail = _OPEN_TAIL.search(text)
        self._pending, text = (text[tail.start():], text[: tail.start()]) if tail else ("", text)
        return self._renumber(text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return self._renumber(text)

    def _renumber(self, text: str) -> str:
        shown = MARKER.sub(lambda m: self._replace(m, text), text)
        self._seen = (self._seen + text)[-200:]
        return shown


