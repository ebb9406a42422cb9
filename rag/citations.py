"""Parse the [n] markers of an answer, drop the ones that point at no evidence, renumber, and cite."""

from __future__ import annotations

import re

from paperchat.rag.text import content_terms, is_instruction, split_sentences
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


def _best_quote(answer_text: str, marker_pos: int, evidence: Evidence) -> str:
    """The evidence sentence that best supports the answer sentence carrying the marker."""
    start = max(answer_text.rfind(". ", 0, marker_pos), answer_text.rfind("\n", 0, marker_pos)) + 1
    claim = set(content_terms(answer_text[start:marker_pos]))
    sentences = split_sentences(evidence.text) or [evidence.text]
    sentences = [s for s in sentences if not is_instruction(s)] or [""]  # never quote an injection
    return max(sentences, key=lambda s: len(claim & set(content_terms(s))))


def resolve(answer_text: str, evidence: list[Evidence], quotes: dict[int, str] | None = None,
            ) -> tuple[str, list[Citation]]:
    """Renumber valid markers 1..m in order of first use; markers to missing evidence are removed.

    `quotes` (evidence number -> text) gives the supporting quote when the caller knows it (offline
    answers quote sentences verbatim); otherwise the best matching sentence of the passage is found.
    """
    known = quotes or {}
    by_n = {e.n: e for e in evidence}
    new_number: dict[int, int] = {}
    found: dict[int, str] = {}

    def replace(match: re.Match) -> str:
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

    def __init__(self, valid: set[int]):
        self.valid = valid
        self.numbers: dict[int, int] = {}
        self._pending = ""

    def _replace(self, match: re.Match) -> str:
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
        return MARKER.sub(self._replace, text)

    def flush(self) -> str:
        text, self._pending = self._pending, ""
        return MARKER.sub(self._replace, text)


